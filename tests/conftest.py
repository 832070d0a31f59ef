"""Shared fixtures: one short training run serves the export, predict and colorize tests."""

from __future__ import annotations

import os

import pytest

from tests.helpers import small_config

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The longest files first, longest to shortest (seconds of CPU, user + system, children
# included, per file in one `make test` on 2 cores, 2026-12-04; * from an earlier run's wall
# time on a worker), so that `make test`'s `-n 2 --dist loadfile` hands them out before the
# short ones; a long file left in name order (tests/training/ sorts last) started late and
# kept one worker busy alone for the suite's last minutes.
_LONGEST_FIRST = (
    "training/test_compile_mixed_precision.py",  # 265 s
    "training/test_colorizer_fusion_presets.py",  # about 250 s (not profiled: its parts)
    "training/test_colorizer.py",  # 212 s
    "training/test_colorizer_kill_resume.py",  # 183 s
    "training/test_distribute.py",  # 125 s
    "pretrained/test_zhang_convert.py",  # 94 s
    "export/test_bounds.py",  # 93 s
    "cli/test_train_cli.py",  # 83 s
    "input_pipeline/test_input_sources.py",  # 74 s
    "models/test_model_options.py",  # 73 s
    "export/test_session_loader.py",  # 68 s *
    "training/test_colorizer_faults.py",  # 52 s
    "export/test_client.py",  # 50 s *
    "training/test_wgan_refine.py",  # 50 s
    "codecs/test_gamut.py",  # 49 s
    "cli/test_evaluate.py",  # 34 s
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
