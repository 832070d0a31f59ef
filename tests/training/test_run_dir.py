"""The run directory (`tfcolor.training.run_dir`): the names on disk, the config read and
written, the weights files written whole with their state, and epochs done."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from tests.helpers import REPO, small_config
from tfcolor.training import run_dir


def test_the_names_on_disk_never_change():
    # Every model_dir ever written must still open: these are the names it holds.
    assert (run_dir.CONFIG, run_dir.FINAL_WEIGHTS, run_dir.BEST_WEIGHTS) == (
        "config.json",
        "final.weights.h5",
        "best.weights.h5",
    )
    assert run_dir.BEST_RECORD == "best.weights.h5.json"
    assert (run_dir.BACKUP_DIR, run_dir.BACKUP_WEIGHTS, run_dir.PREVIOUS_WEIGHTS) == (
        "backup",
        "latest.weights.h5",
        "previous.weights.h5",
    )
    assert run_dir.BACKUP_METADATA == "training_metadata.json"
    assert (run_dir.LOGS_DIR, run_dir.SAMPLES_DIR, run_dir.EXPORT_DIR, run_dir.EVAL_DIR) == (
        "logs",
        "samples",
        "export",
        "eval",
    )
    assert (
        run_dir.REFINE_BACKUP_DIR,
        run_dir.CRITIC_CONFIG,
        run_dir.CRITIC_WEIGHTS,
        run_dir.REFINEMENT_SETTINGS,
    ) == ("refine_backup", "critic.json", "critic.weights.h5", "refinement.json")


def test_names_the_lower_layers_use_are_the_same():
    # The export client (below training) owns the exports' folder name, which run_dir takes;
    # the codec names and writes its own files.
    from tfcolor import codecs
    from tfcolor.export import client

    assert client.EXPORT_DIR == run_dir.EXPORT_DIR
    assert (codecs.CONFIG_FILENAME, codecs.STATE_FILENAME) == ("codec.json", "codec_state.npz")


def test_importing_it_costs_no_tensorflow():
    code = "import sys, tfcolor.training.run_dir; assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=120)


def test_the_config_round_trips_and_a_folder_without_one_is_no_run(tmp_path):
    config = small_config()
    assert not run_dir.is_run(str(tmp_path)) and run_dir.read_config(str(tmp_path)) is None
    folder = tmp_path / "new" / "run"
    run_dir.write_config(str(folder), config)  # makes the folder
    assert run_dir.is_run(str(folder))
    assert run_dir.read_config(str(folder)) == config
    assert (folder / "config.json").read_text() == config.to_json()


def test_bad_config_files_and_unwritable_folders_are_named(tmp_path):
    (tmp_path / "config.json").write_text('{"data": ')
    with pytest.raises(ValueError, match="config.json"):
        run_dir.read_config(str(tmp_path))
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(ValueError, match="cannot write the run into model_dir"):
        run_dir.write_config(str(blocker / "run"), small_config())


def test_run_dir_paths_are_the_named_files(tmp_path):
    run = run_dir.RunDir(str(tmp_path / "run"))
    assert run.path == os.path.abspath(tmp_path / "run")
    assert run.config == os.path.join(run.path, "config.json")
    assert run.final_weights == os.path.join(run.path, "final.weights.h5")
    assert run.best_weights == os.path.join(run.path, "best.weights.h5")
    assert run.best_record == os.path.join(run.path, "best.weights.h5.json")
    assert run.backup == os.path.join(run.path, "backup")
    assert (run.logs, run.samples, run.export) == tuple(
        os.path.join(run.path, name) for name in ("logs", "samples", "export")
    )
    assert run.join("export", "1") == os.path.join(run.path, "export", "1")
    assert run.fallback_weights == [run.final_weights, run.best_weights]
    assert run.preferred_weights == [run.final_weights]
    assert not run.has_codec


def _model(value: float) -> keras.Model:
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="dense")])
    model.set_weights([np.full((2, 1), value, np.float32), np.zeros(1, np.float32)])
    return model


def test_epochs_done_follow_the_newest_readable_state(tmp_path):
    run = run_dir.RunDir(str(tmp_path))
    assert run.epochs_done == 0 and run.states() == []
    run_dir.save_backup(_model(1.0), run.backup, epoch=1, steps=3)
    run_dir.save_backup(_model(2.0), run.backup, epoch=2, steps=0)
    assert run_dir.epochs_done(run.backup) == run.epochs_done == 2
    # The state before is kept beside the latest, and the metadata repeat the latest.
    latest, previous = run.states()
    assert (latest.path, latest.epoch, latest.steps) == (
        os.path.join(run.backup, "latest.weights.h5"),
        2,
        0,
    )
    assert (previous.path, previous.epoch, previous.steps) == (
        os.path.join(run.backup, "previous.weights.h5"),
        1,
        3,
    )
    with open(os.path.join(run.backup, "training_metadata.json")) as f:
        assert json.load(f) == {"epoch": 2, "steps": 0, "batch": 0}
    # Final weights of the same state win the tie; a spoiled latest falls back on the others.
    run_dir.save_weights(_model(3.0), run.final_weights, epoch=2)
    assert run.states()[0].path == run.final_weights
    with open(os.path.join(run.backup, "latest.weights.h5"), "wb") as f:
        f.write(b"not hdf5")
    assert [state.epoch for state in run.states()] == [2, 1]
    model = _model(0.0)
    assert run_dir.load_first_readable(model, run.weights_to_restore()) == run.final_weights
    np.testing.assert_array_equal(model.get_weights()[0], np.full((2, 1), 3.0))


def test_a_weights_file_that_does_not_read_leaves_the_model_as_it_was(tmp_path):
    spoiled = tmp_path / "final.weights.h5"
    spoiled.write_bytes(b"truncated")
    model = _model(5.0)
    assert run_dir.load_first_readable(model, [str(spoiled)]) is None
    np.testing.assert_array_equal(model.get_weights()[0], np.full((2, 1), 5.0))
    assert run_dir.restore_backup(model, str(tmp_path / "backup")) is None


def test_a_write_cut_short_leaves_the_old_config(tmp_path, monkeypatch):
    # config.json (and refinement.json, critic.json) go through write_text: a kill between
    # the write and the rename leaves the previous file whole, never a truncated one that the
    # next resume cannot read.
    from tfcolor.config import get_preset
    from tfcolor.training import run_dir

    model_dir = str(tmp_path / "run")
    first = get_preset("unet_shapes")
    run_dir.write_config(model_dir, first)

    def killed(_):
        raise KeyboardInterrupt("killed before the rename")

    monkeypatch.setattr(run_dir.os, "fsync", killed)
    with pytest.raises(KeyboardInterrupt):
        run_dir.write_config(model_dir, get_preset("unet_128"))
    monkeypatch.undo()
    assert run_dir.read_config(model_dir) == first
    run_dir.write_json(str(tmp_path / "settings.json"), {"epochs": 5}, indent=2)
    assert (tmp_path / "settings.json").read_text() == '{\n  "epochs": 5\n}'
