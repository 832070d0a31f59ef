"""What the command-line entry points (train, colorize, bench) share; the library never calls it."""

from __future__ import annotations

import os

__all__ = ["quiet_tensorflow"]


def quiet_tensorflow() -> None:
    """Hides TensorFlow's C++ info and warning lines; call before TensorFlow is imported.

    They (CPU features, XLA service) drown a command's own output; a user who wants them sets
    TF_CPP_MIN_LOG_LEVEL=0.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
