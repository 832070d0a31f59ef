"""`bench video-pipeline`: frames/s of the stateful video loader (`input_pipeline.video_streams`).

On one collection: (a) decoding the stored frames alone, then for each number of streams B
the raw streams (read, decode, pad, batch) and the full pipeline (+ Lab and a 324-bin grid
encoding). `data.write_synthetic_collection` writes a small collection of synthetic clips for
a run without one.
"""

from __future__ import annotations

import dataclasses
import os
import statistics

from tfcolor.benchmarks.timing import Epochs, frames_per_second

__all__ = ["decode_only", "run_video_pipeline_benchmark"]


def decode_only(source: str, batch: int = 64):
    """(dataset, frames in an element) decoding every stored frame, without the streams.

    tfrecord: all chunk files read in parallel, each frame decoded on its own as the loader
    decodes it (the most parallel decoding there is). video: the files decoded one after
    another with PyAV, `batch` frames per element.
    """
    import numpy as np
    import tensorflow as tf

    from tfcolor.input_pipeline import records, videos

    spec = videos.parse_video_source(source)
    if spec.kind == "tfrecord":
        files = [os.path.join(spec.path, entry.file) for entry in records.read_manifest(spec.path)]
        frames = (
            tf.data.TFRecordDataset(files, num_parallel_reads=tf.data.AUTOTUNE)
            .map(lambda record: records.parse_chunk(record)["frames"])
            .unbatch()
            .map(videos.decode_frame, num_parallel_calls=tf.data.AUTOTUNE)
            .map(lambda frame: tf.shape(frame)[0])
            .batch(batch)
            .map(tf.size)
        )
    else:
        from tfcolor.media import video_io

        if "://" in spec.path:
            relatives = video_io.list_video_files(spec.path)
        else:  # a local folder: FIFOs and devices never opened, symlink loops skipped
            from tfcolor.input_pipeline.files import walk_files

            relatives, _ = walk_files(spec.path, video_io.VIDEO_EXTENSIONS)
        paths = [os.path.join(spec.path, rel) for rel in relatives]

        def decoded():
            for path in paths:
                pending = []
                try:
                    for frame in video_io.iter_frames(path):
                        pending.append(frame)
                        if len(pending) == batch:
                            yield np.stack(pending)
                            pending = []
                except video_io.VideoError:
                    pass
                if pending:
                    yield np.stack(pending)

        frames = tf.data.Dataset.from_generator(
            decoded, output_signature=tf.TensorSpec([None, None, None, 3], tf.uint8)
        ).map(lambda stack: tf.shape(stack)[0])
    return frames.prefetch(tf.data.AUTOTUNE), int


def run_video_pipeline_benchmark(
    source: str,
    streams: tuple[int, ...] = (1, 8),
    chunk_frames: int = 8,
    steps: int = 30,
    rounds: int = 3,
    multiple: int = 8,
) -> dict:
    """Frames/s of decoding alone and of the video loader with B streams, on one source.

    Each dataset is built once, iterated epoch after epoch as Keras does, warmed up (tf.data
    autotuning, XLA) and timed `rounds` times for `steps` batches; the median is kept. One
    dataset runs at a time. Frames are the real frames delivered (mask 1): blank rows and
    padded frames do not count.

    Returns:
        {"decode": frames/s, "streams": {B: frames/s}, "pipeline": {B: frames/s}, "repeated":
        {B: frames/s of the pipeline repeated, one iterator for all epochs}, "videos",
        "frames", "steps": {B: steps per epoch}, "canvas": (height, width)}.
    """
    import tensorflow as tf

    from tfcolor import codecs
    from tfcolor.config import CodecConfig, DataConfig
    from tfcolor.input_pipeline import video_streams, videos

    data = DataConfig(source=source, validation_source=source, chunk_frames=chunk_frames)
    codec = codecs.make_codec(CodecConfig(name="grid", n_bins=324))
    counts = videos.video_frame_counts(data, "train")

    def real_frames(mask):
        return float(tf.reduce_sum(mask))

    decode, decode_count = decode_only(source)
    variants = {("decode", None): (decode, decode_count)}
    for b in streams:
        data_b = dataclasses.replace(data, batch_size=b)
        raw = video_streams.make_video_streams(data_b, "train", multiple=multiple)
        full = video_streams.make_video_dataset(data_b, codec, "train", multiple=multiple)
        variants[("streams", b)] = (raw, lambda batch: real_frames(batch["mask"]))
        variants[("pipeline", b)] = (full, lambda batch: real_frames(batch[2]))
        # One iterator over all epochs (fit with steps_per_epoch = count_steps): each pass
        # still plays a new plan, without restarting the streams at every epoch.
        variants[("repeated", b)] = (full.repeat(), lambda batch: real_frames(batch[2]))
    rates = {}
    for key, (dataset, count) in variants.items():
        # One variant at a time: an idle iterator's prefetching would compete for the CPU.
        epochs = Epochs(dataset)
        frames_per_second(epochs, min(steps, 5), count)
        rates[key] = [frames_per_second(epochs, steps, count) for _ in range(rounds)]
        del epochs
    result = {"decode": statistics.median(rates[("decode", None)])}
    result.update(streams={}, pipeline={}, repeated={})
    for (kind, b), values in rates.items():
        if b is not None:
            result[kind][b] = statistics.median(values)
    frames_spec = raw.element_spec["frames"]
    result.update(
        videos=len(counts),
        frames=sum(counts.values()),
        steps={b: video_streams.count_steps(data, "train", streams=b) for b in streams},
        canvas=tuple(frames_spec.shape[2:4]),
    )
    return result
