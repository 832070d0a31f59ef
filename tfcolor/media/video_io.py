"""Video decoding and encoding (PyAV).

Videos are read as streams of uint8 RGB frames [H, W, 3] (never the whole video in memory);
fitting them to a model's canvas and back is `tfcolor.media.geometry`'s.

`VideoWriter` encodes H.264 at the source's exact frame rate and can copy the source's audio
into the result unchanged (remuxed, not re-encoded).

Every way a video can fail to be read is a `VideoError` that names the file and the reason.
"""

from __future__ import annotations

import dataclasses
import fractions
import itertools
import math
import os
from collections.abc import Iterator

import av
import numpy as np
import tensorflow as tf

__all__ = [
    "VIDEO_EXTENSIONS",
    "VideoError",
    "VideoInfo",
    "VideoWriter",
    "is_video_file",
    "iter_frames",
    "list_video_files",
    "probe",
    "read_video",
]

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


class VideoError(ValueError):
    """A video that cannot be read; `str()` is "PATH: reason".

    Attributes:
        path: the file.
        reason: what went wrong, e.g. "cannot be opened (Invalid data found when processing
            input)", "has no video stream", "cannot be decoded at frame 12 (...)",
            "has no frames".
    """

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason

    def __reduce__(self):
        # Picklable with both fields (Beam ships exceptions between processes).
        return (type(self), (self.path, self.reason))


def is_video_file(path: str) -> bool:
    """Whether `path` has a video extension (`VIDEO_EXTENSIONS`, in any case)."""
    return path.lower().endswith(VIDEO_EXTENSIONS)


def list_video_files(root: str) -> list[str]:
    """Video files under `root`, recursively, as sorted '/'-separated relative paths.

    `root` may be any filesystem `tf.io.gfile` reads (a local folder, gs://...). A folder
    without videos gives an empty list.

    Raises:
        ValueError: `root` is not a folder.
    """
    if not tf.io.gfile.isdir(root):
        raise ValueError(f"video folder {root!r} does not exist or is not a folder")
    found = []
    for directory, _, filenames in tf.io.gfile.walk(root):
        for filename in filenames:
            if is_video_file(filename):
                relative = os.path.relpath(os.path.join(directory, filename), root)
                found.append(relative.replace(os.sep, "/"))
    return sorted(found)


# === Reading ===


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What a video's container says about it.

    Attributes:
        path: the file.
        width, height: the decoded frame size.
        fps: the frame rate, exact (NTSC rates are 30000/1001, not 29.97); None if the
            container states none.
        frames: the frame count the container states, None where it states none (some
            formats do not count; the decoded count may differ, see `iter_frames`).
        has_audio: whether it holds an audio stream.
        duration: seconds, None if unknown.
    """

    path: str
    width: int
    height: int
    fps: fractions.Fraction | None
    frames: int | None
    has_audio: bool
    duration: float | None


def _ffmpeg_reason(error: Exception) -> str:
    """FFmpeg's own words ("Invalid data found when processing input"), without the path."""
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


def _open(path: str) -> av.container.InputContainer:
    """Opens a video for reading; paths with a scheme (gs://, ...) go through tf.io.gfile."""
    try:
        if "://" in path:
            return av.open(tf.io.gfile.GFile(path, "rb"), "r")
        return av.open(path, "r")
    except (av.FFmpegError, OSError, tf.errors.OpError) as error:
        raise VideoError(path, f"cannot be opened ({_ffmpeg_reason(error)})") from None


def _video_stream(container: av.container.InputContainer, path: str) -> av.VideoStream:
    if not container.streams.video:
        raise VideoError(path, "has no video stream")
    return container.streams.video[0]


def _info(path: str, container: av.container.InputContainer, stream: av.VideoStream) -> VideoInfo:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / av.time_base
    else:
        duration = None
    return VideoInfo(
        path=path,
        width=stream.codec_context.width,
        height=stream.codec_context.height,
        fps=fractions.Fraction(rate) if rate else None,
        frames=stream.frames or None,
        has_audio=bool(container.streams.audio),
        duration=duration,
    )


def probe(path: str) -> VideoInfo:
    """The size, frame rate, frame count, audio and duration of a video, without decoding it.

    Raises:
        VideoError: it cannot be opened, or has no video stream.
    """
    with _open(path) as container:
        return _info(path, container, _video_stream(container, path))


def _decode(
    path: str, container: av.container.InputContainer, stream: av.VideoStream
) -> Iterator[np.ndarray]:
    # Frame and slice threads: about 2x faster on 2 cores for H.264.
    stream.thread_type = "AUTO"
    index = 0
    frames = container.decode(stream)
    while True:
        try:
            frame = next(frames, None)
            if frame is None:
                break
            # threads=0: swscale on every core; measured 2.5 -> 0.5-1 ms a 1280x720 frame.
            rgb = frame.to_ndarray(format="rgb24", threads=0)
        except (av.FFmpegError, OSError) as error:
            raise VideoError(
                path, f"cannot be decoded at frame {index} ({_ffmpeg_reason(error)})"
            ) from None
        yield rgb
        index += 1
    if index == 0:
        raise VideoError(path, "has no frames")
    # FFmpeg ends a truncated file's stream quietly, at its last whole packet. Files with a
    # sample index (mp4, mov) tell: their index points past the end of the file.
    entries = stream.index_entries
    if container.size > 0 and len(entries) > 0:
        end = max(entry.pos + entry.size for entry in entries)
        if end > container.size:
            listed = stream.frames or len(entries)
            raise VideoError(
                path,
                f"is truncated: cannot be decoded at frame {index} (its index lists {listed} "
                f"frames, up to byte {end}; the file has {container.size} bytes)",
            )


def iter_frames(path: str) -> Iterator[np.ndarray]:
    """The frames of a video in display order, decoded one at a time.

    Only a few frames (the decoder's reorder and thread buffers) are in memory at once. The
    file is closed when the iterator is exhausted or dropped.

    Yields:
        uint8 RGB frames, shape [H, W, 3].

    Raises:
        VideoError: it cannot be opened, has no video stream, has no frames, or a packet
            cannot be decoded (the error names the index of the frame that failed; the frames
            before it have been yielded). FFmpeg conceals many damaged packets rather than
            failing: a truncated file usually just ends early.
    """
    with _open(path) as container:
        yield from _decode(path, container, _video_stream(container, path))


def read_video(path: str, max_frames: int | None = None) -> tuple[np.ndarray, VideoInfo]:
    """A whole video (or its first `max_frames` frames) in memory.

    Returns:
        (frames, info): uint8 RGB frames [T, H, W, 3] and what the container says.

    Raises:
        ValueError: max_frames < 1.
        VideoError: as `iter_frames`.
    """
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be None or >= 1. Received: max_frames={max_frames}")
    with _open(path) as container:
        stream = _video_stream(container, path)
        info = _info(path, container, stream)
        frames = list(itertools.islice(_decode(path, container, stream), max_frames))
    return np.stack(frames), info


# === Writing ===


def _round_half_up(value) -> int:
    return int(math.floor(value + 0.5))


def _as_fraction(fps: int | float | fractions.Fraction) -> fractions.Fraction:
    # A float rate is the nearest of its small-denominator fractions (29.97002997 -> 30000/1001).
    rate = fractions.Fraction(fps).limit_denominator(1_000_000)
    if rate <= 0:
        raise ValueError(f"fps must be positive. Received: fps={fps}")
    return rate


class VideoWriter:
    """Writes uint8 RGB frames as an H.264 video at an exact frame rate, optionally with the
    audio of another file copied in unchanged.

        with VideoWriter("out.mp4", info.fps, info.width, info.height, audio_from=src) as w:
            for frame in frames:
                w.write(frame)

    The pixel format is yuv420p (what every player decodes) for even sizes. libx264 refuses
    yuv420p for odd widths or heights (4:2:0 chroma covers 2x2 pixels), so odd sizes are
    written as yuv444p (H.264 High 4:4:4 profile) at exactly the source's size: the file
    reports the same width and height, but some hardware players do not play that profile.

    Audio packets from `audio_from` are copied as they are (no re-encoding, no quality loss),
    interleaved with the video as it is written, keeping their timing relative to the source's
    first video frame; audio past the end of the written video is dropped.

    Args:
        path: the output file (local; the container format follows the extension).
        fps: the frame rate, kept exactly (a Fraction such as 30000/1001; an int or float is
            turned into the nearest small fraction).
        width, height: the frame size.
        audio_from: a media file whose first audio stream is copied; None or a file without
            audio writes no audio.
        crf: libx264's constant rate factor: 0 lossless, 18 about visually lossless (x264's
            guide), 23 its default; lower is larger.
        preset: libx264's speed / size trade-off ("ultrafast" ... "veryslow").
    """

    def __init__(
        self,
        path: str,
        fps: int | float | fractions.Fraction,
        width: int,
        height: int,
        audio_from: str | None = None,
        crf: int = 18,
        preset: str = "medium",
    ):
        if width < 1 or height < 1:
            raise ValueError(f"sizes must be positive. Received: width={width}, height={height}")
        self.path = path
        self.width = width
        self.height = height
        self.fps = _as_fraction(fps)
        self.frames_written = 0
        self._time_base = 1 / self.fps
        self._audio_in = None
        self._audio_packets = None
        self._pending_audio = None
        self._audio_shift = 0
        self._closed = False

        self._container = av.open(path, "w")
        try:
            stream = self._container.add_stream("libx264", rate=self.fps)
            stream.width, stream.height = width, height
            stream.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
            stream.codec_context.time_base = self._time_base
            stream.options = {"crf": str(crf), "preset": preset}
            self._video = stream
            if audio_from is not None:
                self._open_audio(audio_from)
        except BaseException:
            self._container.close()
            raise

    def _open_audio(self, audio_from: str) -> None:
        source = _open(audio_from)
        if not source.streams.audio:
            source.close()
            return
        audio = source.streams.audio[0]
        self._audio_in = source
        self._audio_out = self._container.add_stream_from_template(audio)
        # Keep the audio's offset from the source's first video frame (our frame 0).
        if source.streams.video and source.streams.video[0].start_time is not None:
            video = source.streams.video[0]
            start = video.start_time * video.time_base
            self._audio_shift = _round_half_up(start / audio.time_base)
        self._audio_packets = source.demux(audio)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def write(self, frames: np.ndarray | tf.Tensor) -> None:
        """Appends one frame [H, W, 3] or several [T, H, W, 3], uint8 RGB."""
        if self._closed:
            raise ValueError(f"{self.path}: write after close")
        frames = np.asarray(frames)
        if frames.ndim == 3:
            frames = frames[None]
        if frames.dtype != np.uint8 or frames.shape[1:] != (self.height, self.width, 3):
            raise ValueError(
                f"frames must be uint8 [{self.height}, {self.width}, 3] or "
                f"[T, {self.height}, {self.width}, 3]. "
                f"Received: shape={frames.shape}, dtype={frames.dtype}"
            )
        for rgb in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts = self.frames_written
            frame.time_base = self._time_base
            self._container.mux(self._video.encode(frame))
            self.frames_written += 1
        self._copy_audio(until=self.frames_written * self._time_base)

    def _copy_audio(self, until: fractions.Fraction) -> None:
        """Muxes the source's audio packets that start before `until` (seconds)."""
        if self._audio_packets is None:
            return
        while True:
            packet = self._pending_audio or next(self._audio_packets, None)
            self._pending_audio = None
            if packet is None:
                self._audio_packets = None
                return
            if packet.dts is None:  # the demuxer's empty flush packet
                continue
            pts = (packet.pts if packet.pts is not None else packet.dts) - self._audio_shift
            if pts * packet.time_base >= until:
                self._pending_audio = packet  # looked at again on the next call
                return
            if pts + (packet.duration or 0) < 0:
                # Wholly before the first video frame. (A packet ending at 0 is kept: AAC's
                # priming packet, which the source also starts with at a negative time.)
                continue
            packet.pts = pts
            packet.dts -= self._audio_shift
            packet.stream = self._audio_out
            self._container.mux(packet)

    def close(self) -> None:
        """Flushes the encoder, copies the audio up to the video's end and closes the file."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.frames_written == 0:
                # PyAV writes the header with the first packet: without one there would be no
                # file at all. A video with no frames is still a video file.
                self._container.start_encoding()
            self._container.mux(self._video.encode(None))
            self._copy_audio(until=self.frames_written * self._time_base)
        finally:
            self._container.close()
            if self._audio_in is not None:
                self._audio_in.close()
