"""Issue 14 for the commands: outputs never destroy inputs, every bad input one clear line.

`main([...])` runs in this process (a subprocess pays about 5 s of TensorFlow import), except
where the test is about what a fresh interpreter imports (Apache Beam missing).
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import threading

import pytest

from tests.helpers import encode, run_python

pytestmark = pytest.mark.reliability


def _finishes(function, seconds=120):
    """Runs `function()` and returns its result; fails (instead of hanging the suite) when
    it blocks, as reading a FIFO would."""
    result = {}

    def target():
        result["value"] = function()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s (blocked on a FIFO?)"
    return result["value"]


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr and len(lines[0]) < 400, lines[0]
    return lines[0]


@pytest.fixture
def photo_folder(photos, tmp_path):
    """Two small real photos (a JPEG and a PNG) in a folder of their own."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "cat.jpg").write_bytes(encode(photos["chelsea"][:40, :56]))
    (folder / "coffee.png").write_bytes(encode(photos["coffee"][:36, :48], "PNG"))
    return folder


def _snapshot(folder):
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


@pytest.mark.slow  # 13-21 s on 2 shared cores: eight colorize runs, each loading the export
def test_colorize_never_writes_over_its_inputs(trained_run, photo_folder, tmp_path, capsys):
    from tfcolor.cli import colorize

    _, export = trained_run
    before = _snapshot(photo_folder)
    refused = {
        "the input folder itself": [str(photo_folder), "--output", str(photo_folder)],
        "a folder holding the input folder": [str(photo_folder), "--output", str(tmp_path)],
        # coffee.png's result is coffee.png: beside its input it would replace it.
        "a result landing on its input file": [
            str(photo_folder / "coffee.png"),
            "--output",
            str(photo_folder),
        ],
    }
    for case, args in refused.items():
        assert colorize.main([*args, "--model", export]) == 2, case
        line = _one_line(capsys.readouterr().err)
        assert "--output" in line and "input" in line, (case, line)
    assert _snapshot(photo_folder) == before

    # A symlink already at a result's name is replaced, not written through.
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    output = tmp_path / "out"
    output.mkdir()
    (output / "cat.png").symlink_to(victim)
    assert colorize.main([str(photo_folder), "--model", export, "--output", str(output)]) == 0
    assert victim.read_text() == "keep me"
    assert not (output / "cat.png").is_symlink()
    assert (output / "cat.png").read_bytes().startswith(b"\x89PNG")
    assert sorted(os.listdir(output)) == ["cat.png", "coffee.png"]  # no temporary file left

    # A symlinked folder inside --output may not lead the results outside it.
    nested = tmp_path / "nested_in" / "sub"
    nested.mkdir(parents=True)
    shutil.copy(photo_folder / "cat.jpg", nested / "cat.jpg")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (output / "sub").symlink_to(elsewhere)
    status = colorize.main([str(nested.parent), "--model", export, "--output", str(output)])
    assert status == 1
    assert "leads outside" in capsys.readouterr().err
    assert os.listdir(elsewhere) == []

    # Inside the input folder: allowed, and a second run does not colorize the first's results.
    inside = photo_folder / "colorized"
    for _ in range(2):
        assert colorize.main([str(photo_folder), "--model", export, "--output", str(inside)]) == 0
        assert "colorized 2 of 2 images" in capsys.readouterr().out
    assert _snapshot(photo_folder) == before
    # ... but a folder inside the input that colorize did not make keeps the user's files.
    mine = photo_folder / "mine"
    mine.mkdir()
    (mine / sorted(os.listdir(inside))[-1]).write_bytes(b"the user's own file")
    assert colorize.main([str(photo_folder), "--model", export, "--output", str(mine)]) == 2
    assert "which colorize did not write" in _one_line(capsys.readouterr().err)
    assert [path.read_bytes() for path in mine.iterdir()] == [b"the user's own file"]

    # An output that is a file, or cannot be made: one line, before any image is computed.
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    for bad in (a_file, a_file / "below"):
        assert colorize.main([str(photo_folder), "--model", export, "--output", str(bad)]) == 2
        assert str(bad) in _one_line(capsys.readouterr().err)
    assert a_file.read_text() == "not a folder"


def test_colorize_skips_special_files(trained_run, photo_folder, tmp_path, capsys):
    from tfcolor.cli import colorize

    _, export = trained_run
    os.mkfifo(photo_folder / "x.jpg")
    (photo_folder / "loop.jpg").symlink_to("loop.jpg")
    (photo_folder / "back").symlink_to(photo_folder)  # a subfolder loop
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(photo_folder / "s.png"))
    try:
        output = tmp_path / "out"
        status = _finishes(
            lambda: colorize.main([str(photo_folder), "--model", export, "--output", str(output)])
        )
    finally:
        server.close()
    captured = capsys.readouterr()
    assert status == 1  # the special files failed, the photos did not
    assert "colorized 2 of 5 images" in captured.out
    for name, reason in [("x.jpg", "FIFO"), ("loop.jpg", "symlink loop"), ("s.png", "socket")]:
        assert f"{name}: a {reason}" in captured.err
    assert "back: a symlink loop" in captured.err
    assert "Traceback" not in captured.err
    assert sorted(os.listdir(output)) == ["cat.png", "coffee.png"]

    # A FIFO named as the input: refused in one line, never opened.
    fifo = str(photo_folder / "x.jpg")
    status = _finishes(lambda: colorize.main([fifo, "--model", export, "--output", str(output)]))
    assert status == 2
    assert "x.jpg: a FIFO" in _one_line(capsys.readouterr().err)


@pytest.fixture(scope="module")
def bad_models(tmp_path_factory):
    """A foreign SavedModel, one without signatures and a truncated one."""
    import tensorflow as tf

    root = tmp_path_factory.mktemp("bad_models")

    class Foreign(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def double(self, x):
            return {"doubled": 2.0 * x}

    foreign = Foreign()
    tf.saved_model.save(
        foreign, str(root / "foreign"), signatures={"serving_default": foreign.double}
    )
    bare = tf.Module()
    bare.weight = tf.Variable(1.0)
    tf.saved_model.save(bare, str(root / "no_signatures"))
    shutil.copytree(root / "foreign", root / "truncated")
    pb = root / "truncated" / "saved_model.pb"
    pb.write_bytes(pb.read_bytes()[:100])
    return root


def test_colorize_and_evaluate_refuse_bad_models(
    trained_run, bad_models, photo_folder, tmp_path, capsys
):
    from tfcolor.cli import colorize, evaluate

    for name in ("foreign", "no_signatures", "truncated"):
        model = str(bad_models / name)
        status = colorize.main(
            [str(photo_folder), "--model", model, "--output", str(tmp_path / "out")]
        )
        assert status == 2, name
        line = _one_line(capsys.readouterr().err)
        assert model in line and "\\x89PNG" not in line, line
        status = evaluate.main(
            ["--model", model, "--data", f"folder:{photo_folder}", "--output", str(tmp_path / "e")]
        )
        assert status == 2, name
        assert model in _one_line(capsys.readouterr().err)

    # A model_dir whose newest export is broken falls back to the newest that loads.
    colorizer, export = trained_run
    run = tmp_path / "run"
    good = run / "export" / os.path.basename(export)
    shutil.copytree(export, good)
    newer = run / "export" / str(int(os.path.basename(export)) + 10)
    shutil.copytree(export, newer)
    (newer / "saved_model.pb").write_bytes(b"\x08\x01 truncated")
    status = colorize.main(
        [str(photo_folder), "--model", str(run), "--output", str(tmp_path / "o")]
    )
    captured = capsys.readouterr()
    assert status == 0
    (warning,) = [line for line in captured.err.splitlines() if "tfcolor" in line]
    assert "Traceback" not in captured.err
    assert "warning" in warning and str(newer) in warning and str(good) in warning
    assert f"with {good}" in captured.out

    # A corrupt config.json in the model_dir: evaluate names the file in one line.
    shutil.copy(os.path.join(colorizer.model_dir, "config.json"), run / "config.json")
    (run / "config.json").write_text('{"data": ')
    status = evaluate.main(["--model", str(run), "--output", str(tmp_path / "e")])
    assert status == 2
    assert str(run / "config.json") in _one_line(capsys.readouterr().err)


def test_evaluate_outputs(trained_run, photos, tmp_path, capsys):
    """A folder of 7 real photos is measured whole (the README's evaluate example), and the
    results never land on the data or through a symlink."""
    import json

    import numpy as np
    from PIL import Image

    from tfcolor.cli import evaluate

    _, export = trained_run
    test_photos = tmp_path / "test_photos"
    test_photos.mkdir()
    import skimage.data

    extra = {"rocket": skimage.data.rocket(), "ihc": skimage.data.immunohistochemistry()}
    for name, image in {**photos, **extra}.items():
        small = np.asarray(Image.fromarray(image).resize((48, 40)))
        (test_photos / f"{name}.jpg").write_bytes(encode(small))
    assert len(os.listdir(test_photos)) == 7

    output = tmp_path / "eval"
    output.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (output / "metrics.json").symlink_to(victim)
    argv = ["--model", export, "--data", f"folder:{test_photos}", "--output", str(output)]
    assert evaluate.main(argv) == 0
    assert "7 images of folder:" in capsys.readouterr().out
    report = json.loads((output / "metrics.json").read_text())
    assert report["images"] == 7 and report["split"] == "all"
    assert victim.read_text() == "keep me"
    assert not (output / "metrics.json").is_symlink()
    assert sorted(os.listdir(output)) == ["ab_error_curve.png", "contact_sheet.png", "metrics.json"]

    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    for bad, words in [
        (a_file, "is a file"),
        (test_photos / "eval", "lies inside the input"),
        (tmp_path, "holds the input"),
    ]:
        status = evaluate.main(argv[:4] + ["--output", str(bad)])
        assert status == 2, bad
        assert words in _one_line(capsys.readouterr().err)
    assert a_file.read_text() == "not a folder"
    assert sorted(os.listdir(test_photos)) == sorted(f"{name}.jpg" for name in {**photos, **extra})


def test_refine_output_dir_that_is_a_file(trained_run, tmp_path, capsys):
    from tfcolor.cli import refine

    colorizer, _ = trained_run
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    for bad, words in [(a_file, "is a file"), (colorizer.model_dir, "is the input")]:
        status = refine.main(["--model-dir", colorizer.model_dir, "--output-dir", str(bad)])
        assert status == 2
        assert words in _one_line(capsys.readouterr().err)
    assert a_file.read_text() == "not a folder"


_WITHOUT_BEAM = (
    "import runpy, sys; sys.modules['apache_beam'] = None; "
    "sys.argv = ['tfcolor.preprocess', *sys.argv[1:]]; "
    "runpy.run_module('tfcolor.preprocess', run_name='__main__')"
)


def test_preprocess_without_beam(tmp_path):
    helped = run_python(["-c", _WITHOUT_BEAM, "--help"], timeout=120)
    assert helped.returncode == 0 and "--output" in helped.stdout, helped.stderr
    result = run_python(["-c", _WITHOUT_BEAM, str(tmp_path), "--output", str(tmp_path / "o")])
    assert result.returncode == 2
    assert "Apache Beam" in _one_line(result.stderr)


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs")
def test_preprocess_output_not_its_input(tmp_path, capsys):
    pytest.importorskip("apache_beam")
    from tfcolor.cli import preprocess

    for output in (tmp_path, tmp_path / "inside"):
        assert preprocess.main([str(tmp_path), "--output", str(output)]) == 2
        assert "input" in _one_line(capsys.readouterr().err)


def test_train_export_failure_is_one_line(tmp_path, monkeypatch, capsys):
    """A trained run whose export fails (an unwritable folder, a bound it cannot serve) ends
    with one line and exit status 2, not a traceback."""
    import tfcolor.training.colorizer
    from tfcolor.cli import train

    class Trained:
        is_chief, epochs_done, warm_start = True, 1, None

        def __init__(self, config, model_dir, strategy=None):
            self.model_dir = model_dir

        def train(self, verbose=None):
            return {"loss": [1.0]}

        def evaluate(self):
            return {"loss": 1.0}

        def export_saved_model(self):
            raise ValueError("render_size must be in [0, 1024]. Received: render_size=1100")

    monkeypatch.setattr(tfcolor.training.colorizer, "Colorizer", Trained)
    assert train.main(["--model-dir", str(tmp_path / "run")]) == 2
    captured = capsys.readouterr()
    assert _one_line(captured.err).startswith("tfcolor.train: error: export failed: render_size")


def test_atomic_write_refused_through_a_symlink_leaves_nothing_behind(tmp_path):
    """A result below a symlinked folder that leads out of the output is refused before any
    folder is made where the link points."""
    from tfcolor.cli import common as cli

    output, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    output.mkdir()
    elsewhere.mkdir()
    (output / "sub").symlink_to(elsewhere)
    with pytest.raises(OSError, match="leads outside"):
        cli.write_atomic(str(output / "sub" / "deeper" / "x.png"), b"png", str(output))
    assert os.listdir(elsewhere) == []
    cli.write_atomic(str(output / "inner" / "x.png"), b"png", str(output))
    assert (output / "inner" / "x.png").read_bytes() == b"png"
