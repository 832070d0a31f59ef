"""What every source builds on: the splits (`split_source`), a file's hold-out by a hash of
its name (`is_validation`), walking a folder with its special files and unreadable entries named
(`walk_files`), and what a source left out (`PipelineStats`).

The image sources (`sources`) and the video sources (`videos`) both stand on this module, which
imports neither.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import os
import stat
from collections.abc import Sequence

from absl import logging

from tfcolor.config import DataConfig

__all__ = [
    "ALL",
    "SPLITS",
    "PipelineStats",
    "is_validation",
    "report_skipped",
    "special_file_reason",
    "split_source",
    "walk_files",
]

SPLITS = ("train", "validation")
# Not a split of training: the whole of a source, for measuring on data a run never saw.
ALL = "all"


@dataclasses.dataclass
class PipelineStats:
    """What a source left out, over all its images (training and validation).

    Attributes:
        source: the source string.
        total: files or examples looked at (before any filter); None where nothing had to be
            counted (a TFDS or shapes source without a gray threshold).
        skipped_files: names (paths relative to the folder) of files that could not be decoded.
        gray_files: names of the images dropped as gray.
        kept: per split (`train`, `validation`), the images left after every filter, where a
            counting pass saw them all (a TFDS or shapes source with a gray threshold).
    """

    source: str
    total: int | None = None
    skipped_files: list[str] = dataclasses.field(default_factory=list)
    gray_files: list[str] = dataclasses.field(default_factory=list)
    kept: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def skipped(self) -> int:
        """Number of undecodable files."""
        return len(self.skipped_files)

    @property
    def dropped_gray(self) -> int:
        """Number of images dropped as gray."""
        return len(self.gray_files)

    def merge(self, other: PipelineStats) -> PipelineStats:
        return PipelineStats(
            source=f"{self.source} + {other.source}",
            total=None if None in (self.total, other.total) else self.total + other.total,
            skipped_files=self.skipped_files + other.skipped_files,
            gray_files=self.gray_files + other.gray_files,
            kept={**self.kept, **other.kept},
        )


_SPECIAL_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def special_file_reason(path: str) -> str | None:
    """Why `path` is not a readable regular file (a FIFO, a socket, a device, a symlink loop,
    a broken symlink, missing), or None for a regular file (symlinks followed).

    Reading a FIFO blocks until a writer appears and a device may never end, so callers
    check this before opening a file they did not make.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        return _stat_failure(path, error)
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    return _SPECIAL_KINDS.get(stat.S_IFMT(mode), "not a regular file")


def _stat_failure(path: str, error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return "a symlink loop"
    if isinstance(error, FileNotFoundError) and os.path.islink(path):
        return "a broken symlink"
    return f"cannot be read ({error.strerror or error})"


def walk_files(root: str, extensions: Sequence[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Regular files under `root` whose names end with one of `extensions` (any case).

    The one folder walk of the command-line tools and the folder source. Symlinked files and
    subfolders are followed, each real folder once (a symlink back to a folder already walked
    is a loop and is skipped); FIFOs, sockets and devices are never opened; symlink loops,
    broken symlinks and unreadable folders are skipped. Paths not matching `extensions` are
    passed over silently, whatever they are.

    Args:
        root: a local folder.
        extensions: lower-case name endings such as `(".jpg", ".png")`.

    Returns:
        `(files, skipped)`: sorted '/'-separated paths relative to `root`, and
        `(relative path, reason)` for each matching name or folder left out.

    Raises:
        ValueError: `root` is not a folder (names it).
    """
    if not os.path.isdir(root):
        raise ValueError(f"folder {root!r} does not exist or is not a folder")
    extensions = tuple(extension.lower() for extension in extensions)
    files: list[str] = []
    skipped: list[tuple[str, str]] = []
    root_real = os.path.realpath(root)
    visited = {root_real}
    pending = [""]  # relative folders still to read
    while pending:
        relative_dir = pending.pop()
        directory = os.path.join(root, relative_dir) if relative_dir else root
        try:
            with os.scandir(directory) as entries:
                names = sorted(entry.name for entry in entries)
        except OSError as error:
            skipped.append((relative_dir or ".", _stat_failure(directory, error)))
            continue
        for name in names:
            relative = f"{relative_dir}/{name}" if relative_dir else name
            path = os.path.join(directory, name)
            try:
                mode = os.stat(path).st_mode  # follows symlinks
            except OSError as error:
                if name.lower().endswith(extensions) or os.path.islink(path):
                    skipped.append((relative, _stat_failure(path, error)))
                continue
            if stat.S_ISDIR(mode):
                real = os.path.realpath(path)
                linked = os.path.islink(path)
                if _within(os.path.realpath(directory), real):
                    skipped.append((relative, f"a symlink loop (to {real})"))
                elif real in visited or (linked and _within(real, root_real)):
                    # Its files are read once, at their own place in the walk.
                    skipped.append((relative, f"a second path to the folder {real}"))
                else:
                    visited.add(real)
                    pending.append(relative)
            elif name.lower().endswith(extensions):
                if stat.S_ISREG(mode):
                    files.append(relative)
                else:
                    skipped.append((relative, _SPECIAL_KINDS.get(stat.S_IFMT(mode), "not a file")))
    return sorted(files), sorted(skipped)


def _within(path: str, folder: str) -> bool:
    """Whether the real path `path` is `folder` or lies inside it."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


_REPORTED: set[tuple[str, str, str]] = set()


def report_skipped(root: str, skipped: Sequence[tuple[str, str]]) -> None:
    """Logs each path `walk_files` left out once per process (a warning naming it)."""
    for relative, reason in skipped:
        if (root, relative, reason) not in _REPORTED:
            _REPORTED.add((root, relative, reason))
            logging.warning("%s: skipped %s: %s", root, relative, reason)


def is_validation(relative_path: str, fraction: float) -> bool:
    # A stable hash of the path alone: the split does not move when files are added or
    # removed, and it is the same on every machine and Python version (unlike hash()).
    digest = hashlib.sha256(relative_path.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64 < fraction


def split_source(data: DataConfig, split: str) -> tuple[str, bool]:
    """The source string a split reads, and whether validation is held out of that source.

    The one rule for images and videos: without a `validation_source`, both splits read
    `source` and validation is held out of it; with one, each split reads its own whole.
    `all` (`ALL`) reads the whole of `source`, nothing held out (evaluation on data of its
    own).
    """
    if split == ALL:
        return data.source, False
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS + (ALL,)}. Received: split={split!r}")
    if data.validation_source is None:
        return data.source, True
    return (data.validation_source if split == "validation" else data.source), False
