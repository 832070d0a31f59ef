"""What the command-line entry points (train, evaluate, colorize, bench) share; the library
never calls it.

Outputs never destroy inputs: a command checks with `check_not_input` that its output folder
is not an input and holds none (real paths, so symlinks count as what they point at), checks
with `prepare_output_folder` that the folder can be written before any work, and writes each
result with `write_atomic` / `atomic_target` (a temporary file in the same folder, renamed
into place: a symlink at the final name is replaced, never followed).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence

__all__ = [
    "atomic_target",
    "check_not_input",
    "frame_size",
    "non_negative_int",
    "positive_float",
    "positive_int",
    "prepare_output_folder",
    "quiet_tensorflow",
    "within",
    "write_atomic",
]


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_int(text: str) -> int:
    """An argparse type: an integer >= 0 (render sizes, where 0 means each image's own)."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or a positive integer, got {text}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a number > 0."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def quiet_tensorflow() -> None:
    """Hides TensorFlow's C++ info and warning lines; call before TensorFlow is imported.

    They (CPU features, XLA service) drown a command's own output; a user who wants them sets
    TF_CPP_MIN_LOG_LEVEL=0.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def frame_size(value: str) -> tuple[int, int]:
    """argparse type: WIDTHxHEIGHT (240x135) -> (width, height). A side of 0 leaves it free
    (240x0: 240 wide, the height that keeps the aspect ratio); 0x0 keeps each video's size."""
    parts = value.lower().split("x")
    try:
        width, height = (int(part) for part in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected WIDTHxHEIGHT such as 240x135, got {value!r}"
        ) from None
    if width < 0 or height < 0:
        raise argparse.ArgumentTypeError(f"sides must be >= 0, got {value!r}")
    return width, height


def within(path: str, folder: str) -> bool:
    """Whether `path` is `folder` or lies inside it, compared as real paths."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_not_input(
    output: str, inputs: Sequence[str], flag: str, *, results_checked: bool = False
) -> None:
    """Refuses an output folder that is an input or holds one (compared as real paths).

    Args:
        output: the output folder (it need not exist yet).
        inputs: input files and folders.
        flag: the option that named `output`, for the message.
        results_checked: the caller checks each result's path against the input files
            (colorize), so the output may hold input files and lie inside an input folder;
            an input folder inside it, or the output being an input, is still refused.
            Without it (evaluate) any overlap is refused: its PNGs would become data.

    Raises:
        ValueError: one line naming both paths.
    """
    for item in inputs:
        folder = os.path.isdir(item)
        if within(item, output) and (folder or not results_checked or within(output, item)):
            what = "is" if within(output, item) else "holds"
            raise ValueError(f"{flag} {output} {what} the input {item}; choose another folder")
        if within(output, item) and not (results_checked and folder):
            raise ValueError(f"{flag} {output} lies inside the input {item}; choose another folder")


def prepare_output_folder(path: str, flag: str) -> None:
    """Makes the output folder and checks that a file can be created in it, before any work.

    Raises:
        ValueError: one line: the path is a file, or cannot be made or written (the reason).
    """
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{flag} {path} is a file, not a folder")
    try:
        os.makedirs(path, exist_ok=True)
        descriptor, probe = tempfile.mkstemp(prefix=".tfcolor-write-check-", dir=path)
        os.close(descriptor)
        os.remove(probe)
    except OSError as error:
        raise ValueError(f"{flag} {path}: cannot write there ({error.strerror or error})") from None


@contextlib.contextmanager
def atomic_target(target: str, root: str) -> Iterator[str]:
    """A temporary path beside `target` to write, renamed onto `target` if the block ends
    without an exception (and removed otherwise).

    `os.replace` replaces a symlink at `target` rather than writing where it points. The
    folders up to `target` are made; one that leads outside `root` through a symlink is
    refused.

    Raises:
        OSError: the folder cannot be made, leads outside `root`, or cannot be written.
    """
    folder = os.path.dirname(target) or "."
    # Checked before anything is made: realpath resolves the part of the path that exists,
    # so a symlink out of `root` is refused without a folder left behind where it points.
    if not within(folder, root):
        raise OSError(f"{folder} leads outside {root} through a symlink")
    os.makedirs(folder, exist_ok=True)
    suffix = os.path.splitext(target)[1]  # writers that pick a format by the name see it
    descriptor, partial = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
    os.close(descriptor)
    try:
        os.chmod(partial, 0o666 & ~_umask())  # mkstemp's 0600 -> what open() would give
        yield partial
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def write_atomic(target: str, contents: bytes, root: str) -> None:
    """Writes `contents` to `target` through `atomic_target`.

    Raises:
        OSError: as `atomic_target`, or the write failed (disk full).
    """
    with atomic_target(target, root) as partial, open(partial, "wb") as f:
        f.write(contents)


def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it
    os.umask(mask)
    return mask
