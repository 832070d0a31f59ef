"""A training step compiled whole with XLA (`jit_compile=True`) takes the batch and the weights
as arguments: nothing a step changes is a compile-time constant, so it compiles once.

With the batch or the weights baked in as constants, XLA compiled every step again and
constant-folded the whole network (gamut codec: 66-92 s a step on 2 CPU cores). The
codecs' losses, XLA functions of their own, caused it (`tfcolor.codecs._compile_loss`).
"""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfcolor import codecs, color, input_pipeline
from tfcolor.config import get_preset
from tfcolor.models import build_model

_HLO_TYPES = {"float32": "f32", "int32": "s32"}


def _small_model_and_batch(preset: str, batch: int = 2):
    """The preset's model and codec, and a batch of random 8x8 images (fitted codec)."""
    config = get_preset(preset)
    codec = codecs.make_codec(config.codec)
    rgb = tf.random.stateless_uniform([batch, 8, 8, 3], seed=(1, 2))
    codec.fit([color.lightness_and_ab(rgb)[1]])
    lightness, target = input_pipeline.inputs_and_targets(codec, config.model.output_stride)(rgb)
    keras.utils.set_random_seed(0)
    model = build_model(config.model, codec)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=codec.loss, metrics=codec.metrics())
    model.optimizer.build(model.trainable_variables)
    return model, codec, lightness, target


def _compiled_step_parameters(model, lightness, target) -> list[str]:
    """The HLO types of the XLA step's parameters ("f32[2,8,8,1]", ...), before optimization.

    Keras compiles `train_step` so with `jit_compile=True`; an input the step needs as a
    compile-time constant is a constant of the program, not a parameter.
    """
    step = tf.function(model.train_step, jit_compile=True)
    hlo = step.experimental_get_compiler_ir((lightness, target))(stage="hlo")
    entry = next(line for line in hlo.splitlines() if line.startswith("ENTRY"))
    return re.findall(r"\w+\.\d+: ([a-z0-9]+\[[0-9,]*\])", entry)


def _hlo_type(tensor: tf.Tensor) -> str:
    return f"{_HLO_TYPES[tensor.dtype.name]}[{','.join(map(str, tensor.shape))}]"


@pytest.mark.parametrize("preset", ["gamut_shapes", "unet_shapes"])
@pytest.mark.parametrize("loss_traced_before", [False, True])
def test_whole_step_xla_takes_batch_and_weights_as_arguments(preset, loss_traced_before):
    # A batch size of its own where the loss is traced first at another one: the step's is then
    # new to the loss's compiled function, which traces it with relaxed shapes.
    model, codec, lightness, target = _small_model_and_batch(preset, 3 if loss_traced_before else 2)
    if loss_traced_before:
        # The loss once on another batch size, as benchmarks/unet_vs_pytorch.py's loss check.
        codec.loss(target[:1], tf.zeros([1, *target.shape[1:3], codec.channels]))
    parameters = _compiled_step_parameters(model, lightness, target)
    assert _hlo_type(lightness) in parameters
    assert _hlo_type(target) in parameters
    variables = (
        model.trainable_variables
        + model.non_trainable_variables
        + model.optimizer.variables
        + [variable for metric in model.metrics for variable in metric.variables]
    )
    assert len(parameters) == len(variables) + 2  # every variable is a parameter too


@pytest.mark.parametrize("preset", ["gamut_shapes", "unet_shapes"])
def test_loss_inside_a_compiled_step_equals_the_compiled_loss(preset):
    _, codec, _, target = _small_model_and_batch(preset)
    logits = tf.random.stateless_normal([2, 8, 8, codec.channels], seed=(3, 4))
    inside_xla = tf.function(codec.loss, jit_compile=True)(target, logits)  # inlined
    np.testing.assert_allclose(inside_xla, codec.loss(target, logits), rtol=1e-5)
