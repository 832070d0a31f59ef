"""`tfcolor.benchmarks.flicker` (`bench flicker`): its report, and one tiny run (slow)."""

from __future__ import annotations

import math

import pytest

from tfcolor.benchmarks import flicker


def _row(cdc, warp_error, **extra):
    row = dict(cdc=cdc, warp_error=warp_error, psnr=20.0, ssim=0.5, auc=0.9, colorfulness=0.1)
    return {**row, **extra}


def test_flicker_table():
    rows = {
        "stateful, chunks of 8": _row(0.02, 0.04, cdc_true=0.01, warp_error_true=0.03),
        "stateful, state reset every frame": _row(0.04, 0.05),
        "frame by frame": _row(0.05, 0.08),
    }
    lines = flicker.flicker_table({"source": "video:clips", "rows": rows}, (96, 54))
    assert lines[0] == "\nvideo:clips, 96x54, held-out clips:"
    assert lines[1].split() == ["model", *flicker.METRICS]
    assert lines[2].startswith("stateful, chunks of 8") and lines[2].split()[-6:] == [
        "0.02000", "0.04000", "20.00000", "0.50000", "0.90000", "0.10000"
    ]  # fmt: skip
    truth = lines[5].split()
    assert truth[:3] == ["truth", "0.01000", "0.03000"] and all(
        math.isnan(float(value)) for value in truth[3:]
    )
    assert lines[6].split()[0] == "gray"  # no gray figures given: nan
    assert lines[7] == "CDC stateful / frame by frame: 0.400; warp error: 0.500"
    assert lines[8] == "CDC stateful / state reset: 0.500; warp error: 0.800"


@pytest.mark.slow
def test_flicker_benchmark_trains_and_measures_both(tmp_path):
    from tests.video_helpers import moving_shapes, write_clip

    clips = tmp_path / "clips"
    clips.mkdir()
    for number in range(4):
        write_clip(str(clips / f"clip{number}.mp4"), moving_shapes(8, 24, 32, seed=number))
    lines = []
    result = flicker.run_flicker_benchmark(
        f"video:{clips}",
        frame_size=(32, 24),
        chunk_frames=4,
        streams=1,
        epochs=1,
        validation_fraction=0.5,
        frames=8,
        work_dir=str(tmp_path / "work"),
        progress=lines.append,
    )
    assert result["source"] == f"video:{clips}"
    assert list(result["rows"]) == [
        "stateful, chunks of 4",
        "stateful, state reset every frame",
        "frame by frame",
    ]
    for row in result["rows"].values():
        assert all(math.isfinite(row[name]) for name in ("psnr", "ssim", "auc"))
    assert len(lines) == 2 and lines[1].startswith("frame by frame: trained 1 epochs in ")
    assert len(flicker.flicker_table(result, (32, 24))) == 9
