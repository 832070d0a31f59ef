"""Shared fixtures: one short training run serves the export, predict and colorize tests."""

from __future__ import annotations

import os

import pytest

from tests.helpers import small_config

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """A Colorizer trained for 20 steps on shapes, and its export."""
    from tfcolor.estimator import Colorizer

    model_dir = tmp_path_factory.mktemp("run")
    colorizer = Colorizer(small_config(), str(model_dir))
    colorizer.train(verbose=0)
    export = colorizer.export_saved_model()
    return colorizer, export


@pytest.fixture(scope="session")
def photos():
    """Real photos no one here made (scikit-image, scikit-learn), as uint8 RGB arrays."""
    import skimage.data
    from sklearn.datasets import load_sample_image

    return {
        "astronaut": skimage.data.astronaut(),
        "chelsea": skimage.data.chelsea(),
        "coffee": skimage.data.coffee(),
        "china": load_sample_image("china.jpg"),
        "flower": load_sample_image("flower.jpg"),
    }
