"""The codecs' loss functions and how they are compiled with XLA.

Each codec's `loss(y_true, y_pred)` reads its target here: `as_bin_index` (the grid codec's
bin index), `split_soft_target` (the gamut codec's soft encoding); the bin losses
`grid_loss` and `gamut_loss` are compiled with XLA on their own (`compile_loss`), and every
loss is a mean per sample (`per_sample_mean`), the shape Keras expects.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import tensorflow as tf
from tensorflow.python.ops import control_flow_util

__all__ = [
    "as_bin_index",
    "compile_loss",
    "gamut_loss",
    "grid_loss",
    "per_sample_mean",
    "split_soft_target",
]


def per_sample_mean(values: tf.Tensor) -> tf.Tensor:
    """Mean over every axis but the first: [B, ...] -> [B]."""
    batch = tf.shape(values)[0]
    return tf.reduce_mean(tf.reshape(values, [batch, -1]), axis=1)


def as_bin_index(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """Bin indices as int32 [B, H, W], from a target [B, H, W] or [B, H, W, 1].

    Keras hands targets to losses as float, and some pipelines add a trailing axis of size 1
    (recognized by y_true having y_pred's rank).
    """
    y_true = tf.convert_to_tensor(y_true)
    if y_true.shape.rank is not None and y_true.shape.rank == y_pred.shape.rank:
        y_true = tf.squeeze(y_true, axis=-1)
    return tf.cast(y_true, tf.int32)


def split_soft_target(y_true: tf.Tensor, neighbours: int) -> tuple[tf.Tensor, tf.Tensor]:
    """A compact soft target [..., 2k] -> (int32 bins [..., k], float32 weights [..., k]).

    Raises:
        ValueError: y_true's last axis is not 2 * neighbours.
    """
    y_true = tf.cast(y_true, tf.float32)
    if y_true.shape.rank is not None and y_true.shape[-1] not in (None, 2 * neighbours):
        raise ValueError(
            f"the gamut codec's target has 2 * neighbours = {2 * neighbours} channels. "
            f"Received: shape={y_true.shape}"
        )
    return tf.cast(y_true[..., :neighbours], tf.int32), y_true[..., neighbours:]


def compile_loss(loss_fn: Callable[..., tf.Tensor]) -> Callable[..., tf.Tensor]:
    """A loss compiled with XLA as one piece of its own, inlined in a step XLA compiles whole.

    The bin losses read the model's largest tensor, [B, H, W, n_bins] logits, forward and
    backward: compiled on their own inside an otherwise uncompiled step (the convolutions stay
    on oneDNN / cuDNN), they took 11-13 % less of the thesis U-Net's training step on CPU.
    Compiled per input shape; `reduce_retracing` keeps one trace.

    Traced inside a step that is itself compiled (`jit_compile=True`), the loss is plain ops of
    that step instead: a nested XLA function made XLA take the batch and the weights as
    compile-time constants and compile every step again (benchmarks/README.md, "The codecs'
    losses inside a step compiled whole").
    """
    compiled = tf.function(loss_fn, jit_compile=True, reduce_retracing=True)

    @functools.wraps(loss_fn)
    def loss(*args: tf.Tensor) -> tf.Tensor:
        # TF's own test for "traced inside a jit_compile function" (it decides the same for
        # nested compiled functions); there is no public one.
        if control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()):
            return loss_fn(*args)
        return compiled(*args)

    return loss


@compile_loss
def grid_loss(labels: tf.Tensor, logits: tf.Tensor, bin_weights: tf.Tensor) -> tf.Tensor:
    """Softmax cross-entropy per pixel times the true bin's weight, mean per sample.

    Args:
        labels: int32 true bins, [B, H, W].
        logits: float32 [B, H, W, n_bins].
        bin_weights: float32 [n_bins], each true bin's weight.

    Returns:
        float32 [B].
    """
    cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return per_sample_mean(cross_entropy * tf.gather(bin_weights, labels))


@compile_loss
def gamut_loss(
    bins: tf.Tensor, weights: tf.Tensor, logits: tf.Tensor, bin_weights: tf.Tensor
) -> tf.Tensor:
    """Soft cross-entropy over the k target bins per pixel times the nearest bin's weight.

    Args:
        bins: int32 [B, H, W, k], the target's bins, nearest first (`split_soft_target`).
        weights: float32 [B, H, W, k], their weights.
        logits: float32 [B, H, W, n_bins].
        bin_weights: float32 [n_bins], each nearest bin's weight.

    Returns:
        float32 mean per sample, [B].
    """
    # -log_softmax(logits)[bin] = logsumexp(logits) - logits[bin], for the k bins only.
    bin_logits = tf.gather(logits, bins, batch_dims=bins.shape.rank - 1)
    log_normalizer = tf.reduce_logsumexp(logits, axis=-1, keepdims=True)
    cross_entropy = tf.reduce_sum(weights * (log_normalizer - bin_logits), axis=-1)
    return per_sample_mean(cross_entropy * tf.gather(bin_weights, bins[..., 0]))
