"""tfcolor.codecs.losses: the loss helpers, and the losses inside a training step compiled whole
with XLA (`jit_compile=True`), which takes the batch and the weights as arguments: nothing a step
changes is a compile-time constant, so it compiles once.

With the batch or the weights baked in as constants, XLA compiled every step again and
constant-folded the whole network (gamut codec: 66-92 s a step on 2 CPU cores). The
codecs' losses, XLA functions of their own, caused it (`tfcolor.codecs.losses.compile_loss`).
"""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfcolor import codecs, color, input_pipeline
from tfcolor.codecs import losses
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


# === The helpers ===


def test_per_sample_mean():
    values = tf.reshape(tf.range(12, dtype=tf.float32), [2, 3, 2])
    np.testing.assert_allclose(losses.per_sample_mean(values).numpy(), [2.5, 8.5])


def test_as_bin_index_takes_float_targets_and_a_trailing_axis():
    logits = tf.zeros([2, 3, 4, 36])
    labels = np.random.default_rng(0).integers(0, 36, (2, 3, 4))
    for y_true in (labels, labels.astype(np.float32), labels[..., None].astype(np.float32)):
        index = losses.as_bin_index(y_true, logits)
        assert index.dtype == tf.int32 and index.shape == (2, 3, 4)
        np.testing.assert_array_equal(index.numpy(), labels)


def test_split_soft_target():
    target = np.concatenate([np.full((1, 2, 2, 3), 7.0), np.full((1, 2, 2, 3), 1 / 3)], axis=-1)
    bins, weights = losses.split_soft_target(target.astype(np.float32), 3)
    assert bins.dtype == tf.int32 and bins.shape == weights.shape == (1, 2, 2, 3)
    np.testing.assert_array_equal(bins.numpy(), 7)
    np.testing.assert_allclose(weights.numpy(), 1 / 3)
    with pytest.raises(ValueError, match="6 channels"):
        losses.split_soft_target(target[..., :5], 3)


def test_compile_loss_gives_the_plain_function_s_values():
    def squared_error(labels, predictions):
        return losses.per_sample_mean(tf.square(predictions - labels))

    compiled = losses.compile_loss(squared_error)
    assert compiled.__name__ == "squared_error"
    labels = tf.random.stateless_normal([3, 4, 4], seed=(1, 1))
    predictions = tf.random.stateless_normal([3, 4, 4], seed=(2, 2))
    expected = squared_error(labels, predictions).numpy()
    np.testing.assert_allclose(compiled(labels, predictions).numpy(), expected, rtol=1e-6)
    inside_xla = tf.function(compiled, jit_compile=True)(labels, predictions)  # inlined
    np.testing.assert_allclose(inside_xla.numpy(), expected, rtol=1e-6)


def test_grid_and_gamut_loss_of_one_hot_targets_agree():
    # A soft target whose weight is all on its first bin is the grid codec's hard target.
    rng = np.random.default_rng(3)
    labels = tf.constant(rng.integers(0, 8, (2, 3, 3)), tf.int32)
    logits = tf.random.stateless_normal([2, 3, 3, 8], seed=(4, 4))
    bin_weights = tf.constant(rng.uniform(0.5, 2.0, 8), tf.float32)
    bins = tf.stack([labels, (labels + 1) % 8], axis=-1)
    weights = tf.broadcast_to(tf.constant([1.0, 0.0]), bins.shape)
    grid = losses.grid_loss(labels, logits, bin_weights)
    gamut = losses.gamut_loss(bins, weights, logits, bin_weights)
    assert grid.shape == gamut.shape == (2,)
    np.testing.assert_allclose(gamut.numpy(), grid.numpy(), rtol=1e-5)
