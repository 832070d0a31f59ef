"""The thesis's U-Net (after ColorUNet, Billaut et al. 2018), optionally with a global vector.

ConvBlock = 2 x (conv 3x3, batch norm, ReLU); max-pool down; transposed conv (3x3, stride 2) up;
skip concatenation; a 1x1 head whose size, activation and meaning come from the codec. The
thesis also tried LeakyReLU and tanh in the blocks (`activation`).

The video report's "U-Net + Feature-Vektor" fuses a global feature vector into the bottleneck
(Iizuka et al.'s fusion layer): a learned one (Iizuka et al.'s global network on a fixed-size
rescale of the input) or a `keras.applications` backbone's embedding.
"""

from __future__ import annotations

import keras

from tfcolor.config import ACTIVATIONS, GLOBAL_FEATURES
from tfcolor.models.backbone_fusion import (
    apply_backbone_embedding,
    build_without_backbone_weights,
    check_backbone_arguments,
)
from tfcolor.models.blocks import (
    apply_classifier,
    apply_conv_block,
    apply_fusion,
    apply_head,
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

__all__ = ["UNet", "apply_conv_block"]


@keras.saving.register_keras_serializable(package="tfcolor")
class UNet(keras.Model):
    """U-Net from normalized lightness to `head_channels` per pixel.

    The input is L in [0, 1], shape [B, H, W, 1], with H and W divisible by
    2 ** (len(filters) - 1); the output is [B, H / output_stride, W / output_stride,
    head_channels] in float32 (logits, or ab in the codec's normalization after
    `head_activation`). With `num_classes` the model returns `{"colors": that,
    "class_logits": [B, num_classes] float32}`.

    Args:
        filters: filters per level, top to bottom; the thesis's 32x32 model uses (8, 16, 32)
            (two pools), its 128x128 model (16, 32, 64, 128, 256) (down to 8x8).
        head_channels: outputs per pixel (`codec.channels`).
        activation: the blocks' activation: `relu` (the thesis's runs), `leaky_relu` (slope
            0.01, PyTorch's) or `tanh`, the alternatives the thesis tried.
        batch_norm: batch norm in the blocks (the thesis's); False gives the convolutions
            biases instead, the video report's plain U-Net (`VideoUNet(batch_norm=False)`
            without its ConvLSTM: the same layer names and shapes).
        head_activation: None (logits / linear), "sigmoid" or "tanh" (`codec.output_activation`).
        output_stride: the head sits on the decoder level at 1 / output_stride of the input's
            resolution (a power of 2 up to 2 ** (len(filters) - 1)): the decoder stops there,
            and at the largest stride the head sits on the bottleneck (after the fusion).
        global_features: None; `learned`: Iizuka et al.'s global network (its own low-level
            layers, on a `global_size` rescale) gives a 256-d vector; `backbone`: the
            embedding of `apply_backbone_embedding`. The vector is fused into the bottleneck
            (broadcast, concatenation, 1x1 convolution back to filters[-1] channels, so the
            decoder is unchanged).
        global_size: side of the learned global network's rescale (Iizuka et al.: 224).
        simple_global, simple_global_width, simple_global_pool: the learned global network's
            one-convolution simplification (the Iizuka course report's); see
            `apply_global_network`.
        backbone, backbone_weights, backbone_trainable, backbone_embedding: the `backbone`
            global features; see `apply_backbone_embedding`.
        num_classes: Iizuka et al.'s classification network on the learned global features
            (only with global_features="learned").
        image_shape: spatial shape; (None, None) makes the model fully convolutional.
    """

    def __init__(
        self,
        filters=(8, 16, 32),
        head_channels: int = 324,
        head_activation: str | None = None,
        output_stride: int = 1,
        activation: str = "relu",
        batch_norm: bool = True,
        global_features: str | None = None,
        global_size: int = 224,
        simple_global: bool = False,
        simple_global_width: int = SIMPLE_GLOBAL_WIDTH,
        simple_global_pool: bool = False,
        backbone: str = "inception_resnet_v2",
        backbone_weights: str | None = "imagenet",
        backbone_trainable: bool = False,
        backbone_embedding: str = "predictions",
        num_classes: int | None = None,
        image_shape=(None, None),
        **kwargs,
    ):
        filters = tuple(int(f) for f in filters)
        if len(filters) < 2 or min(filters) < 1:
            raise ValueError(
                f"filters needs at least two positive levels. Received: filters={filters}"
            )
        check_head_arguments(head_channels, head_activation)
        check_output_stride(output_stride, maximum=2 ** (len(filters) - 1))
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {', '.join(ACTIVATIONS)}. "
                f"Received: activation={activation!r}"
            )
        if global_features not in GLOBAL_FEATURES:
            raise ValueError(
                f"global_features must be one of {GLOBAL_FEATURES}. "
                f"Received: global_features={global_features!r}"
            )
        check_global_size(global_size)
        check_simple_global_width(simple_global_width)
        check_num_classes(num_classes)
        if num_classes is not None and global_features != "learned":
            raise ValueError(
                "num_classes needs the learned global features. "
                f"Received: global_features={global_features!r}, num_classes={num_classes}"
            )
        if global_features == "backbone":
            check_backbone_arguments(backbone, backbone_weights, backbone_embedding)

        # === Functional Model ===
        lightness = keras.Input(shape=(*image_shape, 1), name="lightness")
        x = lightness
        skips = []
        for level, level_filters in enumerate(filters[:-1]):
            x = apply_conv_block(
                x, level_filters, name=f"down{level}", activation=activation, batch_norm=batch_norm
            )
            skips.append(x)
            x = keras.layers.MaxPooling2D(2, name=f"down{level}_pool")(x)
        x = apply_conv_block(
            x, filters[-1], name="bottleneck", activation=activation, batch_norm=batch_norm
        )
        global_vector = class_logits = None
        if global_features == "learned":
            global_vector, features = apply_global_network(
                lightness,
                global_size,
                simple_global,
                conv_stack_layers(LOW_LEVEL, name="global_low_level", batch_norm=True),
                name="global",
                simple_global_width=simple_global_width,
                simple_global_pool=simple_global_pool,
            )
            if num_classes is not None:
                class_logits = apply_classifier(features, num_classes)
        elif global_features == "backbone":
            global_vector = apply_backbone_embedding(
                lightness,
                backbone,
                backbone_weights,
                backbone_trainable,
                backbone_embedding,
                name="embedding",
            )
        if global_vector is not None:
            x = apply_fusion(x, global_vector, filters[-1], name="fusion")
        for level in reversed(range(len(filters) - 1)):
            if 2 ** (level + 1) == output_stride:
                break
            x = keras.layers.Conv2DTranspose(
                filters[level], 3, strides=2, padding="same", name=f"up{level}_upconv"
            )(x)
            x = keras.layers.Concatenate(name=f"up{level}_concat")([x, skips[level]])
            x = apply_conv_block(
                x, filters[level], name=f"up{level}", activation=activation, batch_norm=batch_norm
            )
        colors = apply_head(x, head_channels, head_activation, kernel_size=1)
        super().__init__(inputs=lightness, outputs=model_outputs(colors, class_logits), **kwargs)

        # === Config ===
        self.filters = filters
        self.head_channels = head_channels
        self.head_activation = head_activation
        self.output_stride = output_stride
        self.activation = activation
        self.batch_norm = bool(batch_norm)
        self.global_features = global_features
        self.global_size = global_size
        self.simple_global = simple_global
        self.simple_global_width = simple_global_width
        self.simple_global_pool = simple_global_pool
        self.backbone = backbone
        self.backbone_weights = backbone_weights
        self.backbone_trainable = backbone_trainable
        self.backbone_embedding = backbone_embedding
        self.num_classes = num_classes
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
            "output_stride": self.output_stride,
            "activation": self.activation,
            "batch_norm": self.batch_norm,
            "global_features": self.global_features,
            "global_size": self.global_size,
            "simple_global": self.simple_global,
            "simple_global_width": self.simple_global_width,
            "simple_global_pool": self.simple_global_pool,
            "backbone": self.backbone,
            "backbone_weights": self.backbone_weights,
            "backbone_trainable": self.backbone_trainable,
            "backbone_embedding": self.backbone_embedding,
            "num_classes": self.num_classes,
            "image_shape": list(self.image_shape),
        }

    @classmethod
    def from_config(cls, config):
        # A model saved before simple_global_width rebuilds the simplification it ran.
        return build_without_backbone_weights(cls, former_simple_global(config))
