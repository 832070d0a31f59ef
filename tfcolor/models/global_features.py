"""Iizuka et al.'s global features: the image-level vector that their network, the thesis U-Net
(`global_features="fusion"`) and the video U-Net fuse into every position of their grids.

The low-level network (6 convolutions, down to 1/8) runs on a fixed `global_size` square
rescale of the input, then four more convolutions and three dense layers give a 256-d vector
(and the 512-d layer before it, which the classification network takes). The rescale makes the
vector independent of the input's size; the flatten before the dense layers ties their size to
`global_size`, so a network's `global_size` is fixed once built. IizukaNet shares the low-level
layers with its local path; the U-Nets give the global path its own.
"""

from __future__ import annotations

import keras

from tfcolor.config.configs import former_simple_global
from tfcolor.config.options import SIMPLE_GLOBAL_WIDTH
from tfcolor.models.blocks import Resize, apply_conv_stack, apply_layers

__all__ = [
    "GLOBAL_CONVS",
    "GLOBAL_DENSE",
    "LOW_LEVEL",
    "SIMPLE_GLOBAL_WIDTH",
    "apply_global_network",
    "check_global_size",
    "check_simple_global_width",
    "former_simple_global",
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


def check_simple_global_width(simple_global_width: int) -> None:
    """Raises ValueError for a width the simplified global network cannot have."""
    if isinstance(simple_global_width, bool) or not (
        isinstance(simple_global_width, int) and simple_global_width >= 1
    ):
        raise ValueError(
            "simple_global_width must be a positive integer. "
            f"Received: simple_global_width={simple_global_width!r}"
        )


def apply_global_network(
    lightness,
    global_size: int,
    simple_global: bool,
    low_level_layers: list[keras.layers.Layer],
    name: str = "global",
    simple_global_width: int = SIMPLE_GLOBAL_WIDTH,
    simple_global_pool: bool = False,
):
    """Iizuka et al.'s global features from a fixed-size rescale of the input.

    Args:
        lightness: L in [0, 1], [B, H, W, 1], any size.
        global_size: side of the square rescale (the paper: 224).
        simple_global: the course report's simplification: one 3x3 convolution (stride 1) on
            the low-level features to `simple_global_width` channels, flattened into the dense
            layers, in place of the four 512-filter convolutions (9.4M weights). At 224 and
            width 32 the flatten holds 28 * 28 * 32 values, as many as the paper's 7 * 7 * 512,
            so its first dense layer keeps the paper's 25.7M weights; a wider convolution
            widens that layer in proportion.
        low_level_layers: the low-level network's layers (`conv_stack_layers(LOW_LEVEL)`);
            IizukaNet passes the local path's own, so the two paths share their weights.
        name: layer name prefix.
        simple_global_width: the simplified network's convolution's filters (the report: 32).
        simple_global_pool: with `simple_global`, tfcolor's former simplification: the
            convolution at stride 2 and a global average pool in place of the flatten (the
            runs made with it set width 512; `former_simple_global`).

    Returns:
        `(vector, features)`: the 256-d global vector [B, 256] that the fusion layer takes,
        and the 512-d layer before it [B, 512] that the classification network takes.
    """
    x = Resize(global_size, global_size, name=f"{name}_rescale")(lightness)
    x = apply_layers(x, low_level_layers)
    if simple_global and simple_global_pool:
        x = apply_conv_stack(x, [(simple_global_width, 2)], name=name, batch_norm=True)
        x = keras.layers.GlobalAveragePooling2D(name=f"{name}_pool")(x)
    elif simple_global:
        x = apply_conv_stack(x, [(simple_global_width, 1)], name=name, batch_norm=True)
        x = keras.layers.Flatten(name=f"{name}_flatten")(x)
    else:
        x = apply_conv_stack(x, GLOBAL_CONVS, name=name, batch_norm=True)
        x = keras.layers.Flatten(name=f"{name}_flatten")(x)
    outputs = []
    for index, units in enumerate(GLOBAL_DENSE, start=1):
        x = keras.layers.Dense(units, activation="relu", name=f"{name}_dense{index}")(x)
        outputs.append(x)
    return outputs[-1], outputs[-2]
