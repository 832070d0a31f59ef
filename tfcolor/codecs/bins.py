"""What the two bin codecs share: logits over a fixed set of ab bins.

`BinCodec` holds the fitted statistics (per-bin pixel counts, mean and mode colours), Zhang et
al. 2016's class rebalancing and the class-balanced AuC's pixel weights, both decodings
(the thesis's `interp` and Zhang et al.'s `annealed_mean`) and the bin metrics. Its subclasses
say where the bins are: `tfcolor.codecs.grid.GridCodec` (the thesis's square grid) and
`tfcolor.codecs.gamut.GamutCodec` (Zhang et al.'s in-gamut cells).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import keras
import numpy as np
import tensorflow as tf
import tqdm

from tfcolor.codecs.base import AB_MAX, AB_MIN, AB_SPAN, Codec
from tfcolor.codecs.metrics import bin_metrics
from tfcolor.config import CodecConfig

__all__ = [
    "ANNEALED_MEAN_MIN_TEMPERATURE",
    "DECODINGS",
    "EVALUATION_REBALANCE",
    "PRIOR_SMOOTHING_SIGMA",
    "BinCodec",
]

# Zhang et al. 2016: the empirical prior is smoothed with a Gaussian of sigma 5 ab units.
PRIOR_SMOOTHING_SIGMA = 5.0
# lambda of the class-balanced AuC's pixel weights (`pixel_class_weights`): Zhang et al.'s
# training value, finite for every colour.
EVALUATION_REBALANCE = 0.5
# Below this temperature annealed_mean is taken as its limit T -> 0: the argmax bin's mean
# (softmax(log p / T) would overflow to a one-hot anyway, with NaN risk on ties).
ANNEALED_MEAN_MIN_TEMPERATURE = 1e-3

DECODINGS = ("interp", "annealed_mean")


class BinCodec(Codec):
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

    def fit(self, ab_batches: Iterable[Any]) -> BinCodec:
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
        elif method not in DECODINGS:
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
        accuracy on the pixels whose true bin is not the neutral one (`bin_metrics`)."""
        return bin_metrics(self.n_bins, self.neutral_bin, self.target_format)


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
    if method not in DECODINGS:
        raise ValueError(
            f"decode must be one of {', '.join(DECODINGS)}. Received: decode={method!r}"
        )
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0. Received: temperature={temperature}")
    if method == "interp" and temperature > 1:
        raise ValueError(
            "the interp decoding takes a temperature in [0, 1]. "
            f"Received: temperature={temperature}"
        )
