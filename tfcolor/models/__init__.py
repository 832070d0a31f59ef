"""Colorization networks. Each maps normalized lightness [B, H, W, 1] to codec outputs."""

from __future__ import annotations

import keras

from tfcolor.models.unet import UNet, apply_conv_block

__all__ = ["UNet", "apply_conv_block", "build_model"]


def build_model(model_config, codec, name: str = "colorizer") -> keras.Model:
    """Builds the network named by `model_config.name` with the codec's head.

    Args:
        model_config: a `tfcolor.config.ModelConfig`.
        codec: a `tfcolor.codecs.Codec`; decides the head's size and activation.

    Raises:
        ValueError: an unknown model name.
    """
    if model_config.name == "unet":
        return UNet(
            filters=model_config.filters,
            head_channels=codec.channels,
            head_activation=codec.output_activation,
            name=name,
        )
    raise ValueError(f"unknown model {model_config.name!r}; available: unet")
