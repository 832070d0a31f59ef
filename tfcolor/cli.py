"""What the command-line entry points (train, evaluate, colorize, bench) share; the library
never calls it."""

from __future__ import annotations

import argparse
import os

__all__ = ["non_negative_int", "positive_float", "positive_int", "quiet_tensorflow"]


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
