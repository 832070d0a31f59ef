"""Videos in, chunks of several videos side by side out: the stateful recurrent models' loader.

A recurrent model whose state is carried from one chunk of a video to the next (truncated
backpropagation through time, the video report's stateful LSTM) needs, at every step, the
next chunk of each of the B videos it is playing, and a flag where a row starts a new video,
so that it zeroes that row's state. Each row of a batch is a *stream*: the videos of a stream
play one after another, each chunk in order; the B streams play side by side.

```
source          tfrecord:DIR  a collection of `python -m tfcolor.preprocess` (records):
                              the manifest lists the videos; each video's chunks are read in
                              order from its own TFRecord file (no index, no sort)
                video:DIR     a folder of video files, decoded with PyAV while streaming
                              (small jobs); a scan decodes each once first to count its
                              frames, and names the undecodable ones (skipped)
split           validation_source, or a hash split of the video ids (`_is_validation`)
plan (Python)   videos spread over B streams, longest first, each to the stream with the
                fewest chunks so far; training: shuffled with (seed, epoch) first, so each
                epoch has a new plan with the same number of steps
streams         B datasets, each its videos' chunks in order, padded with blank chunks to
                the longest stream; interleaved one chunk from each in turn (parallel,
                deterministic): step s is rows 0..B-1
decode          per chunk, in a parallel map: its T stored frames (JPEG/PNG) decoded, or a
                video file's frames scaled (`tfcolor.media.geometry.scale_and_pad`), on the canvas
                (frame_size rounded up to the model's down-sampling), padded to T frames
batch B         {"frames", "mask", "reset", "video_id", "chunk_index"}   make_video_streams
Lab + codec     frames folded to [B * T, H, W, 3], `inputs_and_targets` (XLA), unfolded
                ({"lightness", "reset"}, targets, mask)                    make_video_dataset
```

Parallelism policy, the image pipeline's (`with_parallelism_policy`: the autotuning model
off): every map and prefetch uses `tf.data.AUTOTUNE` (the interleave too, capped at B
streams), always with `deterministic=True`: the rows of a batch are streams, and
a chunk out of order would carry a state into the wrong video.

Keras' fit iterates a finite dataset once per epoch, each iteration playing the next epoch's
plan; every epoch then starts its streams afresh, which costs a few steps of waiting. With
`.repeat()` and `steps_per_epoch=count_steps(...)` one iterator plays epoch after epoch (each
pass still the next plan) without that wait: `python -m tfcolor.bench video-pipeline` shows
both.

Every real chunk appears exactly once per epoch; a stream that has played all its videos gets
blank chunks (frames 0, mask 0, reset True, video_id "", chunk_index -1) until the longest
stream ends, so every step has B rows (the LSTM's batch is fixed). Each stream yields exactly
the plan's number of chunks whatever its files hold (a short file is padded, a long one cut),
so the rows can never slide from one stream into another.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
import os
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from tfcolor.config import DataConfig
from tfcolor.input_pipeline import records, transforms
from tfcolor.input_pipeline.images import inputs_and_targets, with_parallelism_policy
from tfcolor.input_pipeline.sources import (
    PipelineStats,
    _is_validation,
    split_source,
    walk_files,
)
from tfcolor.media import geometry

__all__ = [
    "VideoSpec",
    "count_steps",
    "decode_frame",
    "frame_images",
    "make_video_dataset",
    "make_video_input_fn",
    "make_video_streams",
    "parse_video_source",
    "plan_streams",
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
class _Video:
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
class _Split:
    """The videos a split streams, and the frame geometry they share."""

    spec: VideoSpec
    videos: tuple[_Video, ...]
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
    in_validation = [_is_validation(video_id, fraction) for video_id in ids]
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


def _split_videos(data: DataConfig, split: str, multiple: int) -> _Split:
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
            _Video(
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
        return _Split(spec, videos, data.chunk_frames, height, width, stored_chunk_frames)

    found, _ = _folder_videos(spec)
    if hold_out:
        keep = _hold_out([rel for rel, _ in found], split, data.validation_fraction, spec.text)
        found = [item for item, kept in zip(found, keep, strict=True) if kept]
    videos = []
    for relative, (frames, source_height, source_width) in found:
        placement = geometry.placement(source_height, source_width, data.frame_size, multiple)
        videos.append(
            _Video(
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
    return _Split(spec, tuple(videos), data.chunk_frames, height, width, None)


# --- the plan ---


def plan_streams(
    chunks: Sequence[int], streams: int, seed: int | Sequence[int] | None = None
) -> list[list[int]]:
    """Spreads videos over streams so that the streams end as close together as possible.

    Longest first, each video goes to the stream with the fewest chunks so far (ties: the
    lowest stream), the longest-processing-time rule: the longest stream is at most 4/3 of
    the best possible. With a seed the videos are shuffled first (ties in length are then
    broken at random) and each stream plays its videos in the shuffled order; without one,
    in the given order. The stream totals, and so the steps of an epoch, depend only on the
    lengths, never on the seed.

    Args:
        chunks: the number of chunks of each video.
        streams: B.
        seed: None for the fixed (validation) order; an int or a sequence of ints
            (`(data.seed, epoch)`) for numpy's generator.

    Returns:
        For each stream, the indices of its videos in the order they play.
    """
    if streams < 1:
        raise ValueError(f"streams must be positive. Received: streams={streams}")
    order = list(range(len(chunks)))
    if seed is not None:
        order = [int(v) for v in np.random.default_rng(seed).permutation(len(chunks))]
    rank = {video: position for position, video in enumerate(order)}
    longest_first = sorted(order, key=lambda video: -chunks[video])  # stable: ties keep order
    totals = [(0, stream) for stream in range(streams)]  # a heap of (chunks so far, stream)
    assigned: list[list[int]] = [[] for _ in range(streams)]
    for video in longest_first:
        total, stream = heapq.heappop(totals)
        assigned[stream].append(video)
        heapq.heappush(totals, (total + chunks[video], stream))
    return [sorted(videos, key=rank.__getitem__) for videos in assigned]


def _steps(chunks: Sequence[int], streams: int) -> int:
    """The chunks of the longest stream: the steps of an epoch."""
    plan = plan_streams(chunks, streams)
    return max(sum(chunks[video] for video in stream) for stream in plan)


def _plan_matrix(plan: list[list[int]]) -> np.ndarray:
    """The plan as int32 [B, K]: video indices in playing order, padded with -1."""
    width = max(1, max(len(stream) for stream in plan))
    matrix = np.full((len(plan), width), -1, np.int32)
    for stream, videos in enumerate(plan):
        matrix[stream, : len(videos)] = videos
    return matrix


class _EpochPlans:
    """A new plan on every iteration of the dataset: epoch `first_epoch`, then the next...

    `tf.data.Dataset.from_generator` calls it once per iteration, and Keras iterates the
    dataset once per epoch, so epoch e plays the plan of seed (data.seed, e) whether the run
    started at 0 or resumed at e (pass `epoch`).
    """

    def __init__(self, chunks: Sequence[int], streams: int, seed: int, first_epoch: int):
        self._chunks = list(chunks)
        self._streams = streams
        self._seed = seed
        self._next_epoch = first_epoch

    def __call__(self) -> Iterator[np.ndarray]:
        epoch = self._next_epoch
        self._next_epoch += 1
        logging.info("video streams: the plan of epoch %d", epoch)
        yield _plan_matrix(plan_streams(self._chunks, self._streams, (self._seed, epoch)))


# --- streams ---


def _blank_chunk(frames_spec: tf.TensorSpec) -> dict[str, tf.Tensor]:
    shape = [0] + [side or 0 for side in frames_spec.shape[1:]]
    return {
        "frames": tf.zeros(shape, frames_spec.dtype),
        "video": tf.constant(-1, tf.int32),
        "chunk_index": tf.constant(-1, tf.int64),
    }


def _aligned(stream: tf.data.Dataset, steps: int, frames_spec: tf.TensorSpec) -> tf.data.Dataset:
    """Exactly `steps` chunks: the stream's own, then blank ones."""
    blanks = tf.data.Dataset.from_tensors(_blank_chunk(frames_spec)).repeat()
    return stream.concatenate(blanks).take(steps)


def _record_chunks(split: _Split, files: tf.Tensor, chunks: tf.Tensor) -> Callable:
    """video index -> its chunks, read in order from its TFRecord file, encoded frames."""
    chunk_frames = split.chunk_frames
    regroup = split.stored_chunk_frames != chunk_frames
    if regroup:
        logging.info(
            "%s was written in chunks of %s frames; regrouped into chunks of %d",
            split.spec.text,
            split.stored_chunk_frames or "different numbers of",
            chunk_frames,
        )

    def frames_of(serialized):
        parsed = tf.io.parse_single_example(
            serialized,
            {
                "frames": records.CHUNK_FEATURES["frames"],
                "chunk_index": records.CHUNK_FEATURES["chunk_index"],
            },
        )
        return tf.sparse.to_dense(parsed["frames"], default_value=b""), parsed["chunk_index"]

    def video_chunks(video):
        stored = tf.data.TFRecordDataset(files[video])
        if regroup:
            frames = stored.map(lambda serialized: frames_of(serialized)[0])
            read = frames.unbatch().batch(chunk_frames).enumerate()
            read = read.map(lambda index, frames: (frames, index))
        else:
            read = stored.map(frames_of)
        return read.take(chunks[video]).map(
            lambda frames, index: {"frames": frames, "video": video, "chunk_index": index}
        )

    return video_chunks


def _video_file_chunks(split: _Split, chunks: Sequence[int]) -> Callable:
    """A stream's video indices -> its chunks, decoded with PyAV: uint8 frames at the source's
    size (scaled in the parallel decoding map, not here under Python's lock)."""
    from tfcolor.media import video_io

    chunk_frames = split.chunk_frames
    videos = split.videos

    def stream_chunks(indices: np.ndarray):
        for index in indices:
            if index < 0:
                break
            video = videos[index]
            chunk_index, pending = 0, []
            try:
                for frame in video_io.iter_frames(video.path):
                    pending.append(frame)
                    if len(pending) == chunk_frames:
                        yield np.stack(pending), np.int32(index), np.int64(chunk_index)
                        chunk_index, pending = chunk_index + 1, []
                        if chunk_index == chunks[index]:
                            break
                if pending and chunk_index < chunks[index]:
                    yield np.stack(pending), np.int32(index), np.int64(chunk_index)
            except video_io.VideoError as error:
                # Decoded in the scan, broken now: the stream goes on with its next video.
                logging.warning("video %s stopped at chunk %d: %s", video.id, chunk_index, error)

    frames_spec = tf.TensorSpec([None, None, None, 3], tf.uint8)

    def stream(indices):
        read = tf.data.Dataset.from_generator(
            stream_chunks,
            args=(indices,),
            output_signature=(
                frames_spec,
                tf.TensorSpec([], tf.int32),
                tf.TensorSpec([], tf.int64),
            ),
        )
        return read.map(
            lambda frames, video, index: {"frames": frames, "video": video, "chunk_index": index}
        )

    return stream


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


def _scaler(split: _Split) -> Callable:
    """(source frames [n, h, w, 3], video index) -> [n, H, W, 3] on the canvas, by
    `geometry.scale_and_pad` (what colorizing a video does): one branch per distinct
    placement (one per source size), so each branch's sizes are static."""
    height, width = split.height, split.width
    placements = list(dict.fromkeys(video.placement for video in split.videos))
    which = tf.constant([placements.index(v.placement) for v in split.videos] or [0], tf.int32)

    def place(frames, placement):
        def scaled():
            picture = geometry.scale_and_pad(frames, placement)
            # Only where frame_size leaves a side free do the canvases differ.
            return tf.image.pad_to_bounding_box(picture, 0, 0, height, width)

        return scaled

    def scale(frames, video):
        if not placements:
            return tf.zeros([0, height, width, 3], tf.uint8)
        branches = [place(frames, placement) for placement in placements]
        return tf.cond(
            video >= 0,
            lambda: tf.switch_case(tf.gather(which, tf.maximum(video, 0)), branches),
            lambda: tf.zeros([0, height, width, 3], tf.uint8),
        )

    return scale


def _chunk_decoder(split: _Split, encoded: bool) -> Callable:
    """A chunk of a stream -> the element of `make_video_streams` (one row of a batch)."""
    chunk_frames, height, width = split.chunk_frames, split.height, split.width
    ids = tf.constant([video.id for video in split.videos] or [""], tf.string)
    tops = tf.constant([video.top for video in split.videos] or [0], tf.int32)
    lefts = tf.constant([video.left for video in split.videos] or [0], tf.int32)
    scale = None if encoded else _scaler(split)

    def decode(chunk):
        video = chunk["video"]
        real = video >= 0
        known = tf.maximum(video, 0)
        frames = chunk["frames"]
        if encoded:
            top, left = tf.gather(tops, known), tf.gather(lefts, known)
            frames = tf.map_fn(
                lambda contents: tf.image.pad_to_bounding_box(
                    decode_frame(contents), top, left, height, width
                ),
                frames,
                fn_output_signature=tf.TensorSpec([height, width, 3], tf.uint8),
                parallel_iterations=chunk_frames,
            )
        else:
            frames = scale(frames, video)
        count = tf.shape(frames)[0]
        frames = tf.pad(frames, [[0, chunk_frames - count], [0, 0], [0, 0], [0, 0]])
        frames = tf.ensure_shape(frames, [chunk_frames, height, width, 3])
        return {
            "frames": frames,
            "mask": tf.sequence_mask(count, chunk_frames, tf.float32),
            "reset": tf.logical_or(tf.logical_not(real), tf.equal(chunk["chunk_index"], 0)),
            "video_id": tf.where(real, tf.gather(ids, known), ""),
            "chunk_index": chunk["chunk_index"],
        }

    return decode


def make_video_streams(
    data: DataConfig,
    split: str,
    streams: int | None = None,
    multiple: int = 1,
    epoch: int = 0,
) -> tf.data.Dataset:
    """B videos side by side, one chunk of each per step: raw frames and the stream flags.

    Args:
        data: the data config: source (`tfrecord:DIR` or `video:DIR`), validation_source,
            validation_fraction, chunk_frames (T; a collection written with another T is
            regrouped), frame_size (video files), batch_size (B when `streams` is None), seed.
        split: `train` (shuffled with (data.seed, epoch), a new plan on every iteration) or
            `validation` (a fixed plan, videos in id order).
        streams: B; None takes `data.batch_size`.
        multiple: the canvas is padded up to a multiple of this (the model's down-sampling);
            a tfrecord collection's stored frames stay centred in it.
        epoch: the epoch of the first iteration's plan (a resumed run passes its epoch).

    Returns:
        A prefetched dataset of `count_steps(data, split, streams=B)` batches per epoch
        (the same number on every epoch), each a dict:
        "frames" uint8 [B, T, H, W, 3] (zero frames after a short last chunk and in blank
        rows), "mask" float32 [B, T] (1 for real frames), "reset" bool [B] (True where the
        row's chunk is the first of its video, and in blank rows), "video_id" tf.string [B]
        ("" in blank rows), "chunk_index" int64 [B] (-1 in blank rows). Row b of step s is
        the next chunk of the video playing in stream b.

    Raises:
        ValueError: a bad source string or split, a missing folder, a folder without a
            manifest or without video files.
    """
    streams = data.batch_size if streams is None else streams
    if streams < 1:
        raise ValueError(f"streams must be positive. Received: streams={streams}")
    videos = _split_videos(data, split, multiple)
    chunks = videos.chunks()
    steps = _steps(chunks, streams) if chunks else 0
    logging.info(
        "%s video streams from %s: %d videos, %d chunks of %d frames, %d streams, %d steps",
        split,
        videos.spec.text,
        len(chunks),
        sum(chunks),
        videos.chunk_frames,
        streams,
        steps,
    )
    if split == "train":
        plans = tf.data.Dataset.from_generator(
            _EpochPlans(chunks, streams, data.seed, epoch),
            output_signature=tf.TensorSpec([streams, None], tf.int32),
        )
    else:
        plans = tf.data.Dataset.from_tensors(_plan_matrix(plan_streams(chunks, streams)))

    encoded = videos.spec.kind == "tfrecord"
    if encoded:
        files = tf.constant([video.path for video in videos.videos] or [""], tf.string)
        video_chunks = _record_chunks(videos, files, tf.constant(chunks or [0], tf.int64))
        frames_spec = tf.TensorSpec([None], tf.string)

        def stream(indices):
            played = tf.data.Dataset.from_tensor_slices(indices).filter(lambda video: video >= 0)
            return _aligned(played.flat_map(video_chunks), steps, frames_spec)
    else:
        read = _video_file_chunks(videos, chunks)
        frames_spec = tf.TensorSpec([None, None, None, 3], tf.uint8)

        def stream(indices):
            return _aligned(read(indices), steps, frames_spec)

    def play(plan):
        # One chunk of each stream in turn (block_length 1), the B streams read in parallel.
        return tf.data.Dataset.from_tensor_slices(plan).interleave(
            stream,
            cycle_length=streams,
            block_length=1,
            num_parallel_calls=AUTOTUNE,
            deterministic=True,
        )

    dataset = plans.flat_map(play)
    dataset = dataset.map(
        _chunk_decoder(videos, encoded), num_parallel_calls=AUTOTUNE, deterministic=True
    )
    dataset = dataset.batch(streams, drop_remainder=True)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(steps))
    # A multi-worker strategy must not shard these batches (every worker would get every
    # N-th step, and a stream's chunks would skip): unsharded, each worker plays them all.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return with_parallelism_policy(dataset.with_options(options).prefetch(AUTOTUNE))


# --- model inputs ---


def _to_model(codec, target_stride: int) -> Callable:
    """A batch of streams -> ({"lightness", "reset"}, targets, mask), the Lab conversion and
    the encoding vectorized over all B * T frames and compiled with XLA."""
    split = inputs_and_targets(codec, target_stride)

    @tf.function(jit_compile=True)
    def folded(frames):
        streams, steps, height, width, _ = frames.shape
        rgb = transforms.to_rgb(tf.reshape(frames, [streams * steps, height, width, 3]))
        lightness, targets = split(rgb)
        lightness = tf.reshape(lightness, [streams, steps, height, width, 1])
        targets = tf.reshape(targets, [streams, steps, *targets.shape[1:]])
        return lightness, targets

    def to_model(batch):
        lightness, targets = folded(batch["frames"])
        return {"lightness": lightness, "reset": batch["reset"]}, targets, batch["mask"]

    return to_model


def make_video_dataset(
    data: DataConfig,
    codec,
    split: str = "train",
    multiple: int = 1,
    target_stride: int = 1,
    epoch: int = 0,
) -> tf.data.Dataset:
    """The Keras-ready stream batches of a stateful video model.

    Args:
        data: the data config (see `make_video_streams`; B = `data.batch_size`).
        codec: a `tfcolor.codecs.Codec` whose `encode` makes the targets, or None for raw ab.
        split: `train` or `validation`.
        multiple: the frames are padded up to a multiple of this (the model's down-sampling;
            a multiple of `target_stride`).
        target_stride: the model predicts at 1 / target_stride of the resolution; ab is
            average-pooled by this factor before encoding.
        epoch: the epoch of the first iteration's plan (a resumed run passes its epoch).

    Returns:
        A prefetched dataset of `({"lightness": float32 [B, T, H, W, 1] in [0, 1],
        "reset": bool [B]}, targets, mask)`: targets is `codec.encode(ab)` with [B, T] in
        front (grid: int32 [B, T, h, w]; regression float32 [B, T, h, w, 2]; gamut
        [B, T, h, w, 2k]), h = H / target_stride; mask float32 [B, T], 1 for real frames
        (a Keras sample weight: padded frames and blank rows count for nothing).

    Raises:
        ValueError: as `make_video_streams`.
    """
    if multiple % target_stride:
        raise ValueError(
            f"multiple must be a multiple of target_stride. Received: multiple={multiple}, "
            f"target_stride={target_stride}"
        )
    streams = make_video_streams(data, split, multiple=multiple, epoch=epoch)
    dataset = streams.map(_to_model(codec, target_stride), num_parallel_calls=AUTOTUNE)
    return with_parallelism_policy(dataset.prefetch(AUTOTUNE))


def make_video_input_fn(
    data: DataConfig,
    codec,
    split: str = "train",
    multiple: int = 1,
    target_stride: int = 1,
    epoch: int = 0,
) -> Callable[[], tf.data.Dataset]:
    """The estimator contract: a function that builds `make_video_dataset` when called."""

    def input_fn() -> tf.data.Dataset:
        return make_video_dataset(
            data, codec, split, multiple=multiple, target_stride=target_stride, epoch=epoch
        )

    return input_fn


# --- sizes, for steps per epoch ---


def video_frame_counts(data: DataConfig, split: str) -> dict[str, int]:
    """Frames of each video a split streams, by video id (undecodable videos left out)."""
    return {video.id: video.frames for video in _split_videos(data, split, 1).videos}


def video_num_chunks(data: DataConfig, split: str) -> int:
    """Real chunks of T = `data.chunk_frames` frames a split holds (over all its videos)."""
    return sum(_split_videos(data, split, 1).chunks())


def count_steps(data: DataConfig, split: str, streams: int | None = None) -> int:
    """Steps of an epoch: the chunks of the longest stream (the same on every epoch).

    Args:
        data: the data config.
        split: `train` or `validation`.
        streams: B; None takes `data.batch_size`.
    """
    chunks = _split_videos(data, split, 1).chunks()
    return _steps(chunks, data.batch_size if streams is None else streams) if chunks else 0


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
        split: `train`, `validation` or `all` (`sources.ALL`: every video).
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
