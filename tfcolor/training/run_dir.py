"""The run directory (`model_dir`): the name of every file in it, its config read and written,
its weights files written whole and read back, and where its training stands.

Importing it costs no TensorFlow (the command line reads runs with it before any model).

A run's files (the names on disk never change, so every model_dir ever written still opens):

    config.json         the resolved Config (`read_config`, `write_config`)
    codec.json, codec_state.npz   the codec and its fitted statistics (`Codec.save`)
    backup/             the resume backup (`callbacks.Backup`): latest.weights.h5,
                        previous.weights.h5 (the state before) and training_metadata.json,
                        each weights file carrying the (epoch, steps) it stands for
    best.weights.h5     the weights with the lowest validation loss so far
    best.weights.h5.json    that loss and its epoch (`callbacks.BestCheckpoint`)
    final.weights.h5    the weights at the end of the last `train` call
    logs/train, logs/validation   TensorBoard
    samples/            the fixed validation images of the TensorBoard panel, as PNG
    export/<version>/   SavedModels
    export/colorizer.onnx, export/colorizer.tflite   portable exports, where made
                        (`python -m tfcolor.export --format onnx|litert`; `export.portable`)
    eval/               `python -m tfcolor.evaluate`'s default output

and a refined run's (`training.wgan.refine`), beside the above:

    critic.json, critic.weights.h5   the critic's settings and weights
    refinement.json     the refinement's settings and the run it started from
    refine_backup/      the resume backup of the whole WGAN

Every weights file and record is written to a temporary file and renamed into place
(`save_weights`, `save_backup`, `write_json`), so a kill at any moment leaves the old file or
the new one; a file found unreadable anyway (truncated by a full disk, spoiled by hand) costs
one warning line, and the newest readable state is used (`backup_states`,
`load_first_readable`).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from absl import logging

from tfcolor.config import Config
from tfcolor.export import client

if TYPE_CHECKING:
    import keras

__all__ = [
    "BACKUP_DIR",
    "BACKUP_METADATA",
    "BACKUP_WEIGHTS",
    "BEST_RECORD",
    "BEST_WEIGHTS",
    "CONFIG",
    "CRITIC_CONFIG",
    "CRITIC_WEIGHTS",
    "EVAL_DIR",
    "EXPORT_DIR",
    "FINAL_WEIGHTS",
    "LOGS_DIR",
    "PREVIOUS_WEIGHTS",
    "REFINEMENT_SETTINGS",
    "REFINE_BACKUP_DIR",
    "SAMPLES_DIR",
    "BackupState",
    "RunDir",
    "backup_states",
    "epochs_done",
    "is_run",
    "load_first_readable",
    "load_weights",
    "read_config",
    "restore_backup",
    "save_backup",
    "save_weights",
    "warn_unreadable",
    "write_config",
    "write_json",
    "write_text",
]

# === File names ===
CONFIG = "config.json"
# codec.json and codec_state.npz are named, written and read by the codec itself
# (`Codec.save`, `codecs.load_codec`): see `RunDir.has_codec`.
BACKUP_DIR = "backup"
# The backup's files. The weights file carries its own (epoch, steps) as an HDF5 attribute, so
# that the weights and the place they stand for can never disagree, whatever a kill leaves;
# `training_metadata.json` repeats them for people and for Keras' own class.
BACKUP_WEIGHTS = "latest.weights.h5"
# The state before, kept until a newer one is whole (Keras reads only `.weights.h5` names).
PREVIOUS_WEIGHTS = "previous.weights.h5"
BACKUP_METADATA = "training_metadata.json"
BEST_WEIGHTS = "best.weights.h5"
BEST_RECORD = BEST_WEIGHTS + ".json"  # `callbacks.BestCheckpoint`'s record beside its weights
FINAL_WEIGHTS = "final.weights.h5"
LOGS_DIR = "logs"  # TensorBoard: logs/train, logs/validation
SAMPLES_DIR = "samples"
EXPORT_DIR = client.EXPORT_DIR  # "export": the export client finds a run's exports there
EVAL_DIR = "eval"
# A refined run's own files.
REFINE_BACKUP_DIR = "refine_backup"
CRITIC_CONFIG = "critic.json"
CRITIC_WEIGHTS = "critic.weights.h5"
REFINEMENT_SETTINGS = "refinement.json"

_STATE_ATTRIBUTE = "tfcolor_backup"
_warned: set = set()


# === Config ===


def is_run(model_dir: str) -> bool:
    """Whether `model_dir` holds a tfcolor run (its `config.json`)."""
    return os.path.isfile(os.path.join(model_dir, CONFIG))


def read_config(model_dir: str) -> Config | None:
    """The run's `config.json`; None where model_dir holds no run.

    Raises:
        ValueError: an unreadable or invalid config.json, named (`Config.load`).
    """
    path = os.path.join(model_dir, CONFIG)
    return Config.load(path) if os.path.exists(path) else None


def write_config(model_dir: str, config: Config) -> None:
    """Writes `config` as the run's `config.json`, making model_dir where needed.

    Raises:
        ValueError: model_dir cannot be written, named with the reason.
    """
    try:
        os.makedirs(model_dir, exist_ok=True)
        write_text(os.path.join(model_dir, CONFIG), config.to_json())
    except OSError as error:
        raise ValueError(
            f"cannot write the run into model_dir {model_dir} ({error.strerror or error})"
        ) from None


class RunDir:
    """The paths of one run directory, and where its training stands.

    Args:
        model_dir: the run's folder (made absolute).
    """

    def __init__(self, model_dir: str):
        self.path = os.path.abspath(model_dir)

    def __repr__(self) -> str:
        return f"RunDir({self.path!r})"

    def join(self, *parts: str) -> str:
        """A path inside the run."""
        return os.path.join(self.path, *parts)

    @property
    def config(self) -> str:
        return self.join(CONFIG)

    @property
    def has_codec(self) -> bool:
        """Whether the run holds a saved codec (`Codec.save`: codec.json and its state)."""
        from tfcolor import codecs  # TensorFlow: only when asked

        return os.path.exists(self.join(codecs.CONFIG_FILENAME))

    @property
    def backup(self) -> str:
        return self.join(BACKUP_DIR)

    @property
    def final_weights(self) -> str:
        return self.join(FINAL_WEIGHTS)

    @property
    def best_weights(self) -> str:
        return self.join(BEST_WEIGHTS)

    @property
    def best_record(self) -> str:
        return self.join(BEST_RECORD)

    @property
    def logs(self) -> str:
        return self.join(LOGS_DIR)

    @property
    def samples(self) -> str:
        return self.join(SAMPLES_DIR)

    @property
    def export(self) -> str:
        return self.join(EXPORT_DIR)

    @property
    def fallback_weights(self) -> list[str]:
        """The weights files beside the backup that carry a state: final, then best."""
        return [self.final_weights, self.best_weights]

    @property
    def preferred_weights(self) -> list[str]:
        """Those that win a tie with the backup: the final weights, written after it, or the
        weights a callback restored (EarlyStopping's restore_best_weights)."""
        return [self.final_weights]

    def states(self) -> list[BackupState]:
        """The run's readable training states, newest first (`backup_states` of its backup,
        its final and its best weights)."""
        return backup_states(self.backup, self.fallback_weights, self.preferred_weights)

    @property
    def epochs_done(self) -> int:
        """Finished epochs according to the newest readable state of the run (its resume
        backup, else its final or best weights); 0 for a run that has trained none."""
        states = self.states()
        return states[0].epoch if states else 0

    def weights_to_restore(self) -> list[str]:
        """The weights files to load, in order: the newest readable states (`states`), then
        final and best weights from before the files carried their state, newest first."""
        paths = [state.path for state in self.states()]
        paths += sorted(
            (path for path in self.fallback_weights if os.path.exists(path) and path not in paths),
            key=os.path.getmtime,
            reverse=True,
        )
        return paths


# === Weights files ===


class BackupState(NamedTuple):
    """One state of a resume backup: its weights file and where training stood."""

    path: str
    epoch: int  # the epoch in progress (= the epochs finished)
    steps: int  # the steps of `epoch` trained (0: at its start)


def warn_unreadable(path: str, error: BaseException) -> None:
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


def save_backup(model: keras.Model, backup_dir: str, epoch: int, steps: int) -> None:
    """Writes a resume backup's state into `backup_dir`: weights to a temporary file, the
    current state moved to `previous.weights.h5`, the new one renamed into place, then the
    metadata (whose loss costs nothing: the weights file carries the state). A current state
    that does not read (truncated by a kill) is removed, not moved over a good previous one."""
    os.makedirs(backup_dir, exist_ok=True)
    state = {"epoch": int(epoch), "steps": int(steps)}
    latest = os.path.join(backup_dir, BACKUP_WEIGHTS)
    previous = os.path.join(backup_dir, PREVIOUS_WEIGHTS)
    incomplete = _incomplete_path(latest)
    _write_weights(model, incomplete, state)
    if os.path.exists(latest):
        if _readable(latest):
            os.replace(latest, previous)
        else:
            os.remove(latest)
    os.replace(incomplete, latest)
    # Keras' "batch" is the index of the last step seen.
    metadata = os.path.join(backup_dir, BACKUP_METADATA)
    write_json(metadata, {**state, "batch": max(int(steps) - 1, 0)})


def write_text(path: str, text: str) -> None:
    """Writes `text` to `path` through a temporary file and a rename: a kill leaves the old
    file or the new one, never half of one (every JSON file a resume reads goes this way)."""
    incomplete = f"{path}.incomplete"
    with open(incomplete, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(incomplete, path)


def write_json(path: str, value, indent: int | None = None) -> None:
    """Writes `value` as JSON to `path`, whole (`write_text`)."""
    write_text(path, json.dumps(value, indent=indent))


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
        backup_dir: the backup's folder (`callbacks.Backup`).
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
            warn_unreadable(path, error)
            continue
        if state is not None:
            states.append((state.epoch, state.steps, -rank, state))
    return [state for *_, state in sorted(states, key=lambda item: item[:3], reverse=True)]


def epochs_done(backup_dir: str) -> int:
    """Finished epochs according to the newest readable state of the resume backup in
    `backup_dir`; 0 where there is none (a run's own, with its final and best weights:
    `RunDir.epochs_done`)."""
    states = backup_states(backup_dir)
    return states[0].epoch if states else 0


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
        warn_unreadable(path, error)
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
