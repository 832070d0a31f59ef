"""Files written whole (`tfcolor.media.files`): the old file or the new one, never half."""

import os
import stat

import pytest

from tfcolor.media import files


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_write_atomic_makes_folders_and_gives_open_s_permissions(tmp_path):
    target = tmp_path / "a" / "b" / "x.png"
    assert files.write_atomic(str(target), b"new") == str(target)
    assert target.read_bytes() == b"new"
    mask = os.umask(0o022)
    os.umask(mask)
    assert _mode(target) == 0o666 & ~mask  # not mkstemp's 0600
    files.write_atomic(str(target), b"newer", mode=0o640)
    assert target.read_bytes() == b"newer" and _mode(target) == 0o640
    assert os.listdir(target.parent) == ["x.png"]  # no temporary file left


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "result.json"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="killed"):
        with files.atomic_path(str(target)) as partial:
            assert partial.endswith(".json") and os.path.dirname(partial) == str(tmp_path)
            with open(partial, "wb") as f:
                f.write(b"half")
            raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["result.json"]


def test_a_symlink_at_the_target_is_replaced_not_followed(tmp_path):
    elsewhere = tmp_path / "elsewhere.png"
    elsewhere.write_bytes(b"someone else's")
    target = tmp_path / "x.png"
    target.symlink_to(elsewhere)
    files.write_atomic(str(target), b"result")
    assert not target.is_symlink() and target.read_bytes() == b"result"
    assert elsewhere.read_bytes() == b"someone else's"
