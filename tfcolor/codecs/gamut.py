"""The gamut codec: Zhang et al. 2016's bins, the ab grid cells that 8-bit sRGB colours reach
(computed here, `gamut_bin_centers`), each target soft-encoded over its nearest bins
(`GamutCodec`), with the per-cell candidate tables that make the nearest-bin search cheap."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import tensorflow as tf

from tfcolor import color
from tfcolor.codecs.base import AB_MAX, AB_MIN, register_codec
from tfcolor.codecs.bins import BinCodec
from tfcolor.codecs.losses import gamut_loss, split_soft_target
from tfcolor.config import CodecConfig

__all__ = ["GamutCodec", "gamut_bin_centers"]

# The gamut codec's bins are the cells that hold the ab of an 8-bit sRGB colour.
_SRGB_LEVELS = 256
# Below this cell size building the neighbour tables (cells x bins) takes GBs: grid_size 2
# gives 5,766 bins over 16,384 cells (grid_size 4: 1,492 bins, 1.8 s); Zhang et al. use 10.
_MIN_GRID_SIZE = 4.0
# Padding of the neighbour candidate lists: a bin centre no pixel is ever nearest to.
_FAR_AB = 1e4


@functools.lru_cache(maxsize=8)
def gamut_bin_centers(grid_size: float) -> np.ndarray:
    """The ab cells of side `grid_size` that hold the ab of an 8-bit sRGB colour.

    A colour's cell is round(ab / grid_size) per channel (halves round up), so the cells are
    centred on multiples of grid_size as Zhang et al.'s. Only the surface of the RGB cube is
    converted (6 x 256^2 colours, with `tfcolor.color.rgb_to_lab`, the pipeline's own Lab):
    the colours sharing an ab value form a segment through the cube whose ends lie on its
    surface, so the surface reaches every ab the solid cube reaches. For grid_size 10 this was
    checked against all 16.7 million 8-bit colours (tests/codecs/test_gamut.py, slow): the
    same 261 cells. About 0.4 s on 2 CPU cores, once per grid_size and process.

    Args:
        grid_size: the cells' side, in ab units (Zhang et al.: 10).

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
def _neighbour_table(
    grid_size: float, neighbours: int, custom_centers: bytes | None = None
) -> _NeighbourTable:
    """Prunes the bins per cell so that nearest-bin search compares a few, not all Q, centres.

    The bins are `gamut_bin_centers(grid_size)`, or `custom_centers` (float32 [Q, 2] as
    bytes, hashable for the cache) where a codec holds bins of its own; `grid_size` is then
    only the side of the table's cells, and the pruning holds for centres anywhere.

    For a cell C and a bin j, every point of C is at most far_j and at least near_j from the
    centre c_j. With r the k-th smallest far_j over the bins, every point of C has k bins
    within r, so a bin with near_j > r is never among its k nearest: the others are the
    candidates. The cell is taken 1e-3 wider on each side, so a pixel that float rounding puts
    into a neighbouring cell still finds its true neighbours. For grid_size 10: at most 22
    candidates per cell for k = 5 (Q = 261); 4.5 times faster than all centres on 16 x 128 x
    128 pixels under XLA on 2 CPU cores (70 against 320 ms), and identical results.
    """
    if custom_centers is None:
        centers = gamut_bin_centers(grid_size).astype(np.float64)
    else:
        centers = np.frombuffer(custom_centers, np.float32).reshape(-1, 2).astype(np.float64)
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


@register_codec
class GamutCodec(BinCodec):
    """Zhang et al. 2016's bins: the cells of an ab grid that sRGB colours reach, soft-encoded.

    Bins: the ab plane is cut into square cells of side `grid_size` centred on its multiples,
    and the cells holding the ab of at least one 8-bit sRGB colour (at any lightness) are the
    bins, sorted by a, then b (`gamut_bin_centers`: computed from the RGB cube's surface in
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

    Bins of its own: `set_state({"bin_centers": float32 [Q, 2]})` replaces the computed bins
    by any Q ab centres (Zhang et al.'s released networks carry their 313 in their last
    layer: `tfcolor.pretrained.zhang`); `get_state` then holds them, so a run's saved codec
    keeps them, and the head's size (`channels`) is Q. The fitted statistics start afresh.

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
        centers = gamut_bin_centers(self.grid_size)
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
        self._custom_centers: bytes | None = None  # bins of its own (`set_state`)
        self._set_bins(centers)

    def _table(self) -> _NeighbourTable:
        return _neighbour_table(self.grid_size, self.neighbours, self._custom_centers)

    def get_state(self) -> dict[str, np.ndarray]:
        """`BinCodec.get_state`, and `bin_centers` float32 [Q, 2] where the codec holds bins
        of its own (even unfitted)."""
        state = super().get_state()
        if self._custom_centers is not None:
            state["bin_centers"] = self.bin_centers
        return state

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restores `get_state`'s statistics; `bin_centers` first replaces the bins.

        Raises:
            ValueError: bin_centers not finite float [Q, 2] with Q >= neighbours, or
                statistics of another number of bins.
        """
        state = dict(state)
        if "bin_centers" in state:
            centers = np.asarray(state.pop("bin_centers"), np.float32)
            if (
                centers.ndim != 2
                or centers.shape[1] != 2
                or len(centers) < self.neighbours
                or not np.isfinite(centers).all()
            ):
                raise ValueError(
                    "bin_centers must be finite ab centres [Q, 2] with Q >= neighbours "
                    f"({self.neighbours}). Received: shape={centers.shape}"
                )
            self._custom_centers = np.ascontiguousarray(centers).tobytes()
            self._set_bins(centers)
        super().set_state(state)

    def _annealed_mean_values(self) -> np.ndarray:
        return self._bin_centers

    def _bin_index_numpy(self, ab: np.ndarray) -> np.ndarray:
        """The nearest bin, searched as `_nearest_bins` does (same pruning, same ties)."""
        table = self._table()
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
        table = self._table()
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
        bins, weights = split_soft_target(y_true, self.neighbours)
        return gamut_loss(bins, weights, tf.cast(y_pred, tf.float32), self._loss_weights())
