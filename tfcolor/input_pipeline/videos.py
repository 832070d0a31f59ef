"""The videos of a video source (`video:DIR`, a folder of video files decoded with PyAV, or
`tfrecord:DIR`, a collection of `python -m tfcolor.preprocess`): parsed, listed, scanned,
split (whole videos by a hash of their ids, `_hold_out`), counted, and their frames read one by
one as images for the image models (`frame_images`).

The recurrent models' loader (`video_streams`) plays these videos side by side; the image
sources (`sources`) read their frames. This module imports neither: both stand on it.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from tfcolor.config import DataConfig
from tfcolor.input_pipeline import records, transforms
from tfcolor.input_pipeline.files import PipelineStats, is_validation, split_source, walk_files
from tfcolor.media import geometry

__all__ = [
    "Split",
    "Video",
    "VideoSpec",
    "decode_frame",
    "frame_images",
    "parse_video_source",
    "split_videos",
    "video_frame_counts",
    "video_num_chunks",
    "video_stats",
]

AUTOTUNE = tf.data.AUTOTUNE
ACCEPTED_FORMS = "'tfrecord:DIR', 'video:DIR'"


@dataclasses.dataclass(frozen=True)
class VideoSpec:
    """A parsed video source string.

    Attributes:
        kind: `tfrecord` (a preprocessed collection) or `video` (a folder of video files).
        text: the string it was parsed from.
        path: the folder.
    """

    kind: str
    text: str
    path: str


def parse_video_source(source: str) -> VideoSpec:
    """Parses `tfrecord:DIR` or `video:DIR`.

    Raises:
        ValueError: any other string, named in the message with the accepted forms.
    """
    kind, _, path = str(source).partition(":")
    if kind in ("tfrecord", "video") and path:
        return VideoSpec(kind=kind, text=source, path=path)
    raise ValueError(f"unknown video source {source!r}; accepted forms: {ACCEPTED_FORMS}")


# --- what a split holds ---


@dataclasses.dataclass(frozen=True)
class Video:
    """One video of a split, as the streams read it.

    Attributes:
        id: its path relative to the input folder (the manifest's id).
        path: its chunk file (tfrecord) or its video file (video), absolute.
        frames: frames it holds.
        height, width: its frames' size as read (the stored canvas; for video files the
            placement's padded size).
        top, left: where those frames go on the common canvas.
        placement: for video files, how `geometry.scale_and_pad` fits them.
    """

    id: str
    path: str
    frames: int
    height: int
    width: int
    top: int = 0
    left: int = 0
    placement: object = None


@dataclasses.dataclass(frozen=True)
class Split:
    """The videos a split streams, and the frame geometry they share."""

    spec: VideoSpec
    videos: tuple[Video, ...]
    chunk_frames: int  # T
    height: int  # the canvas, a multiple of `multiple`
    width: int
    stored_chunk_frames: int | None  # tfrecord: the collection's T when all videos share it

    def chunks(self) -> list[int]:
        return [math.ceil(video.frames / self.chunk_frames) for video in self.videos]


def _canvas(
    frame_size: Sequence[int], height: int, width: int, multiple: int, source: str
) -> tuple[int, int]:
    """(height, width) of the frames the streams yield: the canvas of `frame_size`
    (`geometry.canvas_size`; a side of 0 in frame_size takes the stored frames'), or the stored
    frames' size rounded up to `multiple` if they are larger.

    A collection's stored frames are usually padded beyond frame_size already (preprocess
    pads 240x135 to 240x136 at its --multiple 8): at the model's multiple (8, 16...) they fit
    the canvas; at multiple 1 the canvas is theirs. Frames larger than frame_size rounded up
    to the multiple (a collection written at a larger frame size) are kept whole, with a
    warning: a model built for frame_size expects the smaller canvas.
    """
    box_width, box_height = (int(side) for side in frame_size)
    canvas_height, canvas_width = geometry.canvas_size(
        frame_size, multiple, max(height, 1), max(width, 1)
    )
    if height > canvas_height or width > canvas_width:
        _warn_once(
            f"{source} holds {width}x{height} frames, larger than frame_size "
            f"{box_width}x{box_height} rounded up to a multiple of {multiple} "
            f"({canvas_width}x{canvas_height}): set DataConfig.frame_size to the collection's"
        )
    return (
        geometry.round_up(max(canvas_height, height), multiple),
        geometry.round_up(max(canvas_width, width), multiple),
    )


def _check_folder(spec: VideoSpec) -> None:
    if not tf.io.gfile.isdir(spec.path):
        what = "video collection" if spec.kind == "tfrecord" else "video folder"
        raise ValueError(f"{what} {spec.path!r} ({spec.text}) does not exist or is not a folder")


def _collection_videos(spec: VideoSpec) -> tuple[list[records.VideoEntry], list[str]]:
    """The manifest's videos whose chunk file exists, and the ids of those whose does not."""
    _check_folder(spec)
    try:
        entries = records.read_manifest(spec.path)
    except FileNotFoundError as error:
        raise ValueError(str(error)) from None
    # One listing per folder of chunk files, not one existence check per video (on a bucket
    # each check is a request).
    folders = {os.path.dirname(entry.file) for entry in entries}
    found = set()
    for folder in folders:
        path = os.path.join(spec.path, folder)
        if tf.io.gfile.isdir(path):
            found.update(os.path.join(folder, name) for name in tf.io.gfile.listdir(path))
    present = [entry for entry in entries if entry.file in found]
    missing = [entry.id for entry in entries if entry.file not in found]
    for video_id in missing:
        _warn_once(f"video {video_id} of {spec.text} skipped: its chunk file is missing")
    return present, missing


_WARNED: set[str] = set()


def _warn_once(message: str) -> None:
    """A skipped video is named once per process, not on every dataset built."""
    if message not in _WARNED:
        _WARNED.add(message)
        logging.warning(message)


# Per process: (absolute path, size, mtime_ns) -> (frames, source height, source width), or
# the reason a video file could not be decoded. A video folder is decoded once to count its
# frames (container headers are not reliable enough to plan the streams on).
_SCANNED: dict[tuple, tuple[int, int, int] | str] = {}


def _scan_video_file(path: str) -> tuple[int, int, int] | str:
    from tfcolor.media import video_io

    stat = tf.io.gfile.stat(path)
    key = (os.path.abspath(path) if "://" not in path else path, stat.length, stat.mtime_nsec)
    if key not in _SCANNED:
        frames, height, width = 0, 0, 0
        try:
            for frame in video_io.iter_frames(path):
                if not frames:
                    height, width = frame.shape[:2]
                frames += 1
            _SCANNED[key] = (frames, height, width) if frames else "no frames"
        except video_io.VideoError as error:
            _SCANNED[key] = str(error.reason)
    return _SCANNED[key]


def _folder_videos(spec: VideoSpec) -> tuple[list[tuple[str, tuple[int, int, int]]], list[str]]:
    """(relative path, (frames, height, width)) of the decodable video files, and the rest."""
    from tfcolor.media import video_io

    _check_folder(spec)
    if "://" in spec.path:
        files = video_io.list_video_files(spec.path)
    else:
        # A local folder: FIFOs and devices are never opened (reading one blocks forever),
        # symlink loops are skipped, symlinked subfolders read once.
        files, skipped = walk_files(spec.path, video_io.VIDEO_EXTENSIONS)
        for relative, reason in skipped:
            _warn_once(f"{relative} of {spec.text} skipped: {reason}")
    if not files:
        raise ValueError(f"video folder {spec.path!r} ({spec.text}) holds no video files")
    good, bad = [], []
    for relative in files:
        scanned = _scan_video_file(os.path.join(spec.path, relative))
        if isinstance(scanned, str):
            bad.append(relative)
            _warn_once(f"video {relative} of {spec.text} skipped: it cannot be decoded ({scanned})")
        else:
            good.append((relative, scanned))
    return good, bad


def video_stats(data: DataConfig) -> PipelineStats:
    """What the video sources of `data` leave out, by name (`skipped_files`).

    tfrecord: the inputs the preprocessing named in its `failed.txt`, and manifest entries
    whose chunk file is missing. video: the files that cannot be decoded.
    """
    stats = []
    texts = [data.source] + ([data.validation_source] if data.validation_source else [])
    for text in dict.fromkeys(texts):
        spec = parse_video_source(text)
        if spec.kind == "tfrecord":
            entries, missing = _collection_videos(spec)
            failed = [path for path, _ in records.read_failed(spec.path)]
            stats.append(
                PipelineStats(
                    source=text,
                    total=len(entries) + len(missing) + len(failed),
                    skipped_files=failed + missing,
                )
            )
        else:
            good, bad = _folder_videos(spec)
            stats.append(PipelineStats(source=text, total=len(good) + len(bad), skipped_files=bad))
    merged = stats[0]
    for other in stats[1:]:
        merged = merged.merge(other)
    return merged


def _parts(data: DataConfig, split: str) -> tuple[VideoSpec, bool]:
    """The parsed video source a split reads, and whether validation is held out of it."""
    text, hold_out = split_source(data, split)
    return parse_video_source(text), hold_out


def _hold_out(ids: Sequence[str], split: str, fraction: float, source: str) -> list[bool]:
    """Which of `ids` (sorted) belong to `split` under the hash split of their ids.

    A video is wholly in one split. If the hash puts every video in validation (a collection
    of one or a few videos), the first by id trains instead: training always has a video,
    and validation may then be empty (a warning says so).
    """
    in_validation = [is_validation(video_id, fraction) for video_id in ids]
    if ids and all(in_validation):
        in_validation[0] = False
    if split == "validation" and not any(in_validation):
        logging.warning(
            "the validation part of %s is empty (%d videos, validation_fraction %g): "
            "set a validation_source to validate",
            source,
            len(ids),
            fraction,
        )
    return [flag == (split == "validation") for flag in in_validation]


def split_videos(data: DataConfig, split: str, multiple: int) -> Split:
    if multiple < 1:
        raise ValueError(f"multiple must be positive. Received: multiple={multiple}")
    if data.chunk_frames < 1:
        raise ValueError(f"chunk_frames must be positive. Received: {data.chunk_frames}")
    spec, hold_out = _parts(data, split)
    if spec.kind == "tfrecord":
        entries, _ = _collection_videos(spec)
        if hold_out:
            keep = _hold_out([e.id for e in entries], split, data.validation_fraction, spec.text)
            entries = [entry for entry, kept in zip(entries, keep, strict=True) if kept]
        entries = [entry for entry in entries if entry.frames > 0]
        height, width = _canvas(
            data.frame_size,
            max((e.height for e in entries), default=0),
            max((e.width for e in entries), default=0),
            multiple,
            spec.text,
        )
        videos = tuple(
            Video(
                id=entry.id,
                path=os.path.join(spec.path, entry.file),
                frames=entry.frames,
                height=entry.height,
                width=entry.width,
                # The stored picture stays centred: half the extra rows and columns above and
                # left of it, the rest below and right.
                top=(height - entry.height) // 2,
                left=(width - entry.width) // 2,
            )
            for entry in entries
        )
        stored = {entry.chunk_frames for entry in entries}
        stored_chunk_frames = stored.pop() if len(stored) == 1 else None
        return Split(spec, videos, data.chunk_frames, height, width, stored_chunk_frames)

    found, _ = _folder_videos(spec)
    if hold_out:
        keep = _hold_out([rel for rel, _ in found], split, data.validation_fraction, spec.text)
        found = [item for item, kept in zip(found, keep, strict=True) if kept]
    videos = []
    for relative, (frames, source_height, source_width) in found:
        placement = geometry.placement(source_height, source_width, data.frame_size, multiple)
        videos.append(
            Video(
                id=relative,
                path=os.path.join(spec.path, relative),
                frames=frames,
                height=placement.height,
                width=placement.width,
                placement=placement,
            )
        )
    if videos:
        # Each placement's canvas is already frame_size rounded up to the multiple; they
        # differ only where frame_size leaves a side free (0), and the largest holds them all.
        height, width = max(v.height for v in videos), max(v.width for v in videos)
    else:
        height, width = _canvas(data.frame_size, 0, 0, multiple, spec.text)
    return Split(spec, tuple(videos), data.chunk_frames, height, width, None)


def decode_frame(contents: tf.Tensor) -> tf.Tensor:
    """A stored frame (JPEG or PNG bytes) -> uint8 RGB [h, w, 3].

    JPEG with the fast integer IDCT, as the image pipeline decodes (DESIGN.md: 640x480
    decode + resize about 850 images/s with it).
    """
    return tf.cond(
        tf.io.is_jpeg(contents),
        lambda: tf.io.decode_jpeg(contents, channels=3, dct_method="INTEGER_FAST"),
        lambda: tf.io.decode_image(contents, channels=3, dtype=tf.uint8, expand_animations=False),
    )


def video_frame_counts(data: DataConfig, split: str) -> dict[str, int]:
    """Frames of each video a split streams, by video id (undecodable videos left out)."""
    return {video.id: video.frames for video in split_videos(data, split, 1).videos}


def video_num_chunks(data: DataConfig, split: str) -> int:
    """Real chunks of T = `data.chunk_frames` frames a split holds (over all its videos)."""
    return sum(split_videos(data, split, 1).chunks())


# --- frames as images, for the image models ---


def frame_images(
    data: DataConfig, split: str, *, shuffle: bool, reshuffle: bool = True
) -> tf.data.Dataset | None:
    """The frames of a video source's videos, each one image, for the image models.

    The video report compared image models (U-Net, U-Net + feature vector, the bigger U-Net)
    with the recurrent ones on the same frames: here every frame of a split's videos is an
    image, scaled and centre-cropped to `data.image_size` as every image model's images are
    (`transforms.resize_and_crop`, not the recurrent models' scale and pad). The split is the
    recurrent models' own (`_hold_out`: whole videos by a hash of their ids), so both kinds
    train and validate on the same videos. A collection's frames are read from the picture
    inside their stored canvas (the chunk's `content`), without its padding.

    Args:
        data: the data config (source or validation_source `video:DIR` or `tfrecord:DIR`,
            image_size, validation_fraction, seed, shuffle_buffer).
        split: `train`, `validation` or `all` (`files.ALL`: every video).
        shuffle: the videos in a new order each epoch (with `reshuffle`), several of them
            read at once, their frames shuffled in a buffer of `data.shuffle_buffer`; False
            reads the videos in id order, each frame in order.

    Returns:
        A dataset of `{"rgb": float32 [S, S, 3] in [0, 1], "name": "VIDEO_ID#FRAME",
        "label": ""}`, or None where the source holds no videos (a collection of images).

    Raises:
        ValueError: a missing folder, a video folder without video files.
    """
    text, hold_out = split_source(data, split)
    spec = parse_video_source(text)
    if spec.kind == "tfrecord":
        if not tf.io.gfile.exists(os.path.join(spec.path, records.MANIFEST)):
            return None
        entries, _ = _collection_videos(spec)
        videos = [(entry.id, os.path.join(spec.path, entry.file)) for entry in entries]
    else:
        found, _ = _folder_videos(spec)
        videos = [(relative, os.path.join(spec.path, relative)) for relative, _ in found]
    if not videos:
        return None
    if hold_out:
        keep = _hold_out(
            [video_id for video_id, _ in videos], split, data.validation_fraction, text
        )
        videos = [video for video, kept in zip(videos, keep, strict=True) if kept]
    ids = tf.constant([video_id for video_id, _ in videos] or [""], tf.string)
    paths = tf.constant([path for _, path in videos] or [""], tf.string)
    order = tf.data.Dataset.range(len(videos))
    if shuffle:
        order = order.shuffle(
            max(len(videos), 1), seed=data.seed, reshuffle_each_iteration=reshuffle
        )
    stored = spec.kind == "tfrecord"
    read = _stored_frames if stored else _decoded_frames

    def frames_of(index):
        def named(frame):
            number = tf.strings.as_string(frame.pop("number"))
            return {**frame, "name": tf.strings.join([ids[index], number], "#")}

        return read(paths[index]).map(named)

    # A few videos at a time, one frame of each in turn: the shuffle buffer then mixes
    # several videos, not only the neighbouring frames of one.
    frames = order.interleave(
        frames_of,
        cycle_length=min(max(len(videos), 1), 8),
        block_length=1,
        num_parallel_calls=AUTOTUNE,
        deterministic=True,
    )
    if shuffle:
        frames = frames.shuffle(
            data.shuffle_buffer, seed=data.seed, reshuffle_each_iteration=reshuffle
        )
    size = data.image_size

    def to_image(element):
        frame = element["frame"]
        if stored:
            top, left, height, width = tf.unstack(tf.cast(element["content"], tf.int32))
            frame = tf.image.crop_to_bounding_box(decode_frame(frame), top, left, height, width)
        rgb = transforms.resize_and_crop(transforms.to_rgb(frame), size)
        return {"rgb": rgb, "name": element["name"], "label": tf.constant("")}

    return frames.map(to_image, num_parallel_calls=AUTOTUNE, deterministic=True)


def _stored_frames(path: tf.Tensor) -> tf.data.Dataset:
    """A collection's chunk file -> its frames in order: {"frame": encoded bytes, "content":
    int64 [4] (the picture's box in the canvas), "number": int64 index in the video}."""

    def frames_of_chunk(serialized):
        chunk = tf.io.parse_single_example(
            serialized,
            {key: records.CHUNK_FEATURES[key] for key in ("frames", "first_frame", "content")},
        )
        encoded = tf.sparse.to_dense(chunk["frames"], default_value=b"")
        count = tf.shape(encoded, out_type=tf.int64)[0]
        return {
            "frame": encoded,
            "content": tf.tile(chunk["content"][None], [count, 1]),
            "number": chunk["first_frame"] + tf.range(count),
        }

    return tf.data.TFRecordDataset(path).map(frames_of_chunk).unbatch()


def _decoded_frames(path: tf.Tensor) -> tf.data.Dataset:
    """A video file -> its frames in order, decoded with PyAV: {"frame": uint8 [h, w, 3],
    "number": int64 index in the video}. A video that breaks after the scan ends there."""
    from tfcolor.media import video_io

    def frames(path_bytes):
        path_text = path_bytes.decode("utf-8")
        number = 0
        try:
            for frame in video_io.iter_frames(path_text):
                yield frame, np.int64(number)
                number += 1
        except video_io.VideoError as error:
            logging.warning("video %s stopped at frame %d: %s", path_text, number, error)

    decoded = tf.data.Dataset.from_generator(
        frames,
        args=(path,),
        output_signature=(
            tf.TensorSpec([None, None, 3], tf.uint8),
            tf.TensorSpec([], tf.int64),
        ),
    )
    return decoded.map(lambda frame, number: {"frame": frame, "number": number})
