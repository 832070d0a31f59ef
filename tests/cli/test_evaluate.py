"""`tfcolor.evaluation.measure` and `python -m tfcolor.evaluate`, end to end on a trained run."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from tests.helpers import run_python
from tfcolor.evaluation import measure as evaluation


def _image_of_colour(rgb, count=2, size=8):
    return np.broadcast_to(np.asarray(rgb, np.uint8), (count, size, size, 3)).copy()


def test_measure_perfect_and_gray_predictions():
    truth = np.concatenate([_image_of_colour((200, 30, 30)), _image_of_colour((30, 30, 200))])
    perfect = evaluation.measure(lambda batch: batch, [truth[:3], truth[3:]])
    assert perfect.images == 4
    assert perfect.results["auc"] == pytest.approx(1.0)
    assert perfect.results["colorfulness"] == pytest.approx(perfect.results["colorfulness_true"])
    # The gray baseline of saturated colours is far off; a gray prediction scores exactly it.
    gray = evaluation.measure(evaluation.gray_images, [truth])
    assert gray.results["auc"] == pytest.approx(gray.results["gray_auc"], abs=1e-3)
    assert gray.results["auc"] < 0.7
    assert gray.results["colorfulness"] < 1.0
    np.testing.assert_allclose(perfect.gray_curve, gray.curve, atol=1e-3)


def test_measure_rejects_no_images():
    with pytest.raises(ValueError, match="no images"):
        evaluation.measure(lambda batch: batch, [])


def test_contact_sheet_layout():
    truth = _image_of_colour((255, 0, 0), count=5, size=4)
    predicted = _image_of_colour((0, 255, 0), count=5, size=4)
    sheet = evaluation.contact_sheet(truth, predicted, columns=2, gap=1)
    # 3 rows of 2 triplets, each triplet 3 * 4 wide, 1 px gaps between triplets.
    assert sheet.shape == (3 * 5 - 1, 2 * 13 - 1, 3)
    np.testing.assert_array_equal(sheet[0, 4], [0, 255, 0])  # predicted, first triplet
    np.testing.assert_array_equal(sheet[0, 8], [255, 0, 0])  # truth
    gray = sheet[0, 0]
    assert gray[0] == gray[1] == gray[2]  # the model's view: lightness only
    np.testing.assert_array_equal(sheet[-1, -1], [255, 255, 255])  # no sixth image
    with pytest.raises(ValueError, match="one shape"):
        evaluation.contact_sheet(truth, predicted[:2])


@pytest.mark.slow
def test_evaluate_command_on_a_run_and_its_export(trained_run, tmp_path):
    colorizer, export = trained_run
    output = tmp_path / "from_run"
    result = run_python(
        [
            "-m",
            "tfcolor.evaluate",
            "--model",
            colorizer.model_dir,
            "--limit",
            "40",
            "--temperature",
            "0,1",
            "--sheet-images",
            "12",
            "--output",
            str(output),
        ]
    )
    assert result.returncode == 0, result.stderr
    assert "T=0" in result.stdout and "T=1" in result.stdout and "gray" in result.stdout
    report = json.loads((output / "metrics.json").read_text())
    assert report["images"] == 40 and report["image_size"] == 32
    assert report["gamut"] == "chroma"  # the run's default
    for setting in ("T=0", "T=1"):
        values = report["results"][setting]
        for name in ("psnr", "ssim", "auc", "auc_rebalanced", "colorfulness", "gray_auc"):
            assert np.isfinite(values[name]), (setting, name)
    assert len(report["ab_error_curve"]["gray"]) == 151

    from PIL import Image

    with Image.open(output / "contact_sheet.png") as sheet:
        # 12 images of 32 px: 2 triplets a row (about square), 6 rows, 2 px gaps.
        assert sheet.format == "PNG"
        assert sheet.size == (2 * (3 * 32 + 2) - 2, 6 * (32 + 2) - 2)
    with Image.open(output / "ab_error_curve.png") as plot:
        assert plot.format == "PNG" and plot.size[0] > 300

    # The export gives the same numbers as the run at its default temperature.
    from_export = tmp_path / "from_export"
    result = run_python(
        [
            "-m",
            "tfcolor.evaluate",
            "--model",
            export,
            "--limit",
            "40",
            "--gamut",
            "chroma",  # the export's own: accepted
            "--output",
            str(from_export),
        ]
    )
    assert result.returncode == 0, result.stderr
    exported = json.loads((from_export / "metrics.json").read_text())["results"]["model"]
    run_t0 = report["results"]["T=0"]  # the run's codec decodes at T = 0
    for name in ("psnr", "auc", "gray_auc"):
        assert exported[name] == pytest.approx(run_t0[name], rel=1e-3), name


def test_evaluate_command_errors(trained_run, tmp_path):
    colorizer, export = trained_run
    missing = run_python(["-m", "tfcolor.evaluate", "--model", str(tmp_path / "nothing")])
    assert missing.returncode == 2 and "no such folder" in missing.stderr
    bad_data = run_python(
        ["-m", "tfcolor.evaluate", "--model", export, "--data", f"folder:{tmp_path}/none"]
    )
    assert bad_data.returncode == 2 and "none" in bad_data.stderr
    assert "Traceback" not in bad_data.stderr
    bad_temperature = run_python(
        ["-m", "tfcolor.evaluate", "--model", export, "--temperature", "x"]
    )
    assert bad_temperature.returncode == 2 and "--temperature" in bad_temperature.stderr
    assert os.path.isdir(colorizer.model_dir)


def test_balanced_auc_only_for_codecs_with_colour_classes():
    from tfcolor import codecs
    from tfcolor.config import CodecConfig

    truth = np.concatenate([_image_of_colour((200, 30, 30)), _image_of_colour((30, 30, 200))])
    regression = codecs.make_codec(CodecConfig(name="regression", rebalance=None))
    measured = evaluation.measure(lambda batch: batch, [truth], regression.pixel_class_weights)
    assert "auc_rebalanced" not in measured.results
    grid = codecs.make_codec(CodecConfig(name="grid", n_bins=36))
    grid.fit([np.asarray([[[[60.0, 40.0]], [[-20.0, -50.0]], [[0.0, 0.0]]]], np.float32)])
    measured = evaluation.measure(evaluation.gray_images, [truth], grid.pixel_class_weights)
    # Weighted or not, a gray prediction of two saturated colours misses every pixel by the
    # same distances; both AuCs are finite and the weighted one is defined.
    assert np.isfinite(measured.results["auc_rebalanced"])
    assert measured.results["gray_auc_rebalanced"] == pytest.approx(
        measured.results["auc_rebalanced"], abs=1e-3
    )


def test_own_data_is_recognised_by_its_folder(tmp_path, monkeypatch):
    """--data naming the run's folder with a trailing slash, a relative path or a symlink is
    the run's own data (measured on its validation split), not a foreign source."""
    from tfcolor.cli.evaluate import _same_source

    folder = tmp_path / "photos"
    folder.mkdir()
    (tmp_path / "link").symlink_to(folder)
    monkeypatch.chdir(tmp_path)
    own = f"folder:{folder}"
    for same in (f"folder:{folder}/", "folder:photos", "folder:./photos/", "folder:link"):
        assert _same_source(same, own), same
    for other in (f"video:{folder}", "folder:elsewhere", "shapes", None):
        assert not _same_source(other, own), other
    assert _same_source("shapes", "shapes") and _same_source("tfds:cifar10", "tfds:cifar10")


def test_evaluate_export_bounds_are_one_line(trained_run, tmp_path, capsys):
    """An out-of-range --render-size names the export's bound, not "Graph execution error";
    a temperature over 1 is a flag error."""
    from tfcolor.cli import evaluate

    _, export = trained_run
    output = str(tmp_path / "out")
    status = evaluate.main(["--model", export, "--render-size", "2000", "--output", output])
    err = capsys.readouterr().err
    assert status == 2 and "Graph execution error" not in err, err
    assert (
        "render_size must be between 0 and the side of the render budget" in err and "2000" in err
    )
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main(["--model", export, "--temperature", "0,2", "--output", output])
    assert exit_info.value.code == 2
    assert "between 0 and 1" in capsys.readouterr().err
    # The export bakes its gamut mapping in (the run's default, chroma): another needs the run.
    status = evaluate.main(["--model", export, "--gamut", "clip", "--output", output])
    err = capsys.readouterr().err
    assert status == 2 and "renders with chroma baked in" in err, err
