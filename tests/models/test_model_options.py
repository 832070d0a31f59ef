"""Every model and option through the shared checks (model_checks.run_model_checks)."""

import pytest

from tests.models.model_checks import run_model_checks
from tfcolor.models import BackboneFusionNet, IizukaNet, UNet

# Tiny global paths (global_size 32: the global network ends at 1x1) keep these fast.
CASES = {
    "unet_plain": (lambda: UNet(filters=(4, 8), head_channels=2, head_activation="sigmoid"), None),
    "unet_no_batch_norm": (
        lambda: UNet(filters=(4, 8), head_channels=2, head_activation="sigmoid", batch_norm=False),
        None,
    ),
    "unet_stride2": (lambda: UNet(filters=(4, 8, 16), head_channels=5, output_stride=2), None),
    "unet_stride4": (lambda: UNet(filters=(4, 8, 16), head_channels=5, output_stride=4), None),
    "unet_learned_classify": (
        lambda: UNet(
            filters=(4, 8),
            head_channels=2,
            head_activation="tanh",
            global_features="learned",
            global_size=32,
            num_classes=3,
        ),
        None,
    ),
    "unet_learned_simple": (
        lambda: UNet(
            filters=(4, 8, 16),
            head_channels=3,
            global_features="learned",
            global_size=64,
            simple_global=True,
            output_stride=2,
        ),
        None,
    ),
    "unet_backbone": (
        lambda: UNet(
            filters=(4, 8),
            head_channels=2,
            global_features="backbone",
            backbone="mobilenet_v2",
            backbone_weights=None,
        ),
        None,
    ),
    "iizuka_plain": (lambda: IizukaNet(global_size=32), None),
    "iizuka_basic": (lambda: IizukaNet(global_network=False, output_stride=2), None),
    "iizuka_simple_global": (
        lambda: IizukaNet(
            head_channels=4,
            head_activation=None,
            global_size=64,
            simple_global=True,
            simple_global_width=48,
        ),
        None,
    ),
    "iizuka_classify_stride4": (
        lambda: IizukaNet(
            head_channels=313, head_activation=None, global_size=32, num_classes=4, output_stride=4
        ),
        None,
    ),
    "iizuka_stride2": (lambda: IizukaNet(global_size=32, output_stride=2), None),
    "iizuka_stride8": (
        lambda: IizukaNet(head_activation="tanh", global_size=32, output_stride=8),
        None,
    ),
    "backbone_fusion_mobilenet_v2": (
        lambda: BackboneFusionNet(backbone="mobilenet_v2", backbone_weights=None),
        None,
    ),
    "backbone_fusion_efficientnet_b0_pooled_stride2": (
        lambda: BackboneFusionNet(
            head_channels=3,
            head_activation=None,
            output_stride=2,
            backbone="efficientnet_b0",
            backbone_weights=None,
            backbone_embedding="pooled",
        ),
        None,
    ),
    "backbone_fusion_mobilenet_v2_stride4": (
        lambda: BackboneFusionNet(
            head_activation="sigmoid",
            output_stride=4,
            backbone="mobilenet_v2",
            backbone_weights=None,
            backbone_trainable=True,
        ),
        None,
    ),
    "backbone_fusion_inception_resnet_v2": (
        lambda: BackboneFusionNet(backbone_weights=None),
        pytest.mark.slow,
    ),
}


def _sizes(model):
    step = model.downsampling
    sizes = [(step * 2, step * 2), (step * 3, step * 5)]
    if not isinstance(model, UNet):
        # Iizuka's and the baseline's local paths take any size (outputs at ceil(H / stride)).
        sizes[1] = (21, 35)
    return sizes


@pytest.mark.parametrize(
    "case",
    [pytest.param(case, marks=mark or ()) for case, (_, mark) in CASES.items()],
)
def test_model_contract(case, tmp_path):
    model = CASES[case][0]()
    run_model_checks(model, tmp_path, _sizes(model))
