"""The bin codecs' training metrics, and the metric pieces `tfcolor.evaluation.metrics` builds on.

`BinAccuracy` and `ColoredBinAccuracy` are what a bin codec reports during training
(`bin_metrics`); the regression codec's `AbMeanAbsoluteError` lives beside its normalization in
`tfcolor.codecs.regression`. `MeanMetric` (a weighted mean since the last reset) and
`pixel_weights` (Keras' `sample_weight` broadcast to pixels) are the one base class and the one
weight broadcast of every tfcolor metric, the evaluation's included.
"""

from __future__ import annotations

import weakref
from typing import Any

import keras
import tensorflow as tf

from tfcolor.codecs.losses import as_bin_index

__all__ = [
    "BinAccuracy",
    "ColoredBinAccuracy",
    "MeanMetric",
    "bin_metrics",
    "pixel_weights",
]

_TARGET_FORMATS = ("index", "soft")


def pixel_weights(
    weights: tf.Tensor | None, pixels: tf.Tensor, dtype: tf.DType = tf.float64
) -> tf.Tensor:
    """Weights shaped like `pixels` [N, H, W], from None (ones), [N] or [N, H, W] weights.

    The one broadcast of Keras' `sample_weight` to pixels, for the codecs' metrics and the
    evaluation's.

    Args:
        weights: None, per-image weights [N] or per-pixel weights [N, H, W] (any real dtype).
        pixels: any tensor [N, H, W] (only its shape is read).
        dtype: the result's dtype.

    Returns:
        `dtype` weights, shaped like `pixels`.
    """
    if weights is None:
        return tf.ones_like(pixels, dtype)
    weights = tf.cast(weights, dtype)
    while weights.shape.rank < pixels.shape.rank:
        weights = weights[..., None]
    return tf.broadcast_to(weights, tf.shape(pixels))


class MeanMetric(keras.metrics.Metric):
    """A weighted mean over everything seen since the reset: total / count (0 before any weight).

    A subclass's `update_state` computes values and their weights and calls `_accumulate`.

    Attributes:
        accumulator_dtype: dtype of the `total` and `count` variables; None is Keras' float
            type (float32). Metrics over a whole evaluation set use float64, whose sums keep
            their precision over millions of pixels.
    """

    accumulator_dtype: str | None = None

    def __init__(self, name: str, dtype: str | None = None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable(
            shape=(), initializer="zeros", dtype=self.accumulator_dtype, name="total"
        )
        self.count = self.add_variable(
            shape=(), initializer="zeros", dtype=self.accumulator_dtype, name="count"
        )

    def _accumulate(self, values: tf.Tensor, weights: tf.Tensor) -> None:
        """Adds sum(values * weights) to the total and sum(weights) to the count."""
        values = tf.cast(values, self.total.dtype)
        weights = tf.cast(weights, self.total.dtype)
        self.total.assign_add(tf.reduce_sum(values * weights))
        self.count.assign_add(tf.reduce_sum(weights))

    def result(self) -> tf.Tensor:
        mean = tf.math.divide_no_nan(
            tf.convert_to_tensor(self.total), tf.convert_to_tensor(self.count)
        )
        return tf.cast(mean, self.dtype)

    def reset_state(self) -> None:
        self.total.assign(0.0)
        self.count.assign(0.0)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype}


# === The bin metrics ===


def _true_bin(y_true: tf.Tensor, y_pred: tf.Tensor, target_format: str) -> tf.Tensor:
    """The true (nearest) bin as int32 [B, H, W], from either bin codec's target."""
    if target_format == "soft":
        return tf.cast(tf.convert_to_tensor(y_true)[..., 0], tf.int32)
    return as_bin_index(y_true, y_pred)


@tf.function(jit_compile=True, reduce_retracing=True)
def _true_bin_rank(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """How many bins outrank the true one, int32 [B, H, W]: 0 when it is the top-1 bin.

    A bin outranks it with a higher logit, or an equal one at a lower index (`tf.math.top_k`'s
    order), so `rank < k` is "among the top k". One XLA pass over the logits: argmax and
    top_k, read once per metric, took 28 % of the thesis U-Net's training step on CPU.
    """
    true_logit = tf.gather(logits, labels, batch_dims=labels.shape.rank)[..., None]
    lower_index = tf.range(tf.shape(logits)[-1]) < labels[..., None]
    outranks = (logits > true_logit) | ((logits == true_logit) & lower_index)
    return tf.reduce_sum(tf.cast(outranks, tf.int32), axis=-1)


class _TrueBinRanks:
    """The true bin and its rank, computed once for each (targets, logits) the metrics see.

    Keras hands every compiled metric the same target and output tensors, so the first metric
    computes and the others reuse (the inputs are held by weak reference: a new step's tensors
    never match an old step's).
    """

    def __init__(self, target_format: str):
        self.target_format = target_format
        self._inputs = (lambda: None, lambda: None)
        self._outputs = None

    def __call__(self, y_true, y_pred) -> tuple[tf.Tensor, tf.Tensor]:
        if self._inputs[0]() is y_true and self._inputs[1]() is y_pred:
            return self._outputs
        labels = _true_bin(y_true, y_pred, self.target_format)
        rank = _true_bin_rank(labels, tf.cast(y_pred, tf.float32))
        try:
            self._inputs = (weakref.ref(y_true), weakref.ref(y_pred))
            self._outputs = (labels, rank)
        except TypeError:  # NumPy arrays and other inputs without weak references: no reuse
            self._inputs, self._outputs = (lambda: None, lambda: None), None
        return labels, rank


@keras.saving.register_keras_serializable(package="tfcolor")
class BinAccuracy(MeanMetric):
    """Per-pixel top-k accuracy: whether the true bin is among the k highest logits.

    `update_state(y_true, y_pred, sample_weight=None)`: y_true the codec's target (bin index
    [B, H, W] for `target_format="index"`, a gamut codec's soft target [B, H, W, 2k] whose
    channel 0 is the nearest bin for `"soft"`), y_pred logits [B, H, W, n_bins],
    sample_weight None, [B] or [B, H, W]. Equal logits: the lower bin index ranks first.

    Args:
        top_k: k, at most the number of bins.
        target_format: `index` or `soft`.
        name: defaults to `bin_accuracy` (k = 1) or `bin_top{k}_accuracy`.
    """

    def __init__(
        self,
        name: str | None = None,
        dtype: str | None = None,
        top_k: int = 1,
        target_format: str = "index",
    ):
        if not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"top_k must be a positive integer. Received: top_k={top_k}")
        if target_format not in _TARGET_FORMATS:
            raise ValueError(
                f"target_format must be one of {', '.join(_TARGET_FORMATS)}. "
                f"Received: target_format={target_format!r}"
            )
        if name is None:
            name = "bin_accuracy" if top_k == 1 else f"bin_top{top_k}_accuracy"
        super().__init__(name=name, dtype=dtype)
        self.top_k = top_k
        self.target_format = target_format
        # `bin_metrics` gives its metrics one shared instance.
        self._ranks = _TrueBinRanks(target_format)

    def _correct(self, y_true, y_pred):
        labels, rank = self._ranks(y_true, y_pred)
        return labels, tf.cast(rank < self.top_k, tf.float32)

    def update_state(self, y_true, y_pred, sample_weight=None):
        labels, correct = self._correct(y_true, y_pred)
        self._accumulate(correct, pixel_weights(sample_weight, labels, tf.float32))

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dtype": self.dtype,
            "top_k": self.top_k,
            "target_format": self.target_format,
        }


@keras.saving.register_keras_serializable(package="tfcolor")
class ColoredBinAccuracy(BinAccuracy):
    """Bin accuracy over the pixels whose true bin is not the neutral (ab = (0, 0)) bin.

    On the shapes data the black background is most of each image; this is the accuracy on
    the shapes' own pixels. 0 while no coloured pixel has been seen. Arguments as
    `BinAccuracy`'s, plus the codec's `neutral_bin`.
    """

    def __init__(
        self,
        neutral_bin: int,
        name: str = "colored_bin_accuracy",
        dtype: str | None = None,
        top_k: int = 1,
        target_format: str = "index",
    ):
        super().__init__(name=name, dtype=dtype, top_k=top_k, target_format=target_format)
        self.neutral_bin = int(neutral_bin)

    def update_state(self, y_true, y_pred, sample_weight=None):
        labels, correct = self._correct(y_true, y_pred)
        colored = tf.cast(tf.not_equal(labels, self.neutral_bin), tf.float32)
        self._accumulate(correct, colored * pixel_weights(sample_weight, labels, tf.float32))

    def get_config(self) -> dict[str, Any]:
        return {"neutral_bin": self.neutral_bin, **super().get_config()}


def bin_metrics(n_bins: int, neutral_bin: int, target_format: str) -> list[BinAccuracy]:
    """A bin codec's training metrics: top-1 and top-5 bin accuracy (top-5 only with more than
    5 bins), and the top-1 accuracy on the pixels whose true bin is not the neutral one.

    The three share one pass over the logits (the true bin's rank), once per batch.

    Args:
        n_bins: the codec's number of bins.
        neutral_bin: the bin of ab = (0, 0).
        target_format: `index` or `soft` (the codec's `target_format`).

    Returns:
        New metric objects for `model.compile`.
    """
    metrics = [BinAccuracy(target_format=target_format)]
    if n_bins > 5:
        metrics.append(BinAccuracy(top_k=5, target_format=target_format))
    metrics.append(ColoredBinAccuracy(neutral_bin, target_format=target_format))
    ranks = _TrueBinRanks(target_format)
    for metric in metrics:
        metric._ranks = ranks
    return metrics
