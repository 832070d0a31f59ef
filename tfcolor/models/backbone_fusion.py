"""The Keras baseline after Emil Wallner's blog ("Coloring B&W portraits with neural networks",
2017): a strided-convolution encoder, a pretrained `keras.applications` classifier's embedding
of the image fused into its bottleneck, and an upsampling decoder.

The backbone sees the lightness as a gray RGB image, made inside the model: L -> sRGB with
a = b = 0, resized to the backbone's input size and scaled as the backbone expects, so the
caller feeds the same L in [0, 1] as to every other model.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfcolor import color
from tfcolor.models.blocks import (
    Resize,
    apply_conv_stack,
    apply_fusion,
    apply_head,
    apply_output_resize,
    apply_upsampling_decoder,
    check_head_arguments,
    check_output_stride,
)
from tfcolor.models.global_features import LOW_LEVEL
from tfcolor.models.iizuka import MID_LEVEL

__all__ = [
    "BACKBONES",
    "BackboneFusionNet",
    "LightnessToRGB",
    "apply_backbone_embedding",
    "check_backbone_arguments",
]

# name: (keras.applications constructor, input side, scaling of RGB in [0, 255] before it).
# InceptionResNetV2 and MobileNetV2 take x / 127.5 - 1 (their `preprocess_input`, mode "tf");
# EfficientNetB0 takes [0, 255] and rescales inside the model.
BACKBONES = {
    "inception_resnet_v2": (keras.applications.InceptionResNetV2, 299, (1 / 127.5, -1.0)),
    "mobilenet_v2": (keras.applications.MobileNetV2, 224, (1 / 127.5, -1.0)),
    "efficientnet_b0": (keras.applications.EfficientNetB0, 224, None),
}
EMBEDDINGS = ("predictions", "pooled")

# Wallner's encoder is Iizuka et al.'s low- and mid-level network (his blog follows the paper)
# without batch norm; his decoder is their colorization network with one 64-filter
# convolution fewer and a 16-filter one more.
ENCODER = LOW_LEVEL + MID_LEVEL
DECODER = ((128,), (64,), (32, 16))
FUSION_FILTERS = 256


@keras.saving.register_keras_serializable(package="tfcolor")
class LightnessToRGB(keras.layers.Layer):
    """Normalized lightness [B, H, W, 1] in [0, 1] -> gray sRGB [B, H, W, 3] in [0, 255].

    The Lab -> sRGB conversion with a = b = 0 (`tfcolor.color`), so the backbone sees the gray
    image that a photo with this lightness has.
    """

    def call(self, lightness):
        lightness = tf.cast(lightness, tf.float32)
        neutral_ab = tf.concat([tf.zeros_like(lightness)] * 2, axis=-1)
        # Grey lies inside the gamut: nothing to map (`clip` skips the chroma search).
        rgb = color.lab_from_parts(lightness, neutral_ab, gamut="clip") * 255.0
        return tf.cast(rgb, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 3)


def check_backbone_arguments(backbone: str, weights: str | None, embedding: str) -> None:
    """Raises ValueError for an unknown backbone or embedding, or a missing weights file."""
    if backbone not in BACKBONES:
        raise ValueError(
            f"backbone must be one of {', '.join(BACKBONES)}. Received: backbone={backbone!r}"
        )
    if embedding not in EMBEDDINGS:
        raise ValueError(
            f"backbone_embedding must be one of {', '.join(EMBEDDINGS)}. "
            f"Received: backbone_embedding={embedding!r}"
        )
    if weights not in ("imagenet", None) and not tf.io.gfile.exists(weights):
        raise ValueError(
            "backbone_weights must be 'imagenet', None or an existing weights file "
            f"(.weights.h5, or a Keras application's .h5). Received: backbone_weights={weights!r}"
        )


def apply_backbone_embedding(
    lightness,
    backbone: str = "inception_resnet_v2",
    weights: str | None = "imagenet",
    trainable: bool = False,
    embedding: str = "predictions",
    name: str = "embedding",
):
    """A `keras.applications` classifier's embedding of the gray image.

    Builds the backbone (once per call: call this once per model).

    Args:
        lightness: L in [0, 1], [B, H, W, 1], any size: it is resized to the backbone's input
            size (299 for InceptionResNetV2, 224 for the others).
        backbone: `inception_resnet_v2` (Wallner's), `mobilenet_v2` or `efficientnet_b0`.
        weights: `imagenet` (Keras downloads them), None (random) or the path of a weights
            file for the whole classifier (include_top=True with "predictions", False with
            "pooled"): a `.weights.h5` from `save_weights`, or Keras' own `.h5` downloads.
        trainable: False freezes the backbone (Wallner). True trains it, but its batch norm
            layers stay frozen in inference mode, as Keras' fine-tuning guide advises.
        embedding: `predictions`: the 1000 ImageNet class probabilities, as Wallner fused
            them; `pooled`: the globally average-pooled last feature map (1536-d for
            InceptionResNetV2, 1280-d for the others), a richer description of the scene.
        name: prefix; the backbone model is `{name}_{backbone}`.

    Returns:
        The embedding [B, D].

    Raises:
        ValueError: an unknown backbone or embedding, or a weights file that does not exist.
    """
    check_backbone_arguments(backbone, weights, embedding)
    constructor, size, scaling = BACKBONES[backbone]
    include_top = embedding == "predictions"
    model = constructor(
        include_top=include_top,
        weights=weights,
        input_shape=(size, size, 3),
        pooling=None if include_top else "avg",
        name=f"{name}_{backbone}",
    )
    model.trainable = trainable
    if trainable:
        for layer in model.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False
    x = LightnessToRGB(name=f"{name}_gray_rgb")(lightness)
    x = Resize(size, size, name=f"{name}_resize")(x)
    if scaling is not None:
        x = keras.layers.Rescaling(*scaling, name=f"{name}_rescale")(x)
    # training=False is the intent; a functional model's own `training` overrides it, so the
    # frozen layers (trainable=False) are what keeps batch norm in inference mode.
    return model(x, training=False)


@keras.saving.register_keras_serializable(package="tfcolor")
class BackboneFusionNet(keras.Model):
    """Wallner's network: strided encoder, backbone embedding fused at 1/8, upsampling decoder.

    Encoder: 3x3 convolutions 64 (stride 2), 128, 128 (s2), 256, 256 (s2), 512, 512, 256 with
    ReLU and no pooling; fusion of the embedding to 256 channels (1x1); decoder: 128, x2, 64,
    x2, 32, 16, then the 3x3 head at half resolution, upsampled (bilinear) to the input's size.

    The input is L in [0, 1], shape [B, H, W, 1], of any size (multiples of 8 make every stride
    exact); the output is [B, ceil(H / output_stride), ceil(W / output_stride), head_channels]
    in float32.

    `from_config` (and so `.keras` loading) builds the backbone without loading
    `backbone_weights` (no download, no file needed): the saved weights replace them anyway.
    The config still names them.

    Args:
        head_channels: outputs per pixel (`codec.channels`); Wallner: 2 (ab / 128).
        head_activation: None, "sigmoid" or "tanh" (Wallner; `codec.output_activation`).
        output_stride: 1 or 2: the half-resolution head, upsampled to full size or kept; 4 or
            8: the decoder stops at that resolution and the head predicts there.
        backbone, backbone_weights, backbone_trainable, backbone_embedding: see
            `apply_backbone_embedding`.
        image_shape: spatial input shape; (None, None) takes any size.
    """

    def __init__(
        self,
        head_channels: int = 2,
        head_activation: str | None = "tanh",
        output_stride: int = 1,
        backbone: str = "inception_resnet_v2",
        backbone_weights: str | None = "imagenet",
        backbone_trainable: bool = False,
        backbone_embedding: str = "predictions",
        image_shape=(None, None),
        **kwargs,
    ):
        check_head_arguments(head_channels, head_activation)
        check_output_stride(output_stride, maximum=8)
        check_backbone_arguments(backbone, backbone_weights, backbone_embedding)

        # === Functional Model ===
        lightness = keras.Input(shape=(*image_shape, 1), name="lightness")
        x = apply_conv_stack(lightness, ENCODER, name="encoder")
        embedding = apply_backbone_embedding(
            lightness,
            backbone,
            backbone_weights,
            backbone_trainable,
            backbone_embedding,
            name="embedding",
        )
        x = apply_fusion(x, embedding, FUSION_FILTERS, name="fusion")
        x = apply_upsampling_decoder(x, DECODER, output_stride, name="decoder")
        colors = apply_head(x, head_channels, head_activation, kernel_size=3)
        colors = apply_output_resize(colors, lightness, output_stride)
        super().__init__(inputs=lightness, outputs=colors, **kwargs)

        # === Config ===
        self.head_channels = head_channels
        self.head_activation = head_activation
        self.output_stride = output_stride
        self.backbone = backbone
        self.backbone_weights = backbone_weights
        self.backbone_trainable = backbone_trainable
        self.backbone_embedding = backbone_embedding
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
            "backbone": self.backbone,
            "backbone_weights": self.backbone_weights,
            "backbone_trainable": self.backbone_trainable,
            "backbone_embedding": self.backbone_embedding,
            "image_shape": list(self.image_shape),
        }

    @classmethod
    def from_config(cls, config):
        return build_without_backbone_weights(cls, config)


def build_without_backbone_weights(cls, config):
    """`cls(**config)` with a randomly initialized backbone; the config keeps its weights.

    Keras calls `from_config` and then loads the saved weights, so loading the backbone's
    own weights first would only cost a download, or fail when the file has moved.
    """
    model = cls(**{**config, "backbone_weights": None})
    model.backbone_weights = config.get("backbone_weights", "imagenet")
    return model
