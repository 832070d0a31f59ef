"""Codecs: what the model predicts per pixel, and how that becomes ab again.

A codec is the hinge between the data and the model (DESIGN.md). It decides

- the head: `channels` outputs per pixel and their `output_activation`,
- the training target: `encode(ab)`, pure TF ops, called in `tf.data` map functions,
- the loss: `loss(y_true, y_pred)`, a Keras loss function giving one value per sample,
- the decoding: `decode(output)` from the model's output back to ab,
- the metrics it reports during training (`metrics()`),

and, where it needs data statistics (per-bin colours, the class prior), a `fit` step over the
training data's ab values. Its state is a dict of numpy arrays, saved next to the model
(`save` / `load_codec`) and turned into constants when the loss or decoding is traced, so it is
baked into an export.

Codecs:
    `RegressionCodec`: ab regressed directly, normalized three ways (the Iizuka course report,
        the Keras baseline, the thesis's MSE variant), MSE loss.
    `GridCodec`: the thesis's bins, a square grid over normalized ab; cross-entropy, optionally
        class-rebalanced as in Zhang et al. 2016; decoded from per-bin mode and mean colours
        fitted on the training data.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import math
import os
from collections.abc import Iterable
from typing import Any

import keras
import numpy as np
import tensorflow as tf
import tqdm

from tfcolor.config import CodecConfig

__all__ = [
    "AbMeanAbsoluteError",
    "BinAccuracy",
    "Codec",
    "ColoredBinAccuracy",
    "GridCodec",
    "RegressionCodec",
    "load_codec",
    "make_codec",
]

CONFIG_FILENAME = "codec.json"
STATE_FILENAME = "codec_state.npz"

# The ab range the codecs cover: a and b of 8-bit Lab (all of sRGB lies inside).
AB_MIN = -128.0
AB_MAX = 127.0
AB_SPAN = AB_MAX - AB_MIN  # 255

# Zhang et al. 2016: the empirical prior is smoothed with a Gaussian of sigma 5 ab units.
PRIOR_SMOOTHING_SIGMA = 5.0
# Below this temperature annealed_mean is taken as its limit T -> 0: the argmax bin's mean
# (softmax(log p / T) would overflow to a one-hot anyway, with NaN risk on ties).
ANNEALED_MEAN_MIN_TEMPERATURE = 1e-3

_NORMALIZATIONS = ("sigmoid", "tanh", "unit")
_DECODINGS = ("interp", "annealed_mean")


# === Base class ===


class Codec:
    """What the model predicts per pixel. Subclasses set the class attributes below.

    Attributes:
        name: the codec's name in `CodecConfig.name`.
        channels: model outputs per pixel (the head's size).
        output_activation: `"sigmoid"`, `"tanh"` or None; the model applies it in its float32
            head. Codecs trained on logits use None.
        needs_fit: whether `fit` must see the training data before training.
    """

    name: str = ""
    channels: int = 0
    output_activation: str | None = None
    needs_fit: bool = False

    def __init__(self, config: CodecConfig):
        if config.name != self.name:
            raise ValueError(
                f"{type(self).__name__} takes a config named {self.name!r}. "
                f"Received: name={config.name!r}"
            )
        self._config = dataclasses.replace(config)

    @property
    def config(self) -> CodecConfig:
        """A copy of the codec's config."""
        return dataclasses.replace(self._config)

    @property
    def fitted(self) -> bool:
        """Whether the codec holds data statistics (always True for codecs that need none)."""
        return not self.needs_fit

    def encode(self, ab: tf.Tensor) -> tf.Tensor:
        """Turns ab into the training target (pure TF ops, usable in `tf.data` maps).

        Args:
            ab: float32 ab, shape [..., H, W, 2].

        Returns:
            The target; its shape and dtype depend on the codec.
        """
        raise NotImplementedError

    def loss(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        """The training loss per sample, shape [B] (a Keras loss function)."""
        raise NotImplementedError

    def decode(
        self,
        output: tf.Tensor,
        temperature: float | tf.Tensor | None = None,
        method: str | None = None,
    ) -> tf.Tensor:
        """Turns model output into ab, float32 [..., H, W, 2]."""
        raise NotImplementedError

    def fit(self, ab_batches: Iterable[Any]) -> Codec:
        """Accumulates data statistics; a no-op for codecs that need none. Returns self."""
        del ab_batches
        return self

    def metrics(self) -> list[keras.metrics.Metric]:
        """New metric objects for `model.compile` (fresh ones on every call)."""
        return []

    def get_config(self) -> dict[str, Any]:
        """The `CodecConfig` fields, JSON-serializable."""
        return dataclasses.asdict(self._config)

    def get_state(self) -> dict[str, np.ndarray]:
        """The fitted statistics as numpy arrays; empty when there are none."""
        return {}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restores statistics returned by `get_state`."""
        if state:
            raise ValueError(
                f"the {self.name} codec holds no state. Received keys: {sorted(state)}"
            )

    def save(self, directory: str) -> None:
        """Writes `codec.json` (the config) and `codec_state.npz` (the state) into directory.

        `directory` may be any path `tf.io.gfile` understands (local, GCS, ...).
        """
        tf.io.gfile.makedirs(directory)
        with tf.io.gfile.GFile(os.path.join(directory, CONFIG_FILENAME), "w") as f:
            f.write(json.dumps(self.get_config(), indent=2, sort_keys=True))
        # zipfile needs a seekable file, which a GFile opened for writing is not.
        buffer = io.BytesIO()
        np.savez(buffer, **self.get_state())
        with tf.io.gfile.GFile(os.path.join(directory, STATE_FILENAME), "wb") as f:
            f.write(buffer.getvalue())

    def __repr__(self) -> str:
        fields = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({fields})"


def _per_sample_mean(values: tf.Tensor) -> tf.Tensor:
    """Mean over every axis but the first: [B, ...] -> [B]."""
    batch = tf.shape(values)[0]
    return tf.reduce_mean(tf.reshape(values, [batch, -1]), axis=1)


# === Regression ===


def _regression_encode(ab: tf.Tensor, normalization: str) -> tf.Tensor:
    ab = tf.cast(ab, tf.float32)
    if normalization == "sigmoid":
        # Iizuka et al. decode ab = (2 * sigmoid - 1) * 100; beyond +-100 the target saturates.
        return tf.clip_by_value((ab / 100.0 + 1.0) / 2.0, 0.0, 1.0)
    if normalization == "tanh":
        return ab / 128.0
    return (ab - AB_MIN) / AB_SPAN


def _regression_decode(output: tf.Tensor, normalization: str) -> tf.Tensor:
    output = tf.cast(output, tf.float32)
    if normalization == "sigmoid":
        return (2.0 * output - 1.0) * 100.0
    if normalization == "tanh":
        return output * 128.0
    # A linear head can leave the range; the clip keeps decoded ab inside 8-bit Lab.
    return tf.clip_by_value(output * AB_SPAN + AB_MIN, AB_MIN, AB_MAX)


class RegressionCodec(Codec):
    """ab regressed per pixel with MSE on a normalized target.

    Normalizations (`CodecConfig.normalization`):
        `sigmoid`: target clip((ab / 100 + 1) / 2, 0, 1), sigmoid head, ab = (2 out - 1) 100
            (Iizuka et al. 2016 and the course report that reimplemented it).
        `tanh`: target ab / 128, tanh head, ab = 128 out (the Keras baseline after Emil
            Wallner's blog).
        `unit`: target (ab + 128) / 255, linear head, ab = clip(255 out - 128, -128, 127) (the
            thesis's MSE variant).
    """

    name = "regression"
    channels = 2
    needs_fit = False

    def __init__(self, config: CodecConfig):
        super().__init__(config)
        if config.normalization not in _NORMALIZATIONS:
            raise ValueError(
                f"normalization must be one of {', '.join(_NORMALIZATIONS)}. "
                f"Received: normalization={config.normalization!r}"
            )
        self.normalization = config.normalization
        self.output_activation = {"sigmoid": "sigmoid", "tanh": "tanh", "unit": None}[
            self.normalization
        ]

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
        return _per_sample_mean(tf.square(y_pred - y_true))

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


# === Grid bins (the thesis) ===


class GridCodec(Codec):
    """The thesis's bins: a W x W grid over normalized ab, W = sqrt(n_bins).

    Per channel u = clip((ab + 128) / 255, 0, 1) and index = min(floor(u W), W - 1); the bin is
    W * b_index + a_index. The model predicts logits over the bins; the loss is softmax
    cross-entropy, weighted per true bin by Zhang et al.'s class rebalancing when
    `CodecConfig.rebalance` is set. `fit` measures per-bin mean and mode colours and the pixel
    counts (the empirical prior) on the training data.

    Decodings (`CodecConfig.decode`, `CodecConfig.temperature` T):
        `interp` (the thesis): argmax bin, ab = mode - (mode - mean) T, T in [0, 1]: T = 0 gives
            the bin's mode, T = 1 its mean.
        `annealed_mean` (Zhang et al.): expectation of the bin means under
            softmax(log_softmax(logits) / T); T < 1e-3 gives the argmax bin's mean.
    """

    name = "grid"
    output_activation = None
    needs_fit = True

    def __init__(self, config: CodecConfig):
        super().__init__(config)
        n_bins = config.n_bins
        width = math.isqrt(n_bins) if isinstance(n_bins, int) and n_bins >= 0 else -1
        if n_bins < 4 or width * width != n_bins:
            raise ValueError(
                f"n_bins must be a perfect square of at least 4. Received: n_bins={n_bins}"
            )
        _check_decoding(config.decode, config.temperature)
        if config.rebalance is not None and not 0.0 <= config.rebalance <= 1.0:
            raise ValueError(
                "rebalance must be None or a lambda in [0, 1]. "
                f"Received: rebalance={config.rebalance}"
            )
        self.n_bins = n_bins
        self.channels = n_bins
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
        self._bin_centers = np.stack([a_centers, b_centers], axis=-1).astype(np.float32)
        self._reset_state()

    # --- statistics ---

    def _reset_state(self) -> None:
        self._bin_counts = np.zeros(self.n_bins, np.int64)
        self._bin_means = self._bin_centers.copy()
        self._bin_modes = self._bin_centers.copy()
        self._class_weights = None

    @property
    def fitted(self) -> bool:
        return bool(self._bin_counts.sum() > 0)

    @property
    def bin_centers(self) -> np.ndarray:
        """float32 [n_bins, 2]: the ab centre of every bin's cell."""
        return self._bin_centers.copy()

    @property
    def bin_means(self) -> np.ndarray:
        """float32 [n_bins, 2]: mean ab of the training pixels in each bin (empty: centre)."""
        return self._bin_means.copy()

    @property
    def bin_modes(self) -> np.ndarray:
        """float32 [n_bins, 2]: most frequent integer ab in each bin (empty: centre)."""
        return self._bin_modes.copy()

    @property
    def bin_counts(self) -> np.ndarray:
        """int64 [n_bins]: training pixels per bin (the empirical prior, unnormalized)."""
        return self._bin_counts.copy()

    @property
    def neutral_bin(self) -> int:
        """The bin holding ab = (0, 0) (gray; the black background of the shapes data)."""
        return int(self._bin_index_numpy(np.zeros((1, 2), np.float32))[0])

    @property
    def class_weights(self) -> np.ndarray:
        """float32 [n_bins]: the loss weight of each true bin (all ones without rebalancing)."""
        if self._class_weights is None:
            self._class_weights = self._compute_class_weights()
        return self._class_weights.copy()

    def smoothed_prior(self) -> np.ndarray:
        """float64 [n_bins]: the empirical prior smoothed with a Gaussian (sigma 5 ab units).

        Each bin's probability is spread over the bin centres with a Gaussian kernel whose rows
        are normalized, so the result still sums to 1 (Zhang et al. 2016).
        """
        total = self._bin_counts.sum()
        if total == 0:
            return np.full(self.n_bins, 1.0 / self.n_bins)
        prior = self._bin_counts / total
        centers = self._bin_centers.astype(np.float64)
        squared_distance = np.sum((centers[:, None, :] - centers[None, :, :]) ** 2, axis=-1)
        kernel = np.exp(-squared_distance / (2.0 * PRIOR_SMOOTHING_SIGMA**2))
        kernel /= kernel.sum(axis=1, keepdims=True)
        return prior @ kernel

    def _compute_class_weights(self) -> np.ndarray:
        rebalance = self._config.rebalance
        if rebalance is None or not self.fitted:
            return np.ones(self.n_bins, np.float32)
        smoothed = self.smoothed_prior()
        weights = 1.0 / ((1.0 - rebalance) * smoothed + rebalance / self.n_bins)
        # Normalized so the expected weight under the smoothed prior is 1 (Zhang et al. eq. 4).
        weights /= np.sum(smoothed * weights)
        return weights.astype(np.float32)

    def _bin_index_numpy(self, ab: np.ndarray) -> np.ndarray:
        ab = np.asarray(ab, np.float32)
        a_index = np.searchsorted(self._boundaries, ab[..., 0], side="right")
        b_index = np.searchsorted(self._boundaries, ab[..., 1], side="right")
        return (self.width * b_index + a_index).astype(np.int64)

    def fit(self, ab_batches: Iterable[Any]) -> GridCodec:
        """Measures per-bin mean and mode colours and pixel counts, from scratch.

        The mode of a bin is the most frequent integer ab pair among those falling into it:
        ab is rounded to integers, counted on the 256 x 256 integer grid, and each grid point
        is assigned to its bin (ties go to the smallest b, then a). An empty bin keeps its
        centre as mean and mode; a bin whose pixels all round onto a neighbouring bin's grid
        points takes its mean as mode. Non-finite pixels are skipped.

        Args:
            ab_batches: an iterable (a list, a `tf.data.Dataset`, ...) of ab arrays or
                tensors, each float [..., H, W, 2].

        Returns:
            self, fitted.

        Raises:
            TypeError: a batch is not an array of ab values (for example a dataset of
                (lightness, ab) tuples: map it to ab first).
            ValueError: there were no pixels at all.
        """
        grid_size = int(AB_SPAN) + 1  # 256 integer values per channel
        counts = np.zeros(self.n_bins, np.int64)
        sums = np.zeros((self.n_bins, 2), np.float64)
        histogram = np.zeros(grid_size * grid_size, np.int64)
        for batch in tqdm.tqdm(ab_batches, desc="fitting grid codec", unit="batch", leave=False):
            if isinstance(batch, (tuple, list, dict)):
                raise TypeError(
                    "fit takes batches of ab values [..., H, W, 2]. "
                    f"Received: a {type(batch).__name__}"
                )
            ab = np.asarray(batch, np.float32)
            if ab.ndim < 1 or ab.shape[-1] != 2:
                raise TypeError(f"ab must have shape [..., 2]. Received: shape={ab.shape}")
            ab = ab.reshape(-1, 2)
            ab = ab[np.isfinite(ab).all(axis=1)]
            bins = self._bin_index_numpy(ab)
            counts += np.bincount(bins, minlength=self.n_bins)
            for channel in range(2):
                sums[:, channel] += np.bincount(
                    bins, weights=ab[:, channel].astype(np.float64), minlength=self.n_bins
                )
            integer_ab = (np.clip(np.rint(ab), AB_MIN, AB_MAX) - AB_MIN).astype(np.int64)
            histogram += np.bincount(
                integer_ab[:, 0] + grid_size * integer_ab[:, 1], minlength=grid_size**2
            )
        total = int(counts.sum())
        if total == 0:
            raise ValueError("fit received no (finite) ab pixels. Received: 0 pixels")

        occupied = counts > 0
        means = self._bin_centers.astype(np.float64)
        means[occupied] = sums[occupied] / counts[occupied, None]

        # Mode: per bin, the grid point with the highest count (lexsort: bin, then -count,
        # then grid index for the tie-break), among grid points that were seen at all.
        grid_values = np.arange(grid_size, dtype=np.float32) + AB_MIN
        grid_ab = np.stack(
            [np.tile(grid_values, grid_size), np.repeat(grid_values, grid_size)], axis=-1
        )
        grid_bins = self._bin_index_numpy(grid_ab)
        seen = np.flatnonzero(histogram)
        order = seen[np.lexsort((seen, -histogram[seen], grid_bins[seen]))]
        mode_bins, first = np.unique(grid_bins[order], return_index=True)
        modes = means.copy()
        modes[mode_bins] = grid_ab[order[first]]

        self._bin_counts = counts
        self._bin_means = means.astype(np.float32)
        self._bin_modes = modes.astype(np.float32)
        self._class_weights = None
        logging.info(
            "Fitted the %d-bin grid codec on %d pixels; %d bins occupied.",
            self.n_bins,
            total,
            int(occupied.sum()),
        )
        return self

    def get_state(self) -> dict[str, np.ndarray]:
        """`bin_counts` int64 [n], `bin_means` and `bin_modes` float32 [n, 2]; {} if unfitted."""
        if not self.fitted:
            return {}
        return {
            "bin_counts": self._bin_counts.copy(),
            "bin_means": self._bin_means.copy(),
            "bin_modes": self._bin_modes.copy(),
        }

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        if not state:
            self._reset_state()
            return
        expected = {"bin_counts": (self.n_bins,), "bin_means": (self.n_bins, 2)}
        expected["bin_modes"] = (self.n_bins, 2)
        if set(state) != set(expected):
            raise ValueError(
                f"grid codec state needs keys {sorted(expected)}. Received: {sorted(state)}"
            )
        for key, shape in expected.items():
            if tuple(np.shape(state[key])) != shape:
                raise ValueError(
                    f"{key} must have shape {shape} for n_bins={self.n_bins}. "
                    f"Received: shape={tuple(np.shape(state[key]))}"
                )
        self._bin_counts = np.asarray(state["bin_counts"], np.int64).copy()
        self._bin_means = np.asarray(state["bin_means"], np.float32).copy()
        self._bin_modes = np.asarray(state["bin_modes"], np.float32).copy()
        self._class_weights = None

    # --- TF side ---

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

    def loss(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        """Softmax cross-entropy per pixel, weighted by the true bin's class weight.

        Args:
            y_true: bin index, [B, H, W] (any numeric dtype: Keras hands it over as float).
            y_pred: logits (any float dtype; computed in float32), [B, H, W, n_bins].

        Returns:
            float32 loss per sample (mean over its pixels), [B].
        """
        labels = _as_bin_index(y_true, y_pred)
        logits = tf.cast(y_pred, tf.float32)
        cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        if self._config.rebalance is not None and self.fitted:
            cross_entropy *= tf.gather(tf.constant(self.class_weights), labels)
        return _per_sample_mean(cross_entropy)

    def decode(
        self,
        output: tf.Tensor,
        temperature: float | tf.Tensor | None = None,
        method: str | None = None,
    ) -> tf.Tensor:
        """Turns logits into ab.

        Args:
            output: logits, [..., H, W, n_bins].
            temperature: T (a float or a scalar tensor); defaults to the config's.
            method: `interp` or `annealed_mean`; defaults to the config's.

        Returns:
            float32 ab, [..., H, W, 2].

        Raises:
            ValueError: an unknown method or a temperature out of its range.
        """
        method = self._config.decode if method is None else method
        temperature = self._config.temperature if temperature is None else temperature
        if not tf.is_tensor(temperature):
            _check_decoding(method, temperature)
        elif method not in _DECODINGS:
            _check_decoding(method, 0.0)
        logits = tf.cast(output, tf.float32)
        means = tf.constant(self._bin_means)
        argmax = tf.argmax(logits, axis=-1, output_type=tf.int32)
        argmax_mean = tf.gather(means, argmax)
        if method == "interp":
            modes = tf.gather(tf.constant(self._bin_modes), argmax)
            return modes - (modes - argmax_mean) * tf.cast(temperature, tf.float32)
        if not tf.is_tensor(temperature) and temperature < ANNEALED_MEAN_MIN_TEMPERATURE:
            return argmax_mean
        safe_temperature = tf.maximum(
            tf.cast(temperature, tf.float32), ANNEALED_MEAN_MIN_TEMPERATURE
        )
        probabilities = tf.nn.softmax(tf.nn.log_softmax(logits) / safe_temperature)
        annealed_mean = tf.einsum("...q,qc->...c", probabilities, means)
        if not tf.is_tensor(temperature):
            return annealed_mean
        return tf.where(temperature < ANNEALED_MEAN_MIN_TEMPERATURE, argmax_mean, annealed_mean)

    def metrics(self) -> list[keras.metrics.Metric]:
        return [BinAccuracy(), ColoredBinAccuracy(neutral_bin=self.neutral_bin)]


def _check_decoding(method: str, temperature: float) -> None:
    if method not in _DECODINGS:
        raise ValueError(
            f"decode must be one of {', '.join(_DECODINGS)}. Received: decode={method!r}"
        )
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0. Received: temperature={temperature}")
    if method == "interp" and temperature > 1:
        raise ValueError(
            "the interp decoding takes a temperature in [0, 1]. "
            f"Received: temperature={temperature}"
        )


def _as_bin_index(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """Bin indices as int32 [B, H, W].

    Keras hands targets to losses as float, and some pipelines add a trailing axis of size 1.
    """
    y_true = tf.convert_to_tensor(y_true)
    if y_true.shape.rank is not None and y_true.shape.rank == y_pred.shape.rank:
        y_true = tf.squeeze(y_true, axis=-1)
    return tf.cast(y_true, tf.int32)


# === Metrics ===


def _pixel_weights(sample_weight: tf.Tensor | None, like: tf.Tensor) -> tf.Tensor:
    """Per-pixel float32 weights shaped like `like` from a per-sample (or per-pixel) weight."""
    if sample_weight is None:
        return tf.ones_like(like, tf.float32)
    sample_weight = tf.cast(sample_weight, tf.float32)
    while sample_weight.shape.rank < like.shape.rank:
        sample_weight = sample_weight[..., None]
    return tf.broadcast_to(sample_weight, tf.shape(like))


class _MeanMetric(keras.metrics.Metric):
    """A ratio total / count of two float32 accumulators."""

    def __init__(self, name: str, dtype: str | None = None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def _accumulate(self, values: tf.Tensor, weights: tf.Tensor) -> None:
        self.total.assign_add(tf.reduce_sum(values * weights))
        self.count.assign_add(tf.reduce_sum(weights))

    def result(self) -> tf.Tensor:
        return tf.math.divide_no_nan(
            tf.convert_to_tensor(self.total), tf.convert_to_tensor(self.count)
        )

    def reset_state(self) -> None:
        self.total.assign(0.0)
        self.count.assign(0.0)


@keras.saving.register_keras_serializable(package="tfcolor")
class BinAccuracy(_MeanMetric):
    """Per-pixel top-1 accuracy of the argmax bin against the true bin.

    `update_state(y_true, y_pred, sample_weight=None)`: y_true bin index [B, H, W], y_pred
    logits [B, H, W, n_bins], sample_weight None, [B] or [B, H, W].
    """

    def __init__(self, name: str = "bin_accuracy", dtype: str | None = None):
        super().__init__(name=name, dtype=dtype)

    def _correct(self, y_true, y_pred):
        labels = _as_bin_index(y_true, y_pred)
        predicted = tf.argmax(tf.cast(y_pred, tf.float32), axis=-1, output_type=tf.int32)
        return labels, tf.cast(tf.equal(predicted, labels), tf.float32)

    def update_state(self, y_true, y_pred, sample_weight=None):
        labels, correct = self._correct(y_true, y_pred)
        self._accumulate(correct, _pixel_weights(sample_weight, labels))

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="tfcolor")
class ColoredBinAccuracy(BinAccuracy):
    """Bin accuracy over the pixels whose true bin is not the neutral (ab = (0, 0)) bin.

    On the shapes data the black background is most of each image; this is the accuracy on
    the shapes' own pixels. 0 while no coloured pixel has been seen.
    """

    def __init__(
        self, neutral_bin: int, name: str = "colored_bin_accuracy", dtype: str | None = None
    ):
        super().__init__(name=name, dtype=dtype)
        self.neutral_bin = int(neutral_bin)

    def update_state(self, y_true, y_pred, sample_weight=None):
        labels, correct = self._correct(y_true, y_pred)
        colored = tf.cast(tf.not_equal(labels, self.neutral_bin), tf.float32)
        self._accumulate(correct, colored * _pixel_weights(sample_weight, labels))

    def get_config(self) -> dict[str, Any]:
        return {"neutral_bin": self.neutral_bin, **super().get_config()}


@keras.saving.register_keras_serializable(package="tfcolor")
class AbMeanAbsoluteError(_MeanMetric):
    """Mean absolute ab error, in ab units, after decoding both target and prediction.

    `update_state(y_true, y_pred, sample_weight=None)`: normalized targets and outputs
    [B, H, W, 2] of a `RegressionCodec` with the same normalization.
    """

    def __init__(self, normalization: str, name: str = "ab_mae", dtype: str | None = None):
        if normalization not in _NORMALIZATIONS:
            raise ValueError(
                f"normalization must be one of {', '.join(_NORMALIZATIONS)}. "
                f"Received: normalization={normalization!r}"
            )
        super().__init__(name=name, dtype=dtype)
        self.normalization = normalization

    def update_state(self, y_true, y_pred, sample_weight=None):
        true_ab = _regression_decode(y_true, self.normalization)
        predicted_ab = _regression_decode(y_pred, self.normalization)
        error = tf.abs(predicted_ab - true_ab)
        self._accumulate(error, _pixel_weights(sample_weight, error))

    def get_config(self) -> dict[str, Any]:
        return {"normalization": self.normalization, "name": self.name, "dtype": self.dtype}


# === Construction and persistence ===

_CODECS = {"grid": GridCodec, "regression": RegressionCodec}


def make_codec(codec_config: CodecConfig) -> Codec:
    """Builds the codec a config names, checking its values.

    Raises:
        ValueError: an unknown codec name or a bad value, repeated in the message.
    """
    if codec_config.name not in _CODECS:
        raise ValueError(
            f"codec must be one of {', '.join(_CODECS)}. Received: name={codec_config.name!r}"
        )
    return _CODECS[codec_config.name](codec_config)


def load_codec(directory: str) -> Codec:
    """Reads a codec written by `Codec.save` (config and fitted state)."""
    with tf.io.gfile.GFile(os.path.join(directory, CONFIG_FILENAME)) as f:
        codec = make_codec(CodecConfig(**json.load(f)))
    state_path = os.path.join(directory, STATE_FILENAME)
    if tf.io.gfile.exists(state_path):
        with tf.io.gfile.GFile(state_path, "rb") as f:
            buffer = io.BytesIO(f.read())
        with np.load(buffer) as npz:
            codec.set_state({key: npz[key] for key in npz.files})
    return codec
