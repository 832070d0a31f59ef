"""`tfcolor.benchmarks.pipeline` (`bench pipeline`) on a small folder of images."""

from __future__ import annotations

import numpy as np

from tfcolor.benchmarks import pipeline


def test_run_pipeline_benchmark(tmp_path):
    import skimage.io

    rng = np.random.default_rng(0)
    for number in range(24):
        image = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
        name = f"image{number:02d}.{'jpg' if number % 2 else 'png'}"
        skimage.io.imsave(str(tmp_path / name), image, check_contrast=False)
    result = pipeline.run_pipeline_benchmark(
        str(tmp_path), image_size=32, batch_size=4, images=8, rounds=1
    )
    assert 0 < result["files"] <= 24
    for name in ("decode_resize", "full_decode_resize", "pipeline"):
        assert result[name] > 0
    assert result["ratio"] == result["pipeline"] / result["decode_resize"]
    assert result["ratio_full"] == result["pipeline"] / result["full_decode_resize"]
