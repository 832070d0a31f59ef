"""The global features shared by IizukaNet, the thesis U-Net and the video U-Net."""

import keras
import numpy as np
import pytest

from tfcolor.models.blocks import conv_stack_layers
from tfcolor.models.global_features import (
    GLOBAL_DENSE,
    LOW_LEVEL,
    SIMPLE_GLOBAL_WIDTH,
    apply_global_network,
    check_global_size,
    check_simple_global_width,
)


@pytest.mark.parametrize("global_size", [0, 16, 40, 100])
def test_a_size_the_network_cannot_take_is_refused(global_size):
    with pytest.raises(ValueError, match=f"global_size=.*{global_size}"):
        check_global_size(global_size)


# The paper's network, the course report's simplification, tfcolor's former one.
NETWORKS = {
    "paper": {"simple_global": False},
    "report": {"simple_global": True},
    "former": {"simple_global": True, "simple_global_width": 512, "simple_global_pool": True},
}


@pytest.mark.parametrize("network", sorted(NETWORKS))
def test_the_vector_does_not_depend_on_the_input_size(network):
    lightness = keras.Input((None, None, 1))
    low_level = conv_stack_layers(LOW_LEVEL, name="low", batch_norm=True)
    vector, features = apply_global_network(
        lightness, 64, low_level_layers=low_level, **NETWORKS[network]
    )
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
    # At 64 the paper's global network flattens 2x2x512 into its first dense layer, the
    # report's 8x8x32 (the low-level features at 1/8, one convolution to 32 channels);
    # the former simplification pooled 512 channels.
    inputs = {"paper": 2 * 2 * 512, "report": 8 * 8 * 32, "former": 512}[network]
    assert model.get_layer("global_dense1").kernel.shape == (inputs, 1024)


def test_the_course_reports_global_network_at_224():
    # "only one convolutional layer, received the output of Low-Level features network and
    # output the tensor with shape [batch_size, 28, 28, 32]. Then transfer it to fully
    # connected layers same as the paper": 1024, 512, 256.
    lightness = keras.Input((None, None, 1))
    low_level = conv_stack_layers(LOW_LEVEL, name="low", batch_norm=True)
    network = keras.Model(lightness, apply_global_network(lightness, 224, True, low_level))
    assert tuple(network.get_layer("low_relu6").output.shape) == (None, 28, 28, 512)
    shapes = {
        name: tuple(network.get_layer(f"global_{name}").output.shape)
        for name in ("relu1", "flatten", "dense1", "dense2", "dense3")
    }
    assert shapes == {
        "relu1": (None, 28, 28, SIMPLE_GLOBAL_WIDTH),
        "flatten": (None, 28 * 28 * 32),
        "dense1": (None, 1024),
        "dense2": (None, 512),
        "dense3": (None, 256),
    }
    # Pinned: its layers after the low-level network. The 3x3x512x32 convolution (its batch
    # norm: 4 x 32) replaces the paper's four 512-filter ones (9.4M); 28 * 28 * 32 = 7 * 7 *
    # 512, so the first dense layer keeps the paper's 25,691,136 weights.
    own = [w for w in network.weights if w.path.startswith("global_")]
    assert sum(int(np.prod(w.shape)) for w in own) == 147_456 + 128 + 25_691_136 + 524_800 + 131_328


def test_the_simple_global_width_is_a_setting():
    lightness = keras.Input((None, None, 1))
    low_level = conv_stack_layers(LOW_LEVEL, name="low", batch_norm=True)
    vector, _ = apply_global_network(lightness, 64, True, low_level, simple_global_width=48)
    network = keras.Model(lightness, vector)
    assert tuple(network.get_layer("global_relu1").output.shape) == (None, 8, 8, 48)
    assert network.get_layer("global_dense1").kernel.shape == (8 * 8 * 48, 1024)
    for width in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="simple_global_width"):
            check_simple_global_width(width)
