"""What the command-line entry points (train, evaluate, colorize, bench) share; the library
never calls it."""

from __future__ import annotations

import argparse
import os

__all__ = ["frame_size", "non_negative_int", "positive_float", "positive_int", "quiet_tensorflow"]


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
