"""tfcolor.benchmarks.colorize: inference images/s of a preset's network and its export."""

from __future__ import annotations

import pytest

from tfcolor.benchmarks.colorize import (
    colorize_table,
    files_table,
    run_colorize_benchmark,
    run_files_benchmark,
    write_photo_folder,
)
from tfcolor.cli import bench


@pytest.mark.slow  # 17 s: the export is saved and loaded
def test_the_network_and_the_export_are_timed():
    row = run_colorize_benchmark("smoke", image_size=32, batch_size=2, calls=1, rounds=1)
    assert row.preset == "smoke" and (row.image_size, row.batch_size) == (32, 2)
    assert row.network > 0 and row.export > 0
    # The same colorization as ONNX and LiteRT files, timed in their runtimes beside it.
    assert row.onnx > 0 and row.litert > 0
    table = colorize_table([row])
    assert table[2].startswith("| smoke | 2 x 32x32 | ")
    # No --preset: zhang_eccv16 for the network, unet_thesis for --data (_colorize_command).
    assert bench._build_parser().parse_args(["colorize"]).preset is None


@pytest.mark.slow  # 25 s: an export, and three timed passes over the folder
def test_colorizing_files_is_timed_beside_the_ceiling(tmp_path, capsys):
    folder = write_photo_folder(str(tmp_path / "photos"), count=3, size=(64, 48))
    row = run_files_benchmark(folder, preset="smoke", render_size=32, workers=2, rounds=1)
    assert (row.model, row.render_size, row.files, row.workers) == (
        "smoke (random weights)",
        32,
        "3 x 64x48",
        2,
    )
    assert min(row.ceiling, row.colorize, row.one_at_a_time) > 0
    assert row.ratio == row.colorize / row.ceiling
    assert files_table([row])[2].startswith("| smoke (random weights) | 32 | 3 x 64x48 | ")
    # A file the export cannot decode is named, not timed around.
    (tmp_path / "photos" / "bad.jpg").write_bytes(b"not a JPEG")
    with pytest.raises(ValueError, match="bad.jpg"):
        run_files_benchmark(folder, preset="smoke", render_size=32, rounds=1)


def test_colorizing_files_needs_a_folder(tmp_path, capsys):
    assert bench.main(["colorize", "--model", str(tmp_path)]) == 2
    assert bench.main(["colorize", "--data", str(tmp_path / "none")]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert "give --data" in errors[0] and str(tmp_path / "none") in errors[1], errors
