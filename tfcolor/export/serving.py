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


def _round_render_size(render_size, multiple: int):
    """Rounds to the nearest positive multiple of the model's down-sampling factor."""
    render_size = tf.cast(render_size, tf.int32)
    rounded = (render_size + multiple // 2) // multiple * multiple
    return tf.maximum(rounded, multiple)


def colorize_batch(model, codec, images, render_size, multiple: int = 1, temperature=None):
    """Colorizes a batch of same-sized images.

    Args:
        model: a Keras model from normalized lightness [B, S, S, 1] to codec outputs.
        codec: the model's codec (decodes its outputs to ab).
        images: uint8 or uint16 [N, H, W, C], C in 1..4 (gray, gray+alpha, RGB, RGBA).
        render_size: the square side (scalar int) at which ab is predicted.
        multiple: the model's down-sampling factor; render_size is rounded to a multiple of it.
        temperature: decoding temperature; None uses the codec's.

    Returns:
        uint8 RGB [N, H, W, 3]: the input's own lightness with the predicted colours.
    """
    rgb = transforms.to_rgb(images)
    lightness, _ = color.lightness_and_ab(rgb)
    size = _round_render_size(render_size, multiple)
    small = tf.image.resize(lightness, tf.stack([size, size]), antialias=True)
    outputs = model(tf.clip_by_value(small, 0.0, 1.0), training=False)
    ab_small = codec.decode(tf.cast(outputs, tf.float32), temperature=temperature)
    ab = tf.image.resize(ab_small, tf.shape(images)[1:3], method="bilinear")
    colorized = color.lab_from_parts(lightness, ab)
    return tf.image.convert_image_dtype(colorized, tf.uint8, saturate=True)


class ColorizerModule(tf.Module):
    """What the SavedModel holds: the network, the codec's state as constants, the signatures.

    Signatures:
        serving_default: `image_bytes` string [N] (JPEG, PNG, BMP, GIF, WebP) ->
            `colorized_png` string [N], each at its input's own resolution.
        colorize_images: `images` uint8 [N, H, W, 1 or 3] -> `colorized` uint8 [N, H, W, 3].
        colorize_bytes_at_size: `image_bytes` string [N], `render_size` int32 scalar ->
            `colorized_png` string [N]: serving_default with another render size.
    """

    def __init__(self, model, codec, render_size: int, multiple: int, temperature: float):
        super().__init__(name="tfcolor_colorizer")
        self.model = model
        self._codec = codec
        self._multiple = int(multiple)
        self._temperature = float(temperature)
        # Plain variables: visible to a server (`loaded.render_size`) without tfcolor.
        self.render_size = tf.Variable(int(render_size), trainable=False, name="render_size")

    def _colorize(self, images, render_size):
        return colorize_batch(
            self.model, self._codec, images, render_size, self._multiple, self._temperature
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
        return {"colorized": self._colorize(images, self.render_size)}

    def signatures(self):
        return {
            "serving_default": self.serve_bytes.get_concrete_function(),
            "colorize_images": self.serve_images.get_concrete_function(),
            "colorize_bytes_at_size": self.serve_bytes_at_size.get_concrete_function(),
        }


def export_saved_model(
    model, codec, export_dir_base: str, render_size: int, multiple: int, temperature: float
) -> str:
    """Writes a SavedModel to `export_dir_base/<integer version>/` and returns that path.

    The model is written to a temporary directory beside the target and renamed into place, so
    a server watching `export_dir_base` (TF Serving) never sees half a model.
    """
    os.makedirs(export_dir_base, exist_ok=True)
    version = int(time.time())
    while os.path.exists(os.path.join(export_dir_base, str(version))):
        version += 1
    module = ColorizerModule(model, codec, render_size, multiple, temperature)
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
