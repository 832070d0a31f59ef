"""Images in, `(lightness, target)` batches out, in `tf.data`.

```
source (sources.py)     shapes | folder:DIR | tfds:NAME[:SPLIT]  -> {"rgb", "name", "label"}
                        resized + centre-cropped to S, undecodable / gray / other classes
                        left out (counted and named in `PipelineStats`)
shuffle                 training only, data.seed
batch                   training: drop_remainder (fixed shapes for XLA); validation: keep it
augment (per batch)     training only: flips, rotation +-30 degrees, zoom 30 % (RGB)
Lab + codec (per batch) color.lightness_and_ab, codec.encode(ab)
prefetch
```

Parallelism policy, stated once: every map and prefetch uses `tf.data.AUTOTUNE`. The Lab
conversion, the codec and the augmentation run once per batch, vectorized over it; per example
they cost about as much again as decoding (DESIGN.md: a per-example Lab + bin map halved the
throughput), most of it per-op overhead on 128x128 tensors.

No `.repeat()`: Keras runs the epochs, and each new iteration reshuffles.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf
from absl import logging

from tfcolor import color
from tfcolor.config import DataConfig
from tfcolor.input_pipeline import transforms
from tfcolor.input_pipeline.sources import (
    PipelineStats,
    list_image_files,
    parse_source,
    read_source,
    source_stats,
)

__all__ = [
    "PipelineStats",
    "ab_batches",
    "list_image_files",
    "load_images",
    "make_dataset",
    "make_input_fn",
    "parse_source",
    "pipeline_stats",
    "transforms",
]

AUTOTUNE = tf.data.AUTOTUNE


def pipeline_stats(data: DataConfig) -> PipelineStats:
    """What the sources of `data` leave out: undecodable files and gray images, by name.

    Computed once per process (and logged then); `make_dataset` computes it first, so the
    training log names every skipped file before the first step.
    """
    return source_stats(data)


def _inputs_and_targets(codec) -> Callable:
    """RGB batch -> (lightness, target), compiled with XLA.

    XLA fuses the Lab conversion and the encoding (dozens of element-wise ops) into one loop:
    measured 3x faster on 32 x 128 x 128 batches on 2 CPU cores (82 -> 27 ms per batch).
    Every codec's `encode` is plain TF ops, which XLA compiles; a bin index can differ from the
    unfused graph's only where float rounding puts ab on a bin edge (2 pixels per million).
    """

    @tf.function(jit_compile=True)
    def split(rgb):
        lightness, ab = color.lightness_and_ab(rgb)
        return lightness, (ab if codec is None else codec.encode(ab))

    return split


def make_dataset(data: DataConfig, codec, *, training: bool) -> tf.data.Dataset:
    """The training or validation dataset of model inputs and targets.

    Args:
        data: the data config.
        codec: a `tfcolor.codecs.Codec` whose `encode` makes the targets, or None for raw ab.
        training: True reads the training split, shuffled with `data.seed` (differently each
            epoch), augmented if `data.augment`, in full batches only; False reads the
            validation split in a fixed order, not augmented, the last batch possibly short.

    Returns:
        A prefetched dataset of `(lightness, target)`: lightness float32 [B, S, S, 1] in
        [0, 1] (L / 100), target `codec.encode(ab)` (float32 ab [B, S, S, 2] when codec is
        None); S = data.image_size, B = data.batch_size.

    Raises:
        ValueError: a bad source string, a missing or empty folder, unknown classes.
    """
    stats = pipeline_stats(data)
    logging.info(
        "%s data from %s: %d undecodable files skipped, %d gray images dropped",
        "training" if training else "validation",
        stats.source,
        stats.skipped,
        stats.dropped_gray,
    )
    split = "train" if training else "validation"
    dataset = read_source(data, split, shuffle=training).map(
        lambda element: element["rgb"], num_parallel_calls=AUTOTUNE
    )
    dataset = dataset.batch(data.batch_size, drop_remainder=training, num_parallel_calls=AUTOTUNE)
    if training and data.augment:
        # One stateless seed per batch, from data.seed, new on every epoch: reproducible runs
        # whatever order the parallel maps finish in.
        seeds = tf.data.Dataset.random(seed=data.seed, rerandomize_each_iteration=True).batch(2)
        dataset = tf.data.Dataset.zip(dataset, seeds).map(
            transforms.augment_batch, num_parallel_calls=AUTOTUNE
        )
    dataset = dataset.map(_inputs_and_targets(codec), num_parallel_calls=AUTOTUNE)
    return dataset.prefetch(AUTOTUNE)


def make_input_fn(data: DataConfig, codec, *, training: bool) -> Callable[[], tf.data.Dataset]:
    """The estimator contract: a function that builds the dataset when called.

    A function rather than a dataset, so a distribution strategy can call it per worker.
    """

    def input_fn() -> tf.data.Dataset:
        return make_dataset(data, codec, training=training)

    return input_fn


def load_images(data: DataConfig, *, split: str, limit: int | None = None) -> tf.data.Dataset:
    """Images as the model sees them, in a fixed order: for image panels, evaluation, sheets.

    Args:
        data: the data config.
        split: `train` or `validation`.
        limit: at most this many images; None gives all.

    Returns:
        A dataset of dicts: "image" uint8 [S, S, 3] (resized and centre-cropped, not
        augmented; undecodable and gray images left out), "name" tf.string, "label" tf.string.

    Raises:
        ValueError: a bad split or source.
    """
    dataset = read_source(data, split, shuffle=False)
    if limit is not None:
        dataset = dataset.take(limit)
    return dataset.map(
        lambda element: {
            "image": transforms.to_uint8(element["rgb"]),
            "name": element["name"],
            "label": element["label"],
        },
        num_parallel_calls=AUTOTUNE,
    ).prefetch(AUTOTUNE)


def ab_batches(data: DataConfig, limit_images: int | None = None) -> tf.data.Dataset:
    """ab of training images, for a codec's `fit`: no augmentation, a fixed sample.

    Args:
        data: the data config.
        limit_images: use at most this many images (a fixed shuffle with `data.seed` picks
            them, so a folder sorted by class is sampled evenly); None uses all.

    Returns:
        A dataset of float32 ab [B, S, S, 2] batches (the last one possibly short).
    """
    dataset = read_source(data, "train", shuffle=True, reshuffle_each_iteration=False)
    if limit_images is not None:
        dataset = dataset.take(limit_images)
    return (
        dataset.batch(data.batch_size, num_parallel_calls=AUTOTUNE)
        .map(lambda element: color.lightness_and_ab(element["rgb"])[1], num_parallel_calls=AUTOTUNE)
        .prefetch(AUTOTUNE)
    )
