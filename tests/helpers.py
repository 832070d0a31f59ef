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


def saved_model_cli_run(export, signature: str, inputs: str, outdir, timeout=300):
    """`saved_model_cli run` (TF Serving's session-based loader) on one signature of `export`:
    `inputs` as the command's --inputs (`name=file.npy;...`), the outputs written as .npy
    files into `outdir`; returns the CompletedProcess."""
    script = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    command = (
        [script]
        if os.path.exists(script)
        else [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]
    )
    command += ["run", "--dir", str(export), "--tag_set", "serve", "--signature_def", signature]
    command += ["--inputs", inputs, "--outdir", str(outdir)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env
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


def smoke_preset(name: str, **train_overrides):
    """Preset `name` cut to seconds for tests (`tfcolor.config.smoke`, which see)."""
    from tfcolor.config import smoke

    return smoke(name, **train_overrides)


def png_folder(folder, count: int, seed: int = 0):
    """`count` small colourful 32x32 PNGs (two flat halves, seeded) in `folder` (a Path)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        image = np.zeros((32, 32, 3), np.uint8)
        image[:16] = rng.integers(0, 256, 3)
        image[16:] = rng.integers(0, 256, 3)
        Image.fromarray(image).save(folder / f"{index:02d}.png")
    return folder
