"""The regression codec: ab regressed per pixel on a normalized target, MSE loss, and its
training metric, the mean absolute ab error.

`AbMeanAbsoluteError` lives here rather than in `tfcolor.codecs.metrics`: it decodes with the
codec's normalization, and the codec reports it, so the two would otherwise import each other.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from tfcolor.codecs.base import AB_MAX, AB_MIN, AB_SPAN, Codec, register_codec
from tfcolor.codecs.losses import per_sample_mean
from tfcolor.codecs.metrics import MeanMetric, pixel_weights
from tfcolor.config import CodecConfig

__all__ = ["NORMALIZATIONS", "AbMeanAbsoluteError", "RegressionCodec"]

NORMALIZATIONS = ("sigmoid", "tanh", "unit", "tanh110")
# Zhang et al.'s ab_norm: their networks regress ab / 110 (colorization/base_color.py).
ZHANG_AB_NORM = 110.0


def _check_normalization(normalization: str) -> None:
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            f"normalization must be one of {', '.join(NORMALIZATIONS)}. "
            f"Received: normalization={normalization!r}"
        )


def _regression_encode(ab: tf.Tensor, normalization: str) -> tf.Tensor:
    ab = tf.cast(ab, tf.float32)
    if normalization == "sigmoid":
        # Iizuka et al. decode ab = (2 * sigmoid - 1) * 100; beyond +-100 the target saturates.
        return tf.clip_by_value((ab / 100.0 + 1.0) / 2.0, 0.0, 1.0)
    if normalization == "tanh":
        return ab / 128.0
    if normalization == "tanh110":
        return ab / ZHANG_AB_NORM
    return (ab - AB_MIN) / AB_SPAN


def _regression_decode(output: tf.Tensor, normalization: str) -> tf.Tensor:
    output = tf.cast(output, tf.float32)
    if normalization == "sigmoid":
        return (2.0 * output - 1.0) * 100.0
    if normalization == "tanh":
        return output * 128.0
    if normalization == "tanh110":
        return output * ZHANG_AB_NORM
    # A linear head can leave the range; the clip keeps decoded ab inside 8-bit Lab.
    return tf.clip_by_value(output * AB_SPAN + AB_MIN, AB_MIN, AB_MAX)


@register_codec
class RegressionCodec(Codec):
    """ab regressed per pixel with MSE on a normalized target.

    Normalizations (`CodecConfig.normalization`):
        `sigmoid`: target clip((ab / 100 + 1) / 2, 0, 1), sigmoid head, ab = (2 out - 1) 100
            (Iizuka et al. 2016 and the course report that reimplemented it).
        `tanh`: target ab / 128, tanh head, ab = 128 out (the Keras baseline after Emil
            Wallner's blog).
        `unit`: target (ab + 128) / 255, linear head, ab = clip(255 out - 128, -128, 127) (the
            thesis's MSE variant).
        `tanh110`: target ab / 110, tanh head, ab = 110 out (Zhang et al. 2017's user-guided
            network; its tanh head reaches |ab| = 110).
    """

    name = "regression"
    channels = 2
    needs_fit = False

    def __init__(self, config: CodecConfig):
        super().__init__(config)
        _check_normalization(config.normalization)
        self.normalization = config.normalization
        self.output_activation = {
            "sigmoid": "sigmoid",
            "tanh": "tanh",
            "unit": None,
            "tanh110": "tanh",
        }[self.normalization]

    def encode(self, ab: tf.Tensor) -> tf.Tensor:
        """Normalizes ab: float32 [..., H, W, 2] -> float32 target [..., H, W, 2]."""
        return _regression_encode(ab, self.normalization)

    def loss(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        """MSE over pixels and channels per sample.

        Args:
            y_true: normalized target, [B, H, W, 2].
            y_pred: model output (any float dtype; computed in float32), [B, H, W, 2].

        Returns:
            float32 loss per sample, [B].
        """
        y_true = tf.cast(y_true, tf.float32)
        y_pred = tf.cast(y_pred, tf.float32)
        return per_sample_mean(tf.square(y_pred - y_true))

    def decode(
        self,
        output: tf.Tensor,
        temperature: float | tf.Tensor | None = None,
        method: str | None = None,
    ) -> tf.Tensor:
        """Inverts the normalization: model output [..., H, W, 2] -> float32 ab [..., H, W, 2].

        `temperature` and `method` belong to the bin codecs and are ignored here.
        """
        del temperature, method
        return _regression_decode(output, self.normalization)

    def metrics(self) -> list[keras.metrics.Metric]:
        return [AbMeanAbsoluteError(normalization=self.normalization)]


@keras.saving.register_keras_serializable(package="tfcolor")
class AbMeanAbsoluteError(MeanMetric):
    """Mean absolute ab error, in ab units, after decoding both target and prediction.

    `update_state(y_true, y_pred, sample_weight=None)`: normalized targets and outputs
    [B, H, W, 2] of a `RegressionCodec` with the same normalization; sample_weight None, [B]
    or [B, H, W].
    """

    def __init__(self, normalization: str, name: str = "ab_mae", dtype: str | None = None):
        _check_normalization(normalization)
        super().__init__(name=name, dtype=dtype)
        self.normalization = normalization

    def update_state(self, y_true, y_pred, sample_weight=None):
        true_ab = _regression_decode(y_true, self.normalization)
        predicted_ab = _regression_decode(y_pred, self.normalization)
        error = tf.abs(predicted_ab - true_ab)
        self._accumulate(error, pixel_weights(sample_weight, error, tf.float32))

    def get_config(self) -> dict[str, Any]:
        return {"normalization": self.normalization, "name": self.name, "dtype": self.dtype}
