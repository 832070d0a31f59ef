"""`tfcolor.training.compile`: the learning-rate schedule, XLA's setting and `compile_run`.
(Mixed precision, the module's dtype policies, is tested in test_compile_mixed_precision.py.)"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tests.helpers import smoke_preset
from tfcolor import codecs
from tfcolor.models import build_model
from tfcolor.training import compile as compile_lib


def test_the_schedule_is_a_cosine_only_when_asked_and_the_steps_are_known():
    config = smoke_preset("unet_shapes")
    config.train.learning_rate = 0.01
    config.train.lr_schedule = "cosine"
    cosine = compile_lib.learning_rate_schedule(config, total_steps=100)
    assert float(cosine(0)) == pytest.approx(0.01)
    assert float(cosine(50)) == pytest.approx(0.005, rel=1e-4)
    assert float(cosine(100)) == pytest.approx(0.0, abs=1e-7)
    # Steps unknown, or a constant schedule: the rate stays, through the same schedule class
    # (the optimizer's variables, and so a backup, are the same whatever the schedule).
    for schedule in (
        compile_lib.learning_rate_schedule(config, total_steps=None),
        compile_lib.learning_rate_schedule(smoke_preset("unet_shapes"), total_steps=100),
    ):
        assert type(schedule) is type(cosine)
        assert float(schedule(90)) == pytest.approx(float(schedule(0)))


@pytest.mark.parametrize("setting, expected", [("on", True), ("off", False), ("auto", False)])
def test_xla_follows_the_setting_and_auto_leaves_it_off_on_cpus(setting, expected):
    config = smoke_preset("unet_shapes")
    config.train.jit_compile = setting
    assert compile_lib.use_xla(config) is expected  # no GPU or TPU on the test machines


def test_compile_run_compiles_adam_with_the_codecs_loss_and_metrics():
    config = smoke_preset("unet_shapes")
    codec = codecs.make_codec(config.codec)
    model = build_model(config.model, codec)
    compile_lib.compile_run(model, codec, config, total_steps=10)
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert model.loss == codec.loss
    lightness = np.random.default_rng(0).random((4, 32, 32, 1)).astype("float32")
    target = codec.encode(np.zeros((4, 32, 32, 2), "float32"))
    results = model.evaluate(lightness, target, verbose=0, return_dict=True)
    assert {"loss", *(metric.name for metric in codec.metrics())} <= set(results)


def test_unlabelled_examples_count_in_neither_class_loss_nor_accuracy():
    """Class index -1 (an unlabelled image) is left out of the classification head's loss and
    `class_accuracy`; every labelled example counts."""
    import tensorflow as tf

    logits = tf.constant([[4.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
    labels = tf.constant([0, -1, 0])
    accuracy = compile_lib.LabelledAccuracy()
    accuracy.update_state(labels, logits)
    assert float(accuracy.result()) == pytest.approx(0.5)  # 1 of 2 labelled; 1 of 3 counted -1
    accuracy.reset_state()
    accuracy.update_state(tf.constant([-1, -1]), logits[:2])
    assert float(accuracy.result()) == 0.0  # nothing labelled: nothing counted, no NaN
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)
    assert np.isfinite(float(loss(labels, logits)))
