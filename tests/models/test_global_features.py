"""The global features shared by IizukaNet, the thesis U-Net and the video U-Net."""

import keras
import numpy as np
import pytest

from tfcolor.models.blocks import conv_stack_layers
from tfcolor.models.global_features import (
    GLOBAL_DENSE,
    LOW_LEVEL,
    apply_global_network,
    check_global_size,
)


@pytest.mark.parametrize("global_size", [0, 16, 40, 100])
def test_a_size_the_network_cannot_take_is_refused(global_size):
    with pytest.raises(ValueError, match=f"global_size=.*{global_size}"):
        check_global_size(global_size)


@pytest.mark.parametrize("simple_global", [False, True])
def test_the_vector_does_not_depend_on_the_input_size(simple_global):
    lightness = keras.Input((None, None, 1))
    low_level = conv_stack_layers(LOW_LEVEL, name="low", batch_norm=True)
    vector, features = apply_global_network(lightness, 64, simple_global, low_level)
    model = keras.Model(lightness, [vector, features])
    assert (vector.shape[-1], features.shape[-1]) == (GLOBAL_DENSE[-1], GLOBAL_DENSE[-2])
    # Any input size: the network sees only the fixed rescale, so an image and the same image
    # already at the rescale's size give the same vector, value for value.
    large = np.random.default_rng(0).random((1, 96, 96, 1)).astype("float32")
    rescaled = keras.layers.Resizing(64, 64)(large).numpy()
    outputs = model.predict(large, verbose=0)
    assert [output.shape for output in outputs] == [(1, 256), (1, 512)]
    for theirs, mine in zip(model.predict(rescaled, verbose=0), outputs, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)
    assert np.abs(outputs[1]).sum() > 0  # not a vector of zeros that anything would equal
    # The paper's global network flattens 2x2x512 at 64 into its first dense layer; the
    # report's simplification pools, which leaves that layer 4x smaller.
    first_dense = model.get_layer("global_dense1").kernel.shape
    assert first_dense == ((512, 1024) if simple_global else (2 * 2 * 512, 1024))
