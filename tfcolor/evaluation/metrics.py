"""Colorization metrics: PSNR, SSIM, the AuC of the ab error, colorfulness.

The measurements the colorization literature reports, each as a plain TF function (one value
per image, or per batch for the pixel-pooled AuC) and as a Keras metric that accumulates over a
whole dataset (`model.compile(metrics=...)`, `model.evaluate`, or standalone `update_state` /
`result`). All of them are TF ops vectorized over the batch.

Inputs:
    RGB images: uint8 [N, H, W, 3], or float [N, H, W, 3] in [0, 1] (anything else is converted
        with `tf.image.convert_image_dtype`, which scales integers and only casts floats).
    ab: float [N, H, W, 2] in CIE Lab units (roughly [-128, 127]), as `tfcolor.color` makes.

Metrics and their sources:
    `psnr`, `PSNR`: peak signal-to-noise ratio on RGB in [0, 1] (peak value 1), in dB, the mean
        over the images of each image's PSNR (`tf.image.psnr`). An image predicted exactly has
        an infinite PSNR, and so has any mean that includes it (as in scikit-image).
    `ssim`, `SSIM`: structural similarity, Wang, Bovik, Sheikh and Simoncelli 2004, "Image
        quality assessment: from error visibility to structural similarity" (IEEE TIP 13(4)),
        with the paper's parameters: an 11 x 11 Gaussian window of sigma 1.5, K1 = 0.01,
        K2 = 0.03, peak value 1, averaged over the three RGB channels (`tf.image.ssim`).
    `ab_error_curve`, `ab_error_auc`, `AbErrorAuC`: Zhang, Isola and Efros 2016, "Colorful Image
        Colorization" (ECCV), sec. 3.1: the per-pixel L2 distance in ab between prediction and
        truth; the cumulative curve of the fraction of pixels whose error is at most t, for
        t = 0, 1, ..., 150; and the area under it, normalized to [0, 1]. Weighting each pixel
        by the class-rebalancing weight of its true colour gives their rebalanced variant.
    `colorfulness`, `Colorfulness`: Hasler and Suesstrunk 2003, "Measuring colourfulness in
        natural images" (Proc. SPIE 5007, Human Vision and Electronic Imaging VIII), on 0-255
        RGB: rg = R - G, yb = (R + G) / 2 - B,
        M = sqrt(std_rg^2 + std_yb^2) + 0.3 sqrt(mean_rg^2 + mean_yb^2), per image.

The AuC convention: the curve is sampled at the integer thresholds t = 0, ..., T (T = 150 by
default) with `error <= t`, and the AuC is the mean of those T + 1 values. A perfect prediction
gives 1 (every error is 0 <= 0); a constant error d in (0, T] gives (T - ceil(d) + 1) / (T + 1).
The Keras metric keeps a weighted histogram of the errors (bucket k holds errors in (k - 1, k];
bucket 0 exact zeros; a last bucket everything above T), so its curve over a dataset is exact,
not an average of per-batch curves.

The gray baseline (a = b = 0 with the true lightness) is what every colorization paper reports
beside its model: `gray_ab` and `gray_rgb` make it, `image_metrics` measures a batch, and
`ColorizationMetrics` accumulates the model's numbers and the gray baseline's side by side.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfcolor.codecs.metrics import MeanMetric, pixel_weights
from tfcolor.color import lab_from_parts, lightness_and_ab

__all__ = [
    "PSNR",
    "SSIM",
    "AbError",
    "AbErrorAuC",
    "ColorizationMetrics",
    "Colorfulness",
    "ab_error_auc",
    "ab_error_curve",
    "colorfulness",
    "gray_ab",
    "gray_rgb",
    "image_metrics",
    "psnr",
    "ssim",
]

# Zhang et al. 2016 sweep the ab error threshold from 0 to 150.
AB_ERROR_MAX_THRESHOLD = 150
# SSIM's window and constants (Wang et al. 2004, and tf.image.ssim's defaults).
SSIM_FILTER_SIZE = 11
SSIM_FILTER_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
# Hasler and Suesstrunk 2003: weight of the mean chroma against its spread.
COLORFULNESS_MEAN_WEIGHT = 0.3

_COLORFULNESS_OF = ("predicted", "true")


# === Functions ===


def _unit_rgb(images: tf.Tensor) -> tf.Tensor:
    """RGB as float32 in [0, 1]: integers are scaled (uint8 / 255), floats only cast."""
    images = tf.convert_to_tensor(images)
    return tf.cast(tf.image.convert_image_dtype(images, tf.float32), tf.float32)


def psnr(true_rgb: tf.Tensor, predicted_rgb: tf.Tensor) -> tf.Tensor:
    """Peak signal-to-noise ratio of each image, on RGB in [0, 1] (peak value 1).

    PSNR = 10 log10(1 / MSE), the MSE over the image's pixels and channels.

    Args:
        true_rgb: uint8 or float RGB in [0, 1], shape [N, H, W, 3].
        predicted_rgb: the same, shape [N, H, W, 3].

    Returns:
        float32 PSNR in dB, shape [N]; inf for an image predicted exactly.
    """
    return tf.image.psnr(_unit_rgb(true_rgb), _unit_rgb(predicted_rgb), max_val=1.0)


def ssim(true_rgb: tf.Tensor, predicted_rgb: tf.Tensor) -> tf.Tensor:
    """Structural similarity of each image (Wang et al. 2004), on RGB in [0, 1].

    An 11 x 11 Gaussian window of sigma 1.5, K1 = 0.01, K2 = 0.03, peak value 1, mean over the
    window positions ('valid' borders) and the three channels. Images smaller than 11 pixels
    (static H or W) get a window of min(11, H, W) pixels instead; with unknown static sizes the
    window stays 11 and smaller images fail `tf.image.ssim`'s size check.

    Args:
        true_rgb: uint8 or float RGB in [0, 1], shape [N, H, W, 3].
        predicted_rgb: the same, shape [N, H, W, 3].

    Returns:
        float32 SSIM in [-1, 1] (1: identical), shape [N].
    """
    true_rgb = _unit_rgb(true_rgb)
    predicted_rgb = _unit_rgb(predicted_rgb)
    # tf.image.ssim takes the window size as a Python int (it builds a constant from it).
    spatial = [size for size in true_rgb.shape[-3:-1] if size is not None]
    filter_size = min([SSIM_FILTER_SIZE, *spatial])
    return tf.image.ssim(
        true_rgb,
        predicted_rgb,
        max_val=1.0,
        filter_size=filter_size,
        filter_sigma=SSIM_FILTER_SIGMA,
        k1=SSIM_K1,
        k2=SSIM_K2,
    )


def _check_max_threshold(max_threshold: int) -> int:
    if isinstance(max_threshold, bool) or not isinstance(max_threshold, (int, np.integer)):
        raise ValueError(
            f"max_threshold must be a positive integer. Received: max_threshold={max_threshold!r}"
        )
    if max_threshold < 1:
        raise ValueError(
            f"max_threshold must be a positive integer. Received: max_threshold={max_threshold}"
        )
    return int(max_threshold)


def _ab_error_histogram(
    true_ab: tf.Tensor,
    predicted_ab: tf.Tensor,
    weights: tf.Tensor | None,
    max_threshold: int,
) -> tf.Tensor:
    """Weighted histogram of the ab errors, float64 [max_threshold + 2].

    Bucket k in [0, max_threshold] holds the errors e with ceil(e) = k, that is e in (k - 1, k]
    (bucket 0: e = 0); bucket max_threshold + 1 holds the errors above max_threshold and NaN.
    For an integer t, e <= t exactly when ceil(e) <= t, so the cumulative sum of the buckets is
    the curve at every threshold, with no approximation.
    """
    true_ab = tf.cast(true_ab, tf.float32)
    predicted_ab = tf.cast(predicted_ab, tf.float32)
    error = tf.sqrt(tf.reduce_sum(tf.square(predicted_ab - true_ab), axis=-1))
    overflow = float(max_threshold + 1)
    # The comparison is False for NaN, which lands in the overflow bucket.
    error = tf.where(error <= float(max_threshold), error, overflow)
    bucket = tf.cast(tf.math.ceil(error), tf.int32)
    weights_per_pixel = pixel_weights(weights, error)
    # float64: pixel counts pass float32's exact-integer limit (2^24) within a few batches.
    return tf.math.unsorted_segment_sum(
        tf.reshape(weights_per_pixel, [-1]), tf.reshape(bucket, [-1]), max_threshold + 2
    )


def _curve_from_histogram(histogram: tf.Tensor, max_threshold: int) -> tf.Tensor:
    """float32 [max_threshold + 1]: weighted fraction of pixels with error <= t, t = 0..T."""
    histogram = tf.convert_to_tensor(histogram)
    cumulative = tf.cumsum(histogram[: max_threshold + 1])
    return tf.cast(tf.math.divide_no_nan(cumulative, tf.reduce_sum(histogram)), tf.float32)


def ab_error_curve(
    true_ab: tf.Tensor,
    predicted_ab: tf.Tensor,
    weights: tf.Tensor | None = None,
    max_threshold: int = AB_ERROR_MAX_THRESHOLD,
) -> tf.Tensor:
    """Zhang et al. 2016's cumulative ab error curve, over all pixels of the batch.

    Args:
        true_ab: float ab, shape [N, H, W, 2].
        predicted_ab: float ab, shape [N, H, W, 2].
        weights: None, per-image weights [N], or per-pixel weights [N, H, W] (for the
            rebalanced variant, the class-rebalancing weight of each pixel's true colour).
        max_threshold: the largest threshold T; the curve is sampled at t = 0, 1, ..., T.

    Returns:
        float32 [T + 1]: at index t the (weighted) fraction of pixels whose ab error
        ||predicted_ab - true_ab||_2 is <= t; non-decreasing, in [0, 1]. All zeros when the
        weights sum to 0.

    Raises:
        ValueError: max_threshold is not a positive integer.
    """
    max_threshold = _check_max_threshold(max_threshold)
    histogram = _ab_error_histogram(true_ab, predicted_ab, weights, max_threshold)
    return _curve_from_histogram(histogram, max_threshold)


def ab_error_auc(
    true_ab: tf.Tensor,
    predicted_ab: tf.Tensor,
    weights: tf.Tensor | None = None,
    max_threshold: int = AB_ERROR_MAX_THRESHOLD,
) -> tf.Tensor:
    """Area under `ab_error_curve`, normalized to [0, 1]: the mean of the curve's T + 1 values.

    1 for a perfect prediction; (T - ceil(d) + 1) / (T + 1) for a constant error d in (0, T].
    Arguments as `ab_error_curve`.

    Returns:
        float32 scalar in [0, 1].
    """
    return tf.reduce_mean(ab_error_curve(true_ab, predicted_ab, weights, max_threshold))


def colorfulness(rgb: tf.Tensor) -> tf.Tensor:
    """Hasler and Suesstrunk 2003's colourfulness M of each image, on 0-255 RGB.

    rg = R - G, yb = (R + G) / 2 - B over the image's pixels;
    M = sqrt(std_rg^2 + std_yb^2) + 0.3 sqrt(mean_rg^2 + mean_yb^2), with population standard
    deviations. 0 for a gray image; about 15 for "slightly", 33 "moderately", 59 "quite" and
    82 "highly colourful" in the paper's scale.

    Args:
        rgb: uint8 or float RGB in [0, 1], shape [N, H, W, 3].

    Returns:
        float32 M >= 0, shape [N].
    """
    rgb = _unit_rgb(rgb) * 255.0
    red, green, blue = tf.unstack(rgb, num=3, axis=-1)
    rg = red - green
    yb = 0.5 * (red + green) - blue
    rg_mean, rg_variance = tf.nn.moments(rg, axes=[1, 2])
    yb_mean, yb_variance = tf.nn.moments(yb, axes=[1, 2])
    # moments can round a zero variance to a tiny negative number; sqrt would give NaN.
    spread = tf.sqrt(tf.maximum(rg_variance + yb_variance, 0.0))
    return spread + COLORFULNESS_MEAN_WEIGHT * tf.sqrt(tf.square(rg_mean) + tf.square(yb_mean))


def gray_ab(true_ab: tf.Tensor) -> tf.Tensor:
    """The gray baseline's prediction: a = b = 0, float32, shaped like `true_ab` [..., 2]."""
    return tf.zeros_like(tf.cast(true_ab, tf.float32))


def gray_rgb(true_rgb: tf.Tensor) -> tf.Tensor:
    """The gray baseline's image: the true lightness with a = b = 0.

    Args:
        true_rgb: uint8 or float RGB in [0, 1], shape [..., 3].

    Returns:
        float32 gray RGB in [0, 1], shape [..., 3] (R = G = B up to float rounding).
    """
    lightness, ab = lightness_and_ab(_unit_rgb(true_rgb))
    # Grey lies inside the gamut: nothing to map (`clip` skips the chroma search).
    return lab_from_parts(lightness, gray_ab(ab), gamut="clip")


def image_metrics(
    true_rgb: tf.Tensor,
    predicted_rgb: tf.Tensor,
    true_ab: tf.Tensor | None = None,
    predicted_ab: tf.Tensor | None = None,
    weights: tf.Tensor | None = None,
    max_threshold: int = AB_ERROR_MAX_THRESHOLD,
) -> dict[str, tf.Tensor]:
    """Every metric of one batch; call it again with `gray_rgb` / `gray_ab` for the baseline.

    Args:
        true_rgb: uint8 or float RGB in [0, 1], shape [N, H, W, 3].
        predicted_rgb: the same, shape [N, H, W, 3].
        true_ab: float ab [N, H, W, 2]; computed from `true_rgb` when None.
        predicted_ab: float ab [N, H, W, 2]; computed from `predicted_rgb` when None.
        weights: None or per-pixel weights [N, H, W] (the class-rebalancing weight of each
            pixel's true colour); with them the result also holds `auc_rebalanced`.
        max_threshold: the AuC's largest threshold.

    Returns:
        A dict of float32 tensors: `psnr`, `ssim`, `colorfulness` (of the prediction) and
        `colorfulness_true`, shape [N] (per image); `auc` and, with weights, `auc_rebalanced`,
        scalars (pooled over the batch's pixels).
    """
    true_rgb = _unit_rgb(true_rgb)
    predicted_rgb = _unit_rgb(predicted_rgb)
    if true_ab is None:
        true_ab = lightness_and_ab(true_rgb)[1]
    if predicted_ab is None:
        predicted_ab = lightness_and_ab(predicted_rgb)[1]
    values = {
        "psnr": psnr(true_rgb, predicted_rgb),
        "ssim": ssim(true_rgb, predicted_rgb),
        "auc": ab_error_auc(true_ab, predicted_ab, max_threshold=max_threshold),
        "colorfulness": colorfulness(predicted_rgb),
        "colorfulness_true": colorfulness(true_rgb),
    }
    if weights is not None:
        values["auc_rebalanced"] = ab_error_auc(
            true_ab, predicted_ab, weights, max_threshold=max_threshold
        )
    return values


# === Keras metrics ===


class _PerImageMean(MeanMetric):
    """Mean over images of a per-image value; subclasses define `_per_image`.

    `update_state(y_true, y_pred, sample_weight=None)`: sample_weight None or [N] per image.
    The sums are float64 so that long evaluations do not lose precision.
    """

    accumulator_dtype = "float64"

    def _per_image(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = tf.cast(self._per_image(y_true, y_pred), tf.float64)
        if sample_weight is None:
            weights = tf.ones_like(values)
        else:
            # A per-pixel weight has no meaning for a per-image value: the reshape refuses it.
            weights = tf.reshape(tf.cast(sample_weight, tf.float64), tf.shape(values))
        self._accumulate(values, weights)


@keras.saving.register_keras_serializable(package="tfcolor")
class PSNR(_PerImageMean):
    """Mean PSNR over images, in dB (see `psnr`).

    `update_state(y_true, y_pred, sample_weight=None)`: true and predicted RGB, uint8 or float
    in [0, 1], [N, H, W, 3]; sample_weight None or [N].
    """

    def __init__(self, name: str = "psnr", dtype: str | None = None):
        super().__init__(name=name, dtype=dtype)

    def _per_image(self, y_true, y_pred):
        return psnr(y_true, y_pred)


@keras.saving.register_keras_serializable(package="tfcolor")
class SSIM(_PerImageMean):
    """Mean SSIM over images (see `ssim`).

    `update_state(y_true, y_pred, sample_weight=None)`: true and predicted RGB, uint8 or float
    in [0, 1], [N, H, W, 3]; sample_weight None or [N].
    """

    def __init__(self, name: str = "ssim", dtype: str | None = None):
        super().__init__(name=name, dtype=dtype)

    def _per_image(self, y_true, y_pred):
        return ssim(y_true, y_pred)


@keras.saving.register_keras_serializable(package="tfcolor")
class Colorfulness(_PerImageMean):
    """Mean colourfulness over images (see `colorfulness`) of the prediction or of the truth.

    Two instances, `Colorfulness()` and `Colorfulness(of="true")`, report the prediction's
    colourfulness beside the truth's (a model that averages colours is less colourful).

    `update_state(y_true, y_pred, sample_weight=None)`: true and predicted RGB, uint8 or float
    in [0, 1], [N, H, W, 3]; sample_weight None or [N].

    Args:
        of: `"predicted"` (y_pred) or `"true"` (y_true).
        name: defaults to `colorfulness` or `colorfulness_true`.
    """

    def __init__(self, of: str = "predicted", name: str | None = None, dtype: str | None = None):
        if of not in _COLORFULNESS_OF:
            raise ValueError(
                f"of must be one of {', '.join(_COLORFULNESS_OF)}. Received: of={of!r}"
            )
        if name is None:
            name = "colorfulness" if of == "predicted" else "colorfulness_true"
        super().__init__(name=name, dtype=dtype)
        self.of = of

    def _per_image(self, y_true, y_pred):
        return colorfulness(y_pred if self.of == "predicted" else y_true)

    def get_config(self) -> dict[str, Any]:
        return {"of": self.of, **super().get_config()}


@keras.saving.register_keras_serializable(package="tfcolor")
class AbErrorAuC(keras.metrics.Metric):
    """Zhang et al. 2016's AuC of the ab error, exact over everything seen since the reset.

    Keeps a weighted histogram of the per-pixel ab errors (see `ab_error_curve`), so the
    result is the AuC of the whole dataset's pixels, not a mean of per-batch AuCs. Pass the
    class-rebalancing weight of each pixel's true colour as sample_weight for the rebalanced
    AuC.

    `update_state(y_true, y_pred, sample_weight=None)`: true and predicted ab, float
    [N, H, W, 2]; sample_weight None, [N] per image or [N, H, W] per pixel. `result()` is the
    AuC in [0, 1]; `curve()` the cumulative curve [max_threshold + 1], for plotting.

    Args:
        max_threshold: the largest threshold T (Zhang et al.: 150).
        name: the metric's name.
    """

    def __init__(
        self,
        max_threshold: int = AB_ERROR_MAX_THRESHOLD,
        name: str = "ab_error_auc",
        dtype: str | None = None,
    ):
        max_threshold = _check_max_threshold(max_threshold)
        super().__init__(name=name, dtype=dtype)
        self.max_threshold = max_threshold
        self.histogram = self.add_variable(
            shape=(max_threshold + 2,), initializer="zeros", dtype="float64", name="histogram"
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.histogram.assign_add(
            _ab_error_histogram(y_true, y_pred, sample_weight, self.max_threshold)
        )

    def curve(self) -> tf.Tensor:
        """float32 [max_threshold + 1]: fraction of pixels with ab error <= t, t = 0..T."""
        return _curve_from_histogram(self.histogram, self.max_threshold)

    def result(self) -> tf.Tensor:
        return tf.cast(tf.reduce_mean(self.curve()), self.dtype)

    def reset_state(self) -> None:
        self.histogram.assign(tf.zeros_like(self.histogram))

    def get_config(self) -> dict[str, Any]:
        return {"max_threshold": self.max_threshold, "name": self.name, "dtype": self.dtype}


class AbError(MeanMetric):
    """The mean per-pixel ab error: the Euclidean distance between predicted and true ab, in
    Lab units (the error whose cumulative curve `AbErrorAuC` integrates), pooled over every
    pixel seen since the reset.

    `update_state(y_true, y_pred, sample_weight=None)`: true and predicted ab, float
    [N, H, W, 2]; sample_weight None, [N] per image or [N, H, W] per pixel.

    Args:
        name: the metric's name.
    """

    accumulator_dtype = "float64"  # pixel counts pass float32's exact integers in a few batches

    def __init__(self, name: str = "ab_error", dtype: str | None = None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        difference = tf.cast(y_pred, tf.float64) - tf.cast(y_true, tf.float64)
        error = tf.sqrt(tf.reduce_sum(tf.square(difference), axis=-1))
        self._accumulate(error, pixel_weights(sample_weight, error))


# === Aggregation over a dataset, with the gray baseline ===


class ColorizationMetrics:
    """Every metric over a dataset, and the same for the gray baseline beside it.

    Holds `PSNR`, `SSIM`, `AbError` (the mean ab error), `AbErrorAuC`, a rebalanced
    `AbErrorAuC` (when pixel weights are given) and `Colorfulness` of the prediction and of
    the truth; with `gray_baseline`, the
    same metrics of the gray prediction (true lightness, a = b = 0) under the prefix `gray_`.

    Example:
        metrics = ColorizationMetrics()
        for true_rgb, predicted_rgb in batches:
            metrics.update(true_rgb, predicted_rgb)
        metrics.result()  # {"psnr": ..., "gray_psnr": ..., "auc": ..., ...}

    Args:
        gray_baseline: also measure the gray baseline.
        max_threshold: the AuC's largest threshold.
    """

    def __init__(self, gray_baseline: bool = True, max_threshold: int = AB_ERROR_MAX_THRESHOLD):
        self.gray_baseline = bool(gray_baseline)
        self.max_threshold = _check_max_threshold(max_threshold)
        prefixes = ["", "gray_"] if self.gray_baseline else [""]
        self._metrics = {}
        for prefix in prefixes:
            self._metrics[f"{prefix}psnr"] = PSNR(name=f"{prefix}psnr")
            self._metrics[f"{prefix}ssim"] = SSIM(name=f"{prefix}ssim")
            self._metrics[f"{prefix}ab_error"] = AbError(name=f"{prefix}ab_error")
            for suffix in ("", "_rebalanced"):
                name = f"{prefix}auc{suffix}"
                self._metrics[name] = AbErrorAuC(self.max_threshold, name=name)
            self._metrics[f"{prefix}colorfulness"] = Colorfulness(name=f"{prefix}colorfulness")
        # The truth's colourfulness does not depend on the prediction: once is enough.
        self._metrics["colorfulness_true"] = Colorfulness(of="true")
        self._weighted: bool | None = None  # whether the updates carry pixel weights

    def update(
        self,
        true_rgb: tf.Tensor,
        predicted_rgb: tf.Tensor,
        true_ab: tf.Tensor | None = None,
        predicted_ab: tf.Tensor | None = None,
        pixel_weights: tf.Tensor | None = None,
    ) -> None:
        """Adds one batch.

        Args:
            true_rgb: uint8 or float RGB in [0, 1], shape [N, H, W, 3].
            predicted_rgb: the same, shape [N, H, W, 3].
            true_ab: float ab [N, H, W, 2]; computed from `true_rgb` when None.
            predicted_ab: float ab [N, H, W, 2]; computed from `predicted_rgb` when None.
            pixel_weights: None or float [N, H, W], the class-rebalancing weight of each
                pixel's true colour; given for every batch or for none.

        Raises:
            ValueError: pixel_weights given for some batches but not for others.
        """
        weighted = pixel_weights is not None
        if self._weighted is not None and weighted != self._weighted:
            raise ValueError(
                "pixel_weights must be given for every batch or for none. "
                f"Received: pixel_weights={'a tensor' if weighted else None} after batches "
                f"{'with' if self._weighted else 'without'} them"
            )
        self._weighted = weighted
        true_rgb = _unit_rgb(true_rgb)
        predicted_rgb = _unit_rgb(predicted_rgb)
        true_lightness, computed_true_ab = lightness_and_ab(true_rgb)
        if true_ab is None:
            true_ab = computed_true_ab
        if predicted_ab is None:
            predicted_ab = lightness_and_ab(predicted_rgb)[1]
        self._metrics["colorfulness_true"].update_state(true_rgb, true_rgb)
        self._update("", true_rgb, predicted_rgb, true_ab, predicted_ab, pixel_weights)
        if self.gray_baseline:
            baseline_ab = gray_ab(true_ab)
            baseline_rgb = lab_from_parts(true_lightness, baseline_ab, gamut="clip")  # grey
            self._update("gray_", true_rgb, baseline_rgb, true_ab, baseline_ab, pixel_weights)

    def _update(self, prefix, true_rgb, predicted_rgb, true_ab, predicted_ab, pixel_weights):
        metrics = self._metrics
        metrics[f"{prefix}psnr"].update_state(true_rgb, predicted_rgb)
        metrics[f"{prefix}ssim"].update_state(true_rgb, predicted_rgb)
        metrics[f"{prefix}ab_error"].update_state(true_ab, predicted_ab)
        metrics[f"{prefix}auc"].update_state(true_ab, predicted_ab)
        if pixel_weights is not None:
            metrics[f"{prefix}auc_rebalanced"].update_state(true_ab, predicted_ab, pixel_weights)
        metrics[f"{prefix}colorfulness"].update_state(true_rgb, predicted_rgb)

    def result(self) -> dict[str, float]:
        """The metrics so far: `psnr`, `ssim`, `ab_error`, `auc`, `auc_rebalanced` (only with
        pixel weights), `colorfulness`, `colorfulness_true`, and each but the last with
        `gray_`."""
        return {
            name: float(metric.result())
            for name, metric in self._metrics.items()
            if self._weighted or not name.endswith("_rebalanced")
        }

    def curve(self, rebalanced: bool = False, gray: bool = False) -> np.ndarray:
        """The cumulative ab error curve so far, float32 [max_threshold + 1] (index t: the
        fraction of pixels with error <= t).

        Raises:
            ValueError: a rebalanced curve without pixel weights, or a gray curve without
                `gray_baseline`.
        """
        if rebalanced and not self._weighted:
            raise ValueError("the rebalanced curve needs pixel_weights. Received: none")
        if gray and not self.gray_baseline:
            raise ValueError("this instance has no gray baseline. Received: gray_baseline=False")
        name = f"{'gray_' if gray else ''}auc{'_rebalanced' if rebalanced else ''}"
        return self._metrics[name].curve().numpy()

    def reset(self) -> None:
        """Forgets every batch seen."""
        for metric in self._metrics.values():
            metric.reset_state()
        self._weighted = None
