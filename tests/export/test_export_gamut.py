"""Out-of-gamut colours in the export: a model forced to predict a saturated ab keeps each
pixel's lightness through serving_default, saved and served by TF Serving's session-based
loader (the chroma mapping, the codec's default), where the former per-channel clip moved it by
several units of L; the export bakes the setting in."""

from __future__ import annotations

import types

import keras
import numpy as np
import tensorflow as tf
from skimage import color as skcolor

from tests.helpers import saved_model_cli_run
from tfcolor.codecs import make_codec
from tfcolor.config import CodecConfig
from tfcolor.export import saved_model as serving
from tfcolor.export.client import ExportImageColorizer

# A blue-violet far outside sRGB at every L: through saved exports the clip moved L by 3.7 to
# 8 on average on skimage's three photos (13.7 to 17 at the 99th percentile), the chroma
# mapping by 0.1 (0.3).
SATURATED_AB = (40.0, -100.0)


def _saturated_model():
    """L [B, H, W, 1] -> SATURATED_AB everywhere, as the `unit` regression head outputs it."""
    inputs = keras.Input((None, None, 1))
    target = (np.array(SATURATED_AB, np.float32) + 128.0) / 255.0
    outputs = keras.layers.Conv2D(
        2, 1, kernel_initializer="zeros", bias_initializer=keras.initializers.Constant(target)
    )(inputs)
    return keras.Model(inputs, outputs)


def _lightness_error(png_bytes, photo):
    """|dL| (scikit-image) between the photo and its colorization, a PNG."""
    rgb = tf.io.decode_png(png_bytes).numpy()
    return np.abs(skcolor.rgb2lab(rgb)[..., 0] - skcolor.rgb2lab(photo)[..., 0])


def test_serving_default_keeps_lightness_of_a_saturated_prediction(photos, tmp_path):
    codec = make_codec(CodecConfig(name="regression", normalization="unit", rebalance=None))
    model = _saturated_model()
    photo = photos["astronaut"][::4, ::4]  # 128 x 128
    png = tf.io.encode_png(photo).numpy()
    # The export as TF Serving runs it: saved, then served by the session-based loader.
    export = serving.export_saved_model(model, codec, str(tmp_path / "export"), 32, 1, 0.0)
    np.save(tmp_path / "bytes.npy", np.array([png], dtype=object))
    result = saved_model_cli_run(
        export, "serving_default", f"image_bytes={tmp_path / 'bytes.npy'}", tmp_path / "out"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    served = np.load(tmp_path / "out" / "colorized_png_bytes.npy", allow_pickle=True)[0]
    error = _lightness_error(served, photo)
    assert error.mean() <= 0.5 and np.percentile(error, 99) <= 2.0  # 8-bit rounding
    # The former per-channel clip, through the same function the export saves as
    # serving_default: L moves, so the check above can fail.
    clip = serving.ColorizerModule(model, codec, 32, 1, 0.0, gamut="clip")
    clipped = clip.serve_bytes(tf.constant([png]))["colorized_png_bytes"][0]
    clip_error = _lightness_error(clipped, photo)
    assert clip_error.mean() > 2.0 and np.percentile(clip_error, 99) > 5.0


def test_the_saved_export_carries_its_gamut(small_budget_loaded):
    assert small_budget_loaded.gamut.numpy() == b"chroma"
    assert ExportImageColorizer(small_budget_loaded).gamut == "chroma"
    # An export written before the setting has no variable: it clipped.
    old = types.SimpleNamespace(
        signatures={"colorize_images_at": None},
        render_size=tf.constant(32),
        temperature=tf.constant(0.5),
    )
    assert ExportImageColorizer(old).gamut == "clip"
