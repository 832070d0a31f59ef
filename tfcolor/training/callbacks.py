"""Keras callbacks of a tfcolor training run: resume backup, NaN stop, throughput, image panel,
validation image metrics, hyperparameters."""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from collections.abc import Sequence
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from tfcolor.evaluation import measure as evaluation

__all__ = [
    "Backup",
    "BackupState",
    "BestCheckpoint",
    "HyperParameters",
    "ImageMetrics",
    "ImagePanel",
    "StopOnNaN",
    "Throughput",
    "backup_states",
    "load_first_readable",
    "load_weights",
    "restore_backup",
    "save_weights",
    "write_json",
]


def _finite(logs) -> bool:
    loss = (logs or {}).get("loss")
    return loss is None or math.isfinite(float(loss))


class BackupState(NamedTuple):
    """One state of a resume backup: its weights file and where training stood."""

    path: str
    epoch: int  # the epoch in progress (= the epochs finished)
    steps: int  # the steps of `epoch` trained (0: at its start)


# The backup's files. The weights file carries its own (epoch, steps) as an HDF5 attribute, so
# that the weights and the place they stand for can never disagree, whatever a kill leaves;
# `training_metadata.json` repeats them for people and for Keras' own class.
BACKUP_WEIGHTS = "latest.weights.h5"
# The state before, kept until a newer one is whole (Keras reads only `.weights.h5` names).
PREVIOUS_WEIGHTS = "previous.weights.h5"
BACKUP_METADATA = "training_metadata.json"
_STATE_ATTRIBUTE = "tfcolor_backup"
_warned: set = set()


def _warn_unreadable(path: str, error: BaseException) -> None:
    """One warning line per unreadable file (per process and file version)."""
    try:
        stat = os.stat(path)
        key = (path, stat.st_size, stat.st_mtime_ns)
    except OSError:
        key = (path,)
    if key in _warned:
        return
    _warned.add(key)
    reason = " ".join(str(error).split())[:200] or type(error).__name__
    logging.warning("skipping unreadable %s (%s: %s)", path, type(error).__name__, reason)


def _incomplete_path(path: str) -> str:
    """Where `path` is written before it is renamed into place (same folder, so the rename is
    atomic; Keras' save_weights needs the `.weights.h5` ending)."""
    folder, name = os.path.split(path)
    stem = name[: -len(".weights.h5")] if name.endswith(".weights.h5") else name
    return os.path.join(folder, f".{stem}.incomplete.weights.h5")


def _write_weights(model: keras.Model, path: str, state: dict | None = None) -> None:
    """Writes `model`'s weights (optimizer included where compiled) whole into `path`, with
    `state` as an attribute; nothing else sees the file before it is complete."""
    import h5py

    model.save_weights(path, overwrite=True)
    if state is not None:
        with h5py.File(path, "a") as f:
            f.attrs[_STATE_ATTRIBUTE] = json.dumps(state)
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def save_weights(model: keras.Model, path: str, epoch: int | None = None, steps: int = 0) -> None:
    """`model.save_weights(path)` that a kill cannot leave half-written: written to a
    temporary file beside `path` and renamed over it, so `path` is the old file or the new.

    With `epoch` (the epoch in progress = the epochs trained) and `steps` (its steps trained)
    the file carries them as a state (`backup_states`), so a run whose backup is lost resumes
    from it."""
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    incomplete = _incomplete_path(path)
    state = None if epoch is None else {"epoch": int(epoch), "steps": int(steps)}
    _write_weights(model, incomplete, state)
    os.replace(incomplete, path)


def write_json(path: str, value) -> None:
    """Writes `value` as JSON to `path` through a temporary file and a rename."""
    incomplete = f"{path}.incomplete"
    with open(incomplete, "w") as f:
        json.dump(value, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(incomplete, path)


def _read_state(
    path: str, metadata_path: str | None, *, if_newer: bool = False
) -> BackupState | None:
    """The state a weights file stands for (raises on an unreadable file).

    A backup written before the state was kept in the weights file gets the epoch of its
    `training_metadata.json` (`metadata_path`) and starts that epoch again; without one, such
    a file has no state (None). With `if_newer` (a run's final weights from before the state
    was kept: written after the run's last backup), the metadata's epoch holds only for a
    file at least as new as the metadata, and metadata that cannot be read leave the file
    without a state."""
    import h5py

    with h5py.File(path, "r") as f:
        text = f.attrs.get(_STATE_ATTRIBUTE)
        if text is None and "layers" not in f and "vars" not in f:
            raise OSError("not a Keras weights file")
    if text is not None:
        values = json.loads(text)
        return BackupState(path, int(values["epoch"]), int(values["steps"]))
    if metadata_path is None:
        return None
    if not if_newer:
        with open(metadata_path) as f:
            return BackupState(path, int(json.load(f)["epoch"]), 0)
    try:
        if os.path.getmtime(path) < os.path.getmtime(metadata_path):
            return None
        with open(metadata_path) as f:
            return BackupState(path, int(json.load(f)["epoch"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _readable(path: str) -> bool:
    """Whether `path` opens as a Keras weights file (`_read_state` does not raise)."""
    try:
        _read_state(path, None)
    except Exception:  # noqa: BLE001  truncated, not HDF5: unreadable
        return False
    return True


def backup_states(
    backup_dir: str, fallbacks: Sequence[str] = (), preferred: Sequence[str] = ()
) -> list[BackupState]:
    """The readable states of the resume backup in `backup_dir`, newest first (where states
    tie: `preferred`, then the backup's own, then the other `fallbacks`).

    Args:
        backup_dir: the backup's folder (`Backup`).
        fallbacks: other weights files that carry a state (`save_weights` with an epoch:
            a run's final and best weights), for when the backup is lost.
        preferred: those of `fallbacks` that win ties with the backup (a run's final
            weights: written after its last backup, or restored by a callback such as
            EarlyStopping's `restore_best_weights`). One without a state of its own (from
            before the state was kept) gets the epoch of the backup's
            `training_metadata.json` where it is at least as new (`_read_state`).

    Unreadable files (truncated, not HDF5) are left out with one warning line each.
    """
    metadata = os.path.join(backup_dir, BACKUP_METADATA)
    preferred = [path for path in preferred if path in fallbacks]
    candidates = [
        *((path, metadata, True) for path in preferred),
        (os.path.join(backup_dir, BACKUP_WEIGHTS), metadata, False),
        (os.path.join(backup_dir, PREVIOUS_WEIGHTS), None, False),
        *((path, None, False) for path in fallbacks if path not in preferred),
    ]
    states = []
    for rank, (path, metadata_path, if_newer) in enumerate(candidates):
        if not os.path.exists(path):
            continue
        try:
            state = _read_state(path, metadata_path, if_newer=if_newer)
        except Exception as error:  # noqa: BLE001  any unreadable file: the next state
            _warn_unreadable(path, error)
            continue
        if state is not None:
            states.append((state.epoch, state.steps, -rank, state))
    return [state for *_, state in sorted(states, key=lambda item: item[:3], reverse=True)]


def load_weights(model: keras.Model, path: str) -> bool:
    """Loads a weights file into `model`; False, with one warning line, where it is unreadable.

    Files written during training also hold the optimizer's variables; an uncompiled model
    keeps the network's and skips the rest.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.load_weights(path)
        return True
    except Exception as error:  # noqa: BLE001  truncated, corrupt, foreign: never a traceback
        _warn_unreadable(path, error)
        return False


def load_first_readable(model: keras.Model, paths) -> str | None:
    """Loads the first of `paths` that reads whole; None (the model as it was) if none does."""
    paths = list(paths)
    if not paths:
        return None
    # A file that fails halfway may have set some variables: put them back if none loads.
    variables = list(model.weights)
    if getattr(model, "optimizer", None) is not None:
        variables += list(model.optimizer.variables)
    before = [variable.numpy() for variable in variables]
    for path in paths:
        if load_weights(model, path):
            return path
    for variable, value in zip(variables, before, strict=True):
        variable.assign(value)
    return None


def restore_backup(
    model: keras.Model,
    backup_dir: str,
    fallbacks: Sequence[str] = (),
    preferred: Sequence[str] = (),
) -> BackupState | None:
    """Loads the newest readable state of the backup in `backup_dir` (or of `fallbacks`, see
    `backup_states`) into `model` (built, its optimizer built) and returns it; None where
    there is none."""
    states = backup_states(backup_dir, fallbacks, preferred)
    loaded = load_first_readable(model, [state.path for state in states])
    return next((state for state in states if state.path == loaded), None)


class Backup(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` that a kill cannot break, that resumes mid-epoch, keeps its backup
    and never backs up a diverged model.

    It saves every `save_freq` steps and at the end of every epoch (Keras' own class saves at
    only one of the two), and keeps the backup after training, so calling `train` again on the
    model_dir continues from it, as an Estimator did.

    A kill at any moment leaves a readable state: the weights are written to a temporary file
    and renamed into place, the previous state kept (`previous.weights.h5`) until then, and
    each weights file carries the (epoch, steps) it stands for (`backup_states`). Restoring
    takes the newest state that reads whole, with one warning line per unreadable file.

    Args:
        backup_dir: where it writes the backup.
        save_freq: steps between backups.
        restore_dir: where it restores from when training starts (default `backup_dir`): a
            cluster's non-chief worker restores the chief's backup and writes its own copy
            elsewhere, so every worker resumes from the same state.
        restore: False leaves the restoring to the caller (`restore_backup`), which then
            passes `initial_epoch` to `fit` itself.
        steps_done: steps of the first epoch trained before this `fit` (a resumed epoch's
            rest, trained on data that skip them); counted into the backups' steps.
    """

    def __init__(
        self,
        backup_dir: str,
        save_freq: int,
        restore_dir: str | None = None,
        *,
        restore: bool = True,
        steps_done: int = 0,
    ):
        super().__init__(backup_dir, save_freq=save_freq, delete_checkpoint=False)
        self._restore_dir = restore_dir or backup_dir
        self._restore = restore
        self._steps_done = steps_done
        self._first_epoch = None
        self._steps = 0
        self._saved_at = 0
        self.restored: BackupState | None = None
        self.steps_trained = 0  # in this `fit` (a step that finds the data at their end: none)

    @property
    def position(self) -> tuple[int, int]:
        """(epoch, steps) where training stands: the epoch in progress and its steps trained
        ((epochs finished, 0) between epochs)."""
        return self._current_epoch, self._steps

    def on_train_begin(self, logs=None):
        if self._restore:
            self.restored = restore_backup(self.model, self._restore_dir)
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
            if self._steps > self._saved_at and _finite(logs):
                if not getattr(self.model, "tfcolor_nan", None):
                    self._save_model()
            return
        self._current_epoch = epoch + 1
        self._steps = self._saved_at = 0
        if _finite(logs) and not getattr(self.model, "tfcolor_nan", None):
            self._save_model()

    def _save_model(self):
        """Writes the state: weights to a temporary file, the current state moved to
        `previous.weights.h5`, the new one renamed into place, then the metadata (whose loss
        costs nothing: the weights file carries the state). A current state that does not
        read (truncated by a kill) is removed, not moved over a good previous one."""
        os.makedirs(self.backup_dir, exist_ok=True)
        self._saved_at = self._steps
        state = {"epoch": self._current_epoch, "steps": self._steps}
        latest = os.path.join(self.backup_dir, BACKUP_WEIGHTS)
        previous = os.path.join(self.backup_dir, PREVIOUS_WEIGHTS)
        incomplete = _incomplete_path(latest)
        _write_weights(self.model, incomplete, state)
        if os.path.exists(latest):
            if _readable(latest):
                os.replace(latest, previous)
            else:
                os.remove(latest)
        os.replace(incomplete, latest)
        # Keras' "batch" is the index of the last step seen.
        metadata = os.path.join(self.backup_dir, BACKUP_METADATA)
        write_json(metadata, {**state, "batch": max(self._steps - 1, 0)})


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
                _warn_unreadable(record_path, error)
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
            save_weights(self.model, self.filepath, epoch=epoch + 1)

    def on_epoch_end(self, epoch, logs=None):
        before = self.best
        super().on_epoch_end(epoch, logs)
        if self.best != before and math.isfinite(float(self.best)):
            write_json(self._record, {"val_loss": float(self.best), "epoch": epoch + 1})


class StopOnNaN(keras.callbacks.Callback):
    """Stops training at the first non-finite loss and records where (`self.where`)."""

    def __init__(self):
        super().__init__()
        self.where = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if not _finite(logs):
            self.where = (self._epoch + 1, batch + 1)
            self.model.tfcolor_nan = self.where
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
