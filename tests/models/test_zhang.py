"""tfcolor.models.zhang: Zhang et al.'s released networks as Keras models (the shared model
checks at narrow widths, the reference's sizes and parameter counts, the hint inputs). Their
equivalence with the authors' PyTorch networks is tests/pretrained/test_zhang_convert.py's."""

import numpy as np
import pytest

from tests.models.model_checks import lightness_batch, run_model_checks
from tfcolor import codecs
from tfcolor.config import ModelConfig, get_preset, smoke
from tfcolor.models import ZhangECCV16, ZhangSIGGRAPH17, build_model
from tfcolor.models.zhang import ECCV16_FILTERS, SIGGRAPH17_FILTERS

NARROW_ECCV16 = (8, 8, 8, 16, 16, 16, 16, 8)
NARROW_SIGGRAPH17 = (8, 8, 8, 16, 16, 16, 16, 8, 8, 8)


@pytest.mark.parametrize(
    "model",
    [
        lambda: ZhangECCV16(NARROW_ECCV16, head_channels=261),
        lambda: ZhangSIGGRAPH17(NARROW_SIGGRAPH17),
    ],
    ids=["eccv16", "siggraph17"],
)
def test_model_checks(model, tmp_path):
    run_model_checks(model(), tmp_path, sizes=[(32, 32), (48, 72)])


def test_the_reference_s_sizes_and_parameters():
    # The reference's parameters plus Keras' batch-norm moving statistics (2 x 2,496 and
    # 2 x 2,880 channels), without the ECCV network's last 1x1 convolution (2 x 313: the
    # bins, which the codec holds).
    eccv16 = ZhangECCV16()
    assert eccv16.count_params() == 32_240_377
    assert eccv16.filters == ECCV16_FILTERS
    siggraph17 = ZhangSIGGRAPH17()
    assert siggraph17.count_params() == 34_192_787
    assert siggraph17.filters == SIGGRAPH17_FILTERS
    # The classification head is kept (529 ab classes on conv8), but not trained.
    class_head = siggraph17.get_layer("ab_class_head")
    assert class_head.units == 529 and not class_head.trainable
    assert {w.path for w in class_head.weights} <= {w.path for w in siggraph17.weights}


def test_hint_inputs_take_l_ab_and_mask_and_zero_hints_are_automatic_mode():
    automatic = ZhangSIGGRAPH17(NARROW_SIGGRAPH17)
    guided = ZhangSIGGRAPH17(NARROW_SIGGRAPH17, hint_inputs=True)
    guided.set_weights(automatic.get_weights())
    lightness = lightness_batch(32, 40, batch=1)
    zeros = np.zeros((1, 32, 40, 2), np.float32)
    mask = np.zeros((1, 32, 40, 1), np.float32)
    hints = {"lightness": lightness, "ab_hints": zeros, "hint_mask": mask}
    np.testing.assert_allclose(guided(hints), automatic(lightness), atol=1e-6)
    hints["ab_hints"][0, 10:14, 10:14] = [60.0, -40.0]
    hints["hint_mask"][0, 10:14, 10:14] = 1.0
    assert np.abs(guided(hints) - automatic(lightness)).max() > 1e-3


def test_the_hint_network_shares_the_automatic_network_s_weights():
    automatic = ZhangSIGGRAPH17(NARROW_SIGGRAPH17)
    guided = ZhangSIGGRAPH17(NARROW_SIGGRAPH17, hint_inputs=True)
    guided.set_weights(automatic.get_weights())
    shared = automatic.hint_network()
    assert {id(w) for w in shared.weights} == {id(w) for w in automatic.weights}
    assert guided.hint_network() is guided
    lightness = lightness_batch(32, 40, batch=1)
    rng = np.random.default_rng(0)
    hints = {
        "lightness": lightness,
        "ab_hints": rng.uniform(-80, 80, (1, 32, 40, 2)).astype(np.float32),
        "hint_mask": (rng.random((1, 32, 40, 1)) < 0.1).astype(np.float32),
    }
    np.testing.assert_allclose(shared(hints), guided(hints), atol=1e-6)
    # Nothing copied: the automatic network's weights are the hint network's.
    kernel, bias = automatic.get_layer("head").get_weights()
    automatic.get_layer("head").set_weights([kernel * 2.0, bias])
    assert np.abs(shared(hints) - guided(hints)).max() > 1e-4


def test_argument_errors_repeat_the_value():
    with pytest.raises(ValueError, match=r"filters needs 8 positive levels.*filters=\(8, 8\)"):
        ZhangECCV16(filters=(8, 8))
    with pytest.raises(ValueError, match=r"image_shape.*multiple of 8.*\(30, 32\)"):
        ZhangSIGGRAPH17(NARROW_SIGGRAPH17, image_shape=(30, 32))


@pytest.mark.parametrize("preset", ["zhang_eccv16", "zhang_siggraph17"])
def test_presets_build_with_their_codec_s_head(preset):
    config = smoke(preset)
    codec = codecs.make_codec(config.codec)
    model = build_model(config.model, codec)
    assert model.head_channels == codec.channels and model.head_activation == (
        codec.output_activation
    )
    assert model.output_stride == config.model.output_stride and model.downsampling == 8
    assert config.model.input_multiple == 8
    full = get_preset(preset)
    assert tuple(full.model.filters) == (
        ECCV16_FILTERS if preset == "zhang_eccv16" else SIGGRAPH17_FILTERS
    )


def test_model_config_refuses_another_stride_or_depth():
    with pytest.raises(ValueError, match=r"zhang_eccv16 model.*output_stride 4.*output_stride=1"):
        ModelConfig(name="zhang_eccv16", filters=ECCV16_FILTERS, output_stride=1).validate()
    with pytest.raises(ValueError, match=r"10 levels.*filters=\(8, 16, 32\)"):
        ModelConfig(name="zhang_siggraph17", filters=(8, 16, 32)).validate()
    with pytest.raises(ValueError, match="classify is not supported on the zhang_siggraph17"):
        ModelConfig(name="zhang_siggraph17", filters=SIGGRAPH17_FILTERS, classify=True).validate()
