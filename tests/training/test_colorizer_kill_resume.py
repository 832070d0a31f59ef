"""Issue 14, "safe to kill": `python -m tfcolor.train` killed with SIGKILL at any moment, a
backup write included, resumes where its backup stands and trains exactly the requested steps;
a truncated or half-written backup costs one warning line, never a traceback."""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from tests.helpers import REPO, png_folder, run_python, smoke_preset

EPOCHS, STEPS = 2, 6


def _command(model_dir, validation, *extra):
    # A folder of 16 images (not the 2,664 generated shapes): each restart starts faster.
    train = png_folder(model_dir.parent / "train", 16, seed=2)
    return [
        "-m",
        "tfcolor.train",
        "--model-dir",
        str(model_dir),
        "--preset",
        "unet_mse",
        "--data",
        f"folder:{train}",
        "--validation-data",
        f"folder:{validation}",
        "--epochs",
        str(EPOCHS),
        "--steps-per-epoch",
        str(STEPS),
        "--batch-size",
        "4",
        "--filters",
        "4,8",
        "--backup-every-steps",
        "1",
        "--metric-images",
        "0",
        "--no-export",
        "--verbose",
        "0",
        *extra,
    ]


def _iterations(weights_path) -> int:
    """The optimizer's step count stored in a weights file (Keras 3's layout)."""
    import h5py

    with h5py.File(weights_path, "r") as f:
        return int(f["optimizer/vars/0"][()])


def _assert_same_weights(weights, model):
    """`model`'s weights equal `weights` (a list from `get_weights()`), array by array."""
    for expected, actual in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(expected, actual)


def _state(model_dir):
    try:
        return json.loads((model_dir / "backup" / "training_metadata.json").read_text())
    except (OSError, ValueError):
        return None


def _kill_when(command, ready, timeout=240):
    """Starts `python command`, SIGKILLs it once `ready()` is true; returns whether it was
    killed (False: it finished first)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    process = subprocess.Popen(
        [sys.executable, *command],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + timeout
    try:
        while process.poll() is None and time.time() < deadline:
            if ready():
                process.send_signal(signal.SIGKILL)
                process.wait()
                return True
            time.sleep(0.001)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return False


def _finish(command):
    result = run_python(command, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    return result


@pytest.mark.reliability
@pytest.mark.slow
def test_sigkill_at_many_points_resumes_and_trains_every_step_once(tmp_path):
    model_dir = tmp_path / "run"
    validation = png_folder(tmp_path / "validation", 8)
    command = _command(model_dir, validation)
    rng = random.Random(14)
    total = EPOCHS * STEPS
    incomplete = model_dir / "backup" / ".latest.incomplete.weights.h5"
    kills, seen = 0, []

    def progressed_by(steps):
        def ready():
            state = _state(model_dir)
            return state is not None and state["epoch"] * STEPS + state["steps"] >= steps

        return ready

    # Seeded kill points spread over the run (in trained steps), and one inside a backup
    # write: the moment its temporary weights file exists.
    points = sorted(rng.sample(range(2, total - 1), 3))
    plans = [progressed_by(points[0]), lambda: incomplete.exists()]
    plans += [progressed_by(point) for point in points[1:]]
    for ready in plans:
        # A kill inside a write leaves its temporary file (the next write replaces it); gone,
        # it cannot set off the in-write kill before that run writes one of its own.
        incomplete.unlink(missing_ok=True)
        if _kill_when(command, ready):
            kills += 1
        state = _state(model_dir)
        if state:
            seen.append(state["epoch"] * STEPS + state["steps"])
    assert kills == 4, f"only {kills} kills landed before the run ended"
    assert seen == sorted(seen), f"a restart went back: {seen}"

    result = _finish(command)
    assert f"epochs trained: {EPOCHS}" in result.stdout
    # Every step trained exactly once: a restart continues inside its epoch.
    assert _iterations(model_dir / "final.weights.h5") == total
    assert not list((model_dir / "backup").glob(".*incomplete*"))


class _Interrupt(Exception):
    """Stands for a kill: raised after the run's backup of a step was written."""


class _StopAt(keras.callbacks.Callback):
    """Raises `_Interrupt` at the end of step `step` (1-based) of epoch `epoch` (0-based)."""

    def __init__(self, epoch: int, step: int):
        super().__init__()
        self._at, self._epoch = (epoch, step), 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self._epoch, batch + 1) == self._at:
            raise _Interrupt


class _StepsPerEpoch(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.steps = {}

    def on_train_batch_end(self, batch, logs=None):
        self.steps[self._epoch] = self.steps.get(self._epoch, 0) + 1

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch


def _interrupted_run(model_dir, epoch: int, step: int):
    """A run of 2 epochs of 6 steps, backed up every step, stopped after `step` of `epoch`."""
    from tfcolor.training.colorizer import Colorizer

    config = smoke_preset("unet_mse", epochs=2, steps_per_epoch=6, backup_every_steps=1)
    config.train.lr_schedule = "cosine"
    config.model.filters = (4, 8)
    validation = png_folder(model_dir.parent / f"{model_dir.name}_validation", 4)
    config.data.validation_source = f"folder:{validation}"
    with pytest.raises(_Interrupt):
        Colorizer(config, str(model_dir)).train(verbose=0, callbacks=[_StopAt(epoch, step)])
    return config


def _resume(config, model_dir):
    from tfcolor.training.colorizer import Colorizer

    counter = _StepsPerEpoch()
    colorizer = Colorizer(config, str(model_dir))
    colorizer.train(verbose=0, callbacks=[counter])
    return colorizer, counter.steps


@pytest.mark.reliability
def test_resume_trains_only_the_rest_of_the_interrupted_epoch(tmp_path):
    tmp_path = tmp_path / "run"
    config = _interrupted_run(tmp_path, epoch=1, step=4)
    state = json.loads((tmp_path / "backup" / "training_metadata.json").read_text())
    assert (state["epoch"], state["steps"]) == (1, 4)
    colorizer, steps = _resume(config, tmp_path)
    # Epoch 2's last 2 steps, not its 6 again; the step count (and with it the cosine
    # schedule) continues from the backup.
    assert steps == {1: 2}
    assert int(colorizer.model.optimizer.iterations) == 12
    assert _iterations(tmp_path / "final.weights.h5") == 12
    assert colorizer.epochs_done == 2


@pytest.mark.reliability
def test_truncated_and_half_written_backups_fall_back_with_one_warning(tmp_path, caplog):
    from tfcolor.training.colorizer import Colorizer

    tmp_path = tmp_path / "run"
    config = _interrupted_run(tmp_path, epoch=1, step=3)
    backup = tmp_path / "backup"
    latest = backup / "latest.weights.h5"
    assert _iterations(backup / "previous.weights.h5") == 8
    # The newest state truncated, as a kill or a full disk leaves it, and a half-written
    # temporary file beside it.
    os.truncate(latest, latest.stat().st_size // 2)
    (backup / ".latest.incomplete.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    caplog.set_level(logging.WARNING)
    colorizer, steps = _resume(config, tmp_path)
    warnings = [r.getMessage() for r in caplog.records if str(latest) in r.getMessage()]
    assert len(warnings) == 1 and "unreadable" in warnings[0], warnings
    # Resumed from the previous state (step 2 of epoch 2): 4 steps, none twice.
    assert steps == {1: 4}
    assert _iterations(tmp_path / "final.weights.h5") == 12

    # Every file of the backup spoiled: the run opens, evaluates and continues from its final
    # weights, which carry their epoch, with a warning per file.
    for name in ("latest.weights.h5", "previous.weights.h5"):
        (backup / name).write_bytes(b"not hdf5")
    caplog.clear()
    reopened = Colorizer(None, str(tmp_path))
    assert reopened.epochs_done == 2
    reopened.evaluate(steps=1, images=0)
    named = {r.getMessage().split()[2] for r in caplog.records if "unreadable" in r.getMessage()}
    assert named == {str(backup / "latest.weights.h5"), str(backup / "previous.weights.h5")}
    np.testing.assert_array_equal(reopened.model.get_weights()[0], colorizer.model.get_weights()[0])
    config.train.epochs = 3
    colorizer, steps = _resume(config, tmp_path)
    assert steps == {2: 6}
    assert _iterations(tmp_path / "final.weights.h5") == 18


@pytest.mark.reliability
def test_best_weights_and_record_are_replaced_whole(tmp_path):
    tmp_path = tmp_path / "run"
    _interrupted_run(tmp_path, epoch=1, step=1)
    assert (tmp_path / "best.weights.h5").exists()
    record = json.loads((tmp_path / "best.weights.h5.json").read_text())
    assert record["epoch"] == 1
    assert not list(tmp_path.glob(".*incomplete*")) and not list(tmp_path.glob("*.incomplete"))
    # A record spoiled anyway: one warning, and the next run starts with no best (as Keras).
    from tfcolor.training.callbacks import BestCheckpoint

    (tmp_path / "best.weights.h5.json").write_text('{"val_loss": ')
    assert BestCheckpoint(str(tmp_path / "best.weights.h5")).best is None


class _KillInValidation(keras.callbacks.Callback):
    """Raises `_Interrupt` when the validation of epoch `epoch` (0-based) begins: after the
    backup of the epoch's last step, before its end-of-epoch state."""

    def __init__(self, epoch: int):
        super().__init__()
        self._at, self._epoch = epoch, 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_test_begin(self, logs=None):
        if self._epoch == self._at:
            raise _Interrupt


@pytest.mark.reliability
def test_a_kill_after_the_last_steps_backup_leaves_a_finished_run(tmp_path):
    from tfcolor.training import run_dir
    from tfcolor.training.colorizer import Colorizer

    model_dir = tmp_path / "run"
    config = smoke_preset("unet_mse", epochs=2, steps_per_epoch=6, backup_every_steps=1)
    config.model.filters = (4, 8)
    config.data.validation_source = f"folder:{png_folder(tmp_path / 'validation', 4)}"
    with pytest.raises(_Interrupt):
        Colorizer(config, str(model_dir)).train(verbose=0, callbacks=[_KillInValidation(1)])
    assert (_state(model_dir)["epoch"], _state(model_dir)["steps"]) == (1, 6)
    assert not (model_dir / "final.weights.h5").exists()
    for _ in range(2):
        colorizer, steps = _resume(config, model_dir)
        assert steps == {}
        # The epoch-end state written: the run reads as finished, and stays so.
        assert colorizer.epochs_done == 2
        state = run_dir.backup_states(str(model_dir / "backup"))[0]
        assert (state.epoch, state.steps) == (1, 6)
        assert colorizer.run_dir.states()[0] == (str(model_dir / "final.weights.h5"), 2, 0)
        assert _iterations(model_dir / "final.weights.h5") == 12


@pytest.mark.reliability
def test_the_same_kill_on_data_of_unknown_length_is_no_error(tmp_path):
    import tensorflow as tf

    from tfcolor.training.colorizer import Colorizer

    config = smoke_preset("unet_mse", epochs=2, backup_every_steps=1)
    config.train.steps_per_epoch = None
    config.model.filters = (4, 8)
    rng = np.random.default_rng(0)
    x = rng.random((24, 32, 32, 1), dtype=np.float32)
    y = rng.random((24, 32, 32, 2), dtype=np.float32)

    def input_fn():
        # filter: a dataset whose length TensorFlow cannot tell.
        data = tf.data.Dataset.from_tensor_slices((x, y)).filter(lambda a, b: True)
        return data.batch(4, drop_remainder=True)

    def validation_fn():
        return input_fn().take(1)

    model_dir = tmp_path / "run"
    with pytest.raises(_Interrupt):
        Colorizer(config, str(model_dir)).train(
            input_fn, validation_fn=validation_fn, verbose=0, callbacks=[_KillInValidation(1)]
        )
    assert (_state(model_dir)["epoch"], _state(model_dir)["steps"]) == (1, 6)
    before = Colorizer(None, str(model_dir)).model.get_weights()
    for _ in range(2):
        colorizer = Colorizer(config, str(model_dir))
        colorizer.train(input_fn, validation_fn=validation_fn, verbose=0)
        assert colorizer.epochs_done == 2
        assert (model_dir / "final.weights.h5").exists()
        _assert_same_weights(before, colorizer.model)  # no step trained again


@pytest.mark.reliability
def test_final_weights_win_a_tie_with_the_backup(tmp_path):
    from tfcolor.training.colorizer import Colorizer

    model_dir = tmp_path / "run"
    config = smoke_preset("unet_mse", epochs=3, steps_per_epoch=4, backup_every_steps=100)
    config.model.filters = (4, 8)
    # Stops after epoch 2 and puts back epoch 1's weights: final and backup both at (2, 0).
    stop = keras.callbacks.EarlyStopping(
        monitor="loss", mode="max", patience=0, restore_best_weights=True
    )
    colorizer = Colorizer(config, str(model_dir))
    colorizer.train(verbose=0, callbacks=[stop])
    assert stop.stopped_epoch == 1
    final = str(model_dir / "final.weights.h5")
    assert colorizer.run_dir.states()[0] == (final, 2, 0)
    _assert_same_weights(colorizer.model.get_weights(), Colorizer(None, str(model_dir)).model)


@pytest.mark.reliability
def test_a_stop_inside_an_epoch_gives_the_final_weights_its_position(tmp_path):
    model_dir = tmp_path / "run"
    config = smoke_preset("unet_mse", epochs=2, steps_per_epoch=6, backup_every_steps=2)
    config.model.filters = (4, 8)

    class StopAtStep3(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                self.model.stop_training = True

    from tfcolor.training.colorizer import Colorizer

    colorizer = Colorizer(config, str(model_dir))
    colorizer.train(verbose=0, callbacks=[StopAtStep3()])
    # Newer than the backup of step 2: the run resumes after step 3.
    assert colorizer.run_dir.states()[0] == (str(model_dir / "final.weights.h5"), 0, 3)
    _, steps = _resume(config, model_dir)
    assert steps == {0: 3, 1: 6}
    assert _iterations(model_dir / "final.weights.h5") == 12


@pytest.mark.reliability
def test_an_unreadable_latest_state_is_not_kept_as_the_previous(tmp_path):
    from tfcolor.training import run_dir

    model_dir = tmp_path / "run"
    config = _interrupted_run(model_dir, epoch=1, step=3)
    latest = model_dir / "backup" / "latest.weights.h5"
    os.truncate(latest, latest.stat().st_size // 2)
    from tfcolor.training.colorizer import Colorizer

    with pytest.raises(_Interrupt):
        Colorizer(config, str(model_dir)).train(verbose=0, callbacks=[_StopAt(1, 1)])
    states = run_dir.backup_states(str(model_dir / "backup"))
    # The good state it resumed from (step 2) stays as the previous one.
    assert [(os.path.basename(s.path), s.epoch, s.steps) for s in states] == [
        ("latest.weights.h5", 1, 3),
        ("previous.weights.h5", 1, 2),
    ]


@pytest.mark.reliability
def test_final_weights_from_before_the_state_take_the_metadata_epoch(tmp_path):
    """A run folder written before the weights files carried their state: its final weights,
    written after its last backup, stand for the backup metadata's epoch."""
    from tfcolor.training import run_dir

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    backup = tmp_path / "backup"
    backup.mkdir()
    metadata = backup / "training_metadata.json"
    metadata.write_text(json.dumps({"epoch": 2, "batch": 5}))
    (backup / "latest.weights.h5").write_bytes(b"truncated")
    final, best = str(tmp_path / "final.weights.h5"), str(tmp_path / "best.weights.h5")
    model.save_weights(final)
    model.save_weights(best)
    old = os.path.getmtime(metadata) - 10
    os.utime(best, (old, old))

    def states():
        found = run_dir.backup_states(str(backup), [final, best], [final])
        return [(os.path.basename(s.path), s.epoch, s.steps) for s in found]

    assert states() == [("final.weights.h5", 2, 0)]
    # Older than the metadata (not the run's last write), or metadata that do not read: no
    # state, no error.
    os.utime(final, (old, old))
    assert states() == []
    os.utime(final)
    metadata.write_text('{"epoch": ')
    assert states() == []
