"""tfcolor.benchmarks.colorize: inference images/s of a preset's network and its export."""

from __future__ import annotations

import pytest

from tfcolor.benchmarks.colorize import colorize_table, run_colorize_benchmark
from tfcolor.cli import bench


@pytest.mark.slow  # 17 s: the export is saved and loaded
def test_the_network_and_the_export_are_timed():
    row = run_colorize_benchmark("smoke", image_size=32, batch_size=2, calls=1, rounds=1)
    assert row.preset == "smoke" and (row.image_size, row.batch_size) == (32, 2)
    assert row.network > 0 and row.export > 0
    table = colorize_table([row])
    assert table[2].startswith("| smoke | 2 x 32x32 | ")
    assert bench._build_parser().parse_args(["colorize"]).preset == ("zhang_eccv16",)
