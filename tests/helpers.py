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


def smoke_preset(name: str, **train_overrides):
    """A preset cut to seconds for tests: 32x32 images (video: 32x24 frames, 2 streams of
    4-frame chunks), batch 4, at most 16 filters per level, a 32x32 global path, a random
    MobileNetV2 for the backbone, no image metrics or panels, constant learning rate 1e-3.

    The data source is left to the test (shapes for image presets, a placeholder `video:`
    folder for video presets: pass input_fn and validation_fn to `train`)."""
    from tfcolor.config import get_preset

    config = get_preset(name)
    video = config.model.name == "convlstm"
    config.data.source = "video:unused" if video else "shapes"
    config.data.validation_source = None
    config.data.image_size = 32
    config.data.batch_size = 2 if video else 4
    config.data.augment = False
    config.data.gray_threshold = None
    config.data.frame_size = (32, 24)
    config.data.chunk_frames = 4
    config.model.filters = tuple(min(filters, 16) for filters in config.model.filters)
    config.model.global_size = 32
    config.model.backbone = "mobilenet_v2"
    config.model.backbone_weights = None
    if config.model.classify:
        config.model.class_names = ("red", "green")
    config.train.epochs = 1
    config.train.learning_rate = 1e-3
    config.train.lr_schedule = "constant"
    config.train.panel_images = 0
    config.train.metric_images = 0
    for key, value in train_overrides.items():
        setattr(config.train, key, value)
    return config


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
