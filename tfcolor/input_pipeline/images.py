"""Images in, `(lightness, target)` batches out, in `tf.data`.

```
source (sources.py)     shapes | folder:DIR | tfds:NAME[:SPLIT] | tfrecord:DIR | video:DIR
                        (a video's frames, each one image) -> {"rgb", "name", "label"}
                        (classifier runs: the label becomes a class index)
                        resized + centre-cropped to S, undecodable / gray / other classes
                        left out (counted and named in `PipelineStats`)
cache                   a split whose images fit `_CACHE_BUDGET_BYTES`, kept in memory and
                        read once in a fixed order: without augmentation its model inputs and
                        targets; with it, its decoded images in Lab (float16, + class index)
shuffle                 training only, data.seed (of the kept images: all of them)
batch                   training: drop_remainder (fixed shapes for XLA); validation: keep it
Lab (per batch)         color.rgb_to_lab, XLA (augmented training: before the augmentation,
                        or once, into the cache)
augment (per batch)     training only: flips, rotation +-30 degrees, zoom 30 %, resampling
                        the Lab image, XLA
codec (per batch)       L / 100; ab average-pooled to the model's output stride,
                        codec.encode(ab), XLA (`true_ab`: the full-resolution ab besides,
                        for a WGAN critic)
prefetch
```

Parallelism policy, stated once: every map and prefetch asks for `tf.data.AUTOTUNE`, and every
dataset this module and the video loader (`video_streams`) return has tf.data's autotuning
model switched off (`with_parallelism_policy`): a map then runs as many calls at once as there
are cores (at most 16), and a prefetch buffer grows while its consumer waits.

The Lab conversion, the codec and the augmentation run once per batch, vectorized and compiled
with XLA; the augmentation resamples Lab rather than RGB, so that the cache can keep Lab.
Training runs each pass through `repeat_epochs` (one iterator, epoch after epoch). The
measurements behind each of these choices are in benchmarks/README.md ("History: the input
pipeline's choices, measured").
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf
from absl import logging

from tfcolor import color
from tfcolor.config import DataConfig
from tfcolor.input_pipeline import shapes, transforms
from tfcolor.input_pipeline.files import PipelineStats, split_source
from tfcolor.input_pipeline.sources import (
    folder_files,
    parse_source,
    read_source,
    source_stats,
    tfds_examples,
)

__all__ = [
    "ab_batches",
    "inputs_and_targets",
    "lab_inputs_and_targets",
    "load_images",
    "make_dataset",
    "make_input_fn",
    "num_examples",
    "pipeline_stats",
    "repeat_epochs",
    "with_parallelism_policy",
]

AUTOTUNE = tf.data.AUTOTUNE


def with_parallelism_policy(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """The pipelines' parallelism policy (see the module docstring): autotuning model off.

    Every dataset the image and video pipelines return, and the benchmarks' references, pass
    through here, so they run and are timed under the same setting. With the model on, Keras'
    epochs ended late, waiting for the model thread's next wake-up (benchmarks/README.md).
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def repeat_epochs(
    dataset: tf.data.Dataset,
    steps_per_epoch: int | None = None,
    expected_steps: int | None = None,
) -> tuple[tf.data.Dataset, int | None]:
    """A finite dataset repeated for `fit(..., steps_per_epoch=...)`: one iterator, every epoch.

    Each pass of the repetition is still one epoch (a shuffle reshuffles, the augmentation's
    seeds are new), but the pipeline keeps running across the epoch boundary instead of
    starting again from empty buffers (a new iterator per epoch cost each epoch's first step
    about 230 ms on 2 cores; benchmarks/README.md).

    Args:
        dataset: one epoch of training batches.
        steps_per_epoch: the steps of an epoch, if the caller sets them.
        expected_steps: the steps of one pass where the dataset's cardinality is unknown and
            the caller knows them (a source's counted images).

    Returns:
        (dataset, steps_per_epoch): repeated, with the steps of an epoch (the caller's, the
        cardinality or `expected_steps`, in that order), where an epoch's steps are known;
        otherwise the dataset unchanged and the caller's `steps_per_epoch` (None: Keras runs
        each epoch to the end of the data).
    """
    cardinality = int(dataset.cardinality())
    if cardinality == tf.data.INFINITE_CARDINALITY:
        return dataset, steps_per_epoch
    steps = steps_per_epoch or (cardinality if cardinality > 0 else None) or expected_steps
    if not steps:
        return dataset, steps_per_epoch
    return dataset.repeat(), steps


def pipeline_stats(data: DataConfig) -> PipelineStats:
    """What the sources of `data` leave out: undecodable files and gray images, by name.

    Computed once per process (and logged then); `make_dataset` computes it first, so the
    training log names every skipped file before the first step.
    """
    return source_stats(data)


def inputs_and_targets(codec, target_stride: int = 1, true_ab: bool = False) -> Callable:
    """RGB batch (and label batch) -> (lightness, target), compiled with XLA.

    XLA fuses the Lab conversion and the encoding (dozens of element-wise ops) into one loop:
    measured 3x faster on 32 x 128 x 128 batches on 2 CPU cores (82 -> 27 ms per batch).
    Every codec's `encode` is plain TF ops, which XLA compiles; a bin index can differ from the
    unfused graph's only where float rounding puts ab on a bin edge (2 pixels per million).

    A model that predicts at 1 / target_stride of the resolution (Zhang et al.: 1/4) is trained
    on ab average-pooled to its output's size; its lightness input stays at full resolution.
    With labels, the target is `{"colors": target, "class_logits": label}`, the outputs of a
    model with a classification head. With `true_ab` the target is
    `{"colors": target, "ab": float32 ab [B, S, S, 2]}`: the image's own ab at full resolution,
    which a WGAN critic takes as its real images (`tfcolor.training.wgan.WGANTrainer`).
    """
    from_lab = _lab_to_model(codec, target_stride, true_ab)

    @tf.function(jit_compile=True)
    def split(rgb):
        return from_lab(color.rgb_to_lab(rgb))

    return split


def lab_inputs_and_targets(codec, target_stride: int = 1, true_ab: bool = False) -> Callable:
    """`inputs_and_targets` from a Lab batch (float, [B, S, S, 3]; L in [0, 100]), compiled
    with XLA: what augmented training runs after augmenting in Lab."""
    return tf.function(_lab_to_model(codec, target_stride, true_ab), jit_compile=True)


def _lab_to_model(codec, target_stride: int, true_ab: bool = False) -> Callable:
    def targets(ab):
        if target_stride > 1:
            ab = tf.nn.avg_pool2d(ab, target_stride, target_stride, "VALID")
        return ab if codec is None else codec.encode(ab)

    def from_lab(lab):
        lab = tf.cast(lab, tf.float32)
        ab = lab[..., 1:]
        target = {"colors": targets(ab), "ab": ab} if true_ab else targets(ab)
        return color.normalize_lightness(lab[..., :1]), target

    return from_lab


def _with_labels(split: Callable) -> Callable:
    def split_labelled(rgb, label):
        lightness, target = split(rgb)
        # A dict already (`true_ab`): the label joins it.
        targets = dict(target) if isinstance(target, dict) else {"colors": target}
        return lightness, {**targets, "class_logits": label}

    return split_labelled


# XLA compiles the augmentation's gathers and coordinate arithmetic into one loop: 3x faster
# than ImageProjectiveTransformV3 (measured on 32 x 128 x 128 batches, 2 CPU cores: 7 against
# 24 ms). A compiled function of its own, not fused with the Lab conversion: fused, XLA
# recomputed the resampling for every channel it fed (measured 3x slower than the two apart).
_augment_compiled = tf.function(transforms.augment_images, jit_compile=True)


_UNLABELLED = -1  # the class index of an image without a label (its loss is left out)
_OTHER_CLASS = -2  # a label that is not one of the model's classes (the image is left out)


def _label_index(class_names) -> Callable:
    """Source dict -> {"rgb", "label": int32 class index}: -1 for an empty label (unlabelled),
    -2 for a label outside `class_names`."""
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(list(class_names), tf.string),
            tf.range(len(class_names), dtype=tf.int32),
        ),
        default_value=_OTHER_CLASS,
    )

    def lookup(element):
        label = element["label"]
        index = tf.where(label == "", _UNLABELLED, table.lookup(label))
        return {"rgb": element["rgb"], "label": index}

    return lookup


def _examples(data: DataConfig, split: str, shuffle: bool, class_names) -> tf.data.Dataset:
    """The source's images one by one: `{"rgb", "name", "label"}` dicts, or with `class_names`
    `{"rgb", "label": int32 class index}` for the images of those classes."""
    dataset = read_source(data, split, shuffle=shuffle)
    if class_names is None:
        return dataset
    # Images whose label is not a class of the model (possible only with a validation source
    # of other labels) are left out. Unlabelled images (an empty label: a TFDS split without
    # labels, a folder's top-level images) stay, with class index -1: they train and measure
    # the colour, and the classification loss and accuracy leave them out
    # (`training.compile.compile_model`).
    dataset = dataset.map(_label_index(class_names), num_parallel_calls=AUTOTUNE)
    return dataset.filter(lambda element: element["label"] != _OTHER_CLASS)


def _batches(
    examples: tf.data.Dataset,
    class_names,
    batch_size: int,
    drop_remainder: bool,
    image: Callable | None = None,
) -> tf.data.Dataset:
    """Batches of images, or (image, int32 class index [B]) pairs when `class_names` is given,
    from `_examples`' dicts: float32 RGB [B, S, S, 3] in [0, 1] from their RGB (float32, or
    uint8), or what `image` makes of a batch of the dicts."""
    # The dicts batched as they are, the image picked once per batch: a map per image to pick
    # it cost more than batching the names and labels along (measured on shapes, augmented,
    # 2 cores: 0.137 against 0.175 ms of CPU per image for the whole pipeline).
    dataset = examples.batch(batch_size, drop_remainder=drop_remainder)
    image = image or _float_rgb

    def model_image(batch):
        return image(batch) if class_names is None else (image(batch), batch["label"])

    return dataset.map(model_image, num_parallel_calls=AUTOTUNE)


def _float_rgb(batch: dict) -> tf.Tensor:
    # A no-op on float32; uint8 is scaled by 1/255.
    return tf.image.convert_image_dtype(batch["rgb"], tf.float32)


# The Lab conversion on its own, for augmented training (which augments in Lab): compiled, as
# in `inputs_and_targets`.
_rgb_to_lab_compiled = tf.function(color.rgb_to_lab, jit_compile=True)


def make_dataset(
    data: DataConfig,
    codec,
    *,
    training: bool,
    target_stride: int = 1,
    class_names=None,
    true_ab: bool = False,
) -> tf.data.Dataset:
    """The training or validation dataset of model inputs and targets.

    Args:
        data: the data config.
        codec: a `tfcolor.codecs.Codec` whose `encode` makes the targets, or None for raw ab.
        training: True reads the training split, shuffled with `data.seed` (differently each
            epoch), augmented if `data.augment`, in full batches only; False reads the
            validation split in a fixed order, not augmented, the last batch possibly short.
        target_stride: the model predicts at 1 / target_stride of the input's resolution; ab
            is average-pooled by this factor before encoding.
        class_names: for a model with a classification head, its classes in order: the
            images' labels become int32 class indices (images of other labels are left out).
        true_ab: the targets also carry the images' own ab at full resolution, for a WGAN
            critic's real images (`tfcolor.training.wgan`).

    Returns:
        A prefetched dataset of `(lightness, target)`: lightness float32 [B, S, S, 1] in
        [0, 1] (L / 100), target `codec.encode(ab)` at [S / target_stride] (float32 ab when
        codec is None); S = data.image_size, B = data.batch_size. With `class_names` the target
        is `{"colors": target, "class_logits": int32 [B]}`; with `true_ab` the target is a dict
        with `"colors"` and `"ab"`, float32 ab [B, S, S, 2] (the same images' Lab, before
        pooling and encoding; augmented like the rest). Where the split is kept in memory
        (the module docstring says what is kept when), it was read once here and counted: its
        cardinality is known.

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
    labelled = class_names is not None
    if not (training and data.augment):
        to_model = inputs_and_targets(codec, target_stride, true_ab)
        if labelled:
            to_model = _with_labels(to_model)
        # In memory per image: the model's inputs and targets, lightness float32 and the
        # target's floats per pixel (raw ab without a codec; with `true_ab` the ab besides).
        target_floats = codec.target_channels if codec is not None else 2
        if true_ab:
            target_floats += 2
        if _fits_in_memory(data, split, data.image_size**2 * 4 * (1 + target_floats)):
            return _cached_dataset(data, split, training, class_names, to_model)
        examples = _examples(data, split, training, class_names)
        dataset = _batches(examples, class_names, data.batch_size, training).map(
            to_model, num_parallel_calls=AUTOTUNE
        )
        return with_parallelism_policy(dataset.prefetch(AUTOTUNE))
    # Augmented, in Lab. In memory per image: the decoded image in Lab, float16, and an int32
    # class index. Fitting, the images are read, decoded and converted once, in a fixed order,
    # then shuffled from memory every epoch; otherwise read (and shuffled) from the source and
    # converted every epoch.
    fits = _fits_in_memory(data, split, data.image_size**2 * 3 * 2 + 4)
    examples = _examples(data, split, not fits, class_names)
    if fits:
        examples = _in_memory(_lab_kept_in_memory(examples, labelled), data, shuffle=True)
        dataset = _batches(examples, class_names, data.batch_size, True, lambda b: b["lab"])
    else:
        dataset = _batches(
            examples, class_names, data.batch_size, True, lambda b: _rgb_to_lab_compiled(b["rgb"])
        )
    # One stateless seed per batch, from data.seed, new on every epoch: reproducible runs
    # whatever order the parallel maps finish in.
    seeds = tf.data.Dataset.random(seed=data.seed, rerandomize_each_iteration=True).batch(2)
    augment_fn = _augment_compiled if class_names is None else _augment_labelled
    dataset = tf.data.Dataset.zip(dataset, seeds).map(augment_fn, num_parallel_calls=AUTOTUNE)
    to_model = lab_inputs_and_targets(codec, target_stride, true_ab)
    if labelled:
        to_model = _with_labels(to_model)
    dataset = dataset.map(to_model, num_parallel_calls=AUTOTUNE)
    return with_parallelism_policy(dataset.prefetch(AUTOTUNE))


def _augment_labelled(batch, seed):
    lab, label = batch
    return _augment_compiled(lab, seed), label


# What a source's images may take in memory: without augmentation their model inputs and
# targets, with it their decoded images in Lab (float16: its rounding is a seventh of L's and
# a twentieth of ab's under uint8 RGB; the measurements are in benchmarks/README.md).
_CACHE_BUDGET_BYTES = 512 * 2**20


def _fits_in_memory(data: DataConfig, split: str, per_image: int) -> bool:
    """Whether the split's images (`num_examples`) take at most the budget at `per_image`
    bytes each; False where their number is unknown. (CIFAR-100's 12 thesis classes, 6,000
    32x32 images, fit.)"""
    count = num_examples(data, split)
    return count is not None and count * per_image <= _CACHE_BUDGET_BYTES


def _lab_kept_in_memory(examples: tf.data.Dataset, labelled: bool) -> tf.data.Dataset:
    """Examples as augmented training keeps them: {"lab": float16 Lab [S, S, 3]} and, when
    `labelled`, the int32 class index (the names and string labels, which training does not
    read, left out). Converted in batches, compiled, as training converts."""

    def keep(batch):
        kept = {"lab": tf.cast(_rgb_to_lab_compiled(batch["rgb"]), tf.float16)}
        if labelled:
            kept["label"] = batch["label"]
        return kept

    return examples.batch(256).map(keep, num_parallel_calls=AUTOTUNE).unbatch()


def _in_memory(examples: tf.data.Dataset, data: DataConfig, shuffle: bool) -> tf.data.Dataset:
    """`examples` cached in memory, counted, and with `shuffle` fully shuffled from data.seed,
    newly on every epoch."""
    examples = examples.cache()
    # One pass fills the cache and counts the examples, so the batches' cardinality is known
    # (the cosine learning-rate schedule and `repeat_epochs` need the steps per epoch).
    count = int(examples.reduce(0, lambda total, _: total + 1))
    examples = examples.apply(tf.data.experimental.assert_cardinality(count))
    if shuffle:
        examples = examples.shuffle(max(count, 1), seed=data.seed, reshuffle_each_iteration=True)
    return examples


def _cached_dataset(
    data: DataConfig, split: str, training: bool, class_names, to_model: Callable
) -> tf.data.Dataset:
    examples = (
        _batches(_examples(data, split, False, class_names), class_names, 256, False)
        .map(to_model, num_parallel_calls=AUTOTUNE)
        .unbatch()
    )
    examples = _in_memory(examples, data, shuffle=training)
    dataset = examples.batch(data.batch_size, drop_remainder=training)
    return with_parallelism_policy(dataset.prefetch(AUTOTUNE))


def num_examples(data: DataConfig, split: str) -> int | None:
    """How many images a split yields, where that is known without decoding them all again.

    Known for `shapes` (fixed sizes), folders (the scanned, decodable, non-gray files),
    `video:` folders (the frames their scan counted) and TFDS sources (the split's metadata,
    or a pass over the labels with the images undecoded); with a gray threshold, the
    gray-counting pass of `pipeline_stats`, for every source but folders. None for
    `tfrecord:` sources without a gray threshold, whose validation split is picked by name
    hash inside the pipeline.
    """
    spec = parse_source(split_source(data, split)[0])
    if spec.kind == "folder":
        return len(folder_files(data, split))
    if data.gray_threshold is not None:
        return pipeline_stats(data).kept.get(split)  # its gray pass counted every split
    if spec.kind == "shapes":
        return shapes.SPLIT_SIZES[split]
    if spec.kind == "tfds":
        return tfds_examples(data, split)
    if spec.kind == "video":
        from tfcolor.input_pipeline import videos

        return sum(videos.video_frame_counts(data, split).values())
    return None


def make_input_fn(
    data: DataConfig,
    codec,
    *,
    training: bool,
    target_stride: int = 1,
    class_names=None,
    true_ab: bool = False,
) -> Callable[[], tf.data.Dataset]:
    """The estimator contract: a function that builds the dataset when called.

    A function rather than a dataset, so a distribution strategy can call it per worker.
    The arguments are those of `make_dataset`.
    """

    def input_fn() -> tf.data.Dataset:
        return make_dataset(
            data,
            codec,
            training=training,
            target_stride=target_stride,
            class_names=class_names,
            true_ab=true_ab,
        )

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
    dataset = dataset.map(
        lambda element: {
            "image": transforms.to_uint8(element["rgb"]),
            "name": element["name"],
            "label": element["label"],
        },
        num_parallel_calls=AUTOTUNE,
    )
    return with_parallelism_policy(dataset.prefetch(AUTOTUNE))


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
    dataset = dataset.batch(data.batch_size, num_parallel_calls=AUTOTUNE).map(
        lambda element: color.lightness_and_ab(element["rgb"])[1], num_parallel_calls=AUTOTUNE
    )
    return with_parallelism_policy(dataset.prefetch(AUTOTUNE))
