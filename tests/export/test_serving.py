"""The export: loaded in a process that never imports tfcolor, and compared with predict."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import encode, run_python

# Runs in a fresh interpreter: only TensorFlow, numpy and Pillow, never tfcolor.
SERVE_SCRIPT = r"""
import io, json, sys
import numpy as np
import tensorflow as tf
from PIL import Image

export, jpeg_path, gray_path = sys.argv[1:4]
model = tf.saved_model.load(export)
report = {"signatures": sorted(model.signatures.keys())}
jpeg = open(jpeg_path, "rb").read()
out = model.signatures["serving_default"](image_bytes=tf.constant([jpeg, jpeg]))
png = out["colorized_png_bytes"].numpy()
image = np.asarray(Image.open(io.BytesIO(png[0])))
report["bytes_shape"] = list(image.shape)
np.save(sys.argv[4], image)
gray = np.load(gray_path)
rgb = model.signatures["colorize_images"](images=tf.constant(gray))["colorized"].numpy()
report["tensor_shape"] = list(rgb.shape)
report["tensor_dtype"] = str(rgb.dtype)
np.save(sys.argv[5], rgb)
try:
    model.signatures["serving_default"](image_bytes=tf.constant([b"not an image"]))
    report["bad_bytes"] = "no error"
except tf.errors.InvalidArgumentError:
    report["bad_bytes"] = "InvalidArgumentError"
report["render_size"] = int(model.render_size.numpy())
report["tfcolor_imported"] = any(name.startswith("tfcolor") for name in sys.modules)
print(json.dumps(report))
"""


@pytest.mark.slow
def test_export_serves_without_tfcolor(trained_run, photos, tmp_path):
    colorizer, export = trained_run
    # An odd size, neither square nor a multiple of the U-Net's down-sampling.
    photo = photos["chelsea"][:77, :133]
    jpeg_path = tmp_path / "cat.jpg"
    jpeg_path.write_bytes(encode(photo, "JPEG"))
    gray = np.asarray(tf.image.rgb_to_grayscale(photos["astronaut"][:50, :70]))[None]
    np.save(tmp_path / "gray.npy", gray)
    script = tmp_path / "serve.py"
    script.write_text(SERVE_SCRIPT)
    result = run_python(
        [
            str(script),
            export,
            str(jpeg_path),
            str(tmp_path / "gray.npy"),
            str(tmp_path / "from_bytes.npy"),
            str(tmp_path / "from_tensor.npy"),
        ],
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["tfcolor_imported"] is False
    assert {"serving_default", "colorize_images", "colorize_bytes_at_size"} <= set(
        report["signatures"]
    )
    assert report["bytes_shape"] == [77, 133, 3]
    assert report["tensor_shape"] == [1, 50, 70, 3] and report["tensor_dtype"] == "uint8"
    assert report["bad_bytes"] == "InvalidArgumentError"
    assert report["render_size"] == 32

    # The export and the in-memory model share one code path: same pixels.
    decoded = tf.io.decode_jpeg(jpeg_path.read_bytes()).numpy()
    expected = colorizer.predict(decoded[None])[0]
    served = np.load(tmp_path / "from_bytes.npy")
    assert np.abs(served.astype(int) - expected.astype(int)).max() <= 1
    expected_gray = colorizer.predict(gray)
    served_gray = np.load(tmp_path / "from_tensor.npy")
    assert np.abs(served_gray.astype(int) - expected_gray.astype(int)).max() <= 1


def test_export_layout_is_versioned_and_atomic(trained_run):
    colorizer, export = trained_run
    base = os.path.dirname(export)
    assert os.path.basename(export).isdigit()
    assert os.path.exists(os.path.join(export, "saved_model.pb"))
    second = colorizer.export_saved_model(render_size=64)
    assert int(os.path.basename(second)) > int(os.path.basename(export))
    leftovers = [name for name in os.listdir(base) if not name.isdigit()]
    assert leftovers == []
    loaded = tf.saved_model.load(second)
    assert int(loaded.render_size.numpy()) == 64


def test_render_size_signature_keeps_input_size(trained_run, photos):
    _, export = trained_run
    loaded = tf.saved_model.load(export)
    jpeg = encode(photos["coffee"][:90, :61])
    outputs = {}
    for size in (16, 32, 33, 64):
        out = loaded.signatures["colorize_bytes_at_size"](
            image_bytes=tf.constant([jpeg]), render_size=tf.constant(size)
        )
        outputs[size] = tf.io.decode_png(out["colorized_png_bytes"][0]).numpy()
        assert outputs[size].shape == (90, 61, 3)
    baked = loaded.signatures["serving_default"](image_bytes=tf.constant([jpeg]))
    # The baked render size is 32; 33 rounds to the U-Net's multiple of 4, i.e. 32 as well.
    np.testing.assert_array_equal(
        tf.io.decode_png(baked["colorized_png_bytes"][0]).numpy(), outputs[32]
    )
    np.testing.assert_array_equal(outputs[33], outputs[32])
    assert not np.array_equal(outputs[16], outputs[64])


def test_predict_keeps_size(trained_run, photos):
    colorizer, _ = trained_run
    images = [photos["astronaut"][:64, :48], photos["flower"][:31, :45, :1]]
    for image, output in zip(images, colorizer.predict(images), strict=True):
        assert output.shape == image.shape[:2] + (3,) and output.dtype == np.uint8
