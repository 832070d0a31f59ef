"""Where images come from: `shapes`, `folder:DIR`, `tfds:NAME[:SPLIT]`, `tfrecord:DIR` (the
images of a collection written by `python -m tfcolor.preprocess`, and its videos' frames) and
`video:DIR` (the frames of a folder's videos; `videos.frame_images`: each frame an
image, the videos split as the recurrent models split them).

Every source reads into the same element, a dict
`{"rgb": float32 [S, S, 3] in [0, 1], "name": tf.string, "label": tf.string}` (resized and
centre-cropped to S = `DataConfig.image_size`), in a deterministic order unless asked to
shuffle, with undecodable files, gray images (`DataConfig.gray_threshold`) and classes outside
`DataConfig.classes` already left out. What was left out is reported in a `PipelineStats`.

How each source learns what to leave out:
- folder: a validation pass decodes every file once (JPEG at 1/8 scale: it still reads all
  the entropy-coded data, so a truncated file fails) and names the ones that fail. When a gray
  threshold is set, a second pass decodes the good files as training does and names the gray
  ones. Both results are cached in memory per (file, size, mtime), so a process pays for them
  once; the file list is then filtered in Python, and the decoding map keeps
  `ignore_errors()` as a safety net for files that change on disk afterwards.
- tfds and shapes: the gray filter runs in the graph (the same `transforms.is_colorful`); a
  separate batched pass over the unshuffled data counts and names the gray images once.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from tfcolor.config import IMAGE_EXTENSIONS, DataConfig
from tfcolor.input_pipeline import image_headers, shapes, transforms
from tfcolor.input_pipeline.files import (
    ALL,
    SPLITS,
    PipelineStats,
    is_validation,
    report_skipped,
    split_source,
    walk_files,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "SourceSpec",
    "folder_files",
    "label_names",
    "list_image_files",
    "parse_source",
    "read_source",
    "source_stats",
    "tfds_examples",
]

AUTOTUNE = tf.data.AUTOTUNE
ACCEPTED_FORMS = "'shapes', 'folder:DIR', 'tfds:NAME[:SPLIT]', 'tfrecord:DIR', 'video:DIR'"
# Batch of the counting passes (gray detection): big enough to vectorize the Lab conversion.
_SCAN_BATCH = 64


@dataclasses.dataclass(frozen=True)
class SourceSpec:
    """A parsed source string.

    Attributes:
        kind: `shapes`, `folder`, `tfds`, `tfrecord` or `video`.
        text: the string it was parsed from.
        path: the folder (folder, tfrecord and video sources).
        name: the TFDS dataset name, with an optional `/config` (tfds sources).
        split: the TFDS split given after the name, if any.
    """

    kind: str
    text: str
    path: str | None = None
    name: str | None = None
    split: str | None = None


def parse_source(source: str) -> SourceSpec:
    """Parses `shapes`, `folder:DIR`, `tfds:NAME[:SPLIT]`, `tfrecord:DIR` or `video:DIR`.

    Raises:
        ValueError: any other string, named in the message with the accepted forms.
    """
    kind, _, rest = str(source).partition(":")
    if kind == "shapes" and not rest:
        return SourceSpec(kind="shapes", text=source)
    if kind in ("folder", "tfrecord", "video") and rest:
        return SourceSpec(kind=kind, text=source, path=rest)
    if kind == "tfds" and rest:
        name, _, split = rest.partition(":")
        if name:
            return SourceSpec(kind="tfds", text=source, name=name, split=split or None)
    raise ValueError(f"unknown data source {source!r}; accepted forms: {ACCEPTED_FORMS}")


# --- folder ---


def _label_of(relative_path: str) -> str:
    """The top-level subfolder of a file (its class), '' for files directly in the folder."""
    head, _, tail = relative_path.partition("/")
    return head if tail else ""


# What `walk_files` says about a path it does not open, by `stat.S_IFMT` of its mode.
def list_image_files(root: str) -> list[str]:
    """Image files under `root`, recursively, as sorted '/'-separated relative paths.

    Walked by `walk_files`: special files, symlink loops and broken links are left out and
    logged once.

    Raises:
        ValueError: `root` is not a folder, or holds no image files (both name the path).
    """
    if not os.path.isdir(root):
        raise ValueError(f"image folder {root!r} does not exist or is not a folder")
    found, skipped = walk_files(root, IMAGE_EXTENSIONS)
    report_skipped(root, skipped)
    if not found:
        raise ValueError(
            f"image folder {root!r} holds no images (looked for {', '.join(IMAGE_EXTENSIONS)}, "
            "in any case, recursively)"
        )
    return found


def _file_key(path: str) -> tuple[str, int, int]:
    stat = os.stat(path)
    return (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)


# Per process: (absolute path, size, mtime_ns) -> decodable;
# (..., image_size, threshold) -> colourful (not dropped as gray).
_DECODABLE: dict[tuple, bool] = {}
_COLORFUL: dict[tuple, bool] = {}


def _check_decodes(path: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Decodes a file as cheaply as possible that still reads all of it; returns its shape."""
    contents = tf.io.read_file(path)

    def jpeg():
        # ratio=8 skips most of the inverse DCT work, but the entropy-coded data is read to
        # the end, so truncated or corrupt JPEGs still fail (checked in the tests).
        image = tf.io.decode_jpeg(contents, channels=3, ratio=8, dct_method="INTEGER_FAST")
        return tf.shape(image)

    def other():
        # The header first: a decompression bomb or an animated WebP (which aborts TF 2.21's
        # decoder) fails here as an undecodable file, before anything is decoded.
        checked = image_headers.check_encoded(contents, image_headers.MAX_DATA_PIXELS)
        return tf.shape(tf.io.decode_image(checked, dtype=tf.uint8, expand_animations=False))

    shape = tf.cond(tf.io.is_jpeg(contents), jpeg, other)
    with tf.control_dependencies(
        [tf.debugging.assert_positive(shape[0] * shape[1], message="empty image")]
    ):
        return tf.identity(path), shape


def _scan_cached(
    cache: dict[tuple, bool],
    keys: dict[str, tuple],
    root: str,
    relative_paths: Sequence[str],
    what: str,
    passing: Callable[[list[str]], set[str]],
) -> list[bool]:
    """Whether each file passes a check, running `passing` only on files not seen before.

    Args:
        cache: per-process results, keyed by `keys[relative path]` (path, size, mtime, ...).
        passing: a tf.data scan over absolute paths that returns the paths that pass.
    """
    unseen = [rel for rel in relative_paths if keys[rel] not in cache]
    if unseen:
        logging.info("%s: %d image files under %s", what, len(unseen), root)
        paths = [os.path.join(root, rel) for rel in unseen]
        passed = passing(paths)
        for rel, path in zip(unseen, paths, strict=True):
            cache[keys[rel]] = path in passed
    return [cache[keys[rel]] for rel in relative_paths]


def _decodable_files(root: str, relative_paths: Sequence[str]) -> tuple[list[str], list[str]]:
    """Splits files into (decodable, undecodable), decoding only files not seen before."""

    def decodable(paths: list[str]) -> set[str]:
        checked = (
            tf.data.Dataset.from_tensor_slices(paths)
            .map(_check_decodes, num_parallel_calls=AUTOTUNE, deterministic=False)
            .ignore_errors()
            .map(lambda path, shape: path)
            .batch(1024)
            .prefetch(AUTOTUNE)
        )
        return {path.decode("utf-8") for batch in checked.as_numpy_iterator() for path in batch}

    keys = {rel: _file_key(os.path.join(root, rel)) for rel in relative_paths}
    flags = _scan_cached(_DECODABLE, keys, root, relative_paths, "checking", decodable)
    good_files = [rel for rel, ok in zip(relative_paths, flags, strict=True) if ok]
    bad_files = [rel for rel, ok in zip(relative_paths, flags, strict=True) if not ok]
    return good_files, bad_files


def _decode_file(path: tf.Tensor, size: int) -> tf.Tensor:
    return transforms.decode_and_resize(tf.io.read_file(path), size)


def _gray_files(root: str, relative_paths: Sequence[str], size: int, threshold: float) -> list[str]:
    """The gray ones among decodable files, judged on the image training sees (size x size)."""

    def colorful(paths: list[str]) -> set[str]:
        flags = (
            tf.data.Dataset.from_tensor_slices(paths)
            .map(lambda path: (path, _decode_file(path, size)), num_parallel_calls=AUTOTUNE)
            .ignore_errors()
            .batch(_SCAN_BATCH)
            .map(
                lambda path, rgb: (path, transforms.is_colorful(rgb, threshold)),
                num_parallel_calls=AUTOTUNE,
            )
            .prefetch(AUTOTUNE)
        )
        return {
            path.decode("utf-8")
            for batch_paths, batch_flags in flags.as_numpy_iterator()
            for path, flag in zip(batch_paths, batch_flags, strict=True)
            if flag
        }

    keys = {rel: (*_file_key(os.path.join(root, rel)), size, threshold) for rel in relative_paths}
    flags = _scan_cached(_COLORFUL, keys, root, relative_paths, "looking for gray ones", colorful)
    return [rel for rel, ok in zip(relative_paths, flags, strict=True) if not ok]


def _check_classes(classes: Sequence[str] | None, known: Sequence[str], where: str) -> None:
    if classes is None:
        return
    unknown = [name for name in classes if name not in set(known)]
    if unknown:
        shown = ", ".join(list(known)[:20]) + (", ..." if len(known) > 20 else "")
        raise ValueError(f"unknown classes {unknown} for {where}; it has: {shown}")


def _folder_files(spec: SourceSpec, data: DataConfig, split: str, hold_out: bool) -> list[str]:
    files = list_image_files(spec.path)
    if data.classes is not None:
        labels = sorted({_label_of(rel) for rel in files} - {""})
        _check_classes(data.classes, labels, f"the folder {spec.path!r} (its subfolders)")
        files = [rel for rel in files if _label_of(rel) in data.classes]
    if hold_out:
        in_validation = split == "validation"
        files = [
            rel for rel in files if is_validation(rel, data.validation_fraction) == in_validation
        ]
    good, _ = _decodable_files(spec.path, files)
    if data.gray_threshold is not None:
        gray = set(_gray_files(spec.path, good, data.image_size, data.gray_threshold))
        good = [rel for rel in good if rel not in gray]
    return good


def folder_files(data: DataConfig, split: str) -> list[str]:
    """Paths of the images a folder source's split reads (decodable, not gray, wanted classes).

    Raises:
        ValueError: `data.source` (or the split's `validation_source`) is not a folder source.
    """
    spec, hold_out = _parts(data, split)
    if spec.kind != "folder":
        raise ValueError(f"not a folder source. Received: {spec.text!r}")
    return [os.path.join(spec.path, rel) for rel in _folder_files(spec, data, split, hold_out)]


def _read_folder(
    spec: SourceSpec, data: DataConfig, split: str, hold_out: bool, shuffle: bool, reshuffle: bool
) -> tf.data.Dataset:
    files = _folder_files(spec, data, split, hold_out)
    if not files:
        logging.warning("no usable images in the %s part of %s", split, spec.text)
    # Paths and labels are worked out here in Python, not per element in the graph.
    dataset = tf.data.Dataset.from_tensor_slices(
        {
            "path": tf.constant([os.path.join(spec.path, rel) for rel in files], tf.string),
            "name": tf.constant(files, tf.string),
            "label": tf.constant([_label_of(rel) for rel in files], tf.string),
        }
    )
    if shuffle:
        # Shuffling names is cheap, so the whole list is shuffled (a uniform shuffle) before
        # anything is decoded.
        dataset = dataset.shuffle(
            max(len(files), 1), seed=data.seed, reshuffle_each_iteration=reshuffle
        )
    size = data.image_size

    def read(element):
        rgb = _decode_file(element["path"], size)
        return {"rgb": rgb, "name": element["name"], "label": element["label"]}

    # Files that broke after the validation pass are dropped here, with a warning.
    return dataset.map(read, num_parallel_calls=AUTOTUNE).ignore_errors(log_warning=True)


def _folder_stats(spec: SourceSpec, data: DataConfig) -> PipelineStats:
    files = list_image_files(spec.path)
    good, bad = _decodable_files(spec.path, files)
    gray = []
    if data.gray_threshold is not None:
        gray = _gray_files(spec.path, good, data.image_size, data.gray_threshold)
    return PipelineStats(source=spec.text, total=len(files), skipped_files=bad, gray_files=gray)


# --- tfrecord (a preprocessed collection's images) ---


def _image_shards(spec: SourceSpec) -> list[str]:
    """The image shards of a collection written by `python -m tfcolor.preprocess`.

    Raises:
        ValueError: the folder holds none (names it).
    """
    from tfcolor.input_pipeline import records

    pattern = os.path.join(spec.path, f"{records.IMAGE_PREFIX}-*.tfrecord")
    shards = sorted(tf.io.gfile.glob(pattern))
    if not shards:
        raise ValueError(
            f"{spec.path} holds no image shards ({os.path.basename(pattern)}) and no videos: "
            "write them with `python -m tfcolor.preprocess FOLDER --output DIR` from a folder "
            "of images or videos"
        )
    return shards


def _in_validation(names: tf.Tensor, fraction: float) -> tf.Tensor:
    """The hold-out rule of a collection's images: a stable hash (FarmHash64) of the name."""
    buckets = 1 << 30
    return tf.strings.to_hash_bucket_fast(names, buckets) < int(fraction * buckets)


def _read_tfrecord(
    spec: SourceSpec, data: DataConfig, split: str, hold_out: bool, shuffle: bool, reshuffle: bool
) -> tf.data.Dataset:
    """A collection's images and its videos' frames (`videos.frame_images`), mixed
    at random when shuffled (images first otherwise).

    Raises:
        ValueError: the collection holds neither image shards nor videos.
    """
    from tfcolor.input_pipeline import videos

    frames = videos.frame_images(data, split, shuffle=shuffle, reshuffle=reshuffle)
    if frames is None:
        return _read_image_shards(spec, data, split, hold_out, shuffle, reshuffle)
    if not _has_image_shards(spec):
        return frames
    images = _read_image_shards(spec, data, split, hold_out, shuffle, reshuffle)
    if not shuffle:
        return images.concatenate(frames)
    # Both run to their end: once one is used up, the other's rest follows.
    return tf.data.Dataset.sample_from_datasets(
        [images, frames], seed=data.seed, stop_on_empty_dataset=False
    )


def _has_image_shards(spec: SourceSpec) -> bool:
    from tfcolor.input_pipeline import records

    return bool(tf.io.gfile.glob(os.path.join(spec.path, f"{records.IMAGE_PREFIX}-*.tfrecord")))


def _read_image_shards(
    spec: SourceSpec, data: DataConfig, split: str, hold_out: bool, shuffle: bool, reshuffle: bool
) -> tf.data.Dataset:
    from tfcolor.input_pipeline import records

    dataset = tf.data.TFRecordDataset(_image_shards(spec), num_parallel_reads=AUTOTUNE)
    dataset = dataset.map(
        lambda record: tf.io.parse_single_example(record, records.IMAGE_FEATURES),
        num_parallel_calls=AUTOTUNE,
        deterministic=True,
    )
    if hold_out:
        validation = split == "validation"
        fraction = data.validation_fraction
        dataset = dataset.filter(
            lambda e: tf.equal(_in_validation(e["name"], fraction), validation)
        )
    if shuffle:
        dataset = dataset.shuffle(
            data.shuffle_buffer, seed=data.seed, reshuffle_each_iteration=reshuffle
        )
    size = data.image_size

    def read(element):
        rgb = transforms.decode_and_resize(element["image"], size)
        parts = tf.strings.split(element["name"], "/")
        label = tf.where(tf.size(parts) > 1, parts[0], "")
        return {"rgb": rgb, "name": element["name"], "label": label}

    # The preprocessing checked that every image decodes; a shard damaged since is skipped.
    return dataset.map(read, num_parallel_calls=AUTOTUNE).ignore_errors(log_warning=True)


def _tfrecord_label_names(spec: SourceSpec) -> tuple[str, ...]:
    from tfcolor.input_pipeline import records

    names = tf.data.TFRecordDataset(_image_shards(spec)).map(
        lambda record: tf.io.parse_single_example(record, {"name": records.IMAGE_FEATURES["name"]})[
            "name"
        ]
    )
    labels = set()
    for name in names.as_numpy_iterator():
        labels.add(_label_of(name.decode("utf-8")))
    return tuple(sorted(labels - {""}))


# --- shapes ---


def _read_shapes(data: DataConfig, split: str, shuffle: bool, reshuffle: bool) -> tf.data.Dataset:
    parts = SPLITS if split == ALL else (split,)
    images = np.concatenate([shapes.shapes_images(part) for part in parts])
    labels = np.concatenate([shapes.shapes_labels(part) for part in parts])
    names = [
        f"shapes/{part}/{index:04d}" for part in parts for index in range(shapes.SPLIT_SIZES[part])
    ]
    dataset = tf.data.Dataset.from_tensor_slices({"image": images, "name": names, "label": labels})
    if shuffle:
        dataset = dataset.shuffle(len(images), seed=data.seed, reshuffle_each_iteration=reshuffle)
    size = data.image_size

    def read(element):
        rgb = transforms.resize_and_crop(transforms.to_rgb(element["image"]), size)
        return {"rgb": rgb, "name": element["name"], "label": element["label"]}

    return dataset.map(read, num_parallel_calls=AUTOTUNE)


# --- tfds ---


def _tfds_builder(spec: SourceSpec):
    import tensorflow_datasets as tfds  # Imported here: only TFDS sources pay for it.

    return tfds.builder(spec.name)


def _image_feature(builder) -> str:
    import tensorflow_datasets as tfds

    for key, feature in builder.info.features.items():
        if isinstance(feature, tfds.features.Image):
            return key
    raise ValueError(f"the TFDS dataset {builder.name!r} has no image feature")


def _tfds_split(spec: SourceSpec, builder, data: DataConfig, split: str, hold_out: bool) -> str:
    """The TFDS split string for our `train`, `validation` or `all`."""
    if split == ALL:
        return spec.split or "all"  # TFDS's own name for every split together
    available = list(builder.info.splits.keys())
    # Without prepared metadata (mock data, no download yet) the split names are unknown;
    # assume the common train/test layout.
    if not available:
        available = ["train", "test"]
    if split == "train":
        base = spec.split or "train"
    elif spec.split and not hold_out:
        return spec.split  # a validation_source that names its split
    else:
        # A labelled `validation` first: some datasets' `test` split is unlabelled
        # (places365_small's labels there are all -1).
        for name in ("validation", "test"):
            if name in available:
                return name
        base = spec.split or "train"
    if hold_out and not {"test", "validation"} & set(available):
        # No split of its own for validation: hold out the end of the training split.
        percent = max(1, round(100 * data.validation_fraction))
        return f"{base}[:{100 - percent}%]" if split == "train" else f"{base}[{100 - percent}%:]"
    return base


def _read_tfds(
    spec: SourceSpec,
    data: DataConfig,
    split: str,
    hold_out: bool,
    shuffle: bool,
    reshuffle: bool,
) -> tf.data.Dataset:
    import tensorflow_datasets as tfds

    builder = _tfds_builder(spec)
    image_key = _image_feature(builder)
    features = builder.info.features
    label_names = None
    if "label" in features and isinstance(features["label"], tfds.features.ClassLabel):
        label_names = list(features["label"].names)
    tfds_split = _tfds_split(spec, builder, data, split, hold_out)
    try:
        dataset = tfds.load(
            spec.name,
            split=tfds_split,
            shuffle_files=shuffle,
            read_config=tfds.ReadConfig(shuffle_seed=data.seed),
        )
    except Exception as error:  # noqa: BLE001 - TFDS raises many kinds; the user needs one line
        first_line = (str(error).strip().splitlines() or [""])[0]
        raise ValueError(
            f"the TFDS dataset {spec.name!r} (split {tfds_split!r}) cannot be loaded: "
            f"{type(error).__name__}: {first_line}. It is downloaded and prepared on first use, "
            "which needs the network (or prepare it elsewhere and point TFDS_DATA_DIR at it)"
        ) from error
    prefix = f"{spec.name}/{tfds_split}/"
    dataset = dataset.enumerate()

    if data.classes is not None:
        wanted = _class_filter(builder, data, spec, tfds_split)
        dataset = dataset.filter(lambda index, example: wanted(example))
    size = data.image_size
    names_table = tf.constant(label_names) if label_names is not None else None

    def read(index, example):
        rgb = transforms.resize_and_crop(transforms.to_rgb(example[image_key]), size)
        label = tf.constant("")
        if names_table is not None:
            # An unlabelled example (label -1, as in places365_small's test split) carries "".
            label_index = example["label"]
            named = tf.gather(names_table, tf.maximum(label_index, 0))
            label = tf.where(label_index >= 0, named, "")
        name = tf.strings.join([prefix, tf.strings.as_string(index)])
        return {"rgb": rgb, "name": name, "label": label}

    dataset = dataset.map(read, num_parallel_calls=AUTOTUNE)
    if shuffle:
        dataset = dataset.shuffle(
            data.shuffle_buffer, seed=data.seed, reshuffle_each_iteration=reshuffle
        )
    return dataset


def tfds_examples(data: DataConfig, split: str) -> int | None:
    """How many examples a TFDS source's split yields after the class filter (no gray
    threshold: that filter needs the images decoded; `source_stats` counts it).

    The split's metadata gives the count where no classes are picked; otherwise (or without
    metadata) one pass reads the labels with the images left undecoded (CIFAR-100's 50,000
    training examples: about a second).

    Raises:
        ValueError: not a TFDS source, or a TFDS dataset that cannot be loaded.
    """

    spec, hold_out = _parts(data, split)
    if spec.kind != "tfds":
        raise ValueError(f"not a TFDS source. Received: {spec.text!r}")
    builder = _tfds_builder(spec)
    tfds_split = _tfds_split(spec, builder, data, split, hold_out)
    # Once per process: the pipeline's cache budget and the estimator's steps both ask.
    key = (spec.text, tfds_split, data.classes)
    if key not in _TFDS_COUNTS:
        _TFDS_COUNTS[key] = _count_tfds(spec, builder, tfds_split, data)
    return _TFDS_COUNTS[key]


_TFDS_COUNTS: dict[tuple, int] = {}


def _count_tfds(spec: SourceSpec, builder, tfds_split: str, data: DataConfig) -> int:
    import tensorflow_datasets as tfds

    if data.classes is None:
        try:
            count = builder.info.splits[tfds_split].num_examples
        except (KeyError, ValueError):  # not prepared here (mock data): count them
            count = 0
        if count:
            return int(count)
    dataset = tfds.load(
        spec.name,
        split=tfds_split,
        decoders={_image_feature(builder): tfds.decode.SkipDecoding()},
    )
    if data.classes is not None:
        dataset = dataset.filter(_class_filter(builder, data, spec, tfds_split))
    return int(dataset.reduce(np.int64(0), lambda count, _: count + 1))


def _class_filter(builder, data: DataConfig, spec: SourceSpec, tfds_split: str) -> Callable:
    """A TFDS example -> whether its label is one of `data.classes`.

    Raises:
        ValueError: the dataset has no ClassLabel `label`, a class it does not have, or a
            split without labels (its first example's label is -1).
    """
    import tensorflow_datasets as tfds

    features = builder.info.features
    if "label" not in features or not isinstance(features["label"], tfds.features.ClassLabel):
        raise ValueError(
            f"classes were given, but the TFDS dataset {spec.name!r} has no ClassLabel "
            "feature named 'label'"
        )
    label_names = list(features["label"].names)
    _check_classes(data.classes, label_names, f"the TFDS dataset {spec.name!r}")
    _check_labelled(builder, spec, tfds_split)
    wanted = tf.constant([label_names.index(name) for name in data.classes], tf.int64)
    return lambda example: tf.reduce_any(tf.equal(example["label"], wanted))


def _check_labelled(builder, spec: SourceSpec, tfds_split: str) -> None:
    """Raises a clear error where the split's first example is unlabelled (label -1): a class
    filter on it would keep nothing. Reads one example, its image left undecoded."""
    import tensorflow_datasets as tfds

    first = tfds.load(
        spec.name,
        split=tfds_split,
        decoders={_image_feature(builder): tfds.decode.SkipDecoding()},
    ).take(1)
    labels = [int(example["label"]) for example in first.as_numpy_iterator()]
    if labels and labels[0] < 0:
        raise ValueError(
            f"classes were given, but the split {tfds_split!r} of the TFDS dataset "
            f"{spec.name!r} has no labels (label {labels[0]}): a class filter would keep "
            "nothing. Name a labelled split (e.g. --validation-data "
            f"tfds:{spec.name}:validation) or drop --classes"
        )


# --- all sources ---


def _parts(data: DataConfig, split: str) -> tuple[SourceSpec, bool]:
    """The parsed source a split reads, and whether validation is held out of it."""
    text, hold_out = split_source(data, split)
    return parse_source(text), hold_out


def _read_unfiltered(
    spec: SourceSpec,
    data: DataConfig,
    split: str,
    hold_out: bool,
    shuffle: bool,
    reshuffle: bool = True,
) -> tf.data.Dataset:
    if spec.kind == "folder":
        return _read_folder(spec, data, split, hold_out, shuffle, reshuffle)
    if spec.kind == "shapes":
        # Its splits are fixed sets; as a validation_source it gives its validation set.
        return _read_shapes(data, split, shuffle, reshuffle)
    if spec.kind == "tfrecord":
        return _read_tfrecord(spec, data, split, hold_out, shuffle, reshuffle)
    if spec.kind == "video":
        from tfcolor.input_pipeline import videos

        return videos.frame_images(data, split, shuffle=shuffle, reshuffle=reshuffle)
    return _read_tfds(spec, data, split, hold_out, shuffle, reshuffle)


def read_source(
    data: DataConfig, split: str, *, shuffle: bool, reshuffle_each_iteration: bool = True
) -> tf.data.Dataset:
    """The images of a split, filtered, as `{"rgb", "name", "label"}` dicts.

    Args:
        data: the data config (source, validation_source, image_size, classes,
            gray_threshold, seed, shuffle_buffer, validation_fraction).
        split: `train`, `validation`, or `all` (the whole of `data.source`).
        shuffle: shuffle with `data.seed`; False gives a deterministic order (sorted files,
            the dataset's own order).
        reshuffle_each_iteration: with `shuffle`, a new order on every iteration (epoch);
            False keeps one fixed shuffled order.

    Returns:
        A dataset of dicts: "rgb" float32 [S, S, 3] in [0, 1], "name" tf.string (the path
        relative to the folder, or `NAME/SPLIT/INDEX`), "label" tf.string (the top-level
        subfolder or the class name; '' when there is none).

    Raises:
        ValueError: a bad source string, a missing or empty folder, unknown classes.
    """
    spec, hold_out = _parts(data, split)
    dataset = _read_unfiltered(spec, data, split, hold_out, shuffle, reshuffle_each_iteration)
    if spec.kind != "folder" and data.gray_threshold is not None:
        threshold = data.gray_threshold
        dataset = dataset.filter(lambda element: transforms.is_colorful(element["rgb"], threshold))
    return dataset


def _counted_gray(dataset: tf.data.Dataset, threshold: float) -> tuple[int, list[str]]:
    """(number of images, names of the gray ones) in one batched pass."""
    flags = (
        dataset.batch(_SCAN_BATCH)
        .map(
            lambda element: (element["name"], transforms.is_colorful(element["rgb"], threshold)),
            num_parallel_calls=AUTOTUNE,
        )
        .prefetch(AUTOTUNE)
    )
    total, gray = 0, []
    for names, colorful in flags.as_numpy_iterator():
        total += len(names)
        gray.extend(name.decode("utf-8") for name in names[~np.asarray(colorful)])
    return total, gray


_STATS: dict[tuple, PipelineStats] = {}


def _spec_stats(spec: SourceSpec, data: DataConfig, splits: Sequence[str]) -> PipelineStats:
    key = (spec.text, data.image_size, data.gray_threshold, data.classes, tuple(splits))
    if key in _STATS:
        return _STATS[key]
    if spec.kind == "folder":
        stats = _folder_stats(spec, data)
    else:
        stats = PipelineStats(source=spec.text)
        if data.gray_threshold is not None:
            stats.total = 0
            # Validation is held out of the source unless it has a source of its own.
            hold_out = data.validation_source is None
            for split in splits:
                dataset = _read_unfiltered(spec, data, split, hold_out, shuffle=False)
                total, gray = _counted_gray(dataset, data.gray_threshold)
                stats.total += total
                stats.gray_files.extend(gray)
                stats.kept[split] = total - len(gray)
    _STATS[key] = stats
    if stats.skipped_files:
        logging.warning(
            "%s: skipped %d undecodable files: %s",
            spec.text,
            stats.skipped,
            ", ".join(stats.skipped_files),
        )
    if data.gray_threshold is not None:
        logging.info(
            "%s: dropped %d of %d images as gray (|a|, |b| < %g everywhere)%s",
            spec.text,
            stats.dropped_gray,
            stats.total,
            data.gray_threshold,
            (": " + ", ".join(stats.gray_files[:50])) if stats.gray_files else "",
        )
    return stats


def label_names(data: DataConfig) -> tuple[str, ...]:
    """The class names of a labelled source, in a fixed order (the classifier's classes).

    `data.classes` when given; otherwise the shapes data's rectangle colours, a folder's
    top-level subfolders (sorted), or a TFDS dataset's `label` ClassLabel names.

    Raises:
        ValueError: the source has no labels (a folder without subfolders, a TFDS dataset
            without a ClassLabel `label`), or fewer than two classes.
    """
    if data.classes is not None:
        names = tuple(data.classes)
    else:
        spec = parse_source(data.source)
        if spec.kind == "shapes":
            names = shapes.CLASS_NAMES
        elif spec.kind == "folder":
            names = tuple(sorted({_label_of(rel) for rel in list_image_files(spec.path)} - {""}))
        elif spec.kind == "tfrecord":
            names = _tfrecord_label_names(spec)
        elif spec.kind == "video":
            names = ()  # frames carry no labels
        else:
            import tensorflow_datasets as tfds

            features = _tfds_builder(spec).info.features
            names = ()
            if "label" in features and isinstance(features["label"], tfds.features.ClassLabel):
                names = tuple(features["label"].names)
    if len(names) < 2:
        raise ValueError(
            f"a classification head needs labels of at least two classes; {data.source!r} has "
            f"{list(names)} (a folder's labels are its top-level subfolders)"
        )
    return names


def source_stats(data: DataConfig) -> PipelineStats:
    """What `data`'s sources leave out (undecodable files, gray images), computed once.

    Covers all images of `data.source` (both splits when validation is held out of it) and of
    `data.validation_source`. Logged with absl.logging when first computed.
    """
    spec = parse_source(data.source)
    if data.validation_source is None:
        return _spec_stats(spec, data, SPLITS)
    validation_spec = parse_source(data.validation_source)
    return _spec_stats(spec, data, ("train",)).merge(
        _spec_stats(validation_spec, data, ("validation",))
    )
