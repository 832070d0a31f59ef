"""The grid codec: the thesis's bins, a square grid over normalized ab (`GridCodec`)."""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from tfcolor.codecs.base import AB_MIN, AB_SPAN, register_codec
from tfcolor.codecs.bins import BinCodec
from tfcolor.codecs.losses import as_bin_index, grid_loss
from tfcolor.config import CodecConfig

__all__ = ["GridCodec"]


@register_codec
class GridCodec(BinCodec):
    """The thesis's bins: a W x W grid over normalized ab, W = sqrt(n_bins).

    Per channel u = clip((ab + 128) / 255, 0, 1) and index = min(floor(u W), W - 1); the bin is
    W * b_index + a_index. The target is the bin index (`encode`); the model predicts logits
    over the bins; the loss is softmax cross-entropy, weighted per true bin by Zhang et al.'s
    class rebalancing when `CodecConfig.rebalance` is set. `fit` measures per-bin mean and mode
    colours and the pixel counts (the empirical prior) on the training data.

    Decodings (`CodecConfig.decode`, `CodecConfig.temperature` T):
        `interp` (the thesis): argmax bin, ab = mode - (mode - mean) T, T in [0, 1]: T = 0 gives
            the bin's mode, T = 1 its mean.
        `annealed_mean` (Zhang et al.): expectation of the bin means under
            softmax(log_softmax(logits) / T); T < 1e-3 gives the argmax bin's mean.
    """

    name = "grid"
    target_channels = 1  # the bin index
    target_format = "index"

    def __init__(self, config: CodecConfig):
        super().__init__(config)
        n_bins = config.n_bins
        width = math.isqrt(n_bins) if isinstance(n_bins, int) and n_bins >= 0 else -1
        if n_bins < 4 or width * width != n_bins:
            raise ValueError(
                f"n_bins must be a perfect square of at least 4. Received: n_bins={n_bins}"
            )
        self.width = width
        # Per channel, index = number of boundaries <= value. These are the cell edges of
        # floor(u * W) on the ab axis, as float32: TF (eager, tf.data, XLA) and numpy (`fit`)
        # compare against the same numbers, so they can never disagree about a bin.
        self._boundaries = np.array(
            [AB_MIN + AB_SPAN * k / width for k in range(1, width)], np.float32
        )
        centers_1d = AB_MIN + AB_SPAN * (np.arange(width) + 0.5) / width
        a_centers = np.tile(centers_1d, width)
        b_centers = np.repeat(centers_1d, width)
        self._set_bins(np.stack([a_centers, b_centers], axis=-1))

    def _bin_index_numpy(self, ab: np.ndarray) -> np.ndarray:
        ab = np.asarray(ab, np.float32)
        a_index = np.searchsorted(self._boundaries, ab[..., 0], side="right")
        b_index = np.searchsorted(self._boundaries, ab[..., 1], side="right")
        return (self.width * b_index + a_index).astype(np.int64)

    def _annealed_mean_values(self) -> np.ndarray:
        return self._bin_means

    def encode(self, ab: tf.Tensor) -> tf.Tensor:
        """Bin index of every pixel.

        Args:
            ab: float ab, shape [..., H, W, 2].

        Returns:
            int32 bin index in [0, n_bins), shape [..., H, W].
        """
        ab = tf.cast(ab, tf.float32)
        # Counts the boundaries <= ab (numpy's searchsorted side="right" in `fit`) with one
        # compare-and-add per boundary, unrolled: XLA fuses them into one vectorized loop.
        # Measured on 32 x 128 x 128 x 2 on 2 CPU cores: 0.7 ms, against 6 to 11 ms for
        # comparing with a [W - 1] tensor and reducing (and as much for tf.raw_ops.Bucketize).
        index = tf.zeros_like(ab, tf.int32)
        for boundary in self._boundaries:
            index += tf.cast(ab >= boundary, tf.int32)
        return self.width * index[..., 1] + index[..., 0]

    def bin_index(self, ab: tf.Tensor) -> tf.Tensor:
        """The bin of every pixel, as `encode`: float ab [..., H, W, 2] -> int32 [..., H, W]."""
        return self.encode(ab)

    def loss(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        """Softmax cross-entropy per pixel, weighted by the true bin's class weight.

        Args:
            y_true: bin index, [B, H, W] (any numeric dtype: Keras hands it over as float).
            y_pred: logits (any float dtype; computed in float32), [B, H, W, n_bins].

        Returns:
            float32 loss per sample (mean over its pixels), [B].
        """
        labels = as_bin_index(y_true, y_pred)
        return grid_loss(labels, tf.cast(y_pred, tf.float32), self._loss_weights())
