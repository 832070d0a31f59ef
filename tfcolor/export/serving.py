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

__all__ = ["ColorizerModule", "colorize_batch", "export_saved_model", "latest_export"]


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
    os.makedirs(export_dir_base, exist_ok=True)
    version = int(time.time())
    while os.path.exists(os.path.join(export_dir_base, str(version))):
        version += 1
    module = ColorizerModule(model, codec, render_size, multiple, temperature, class_names)
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
