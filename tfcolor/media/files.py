"""Files written whole: a temporary file beside the target, renamed onto it.

A reader (a server loading an export, a user opening a PNG, the next command) sees the old
file or the new one, never half of one, and a kill leaves at most a hidden `.tmp-*` file,
never a truncated result. `os.replace` replaces a symlink at the target rather than writing
where it points. The commands' checks on top of this (an output that may not leave its
folder through a symlink) are `tfcolor.cli.common.atomic_target`'s.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator

__all__ = ["atomic_path", "write_atomic"]

_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    # The only way to read it is to set it: locked, so that writer threads
    # (`colorize --workers`) never read each other's placeholder or leave it set.
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(target: str, mode: int | None = None) -> Iterator[str]:
    """A temporary path beside `target` to write, renamed onto `target` if the block ends
    without an exception (and removed otherwise).

    The temporary name keeps `target`'s extension, for writers that pick a format by it. The
    folders up to `target` are made.

    Args:
        target: the final path.
        mode: the file's permissions; by default what `open()` would give (0666 less the
            umask), where `tempfile.mkstemp` alone would leave 0600.

    Raises:
        OSError: the folder cannot be made or written, or the rename failed.
    """
    folder = os.path.dirname(target) or "."
    os.makedirs(folder, exist_ok=True)
    suffix = os.path.splitext(target)[1]
    descriptor, partial = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
    os.close(descriptor)
    try:
        os.chmod(partial, 0o666 & ~_umask() if mode is None else mode)
        yield partial
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def write_atomic(target: str, contents: bytes, mode: int | None = None) -> str:
    """Writes `contents` to `target` through `atomic_path`; returns `target`.

    Raises:
        OSError: as `atomic_path`, or the write failed (disk full).
    """
    with atomic_path(target, mode) as partial, open(partial, "wb") as f:
        f.write(contents)
    return target
