"""Iizuka et al.'s global features: the image-level vector that their network, the thesis U-Net
(`global_features="fusion"`) and the video U-Net fuse into every position of their grids.

The low-level network (6 convolutions, down to 1/8) runs on a fixed `global_size` square
rescale of the input, then four more convolutions and three dense layers give a 256-d vector
(and the 512-d layer before it, which the classification network takes). The rescale makes the
vector independent of the input's size. IizukaNet shares the low-level layers with its local
path; the U-Nets give the global path its own.
"""

from __future__ import annotations

import keras

from tfcolor.models.blocks import Resize, apply_conv_stack, apply_layers

__all__ = [
    "GLOBAL_CONVS",
    "GLOBAL_DENSE",
    "LOW_LEVEL",
    "apply_global_network",
    "check_global_size",
]

# (filters, stride) per convolution, from the paper's Table 1.
LOW_LEVEL = ((64, 2), (128, 1), (128, 2), (256, 1), (256, 2), (512, 1))
GLOBAL_CONVS = ((512, 2), (512, 1), (512, 2), (512, 1))
GLOBAL_DENSE = (1024, 512, 256)

# Iizuka's low-level network down-samples by 8 before the global network's two strides.
_GLOBAL_DOWNSAMPLING = 32


def check_global_size(global_size: int) -> None:
    """Raises ValueError for a global rescale size the global network cannot take."""
    if global_size < _GLOBAL_DOWNSAMPLING or global_size % 16:
        raise ValueError(
            "global_size must be a multiple of 16, at least 32. "
            f"Received: global_size={global_size}"
        )


def apply_global_network(
    lightness,
    global_size: int,
    simple_global: bool,
    low_level_layers: list[keras.layers.Layer],
    name: str = "global",
):
    """Iizuka et al.'s global features from a fixed-size rescale of the input.

    Args:
        lightness: L in [0, 1], [B, H, W, 1], any size.
        global_size: side of the square rescale (the paper: 224).
        simple_global: the course report's memory-saving simplification: one stride-2
            convolution and a global average pool in place of the four convolutions and the
            flatten (whose dense layer alone holds 7 * 7 * 512 * 1024 = 25.7M weights at 224).
        low_level_layers: the low-level network's layers (`conv_stack_layers(LOW_LEVEL)`);
            IizukaNet passes the local path's own, so the two paths share their weights.
        name: layer name prefix.

    Returns:
        `(vector, features)`: the 256-d global vector [B, 256] that the fusion layer takes,
        and the 512-d layer before it [B, 512] that the classification network takes.
    """
    x = Resize(global_size, global_size, name=f"{name}_rescale")(lightness)
    x = apply_layers(x, low_level_layers)
    if simple_global:
        x = apply_conv_stack(x, GLOBAL_CONVS[:1], name=name, batch_norm=True)
        x = keras.layers.GlobalAveragePooling2D(name=f"{name}_pool")(x)
    else:
        x = apply_conv_stack(x, GLOBAL_CONVS, name=name, batch_norm=True)
        x = keras.layers.Flatten(name=f"{name}_flatten")(x)
    outputs = []
    for index, units in enumerate(GLOBAL_DENSE, start=1):
        x = keras.layers.Dense(units, activation="relu", name=f"{name}_dense{index}")(x)
        outputs.append(x)
    return outputs[-1], outputs[-2]
