"""The gamut mapping's two claims, measured: the lightness it keeps, and what it costs.

1. Lightness: a model forced to predict one ab far outside sRGB (a 1x1 convolution with zero
   weights and that ab as its bias, behind the `unit` regression head) is exported twice, with
   `gamut` `chroma` and `clip`, and each export colorizes scikit-image's astronaut, coffee and
   chelsea through `serving_default` (PNG in, PNG out). |dL| is scikit-image's L of the output
   against the photo's: mean and 99th percentile per photo, for four hues.
2. Cost: `tfcolor.color.lab_from_parts` on a batch of 8 256x256 images, every pixel outside
   the gamut (the worst case: the search runs everywhere) or the photo's own ab x 1.5 (a
   quarter outside), `clip` against `chroma` (and `chroma` searching only the colours outside,
   as the rendering path does), in a tf.function (the export's graph mode) and under XLA; the
   median of 20 calls, per image.

    python benchmarks/gamut_mapping.py
"""

from __future__ import annotations

import argparse
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
from skimage import color as skcolor
from skimage import data, transform

from tfcolor import color
from tfcolor.codecs import make_codec
from tfcolor.config import CodecConfig
from tfcolor.export import saved_model as serving

# Four hues outside sRGB at every L: orange-red, blue-violet, green, magenta.
SATURATED_ABS = ((60.0, 70.0), (40.0, -100.0), (-80.0, 60.0), (80.0, -20.0))


def saturated_model(ab) -> keras.Model:
    """L [B, H, W, 1] -> `ab` everywhere, as the `unit` regression head ((ab + 128) / 255)."""
    inputs = keras.Input((None, None, 1))
    target = (np.asarray(ab, np.float32) + 128.0) / 255.0
    outputs = keras.layers.Conv2D(
        2, 1, kernel_initializer="zeros", bias_initializer=keras.initializers.Constant(target)
    )(inputs)
    return keras.Model(inputs, outputs)


def lightness_errors() -> None:
    codec = make_codec(CodecConfig(name="regression", normalization="unit", rebalance=None))
    photos = {"astronaut": data.astronaut(), "coffee": data.coffee(), "chelsea": data.chelsea()}
    base = tempfile.mkdtemp()
    print("ab            gamut   photo      mean |dL|   p99 |dL|   max |dL|")
    for ab in SATURATED_ABS:
        model = saturated_model(ab)
        for gamut in ("chroma", "clip"):
            export = serving.export_saved_model(model, codec, base, 64, 1, 0.0, gamut=gamut)
            serve = tf.saved_model.load(export).signatures["serving_default"]
            for name, photo in photos.items():
                png = tf.io.encode_png(photo)
                output = serve(image_bytes=tf.stack([png]))["colorized_png_bytes"][0]
                rgb = tf.io.decode_png(output).numpy()
                error = np.abs(skcolor.rgb2lab(rgb)[..., 0] - skcolor.rgb2lab(photo)[..., 0])
                print(
                    f"{str(ab):13s} {gamut:7s} {name:10s} {error.mean():9.3f} "
                    f"{np.percentile(error, 99):10.3f} {error.max():10.2f}"
                )


def cost(batch: int = 8, calls: int = 20) -> None:
    photo = transform.resize(data.astronaut(), (256, 256)).astype(np.float32)
    lightness, photo_ab = color.lightness_and_ab(np.stack([photo] * batch))
    cases = {
        # The mapping's worst case: every pixel outside, the search runs everywhere.
        "all outside": tf.fill([batch, 256, 256, 2], 0.0) + tf.constant(SATURATED_ABS[0]),
        # A model a little over-saturated: the photo's own ab x 1.5, a quarter outside.
        "photo ab x1.5": photo_ab * 1.5,
    }
    variants = [
        ("graph", "clip", False),
        ("graph", "chroma", False),
        ("graph", "chroma", True),  # only_outside, as the rendering path runs it
        ("XLA", "clip", False),
        ("XLA", "chroma", False),
    ]
    for case, ab in cases.items():
        for mode, gamut, only_outside in variants:
            render = tf.function(
                lambda lightness, ab, gamut=gamut, only_outside=only_outside: color.lab_from_parts(
                    lightness, ab, gamut, only_outside
                ),
                jit_compile=mode == "XLA",
            )
            render(lightness, ab).numpy()
            times = []
            for _ in range(calls):
                start = time.perf_counter()
                render(lightness, ab).numpy()
                times.append(time.perf_counter() - start)
            name = f"{gamut}{' only_outside' if only_outside else ''}"
            print(
                f"{case:14s} {mode:5s} {name:20s} "
                f"{1000 * np.median(times) / batch:6.2f} ms per 256x256 image"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-exports", action="store_true", help="only the cost")
    args = parser.parse_args()
    if not args.skip_exports:
        lightness_errors()
    cost()


if __name__ == "__main__":
    main()
