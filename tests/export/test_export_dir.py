"""The export folder (issue 14): world-readable versions, leftovers of killed exports removed,
complete versions listed newest first, the rename into place atomic and never replacing."""

from __future__ import annotations

import fcntl
import os
import stat
import time

import pytest
import tensorflow as tf

from tests.helpers import run_python
from tfcolor.export import saved_model as serving

pytestmark = pytest.mark.reliability


class TinyModule(tf.Module):
    """The least a SavedModel version holds: a variable and a signature."""

    def __init__(self):
        super().__init__()
        self.scale = tf.Variable(2.0)

    @tf.function(input_signature=[tf.TensorSpec([], tf.float32)])
    def double(self, x):
        return {"y": x * self.scale}

    def signatures(self):
        return {"serving_default": self.double.get_concrete_function()}


def _modes(folder):
    modes = {}
    for root, folders, files in os.walk(folder):
        for name in folders + files:
            path = os.path.join(root, name)
            modes[os.path.relpath(path, folder)] = stat.S_IMODE(os.stat(path).st_mode)
    return modes


def test_versions_are_world_readable_whatever_the_umask(tmp_path):
    previous = os.umask(0o077)  # a service account's private umask: mkdtemp makes 0700 anyway
    try:
        version = serving._write_module(TinyModule(), str(tmp_path))
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(version).st_mode) == 0o755
    modes = _modes(version)
    assert modes["saved_model.pb"] == 0o644
    assert modes["variables"] == 0o755
    assert all(
        mode == (0o755 if os.path.isdir(os.path.join(version, name)) else 0o644)
        for name, mode in modes.items()
    ), modes
    assert os.listdir(tmp_path) == [os.path.basename(version)]  # no staging, no lock left


KILLED_EXPORT = r"""
import os, signal, sys
sys.path.insert(0, os.getcwd())  # the repository (run_python's working directory)
from tfcolor.export import saved_model as serving
from tests.export.test_export_dir import TinyModule

class KilledWhileSaving(TinyModule):
    def signatures(self):  # runs inside the export, after its staging folder is made
        os.kill(os.getpid(), signal.SIGKILL)

serving._write_module(KilledWhileSaving(), sys.argv[1])
"""


def test_leftovers_of_a_killed_export_go_at_the_next_export(tmp_path):
    script = tmp_path / "killed.py"
    script.write_text(KILLED_EXPORT)
    base = tmp_path / "export"
    result = run_python([str(script), str(base)], timeout=300)
    assert result.returncode == -9, result.stderr[-2000:]
    leftovers = sorted(os.listdir(base))
    assert len(leftovers) == 2 and leftovers[1] == leftovers[0] + ".lock", leftovers

    # Beside it: an export in progress (its lock held), and two staging folders without a
    # lock file (an older tfcolor's), one untouched for two hours, one fresh.
    live = base / ".tmp-export-live"
    live.mkdir()
    (live / "saved_model.pb").write_bytes(b"partial")
    old, fresh = base / ".tmp-export-old", base / ".tmp-export-fresh"
    for folder in (old, fresh):
        folder.mkdir()
        (folder / "file").write_bytes(b"x")
    two_hours_ago = time.time() - 7200
    for path in (old, old / "file"):
        os.utime(path, (two_hours_ago, two_hours_ago))
    with open(str(live) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        version = serving._write_module(TinyModule(), str(base))
        remaining = sorted(os.listdir(base))
    assert remaining == sorted(
        [os.path.basename(version), ".tmp-export-live", ".tmp-export-live.lock", fresh.name]
    )


def test_export_versions_lists_complete_versions_newest_first(tmp_path):
    assert serving.export_versions(str(tmp_path / "missing")) == []
    assert serving.latest_export(str(tmp_path / "missing")) is None
    first = serving._write_module(TinyModule(), str(tmp_path))
    second = serving._write_module(TinyModule(), str(tmp_path))
    assert int(os.path.basename(second)) > int(os.path.basename(first))
    # Not versions: a higher number without its variables, one without saved_model.pb, a
    # name that is not a number.
    for name, files in (("9999999990", ["saved_model.pb"]), ("9999999991", []), ("x12", [])):
        (tmp_path / name).mkdir()
        for file in files:
            (tmp_path / name / file).write_bytes(b"")
    assert serving.export_versions(str(tmp_path)) == [second, first]
    assert serving.latest_export(str(tmp_path)) == second
    loaded = tf.saved_model.load(second)
    assert loaded.double(tf.constant(3.0))["y"].numpy() == 6.0


def test_the_rename_never_replaces_a_version(tmp_path, monkeypatch):
    """Two exports in the same second, or a version made by hand: the next free number."""
    now = 1_800_000_000
    monkeypatch.setattr(serving.time, "time", lambda: now)
    (tmp_path / str(now)).mkdir()
    (tmp_path / str(now) / "keep").write_bytes(b"someone else's")
    first = serving._write_module(TinyModule(), str(tmp_path))
    second = serving._write_module(TinyModule(), str(tmp_path))
    assert [os.path.basename(first), os.path.basename(second)] == [str(now + 1), str(now + 2)]
    assert (tmp_path / str(now) / "keep").read_bytes() == b"someone else's"
