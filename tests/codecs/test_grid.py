"""tfcolor.codecs.grid: the thesis's bin indices; and, through the grid codec, what both bin
codecs share (tfcolor.codecs.bins): fitted statistics, decodings, rebalancing, persistence."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tests.codecs.codec_helpers import grid_codec, hand_made_ab, one_hot_logits
from tfcolor import codecs


def formula_bin(ab, width):
    """The thesis's bin index, in float64: min(floor(clip((ab + 128) / 255) W), W - 1)."""
    u = np.clip((np.asarray(ab, np.float64) + 128.0) / 255.0, 0.0, 1.0)
    index = np.minimum(np.floor(u * width), width - 1).astype(np.int64)
    return width * index[..., 1] + index[..., 0]


# === Grid: bin indices ===


@pytest.mark.parametrize("n_bins, neutral", [(36, 3 * 6 + 3), (324, 9 * 18 + 9)])
def test_grid_bin_index_of_hand_picked_values(n_bins, neutral):
    width = math.isqrt(n_bins)
    codec = grid_codec(n_bins)
    assert codec.channels == n_bins and codec.output_activation is None
    ab = tf.constant(
        [
            [-128.0, -128.0],  # first bin
            [127.0, -128.0],  # last a, first b
            [-128.0, 127.0],  # first a, last b
            [127.0, 127.0],  # last bin
            [0.0, 0.0],  # gray
            [-500.0, 500.0],  # beyond the range: clipped
        ]
    )
    expected = [0, width - 1, width * (width - 1), n_bins - 1, neutral, width * (width - 1)]
    np.testing.assert_array_equal(codec.encode(ab).numpy(), expected)
    assert codec.neutral_bin == neutral
    # Every centre falls into its own bin.
    np.testing.assert_array_equal(codec.encode(codec.bin_centers).numpy(), np.arange(n_bins))


@pytest.mark.parametrize("n_bins", [36, 324])
def test_grid_bin_index_matches_formula_and_xla(n_bins):
    codec = grid_codec(n_bins)
    ab = np.random.default_rng(0).uniform(-140, 140, (4, 16, 16, 2)).astype(np.float32)
    eager = codec.encode(ab).numpy()
    assert eager.shape == (4, 16, 16) and eager.dtype == np.int32
    np.testing.assert_array_equal(eager, formula_bin(ab, math.isqrt(n_bins)))
    # The integer grid holds the cell edges that are whole numbers (-43 and 42 for 36 bins):
    # numpy (fit), eager TF and XLA must agree on them.
    values = np.arange(-128, 128, dtype=np.float32)
    grid = np.stack(np.meshgrid(values, values, indexing="ij"), axis=-1)
    xla = tf.function(codec.encode, jit_compile=True)(tf.constant(grid)).numpy()
    np.testing.assert_array_equal(xla, codec.encode(grid).numpy())
    np.testing.assert_array_equal(xla, codec._bin_index_numpy(grid))


# === Grid: fit ===


def test_fit_per_bin_mean_mode_and_counts():
    codec = grid_codec(36)
    assert codec.needs_fit and not codec.fitted
    codec.fit([hand_made_ab()])
    assert codec.fitted
    neutral = codec.neutral_bin
    counts = np.zeros(36, np.int64)
    counts[[neutral, 0]] = [6, 1]
    np.testing.assert_array_equal(codec.bin_counts, counts)
    np.testing.assert_allclose(codec.bin_modes[neutral], [10.0, 10.0])
    np.testing.assert_allclose(codec.bin_means[neutral], [111.3 / 6, 110.8 / 6], rtol=1e-6)
    np.testing.assert_allclose(codec.bin_means[0], [-120.0, -110.0])
    np.testing.assert_allclose(codec.bin_modes[0], [-120.0, -110.0])
    empty = np.flatnonzero(counts == 0)
    np.testing.assert_array_equal(codec.bin_means[empty], codec.bin_centers[empty])
    np.testing.assert_array_equal(codec.bin_modes[empty], codec.bin_centers[empty])


def test_fit_takes_a_dataset_and_starts_from_scratch():
    codec = grid_codec(36)
    rng = np.random.default_rng(2)
    codec.fit([rng.uniform(-128, 127, (2, 4, 4, 2))])
    ab = np.concatenate([hand_made_ab()] * 4)
    codec.fit(tf.data.Dataset.from_tensor_slices(ab).batch(3))
    assert codec.bin_counts.sum() == 28
    np.testing.assert_allclose(codec.bin_modes[codec.neutral_bin], [10.0, 10.0])


def test_fit_rejects_bad_batches():
    codec = grid_codec(36)
    with pytest.raises(TypeError, match="tuple"):
        codec.fit([(np.zeros((2, 2, 1)), np.zeros((2, 2, 2)))])
    with pytest.raises(ValueError, match="0 pixels"):
        codec.fit([np.zeros((0, 2), np.float32)])


# === Grid: decoding ===


@pytest.fixture
def fitted_codec():
    return grid_codec(36, decode="interp", temperature=0.0).fit([hand_made_ab()])


def test_interp_decoding(fitted_codec):
    codec = fitted_codec
    neutral = codec.neutral_bin
    logits = one_hot_logits([[neutral, 0]], 36)  # [1, 2, 36]: an "image" of 1 x 2 pixels
    mode, mean = codec.bin_modes[neutral], codec.bin_means[neutral]
    np.testing.assert_allclose(codec.decode(logits)[0, 0].numpy(), mode)  # config T = 0
    np.testing.assert_allclose(codec.decode(logits, temperature=1.0)[0, 0].numpy(), mean)
    halfway = codec.decode(logits, temperature=tf.constant(0.5))[0, 0].numpy()
    np.testing.assert_allclose(halfway, (mode + mean) / 2, rtol=1e-6)
    np.testing.assert_allclose(codec.decode(logits)[0, 1].numpy(), [-120.0, -110.0])


def test_empty_bin_decodes_to_its_centre(fitted_codec):
    empty_bin = 35
    logits = one_hot_logits([[empty_bin]], 36)
    center = fitted_codec.bin_centers[empty_bin]
    for method, temperature in [("interp", 0.0), ("interp", 0.7), ("annealed_mean", 0.0)]:
        ab = fitted_codec.decode(logits, temperature=temperature, method=method)
        np.testing.assert_allclose(ab[0, 0].numpy(), center, atol=1e-4)


def test_annealed_mean_decoding(fitted_codec):
    codec = fitted_codec
    logits = tf.random.stateless_normal([2, 3, 4, 36], seed=[0, 1]) * 3.0
    # A margin of at least 1 between the best bin and the rest (no near-ties).
    logits += tf.one_hot(tf.argmax(logits, axis=-1), 36)
    probabilities = tf.nn.softmax(logits).numpy()
    expected = probabilities @ codec.bin_means
    at_one = codec.decode(logits, temperature=1.0, method="annealed_mean").numpy()
    assert at_one.shape == (2, 3, 4, 2) and at_one.dtype == np.float32
    np.testing.assert_allclose(at_one, expected, rtol=1e-4, atol=1e-3)

    argmax_mean = codec.bin_means[np.argmax(logits.numpy(), axis=-1)]
    for temperature in (0.0, 1e-4, tf.constant(1e-4)):
        frozen = codec.decode(logits, temperature=temperature, method="annealed_mean")
        np.testing.assert_allclose(frozen.numpy(), argmax_mean)
    # Approaching 0 from above, the expectation tends to the argmax bin's mean.
    errors = [
        np.abs(codec.decode(logits, temperature=t, method="annealed_mean") - argmax_mean).max()
        for t in (1.0, 0.3, 0.1, 0.01)
    ]
    assert errors[0] > errors[1] > errors[-1] and errors[-1] < 1e-3


def test_decode_under_xla_matches_eager(fitted_codec):
    logits = tf.random.stateless_normal([2, 4, 4, 36], seed=[3, 4])
    for method, temperature in [("interp", 0.4), ("annealed_mean", 0.38)]:
        eager = fitted_codec.decode(logits, temperature, method)
        decode = tf.function(
            lambda x, t=temperature, m=method: fitted_codec.decode(x, t, m), jit_compile=True
        )
        xla = decode(logits)
        np.testing.assert_allclose(xla.numpy(), eager.numpy(), rtol=1e-5, atol=1e-3)


def test_decode_rejects_bad_arguments(fitted_codec):
    logits = tf.zeros([1, 1, 36])
    with pytest.raises(ValueError, match="decode='mode'"):
        fitted_codec.decode(logits, method="mode")
    with pytest.raises(ValueError, match="temperature=1.5"):
        fitted_codec.decode(logits, temperature=1.5, method="interp")


# === Grid: rebalancing and loss ===


def hand_made_prior_codec(rebalance=0.5, n_bins=324):
    codec = grid_codec(n_bins, rebalance=rebalance)
    counts = np.zeros(n_bins, np.int64)
    neutral = codec.neutral_bin
    counts[[neutral, neutral + 1, 0]] = [1000, 100, 10]
    codec.set_state(
        {"bin_counts": counts, "bin_means": codec.bin_centers, "bin_modes": codec.bin_centers}
    )
    return codec


def test_rebalancing_weights():
    codec = hand_made_prior_codec(0.5)
    neutral = codec.neutral_bin
    smoothed = codec.smoothed_prior()
    np.testing.assert_allclose(smoothed.sum(), 1.0)
    # Independently: spread each bin's probability with a row-normalized Gaussian (sigma 5).
    centers = codec.bin_centers.astype(np.float64)
    prior = codec.bin_counts / codec.bin_counts.sum()
    expected = np.zeros(codec.n_bins)
    for source in np.flatnonzero(prior):
        kernel = np.exp(-np.sum((centers - centers[source]) ** 2, axis=1) / (2 * 5.0**2))
        expected += prior[source] * kernel / kernel.sum()
    np.testing.assert_allclose(smoothed, expected, atol=1e-12)

    weights = codec.class_weights
    assert weights.dtype == np.float32
    np.testing.assert_allclose(np.sum(smoothed * weights), 1.0, rtol=1e-5)
    # Rarer bins weigh more; an empty bin far from the data weighs most.
    assert weights[neutral] < weights[neutral + 1] < weights[0] < weights[codec.n_bins - 1]
    empty_weight = (
        1.0 / (0.5 / codec.n_bins) / np.sum(smoothed / ((1 - 0.5) * smoothed + 0.5 / codec.n_bins))
    )
    np.testing.assert_allclose(weights[codec.n_bins - 1], empty_weight, rtol=1e-5)

    np.testing.assert_array_equal(hand_made_prior_codec(None).class_weights, np.ones(324))
    np.testing.assert_array_equal(grid_codec(324).class_weights, np.ones(324))  # unfitted


@pytest.mark.parametrize("rebalance", [None, 0.5])
def test_grid_loss(rebalance):
    codec = hand_made_prior_codec(rebalance, n_bins=36)
    neutral, weights = codec.neutral_bin, codec.class_weights
    y_true = tf.constant([[[neutral, neutral]], [[0, 0]]])  # [B=2, H=1, W=2]
    perfect = codec.loss(y_true, one_hot_logits(y_true, 36, scale=1e3))
    assert perfect.shape == (2,) and perfect.dtype == tf.float32
    np.testing.assert_allclose(perfect.numpy(), 0.0, atol=1e-6)

    # Uniform logits: cross-entropy log(Q) per pixel, times the true bin's weight. Keras hands
    # the targets over as float, and mixed precision gives float16 logits.
    uniform = tf.zeros([2, 1, 2, 36], tf.float16)
    loss = codec.loss(tf.cast(y_true, tf.float32), uniform)
    assert loss.dtype == tf.float32
    expected = np.log(36) * np.array([weights[neutral], weights[0]])
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5)
    if rebalance is None:
        np.testing.assert_allclose(loss.numpy(), np.log(36), rtol=1e-5)
    else:
        assert loss[1] > loss[0]  # the rare bin's error costs more
    xla = tf.function(codec.loss, jit_compile=True)(tf.cast(y_true, tf.float32), uniform)
    np.testing.assert_allclose(xla.numpy(), loss.numpy(), rtol=1e-5)


# === Persistence ===


def test_grid_save_load_round_trip(tmp_path):
    codec = grid_codec(36, decode="annealed_mean", temperature=0.38).fit([hand_made_ab()])
    codec.save(str(tmp_path))
    assert {path.name for path in tmp_path.iterdir()} == {"codec.json", "codec_state.npz"}
    restored = codecs.load_codec(str(tmp_path))
    assert isinstance(restored, codecs.GridCodec) and restored.fitted
    assert restored.get_config() == codec.get_config()
    for key, value in codec.get_state().items():
        np.testing.assert_array_equal(restored.get_state()[key], value)
    np.testing.assert_array_equal(restored.class_weights, codec.class_weights)
    logits = tf.random.stateless_normal([2, 4, 4, 36], seed=[5, 6])
    np.testing.assert_array_equal(restored.decode(logits).numpy(), codec.decode(logits).numpy())


def test_set_state_checks_shapes():
    with pytest.raises(ValueError, match="shape"):
        grid_codec(36).set_state(grid_codec(324).fit([hand_made_ab()]).get_state())
