"""Helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_python(args, timeout=600, env=None, **kwargs):
    """Runs `python args...` from the repository root and returns the CompletedProcess."""
    full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **(env or {}))
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        **kwargs,
    )


def small_config(**train_overrides):
    """The default preset, cut down to seconds of training."""
    from tfcolor.config import get_preset

    config = get_preset("unet_shapes")
    config.train.epochs = 1
    config.train.steps_per_epoch = 20
    config.train.panel_images = 4
    for key, value in train_overrides.items():
        setattr(config.train, key, value)
    return config


def encode(image: np.ndarray, fmt: str = "JPEG") -> bytes:
    """Encodes an image with Pillow (an encoder independent of TensorFlow)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=fmt)
    return buffer.getvalue()
