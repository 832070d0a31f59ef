"""Colorization networks. Each maps normalized lightness [B, H, W, 1] to codec outputs.

- `UNet`: the thesis's U-Net, optionally with a global feature vector at its bottleneck.
- `IizukaNet`: Iizuka et al. 2016, local and global features with a fusion layer.
- `BackboneFusionNet`: the Keras baseline after Emil Wallner's blog, a `keras.applications`
  embedding fused into a strided encoder-decoder.
- `VideoUNet`: the video report's U-Net per frame with a ConvLSTM at its bottleneck, whose
  recurrent state is an explicit input and output (`reset_rows` zeroes it per stream).
- `ZhangECCV16`, `ZhangSIGGRAPH17` (`zhang`): Zhang et al.'s released colorizers, layer for
  layer as their PyTorch reference, so that `tfcolor.pretrained` loads the released weights.
- `Critic` (`critic`): the Wasserstein critic on Lab images [B, H, W, 3] -> scores [B, 1] of
  the WGAN-GP refinement, which trains it beside a trained image model
  (`tfcolor.training.wgan`, `python -m tfcolor.refine`).

Every image model takes L in [0, 1], [B, H, W, 1], and returns [B, H / s, W / s, head_channels]
(float32, s = its `output_stride`), or with a classification head the dict
`{"colors": ..., "class_logits": [B, num_classes]}`; its `downsampling` is the input multiple.
`VideoUNet` maps `{"frames": [B, T, H, W, 1], "state_h", "state_c"}` to
`{"colors": [B, T, H / s, W / s, head_channels], "state_h", "state_c"}`.
"""

from __future__ import annotations

import keras

from tfcolor.models.backbone_fusion import (
    BackboneFusionNet,
    LightnessToRGB,
    apply_backbone_embedding,
)
from tfcolor.models.blocks import (
    BroadcastConcatenate,
    Resize,
    ResizeLike,
    apply_conv_block,
    apply_fusion,
)
from tfcolor.models.convlstm import (
    DynamicConvLSTM2D,
    FoldTime,
    UnfoldTime,
    VideoUNet,
    reset_rows,
)
from tfcolor.models.critic import Critic
from tfcolor.models.iizuka import IizukaNet
from tfcolor.models.unet import UNet
from tfcolor.models.zhang import ZhangECCV16, ZhangSIGGRAPH17

__all__ = [
    "BackboneFusionNet",
    "BroadcastConcatenate",
    "Critic",
    "DynamicConvLSTM2D",
    "FoldTime",
    "IizukaNet",
    "LightnessToRGB",
    "Resize",
    "ResizeLike",
    "UNet",
    "UnfoldTime",
    "VideoUNet",
    "ZhangECCV16",
    "ZhangSIGGRAPH17",
    "apply_backbone_embedding",
    "apply_conv_block",
    "apply_fusion",
    "build_model",
    "reset_rows",
]


def _backbone_weights(value: str | None) -> str | None:
    # JSON configs and command lines spell "no weights" as null or "none".
    return None if value is None or value.lower() == "none" else value


def build_model(
    model_config, codec, num_classes: int | None = None, name: str = "colorizer"
) -> keras.Model:
    """Builds the network named by `model_config.name` with the codec's head.

    Args:
        model_config: a `tfcolor.config.ModelConfig`.
        codec: a `tfcolor.codecs.Codec`; decides the head's size and activation.
        num_classes: the classification head's size when `model_config.classify`; None takes
            len(model_config.class_names). Unused without `classify`.
        name: the model's name.

    Returns:
        A `UNet`, `IizukaNet`, `BackboneFusionNet`, `VideoUNet`, `ZhangECCV16` or
        `ZhangSIGGRAPH17`.

    Raises:
        ValueError: an invalid model config, `classify` without a number of classes, or
            `classify` with the video model.
    """
    model_config.validate()  # also refuses classify on the video model
    if model_config.classify:
        if num_classes is None and model_config.class_names is not None:
            num_classes = len(model_config.class_names)
        if num_classes is None:
            raise ValueError(
                "classify needs the number of classes: pass num_classes or set class_names. "
                "Received: num_classes=None, class_names=None"
            )
    else:
        num_classes = None
    head = {"head_channels": codec.channels, "head_activation": codec.output_activation}
    backbone = {
        "backbone": model_config.backbone,
        "backbone_weights": _backbone_weights(model_config.backbone_weights),
        "backbone_trainable": model_config.backbone_trainable,
    }
    if model_config.name == "unet":
        return UNet(
            filters=model_config.filters,
            output_stride=model_config.output_stride,
            activation=model_config.activation,
            batch_norm=model_config.batch_norm,
            global_features=model_config.global_features,
            global_size=model_config.global_size,
            simple_global=model_config.simple_global,
            simple_global_width=model_config.simple_global_width,
            simple_global_pool=model_config.simple_global_pool,
            num_classes=num_classes,
            name=name,
            **head,
            **backbone,
        )
    if model_config.name == "iizuka":
        return IizukaNet(
            output_stride=model_config.output_stride,
            global_network=model_config.global_network,
            global_size=model_config.global_size,
            simple_global=model_config.simple_global,
            simple_global_width=model_config.simple_global_width,
            simple_global_pool=model_config.simple_global_pool,
            num_classes=num_classes,
            name=name,
            **head,
        )
    if model_config.name == "backbone_fusion":
        return BackboneFusionNet(
            output_stride=model_config.output_stride, name=name, **head, **backbone
        )
    if model_config.name == "convlstm":
        return VideoUNet(
            filters=model_config.filters,
            output_stride=model_config.output_stride,
            batch_norm=model_config.batch_norm,
            global_features=model_config.global_features,
            global_size=model_config.global_size,
            simple_global=model_config.simple_global,
            simple_global_width=model_config.simple_global_width,
            simple_global_pool=model_config.simple_global_pool,
            name=name,
            **head,
            **backbone,
        )
    if model_config.name == "zhang_eccv16":
        return ZhangECCV16(filters=model_config.filters, name=name, **head)
    if model_config.name == "zhang_siggraph17":
        return ZhangSIGGRAPH17(filters=model_config.filters, name=name, **head)
    raise ValueError(
        "model must be one of unet, iizuka, backbone_fusion, convlstm, zhang_eccv16, "
        "zhang_siggraph17. "
        f"Received: model={model_config.name!r}"
    )
