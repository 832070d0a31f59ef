"""`python -m tfcolor.colorize_beam` (`tfcolor.preprocessing.colorize_beam`) on the DirectRunner:
a small folder of real photos and bad files, compared with `python -m tfcolor.colorize` on the
same folder and export."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

from tests.helpers import encode, run_python

pytest.importorskip("apache_beam")

from tfcolor.cli import colorize as colorize_cli  # noqa: E402
from tfcolor.cli import colorize_beam as colorize_beam_cli  # noqa: E402
from tfcolor.preprocessing import colorize_beam  # noqa: E402

GOOD = [
    "cat.jpg",  # cat.jpg and cat.png share a name: both keep their extension (cat.jpg.png)
    "cat.png",
    "nested/camera.png",  # grayscale
    "nested/coffee.png",
    "nested/deeper/astronaut.jpg",  # astronaut and rocket: one size, one model call
    "nested/deeper/rocket.jpg",
]
BAD = ["nested/truncated.jpg", "notes.png"]
OUTPUTS = [
    "cat.jpg.png",
    "cat.png.png",
    "nested/camera.png",
    "nested/coffee.png",
    "nested/deeper/astronaut.png",
    "nested/deeper/rocket.png",
]


def _write_inputs(folder):
    import skimage.data

    (folder / "nested" / "deeper").mkdir(parents=True)
    chelsea = skimage.data.chelsea()
    (folder / "cat.jpg").write_bytes(encode(chelsea[:60, :80]))
    (folder / "cat.png").write_bytes(encode(chelsea[60:120, 80:160], "PNG"))
    (folder / "nested" / "camera.png").write_bytes(encode(skimage.data.camera()[:96, :72], "PNG"))
    (folder / "nested" / "coffee.png").write_bytes(encode(skimage.data.coffee()[:48, :64], "PNG"))
    deeper = folder / "nested" / "deeper"
    (deeper / "astronaut.jpg").write_bytes(encode(skimage.data.astronaut()[:48, :64]))
    (deeper / "rocket.jpg").write_bytes(encode(skimage.data.rocket()[:48, :64]))
    whole = encode(skimage.data.astronaut()[:96, :96])
    (folder / "nested" / "truncated.jpg").write_bytes(whole[: len(whole) // 3])
    (folder / "notes.png").write_text("this is text, not a PNG")
    (folder / "readme.txt").write_text("not an image extension: left out by both")
    return folder


def _files(folder) -> dict[str, str]:
    """relative path -> sha256 of every file under `folder`."""
    found = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return found


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    """A random-weight smoke U-Net's export (the comparison needs no trained colours)."""
    from tests.helpers import smoke_preset
    from tfcolor.codecs import make_codec
    from tfcolor.export import saved_model as serving
    from tfcolor.models import build_model

    config = smoke_preset("unet_shapes")
    config.model.filters = (4, 8)  # one down-sampling level: seconds to save
    codec = make_codec(config.codec)
    model = build_model(config.model, codec)
    run = tmp_path_factory.mktemp("run")
    return serving.export_saved_model(
        model, codec, str(run / "export"), 32, getattr(model, "downsampling", 1), 0.5
    )


@pytest.fixture(scope="module")
def runs(export, tmp_path_factory):
    """Both commands over the same folder and export, in this process: (inputs, their files
    before, beam's summary, beam's output, beam's (status, stdout, stderr), colorize's output,
    colorize's stderr)."""
    root = tmp_path_factory.mktemp("colorize_beam")
    inputs = _write_inputs(root / "in")
    before = _files(inputs)
    beam_output = root / "beam"
    summaries = []
    real = colorize_beam.colorize_files

    def keep(*args, **kwargs):
        summaries.append(real(*args, **kwargs))
        return summaries[-1]

    argv = [str(inputs), "--model", export, "--output", str(beam_output)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(colorize_beam, "colorize_files", keep)
        beam_run = _captured(colorize_beam_cli.main, argv)
    colorize_output = root / "colorize"
    status, _, colorize_stderr = _captured(
        colorize_cli.main, [str(inputs), "--model", export, "--output", str(colorize_output)]
    )
    assert status == 1  # two bad files
    return inputs, before, summaries[0], beam_output, beam_run, colorize_output, colorize_stderr


def _captured(main, argv):
    """(status, stdout, stderr) of a command's main(argv) in this process."""
    import contextlib
    import io

    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = main(argv)
    return status, stdout.getvalue(), stderr.getvalue()


def test_outputs_equal_colorize(runs):
    from PIL import Image

    _, _, _, beam_output, _, colorize_output, _ = runs
    made = _files(beam_output)
    assert sorted(made) == sorted([*OUTPUTS, "failed.txt"])
    assert sorted(_files(colorize_output)) == sorted(OUTPUTS)
    for name in OUTPUTS:
        ours = np.asarray(Image.open(beam_output / name))
        theirs = np.asarray(Image.open(colorize_output / name))
        assert ours.shape == theirs.shape and ours.shape[2] == 3, name
        # The same decode, the same traced function of the export, the same PNG encoder.
        np.testing.assert_array_equal(ours, theirs, err_msg=name)
    assert Image.open(beam_output / "nested" / "camera.png").size == (72, 96)  # full resolution


def test_failed_lists_exactly_the_bad_files_with_colorizes_reasons(runs):
    inputs, _, summary, beam_output, _, _, colorize_stderr = runs
    expected = sorted(str(inputs / name) for name in BAD)
    assert sorted(path for path, _ in summary["failed"]) == expected
    lines = (beam_output / "failed.txt").read_text().splitlines()
    assert [line.split("\t")[0] for line in lines] == expected  # sorted, one per line
    for path, reason in summary["failed"]:
        assert reason and "File " not in reason and "Graph execution" not in reason, reason
        # colorize names the same reason: "skipped PATH: cannot colorize it (REASON)"
        assert f"skipped {path}: cannot colorize it ({reason})" in colorize_stderr


def test_counters_and_the_commands_report(runs):
    inputs, _, summary, beam_output, (status, stdout, stderr), _, _ = runs
    assert summary["counters"]["colorized"] == summary["colorized"] == len(GOOD)
    assert summary["counters"]["failed"] == len(BAD)
    assert status == 1  # some failed
    assert f"colorized {len(GOOD)} of {len(GOOD) + len(BAD)} images into {beam_output}" in stdout
    assert f"{len(BAD)} failed (listed in failed.txt)" in stderr
    assert all(str(inputs / name) in stderr for name in BAD)


def test_inputs_are_untouched(runs):
    inputs, before, *_ = runs
    assert _files(inputs) == before


def test_handler_colorizes_each_image_as_alone(export):
    """A mixed batch: one call per image shape, in calls within the export's pixel budget; each
    result equals the export's on that image alone."""
    import skimage.data
    import tensorflow as tf

    from tfcolor.export.client import ExportImageColorizer

    colorize = ExportImageColorizer(tf.saved_model.load(export))
    calls = []

    def model(images, render_size):
        calls.append(images.shape)
        return colorize(images, render_size)

    batch = [
        skimage.data.astronaut()[:32, :40],
        skimage.data.coffee()[:24, :16],
        skimage.data.rocket()[:32, :40],
        skimage.data.camera()[:32, :40, None],  # grayscale: its own shape
        skimage.data.chelsea()[:32, :40],
    ]
    handler = colorize_beam.ExportModelHandler(export, max_pixels=2 * 32 * 40)
    results = handler.run_inference(batch, model)
    assert sorted(calls) == sorted([(2, 32, 40, 3), (1, 32, 40, 3), (1, 24, 16, 3), (1, 32, 40, 1)])
    for image, result in zip(batch, results, strict=True):
        assert result.example is image
        np.testing.assert_array_equal(result.inference, colorize(image[None])[0])


def test_output_names_and_patterns(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    assert colorize_beam.input_pattern(str(folder)) == (f"{folder}/**", str(folder))
    assert colorize_beam.input_pattern("gs://b/scans/*/x*.jpg") == (
        "gs://b/scans/*/x*.jpg",
        "gs://b/scans",
    )
    assert colorize_beam.input_pattern("gs://b/scans/") == ("gs://b/scans/**", "gs://b/scans")
    assert colorize_beam.input_pattern("one.jpg") == ("one.jpg", ".")
    targets = colorize_beam._output_names(
        [(0, "in/b.jpg"), (0, "in/b.png"), (0, "in/x/c.gif"), (1, "one.jpg")], ["in", "."], "out"
    )
    assert targets == {
        (0, "in/b.jpg"): "out/b.jpg.png",
        (0, "in/b.png"): "out/b.png.png",
        (0, "in/x/c.gif"): "out/x/c.png",
        (1, "one.jpg"): "out/one.png",
    }
    # A result that would land on an input file (through a symlinked output) is refused.
    (tmp_path / "in").mkdir()
    os.symlink(tmp_path / "in", tmp_path / "out")
    landing = colorize_beam._output_names(
        [(0, str(tmp_path / "in" / "a.png"))], [str(tmp_path / "in")], str(tmp_path / "out")
    )
    assert landing == {(0, str(tmp_path / "in" / "a.png")): None}


def test_model_dir_resolves_to_its_newest_export_through_beams_file_systems(export):
    run = os.path.dirname(os.path.dirname(export))
    assert colorize_beam._remote_export_candidates(run) == [export]
    assert colorize_beam._remote_export_candidates(export) == [export]
    with pytest.raises(FileNotFoundError, match="neither a SavedModel"):
        colorize_beam._remote_export_candidates(os.path.dirname(run))


def test_cli_errors(export, tmp_path):
    inputs = _write_inputs(tmp_path / "in")
    before = _files(inputs)
    only_text = tmp_path / "texts"
    only_text.mkdir()
    (only_text / "a.txt").write_text("no image here")
    out = str(tmp_path / "out")
    cases = {
        "no such model": ([str(inputs), "--model", str(tmp_path / "nope")], "nope"),
        "empty glob": ([str(tmp_path / "none" / "*.jpg"), "--model", export], "no file matches"),
        "no images": ([str(only_text), "--model", export], "no image files"),
        "output is the input": (
            [str(inputs), "--model", export, "--output", str(inputs)],
            "is the input folder",
        ),
        "output inside the input": (
            [str(inputs), "--model", export, "--output", str(inputs / "nested")],
            "lies inside the input folder",
        ),
        "output holds the input": (
            [str(inputs / "nested"), "--model", export, "--output", str(inputs)],
            "holds the input folder",
        ),
        "render size over the budget": (
            [str(inputs), "--model", export, "--render-size", "100000"],
            "--render-size must be between 0 and",
        ),
    }
    for case, (argv, words) in cases.items():
        argv = argv if "--output" in argv else [*argv, "--output", out]
        status, _, stderr = _captured(colorize_beam_cli.main, argv)
        assert status == 2, case
        assert stderr.startswith("tfcolor.colorize_beam: error: ") and words in stderr, (
            case,
            stderr,
        )
        assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr, case
    assert not os.path.exists(out)  # nothing made before the checks passed
    assert _files(inputs) == before
    # A flag that neither tfcolor nor Beam knows: a usage error, not a Beam option.
    with pytest.raises(SystemExit) as exit_info:
        _captured(
            colorize_beam_cli.main, [str(inputs), "--model", export, "--output", out, "--nope"]
        )
    assert exit_info.value.code == 2


@pytest.mark.slow
def test_pattern_names_results_from_its_folder(export, tmp_path):
    """A second pipeline run: a pattern's folder before its wildcard is the base of the
    output names; Beam's own flags are passed through."""
    inputs = _write_inputs(tmp_path / "in")
    out = tmp_path / "out"
    argv = [str(inputs / "nested" / "**.jpg"), "--model", export, "--output", str(out)]
    status, stdout, stderr = _captured(colorize_beam_cli.main, [*argv, "--runner", "DirectRunner"])
    assert status == 1, stderr  # truncated.jpg
    assert f"colorized 2 of 3 images into {out}" in stdout
    assert sorted(_files(out)) == ["deeper/astronaut.png", "deeper/rocket.png", "failed.txt"]
    assert (out / "failed.txt").read_text().startswith(f"{inputs / 'nested' / 'truncated.jpg'}\t")


@pytest.mark.slow
def test_entry_point_usage_error_is_one_line(tmp_path):
    result = run_python(
        [
            "-m",
            "tfcolor.colorize_beam",
            str(tmp_path),
            "--model",
            str(tmp_path / "nope"),
            "--output",
            str(tmp_path / "out"),
            "--runner",
            "DirectRunner",
        ],
        timeout=300,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("tfcolor.colorize_beam: error: ")
