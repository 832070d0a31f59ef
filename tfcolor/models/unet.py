"""The thesis's U-Net (after ColorUNet, Billaut et al. 2018).

ConvBlock = 2 x (conv 3x3, batch norm, ReLU); max-pool down; transposed conv (3x3, stride 2) up;
skip concatenation; a 1x1 head whose size, activation and meaning come from the codec.
"""

from __future__ import annotations

import keras

__all__ = ["UNet", "apply_conv_block"]


def apply_conv_block(x, filters: int, name: str):
    """Two 3x3 convolutions, each followed by batch norm and ReLU (the thesis's ConvBlock)."""
    for index in (1, 2):
        x = keras.layers.Conv2D(
            filters, 3, padding="same", use_bias=False, name=f"{name}_conv{index}"
        )(x)
        # PyTorch's default (momentum 0.1 there), the thesis's framework. Keras' 0.99 let the
        # moving statistics lag so far behind on shapes that validation accuracy trailed
        # training by 60 points for the first epochs (measured).
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn{index}")(x)
        x = keras.layers.ReLU(name=f"{name}_relu{index}")(x)
    return x


@keras.saving.register_keras_serializable(package="tfcolor")
class UNet(keras.Model):
    """U-Net from normalized lightness to `head_channels` per pixel.

    The input is L in [0, 1], shape [B, H, W, 1], with H and W divisible by
    2 ** (len(filters) - 1); the output is [B, H, W, head_channels] in float32 (logits, or ab
    in the codec's normalization after `head_activation`).

    Args:
        filters: filters per level, top to bottom; the thesis's 32x32 model uses (8, 16, 32)
            (two pools), its 128x128 model (16, 32, 64, 128, 128) (down to 8x8).
        head_channels: outputs per pixel (`codec.channels`).
        head_activation: None (logits / linear), "sigmoid" or "tanh" (`codec.output_activation`).
        input_shape: spatial shape; (None, None) makes the model fully convolutional.
    """

    def __init__(
        self,
        filters=(8, 16, 32),
        head_channels: int = 324,
        head_activation: str | None = None,
        image_shape=(None, None),
        **kwargs,
    ):
        filters = tuple(int(f) for f in filters)
        if len(filters) < 2 or min(filters) < 1:
            raise ValueError(
                f"filters needs at least two positive levels. Received: filters={filters}"
            )
        if head_channels < 1:
            raise ValueError(f"head_channels must be positive. Received: {head_channels}")
        if head_activation not in (None, "sigmoid", "tanh"):
            raise ValueError(
                "head_activation must be None, 'sigmoid' or 'tanh'. "
                f"Received: head_activation={head_activation!r}"
            )

        # === Functional Model ===
        lightness = keras.Input(shape=(*image_shape, 1), name="lightness")
        x = lightness
        skips = []
        for level, level_filters in enumerate(filters[:-1]):
            x = apply_conv_block(x, level_filters, name=f"down{level}")
            skips.append(x)
            x = keras.layers.MaxPooling2D(2, name=f"down{level}_pool")(x)
        x = apply_conv_block(x, filters[-1], name="bottleneck")
        for level in reversed(range(len(filters) - 1)):
            x = keras.layers.Conv2DTranspose(
                filters[level], 3, strides=2, padding="same", name=f"up{level}_upconv"
            )(x)
            x = keras.layers.Concatenate(name=f"up{level}_concat")([x, skips[level]])
            x = apply_conv_block(x, filters[level], name=f"up{level}")
        # The head stays float32 under mixed precision: softmax and losses need its range.
        outputs = keras.layers.Conv2D(head_channels, 1, name="head", dtype="float32")(x)
        if head_activation is not None:
            outputs = keras.layers.Activation(
                head_activation, name="head_activation", dtype="float32"
            )(outputs)
        super().__init__(inputs=lightness, outputs=outputs, **kwargs)

        # === Config ===
        self.filters = filters
        self.head_channels = head_channels
        self.head_activation = head_activation
        self.image_shape = tuple(image_shape)

    @property
    def downsampling(self) -> int:
        """Input sides must be multiples of this."""
        return 2 ** (len(self.filters) - 1)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "filters": list(self.filters),
            "head_channels": self.head_channels,
            "head_activation": self.head_activation,
            "image_shape": list(self.image_shape),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
