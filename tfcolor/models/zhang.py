"""Zhang et al.'s released colorizers: "Colorful Image Colorization" (ECCV 2016) and
"Real-Time User-Guided Image Colorization" (SIGGRAPH 2017), layer for layer as the authors'
PyTorch reference (richzhang/colorization), so its released weights load into them
(`tfcolor.pretrained`) and give the reference's outputs.

Both are VGG-style stacks of 3x3 convolutions with ReLU, each block closed by batch norm;
blocks 5 and 6 are dilated (2) at 1/8 of the input's resolution. `ZhangECCV16` halves the
resolution by stride-2 convolutions (padded by 1 on every side, as PyTorch pads, where a
Keras 'same' stride-2 convolution would pad only after), goes back to 1/4 with a 4x4
transposed convolution and predicts its head there: Zhang et al.'s 313 bins, decoded by the
gamut codec. `ZhangSIGGRAPH17` keeps every other pixel between its first four blocks, takes
ab hints and their mask beside the lightness, climbs back to full resolution through three
transposed convolutions each added to a shortcut from the encoder, and regresses ab through a
tanh head (ab / 110); its classification head (529 ab classes at 1/4 resolution) is kept.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfcolor.models.blocks import (
    BATCH_NORM_MOMENTUM,
    BatchNormalization,
    PointwiseDense,
    apply_head,
    check_head_arguments,
)

__all__ = [
    "AB_NORM",
    "ECCV16_BLOCKS",
    "ECCV16_FILTERS",
    "SIGGRAPH17_BLOCKS",
    "SIGGRAPH17_FILTERS",
    "KeepBranch",
    "LinearScaling",
    "ZeroHints",
    "ZhangECCV16",
    "ZhangSIGGRAPH17",
]

# The reference's input and output scaling (base_color.py): (L - 50) / 100 in, ab / 110 out.
# tfcolor's models take L / 100, so the input is L / 100 - 0.5.
LIGHTNESS_OFFSET = -0.5
AB_NORM = 110.0
# PyTorch's BatchNorm2d epsilon, which the reference's layers use (Keras' default is 1e-3).
BATCH_NORM_EPSILON = 1e-5
# The reference's filters of blocks 1-8 (ECCV 2016) and 1-10 (SIGGRAPH 2017); `smoke`
# configs narrow them.
ECCV16_FILTERS = (64, 128, 256, 512, 512, 512, 512, 256)
SIGGRAPH17_FILTERS = (64, 128, 256, 512, 512, 512, 512, 256, 128, 128)
# (convolutions, stride of the last one, dilation) of blocks 1-7 of the ECCV 2016 network
# (the paper's conv1-conv7).
ECCV16_BLOCKS = ((2, 2, 1), (2, 2, 1), (3, 2, 1), (3, 1, 1), (3, 1, 2), (3, 1, 2), (3, 1, 1))
# (convolutions, dilation) of blocks 1-7 of the SIGGRAPH 2017 network; every other pixel is
# kept after blocks 1-3.
SIGGRAPH17_BLOCKS = ((2, 1), (2, 1), (3, 1), (3, 1), (3, 2), (3, 2), (3, 1))
# The SIGGRAPH 2017 network's classification head: a 23 x 23 grid of ab classes.
SIGGRAPH17_AB_CLASSES = 529
# ab hints + their mask: the SIGGRAPH 2017 network's extra input channels.
HINT_CHANNELS = 3
DOWNSAMPLING = 8


@keras.saving.register_keras_serializable(package="tfcolor")
class LinearScaling(keras.layers.Layer):
    """x * scale + offset. Not `keras.layers.Rescaling`: a preprocessing layer would pass
    training=True on to the batch norm after it in `model(x)` (see `blocks.Resize`)."""

    def __init__(self, scale: float = 1.0, offset: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)
        self.offset = float(offset)

    def call(self, inputs):
        return tf.cast(inputs, self.compute_dtype) * self.scale + self.offset

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


@keras.saving.register_keras_serializable(package="tfcolor")
class ZeroHints(keras.layers.Layer):
    """No user hints: zeros [B, H, W, 3] (ab = 0 and mask = 0) for lightness [B, H, W, 1], as
    the reference's forward pass makes them when it is given none."""

    def call(self, lightness):
        shape = tf.shape(lightness)
        return tf.zeros(tf.concat([shape[:-1], [HINT_CHANNELS]], axis=0), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], HINT_CHANNELS)


@keras.saving.register_keras_serializable(package="tfcolor")
class KeepBranch(keras.layers.Layer):
    """Returns its first input; the second is a branch kept in the model for its weights.

    The SIGGRAPH 2017 network's classification head does not feed its colours (the reference
    computes it and drops it); it stays in the model so that the released weights are all
    kept and later uses (hint suggestions) can read it. A traced graph prunes it, so it costs
    nothing in `fit`, `predict` or an export.
    """

    def call(self, inputs):
        kept, _ = inputs
        return kept

    def compute_output_shape(self, input_shape):
        return input_shape[0]


def _check_filters(filters, expected: tuple) -> tuple:
    filters = tuple(int(f) for f in filters)
    if len(filters) != len(expected) or min(filters) < 1:
        raise ValueError(
            f"filters needs {len(expected)} positive levels (the reference's: {expected}). "
            f"Received: filters={filters}"
        )
    return filters


def _check_image_shape(image_shape) -> tuple:
    image_shape = tuple(image_shape)
    if len(image_shape) != 2 or any(
        side is not None and (side < DOWNSAMPLING or side % DOWNSAMPLING) for side in image_shape
    ):
        raise ValueError(
            f"image_shape must be (height, width), each None or a multiple of {DOWNSAMPLING}. "
            f"Received: image_shape={image_shape}"
        )
    return image_shape


def _conv(x, filters: int, name: str, stride: int = 1, dilation: int = 1, activation="relu"):
    """A 3x3 convolution padded by `dilation` on every side, as the reference's."""
    if stride > 1:
        # PyTorch pads 1 before and after; Keras' 'same' would pad only after at stride 2.
        x = keras.layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    return keras.layers.Conv2D(
        filters,
        3,
        strides=stride,
        dilation_rate=dilation,
        padding=padding,
        activation=activation,
        name=name,
    )(x)


def _batch_norm(x, name: str):
    return BatchNormalization(momentum=BATCH_NORM_MOMENTUM, epsilon=BATCH_NORM_EPSILON, name=name)(
        x
    )


def _upconv(x, filters: int, name: str, activation=None):
    """The reference's 4x4 transposed convolution, stride 2, padding 1: twice the size."""
    return keras.layers.Conv2DTranspose(
        filters, 4, strides=2, padding="same", activation=activation, name=name
    )(x)


@keras.saving.register_keras_serializable(package="tfcolor")
class ZhangECCV16(keras.Model):
    """Zhang et al. 2016's network, from lightness to the codec's head at 1/4 resolution.

    The input is L in [0, 1], [B, H, W, 1], H and W multiples of 8; the output is float32
    [B, H / 4, W / 4, head_channels]: the logits over the gamut codec's bins (the released
    weights: 313 bins, whose ab the reference's last 1x1 convolution holds and
    `tfcolor.pretrained` moves into the codec).

    Layers: `conv{block}_{i}` (3x3, ReLU; the last of blocks 1-3 with stride 2, blocks 5 and 6
    dilated 2), `conv{block}_norm` closing blocks 1-7, `conv8_1` (4x4 transposed, stride 2),
    `conv8_2`, `conv8_3` and the 1x1 `head`.

    Args:
        filters: filters of blocks 1-8 (the reference's `ECCV16_FILTERS`).
        head_channels: outputs per pixel (`codec.channels`; the reference: 313).
        head_activation: None (logits) or a codec's activation.
        image_shape: spatial shape; (None, None) takes any multiple of 8.
    """

    def __init__(
        self,
        filters=ECCV16_FILTERS,
        head_channels: int = 313,
        head_activation: str | None = None,
        image_shape=(None, None),
        **kwargs,
    ):
        filters = _check_filters(filters, ECCV16_FILTERS)
        check_head_arguments(head_channels, head_activation)
        image_shape = _check_image_shape(image_shape)

        # === Functional Model ===
        lightness = keras.Input(shape=(*image_shape, 1), name="lightness")
        x = LinearScaling(offset=LIGHTNESS_OFFSET, name="normalize_l")(lightness)
        for block, (convolutions, stride, dilation) in enumerate(ECCV16_BLOCKS, 1):
            for index in range(1, convolutions + 1):
                last = index == convolutions
                x = _conv(
                    x,
                    filters[block - 1],
                    name=f"conv{block}_{index}",
                    stride=stride if last else 1,
                    dilation=dilation,
                )
            x = _batch_norm(x, name=f"conv{block}_norm")
        x = _upconv(x, filters[7], name="conv8_1", activation="relu")
        x = _conv(x, filters[7], name="conv8_2")
        x = _conv(x, filters[7], name="conv8_3")
        colors = apply_head(x, head_channels, head_activation, kernel_size=1)
        super().__init__(inputs=lightness, outputs=colors, **kwargs)

        # === Config ===
        self.filters = filters
        self.head_channels = head_channels
        self.head_activation = head_activation
        self.image_shape = image_shape

    output_stride = 4
    downsampling = DOWNSAMPLING

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "filters": list(self.filters),
            "head_channels": self.head_channels,
            "head_activation": self.head_activation,
            "image_shape": list(self.image_shape),
        }


@keras.saving.register_keras_serializable(package="tfcolor")
class ZhangSIGGRAPH17(keras.Model):
    """Zhang et al. 2017's user-guided network, from lightness (and hints) to ab per pixel.

    Without `hint_inputs` (automatic colorization, the default) the input is L in [0, 1],
    [B, H, W, 1], H and W multiples of 8, and the hints are zeros (`ZeroHints`), as the
    reference makes them when given none. With `hint_inputs` the input is the dict
    `{"lightness": [B, H, W, 1], "ab_hints": ab in Lab units [B, H, W, 2], "hint_mask": 1
    where a hint is given, else 0, [B, H, W, 1]}`. The output is float32 [B, H, W,
    head_channels]: the reference's tanh regression of ab / 110 (the `tanh110` regression
    codec decodes it).

    Layers: `conv{block}_{i}` and `conv{block}_norm` for blocks 1-7 (`conv{block}_keep`: every
    other pixel after blocks 1-3), then for levels 8-10 a transposed convolution
    `conv{level}_up` added to a 3x3 shortcut from the encoder (`conv3_short8`, `conv2_short9`,
    `conv1_short10`), `conv8_1`, `conv8_2`, `conv8_norm`, `conv9_1`, `conv9_norm`, `conv10_1`
    (leaky ReLU 0.2), the 1x1 `head`, and the classification head `ab_class_head` on conv8
    (529 ab classes at 1/4 resolution; not trained, see `KeepBranch`).

    Args:
        filters: filters of blocks 1-10 (the reference's `SIGGRAPH17_FILTERS`).
        head_channels: outputs per pixel (`codec.channels`; the reference: 2).
        head_activation: the codec's activation (the reference: tanh).
        hint_inputs: take ab hints and their mask as inputs.
        image_shape: spatial shape; (None, None) takes any multiple of 8.
    """

    def __init__(
        self,
        filters=SIGGRAPH17_FILTERS,
        head_channels: int = 2,
        head_activation: str | None = "tanh",
        hint_inputs: bool = False,
        image_shape=(None, None),
        **kwargs,
    ):
        filters = _check_filters(filters, SIGGRAPH17_FILTERS)
        check_head_arguments(head_channels, head_activation)
        image_shape = _check_image_shape(image_shape)

        # === Functional Model ===
        lightness = keras.Input(shape=(*image_shape, 1), name="lightness")
        normalized = LinearScaling(offset=LIGHTNESS_OFFSET, name="normalize_l")(lightness)
        if hint_inputs:
            ab_hints = keras.Input(shape=(*image_shape, 2), name="ab_hints")
            hint_mask = keras.Input(shape=(*image_shape, 1), name="hint_mask")
            inputs = {"lightness": lightness, "ab_hints": ab_hints, "hint_mask": hint_mask}
            normalized_ab = LinearScaling(scale=1.0 / AB_NORM, name="normalize_ab")(ab_hints)
            x = keras.layers.Concatenate(name="inputs_concat")(
                [normalized, normalized_ab, hint_mask]
            )
        else:
            inputs = lightness
            hints = ZeroHints(name="zero_hints")(lightness)
            x = keras.layers.Concatenate(name="inputs_concat")([normalized, hints])
        encoder = []
        for block, (convolutions, dilation) in enumerate(SIGGRAPH17_BLOCKS, 1):
            if block in (2, 3, 4):
                # The reference's [:, :, ::2, ::2]: a 1x1 pool with stride 2.
                x = keras.layers.AveragePooling2D(1, strides=2, name=f"conv{block - 1}_keep")(x)
            for index in range(1, convolutions + 1):
                x = _conv(x, filters[block - 1], name=f"conv{block}_{index}", dilation=dilation)
            x = _batch_norm(x, name=f"conv{block}_norm")
            encoder.append(x)
        # Levels 8-10: up, add the shortcut from the encoder block of that resolution.
        for level, shortcut in ((8, 3), (9, 2), (10, 1)):
            level_filters = filters[level - 1]
            up = _upconv(x, level_filters, name=f"conv{level}_up")
            short = keras.layers.Conv2D(
                level_filters, 3, padding="same", name=f"conv{shortcut}_short{level}"
            )(encoder[shortcut - 1])
            x = keras.layers.Add(name=f"conv{level}_add")([up, short])
            x = keras.layers.ReLU(name=f"conv{level}_relu")(x)
            if level == 8:
                x = _conv(x, level_filters, name="conv8_1")
                x = _conv(x, level_filters, name="conv8_2")
                x = _batch_norm(x, name="conv8_norm")
                class_head = PointwiseDense(
                    SIGGRAPH17_AB_CLASSES, name="ab_class_head", dtype="float32", trainable=False
                )
                class_logits = class_head(x)
            elif level == 9:
                x = _conv(x, level_filters, name="conv9_1")
                x = _batch_norm(x, name="conv9_norm")
            else:
                x = _conv(x, level_filters, name="conv10_1", activation=None)
                x = keras.layers.LeakyReLU(negative_slope=0.2, name="conv10_leaky_relu")(x)
        colors = apply_head(x, head_channels, head_activation, kernel_size=1)
        colors = KeepBranch(name="keep_ab_classes", dtype="float32")([colors, class_logits])
        super().__init__(inputs=inputs, outputs=colors, **kwargs)

        # === Config ===
        self.filters = filters
        self.head_channels = head_channels
        self.head_activation = head_activation
        self.hint_inputs = bool(hint_inputs)
        self.image_shape = image_shape

    output_stride = 1
    downsampling = DOWNSAMPLING

    def hint_network(self) -> keras.Model:
        """This network taking user hints: the `hint_inputs` dict (lightness, `ab_hints` in Lab
        units, `hint_mask`), its layers and weights shared with this model (nothing copied,
        so a fine-tuned or converted run's weights are the hint network's too). A model built
        with `hint_inputs` is returned as it is.

        The automatic network's layers from its input concatenation on are called on the
        lightness normalized by its own `normalize_l`, ab / 110 and the mask, as the
        reference's forward pass concatenates them when given hints.
        """
        if self.hint_inputs:
            return self
        policy = self.get_layer("normalize_l").dtype_policy
        tail = keras.Model(
            self.get_layer("inputs_concat").output, self.output, name=f"{self.name}_from_inputs"
        )
        lightness = keras.Input(shape=(*self.image_shape, 1), name="lightness")
        ab_hints = keras.Input(shape=(*self.image_shape, 2), name="ab_hints")
        hint_mask = keras.Input(shape=(*self.image_shape, 1), name="hint_mask")
        normalized = self.get_layer("normalize_l")(lightness)
        normalized_ab = LinearScaling(scale=1.0 / AB_NORM, name="normalize_ab", dtype=policy)(
            ab_hints
        )
        x = keras.layers.Concatenate(name="hint_inputs_concat", dtype=policy)(
            [normalized, normalized_ab, hint_mask]
        )
        inputs = {"lightness": lightness, "ab_hints": ab_hints, "hint_mask": hint_mask}
        return keras.Model(inputs, tail(x), name=f"{self.name}_hints")

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "filters": list(self.filters),
            "head_channels": self.head_channels,
            "head_activation": self.head_activation,
            "hint_inputs": self.hint_inputs,
            "image_shape": list(self.image_shape),
        }
