"""Every preset the README's preset tables list is a registered preset, and each trains a step.

The names are read from README.md's tables whose first column is `preset` (the main table and
the video table), so a preset added to a table is tested here. One step each, on the `smoke`
config (32x32, at most 16 filters per level), with the preset's own codec, loss and optimizer;
about 30 s of CPU in all.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import REPO
from tfcolor import codecs, color, input_pipeline
from tfcolor.config import PRESETS, get_preset, smoke
from tfcolor.models import build_model
from tfcolor.training import compile as compile_lib

# Presets whose one-step training costs more than a second or two here and is already
# trained elsewhere in the suite, each with its network, codec and trainer:
TRAINED_ELSEWHERE = {
    # tests/training/test_compile_mixed_precision.py, MATRIX (bfloat16, 2 steps), and
    # tests/training/test_colorizer_fusion_presets.py (float32, learning).
    "iizuka": "test_compile_mixed_precision.py, test_colorizer_fusion_presets.py",
    "iizuka_cls": "test_compile_mixed_precision.py, test_colorizer_fusion_presets.py",
    "unet_global": "test_compile_mixed_precision.py, test_colorizer_fusion_presets.py",
    "backbone_fusion": "test_compile_mixed_precision.py, test_colorizer_fusion_presets.py",
    # tests/models/test_iizuka.py::test_the_iizuka_basic_preset_trains_a_step.
    "iizuka_basic": "test_iizuka.py",
    # The video presets train through the streaming trainer in test_compile_mixed_precision.py
    # (convlstm in float16, convlstm, convlstm_global and convlstm_big in MATRIX);
    # convlstm_stateless is convlstm's network with the trainer's state zeroed every chunk,
    # which tests/training/test_video_colorizer.py checks.
    "convlstm": "test_compile_mixed_precision.py",
    "convlstm_stateless": "test_compile_mixed_precision.py (convlstm), test_video_colorizer.py",
    "convlstm_global": "test_compile_mixed_precision.py",
    "convlstm_big": "test_compile_mixed_precision.py",
}


def readme_presets() -> list[str]:
    """The preset names of README.md's tables whose header's first cell is `preset`."""
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        lines = f.read().splitlines()
    names, in_table = [], False
    for line in lines:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|"):
            in_table = False
        elif cells[0] == "preset":
            in_table = True
        elif in_table and not set(cells[0]) <= set("-: "):
            match = re.match(r"`([a-z0-9_]+)`", cells[0])
            assert match, f"a preset table's row without a preset name: {line[:60]!r}"
            names.append(match.group(1))
    return names


README_PRESETS = readme_presets()


def test_the_readme_lists_every_preset_once():
    assert len(README_PRESETS) == len(set(README_PRESETS)), README_PRESETS
    assert set(README_PRESETS) == set(PRESETS)
    assert set(TRAINED_ELSEWHERE) <= set(PRESETS)


def _train_one_step(config) -> dict:
    codec = codecs.make_codec(config.codec)
    images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    rgb = tf.image.convert_image_dtype(images, tf.float32)
    if codec.needs_fit:
        codec.fit([color.lightness_and_ab(rgb)[1].numpy()])
    model = build_model(config.model, codec)
    compile_lib.compile_run(model, codec, config, total_steps=1)
    # Eagerly: the same train_step (loss, gradients, the optimizer's update) without tracing
    # it into a graph, which costs 5 to 9 s of CPU per network here against 1.5 to 3.5 eager
    # (measured); the compiled step is what every training test of the suite runs.
    model.run_eagerly = True
    lightness, target = input_pipeline.inputs_and_targets(codec, config.model.output_stride)(rgb)
    if config.model.classify:
        target = {"colors": target, "class_logits": tf.constant([0, 1, 0, 1], tf.int32)}
    before = [np.array(weight) for weight in model.trainable_weights]
    logs = model.train_on_batch(lightness, target, return_dict=True)
    assert np.isfinite(logs["loss"]), logs
    changed = [
        not np.array_equal(old, np.array(new))
        for old, new in zip(before, model.trainable_weights, strict=True)
    ]
    assert any(changed)
    return {"model": model}


@pytest.mark.parametrize("name", [name for name in README_PRESETS if name not in TRAINED_ELSEWHERE])
def test_every_readme_preset_trains_a_step(name):
    config = smoke(name)
    assert config.train.optimizer == get_preset(name).train.optimizer
    _train_one_step(config)


@pytest.mark.parametrize("optimizer, activation", [("rmsprop", "leaky_relu"), ("adam", "tanh")])
def test_the_thesis_optimizers_and_activations_train_a_step(optimizer, activation):
    # The thesis's other runs: `--optimizer rmsprop`, `--activation leaky_relu|tanh`.
    config = smoke("unet_thesis", optimizer=optimizer)
    config.model.activation = activation
    model = _train_one_step(config)["model"]
    kind = {"adam": "Adam", "rmsprop": "RMSprop"}[optimizer]
    assert type(model.optimizer).__name__ == kind
    if optimizer == "rmsprop":
        assert model.optimizer.rho == pytest.approx(0.99)  # PyTorch's alpha
    assert model.get_layer(f"down0_{activation}1") is not None
