"""The public API (`tfcolor/__init__.py`): every name listed, shown by dir(), resolvable, and
importing tfcolor costs no TensorFlow."""

from __future__ import annotations

import pytest

import tfcolor
from tests.helpers import run_python

PUBLIC = {
    "CodecConfig",
    "Colorizer",
    "Config",
    "DataConfig",
    "ModelConfig",
    "PRESETS",
    "RefinementConfig",
    "TrainConfig",
    "TrainingDivergedError",
    "VideoColorizer",
    "get_preset",
    "open_run",
}


def test_all_lists_the_public_api_and_dir_shows_it():
    assert set(tfcolor.__all__) == PUBLIC
    assert PUBLIC <= set(dir(tfcolor))
    assert "__version__" in dir(tfcolor)


def test_importing_tfcolor_and_its_configs_costs_no_tensorflow():
    code = (
        "import sys, tfcolor\n"
        "assert 'tensorflow' not in sys.modules\n"
        "config = tfcolor.get_preset('unet_shapes')\n"
        "assert isinstance(config, tfcolor.Config) and 'unet_shapes' in tfcolor.PRESETS\n"
        "assert 'tensorflow' not in sys.modules, 'the configs imported TensorFlow'\n"
        "print('ok')\n"
    )
    result = run_python(["-c", code], timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_each_public_name_resolves_to_what_its_module_defines(name):
    value = getattr(tfcolor, name)
    assert value is not None
    if callable(value) and hasattr(value, "__module__"):
        assert value.__module__.startswith("tfcolor.")


def test_the_estimators_are_the_training_layers():
    from tfcolor.training import open_run
    from tfcolor.training.colorizer import Colorizer
    from tfcolor.training.video import VideoColorizer

    assert tfcolor.Colorizer is Colorizer
    assert tfcolor.VideoColorizer is VideoColorizer
    assert issubclass(tfcolor.VideoColorizer, tfcolor.Colorizer)
    assert tfcolor.open_run is open_run


def test_refine_is_the_commands_module_not_a_function(tmp_path):
    # `python -m tfcolor.refine` keeps its module; the refinement itself is
    # tfcolor.training.wgan.refine, so `tfcolor.refine` never means two things.
    code = (
        "import types, tfcolor\n"
        "assert 'refine' not in tfcolor.__all__\n"
        "try:\n"
        "    tfcolor.refine\n"
        "except AttributeError:\n"
        "    pass\n"
        "else:\n"
        "    raise AssertionError('tfcolor.refine resolved before its module was imported')\n"
        "import tfcolor.refine\n"
        "assert isinstance(tfcolor.refine, types.ModuleType)\n"
        "from tfcolor.training.wgan import refine\n"
        "assert callable(refine)\n"
        "print('ok')\n"
    )
    result = run_python(["-c", code], timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Estimator'"):
        tfcolor.Estimator  # noqa: B018
