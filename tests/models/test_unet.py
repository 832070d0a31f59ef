import keras
import numpy as np
import pytest

from tfcolor.models import UNet


def thesis_parameter_count(model) -> int:
    """The model's parameters as the thesis's PyTorch code counts them: its convolutions
    before batch norm keep a bias (which batch norm's beta makes redundant; ours have none),
    and batch norm's moving mean and variance are buffers, not parameters."""
    trainable = sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)
    biases = sum(
        layer.filters
        for layer in model.layers
        if isinstance(layer, keras.layers.Conv2D) and not layer.use_bias
    )
    return trainable + biases


@pytest.mark.parametrize(
    "filters, head, params, thesis_params",
    [
        # Pinned counts: a change in the architecture must be deliberate. count_params holds
        # the batch norm statistics (2 per channel) and no bias in the block convolutions.
        # The thesis's 32x32 network: 35,748 parameters with its convolutions' biases.
        ((8, 16, 32), 324, 35_908, 35_748),
        # The thesis's 128x128 network (Conv2dBlock 16 to 256, `unet_128`): "about 2.2 M".
        ((16, 32, 64, 128, 256), 324, 2_168_324, 2_166_852),
        # tfcolor's former unet_128, which runs made with it rebuild from their config.json.
        ((16, 32, 64, 128, 128), 324, 1_430_020, None),
    ],
)
def test_unet_shapes_and_counts(filters, head, params, thesis_params):
    model = UNet(filters=filters, head_channels=head)
    assert model.count_params() == params
    if thesis_params is not None:
        assert thesis_parameter_count(model) == thesis_params
    step = 2 ** (len(filters) - 1)
    for height, width in [(step * 2, step * 2), (step * 3, step * 5)]:
        out = model(np.zeros((2, height, width, 1), "float32"))
        assert tuple(out.shape) == (2, height, width, head)
        assert out.dtype == "float32"


def test_unet_rejects_bad_arguments():
    with pytest.raises(ValueError, match="filters=\\(8,\\)"):
        UNet(filters=(8,))
    with pytest.raises(ValueError, match="head_activation='relu'"):
        UNet(head_activation="relu")


@pytest.mark.parametrize("activation", [None, "sigmoid", "tanh"])
def test_unet_config_and_keras_file_round_trip(tmp_path, activation):
    model = UNet(filters=(4, 8), head_channels=2, head_activation=activation)
    clone = UNet.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    path = str(tmp_path / "unet.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    x = np.random.default_rng(0).random((2, 16, 24, 1)).astype("float32")
    np.testing.assert_allclose(model(x), loaded(x), atol=1e-6)
    if activation == "sigmoid":
        assert 0 <= float(np.min(loaded(x))) and float(np.max(loaded(x))) <= 1
    if activation == "tanh":
        assert -1 <= float(np.min(loaded(x))) and float(np.max(loaded(x))) <= 1


def test_unet_has_no_lambda_layers():
    model = UNet(filters=(16, 32, 64, 128, 128), head_channels=36)
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in model.layers)
    names = [layer.name for layer in model.layers]
    assert len(names) == len(set(names)) and "head" in names


def test_unet_head_sits_on_the_decoder_level_of_the_output_stride():
    # filters (8, 16, 32): the bottleneck is at 1/4, so output_stride 4 puts the head on it.
    names = {
        stride: {layer.name for layer in UNet(output_stride=stride, head_channels=3).layers}
        for stride in (1, 2, 4)
    }
    assert {"up0_upconv", "up1_upconv"} <= names[1]
    assert "up1_upconv" in names[2] and "up0_upconv" not in names[2]
    assert not any(name.startswith("up") for name in names[4])
    model = UNet(output_stride=4, head_channels=3)
    assert model.get_layer("head").kernel.shape == (32, 3)  # a 1x1 head is a Dense layer
    assert tuple(model(np.zeros((1, 16, 24, 1), "float32")).shape) == (1, 4, 6, 3)


def test_unet_fusion_keeps_the_bottleneck_width():
    plain = UNet(filters=(4, 8), head_channels=2)
    fused = UNet(filters=(4, 8), head_channels=2, global_features="learned", global_size=32)
    assert fused.get_layer("fusion_conv").kernel.shape == (1, 1, 8 + 256, 8)
    # Everything from the bottleneck down is the plain U-Net's.
    assert fused.get_layer("up0_upconv").kernel.shape == plain.get_layer("up0_upconv").kernel.shape


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"output_stride": 8}, "output_stride=8"),
        ({"output_stride": 3}, "output_stride=3"),
        ({"global_features": "lstm"}, "global_features='lstm'"),
        ({"num_classes": 3}, "num_classes=3"),
        ({"global_features": "learned", "global_size": 50}, "global_size=50"),
        ({"global_features": "backbone", "backbone": "vgg16"}, "backbone='vgg16'"),
    ],
)
def test_unet_rejects_bad_global_and_stride_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        UNet(**kwargs)


def test_unet_activation_is_the_thesis_alternatives_with_unchanged_weights():
    # The thesis compared ReLU, LeakyReLU and tanh in its ConvBlocks; the weights are the same
    # (activations have none), so only the layers after each batch norm differ.
    relu = UNet(filters=(4, 8), head_channels=2)
    assert isinstance(relu.get_layer("down0_relu1"), keras.layers.ReLU)
    leaky = UNet(filters=(4, 8), head_channels=2, activation="leaky_relu")
    assert leaky.get_layer("down0_leaky_relu1").negative_slope == pytest.approx(0.01)  # PyTorch's
    assert leaky.get_layer("up0_leaky_relu2").negative_slope == pytest.approx(0.01)
    tanh = UNet(filters=(4, 8), head_channels=2, activation="tanh")
    assert tanh.get_layer("bottleneck_tanh2").get_config()["activation"] == "tanh"
    assert relu.count_params() == leaky.count_params() == tanh.count_params()
    assert not any("relu" in layer.name for layer in tanh.layers)
    clone = UNet.from_config(tanh.get_config())
    assert clone.get_config() == tanh.get_config()
    # A model saved before the setting (no "activation" in its config) is the ReLU one.
    former = {key: value for key, value in relu.get_config().items() if key != "activation"}
    assert UNet.from_config(former).activation == "relu"
    with pytest.raises(ValueError, match="Received: activation='gelu'"):
        UNet(activation="gelu")
