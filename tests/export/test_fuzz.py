"""Mutated image files and a 24-megapixel photo through the export, each in a fresh process
(a crash shows as its return code, its peak memory is its own). Issue 14."""

from __future__ import annotations

import json
import os

import pytest

from tests.helpers import run_python

pytestmark = pytest.mark.reliability

FUZZ_CHECK = os.path.join(os.path.dirname(__file__), "fuzz_check.py")
# The fuzz process's peak RSS: about 1.2 GB measured (TensorFlow and the loaded export ~0.9 GB,
# the rest images within the export's 4-megapixel budget); a decoded huge header would be
# gigabytes.
FUZZ_PEAK_MB = 2500


@pytest.mark.slow
def test_fuzzed_image_bytes_give_right_size_pngs_or_invalid_argument(small_budget_export):
    result = run_python([FUZZ_CHECK, small_budget_export, "14", "500"], timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["failures"] == [], report
    outcomes = report["outcomes"]
    assert outcomes["png"] + outcomes["bytes_invalid"] == report["count"] == 500
    # Both answers happen, and huge dimension fields meet the budget, not the decoder.
    assert outcomes["png"] >= 50 and outcomes["bytes_invalid"] >= 50, outcomes
    assert outcomes["over_budget"] >= 20, outcomes
    assert outcomes["tensor_ok"] >= 50 and outcomes["tensor_invalid"] >= 1, outcomes
    assert report["peak_rss_mb"] < FUZZ_PEAK_MB, report
    assert report["tfcolor_imported"] is False


BIG_PHOTO = r"""
import io, json, sys, time
import numpy as np, skimage.data, tensorflow as tf
from PIL import Image

loaded = tf.saved_model.load(sys.argv[1])
serve = loaded.signatures["serving_default"]
# 6000 x 4000 (24 megapixels), a real photo tiled, as a camera JPEG.
photo = np.tile(skimage.data.astronaut(), (8, 12, 1))[:4000, :6000]
buffer = io.BytesIO()
Image.fromarray(photo).save(buffer, format="JPEG", quality=90)
jpeg = buffer.getvalue()
del photo, buffer
serve(image_bytes=tf.constant([open(sys.argv[2], "rb").read()]))  # warm up
def peak_rss_mb():  # VmHWM: ru_maxrss is kept across execve (the pytest worker's would show)
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) / 1024 for l in status if l.startswith("VmHWM:"))
before = peak_rss_mb()
start = time.time()
png = serve(image_bytes=tf.constant([jpeg]))["colorized_png_bytes"][0]
seconds = time.time() - start
shape = list(tf.io.decode_png(png).shape)
print(json.dumps({
    "shape": shape,
    "seconds": seconds,
    "peak_rss_mb": peak_rss_mb(),
    "before_mb": before,
}))
"""


@pytest.mark.slow
def test_24_megapixel_jpeg_serves_within_4_gb(trained_run, photos, tmp_path):
    """A 6000 x 4000 JPEG through serving_default at the default 50-megapixel budget."""
    from tests.helpers import encode

    _, export = trained_run
    small = tmp_path / "small.jpg"
    small.write_bytes(encode(photos["coffee"][:16, :16]))
    script = tmp_path / "big_photo.py"
    script.write_text(BIG_PHOTO)
    result = run_python([str(script), export, str(small)], timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["shape"] == [4000, 6000, 3]
    assert report["peak_rss_mb"] < 4096, report
    print(report)
