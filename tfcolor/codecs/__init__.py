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
    `GamutCodec`: Zhang et al. 2016's bins, the ab grid cells that sRGB colours reach;
        each target soft-encoded over its nearest bins, (rebalanced) soft cross-entropy,
        decoded by annealed mean.

The two bin codecs share `_BinCodec`: the fitted prior and per-bin colours, class rebalancing,
decoding, `bin_index` and `pixel_class_weights` (for evaluation), and the bin metrics.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import logging
import math
import os
import weakref
from collections.abc import Iterable
from typing import Any

import keras
import numpy as np
import tensorflow as tf
import tqdm
from tensorflow.python.ops import control_flow_util

from tfcolor import color
from tfcolor.config import CodecConfig
from tfcolor.evaluation.metrics import pixel_weights

__all__ = [
    "AbMeanAbsoluteError",
    "BinAccuracy",
    "Codec",
    "ColoredBinAccuracy",
    "GamutCodec",
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
# lambda of the class-balanced AuC's pixel weights (`pixel_class_weights`): Zhang et al.'s
# training value, finite for every colour.
EVALUATION_REBALANCE = 0.5
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
        target_channels: floats per pixel of `encode`'s target (what the input pipeline
            carries and caches): 2 for ab, 1 for a bin index, 2k for a soft encoding.
        output_activation: `"sigmoid"`, `"tanh"` or None; the model applies it in its float32
            head. Codecs trained on logits use None.
        needs_fit: whether `fit` must see the training data before training.
    """

    name: str = ""
    channels: int = 0
    target_channels: int = 2
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

    def pixel_class_weights(self, ab: tf.Tensor) -> tf.Tensor | None:
        """Each pixel's weight for the class-balanced AuC, float32 [..., H, W]; None for
        codecs without colour classes (regression), which report no balanced AuC."""
        del ab
        return None

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


# === Bins: what the grid and gamut codecs share ===


class _BinCodec(Codec):
    """Logits over a fixed set of ab bins: fitted statistics, rebalancing, decoding, metrics.

    A subclass sets its bins with `_set_bins(centers)` and implements `encode`, `loss`,
    `bin_index` (TF) and `_bin_index_numpy` (the same nearest bin, in numpy, for `fit`).

    Attributes:
        target_format: how `encode`'s target names the true bin, for the metrics: `index`
            (the target is the bin index) or `soft` (channel 0 of a soft target holds the
            nearest bin).
    """

    output_activation = None
    needs_fit = True
    target_format = "index"

    def __init__(self, config: CodecConfig):
        super().__init__(config)
        _check_decoding(config.decode, config.temperature)
        if config.rebalance is not None and not 0.0 <= config.rebalance <= 1.0:
            raise ValueError(
                "rebalance must be None or a lambda in [0, 1]. "
                f"Received: rebalance={config.rebalance}"
            )

    def _set_bins(self, centers: np.ndarray) -> None:
        self._bin_centers = np.array(centers, np.float32)
        self.n_bins = len(self._bin_centers)
        self.channels = self.n_bins
        self._reset_state()

    def bin_index(self, ab: tf.Tensor) -> tf.Tensor:
        """The bin of every pixel (TF ops): float ab [..., H, W, 2] -> int32 [..., H, W]."""
        raise NotImplementedError

    def _bin_index_numpy(self, ab: np.ndarray) -> np.ndarray:
        """`bin_index` in numpy, for `fit`: ab [N, 2] -> int64 [N]."""
        raise NotImplementedError

    def _annealed_mean_values(self) -> np.ndarray:
        """float32 [n_bins, 2]: the ab of each bin that the annealed mean averages."""
        raise NotImplementedError

    # --- statistics ---

    def _reset_state(self) -> None:
        self._bin_counts = np.zeros(self.n_bins, np.int64)
        self._bin_means = self._bin_centers.copy()
        self._bin_modes = self._bin_centers.copy()
        self._class_weights = None
        self._balanced_weights = None

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

    def _compute_class_weights(self, rebalance: float | None = -1.0) -> np.ndarray:
        """Zhang et al.'s weights 1 / ((1 - lambda) prior + lambda / Q), expectation 1.

        `rebalance` is lambda; the default (-1) takes the config's.
        """
        if rebalance == -1.0:
            rebalance = self._config.rebalance
        if rebalance is None or not self.fitted:
            return np.ones(self.n_bins, np.float32)
        smoothed = self.smoothed_prior()
        weights = 1.0 / ((1.0 - rebalance) * smoothed + rebalance / self.n_bins)
        # Normalized so the expected weight under the smoothed prior is 1 (Zhang et al. eq. 4).
        weights /= np.sum(smoothed * weights)
        return weights.astype(np.float32)

    def fit(self, ab_batches: Iterable[Any]) -> _BinCodec:
        """Measures per-bin pixel counts and mean and mode colours, from scratch.

        Each pixel counts in its bin (`bin_index`: for the gamut codec, its nearest bin). The
        mode of a bin is the most frequent integer ab pair among those falling into it: ab is
        rounded to integers, counted on the 256 x 256 integer grid, and each grid point is
        assigned to its bin (ties go to the smallest b, then a). An empty bin keeps its centre
        as mean and mode; a bin whose pixels all round onto a neighbouring bin's grid points
        takes its mean as mode. Non-finite pixels are skipped.

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
        description = f"fitting {self.name} codec"
        for batch in tqdm.tqdm(ab_batches, desc=description, unit="batch", leave=False):
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
        self._balanced_weights = None
        logging.info(
            "Fitted the %d-bin %s codec on %d pixels; %d bins occupied.",
            self.n_bins,
            self.name,
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
                f"{self.name} codec state needs keys {sorted(expected)}. Received: {sorted(state)}"
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
        self._balanced_weights = None

    # --- TF side ---

    def pixel_class_weights(self, ab: tf.Tensor) -> tf.Tensor:
        """Each pixel weighted inversely by its colour's probability, for Zhang et al.'s
        class-balanced AuC ("re-weighting the pixels inversely by color class probability").

        The weight of a pixel's bin is Zhang et al.'s rebalancing weight with lambda = 0.5,
        whatever rebalancing the codec trains with (so runs with and without it compare on
        one measure): the pure inverse prior (lambda = 0) is infinite for colours the
        training data never showed, which a test set may hold.

        Args:
            ab: float ab, shape [..., H, W, 2].

        Returns:
            float32 [..., H, W] (ones before `fit`).
        """
        if self._balanced_weights is None:
            self._balanced_weights = self._compute_class_weights(EVALUATION_REBALANCE)
        return tf.gather(tf.constant(self._balanced_weights), self.bin_index(ab))

    def _loss_weights(self) -> tf.Tensor:
        """Each bin's weight in the loss: its class weight when rebalancing is on, else ones."""
        if self._config.rebalance is None or not self.fitted:
            return tf.ones([self.n_bins])
        return tf.constant(self.class_weights, tf.float32)

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
        if method == "interp":
            argmax = tf.argmax(logits, axis=-1, output_type=tf.int32)
            modes = tf.gather(tf.constant(self._bin_modes), argmax)
            means = tf.gather(tf.constant(self._bin_means), argmax)
            return modes - (modes - means) * tf.cast(temperature, tf.float32)
        return _annealed_mean(logits, temperature, self._annealed_mean_values())

    def metrics(self) -> list[keras.metrics.Metric]:
        """Top-1 and top-5 bin accuracy (top-5 only with more than 5 bins), and the top-1
        accuracy on the pixels whose true bin is not the neutral one."""
        target_format = self.target_format
        metrics = [BinAccuracy(target_format=target_format)]
        if self.n_bins > 5:
            metrics.append(BinAccuracy(top_k=5, target_format=target_format))
        metrics.append(ColoredBinAccuracy(self.neutral_bin, target_format=target_format))
        # One pass over the logits serves all three.
        ranks = _TrueBinRanks(target_format)
        for metric in metrics:
            metric._ranks = ranks
        return metrics


def _annealed_mean(
    logits: tf.Tensor, temperature: float | tf.Tensor, values: np.ndarray
) -> tf.Tensor:
    """Expectation of `values` [Q, 2] under softmax(log_softmax(logits) / T), float32 [..., 2].

    Below ANNEALED_MEAN_MIN_TEMPERATURE it is the limit T -> 0: the argmax bin's value.
    """
    values = tf.constant(values, tf.float32)
    argmax_value = tf.gather(values, tf.argmax(logits, axis=-1, output_type=tf.int32))
    if not tf.is_tensor(temperature) and temperature < ANNEALED_MEAN_MIN_TEMPERATURE:
        return argmax_value
    safe_temperature = tf.maximum(tf.cast(temperature, tf.float32), ANNEALED_MEAN_MIN_TEMPERATURE)
    probabilities = tf.nn.softmax(tf.nn.log_softmax(logits) / safe_temperature)
    annealed_mean = tf.einsum("...q,qc->...c", probabilities, values)
    if not tf.is_tensor(temperature):
        return annealed_mean
    return tf.where(temperature < ANNEALED_MEAN_MIN_TEMPERATURE, argmax_value, annealed_mean)


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


# === Grid bins (the thesis) ===


class GridCodec(_BinCodec):
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
        labels = _as_bin_index(y_true, y_pred)
        return _grid_loss(labels, tf.cast(y_pred, tf.float32), self._loss_weights())


def _compile_loss(loss_fn):
    """A loss compiled with XLA as one piece of its own, inlined in a step XLA compiles whole.

    The losses read the model's largest tensor, [B, H, W, n_bins] logits, forward and
    backward. Compiled with XLA as one piece, inside an otherwise uncompiled step (the
    convolutions stay on oneDNN / cuDNN), they took 11-13 % less of the thesis U-Net's training
    step on CPU (benchmarks/README.md). Compiled per input shape; `reduce_retracing` keeps one
    trace.

    Traced inside a step that is itself compiled (`jit_compile=True`), the loss is plain ops
    of that step instead. A nested function's gradient is a second function fed with tensors
    of the first (the gamut loss's batched gather passes its axis; a loss traced with relaxed
    shapes passes its shapes), and where the backward function needs one as a compile-time
    constant, XLA's constant analysis of the whole step demands the function call's inputs,
    then the model's, as constants: the batch and the weights were baked into the program,
    every step was compiled again and constant-folded through the whole network (gamut_shapes
    on 2 CPU cores: 66-92 s a step, each a new compilation; the grid loss did the same once
    traced at another batch size, as benchmarks/unet_vs_pytorch.py's loss check did).
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


@_compile_loss
def _grid_loss(labels: tf.Tensor, logits: tf.Tensor, bin_weights: tf.Tensor) -> tf.Tensor:
    """Softmax cross-entropy per pixel times the true bin's weight, mean per sample: [B]."""
    cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return _per_sample_mean(cross_entropy * tf.gather(bin_weights, labels))


def _as_bin_index(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """Bin indices as int32 [B, H, W].

    Keras hands targets to losses as float, and some pipelines add a trailing axis of size 1.
    """
    y_true = tf.convert_to_tensor(y_true)
    if y_true.shape.rank is not None and y_true.shape.rank == y_pred.shape.rank:
        y_true = tf.squeeze(y_true, axis=-1)
    return tf.cast(y_true, tf.int32)


# === Gamut bins (Zhang et al. 2016) ===

# The gamut codec's bins are the cells that hold the ab of an 8-bit sRGB colour.
_SRGB_LEVELS = 256
# Below this cell size building the neighbour tables (cells x bins) takes GBs: grid_size 2
# gives 5,766 bins over 16,384 cells (grid_size 4: 1,492 bins, 1.8 s); Zhang et al. use 10.
_MIN_GRID_SIZE = 4.0
# Padding of the neighbour candidate lists: a bin centre no pixel is ever nearest to.
_FAR_AB = 1e4


@functools.lru_cache(maxsize=8)
def _gamut_bin_centers(grid_size: float) -> np.ndarray:
    """The ab cells of side `grid_size` that hold the ab of an 8-bit sRGB colour.

    A colour's cell is round(ab / grid_size) per channel (halves round up), so the cells are
    centred on multiples of grid_size as Zhang et al.'s. Only the surface of the RGB cube is
    converted (6 x 256^2 colours, with `tfcolor.color.rgb_to_lab`, the pipeline's own Lab):
    the colours sharing an ab value form a segment through the cube whose ends lie on its
    surface, so the surface reaches every ab the solid cube reaches. For grid_size 10 this was
    checked against all 16.7 million 8-bit colours (tests/test_gamut_codec.py, slow): the
    same 261 cells. About 0.4 s on 2 CPU cores, once per grid_size and process.

    Returns:
        float32 [Q, 2] read-only centres (a, b), sorted by a, then b (Zhang et al.'s order).
    """
    levels = np.arange(_SRGB_LEVELS, dtype=np.float32) / (_SRGB_LEVELS - 1)
    first, second = (values.ravel() for values in np.meshgrid(levels, levels, indexing="ij"))
    faces = []
    for axis in range(3):
        for value in (0.0, 1.0):
            channels = [first, second]
            channels.insert(axis, np.full_like(first, value))
            faces.append(np.stack(channels, axis=-1))
    with tf.init_scope():  # eager even when a codec is built while a function is traced
        ab = color.rgb_to_lab(np.concatenate(faces)).numpy()[:, 1:]
    cells = np.unique(np.floor(ab / grid_size + 0.5).astype(np.int64), axis=0)  # a, then b
    centers = (cells * grid_size).astype(np.float32)
    centers.flags.writeable = False
    return centers


@dataclasses.dataclass(frozen=True)
class _NeighbourTable:
    """For every grid cell of the ab plane, the bins that can be among its pixels' k nearest.

    Attributes:
        first_cell: round(AB_MIN / grid_size), the cell index of the table's first row/column.
        cells_per_side: cells along a (and b) covering [AB_MIN, AB_MAX].
        candidates: int32 [cells_per_side^2, M]: per cell (a_cell * cells_per_side + b_cell),
            the candidate bins by increasing index, padded with n_bins (a centre at _FAR_AB).
        candidate_a, candidate_b: float32 [cells_per_side^2, M], their centres' a and b.
    """

    first_cell: int
    cells_per_side: int
    candidates: np.ndarray
    candidate_a: np.ndarray
    candidate_b: np.ndarray


@functools.lru_cache(maxsize=8)
def _neighbour_table(grid_size: float, neighbours: int) -> _NeighbourTable:
    """Prunes the bins per cell so that nearest-bin search compares a few, not all Q, centres.

    For a cell C and a bin j, every point of C is at most far_j and at least near_j from the
    centre c_j. With r the k-th smallest far_j over the bins, every point of C has k bins
    within r, so a bin with near_j > r is never among its k nearest: the others are the
    candidates. The cell is taken 1e-3 wider on each side, so a pixel that float rounding puts
    into a neighbouring cell still finds its true neighbours. For grid_size 10: at most 22
    candidates per cell for k = 5 (Q = 261); 4.5 times faster than all centres on 16 x 128 x
    128 pixels under XLA on 2 CPU cores (70 against 320 ms), and identical results.
    """
    centers = _gamut_bin_centers(grid_size).astype(np.float64)
    first_cell = int(np.floor(AB_MIN / grid_size + 0.5))
    last_cell = int(np.floor(AB_MAX / grid_size + 0.5))
    cells_per_side = last_cell - first_cell + 1
    cell_values = np.arange(first_cell, last_cell + 1) * grid_size
    cell_a, cell_b = np.meshgrid(cell_values, cell_values, indexing="ij")
    cell_centers = np.stack([cell_a.ravel(), cell_b.ravel()], axis=-1)
    half_side = grid_size / 2.0 + 1e-3
    offset = np.abs(cell_centers[:, None, :] - centers[None, :, :])  # [cells, Q, 2]
    near = np.sqrt(np.sum(np.maximum(offset - half_side, 0.0) ** 2, axis=-1))
    far = np.sqrt(np.sum((offset + half_side) ** 2, axis=-1))
    radius = np.partition(far, neighbours - 1, axis=1)[:, neighbours - 1]
    is_candidate = near <= radius[:, None]
    width = int(is_candidate.sum(axis=1).max())
    # Candidates first, by increasing bin index (a stable sort of "not a candidate"): top_k
    # and argmin put the lower index first among equal distances, so the pruned search breaks
    # ties as a search over all bins would.
    order = np.argsort(~is_candidate, axis=1, kind="stable")[:, :width]
    n_bins = len(centers)
    candidates = np.where(np.take_along_axis(is_candidate, order, axis=1), order, n_bins)
    padded_centers = np.concatenate([centers, [[_FAR_AB, _FAR_AB]]]).astype(np.float32)
    return _NeighbourTable(
        first_cell=first_cell,
        cells_per_side=cells_per_side,
        candidates=candidates.astype(np.int32),
        candidate_a=padded_centers[candidates, 0],
        candidate_b=padded_centers[candidates, 1],
    )


class GamutCodec(_BinCodec):
    """Zhang et al. 2016's bins: the cells of an ab grid that sRGB colours reach, soft-encoded.

    Bins: the ab plane is cut into square cells of side `grid_size` centred on its multiples,
    and the cells holding the ab of at least one 8-bit sRGB colour (at any lightness) are the
    bins, sorted by a, then b (`_gamut_bin_centers`: computed from the RGB cube's surface in
    about 0.4 s, once per process). grid_size 10 gives 261 bins, a in [-90, 100], b in
    [-110, 90]. Zhang et al.'s pts_in_hull.npy has 313 over the same span: it holds all 261
    and a ring of 52 cells around them that no sRGB colour falls into (a cell whose 20 x 20
    neighbourhood touches the gamut explains 309 of them); this codec keeps the gamut itself.

    Target (`encode`): each pixel is soft-encoded over its k = `neighbours` nearest bin
    centres with Gaussian weights exp(-d^2 / (2 sigma^2)), normalized to sum 1. To keep the
    input pipeline light, the target is compact: float32 [..., H, W, 2k], channels [0, k) the
    bin indices (floats, exact below 2^24) nearest first, channels [k, 2k) their weights
    (`target_format` "soft"). ab is first clipped to [-128, 127] (8-bit Lab, which holds sRGB).

    Loss: per pixel the soft cross-entropy -sum_k w_k log_softmax(logits)[bin_k], times the
    class weight of the nearest bin when `rebalance` is set and the codec is fitted (Zhang et
    al. eq. 2-4); the mean over pixels per sample.

    `fit` counts every training pixel in its nearest bin (the empirical prior for
    rebalancing) and measures per-bin mean and mode colours, as the grid codec's. Encoding and
    annealed-mean decoding need no fit.

    Decodings (`CodecConfig.decode`, `CodecConfig.temperature` T):
        `annealed_mean` (Zhang et al., who use T = 0.38): expectation of the bin centres under
            softmax(log_softmax(logits) / T); T = 1 the mean of the predicted distribution,
            T < 1e-3 the argmax bin's centre (its mode).
        `interp` (the thesis's decoding, on these bins): argmax bin, ab = mode - (mode -
            mean) T with the bin's fitted mode and mean colours (its centre before `fit`).
    """

    name = "gamut"
    target_format = "soft"

    def __init__(self, config: CodecConfig):
        super().__init__(config)
        grid_size = config.grid_size
        if not (isinstance(grid_size, (int, float)) and grid_size >= _MIN_GRID_SIZE):
            raise ValueError(
                f"grid_size must be a number of ab units >= {_MIN_GRID_SIZE:g}. "
                f"Received: grid_size={grid_size}"
            )
        if not (isinstance(config.sigma, (int, float)) and config.sigma > 0):
            raise ValueError(f"sigma must be > 0. Received: sigma={config.sigma}")
        self.grid_size = float(grid_size)
        self.sigma = float(config.sigma)
        centers = _gamut_bin_centers(self.grid_size)
        neighbours = config.neighbours
        if (
            not isinstance(neighbours, int)
            or isinstance(neighbours, bool)
            or not 1 <= neighbours <= len(centers)
        ):
            raise ValueError(
                f"neighbours must be an integer from 1 to the number of bins ({len(centers)} "
                f"for grid_size={grid_size:g}). Received: neighbours={neighbours}"
            )
        self.neighbours = neighbours
        self.target_channels = 2 * neighbours  # k bin indices and their k weights
        self._set_bins(centers)

    def _annealed_mean_values(self) -> np.ndarray:
        return self._bin_centers

    def _bin_index_numpy(self, ab: np.ndarray) -> np.ndarray:
        """The nearest bin, searched as `_nearest_bins` does (same pruning, same ties)."""
        table = _neighbour_table(self.grid_size, self.neighbours)
        pixels = np.clip(np.asarray(ab, np.float32).reshape(-1, 2), AB_MIN, AB_MAX)
        bins = np.empty(len(pixels), np.int64)
        chunk = 1 << 16  # bounds the [chunk, M] distance arrays to a few MB
        for start in range(0, len(pixels), chunk):
            part = pixels[start : start + chunk]
            cell = np.floor(part / np.float32(self.grid_size) + np.float32(0.5)).astype(np.int64)
            cell = (cell[:, 0] - table.first_cell) * table.cells_per_side + (
                cell[:, 1] - table.first_cell
            )
            squared_distance = np.square(part[:, :1] - table.candidate_a[cell]) + np.square(
                part[:, 1:] - table.candidate_b[cell]
            )
            nearest = np.argmin(squared_distance, axis=1)  # the first of equals, as top_k
            bins[start : start + chunk] = table.candidates[cell, nearest]
        return bins.reshape(np.shape(ab)[:-1])

    def _nearest_bins(self, ab: tf.Tensor, k: int) -> tuple[tf.Tensor, tf.Tensor]:
        """The k nearest bins of every pixel, nearest first (the lower index first on ties).

        Args:
            ab: float ab, [..., H, W, 2].
            k: 1 to `neighbours`.

        Returns:
            int32 bin indices and float32 squared distances, both [..., H, W, k].
        """
        table = _neighbour_table(self.grid_size, self.neighbours)
        ab = tf.clip_by_value(tf.cast(ab, tf.float32), AB_MIN, AB_MAX)
        pixels = tf.reshape(ab, [-1, 2])
        cell = tf.cast(tf.floor(pixels / self.grid_size + 0.5), tf.int32) - table.first_cell
        cell = cell[:, 0] * table.cells_per_side + cell[:, 1]
        # Separate a and b rather than [.., M, 2] tensors: XLA fuses per-channel element-wise
        # chains better (see tfcolor.color).
        squared_distance = tf.square(
            pixels[:, :1] - tf.gather(tf.constant(table.candidate_a), cell)
        ) + tf.square(pixels[:, 1:] - tf.gather(tf.constant(table.candidate_b), cell))
        negative_distance, position = tf.math.top_k(-squared_distance, k)
        bins = tf.gather(tf.gather(tf.constant(table.candidates), cell), position, batch_dims=1)
        shape = tf.concat([tf.shape(ab)[:-1], [k]], axis=0)
        static_shape = ab.shape[:-1].concatenate([k])
        bins = tf.ensure_shape(tf.reshape(bins, shape), static_shape)
        squared_distance = tf.ensure_shape(tf.reshape(-negative_distance, shape), static_shape)
        return bins, squared_distance

    def encode(self, ab: tf.Tensor) -> tf.Tensor:
        """Soft-encodes ab over the `neighbours` nearest bins.

        Args:
            ab: float ab, shape [..., H, W, 2].

        Returns:
            float32 [..., H, W, 2k]: k bin indices (nearest first), then their Gaussian
            weights (summing to 1).
        """
        bins, squared_distance = self._nearest_bins(ab, self.neighbours)
        weights = tf.nn.softmax(-squared_distance / (2.0 * self.sigma**2), axis=-1)
        return tf.concat([tf.cast(bins, tf.float32), weights], axis=-1)

    def bin_index(self, ab: tf.Tensor) -> tf.Tensor:
        """The nearest bin of every pixel: float ab [..., H, W, 2] -> int32 [..., H, W]."""
        return self._nearest_bins(ab, 1)[0][..., 0]

    def loss(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        """Soft cross-entropy per pixel, weighted by the nearest bin's class weight.

        Args:
            y_true: `encode`'s target, [B, H, W, 2k].
            y_pred: logits (any float dtype; computed in float32), [B, H, W, n_bins].

        Returns:
            float32 loss per sample (mean over its pixels), [B].

        Raises:
            ValueError: y_true's last axis is not 2 * neighbours.
        """
        bins, weights = _split_soft_target(y_true, self.neighbours)
        return _gamut_loss(bins, weights, tf.cast(y_pred, tf.float32), self._loss_weights())


@_compile_loss
def _gamut_loss(
    bins: tf.Tensor, weights: tf.Tensor, logits: tf.Tensor, bin_weights: tf.Tensor
) -> tf.Tensor:
    """Soft cross-entropy over the k target bins per pixel times the nearest bin's weight, [B]."""
    # -log_softmax(logits)[bin] = logsumexp(logits) - logits[bin], for the k bins only.
    bin_logits = tf.gather(logits, bins, batch_dims=bins.shape.rank - 1)
    log_normalizer = tf.reduce_logsumexp(logits, axis=-1, keepdims=True)
    cross_entropy = tf.reduce_sum(weights * (log_normalizer - bin_logits), axis=-1)
    return _per_sample_mean(cross_entropy * tf.gather(bin_weights, bins[..., 0]))


def _split_soft_target(y_true: tf.Tensor, neighbours: int) -> tuple[tf.Tensor, tf.Tensor]:
    """A compact soft target [..., 2k] -> (int32 bins [..., k], float32 weights [..., k])."""
    y_true = tf.cast(y_true, tf.float32)
    if y_true.shape.rank is not None and y_true.shape[-1] not in (None, 2 * neighbours):
        raise ValueError(
            f"the gamut codec's target has 2 * neighbours = {2 * neighbours} channels. "
            f"Received: shape={y_true.shape}"
        )
    return tf.cast(y_true[..., :neighbours], tf.int32), y_true[..., neighbours:]


# === Metrics ===

_TARGET_FORMATS = ("index", "soft")


def _true_bin(y_true: tf.Tensor, y_pred: tf.Tensor, target_format: str) -> tf.Tensor:
    """The true (nearest) bin as int32 [B, H, W], from either codec's target."""
    if target_format == "soft":
        return tf.cast(tf.convert_to_tensor(y_true)[..., 0], tf.int32)
    return _as_bin_index(y_true, y_pred)


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
        # `Codec.metrics` gives its metrics one shared instance.
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
        self._accumulate(error, pixel_weights(sample_weight, error, tf.float32))

    def get_config(self) -> dict[str, Any]:
        return {"normalization": self.normalization, "name": self.name, "dtype": self.dtype}


# === Construction and persistence ===

_CODECS = {"grid": GridCodec, "gamut": GamutCodec, "regression": RegressionCodec}


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
