"""Inference: input images or frames -> the network -> decoded ab -> colorized RGB, in TF ops.

The recipe of the Zhang and DeOldify tools: the model sees the input's lightness resized to its
render size, its ab is upsampled back to the input's full resolution and recombined with the
input's own full-resolution lightness, and a colour outside sRGB is rendered as the codec's
`CodecConfig.gamut` says (`chroma` by default: lower chroma at constant L and hue, so the
output keeps the input's lightness; `tfcolor.color.lab_to_rgb`). `Colorizer.predict`, the
TensorBoard panels, video colorization and the SavedModel signatures all call these
functions, so they cannot drift apart:

```
colorize_batch   images [N, H, W, C] -> L -> render size (square, or own size within a budget)
                 [+ user hints placed at the render size: `hint_maps`]
                 -> model -> codec.decode -> ab upsampled to H x W -> RGB uint8
colorize_chunk   frames [B, T, H, W, C] + recurrent state -> L -> the training canvas
                 (`tfcolor.media.geometry`) -> network -> codec.decode -> ab back to H x W
                 -> RGB uint8, and the new state
```
"""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf

from tfcolor import color
from tfcolor.input_pipeline import transforms
from tfcolor.media import geometry
from tfcolor.models.convlstm import fold_time, unfold_time

__all__ = [
    "Hints",
    "colorize_batch",
    "colorize_chunk",
    "hint_maps",
    "render_shape",
    "zero_video_state",
]


class Hints(NamedTuple):
    """User hints for a network that takes them (Zhang et al. 2017's), K per image.

    Attributes:
        points: float32 [N, K, 2], (x, y): the column and row of the hinted pixel of the
            input image (0-based, x from the left edge, y from the top); a point with a
            negative coordinate is padding (no hint), so images may have fewer than K.
        ab: float32 [N, K, 2], the hinted colour's a and b (Lab units).
        patch_size: int32 scalar, the side of the square each hint covers at the network's
            input (its render size), centred on the point's pixel there.
    """

    points: tf.Tensor
    ab: tf.Tensor
    patch_size: tf.Tensor


def _round_to_multiple(size, multiple: int):
    """Rounds to the nearest positive multiple of the model's down-sampling factor."""
    size = tf.cast(size, tf.int32)
    rounded = (size + multiple // 2) // multiple * multiple
    return tf.maximum(rounded, multiple)


def render_shape(render_size, image_shape, multiple: int, max_area=None):
    """[height, width] (int32) at which the model runs for images of `image_shape` [H, W].

    A square of render_size, or (render_size 0) the image's own size, scaled down (aspect kept)
    to at most `max_area` pixels when given; each side rounded to a multiple of the model's
    down-sampling.
    """
    render_size = tf.cast(render_size, tf.int32)
    square = tf.stack([render_size, render_size])
    own = tf.cast(image_shape, tf.int32)
    if max_area is not None:
        sides = tf.cast(own, tf.float64)
        area = tf.maximum(sides[0] * sides[1], 1.0)
        scale = tf.minimum(
            tf.constant(1.0, tf.float64), tf.sqrt(tf.cast(max_area, tf.float64) / area)
        )
        own = tf.where(
            scale < 1.0, tf.cast(tf.maximum(tf.floor(sides * scale), 1.0), tf.int32), own
        )
    shape = tf.where(render_size > 0, square, own)
    return _round_to_multiple(shape, multiple)


def _lightness(images):
    """uint8 or uint16 images [..., H, W, C], C in 1..4 -> L / 100 in [0, 1], [..., H, W, 1]."""
    lightness, _ = color.lightness_and_ab(transforms.to_rgb(images))
    return lightness


def _recombine(lightness, ab, codec, gamut):
    """The input's own lightness [..., H, W, 1] with predicted ab [..., H, W, 2] -> uint8 RGB,
    out-of-gamut colours brought in by `gamut` (None: the codec's `CodecConfig.gamut`)."""
    gamut = codec.config.gamut if gamut is None else gamut
    # Only the colours outside are searched: nothing here runs under XLA (see
    # `color.map_chroma_into_gamut`).
    colorized = color.lab_from_parts(lightness, ab, gamut, only_outside=True)
    return tf.image.convert_image_dtype(colorized, tf.uint8, saturate=True)


def hint_maps(hints: Hints, image_shape, shape):
    """The network's hint inputs at render shape `shape` [h, w] for images of `image_shape`
    [H, W]: ab [N, h, w, 2] (Lab units) and mask [N, h, w, 1], as the SIGGRAPH 2017 paper
    gives user points: the hint's ab over a small patch, the mask 1 there, both 0 elsewhere
    (the converted reference's convention, whose automatic mode is all zeros; the authors'
    training code centred the mask by 0.5, which differs from this by a constant bias of the
    first convolution away from the image's border).

    Each hint covers a patch of `patch_size` x `patch_size` render pixels around the render
    pixel holding the centre of its input pixel (sides odd: centred; even: one more after);
    where patches overlap, ab is their mean. Computed as per-hint row and column indicators
    and one contraction over the hints, so the cost is K x (h + w) memory, whatever the
    patches' size.
    """
    points = tf.cast(hints.points, tf.float32)
    image_shape = tf.cast(image_shape, tf.float32)
    height, width = shape[0], shape[1]
    scale = tf.cast(shape, tf.float32) / image_shape  # render pixels per input pixel, (y, x)
    valid = tf.cast(tf.reduce_all(points >= 0.0, axis=-1), tf.float32)  # [N, K]
    centre = tf.floor((tf.reverse(points, [-1]) + 0.5) * scale)  # the render pixel, (y, x)
    patch = tf.cast(hints.patch_size, tf.float32)
    start = centre - tf.floor((patch - 1.0) / 2.0)

    def cover(axis, side):
        """[N, K, side]: 1 where the hint's patch covers that row (axis 0) or column (1)."""
        index = tf.range(tf.cast(side, tf.float32))
        first = start[..., axis : axis + 1]
        inside = tf.logical_and(index >= first, index < first + patch)
        return tf.cast(inside, tf.float32) * valid[..., tf.newaxis]

    rows, columns = cover(0, height), cover(1, width)
    count = tf.einsum("nkh,nkw->nhw", rows, columns)[..., tf.newaxis]
    ab_columns = columns[..., tf.newaxis] * tf.cast(hints.ab, tf.float32)[:, :, tf.newaxis, :]
    ab_sum = tf.einsum("nkh,nkwc->nhwc", rows, ab_columns)
    mask = tf.cast(count > 0.0, tf.float32)
    return ab_sum / tf.maximum(count, 1.0), mask


def colorize_batch(
    model,
    codec,
    images,
    render_size,
    multiple: int = 1,
    temperature=None,
    with_classes=False,
    max_render_pixels=None,
    gamut: str | None = None,
    hints: Hints | None = None,
):
    """Colorizes a batch of same-sized images.

    Args:
        model: a Keras model from normalized lightness [B, h, w, 1] to codec outputs (or to
            `{"colors", "class_logits"}` with a classification head).
        codec: the model's codec (decodes its outputs to ab).
        images: uint8 or uint16 [N, H, W, C], C in 1..4 (gray, gray+alpha, RGB, RGBA).
        render_size: the square side (scalar int) at which ab is predicted; 0 predicts at the
            images' own size (for models whose global path has a fixed size, as Iizuka's).
        multiple: the model's down-sampling factor; the render sides are rounded to
            multiples of it.
        temperature: decoding temperature; None uses the codec's.
        with_classes: also return the class probabilities of a classification head.
        max_render_pixels: with render_size 0, an image larger than this is rendered scaled
            down (aspect kept) to at most this many pixels (the export's render budget per
            image); None renders each at its own size.
        gamut: `chroma` or `clip` (`tfcolor.color.lab_to_rgb`); None uses the codec's.
        hints: user hints (`Hints`, K per image) for a `model` that takes them (the
            `hint_network()` of `ZhangSIGGRAPH17`: lightness, ab hints and their mask),
            placed at the render size by `hint_maps`.

    Returns:
        uint8 RGB [N, H, W, 3]: the input's own lightness with the predicted colours (ab
        upsampled bilinearly from the model's output); with `with_classes`, a pair of it and
        float32 class probabilities [N, classes] (None for a model without a head).
    """
    lightness = _lightness(images)
    shape = render_shape(render_size, tf.shape(images)[1:3], multiple, max_render_pixels)
    small = tf.clip_by_value(tf.image.resize(lightness, shape, antialias=True), 0.0, 1.0)
    if hints is not None:
        ab_hints, hint_mask = hint_maps(hints, tf.shape(images)[1:3], shape)
        small = {"lightness": small, "ab_hints": ab_hints, "hint_mask": hint_mask}
    outputs = model(small, training=False)
    class_probabilities = None
    if isinstance(outputs, dict):
        class_probabilities = tf.nn.softmax(tf.cast(outputs["class_logits"], tf.float32))
        outputs = outputs["colors"]
    ab_small = codec.decode(tf.cast(outputs, tf.float32), temperature=temperature)
    ab = tf.image.resize(ab_small, tf.shape(images)[1:3], method="bilinear")
    colorized = _recombine(lightness, ab, codec, gamut)
    return (colorized, class_probabilities) if with_classes else colorized


def colorize_chunk(
    network,
    codec,
    frames,
    state,
    frame_size,
    multiple: int,
    temperature=None,
    gamut: str | None = None,
):
    """Colorizes one chunk of B videos with a recurrent network, carrying its state.

    Each frame is scaled and padded into the network's canvas (`geometry.frame_placement`,
    `geometry.to_canvas`), as the training frames were; the decoded ab is upsampled to the
    canvas, cropped back to the picture and resized to the frame's full resolution
    (`geometry.from_canvas`), and recombined with the frame's own lightness.

    Args:
        network: a `VideoUNet` ({frames, state_h, state_c} -> {colors, state_h, state_c}).
        codec: its codec.
        frames: uint8 [B, T, H, W, C], C in 1..4; the colour of RGB frames is ignored.
        state: {"state_h", "state_c"} for these B videos at this frame size (zeros for a
            video's first chunk: `zero_video_state`, or the export's `video_state`).
        frame_size: (width, height) of the training frames.
        multiple: the network's down-sampling.
        temperature: decoding temperature; None uses the codec's.
        gamut: `chroma` or `clip` (`tfcolor.color.lab_to_rgb`); None uses the codec's.

    Returns:
        (uint8 RGB [B, T, H, W, 3], the new state).
    """
    frames = tf.convert_to_tensor(frames)
    shape = tf.shape(frames)
    batch, time, height, width = shape[0], shape[1], shape[2], shape[3]
    lightness = _lightness(fold_time(frames))
    place = geometry.frame_placement(height, width, frame_size, multiple)
    canvas = tf.clip_by_value(geometry.to_canvas(lightness, place), 0.0, 1.0)
    outputs = network(
        {
            "frames": unfold_time(canvas, batch, time),
            "state_h": state["state_h"],
            "state_c": state["state_c"],
        },
        training=False,
    )
    ab = codec.decode(tf.cast(fold_time(outputs["colors"]), tf.float32), temperature=temperature)
    # The network predicts at 1 / output_stride of the canvas.
    ab = tf.image.resize(ab, tf.stack([place.height, place.width]), method="bilinear")
    ab = geometry.from_canvas(ab, place, antialias=False)
    colorized = _recombine(lightness, ab, codec, gamut)
    new_state = {"state_h": outputs["state_h"], "state_c": outputs["state_c"]}
    return unfold_time(colorized, batch, time), new_state


def zero_video_state(network, frames, frame_size, multiple: int):
    """The zero state of `network` for a chunk of frames [B, T, H, W, C] (a first chunk)."""
    shape = tf.shape(frames)
    place = geometry.frame_placement(shape[2], shape[3], frame_size, multiple)
    return network.zero_state(shape[0], place.height, place.width)
