"""Keras callbacks of a tfcolor training run: resume backup, NaN stop, throughput, image panel,
validation image metrics, hyperparameters.

The files they write are named and written by `training.run_dir`; a `StopOnNaN` is handed to
the `Backup` that must not save a diverged model (`Backup(..., stop_on_nan=...)`)."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from tfcolor.evaluation import measure as evaluation
from tfcolor.training import run_dir

__all__ = [
    "Backup",
    "BestCheckpoint",
    "HyperParameters",
    "ImageMetrics",
    "ImagePanel",
    "StopOnNaN",
    "Throughput",
    "flat_hparams",
    "reporting_callbacks",
]


def _finite(logs) -> bool:
    loss = (logs or {}).get("loss")
    return loss is None or math.isfinite(float(loss))


class Backup(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` that a kill cannot break, that resumes mid-epoch, keeps its backup
    and never backs up a diverged model.

    It saves every `save_freq` steps and at the end of every epoch (Keras' own class saves at
    only one of the two), and keeps the backup after training, so calling `train` again on the
    model_dir continues from it, as an Estimator did.

    A kill at any moment leaves a readable state: the weights are written to a temporary file
    and renamed into place, the previous state kept (`previous.weights.h5`) until then, and
    each weights file carries the (epoch, steps) it stands for (`run_dir.save_backup`,
    `run_dir.backup_states`). Restoring takes the newest state that reads whole, with one
    warning line per unreadable file.

    Args:
        backup_dir: where it writes the backup.
        save_freq: steps between backups.
        restore_dir: where it restores from when training starts (default `backup_dir`): a
            cluster's non-chief worker restores the chief's backup and writes its own copy
            elsewhere, so every worker resumes from the same state.
        restore: False leaves the restoring to the caller (`run_dir.restore_backup`), which
            then passes `initial_epoch` to `fit` itself.
        steps_done: steps of the first epoch trained before this `fit` (a resumed epoch's
            rest, trained on data that skip them); counted into the backups' steps.
        stop_on_nan: the `StopOnNaN` of the same `fit`: once it has seen a non-finite loss,
            nothing more is backed up (the backup keeps the last finite state).
    """

    def __init__(
        self,
        backup_dir: str,
        save_freq: int,
        restore_dir: str | None = None,
        *,
        restore: bool = True,
        steps_done: int = 0,
        stop_on_nan: StopOnNaN | None = None,
    ):
        super().__init__(backup_dir, save_freq=save_freq, delete_checkpoint=False)
        self._restore_dir = restore_dir or backup_dir
        self._restore = restore
        self._steps_done = steps_done
        self._stop_on_nan = stop_on_nan
        self._first_epoch = None
        self._steps = 0
        self._saved_at = 0
        self.restored: run_dir.BackupState | None = None
        self.steps_trained = 0  # in this `fit` (a step that finds the data at their end: none)

    @property
    def _diverged(self) -> bool:
        return self._stop_on_nan is not None and self._stop_on_nan.where is not None

    @property
    def position(self) -> tuple[int, int]:
        """(epoch, steps) where training stands: the epoch in progress and its steps trained
        ((epochs finished, 0) between epochs)."""
        return self._current_epoch, self._steps

    def on_train_begin(self, logs=None):
        if self._restore:
            self.restored = run_dir.restore_backup(self.model, self._restore_dir)
            # Keras' class resumes at an epoch's start: the epoch in progress runs again.
            self.model._initial_epoch = self.restored.epoch if self.restored else None

    def on_epoch_begin(self, epoch, logs=None):
        if self._first_epoch is None:
            self._first_epoch = epoch
            self._steps = self._saved_at = self._steps_done
        else:
            self._steps = self._saved_at = 0
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        # `batch` is the index of the epoch's last step in this fit (several with
        # steps_per_execution).
        offset = self._steps_done if self._current_epoch == self._first_epoch else 0
        self.steps_trained += 1
        self._steps = offset + batch + 1
        if self._steps - self._saved_at >= self.save_freq and _finite(logs):
            self._save_model()

    def on_epoch_end(self, epoch, logs=None):
        if not self._steps:
            return  # no step in this epoch (the data ran out): it is not finished
        offset = self._steps_done if epoch == self._first_epoch else 0
        steps = (self.params or {}).get("steps")
        if steps and self._steps - offset < steps:
            # A callback stopped training inside the epoch (Keras still ends the epoch): it is
            # not finished; its steps are kept.
            if self._steps > self._saved_at and _finite(logs) and not self._diverged:
                self._save_model()
            return
        self._current_epoch = epoch + 1
        self._steps = self._saved_at = 0
        if _finite(logs) and not self._diverged:
            self._save_model()

    def _save_model(self):
        """Writes the state where training stands (`run_dir.save_backup`)."""
        self._saved_at = self._steps
        run_dir.save_backup(self.model, self.backup_dir, self._current_epoch, self._steps)


class BestCheckpoint(keras.callbacks.ModelCheckpoint):
    """Keeps the weights with the lowest validation loss across every `train` call of a run.

    The best value is kept in `<weights path>.json`, so a resumed run does not replace the
    best weights with a worse first epoch (Keras' class starts each `fit` from infinity).

    Args:
        filepath: the weights file it writes.
        record_path: the record of the best value so far that it starts from (default
            `<filepath>.json`, which it writes): a cluster's non-chief worker reads the chief's,
            so that every worker saves at the same epochs.
    """

    def __init__(self, filepath: str, record_path: str | None = None):
        self._record = filepath + ".json"
        record_path = record_path or self._record
        best = None
        if os.path.exists(record_path):
            try:
                with open(record_path) as f:
                    best = float(json.load(f)["val_loss"])
            except (OSError, ValueError, KeyError, TypeError) as error:
                # A record spoiled by hand or a full disk: no best yet, as in Keras.
                run_dir.warn_unreadable(record_path, error)
        super().__init__(
            filepath,
            monitor="val_loss",
            save_best_only=True,
            save_weights_only=True,
            initial_value_threshold=best,
        )

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        self._epoch_steps = 0

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        self._epoch_steps = batch + 1

    def _save_model(self, epoch, batch, logs):
        # Keras' class writes over the file in place; a kill then lost the best weights. It
        # also saves an epoch without val_loss (no validation step ran): not the best of any,
        # and one a callback stopped inside (Keras still validates it): not finished.
        if (logs or {}).get(self.monitor) is None:
            return
        steps = (self.params or {}).get("steps")
        if steps and getattr(self, "_epoch_steps", steps) < steps:
            return
        if self._should_save_model(epoch, batch, logs, self.filepath):
            run_dir.save_weights(self.model, self.filepath, epoch=epoch + 1)

    def on_epoch_end(self, epoch, logs=None):
        before = self.best
        super().on_epoch_end(epoch, logs)
        if self.best != before and math.isfinite(float(self.best)):
            run_dir.write_json(self._record, {"val_loss": float(self.best), "epoch": epoch + 1})


class StopOnNaN(keras.callbacks.Callback):
    """Stops training at the first non-finite loss and records where (`self.where`: (epoch,
    step), 1-based; None while the loss is finite). Hand it to the `Backup` of the same `fit`
    (its `stop_on_nan`), which then backs up nothing more."""

    def __init__(self):
        super().__init__()
        self.where = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if not _finite(logs):
            self.where = (self._epoch + 1, batch + 1)
            self.model.stop_training = True
            logging.error(
                "loss became %s at epoch %d, step %d; training stopped",
                logs.get("loss"),
                *self.where,
            )


class Throughput(keras.callbacks.Callback):
    """Writes training steps/s and images/s per epoch to TensorBoard and the epoch logs."""

    def __init__(self, log_dir: str, batch_size: int):
        super().__init__()
        self._writer = tf.summary.create_file_writer(log_dir)
        self._batch_size = batch_size
        self._start = 0.0
        self._steps = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1

    def on_epoch_end(self, epoch, logs=None):
        seconds = max(time.perf_counter() - self._start, 1e-9)
        steps_per_second = self._steps / seconds
        with self._writer.as_default(step=epoch + 1):
            tf.summary.scalar("steps_per_second", steps_per_second)
            tf.summary.scalar("images_per_second", steps_per_second * self._batch_size)
        self._writer.flush()
        if logs is not None:
            logs["steps_per_second"] = steps_per_second


class ImagePanel(keras.callbacks.Callback):
    """Writes a gray | predicted | truth panel of fixed validation images to TensorBoard.

    Args:
        log_dir: the TensorBoard run directory to write to.
        images: uint8 [N, S, S, 3], the fixed truth images.
        colorize: a function from uint8 images [N, S, S, 3] to colorized uint8 [N, S, S, 3].
    """

    def __init__(self, log_dir: str, images: np.ndarray, colorize):
        super().__init__()
        self._writer = tf.summary.create_file_writer(log_dir)
        self._images = images
        self._colorize = colorize

    def on_epoch_end(self, epoch, logs=None):
        if not len(self._images):
            return
        panel = evaluation.triplets(self._images, self._colorize(self._images))
        with self._writer.as_default(step=epoch + 1):
            tf.summary.image(
                "gray_predicted_truth",
                panel,
                max_outputs=len(panel),
                description="Validation images: gray input | prediction | truth.",
            )
        self._writer.flush()


class ImageMetrics(keras.callbacks.Callback):
    """Adds the image metrics of the validation data to the epoch's logs, as `val_<name>`.

    PSNR, SSIM, the AuC of the ab error (and its rebalanced variant for bin codecs),
    colourfulness, and the gray baseline's values beside them (`val_gray_<name>`); for video
    runs also CDC and the warp error. They are what `Colorizer.evaluate` reports (its
    `_image_metrics`), so a training run's numbers and a later evaluation's are the same.
    Keras' TensorBoard callback, placed after this one, writes them to the validation run.

    Args:
        measure: a function returning metric name -> value.
    """

    def __init__(self, measure):
        super().__init__()
        self._measure = measure

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or not _finite(logs):
            return
        for name, value in self._measure().items():
            logs[f"val_{name}"] = value


class HyperParameters(keras.callbacks.Callback):
    """Records the run's settings for TensorBoard's HParams dashboard when training starts.

    The dashboard then lists every run under a `--logdir` with its settings beside its
    validation metrics, so runs compare side by side.

    Args:
        log_dir: the run's TensorBoard directory (the parent of `train/` and `validation/`).
        hparams: setting name -> bool, int, float or str.
        trial_id: the run's name in the dashboard.
    """

    def __init__(self, log_dir: str, hparams: dict, trial_id: str):
        super().__init__()
        self._log_dir = log_dir
        self._hparams = hparams
        self._trial_id = trial_id

    def on_train_begin(self, logs=None):
        from tensorboard.plugins.hparams import api as hparams_api

        writer = tf.summary.create_file_writer(self._log_dir)
        with writer.as_default():
            hparams_api.hparams(self._hparams, trial_id=self._trial_id)
        writer.flush()
        writer.close()


def flat_hparams(values: dict, prefix: str = "") -> dict:
    """A nested config dict as flat `part.key` -> bool, int, float or str (HParams' types)."""
    flat = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flat_hparams(value, f"{name}."))
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
        elif value is None:
            flat[name] = "none"
        else:
            flat[name] = ",".join(str(item) for item in value)
    return flat


def reporting_callbacks(
    log_dir: str,
    *,
    batch_size: int,
    hparams: dict,
    trial_id: str,
    measure=None,
    panel: Sequence[np.ndarray] = (),
    colorize=None,
    samples_dir: str | None = None,
) -> list[keras.callbacks.Callback]:
    """The callbacks of a run that only report, in the order they must run: `Throughput`,
    `HyperParameters`, `ImageMetrics` (before TensorBoard, which writes the `val_` values it
    adds), Keras' `TensorBoard`, then `ImagePanel`.

    Args:
        log_dir: the run's TensorBoard folder (`logs/`, with `train/` and `validation/`).
        batch_size: images (or streams) per step, for the throughput.
        hparams: the run's settings (`flat_hparams`), trial_id its name in the dashboard.
        measure: a function returning validation image metrics; None leaves them out.
        panel: fixed uint8 RGB truth images of one size [S, S, 3] for the image panel (none:
            no panel), colorized by `colorize` (uint8 [N, S, S, 3] -> the same).
        samples_dir: where the panel's images are also written, as 000.png, 001.png, ...
    """
    callbacks = [
        Throughput(os.path.join(log_dir, "train"), batch_size),
        HyperParameters(log_dir, hparams, trial_id=trial_id),
    ]
    if measure is not None:
        callbacks.append(ImageMetrics(measure))
    callbacks.append(keras.callbacks.TensorBoard(log_dir, write_graph=False))
    if len(panel):
        if samples_dir is not None:
            os.makedirs(samples_dir, exist_ok=True)
            for index, image in enumerate(panel):
                path = os.path.join(samples_dir, f"{index:03d}.png")
                tf.io.write_file(path, tf.io.encode_png(image))
        images = np.stack(panel)
        callbacks.append(ImagePanel(os.path.join(log_dir, "validation"), images, colorize))
    return callbacks
