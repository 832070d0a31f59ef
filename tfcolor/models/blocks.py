"""Blocks and small layers shared by the colorization networks.

Blocks are plain functions, `apply_xxx(x, ..., name=...)`, whose layers carry fixed names
prefixed by `name`. Where one set of weights serves two inputs (Iizuka's low-level features run
on the local and the global path), `conv_stack_layers` makes the layers once and `apply_layers`
calls them on each input.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

__all__ = [
    "BATCH_NORM_MOMENTUM",
    "BatchNormalization",
    "BroadcastConcatenate",
    "PointwiseDense",
    "Resize",
    "ResizeLike",
    "apply_classifier",
    "apply_conv_block",
    "apply_conv_stack",
    "apply_fusion",
    "apply_head",
    "apply_layers",
    "apply_output_resize",
    "apply_upsampling_decoder",
    "check_head_arguments",
    "check_num_classes",
    "check_output_stride",
    "conv_stack_layers",
    "model_outputs",
]

# PyTorch's default (momentum 0.1 there), the thesis's framework. Keras' 0.99 let the moving
# statistics lag so far behind on shapes that the U-Net's validation accuracy trailed training
# by 60 points for the first epochs (measured).
BATCH_NORM_MOMENTUM = 0.9

HEAD_ACTIVATIONS = (None, "sigmoid", "tanh")

_FUSED_DTYPES = ("float16", "bfloat16", "float32")


@keras.saving.register_keras_serializable(package="tfcolor")
class BatchNormalization(keras.layers.BatchNormalization):
    """Keras' batch norm, trained with TensorFlow's fused kernel on 4-D channels-last input.

    Keras 3 normalizes on TensorFlow with `tf.nn.moments` + `tf.nn.batch_normalization`,
    unfused: a handful of passes over the activations forward and as many backward. In
    training, on [B, H, W, C] input normalized over the last axis, this layer calls
    `FusedBatchNormV3` (oneDNN on CPUs, cuDNN on GPUs) instead: the thesis U-Net's training
    step took 9 % less CPU time (`benchmarks/README.md`). Everything else (inference, masks,
    renorm, synchronized batch norm, other ranks and axes) is the stock layer's, and so are the
    weights, the config and the moving statistics: the fused kernel's variance is Bessel-
    corrected, so it is scaled back by (n - 1) / n before the moving average, as Keras does.
    """

    def _fusable(self, inputs, mask) -> bool:
        return (
            keras.backend.backend() == "tensorflow"
            and mask is None
            and not self.renorm
            and not self.synchronized
            and len(inputs.shape) == 4
            and self.axis in (3, -1)
            and keras.backend.standardize_dtype(inputs.dtype) in _FUSED_DTYPES
        )

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable and self._fusable(inputs, mask)):
            return super().call(inputs, training=training, mask=mask)
        channels = inputs.shape[-1]
        gamma = self.gamma if self.scale else tf.ones([channels])
        beta = self.beta if self.center else tf.zeros([channels])
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs,
            tf.cast(gamma, tf.float32),
            tf.cast(beta, tf.float32),
            epsilon=self.epsilon,
            data_format="NHWC",
            is_training=True,
        )
        shape = tf.shape(inputs)
        count = tf.cast(shape[0] * shape[1] * shape[2], tf.float32)
        variance = variance * ((count - 1.0) / tf.maximum(count, 1.0))
        momentum = self.momentum
        self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
        self.moving_variance.assign(self.moving_variance * momentum + variance * (1.0 - momentum))
        return tf.cast(outputs, self.compute_dtype)


@keras.saving.register_keras_serializable(package="tfcolor")
class PointwiseDense(keras.layers.Dense):
    """Keras' Dense on the last axis of [..., C] input, as one matrix product plus `BiasAdd`.

    Keras 3 computes a Dense layer on 4-D input as `tensordot` and a broadcast add. This layer
    multiplies the flattened pixels [N, C] and adds the bias with `tf.nn.bias_add`, which
    TensorFlow fuses into the product (forward) and reduces with `BiasAddGrad` (backward):
    1.8 % of the thesis U-Net's training step on CPU, whose head writes 16 x 128 x 128 x 324
    floats (measured, benchmarks/README.md). Same weights, config and outputs as Dense; other
    cases (no bias, an activation, LoRA, quantization, 2-D input, other backends) are Dense's.
    """

    def call(self, inputs, training=None):
        if (
            keras.backend.backend() != "tensorflow"
            or self.bias is None
            or self.activation not in (None, keras.activations.linear)
            or self.lora_enabled
            or self.quantization_mode is not None
            or len(inputs.shape) < 3
        ):
            return super().call(inputs, training=training)
        shape = tf.shape(inputs)
        pixels = tf.reshape(inputs, [-1, inputs.shape[-1]])
        outputs = tf.nn.bias_add(tf.matmul(pixels, self.kernel), self.bias)
        return tf.reshape(outputs, tf.concat([shape[:-1], [self.units]], axis=0))


@keras.saving.register_keras_serializable(package="tfcolor")
class BroadcastConcatenate(keras.layers.Layer):
    """Tiles a global vector over every position of a local grid and concatenates.

    Inputs `[local, vector]`: local features [B, h, w, C] and a global vector [B, D].
    Output: [B, h, w, C + D], the vector repeated at every (y, x) after the local channels
    (Iizuka et al. 2016, eq. 1, before the fusion's 1x1 convolution).
    """

    def call(self, inputs):
        local, vector = inputs
        vector = tf.cast(vector, local.dtype)
        shape = tf.shape(local)
        tiled = tf.broadcast_to(
            vector[:, None, None, :], tf.stack([shape[0], shape[1], shape[2], tf.shape(vector)[-1]])
        )
        return tf.concat([local, tiled], axis=-1)

    def compute_output_shape(self, input_shape):
        local, vector = input_shape
        channels = None if local[-1] is None or vector[-1] is None else local[-1] + vector[-1]
        return (*local[:-1], channels)


@keras.saving.register_keras_serializable(package="tfcolor")
class ResizeLike(keras.layers.Layer):
    """Resizes images to the spatial size of a reference tensor (bilinear).

    Inputs `[images, reference]`: images [B, h, w, C], reference [B, H, W, ...].
    Output: [B, H, W, C]. The reference's size is read at run time, so the model takes inputs
    of any size; an equal size is returned unchanged.
    """

    def call(self, inputs):
        images, reference = inputs
        resized = tf.image.resize(images, tf.shape(reference)[1:3], method="bilinear")
        return tf.cast(resized, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        images, reference = input_shape
        return (images[0], reference[1], reference[2], images[-1])


@keras.saving.register_keras_serializable(package="tfcolor")
class Resize(keras.layers.Layer):
    """Resizes images [B, h, w, C] to a fixed [B, height, width, C] (bilinear).

    Not `keras.layers.Resizing`: as a preprocessing layer, its `call` defaults to
    training=True, and a model called without `training` passes that on to every layer after
    it, so batch norm ran in training mode in `model(x)` (and in an export) (measured).
    No antialiasing: tf.image.resize's antialiased kernel does not compile with XLA.
    """

    def __init__(self, height: int, width: int, **kwargs):
        super().__init__(**kwargs)
        self.height = int(height)
        self.width = int(width)

    def call(self, images):
        resized = tf.image.resize(images, (self.height, self.width), method="bilinear")
        return tf.cast(resized, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}


def check_head_arguments(head_channels: int, head_activation: str | None) -> None:
    """Raises ValueError for a head size or activation no codec asks for."""
    if head_channels < 1:
        raise ValueError(f"head_channels must be positive. Received: head_channels={head_channels}")
    if head_activation not in HEAD_ACTIVATIONS:
        raise ValueError(
            "head_activation must be None, 'sigmoid' or 'tanh'. "
            f"Received: head_activation={head_activation!r}"
        )


def conv_stack_layers(
    spec: Sequence[tuple[int, int]], name: str, batch_norm: bool, activation: str = "relu"
) -> list[keras.layers.Layer]:
    """The layers of a stack of 3x3 convolutions ('same' padding), each followed by ReLU.

    Args:
        spec: (filters, stride) per convolution; stride 2 halves the size (an odd side n
            becomes ceil(n / 2)).
        name: prefix; layers `{name}_conv1`, `{name}_bn1`, `{name}_relu1`, `{name}_conv2`, ...
        batch_norm: batch norm between each convolution and its ReLU (the convolution then has
            no bias).
        activation: `relu`, or `leaky_relu` / `tanh` in its place (layers
            `{name}_leaky_relu1`, `{name}_tanh1`, ...): the thesis's alternatives.

    Returns:
        The layers in call order, for `apply_layers` (once, or on several inputs to share them).
    """
    layers = []
    for index, (filters, strides) in enumerate(spec, start=1):
        layers.append(
            keras.layers.Conv2D(
                filters,
                3,
                strides=strides,
                padding="same",
                use_bias=not batch_norm,
                name=f"{name}_conv{index}",
            )
        )
        if batch_norm:
            layers.append(
                BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=f"{name}_bn{index}")
            )
        layers.append(_activation_layer(activation, name=f"{name}_{activation}{index}"))
    return layers


def _activation_layer(activation: str, name: str) -> keras.layers.Layer:
    if activation == "relu":
        return keras.layers.ReLU(name=name)
    if activation == "leaky_relu":
        # PyTorch's default slope (the thesis's framework), not Keras' 0.3.
        return keras.layers.LeakyReLU(negative_slope=0.01, name=name)
    if activation == "tanh":
        return keras.layers.Activation("tanh", name=name)
    raise ValueError(
        f"activation must be one of relu, leaky_relu, tanh. Received: activation={activation!r}"
    )


def apply_layers(x, layers: Sequence[keras.layers.Layer]):
    """Calls the layers in order."""
    for layer in layers:
        x = layer(x)
    return x


def apply_conv_stack(
    x,
    spec: Sequence[tuple[int, int]],
    name: str,
    batch_norm: bool = False,
    activation: str = "relu",
):
    """A stack of 3x3 convolutions + (batch norm) + ReLU; see `conv_stack_layers`."""
    layers = conv_stack_layers(spec, name=name, batch_norm=batch_norm, activation=activation)
    return apply_layers(x, layers)


def apply_conv_block(x, filters: int, name: str, activation: str = "relu", batch_norm: bool = True):
    """Two 3x3 convolutions, each followed by batch norm and ReLU (the thesis's ConvBlock;
    `activation` `leaky_relu` or `tanh` in place of ReLU, as the thesis also tried; without
    `batch_norm` the convolutions have biases, the video report's plain U-Net)."""
    return apply_conv_stack(
        x, [(filters, 1), (filters, 1)], name=name, batch_norm=batch_norm, activation=activation
    )


def apply_fusion(local, global_vector, filters: int, name: str):
    """Iizuka et al.'s fusion layer: the global vector at every position, then 1x1 conv + ReLU.

    Args:
        local: local features [B, h, w, C].
        global_vector: [B, D] (Iizuka: 256-d; the Keras baseline: the backbone's embedding).
        filters: output channels (Iizuka et al. and the Keras baseline: 256).
        name: layer name prefix.

    Returns:
        [B, h, w, filters].
    """
    x = BroadcastConcatenate(name=f"{name}_concat")([local, global_vector])
    x = keras.layers.Conv2D(filters, 1, name=f"{name}_conv")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def apply_upsampling_decoder(
    x,
    level_filters: Sequence[Sequence[int]],
    output_stride: int,
    name: str,
    batch_norm: bool = False,
):
    """3x3 convolutions per level with x2 nearest-neighbour upsampling between levels.

    Iizuka et al.'s colorization network and the Keras baseline's decoder. `x` is at
    1 / 2 ** len(level_filters) of the input's resolution; the last level sits at 1/2, where
    both papers put the output layer. The decoder stops at the level of 1 / output_stride
    (output strides below 2 stop at 1/2: the output is upsampled to full size after the head).

    Args:
        x: features [B, h, w, C].
        level_filters: filters of each level's convolutions, coarsest level first.
        output_stride: the head's resolution is 1 / max(output_stride, 2) of the input's.
        name: prefix; level i has convolutions `{name}_level{i}_conv1`, ... and, from the
            second level on, the upsampling `{name}_up{i}` before them.
        batch_norm: batch norm after each convolution (Iizuka et al.; the baseline had none).
    """
    stride = 2 ** len(level_filters)
    for level, filters in enumerate(level_filters, start=1):
        if level > 1:
            x = keras.layers.UpSampling2D(2, name=f"{name}_up{level}")(x)
            stride //= 2
        x = apply_conv_stack(
            x, [(f, 1) for f in filters], name=f"{name}_level{level}", batch_norm=batch_norm
        )
        if stride <= max(output_stride, 2):
            break
    return x


def apply_head(x, head_channels: int, head_activation: str | None, kernel_size: int, name="head"):
    """The codec's head: `head_channels` per pixel, float32 (softmax and losses need its range).

    A 1x1 head is a dense layer on the channels (`PointwiseDense`): the same weights and
    outputs as a 1x1 `Conv2D`, and on CPUs its gradient is a matrix product (MKL) instead of
    oneDNN's slow 1x1 backprop-filter on few input channels (3 % of the U-Net's training step,
    measured).
    """
    if kernel_size == 1:
        head = PointwiseDense(head_channels, name=name, dtype="float32")
    else:
        head = keras.layers.Conv2D(
            head_channels, kernel_size, padding="same", name=name, dtype="float32"
        )
    x = head(x)
    if head_activation is not None:
        x = keras.layers.Activation(head_activation, name=f"{name}_activation", dtype="float32")(x)
    return x


def apply_output_resize(colors, lightness, output_stride: int, name: str = "output"):
    """Resizes the head's output to ceil(H / output_stride) x ceil(W / output_stride).

    The size is that of the lightness average-pooled by `output_stride` ('same' padding), the
    way targets at a coarser stride are made, so any input size gets outputs of the matching
    size: the input's own size at output_stride 1.
    """
    reference = lightness
    if output_stride > 1:
        reference = keras.layers.AveragePooling2D(
            output_stride, padding="same", name=f"{name}_grid"
        )(lightness)
    return ResizeLike(name=f"{name}_resize", dtype="float32")([colors, reference])


def apply_classifier(features, num_classes: int, name: str = "classifier"):
    """Iizuka et al.'s classification network on the global features: FC 256, FC classes.

    Returns:
        float32 logits [B, num_classes].
    """
    x = keras.layers.Dense(256, activation="relu", name=f"{name}_dense")(features)
    return keras.layers.Dense(num_classes, name="class_logits", dtype="float32")(x)


def check_output_stride(output_stride: int, maximum: int) -> None:
    """Raises ValueError unless output_stride is a power of 2 from 1 to maximum."""
    if output_stride < 1 or output_stride & (output_stride - 1) or output_stride > maximum:
        raise ValueError(
            f"output_stride must be a power of 2 from 1 to {maximum}. "
            f"Received: output_stride={output_stride}"
        )


def check_num_classes(num_classes: int | None) -> None:
    """Raises ValueError unless num_classes is None or at least 2."""
    if num_classes is not None and num_classes < 2:
        raise ValueError(f"num_classes must be at least 2. Received: num_classes={num_classes}")


def model_outputs(colors, class_logits=None):
    """A single colour tensor, or the dict with the classification logits beside it."""
    if class_logits is None:
        return colors
    return {"colors": colors, "class_logits": class_logits}
