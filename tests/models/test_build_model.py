import types

import pytest

from tfcolor.config import ModelConfig
from tfcolor.models import BackboneFusionNet, IizukaNet, UNet, build_model

REGRESSION = types.SimpleNamespace(channels=2, output_activation="sigmoid")
BINS = types.SimpleNamespace(channels=313, output_activation=None)


def test_unet_with_learned_global_features_and_classes():
    config = ModelConfig(
        name="unet",
        filters=(4, 8),
        global_features="learned",
        global_size=32,
        simple_global=True,
        output_stride=2,
        classify=True,
        class_names=("a", "b", "c"),
    )
    model = build_model(config, BINS, name="net")
    assert isinstance(model, UNet) and model.name == "net"
    assert (model.head_channels, model.head_activation) == (313, None)
    assert (model.output_stride, model.downsampling, model.num_classes) == (2, 2, 3)
    assert model.global_size == 32 and model.simple_global
    # An explicit number of classes wins over the names.
    assert build_model(config, BINS, num_classes=5).num_classes == 5


def test_iizuka():
    config = ModelConfig(name="iizuka", global_size=64, simple_global=True, output_stride=4)
    model = build_model(config, REGRESSION, num_classes=7)
    assert isinstance(model, IizukaNet)
    assert (model.head_channels, model.head_activation) == (2, "sigmoid")
    assert (model.output_stride, model.downsampling, model.global_size) == (4, 8, 64)
    # num_classes is used only with classify.
    assert model.num_classes is None


@pytest.mark.parametrize("weights", [None, "none", "None"])
def test_backbone_fusion_without_weights(weights):
    config = ModelConfig(
        name="backbone_fusion",
        backbone="mobilenet_v2",
        backbone_weights=weights,
        backbone_trainable=True,
    )
    model = build_model(config, REGRESSION)
    assert isinstance(model, BackboneFusionNet)
    assert model.backbone_weights is None and model.backbone_trainable
    assert (model.backbone, model.downsampling) == ("mobilenet_v2", 8)


def test_classify_needs_a_number_of_classes():
    config = ModelConfig(name="iizuka", classify=True)
    with pytest.raises(ValueError, match="num_classes=None"):
        build_model(config, REGRESSION)


def test_invalid_config_is_refused():
    with pytest.raises(ValueError, match="model='zhang'"):
        build_model(ModelConfig(name="zhang"), REGRESSION)
    with pytest.raises(ValueError, match="output_stride=16"):
        build_model(ModelConfig(name="iizuka", output_stride=16), REGRESSION)
