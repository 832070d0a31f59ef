"""Iizuka et al. 2016, "Let there be Color!" (SIGGRAPH), as in the paper.

Low-level features (6 convolutions, down to 1/8) run with the same weights on the input (the
local path) and on a `global_size` x `global_size` rescale of it (the global path). The local
path goes on through the mid-level features; the global path through four more convolutions
and three dense layers to a 256-d vector. The fusion layer puts that vector at every position
of the mid-level grid (concatenation and a 1x1 convolution), and the colorization network
upsamples to half the input's resolution, where the output layer predicts; that output is
then upsampled (bilinear) to the input's size. An optional classification network on the
global features predicts the image's class (the paper's joint training).

Every convolution is 3x3 with 'same' padding, batch norm and ReLU (the output layer: the
codec's activation). Because the global path always sees the fixed rescale, the local path
takes any input size.

Without the global network (`global_network=False`) the mid-level features go straight into
the colorization network: the course report's "basic colorization model", which it compared
with the full one.
"""

from __future__ import annotations

import keras

from tfcolor.models.blocks import (
    apply_classifier,
    apply_conv_stack,
    apply_fusion,
    apply_head,
    apply_layers,
    apply_output_resize,
    apply_upsampling_decoder,
    check_head_arguments,
    check_num_classes,
    check_output_stride,
    conv_stack_layers,
    model_outputs,
)
from tfcolor.models.global_features import (
    LOW_LEVEL,
    SIMPLE_GLOBAL_WIDTH,
    apply_global_network,
    check_global_size,
    check_simple_global_width,
    former_simple_global,
)

__all__ = ["COLORIZATION", "MID_LEVEL", "IizukaNet"]

# (filters, stride) per convolution, from the paper's Table 1 (the low level: global_features).
MID_LEVEL = ((512, 1), (256, 1))
# Colorization network: filters per level at 1/8, 1/4 and 1/2 of the input's resolution.
COLORIZATION = ((128,), (64, 64), (32,))
# Fusion output channels (the paper's fusion layer).
FUSION_FILTERS = 256


@keras.saving.register_keras_serializable(package="tfcolor")
class IizukaNet(keras.Model):
    """Iizuka et al. 2016: local and global features, fused, from lightness to the codec's head.

    The input is L in [0, 1], shape [B, H, W, 1], of any size (multiples of 8 make every
    stride exact); the output is [B, ceil(H / output_stride), ceil(W / output_stride),
    head_channels] in float32: the input's own size at output_stride 1. With `num_classes`
    the model returns `{"colors": that, "class_logits": [B, num_classes] float32}`.

    Args:
        head_channels: outputs per pixel (`codec.channels`); the paper: 2 (ab).
        head_activation: None, "sigmoid" (the paper) or "tanh" (`codec.output_activation`).
        output_stride: 1 or 2: the output layer's half-resolution prediction is upsampled
            (bilinear) to the input's size, or kept at half size (the paper's own output);
            4 or 8: the colorization network stops at that resolution and predicts there.
        global_network: the global features network and the fusion layer (the paper); False:
            the course report's basic model, the mid-level features (256 channels, as the
            fusion layer's output) straight into the colorization network.
        global_size: side of the global path's square rescale (the paper: 224).
        simple_global: the course report's simplified global network: one convolution to
            `simple_global_width` channels (28x28x32 at 224), flattened into the dense layers
            (see `apply_global_network`).
        simple_global_width: that convolution's filters (the report: 32).
        simple_global_pool: tfcolor's former simplification (the convolution at stride 2 and
            a global average pool), which its runs rebuild.
        num_classes: adds the classification network on the global features.
        image_shape: spatial input shape; (None, None) takes any size.

    Raises:
        ValueError: an argument out of range, or a global network setting (`simple_global`,
            `num_classes`) without the global network, named with its value.
    """

    def __init__(
        self,
        head_channels: int = 2,
        head_activation: str | None = "sigmoid",
        output_stride: int = 1,
        global_network: bool = True,
        global_size: int = 224,
        simple_global: bool = False,
        simple_global_width: int = SIMPLE_GLOBAL_WIDTH,
        simple_global_pool: bool = False,
        num_classes: int | None = None,
        image_shape=(None, None),
        **kwargs,
    ):
        check_head_arguments(head_channels, head_activation)
        check_output_stride(output_stride, maximum=8)
        check_global_size(global_size)
        check_simple_global_width(simple_global_width)
        check_num_classes(num_classes)
        if not global_network and (simple_global or num_classes is not None):
            raise ValueError(
                "simple_global and num_classes need the global network. Received: "
                f"global_network=False, simple_global={simple_global}, num_classes={num_classes}"
            )

        # === Functional Model ===
        lightness = keras.Input(shape=(*image_shape, 1), name="lightness")
        # One set of low-level layers, called on both paths: the paper shares their weights.
        low_level = conv_stack_layers(LOW_LEVEL, name="low_level", batch_norm=True)
        local = apply_layers(lightness, low_level)
        x = apply_conv_stack(local, MID_LEVEL, name="mid_level", batch_norm=True)
        global_features = None
        if global_network:
            global_vector, global_features = apply_global_network(
                lightness,
                global_size,
                simple_global,
                low_level,
                name="global",
                simple_global_width=simple_global_width,
                simple_global_pool=simple_global_pool,
            )
            x = apply_fusion(x, global_vector, FUSION_FILTERS, name="fusion")
        x = apply_upsampling_decoder(
            x, COLORIZATION, output_stride, name="colorization", batch_norm=True
        )
        colors = apply_head(x, head_channels, head_activation, kernel_size=3)
        colors = apply_output_resize(colors, lightness, output_stride)
        class_logits = None
        if num_classes is not None:
            class_logits = apply_classifier(global_features, num_classes)
        super().__init__(inputs=lightness, outputs=model_outputs(colors, class_logits), **kwargs)

        # === Config ===
        self.head_channels = head_channels
        self.head_activation = head_activation
        self.output_stride = output_stride
        self.global_network = bool(global_network)
        self.global_size = global_size
        self.simple_global = simple_global
        self.simple_global_width = simple_global_width
        self.simple_global_pool = simple_global_pool
        self.num_classes = num_classes
        self.image_shape = tuple(image_shape)

    @property
    def downsampling(self) -> int:
        """Input sides that are multiples of this make every stride exact (other sizes work)."""
        return 8

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "head_channels": self.head_channels,
            "head_activation": self.head_activation,
            "output_stride": self.output_stride,
            "global_network": self.global_network,
            "global_size": self.global_size,
            "simple_global": self.simple_global,
            "simple_global_width": self.simple_global_width,
            "simple_global_pool": self.simple_global_pool,
            "num_classes": self.num_classes,
            "image_shape": list(self.image_shape),
        }

    @classmethod
    def from_config(cls, config):
        # A model saved before simple_global_width rebuilds the simplification it ran.
        return cls(**former_simple_global(config))
