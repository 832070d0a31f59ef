"""`python -m tfcolor.bench`: its flags (the benchmarks are tested in tests/benchmarks)."""

from __future__ import annotations

import pytest

from tfcolor.cli import bench


def test_preset_lists():
    from tfcolor.benchmarks.train import image_presets

    assert bench._image_presets("all") == image_presets()
    assert bench._image_presets("gamut_shapes, unet_mse") == ("gamut_shapes", "unet_mse")
    parser = bench._build_parser()
    assert parser.parse_args(["train"]).preset == ("unet_shapes",)
    for bad in ("nope", "unet_shapes,convlstm", ","):
        with pytest.raises(SystemExit):
            parser.parse_args(["train", "--preset", bad])


def test_stream_counts():
    parser = bench._build_parser()
    assert parser.parse_args(["video-pipeline"]).streams == (1, 8)
    assert parser.parse_args(["video-pipeline", "--streams", "2,4"]).streams == (2, 4)
    for bad in ("0", "a,b", "1,-2"):
        with pytest.raises(SystemExit):
            parser.parse_args(["video-pipeline", "--streams", bad])


def test_pipeline_needs_a_folder(tmp_path, capsys):
    assert bench.main(["pipeline", "--data", str(tmp_path / "nowhere")]) == 2
    assert "is not a folder" in capsys.readouterr().err
