"""Shared fixtures: one short training run serves the export, predict and colorize tests."""

from __future__ import annotations

import os

import pytest

from tests.helpers import small_config

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The longest files first (1 to 6 minutes of CPU each on 2 cores), so that `make test`'s
# `-n 2 --dist loadfile` hands them out before the short ones; in name order a long file
# started late and kept one worker busy alone for the suite's last minutes.
_LONGEST_FIRST = (
    "training/test_compile_mixed_precision.py",
    "training/test_colorizer_fusion_presets.py",
    "training/test_distribute.py",
    "training/test_colorizer.py",
    "training/test_video_colorizer.py",
    "cli/test_train_cli.py",
    "models/test_model_options.py",
    "training/test_wgan_refine.py",
)


def pytest_collection_modifyitems(config, items):
    def rank(item):
        path = item.nodeid.split("::")[0].removeprefix("tests/")
        return _LONGEST_FIRST.index(path) if path in _LONGEST_FIRST else len(_LONGEST_FIRST)

    items.sort(key=rank)  # stable: each file's tests, and the other files, keep their order


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """A Colorizer trained for 20 steps on shapes, and its export."""
    from tfcolor.training.colorizer import Colorizer

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
