"""Inference shared by `Colorizer.predict`, the TensorBoard panels and the SavedModel export.

The recipe of the Zhang and DeOldify tools: the model sees the input's lightness resized to a
square render size, its ab is upsampled back to the input's full resolution and recombined with
the input's own full-resolution lightness. Every path calls `colorize_batch`, so predict and the
export cannot drift apart.
"""

from __future__ import annotations

import os
import tempfile
import time

import tensorflow as tf

from tfcolor import color
from tfcolor.input_pipeline import transforms
from tfcolor.models.convlstm import fold_time, unfold_time

__all__ = [
    "ColorizerModule",
    "VideoColorizerModule",
    "colorize_batch",
    "colorize_chunk",
    "export_saved_model",
    "export_video_saved_model",
    "frame_placement",
    "latest_export",
]


def _round_to_multiple(size, multiple: int):
    """Rounds to the nearest positive multiple of the model's down-sampling factor."""
    size = tf.cast(size, tf.int32)
    rounded = (size + multiple // 2) // multiple * multiple
    return tf.maximum(rounded, multiple)


def _render_shape(render_size, image_shape, multiple: int):
    """[height, width] at which the model runs: a square of render_size, or (render_size 0)
    the image's own size, each side rounded to a multiple of the model's down-sampling."""
    render_size = tf.cast(render_size, tf.int32)
    square = tf.stack([render_size, render_size])
    shape = tf.where(render_size > 0, square, tf.cast(image_shape, tf.int32))
    return _round_to_multiple(shape, multiple)


def colorize_batch(
    model, codec, images, render_size, multiple: int = 1, temperature=None, with_classes=False
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

    Returns:
        uint8 RGB [N, H, W, 3]: the input's own lightness with the predicted colours (ab
        upsampled bilinearly from the model's output); with `with_classes`, a pair of it and
        float32 class probabilities [N, classes] (None for a model without a head).
    """
    rgb = transforms.to_rgb(images)
    lightness, _ = color.lightness_and_ab(rgb)
    shape = _render_shape(render_size, tf.shape(images)[1:3], multiple)
    small = tf.image.resize(lightness, shape, antialias=True)
    outputs = model(tf.clip_by_value(small, 0.0, 1.0), training=False)
    class_probabilities = None
    if isinstance(outputs, dict):
        class_probabilities = tf.nn.softmax(tf.cast(outputs["class_logits"], tf.float32))
        outputs = outputs["colors"]
    ab_small = codec.decode(tf.cast(outputs, tf.float32), temperature=temperature)
    ab = tf.image.resize(ab_small, tf.shape(images)[1:3], method="bilinear")
    colorized = color.lab_from_parts(lightness, ab)
    colorized = tf.image.convert_image_dtype(colorized, tf.uint8, saturate=True)
    return (colorized, class_probabilities) if with_classes else colorized


class ColorizerModule(tf.Module):
    """What the SavedModel holds: the network, the codec's state as constants, the signatures.

    Signatures:
        serving_default: `image_bytes` string [N] (JPEG, PNG, BMP, GIF, WebP) ->
            `colorized_png` string [N], each at its input's own resolution.
        colorize_images: `images` uint8 [N, H, W, 1 or 3] -> `colorized` uint8 [N, H, W, 3]
            (and `class_probabilities` float32 [N, classes] for a model with a
            classification head; the names are in the `class_names` variable).
        colorize_images_at: `images`, `render_size` int32 scalar (0: the images' own size),
            `temperature` float32 scalar (bin codecs' decoding; ignored by regression) ->
            `colorized`: for evaluation sweeps.
        colorize_bytes_at_size: `image_bytes` string [N], `render_size` int32 scalar ->
            `colorized_png` string [N]: serving_default with another render size.
    """

    def __init__(
        self,
        model,
        codec,
        render_size: int,
        multiple: int,
        temperature: float,
        class_names=None,
    ):
        super().__init__(name="tfcolor_colorizer")
        self.model = model
        self._codec = codec
        self._multiple = int(multiple)
        self._temperature = float(temperature)
        # Plain variables: visible to a server (`loaded.render_size`) without tfcolor.
        self.render_size = tf.Variable(int(render_size), trainable=False, name="render_size")
        self.temperature = tf.Variable(self._temperature, trainable=False, name="temperature")
        self.codec_name = tf.Variable(codec.name, trainable=False, name="codec_name")
        self._classify = bool(class_names)
        self.class_names = tf.Variable(
            list(class_names or []), dtype=tf.string, trainable=False, name="class_names"
        )

    def _colorize(self, images, render_size, temperature=None, with_classes=False):
        temperature = self._temperature if temperature is None else temperature
        return colorize_batch(
            self.model,
            self._codec,
            images,
            render_size,
            self._multiple,
            temperature,
            with_classes=with_classes,
        )

    def _colorize_encoded(self, image_bytes, render_size):
        def one(encoded):
            # Raises InvalidArgumentError for bytes that are not an image.
            image = tf.io.decode_image(encoded, expand_animations=False)
            colorized = self._colorize(image[tf.newaxis], render_size)[0]
            return tf.io.encode_png(colorized)

        return tf.map_fn(one, image_bytes, fn_output_signature=tf.TensorSpec([], tf.string))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serve_bytes(self, image_bytes):
        return {"colorized_png": self._colorize_encoded(image_bytes, self.render_size)}

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.string, name="image_bytes"),
            tf.TensorSpec([], tf.int32, name="render_size"),
        ]
    )
    def serve_bytes_at_size(self, image_bytes, render_size):
        return {"colorized_png": self._colorize_encoded(image_bytes, render_size)}

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, None], tf.uint8, name="images")])
    def serve_images(self, images):
        colorized, probabilities = self._colorize(images, self.render_size, with_classes=True)
        if self._classify:
            return {"colorized": colorized, "class_probabilities": probabilities}
        return {"colorized": colorized}

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None, None, None], tf.uint8, name="images"),
            tf.TensorSpec([], tf.int32, name="render_size"),
            tf.TensorSpec([], tf.float32, name="temperature"),
        ]
    )
    def serve_images_at(self, images, render_size, temperature):
        return {"colorized": self._colorize(images, render_size, temperature)}

    def signatures(self):
        return {
            "serving_default": self.serve_bytes.get_concrete_function(),
            "colorize_images": self.serve_images.get_concrete_function(),
            "colorize_images_at": self.serve_images_at.get_concrete_function(),
            "colorize_bytes_at_size": self.serve_bytes_at_size.get_concrete_function(),
        }


def export_saved_model(
    model,
    codec,
    export_dir_base: str,
    render_size: int,
    multiple: int,
    temperature: float,
    class_names=None,
) -> str:
    """Writes a SavedModel to `export_dir_base/<integer version>/` and returns that path.

    The model is written to a temporary directory beside the target and renamed into place, so
    a server watching `export_dir_base` (TF Serving) never sees half a model.
    """
    module = ColorizerModule(model, codec, render_size, multiple, temperature, class_names)
    return _write_module(module, export_dir_base)


def _write_module(module, export_dir_base: str) -> str:
    os.makedirs(export_dir_base, exist_ok=True)
    version = int(time.time())
    while os.path.exists(os.path.join(export_dir_base, str(version))):
        version += 1
    staging = tempfile.mkdtemp(prefix=".tmp-export-", dir=export_dir_base)
    tf.saved_model.save(module, staging, signatures=module.signatures())
    final = os.path.join(export_dir_base, str(version))
    os.rename(staging, final)
    return final


def latest_export(export_dir_base: str) -> str | None:
    """The highest integer version under `export_dir_base`, or None."""
    if not os.path.isdir(export_dir_base):
        return None
    versions = [
        int(name)
        for name in os.listdir(export_dir_base)
        if name.isdigit() and os.path.exists(os.path.join(export_dir_base, name, "saved_model.pb"))
    ]
    return os.path.join(export_dir_base, str(max(versions))) if versions else None


# --- video ---------------------------------------------------------------------------------


def frame_placement(height, width, frame_size, multiple: int):
    """Where a frame of height x width sits in the model's canvas, in TF ops.

    The same geometry as `tfcolor.video.placement`, which the preprocessing and the loader
    use: the frame is scaled to fit inside `frame_size` (width, height) keeping its aspect
    ratio (sizes rounded half up) and centred; the canvas is `frame_size` rounded up to a
    multiple of the model's down-sampling. A side of 0 leaves that side free; (0, 0) keeps
    the frame's own size.

    Returns:
        int32 scalars (canvas_height, canvas_width, content_height, content_width, top, left).
    """
    height = tf.cast(height, tf.float64)
    width = tf.cast(width, tf.float64)
    box_width = tf.cast(frame_size[0], tf.float64)
    box_height = tf.cast(frame_size[1], tf.float64)
    infinity = tf.constant(float("inf"), tf.float64)
    scale = tf.minimum(
        tf.where(box_width > 0, box_width / width, infinity),
        tf.where(box_height > 0, box_height / height, infinity),
    )
    scale = tf.where(tf.math.is_inf(scale), tf.ones_like(scale), scale)
    content_height = tf.maximum(tf.floor(height * scale + 0.5), 1.0)
    content_width = tf.maximum(tf.floor(width * scale + 0.5), 1.0)
    content_height = tf.where(
        box_height > 0, tf.minimum(content_height, box_height), content_height
    )
    content_width = tf.where(box_width > 0, tf.minimum(content_width, box_width), content_width)
    canvas_height = tf.math.ceil(tf.where(box_height > 0, box_height, content_height) / multiple)
    canvas_width = tf.math.ceil(tf.where(box_width > 0, box_width, content_width) / multiple)
    canvas_height, canvas_width = canvas_height * multiple, canvas_width * multiple
    top = tf.math.floordiv(canvas_height - content_height, 2.0)
    left = tf.math.floordiv(canvas_width - content_width, 2.0)
    values = (canvas_height, canvas_width, content_height, content_width, top, left)
    return tuple(tf.cast(value, tf.int32) for value in values)


def colorize_chunk(network, codec, frames, state, frame_size, multiple: int, temperature=None):
    """Colorizes one chunk of B videos with a recurrent network, carrying its state.

    Each frame is scaled and padded into the network's canvas (`frame_placement`), as the
    training frames were; the decoded ab is cropped back to the picture, upsampled to the
    frame's full resolution and recombined with the frame's own lightness.

    Args:
        network: a `VideoUNet` ({frames, state_h, state_c} -> {colors, state_h, state_c}).
        codec: its codec.
        frames: uint8 [B, T, H, W, C], C in 1..4; the colour of RGB frames is ignored.
        state: {"state_h", "state_c"} for these B videos at this frame size (zeros for a
            video's first chunk: `network.zero_state` or the export's `video_state`).
        frame_size: (width, height) of the training frames.
        multiple: the network's down-sampling.
        temperature: decoding temperature; None uses the codec's.

    Returns:
        (uint8 RGB [B, T, H, W, 3], the new state).
    """
    frames = tf.convert_to_tensor(frames)
    shape = tf.shape(frames)
    batch, time, height, width = shape[0], shape[1], shape[2], shape[3]
    flat = fold_time(frames)
    lightness, _ = color.lightness_and_ab(transforms.to_rgb(flat))
    canvas_h, canvas_w, content_h, content_w, top, left = frame_placement(
        height, width, frame_size, multiple
    )
    small = tf.image.resize(lightness, tf.stack([content_h, content_w]), antialias=True)
    small = tf.image.pad_to_bounding_box(
        tf.clip_by_value(small, 0.0, 1.0), top, left, canvas_h, canvas_w
    )
    outputs = network(
        {
            "frames": unfold_time(small, batch, time),
            "state_h": state["state_h"],
            "state_c": state["state_c"],
        },
        training=False,
    )
    ab = codec.decode(tf.cast(fold_time(outputs["colors"]), tf.float32), temperature=temperature)
    ab = tf.image.resize(ab, tf.stack([canvas_h, canvas_w]), method="bilinear")
    ab = tf.image.crop_to_bounding_box(ab, top, left, content_h, content_w)
    ab = tf.image.resize(ab, tf.stack([height, width]), method="bilinear")
    colorized = color.lab_from_parts(lightness, ab)
    colorized = tf.image.convert_image_dtype(colorized, tf.uint8, saturate=True)
    new_state = {"state_h": outputs["state_h"], "state_c": outputs["state_c"]}
    return unfold_time(colorized, batch, time), new_state


def zero_video_state(network, frames, frame_size, multiple: int):
    """The zero state of `network` for a chunk of frames [B, T, H, W, C] (a first chunk)."""
    shape = tf.shape(frames)
    canvas_h, canvas_w, *_ = frame_placement(shape[2], shape[3], frame_size, multiple)
    return network.zero_state(shape[0], canvas_h, canvas_w)


class VideoColorizerModule(ColorizerModule):
    """The export of a recurrent video colorizer: the image signatures plus streaming.

    Signatures, beside `ColorizerModule`'s (where an image is a one-frame video starting from
    the zero state):
        colorize_video_chunk: `frames` uint8 [B, T, H, W, 1 or 3] (the next T frames of B
            videos), `state_h`, `state_c` float32 (the state returned with the previous chunk)
            -> `colorized` uint8 [B, T, H, W, 3], `state_h`, `state_c`. A stateless server
            colorizes a stream chunk by chunk by sending back the state it got.
        video_state: `frames` uint8 [B, T, H, W, C] -> the zero `state_h`, `state_c` for
            videos of that frame size: the state of a video's first chunk.
    Variables `frame_size` (width, height) and `chunk_frames` (T of training) say how the
    network was trained.
    """

    def __init__(self, network, codec, frame_size, chunk_frames: int, multiple: int, temperature):
        super().__init__(network, codec, 0, multiple, temperature)
        self.network = network
        self._frame_size = tuple(int(v) for v in frame_size)
        self.frame_size = tf.Variable(list(self._frame_size), trainable=False, name="frame_size")
        self.chunk_frames = tf.Variable(int(chunk_frames), trainable=False, name="chunk_frames")

    def _colorize(self, images, render_size, temperature=None, with_classes=False):
        del render_size  # frames are placed in the training canvas
        temperature = self._temperature if temperature is None else temperature
        frames = images[:, tf.newaxis]
        state = zero_video_state(self.network, frames, self._frame_size, self._multiple)
        colorized, _ = colorize_chunk(
            self.network, self._codec, frames, state, self._frame_size, self._multiple, temperature
        )
        return (colorized[:, 0], None) if with_classes else colorized[:, 0]

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None, None, None, None], tf.uint8, name="frames"),
            tf.TensorSpec([None, None, None, None], tf.float32, name="state_h"),
            tf.TensorSpec([None, None, None, None], tf.float32, name="state_c"),
        ]
    )
    def serve_chunk(self, frames, state_h, state_c):
        colorized, state = colorize_chunk(
            self.network,
            self._codec,
            frames,
            {"state_h": state_h, "state_c": state_c},
            self._frame_size,
            self._multiple,
            self._temperature,
        )
        return {"colorized": colorized, **state}

    @tf.function(
        input_signature=[tf.TensorSpec([None, None, None, None, None], tf.uint8, name="frames")]
    )
    def serve_state(self, frames):
        return zero_video_state(self.network, frames, self._frame_size, self._multiple)

    def signatures(self):
        signatures = super().signatures()
        signatures["colorize_video_chunk"] = self.serve_chunk.get_concrete_function()
        signatures["video_state"] = self.serve_state.get_concrete_function()
        return signatures


def export_video_saved_model(
    network, codec, export_dir_base: str, frame_size, chunk_frames: int, multiple: int, temperature
) -> str:
    """`export_saved_model` for a recurrent video colorizer (`VideoColorizerModule`)."""
    module = VideoColorizerModule(network, codec, frame_size, chunk_frames, multiple, temperature)
    return _write_module(module, export_dir_base)
