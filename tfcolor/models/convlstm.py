"""The video report's U-Net with a ConvLSTM at its bottleneck, with an explicit recurrent state.

The report colorized videos with "U-Net + LSTM (stateful and not), U-Net + Feature-Vektor +
LSTM, a bigger U-Net with batch norm": each frame goes through the thesis's U-Net
(`tfcolor.models.unet`), and a convolutional LSTM at the bottleneck carries what earlier
frames showed. The LSTM's state was carried from one chunk of a video to the next and zeroed
when the video ended.

Here the state is an input and an output of the model, not a variable inside it
(`keras.layers.ConvLSTM2D(stateful=True)` can only reset the whole batch at once). The training
step carries each stream's state from chunk to chunk and zeroes the rows whose video ended
with `reset_rows`; "stateless" training passes `zero_state` for every chunk. Stateful or not is
the trainer's choice, not the model's.

Frames go through the 2-D encoder and decoder with time folded into the batch ([B * T, H, W,
C], `FoldTime`), and back to [B, T, ...] for the ConvLSTM and the output (`UnfoldTime`).
"""

from __future__ import annotations

import numbers

import keras
import tensorflow as tf

from tfcolor.config import GLOBAL_FEATURES
from tfcolor.models.backbone_fusion import (
    apply_backbone_embedding,
    build_without_backbone_weights,
    check_backbone_arguments,
)
from tfcolor.models.blocks import (
    apply_conv_stack,
    apply_fusion,
    apply_head,
    check_head_arguments,
    check_output_stride,
    conv_stack_layers,
)
from tfcolor.models.global_features import (
    LOW_LEVEL,
    SIMPLE_GLOBAL_WIDTH,
    apply_global_network,
    check_global_size,
    check_simple_global_width,
    former_simple_global,
)

__all__ = [
    "DynamicConvLSTM2D",
    "FoldTime",
    "UnfoldTime",
    "VideoUNet",
    "fold_time",
    "reset_rows",
    "unfold_time",
]

STATE_KEYS = ("state_h", "state_c")


def fold_time(sequences: tf.Tensor) -> tf.Tensor:
    """[B, T, ...] -> [B * T, ...]: frame b * T + t is frame t of sequence b."""
    shape = tf.shape(sequences)
    return tf.reshape(sequences, tf.concat([shape[:1] * shape[1:2], shape[2:]], axis=0))


def unfold_time(folded: tf.Tensor, batch, steps) -> tf.Tensor:
    """[B * T, ...] -> [B, T, ...], the inverse of `fold_time`."""
    return tf.reshape(folded, tf.concat([[batch, steps], tf.shape(folded)[1:]], axis=0))


@keras.saving.register_keras_serializable(package="tfcolor")
class FoldTime(keras.layers.Layer):
    """Folds time into the batch: [B, T, ...] -> [B * T, ...], B and T read at run time.

    Frame b * T + t of the output is frame t of sequence b, the order `UnfoldTime` undoes.
    """

    def call(self, sequences):
        return fold_time(sequences)

    def compute_output_shape(self, input_shape):
        batch, steps = input_shape[:2]
        folded = None if batch is None or steps is None else batch * steps
        return (folded, *input_shape[2:])


@keras.saving.register_keras_serializable(package="tfcolor")
class UnfoldTime(keras.layers.Layer):
    """Unfolds time from the batch: [B * T, ...] -> [B, T, ...], the inverse of `FoldTime`.

    Inputs `[folded, reference]`: the folded tensor and a reference [B, T, ...] (the frames)
    whose B and T are read at run time, so any batch size and chunk length work.
    """

    def call(self, inputs):
        folded, reference = inputs
        shape = tf.shape(reference)
        return unfold_time(folded, shape[0], shape[1])

    def compute_output_shape(self, input_shape):
        folded, reference = input_shape
        return (reference[0], reference[1], *folded[1:])


@keras.saving.register_keras_serializable(package="tfcolor")
class DynamicConvLSTM2D(keras.layers.ConvLSTM2D):
    """`keras.layers.ConvLSTM2D` for frames of any size, run from a given initial state.

    Keras' layer refuses to build without a static height and width: it sizes its own zero
    initial state from them. Its weights depend only on the channels, so here the cell is built
    with the sizes left open, and the state, which carries the size, must be passed
    (`initial_state=[h, c]`). Everything else, the gates and their weights, is Keras'.
    """

    def build(self, sequences_shape, initial_state_shape=None):
        spatial = tuple(sequences_shape[2:-1])
        # Any static size builds the same weights; the open sides are restored below.
        static = tuple(1 if side is None else side for side in spatial)
        super().build((*sequences_shape[:2], *static, sequences_shape[-1]), initial_state_shape)
        self.cell.spatial_dims = spatial
        self.cell.input_spec = keras.InputSpec(ndim=len(spatial) + 2)

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if initial_state is None:
            raise ValueError(
                f"{self.name} needs its initial state [h, c]. Received: initial_state=None"
            )
        return super().call(sequences, initial_state=initial_state, mask=mask, training=training)


def reset_rows(state, reset):
    """Zeroes the recurrent state of the rows (streams) whose `reset` is set.

    The training step calls it before each chunk with the flag "this chunk starts a new
    video", so each stream's state is carried from chunk to chunk and zeroed when its video
    ends, independently of the other rows. `tf.where`, not a product: a NaN or inf in a
    finished video's state does not leak into the next one. Pure TF ops, for tf.function and
    XLA.

    Args:
        state: `{"state_h": [B, h, w, R], "state_c": [B, h, w, R]}` as `VideoUNet` takes and
            returns it, or any nest of [B, ...] tensors (a single tensor too).
        reset: [B] bool, or numbers where nonzero means reset (a [B, 1] column works too).

    Returns:
        The same structure and dtypes: rows with `reset` zero, the other rows unchanged.
    """
    keep = tf.logical_not(tf.reshape(tf.cast(reset, tf.bool), [-1]))

    def zero_rows(tensor):
        tensor = tf.convert_to_tensor(tensor)
        row_keep = tf.reshape(keep, [-1] + [1] * (tensor.shape.rank - 1))
        return tf.where(row_keep, tensor, tf.zeros_like(tensor))

    return tf.nest.map_structure(zero_rows, state)


@keras.saving.register_keras_serializable(package="tfcolor")
class VideoUNet(keras.Model):
    """U-Net per frame with a ConvLSTM at the bottleneck, from a chunk of frames to colours.

    Inputs, a dict:
        frames: L in [0, 1], [B, T, H, W, 1] float32, H and W multiples of `downsampling`;
            T is the chunk length, any length (one chunk, or a whole clip).
        state_h, state_c: the ConvLSTM's hidden and cell state [B, H / d, W / d, R] float32
            (d = `downsampling`, R = `recurrent_filters`; see `state_shape`): the final state of
            the stream's previous chunk, or `zero_state` at the start of a video.
    Outputs, a dict:
        colors: [B, T, ceil(H / output_stride), ceil(W / output_stride), head_channels]
            float32 (logits, or ab in the codec's normalization after `head_activation`).
        state_h, state_c: the state after the chunk's last frame, for the stream's next chunk.

    Each frame goes through the encoder (conv blocks and 2x2 max-pools) and the bottleneck
    block; with `global_features`, the frame's global vector is fused in there (as `UNet`);
    then `ConvLSTM2D(R, 3)` runs over the chunk's bottleneck features, starting from the
    given state, and its per-frame outputs go through the decoder (transposed convolutions,
    skip concatenations, conv blocks) to the codec's 1x1 head at 1 / output_stride.

    Whether the state is carried across chunks ("stateful") or zeroed for every chunk
    ("stateless", the report's plain U-Net + LSTM) is the trainer's choice: the model only
    maps (frames, state) to (colours, state). `reset_rows` zeroes the state of the streams
    whose video ended.

    `from_config` (and so `.keras` loading) builds a backbone without its `backbone_weights`,
    as `UNet`: the saved weights replace them.

    Args:
        filters: filters per level, top to bottom; filters[-1] is also the ConvLSTM's width.
            The report's "bigger U-Net with batch norm" is e.g. (32, 64, 128, 256).
        head_channels: outputs per pixel (`codec.channels`).
        head_activation: None (logits / linear), "sigmoid" or "tanh" (`codec.output_activation`).
        output_stride: the head sits on the decoder level at 1 / output_stride (a power of 2
            up to `downsampling`; there, on the ConvLSTM's output).
        batch_norm: batch norm in the U-Net's conv blocks (the report's "bigger U-Net with
            batch norm"; its basic U-Net had none). The learned global network keeps Iizuka
            et al.'s batch norm either way.
        global_features, global_size, simple_global, simple_global_width, simple_global_pool,
            backbone, backbone_weights, backbone_trainable, backbone_embedding: the per-frame
            global vector fused into the bottleneck before the ConvLSTM (the report's "U-Net +
            Feature-Vektor + LSTM"); as in `UNet`.
        image_shape: spatial shape of the frames; (None, None) makes the model fully
            convolutional.

    Raises:
        ValueError: an argument out of range, named with its value.
    """

    def __init__(
        self,
        filters=(16, 32, 64),
        head_channels: int = 2,
        head_activation: str | None = "sigmoid",
        output_stride: int = 1,
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
        image_shape=(None, None),
        **kwargs,
    ):
        filters = tuple(int(f) for f in filters)
        if len(filters) < 2 or min(filters) < 1:
            raise ValueError(
                f"filters needs at least two positive levels. Received: filters={filters}"
            )
        downsampling = 2 ** (len(filters) - 1)
        check_head_arguments(head_channels, head_activation)
        check_output_stride(output_stride, maximum=downsampling)
        if global_features not in GLOBAL_FEATURES:
            raise ValueError(
                f"global_features must be one of {GLOBAL_FEATURES}. "
                f"Received: global_features={global_features!r}"
            )
        check_global_size(global_size)
        check_simple_global_width(simple_global_width)
        if global_features == "backbone":
            check_backbone_arguments(backbone, backbone_weights, backbone_embedding)
        image_shape = tuple(image_shape)
        if len(image_shape) != 2 or any(
            side is not None and (side < 1 or side % downsampling) for side in image_shape
        ):
            raise ValueError(
                f"image_shape must be (height, width), None or multiples of {downsampling}. "
                f"Received: image_shape={image_shape}"
            )
        state_sides = tuple(None if side is None else side // downsampling for side in image_shape)

        # === Functional Model ===
        frames = keras.Input(shape=(None, *image_shape, 1), name="frames")
        state_inputs = {
            key: keras.Input(shape=(*state_sides, filters[-1]), name=key) for key in STATE_KEYS
        }
        lightness = FoldTime(name="frames_fold")(frames)
        x = lightness
        skips = []
        for level, level_filters in enumerate(filters[:-1]):
            x = _apply_conv_block(x, level_filters, batch_norm, name=f"down{level}")
            skips.append(x)
            x = keras.layers.MaxPooling2D(2, name=f"down{level}_pool")(x)
        x = _apply_conv_block(x, filters[-1], batch_norm, name="bottleneck")
        global_vector = None
        if global_features == "learned":
            global_vector, _ = apply_global_network(
                lightness,
                global_size,
                simple_global,
                conv_stack_layers(LOW_LEVEL, name="global_low_level", batch_norm=True),
                name="global",
                simple_global_width=simple_global_width,
                simple_global_pool=simple_global_pool,
            )
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
        x = UnfoldTime(name="bottleneck_unfold")([x, frames])
        # float32 whatever the dtype policy: the state is a float32 model input and output,
        # and the cell state sums over a whole video.
        x, state_h, state_c = DynamicConvLSTM2D(
            filters[-1],
            3,
            padding="same",
            return_sequences=True,
            return_state=True,
            dtype="float32",
            name="convlstm",
        )(x, initial_state=[state_inputs["state_h"], state_inputs["state_c"]])
        x = FoldTime(name="convlstm_fold")(x)
        for level in reversed(range(len(filters) - 1)):
            if 2 ** (level + 1) == output_stride:
                break
            x = keras.layers.Conv2DTranspose(
                filters[level], 3, strides=2, padding="same", name=f"up{level}_upconv"
            )(x)
            x = keras.layers.Concatenate(name=f"up{level}_concat")([x, skips[level]])
            x = _apply_conv_block(x, filters[level], batch_norm, name=f"up{level}")
        colors = apply_head(x, head_channels, head_activation, kernel_size=1)
        colors = UnfoldTime(name="colors_unfold", dtype="float32")([colors, frames])
        super().__init__(
            inputs={"frames": frames, **state_inputs},
            outputs={"colors": colors, "state_h": state_h, "state_c": state_c},
            **kwargs,
        )

        # === Config ===
        self.filters = filters
        self.head_channels = head_channels
        self.head_activation = head_activation
        self.output_stride = output_stride
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
        self.image_shape = image_shape

    @property
    def downsampling(self) -> int:
        """Frame sides must be multiples of this."""
        return 2 ** (len(self.filters) - 1)

    @property
    def recurrent_filters(self) -> int:
        """Channels of the ConvLSTM's state (R)."""
        return self.filters[-1]

    def state_shape(self, height, width) -> tuple:
        """(h, w, R): one stream's state for frames of height x width (padded, multiples of d).

        `height` and `width` may be scalar tensors (a size read with `tf.shape` in a
        tf.function); only Python integers are checked.

        Raises:
            ValueError: an integer side that is not a positive multiple of `downsampling`.
        """
        d = self.downsampling
        sides = (height, width)
        if all(isinstance(side, numbers.Integral) for side in sides) and any(
            side < 1 or side % d for side in sides
        ):
            raise ValueError(
                f"Frame sides must be positive multiples of {d}. "
                f"Received: height={height}, width={width}"
            )
        return (height // d, width // d, self.recurrent_filters)

    def zero_state(self, batch, height, width) -> dict[str, tf.Tensor]:
        """The state at a video's start: {"state_h", "state_c"}, float32 zeros [batch, h, w, R].

        Sizes as `state_shape`: integers, or scalar tensors inside a tf.function.
        """
        shape = (batch, *self.state_shape(height, width))
        return {key: tf.zeros(shape, tf.float32) for key in STATE_KEYS}

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "filters": list(self.filters),
            "head_channels": self.head_channels,
            "head_activation": self.head_activation,
            "output_stride": self.output_stride,
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
            "image_shape": list(self.image_shape),
        }

    @classmethod
    def from_config(cls, config):
        # A model saved before simple_global_width rebuilds the simplification it ran.
        return build_without_backbone_weights(cls, former_simple_global(config))


def _apply_conv_block(x, filters: int, batch_norm: bool, name: str):
    # The thesis's ConvBlock (blocks.apply_conv_block), with batch norm optional: the report's
    # basic video U-Net had none. Same layer names either way.
    return apply_conv_stack(x, [(filters, 1), (filters, 1)], name=name, batch_norm=batch_norm)
