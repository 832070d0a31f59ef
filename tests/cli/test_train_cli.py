"""`python -m tfcolor.train`: flag errors in one line, and a run killed with SIGKILL resumes."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers import REPO, run_python


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--epochs", "-3"], "--epochs"),
        (["--bins", "37"], "n_bins=37"),
        (["--image-size", "30"], "image_size=30"),
        (["--preset", "nope"], "nope"),
        (["--filters", "8,x"], "8,x"),
        (["--output-stride", "3"], "output_stride=3"),
        (["--model", "iizuka", "--filters", "8,16"], "--filters"),
        (["--model", "backbone_fusion", "--classify"], "classify"),
        (["--backbone-weights", "/no/such.h5"], "/no/such.h5"),
        (["--preset", "iizuka", "--global-size", "100"], "global_size=100"),
    ],
)
def test_bad_flags_give_one_line(flags, message, tmp_path):
    result = run_python(["-m", "tfcolor.train", "--model-dir", str(tmp_path), *flags])
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert message in result.stderr.strip().splitlines()[-1]


def test_missing_data_folder_gives_one_line(tmp_path):
    missing = tmp_path / "no_such_folder"
    result = run_python(
        [
            "-m",
            "tfcolor.train",
            "--model-dir",
            str(tmp_path / "run"),
            "--data",
            f"folder:{missing}",
        ],
        timeout=300,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert str(missing) in result.stderr


def test_help_lists_presets():
    result = run_python(["-m", "tfcolor.train", "--help"])
    assert result.returncode == 0
    for preset in ("unet_shapes", "unet_128", "unet_cifar", "unet_mse", "unet_gamut"):
        assert preset in result.stdout
    for preset in ("iizuka", "iizuka_cls", "iizuka_basic", "unet_global", "backbone_fusion"):
        assert preset in result.stdout


def test_flags_reach_the_config():
    from tfcolor.cli.train import build_parser, config_from_args

    parser = build_parser()
    config = config_from_args(
        parser.parse_args(
            ["--codec", "gamut", "--model", "iizuka", "--classify", "--output-stride", "2"]
        )
    )
    assert (config.codec.name, config.codec.decode, config.codec.temperature) == (
        "gamut",
        "annealed_mean",
        0.38,
    )
    assert (config.model.name, config.model.classify, config.model.output_stride) == (
        "iizuka",
        True,
        2,
    )
    config = config_from_args(
        parser.parse_args(["--preset", "backbone_fusion", "--backbone-weights", "none"])
    )
    assert config.model.backbone_weights is None
    config = config_from_args(parser.parse_args(["--global-features", "learned"]))
    assert config.model.global_features == "learned"
    config = config_from_args(
        parser.parse_args(["--preset", "iizuka", "--simple-global", "--simple-global-width", "64"])
    )
    assert (config.model.simple_global, config.model.simple_global_width) == (True, 64)


def test_the_preset_follows_the_data_where_none_is_named(tmp_path):
    from tfcolor.cli.train import build_parser, config_from_args
    from tfcolor.config import smoke
    from tfcolor.training import run_dir

    parser = build_parser()
    notes = []
    config = config_from_args(parser.parse_args([]), announce=notes.append)
    assert (config.preset, config.data.image_size, notes) == ("unet_shapes", 32, [])
    # Real photos never take the shapes' 32x32 settings silently.
    config = config_from_args(parser.parse_args(["--data", "folder:/p"]), notes.append)
    assert (config.preset, config.data.image_size, config.data.source) == (
        "unet_128",
        128,
        "folder:/p",
    )
    assert len(notes) == 1 and "unet_128" in notes[0] and "folder:/p" in notes[0], notes
    for source in ("tfds:cifar10", "video:/v", "tfrecord:/r"):
        assert config_from_args(parser.parse_args(["--data", source])).preset == "unet_128"
    # A named preset wins, and says nothing.
    notes.clear()
    args = parser.parse_args(["--preset", "unet_mse", "--data", "folder:/p"])
    assert config_from_args(args, notes.append).preset == "unet_mse" and notes == []
    # An existing run continues with its own settings, the flags on top.
    saved = smoke("unet_gamut")
    saved.data.source = "folder:/p"
    run_dir.write_config(str(tmp_path), saved)
    args = parser.parse_args(["--model-dir", str(tmp_path), "--epochs", "5"])
    config = config_from_args(args, notes.append)
    assert (config.preset, config.codec.name, config.train.epochs) == (saved.preset, "gamut", 5)
    assert config.data == saved.data and str(tmp_path) in notes[0], notes


@pytest.mark.slow
def test_sigkill_mid_epoch_resumes_from_backup(tmp_path):
    model_dir = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "tfcolor.train",
        "--model-dir",
        str(model_dir),
        "--epochs",
        "3",
        "--steps-per-epoch",
        "24",
        "--backup-every-steps",
        "6",
        "--verbose",
        "2",
        "--no-export",
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    metadata = model_dir / "backup" / "training_metadata.json"
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.time() + 300
    state = None
    # Kill once epoch 1 is finished and a mid-epoch backup of epoch 2 has been written.
    while time.time() < deadline and process.poll() is None:
        if metadata.exists():
            try:
                state = json.loads(metadata.read_text())
            except json.JSONDecodeError:
                state = None
            if state and state["epoch"] == 1 and state["batch"] > 0:
                break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert state and state["epoch"] == 1, f"no mid-epoch backup seen: {state}"

    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    epochs_run = [line for line in result.stdout.splitlines() if line.startswith("Epoch ")]
    # Epoch 1 was finished before the kill and is not redone; epoch 2 restarts from its backup.
    assert epochs_run[0].startswith("Epoch 2/3"), result.stdout
    assert "epochs trained: 3" in result.stdout
