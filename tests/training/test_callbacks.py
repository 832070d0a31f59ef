"""`tfcolor.training.callbacks`: the NaN stop and the backup that it keeps from saving a
diverged model (the two callbacks share the `StopOnNaN`, not an attribute on the model)."""

from __future__ import annotations

import os

import keras
import numpy as np

from tfcolor.training import callbacks as callbacks_lib
from tfcolor.training import run_dir


def _fit(backup_dir, values, stop_on_nan=None, save_freq=1):
    """A linear model fitted one epoch on batches of one example whose target is `values`
    (a NaN target makes that step's loss NaN)."""
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    stop = stop_on_nan or callbacks_lib.StopOnNaN()
    backup = callbacks_lib.Backup(backup_dir, save_freq, restore=False, stop_on_nan=stop_on_nan)
    x = np.ones((len(values), 1), np.float32)
    y = np.asarray(values, np.float32)[:, None]
    model.fit(x, y, batch_size=1, epochs=1, callbacks=[stop, backup], verbose=0, shuffle=False)
    return model, stop, backup


def test_a_nan_loss_stops_training_and_leaves_the_last_finite_backup(tmp_path):
    stop = callbacks_lib.StopOnNaN()
    _, stop, backup = _fit(str(tmp_path), [1.0, 2.0, np.nan, 3.0], stop_on_nan=stop)
    assert stop.where == (1, 3)  # epoch 1, step 3
    # The backup stands at the last finite step: epoch 0 unfinished, 2 steps trained.
    (state, *_) = run_dir.backup_states(str(tmp_path))
    assert (state.epoch, state.steps) == (0, 2)
    assert backup.steps_trained == 3


def test_the_backup_saves_nothing_once_its_stop_on_nan_has_seen_a_nan(tmp_path):
    stop = callbacks_lib.StopOnNaN()
    stop.where = (1, 1)  # as if this fit had diverged already
    _fit(str(tmp_path / "told"), [1.0, 2.0], stop_on_nan=stop, save_freq=100)
    assert not os.path.exists(tmp_path / "told" / "latest.weights.h5")
    # Without a StopOnNaN to listen to, the same epoch's end is backed up.
    _fit(str(tmp_path / "alone"), [1.0, 2.0], save_freq=100)
    (state,) = run_dir.backup_states(str(tmp_path / "alone"))
    assert (state.epoch, state.steps) == (1, 0)


def test_reporting_callbacks_run_in_order_and_write_the_panels_samples(tmp_path):
    panel = [np.full((8, 8, 3), value, np.uint8) for value in (10, 200)]
    common = dict(batch_size=4, hparams={"model.name": "unet"}, trial_id="run")
    callbacks = callbacks_lib.reporting_callbacks(
        str(tmp_path / "logs"),
        **common,
        measure=lambda: {"psnr": 30.0},
        panel=panel,
        colorize=lambda images: images,
        samples_dir=str(tmp_path / "samples"),
    )
    # The image metrics before TensorBoard, which writes the val_ values they add.
    assert [type(callback).__name__ for callback in callbacks] == [
        "Throughput",
        "HyperParameters",
        "ImageMetrics",
        "TensorBoard",
        "ImagePanel",
    ]
    assert sorted(os.listdir(tmp_path / "samples")) == ["000.png", "001.png"]
    bare = callbacks_lib.reporting_callbacks(str(tmp_path / "bare"), **common)
    assert [type(callback).__name__ for callback in bare] == [
        "Throughput",
        "HyperParameters",
        "TensorBoard",
    ]
