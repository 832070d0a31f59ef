"""The frame canvas: how a video frame of any size is fitted to the model's canvas and back.

A recurrent video model is trained on frames scaled to fit a fixed `frame_size` keeping their
aspect ratio, centred and padded with zeros to a canvas whose sides are multiples of what the
model's down-sampling needs (the video report scaled and padded every video to 240x135 with
ffmpeg; its U-Net needs sides divisible by 8: 240x136):

```
placement(720, 1280, frame_size=(240, 135), multiple=8)
    -> 240x135 content at top 0, left 0 of a 240x136 canvas
scale_and_pad(frames, place)   [T, 720, 1280, 3] -> [T, 136, 240, 3]
restore(colorized, place)      [T, 136, 240, 3]  -> [T, 720, 1280, 3]
```

The placement is one formula (`_fit`), evaluated with numpy where the sizes are known in
Python (`placement`, `canvas_size`: the preprocessing, the loader, the trainer's state) and
with TF ops where they are only known in a graph (`frame_placement`: the export's
signatures, which take frames of any size); both give the same integers (tested). The
resampling (`to_canvas`, `from_canvas`, and their uint8 forms `scale_and_pad`, `restore`)
takes either kind of placement.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tfcolor.config import DEFAULT_FRAME_SIZE

__all__ = [
    "Placement",
    "canvas_size",
    "crop_padding",
    "frame_placement",
    "from_canvas",
    "placement",
    "restore",
    "round_up",
    "scale_and_pad",
    "to_canvas",
]


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where a source frame goes in the canvas.

    The source (source_height x source_width) is scaled to content_height x content_width and
    placed at (top, left) of a height x width canvas; the rest of the canvas is zero. The
    fields are Python ints (`placement`) or int32 scalar tensors (`frame_placement`).
    """

    source_height: int
    source_width: int
    content_height: int
    content_width: int
    top: int
    left: int
    height: int
    width: int

    @property
    def content(self) -> tuple[int, int, int, int]:
        """(top, left, height, width) of the picture inside the canvas."""
        return (self.top, self.left, self.content_height, self.content_width)


def _tf_where(condition, x, y):
    # Python numbers (infinity, 1.0) become float64 like the tensors they stand beside.
    return tf.where(
        condition, tf.convert_to_tensor(x, tf.float64), tf.convert_to_tensor(y, tf.float64)
    )


# The few array functions `_fit` needs, from TensorFlow; numpy's have the same names.
_TF_OPS = types.SimpleNamespace(
    where=_tf_where,
    minimum=tf.minimum,
    maximum=tf.maximum,
    floor=tf.math.floor,
    ceil=tf.math.ceil,
    isinf=tf.math.is_inf,
)


def _canvas_side(box, content, multiple, xp):
    """A canvas side: the box's side (or, where the box leaves it free, the content's) rounded
    up to `multiple`. float64 values; xp is numpy or `_TF_OPS`."""
    return xp.ceil(xp.where(box > 0, box, content) / multiple) * multiple


def _fit(height, width, box_width, box_height, multiple, xp):
    """The placement's formula, once: float64 (content_height, content_width, top, left,
    canvas_height, canvas_width) of a height x width frame in the box, with xp numpy or
    `_TF_OPS` (the same IEEE float64 operations in either, so the same integers).

    The frame is scaled to fit inside the box keeping its aspect ratio (sides rounded half up,
    at least 1, at most the box's); a side of 0 leaves that side free, (0, 0) keeps the frame's
    size. The canvas is the box rounded up to `multiple`; the content is centred in it (an odd
    margin puts the extra row or column at the bottom or right)."""
    infinity = float("inf")
    scale = xp.minimum(
        xp.where(box_width > 0, box_width / width, infinity),
        xp.where(box_height > 0, box_height / height, infinity),
    )
    scale = xp.where(xp.isinf(scale), 1.0, scale)
    content_height = xp.maximum(xp.floor(height * scale + 0.5), 1.0)
    content_width = xp.maximum(xp.floor(width * scale + 0.5), 1.0)
    content_height = xp.where(
        box_height > 0, xp.minimum(content_height, box_height), content_height
    )
    content_width = xp.where(box_width > 0, xp.minimum(content_width, box_width), content_width)
    canvas_height = _canvas_side(box_height, content_height, multiple, xp)
    canvas_width = _canvas_side(box_width, content_width, multiple, xp)
    top = xp.floor((canvas_height - content_height) / 2.0)
    left = xp.floor((canvas_width - content_width) / 2.0)
    return content_height, content_width, top, left, canvas_height, canvas_width


def _box(frame_size) -> tuple[int, int]:
    """(width, height) of the box; None is (0, 0)."""
    box_width, box_height = (0, 0) if frame_size is None else (int(v) for v in frame_size)
    if box_width < 0 or box_height < 0:
        raise ValueError(f"frame_size sides must be >= 0. Received: frame_size={frame_size}")
    return box_width, box_height


def _check_multiple(multiple: int) -> None:
    if int(multiple) < 1:
        raise ValueError(f"multiple must be >= 1. Received: multiple={multiple}")


def placement(
    source_height: int,
    source_width: int,
    frame_size: Sequence[int] | None = DEFAULT_FRAME_SIZE,
    multiple: int = 1,
) -> Placement:
    """Scales a source to fit inside `frame_size` keeping its aspect ratio, centred.

    Args:
        source_height, source_width: the source's frame size.
        frame_size: (width, height) of the box to fit in (the video report's 240x135), as
            ffmpeg writes sizes. None or (0, 0) keeps the source's size; one side 0 leaves that
            side free (240x0: 240 wide, the height that keeps the aspect ratio). Sources are
            scaled up as well as down.
        multiple: the canvas's sides are the box's rounded UP to a multiple of this (what the
            model's down-sampling needs: 8 for three 2x poolings, so 240x135 -> 240x136).

    Returns:
        The placement, Python ints: content size rounded to whole pixels (the aspect ratio is
        kept to within a pixel), centred in the canvas (an odd margin puts the extra row or
        column at the bottom or right).

    Raises:
        ValueError: a size is not positive, or multiple < 1.
    """
    if source_height < 1 or source_width < 1:
        raise ValueError(
            f"source sizes must be positive. Received: source_height={source_height}, "
            f"source_width={source_width}"
        )
    _check_multiple(multiple)
    box_width, box_height = _box(frame_size)
    values = _fit(
        np.float64(source_height),
        np.float64(source_width),
        np.float64(box_width),
        np.float64(box_height),
        np.float64(multiple),
        np,
    )
    content_height, content_width, top, left, height, width = (int(v) for v in values)
    return Placement(
        source_height=int(source_height),
        source_width=int(source_width),
        content_height=content_height,
        content_width=content_width,
        top=top,
        left=left,
        height=height,
        width=width,
    )


def frame_placement(height, width, frame_size, multiple: int) -> Placement:
    """`placement` in TF ops, for frames whose size is known only in the graph.

    Args:
        height, width: the frame's size, integer scalar tensors (or ints); 0 for an empty
            batch's frames gives a canvas all the same.
        frame_size: (width, height) of the box, as `placement`.
        multiple: the canvas multiple.

    Returns:
        A `Placement` of int32 scalar tensors, the same numbers as `placement`'s.
    """
    box_width, box_height = _box(frame_size)
    as_float = [
        tf.cast(value, tf.float64) for value in (height, width, box_width, box_height, multiple)
    ]
    values = _fit(*as_float, _TF_OPS)
    content_height, content_width, top, left, canvas_height, canvas_width = (
        tf.cast(value, tf.int32) for value in values
    )
    return Placement(
        source_height=tf.cast(height, tf.int32),
        source_width=tf.cast(width, tf.int32),
        content_height=content_height,
        content_width=content_width,
        top=top,
        left=left,
        height=canvas_height,
        width=canvas_width,
    )


def canvas_size(
    frame_size: Sequence[int] | None, multiple: int, content_height: int = 0, content_width: int = 0
) -> tuple[int, int]:
    """(height, width) of the canvas of `frame_size` (width, height): each side rounded up to
    `multiple`; a side that frame_size leaves free (0) is the content's side rounded up (0
    where that is not given). The canvas of every `placement` into this frame_size."""
    _check_multiple(multiple)
    box_width, box_height = _box(frame_size)
    return tuple(
        int(_canvas_side(np.float64(box), np.float64(content), np.float64(multiple), np))
        for box, content in ((box_height, content_height), (box_width, content_width))
    )


def round_up(value: int, multiple: int) -> int:
    """`value` rounded up to a multiple of `multiple` (a canvas side)."""
    return -(-int(value) // int(multiple)) * int(multiple)


# --- resampling ------------------------------------------------------------------------------


def _same_size(place: Placement) -> bool:
    """Whether the placement is known (Python ints) to keep the source's size."""
    sizes = (place.content_height, place.content_width, place.source_height, place.source_width)
    return all(isinstance(side, (int, np.integer)) for side in sizes) and (
        place.content_height,
        place.content_width,
    ) == (place.source_height, place.source_width)


def _resize(images: tf.Tensor, height, width, antialias: bool) -> tf.Tensor:
    """Bilinear resize; uint8 in, uint8 out (rounded), float in, float32 out."""
    resized = tf.image.resize(
        images, tf.stack([height, width]), method="bilinear", antialias=antialias
    )
    if images.dtype == tf.uint8:
        return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)
    return resized


def to_canvas(images: np.ndarray | tf.Tensor, place: Placement) -> tf.Tensor:
    """Images [..., source_height, source_width, C] -> the canvas [..., height, width, C]:
    scaled into the content box (bilinear, antialiased: shrinking does not alias), zero
    elsewhere. uint8 stays uint8 (rounded); float gives float32."""
    images = tf.convert_to_tensor(images)
    if not _same_size(place):
        images = _resize(images, place.content_height, place.content_width, antialias=True)
    return tf.image.pad_to_bounding_box(images, place.top, place.left, place.height, place.width)


def crop_padding(frames: np.ndarray | tf.Tensor, place: Placement) -> tf.Tensor:
    """The content box of canvas frames [..., height, width, C] -> [..., content_h, content_w, C].

    Any dtype and channel count (colorized float RGB, L, ab)."""
    frames = tf.convert_to_tensor(frames)
    return frames[
        ...,
        place.top : place.top + place.content_height,
        place.left : place.left + place.content_width,
        :,
    ]


def from_canvas(
    images: np.ndarray | tf.Tensor, place: Placement, antialias: bool = True
) -> tf.Tensor:
    """The inverse of `to_canvas`: canvas images [..., height, width, C] -> their content box
    resized back to the source's size (bilinear), [..., source_height, source_width, C].
    uint8 stays uint8 (rounded); float gives float32."""
    content = crop_padding(images, place)
    if _same_size(place):
        return content
    return _resize(content, place.source_height, place.source_width, antialias=antialias)


def _check_frames(frames: tf.Tensor, height: int, width: int, what: str) -> None:
    shape = frames.shape
    if frames.dtype != tf.uint8:
        raise ValueError(f"{what} must be uint8. Received: dtype={frames.dtype.name}")
    if shape.rank is not None and shape.rank not in (3, 4):
        raise ValueError(f"{what} must be [H, W, 3] or [T, H, W, 3]. Received: shape={shape}")
    expected = [height, width, 3]
    if shape.rank is not None and any(
        got is not None and got != want for got, want in zip(shape[-3:], expected, strict=True)
    ):
        raise ValueError(f"{what} must be [..., {height}, {width}, 3]. Received: shape={shape}")


def scale_and_pad(frames: np.ndarray | tf.Tensor, place: Placement) -> tf.Tensor:
    """uint8 RGB source frames -> the canvas (`to_canvas`), their size checked.

    Args:
        frames: uint8 RGB, shape [source_height, source_width, 3] or [T, ..., 3].
        place: from `placement`.

    Returns:
        uint8 RGB, shape [..., place.height, place.width, 3].

    Raises:
        ValueError: frames of another dtype, rank or size.
    """
    frames = tf.convert_to_tensor(frames)
    _check_frames(frames, place.source_height, place.source_width, "frames")
    return to_canvas(frames, place)


def restore(frames: np.ndarray | tf.Tensor, place: Placement) -> tf.Tensor:
    """The inverse of `scale_and_pad`: uint8 RGB canvas frames back to the source's size
    (`from_canvas`), their size checked.

    Args:
        frames: uint8 RGB canvas frames, shape [..., place.height, place.width, 3].

    Returns:
        uint8 RGB, shape [..., source_height, source_width, 3].

    Raises:
        ValueError: frames of another dtype, rank or size.
    """
    frames = tf.convert_to_tensor(frames)
    _check_frames(frames, place.height, place.width, "canvas frames")
    return from_canvas(frames, place)
