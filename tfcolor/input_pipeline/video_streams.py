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

import heapq
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from tfcolor.config import DataConfig
from tfcolor.input_pipeline import records, transforms
from tfcolor.input_pipeline.images import inputs_and_targets, with_parallelism_policy
from tfcolor.input_pipeline.videos import Split, decode_frame, split_videos
from tfcolor.media import geometry

__all__ = [
    "count_steps",
    "make_video_dataset",
    "make_video_input_fn",
    "make_video_streams",
    "plan_streams",
]

AUTOTUNE = tf.data.AUTOTUNE
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


def _record_chunks(split: Split, files: tf.Tensor, chunks: tf.Tensor) -> Callable:
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


def _video_file_chunks(split: Split, chunks: Sequence[int]) -> Callable:
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


def _scaler(split: Split) -> Callable:
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


def _chunk_decoder(split: Split, encoded: bool) -> Callable:
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
    videos = split_videos(data, split, multiple)
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


def count_steps(data: DataConfig, split: str, streams: int | None = None) -> int:
    """Steps of an epoch: the chunks of the longest stream (the same on every epoch).

    Args:
        data: the data config.
        split: `train` or `validation`.
        streams: B; None takes `data.batch_size`.
    """
    chunks = split_videos(data, split, 1).chunks()
    return _steps(chunks, data.batch_size if streams is None else streams) if chunks else 0
