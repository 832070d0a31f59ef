"""`python -m tfcolor.preprocess`: Beam's flags and ours in one command line, its errors, and
one run end to end (the pipeline itself is tested in tests/preprocessing/test_beam.py)."""

from __future__ import annotations

import pytest

from tests.helpers import run_python
from tests.preprocessing.beam_inputs import write_inputs
from tfcolor.cli import preprocess
from tfcolor.input_pipeline import records

pytest.importorskip("apache_beam")


def test_beam_options_in_any_order():
    from apache_beam.options.pipeline_options import DirectOptions, StandardOptions

    args, options = preprocess.parse_args(
        ["--runner", "DirectRunner", "clips", "--direct_num_workers", "2", "--output", "out"]
        + ["--chunk-frames", "4", "--frame-size", "320x180", "--save_main_session"]
    )
    assert (args.input_dir, args.output, args.chunk_frames) == ("clips", "out", 4)
    assert args.frame_size == (320, 180)
    assert options.view_as(StandardOptions).runner == "DirectRunner"
    assert options.view_as(DirectOptions).direct_num_workers == 2
    assert options.get_all_options(drop_default=True)["save_main_session"] is True


def test_unknown_flags_and_bad_values_are_usage_errors(capsys):
    for argv in (
        ["clips", "--output", "out", "--chunk-frame", "4"],  # a typo
        ["clips", "--output", "out", "--frame-size", "240"],
        ["clips"],  # no --output
    ):
        with pytest.raises(SystemExit) as caught:
            preprocess.parse_args(argv)
        assert caught.value.code == 2
    assert "--chunk-frame 4" in capsys.readouterr().err


def test_help_documents_the_runner_options(capsys):
    with pytest.raises(SystemExit) as caught:
        preprocess.main(["--help"])
    assert caught.value.code == 0
    text = capsys.readouterr().out
    for flag in ["--chunk-frames", "--frame-size", "--multiple", "--frame-format"]:
        assert flag in text
    for beam in ["--runner", "DataflowRunner", "FlinkRunner", "--direct_num_workers"]:
        assert beam in text


def test_missing_input_folder_is_one_line(tmp_path, capsys):
    missing = str(tmp_path / "nowhere")
    assert preprocess.main([missing, "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and missing in err[0] and "Traceback" not in err[0]


def test_command_line_run(tmp_path):
    """`python -m tfcolor.preprocess` end to end: exit 1 for the corrupt files, the summary."""
    source = write_inputs(tmp_path)
    result = run_python(
        ["-m", "tfcolor.preprocess", str(source), "--output", str(tmp_path / "out")],
        timeout=300,
    )
    assert result.returncode == 1, result.stderr[-3000:]
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("preprocessed")]
    assert line.startswith("preprocessed 4 videos (69 frames in 10 chunks), 2 images into ")
    assert line.endswith("3 failed: broken.mp4, broken.png, truncated.mp4")
    assert "Traceback" not in result.stderr
    assert len(records.read_manifest(str(tmp_path / "out"))) == 4
