"""The checks every model needs (after keras-hub's `TestCase.run_model_test`).

Config round trip, `.keras` save and safe-mode load with the outputs compared, output shapes
and dtypes at several input sizes, fixed unique layer names and no Lambda layers.
"""

from __future__ import annotations

import math

import keras
import numpy as np


def split_outputs(outputs):
    """(colors, class_logits or None) from a model's output."""
    if isinstance(outputs, dict):
        assert set(outputs) == {"colors", "class_logits"}
        return outputs["colors"], outputs["class_logits"]
    return outputs, None


def lightness_batch(height, width, batch=2, seed=0):
    """Random L in [0, 1], [batch, height, width, 1] float32."""
    return np.random.default_rng(seed).random((batch, height, width, 1)).astype("float32")


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)


def check_output_shapes(model, sizes, batch=2):
    """The colours at ceil(size / output_stride), float32; the class logits [B, num_classes]."""
    stride = model.output_stride
    for height, width in sizes:
        colors, class_logits = split_outputs(model(lightness_batch(height, width, batch)))
        expected = (batch, math.ceil(height / stride), math.ceil(width / stride))
        assert tuple(colors.shape) == (*expected, model.head_channels), (height, width)
        assert colors.dtype == "float32"
        if model.head_activation == "sigmoid":
            assert 0.0 <= float(np.min(colors)) and float(np.max(colors)) <= 1.0
        if model.head_activation == "tanh":
            assert -1.0 <= float(np.min(colors)) and float(np.max(colors)) <= 1.0
        num_classes = getattr(model, "num_classes", None)
        if num_classes is None:
            assert class_logits is None
        else:
            assert tuple(class_logits.shape) == (batch, num_classes)
            assert class_logits.dtype == "float32"


def check_call_without_training_is_inference(model, size):
    """`model(x)` (as an export calls it) runs batch norm in inference mode, updating nothing."""
    inputs = lightness_batch(*size, seed=2)
    before = [np.array(w) for w in model.non_trainable_weights]
    default, default_logits = split_outputs(model(inputs))
    inference, inference_logits = split_outputs(model(inputs, training=False))
    np.testing.assert_allclose(default, inference, atol=1e-6)
    if inference_logits is not None:
        np.testing.assert_allclose(default_logits, inference_logits, atol=1e-6)
    for old, new in zip(before, model.non_trainable_weights, strict=True):
        np.testing.assert_array_equal(old, np.array(new))


def run_model_checks(model, tmp_path, sizes, save=True):
    """Every check the models share; `sizes` are (height, width) input sizes to try."""
    config = model.get_config()
    clone = type(model).from_config(config)
    assert clone.get_config() == config
    assert clone.count_params() == model.count_params()

    names = [layer.name for layer in model.layers]
    assert len(names) == len(set(names))
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in _all_layers(model))

    check_output_shapes(model, sizes)
    check_call_without_training_is_inference(model, sizes[0])

    if save:
        path = str(tmp_path / "model.keras")
        model.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
        assert type(loaded) is type(model)
        assert loaded.get_config() == config
        inputs = lightness_batch(*sizes[0], seed=1)
        expected, expected_logits = split_outputs(model(inputs))
        actual, actual_logits = split_outputs(loaded(inputs))
        np.testing.assert_allclose(actual, expected, atol=1e-5)
        if expected_logits is not None:
            np.testing.assert_allclose(actual_logits, expected_logits, atol=1e-5)
