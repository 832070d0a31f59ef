"""tfcolor.codecs.gamut: Zhang et al. 2016's in-gamut bins, soft encoding, rebalanced
soft cross-entropy, annealed-mean decoding; and the bin helpers both bin codecs share."""

import keras
import numpy as np
import pytest
import skimage.color
import skimage.data
import skimage.transform
import tensorflow as tf

from tfcolor import codecs, color
from tfcolor.codecs import gamut
from tfcolor.config import CodecConfig

GRID = 10.0
# Counted by this codec for grid_size 10 (8-bit sRGB, scikit-image's Lab constants). Zhang et
# al.'s pts_in_hull.npy has 313: these 261 and a ring of 52 cells no sRGB colour falls into.
GAMUT_BINS = 261


def gamut_codec(**overrides):
    return codecs.make_codec(CodecConfig(name="gamut", **overrides))


@pytest.fixture(scope="module")
def codec():
    return gamut_codec()


def cube_surface(levels=256):
    """The RGB colours on the cube's six faces, float64 [6 levels^2, 3] in [0, 1]."""
    values = np.arange(levels) / (levels - 1)
    first, second = (v.ravel() for v in np.meshgrid(values, values, indexing="ij"))
    faces = []
    for axis in range(3):
        for value in (0.0, 1.0):
            channels = [first, second]
            channels.insert(axis, np.full_like(first, value))
            faces.append(np.stack(channels, axis=-1))
    return np.concatenate(faces)


def dense_srgb_sample():
    """A 64^3 grid of the cube (corners included) and 100,000 random 8-bit colours."""
    values = np.linspace(0.0, 1.0, 64)
    grid = np.stack(np.meshgrid(values, values, values, indexing="ij"), axis=-1).reshape(-1, 3)
    random = np.random.default_rng(0).integers(0, 256, (100_000, 3)) / 255.0
    return np.concatenate([grid, random])


def cells_of(ab, grid_size=GRID):
    """The cell (centred on multiples of grid_size) holding each ab, int [N, 2]."""
    return np.floor(np.asarray(ab, np.float64) / grid_size + 0.5).astype(np.int64)


def brute_force_neighbours(codec, ab, k):
    """Indices and squared distances of the k nearest centres (stable: lower index first)."""
    ab = np.clip(np.asarray(ab, np.float64), -128.0, 127.0)
    centers = codec.bin_centers.astype(np.float64)
    squared = np.sum((ab[..., None, :] - centers) ** 2, axis=-1)
    order = np.argsort(squared, axis=-1, kind="stable")[..., :k]
    return order, np.take_along_axis(squared, order, axis=-1)


def test_bins_are_the_occupied_grid_cells(codec):
    centers = codec.bin_centers
    assert codec.n_bins == codec.channels == len(centers) == GAMUT_BINS
    assert 250 <= GAMUT_BINS <= 313  # never more than Zhang's set, which holds all of them
    assert codec.output_activation is None and codec.target_format == "soft"
    # Centres on multiples of the grid size, sorted by a, then b, over Zhang's span.
    np.testing.assert_array_equal(centers, np.round(centers / GRID) * GRID)
    np.testing.assert_array_equal(np.lexsort((centers[:, 1], centers[:, 0])), np.arange(GAMUT_BINS))
    assert len(np.unique(centers, axis=0)) == GAMUT_BINS
    np.testing.assert_array_equal(centers.min(axis=0), [-90, -110])
    np.testing.assert_array_equal(centers.max(axis=0), [100, 90])
    np.testing.assert_array_equal(centers[codec.neutral_bin], [0, 0])
    # A second codec reuses the computed bins.
    hits = gamut.gamut_bin_centers.cache_info().hits
    gamut_codec()
    assert gamut.gamut_bin_centers.cache_info().hits == hits + 1


def test_gamut_bin_centers_are_the_codec_s_bins_read_only(codec):
    centers = gamut.gamut_bin_centers(GRID)
    np.testing.assert_array_equal(centers, codec.bin_centers)
    assert centers.dtype == np.float32 and not centers.flags.writeable
    assert len(gamut.gamut_bin_centers(20.0)) < GAMUT_BINS


def test_every_bin_holds_an_srgb_colour(codec):
    # scikit-image's Lab, not the codec's: each bin's cell holds the ab of some colour.
    ab = skimage.color.rgb2lab(cube_surface())[:, 1:]
    witnessed = {tuple(cell) for cell in cells_of(ab)}
    bins = {tuple(cell) for cell in cells_of(codec.bin_centers)}
    assert bins <= witnessed, sorted(bins - witnessed)
    # ... and away from a cell edge, so the Lab implementations cannot disagree about it.
    inside = np.max(np.abs(ab / GRID - np.round(ab / GRID)), axis=1) < 0.49
    assert bins <= {tuple(cell) for cell in cells_of(ab[inside])}


def test_every_srgb_colour_falls_into_a_bin(codec):
    ab = skimage.color.rgb2lab(dense_srgb_sample())[:, 1:]
    bins = {tuple(cell) for cell in cells_of(codec.bin_centers)}
    assert {tuple(cell) for cell in cells_of(ab)} <= bins
    # So the nearest centre is that of the colour's own cell: within half a cell in a and b.
    nearest = codec.bin_centers[codec.bin_index(ab.astype(np.float32)).numpy()]
    assert np.abs(nearest - ab).max() <= GRID / 2 + 1e-4


@pytest.mark.slow
def test_bins_match_all_8bit_srgb_colours(codec):
    # The codec converts only the cube's surface; every interior colour lands in those cells.
    values = np.arange(256) / 255.0
    occupied = set()
    for red in np.array_split(values, 16):
        rgb = np.stack(np.meshgrid(red, values, values, indexing="ij"), axis=-1).reshape(-1, 3)
        occupied |= {
            tuple(cell) for cell in np.unique(cells_of(skimage.color.rgb2lab(rgb)[:, 1:]), axis=0)
        }
    assert occupied == {tuple(cell) for cell in cells_of(codec.bin_centers)}


def test_other_grid_sizes():
    coarse = gamut_codec(grid_size=20.0, neighbours=3)
    assert 50 < coarse.n_bins < GAMUT_BINS
    np.testing.assert_array_equal(coarse.bin_centers % 20.0, 0.0)
    ab = skimage.color.rgb2lab(dense_srgb_sample())[:, 1:]
    assert {tuple(cell) for cell in cells_of(ab, 20.0)} <= {
        tuple(cell) for cell in cells_of(coarse.bin_centers, 20.0)
    }


# === Soft encoding ===


def hand_picked_ab():
    """ab [1, 4, 3, 2]: random pixels, exact ties between cells, points far outside the gamut."""
    rng = np.random.default_rng(1)
    ab = rng.uniform(-128, 127, (1, 4, 3, 2)).astype(np.float32)
    ab[0, 0] = [[5.0, 0.0], [5.0, 5.0], [0.0, 0.0]]  # halfway between 2 and 4 centres; gray
    ab[0, 1] = [[127.0, 127.0], [-128.0, 127.0], [300.0, -300.0]]  # outside the gamut
    return ab


@pytest.mark.parametrize("neighbours", [1, 5, 10])
def test_soft_encoding_matches_brute_force(neighbours):
    codec = gamut_codec(neighbours=neighbours)
    ab = hand_picked_ab()
    target = codec.encode(ab).numpy()
    assert target.shape == (1, 4, 3, 2 * neighbours) and target.dtype == np.float32
    bins, weights = target[..., :neighbours], target[..., neighbours:]
    expected_bins, squared = brute_force_neighbours(codec, ab, neighbours)
    np.testing.assert_array_equal(bins, expected_bins)
    expected = np.exp(-squared / (2 * 5.0**2))
    expected /= expected.sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(weights, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(np.argmax(weights, axis=-1), 0)  # nearest first, heaviest
    assert np.all(np.diff(weights, axis=-1) <= 0)
    # The hard bin is the nearest, in TF and in numpy (fit).
    np.testing.assert_array_equal(codec.bin_index(ab).numpy(), expected_bins[..., 0])
    np.testing.assert_array_equal(codec._bin_index_numpy(ab), expected_bins[..., 0])


def test_soft_encoding_of_exact_ties(codec):
    bins = codec.encode(np.array([[5.0, 0.0], [0.0, 0.0]], np.float32)).numpy()
    centers = codec.bin_centers
    np.testing.assert_array_equal(centers[bins[0, :2].astype(int)], [[0, 0], [10, 0]])
    np.testing.assert_allclose(bins[0, 5:7], bins[0, 5])  # equal distances, equal weights
    np.testing.assert_array_equal(centers[int(bins[1, 0])], [0, 0])
    assert bins[1, 5] > 0.5  # gray: its own bin carries most of the weight


def test_encode_eager_tf_data_and_xla_agree(codec):
    ab = np.random.default_rng(2).uniform(-128, 127, (3, 8, 8, 2)).astype(np.float32)
    eager = codec.encode(ab).numpy()
    dataset = tf.data.Dataset.from_tensor_slices(ab).map(codec.encode).batch(3)
    assert dataset.element_spec.shape.as_list() == [None, 8, 8, 10]
    mapped = next(iter(dataset)).numpy()
    xla = tf.function(codec.encode, jit_compile=True)(tf.constant(ab)).numpy()
    for other in (mapped, xla):
        np.testing.assert_array_equal(other[..., :5], eager[..., :5])
        # XLA's vectorized exp differs from TF's in the last bits.
        np.testing.assert_allclose(other[..., 5:], eager[..., 5:], rtol=1e-5, atol=1e-6)


# === Fit, rebalancing, persistence ===


def hand_made_prior_codec(rebalance=0.5):
    """Every training pixel in the neutral bin."""
    codec = gamut_codec(rebalance=rebalance)
    counts = np.zeros(codec.n_bins, np.int64)
    counts[codec.neutral_bin] = 1000
    codec.set_state(
        {"bin_counts": counts, "bin_means": codec.bin_centers, "bin_modes": codec.bin_centers}
    )
    return codec


def test_rebalancing_weights_for_a_one_bin_prior():
    codec = hand_made_prior_codec(0.5)
    assert codec.fitted
    centers = codec.bin_centers.astype(np.float64)
    neutral = codec.neutral_bin
    # By hand: the smoothed prior is the neutral bin's normalized Gaussian row, the weight of a
    # bin 1 / (0.5 p + 0.5 / Q), scaled to expectation 1 under the smoothed prior.
    kernel = np.exp(-np.sum((centers - centers[neutral]) ** 2, axis=1) / (2 * 5.0**2))
    smoothed = kernel / kernel.sum()
    np.testing.assert_allclose(codec.smoothed_prior(), smoothed, atol=1e-12)
    raw = 1.0 / (0.5 * smoothed + 0.5 / codec.n_bins)
    expected = raw / np.sum(smoothed * raw)
    weights = codec.class_weights
    np.testing.assert_allclose(weights, expected, rtol=1e-5)
    np.testing.assert_allclose(np.sum(smoothed * weights), 1.0, rtol=1e-5)
    neighbour = codec.bin_index(np.array([10.0, 0.0], np.float32)).numpy()
    far = codec.bin_index(np.array([80.0, 60.0], np.float32)).numpy()
    assert weights[neutral] < weights[neighbour] < weights[far]

    # The class-balanced AuC's pixel weights: lambda = 0.5 whatever lambda the codec trains
    # with (here: the same weights as training at 0.5).
    ab = np.array([[[0.0, 0.0], [9.0, 1.0], [80.0, 60.0]]], np.float32)
    balanced = expected
    for trained_with in (0.5, None, 0.9):
        np.testing.assert_allclose(
            hand_made_prior_codec(trained_with).pixel_class_weights(ab).numpy(),
            [[balanced[neutral], balanced[neighbour], balanced[far]]],
            rtol=1e-4,
        )
    np.testing.assert_array_equal(hand_made_prior_codec(None).class_weights, np.ones(GAMUT_BINS))
    np.testing.assert_array_equal(gamut_codec().pixel_class_weights(ab).numpy(), np.ones((1, 3)))


def chelsea_lightness_and_ab(size=16):
    """scikit-image's chelsea photo at size x size: (lightness [1, S, S, 1], ab [1, S, S, 2])."""
    rgb = skimage.transform.resize(skimage.data.chelsea(), (size, size), anti_aliasing=True)
    lightness, ab = color.lightness_and_ab(tf.constant(rgb[None], tf.float32))
    return lightness.numpy(), ab.numpy()


def test_fit_counts_the_nearest_bins(codec):
    _, photo = chelsea_lightness_and_ab()
    batches = [photo, hand_picked_ab()]  # the photo, then ties and out-of-gamut pixels
    fitted = gamut_codec().fit(tf.data.Dataset.from_tensor_slices(photo).batch(1)).fit(batches)
    ab = np.concatenate([batch.reshape(-1, 2) for batch in batches])
    bins = codec.bin_index(ab).numpy()
    counts = np.bincount(bins, minlength=GAMUT_BINS)
    np.testing.assert_array_equal(fitted.bin_counts, counts)  # from scratch: only `batches`
    sums = np.stack(
        [np.bincount(bins, weights=ab[:, c], minlength=GAMUT_BINS) for c in range(2)], axis=-1
    )
    occupied = counts > 0
    np.testing.assert_allclose(
        fitted.bin_means[occupied], sums[occupied] / counts[occupied, None], rtol=1e-5
    )
    np.testing.assert_array_equal(fitted.bin_means[~occupied], codec.bin_centers[~occupied])


def test_save_load_round_trip(tmp_path):
    _, ab = chelsea_lightness_and_ab()
    codec = gamut_codec(decode="annealed_mean", temperature=0.38, neighbours=4).fit([ab])
    codec.save(str(tmp_path))
    restored = codecs.load_codec(str(tmp_path))
    assert isinstance(restored, codecs.GamutCodec) and restored.fitted
    assert restored.get_config() == codec.get_config() and restored.neighbours == 4
    for key, value in codec.get_state().items():
        np.testing.assert_array_equal(restored.get_state()[key], value)
    np.testing.assert_array_equal(restored.class_weights, codec.class_weights)
    np.testing.assert_array_equal(restored.encode(ab).numpy(), codec.encode(ab).numpy())
    logits = tf.random.stateless_normal([1, 4, 4, GAMUT_BINS], seed=[1, 2])
    np.testing.assert_array_equal(restored.decode(logits).numpy(), codec.decode(logits).numpy())

    gamut_codec().save(str(tmp_path / "unfitted"))
    assert not codecs.load_codec(str(tmp_path / "unfitted")).fitted
    with pytest.raises(ValueError, match="shape"):
        codecs.make_codec(CodecConfig(name="grid", n_bins=324)).set_state(codec.get_state())
    with pytest.raises(ValueError, match="needs keys"):
        gamut_codec().set_state({"bin_counts": codec.bin_counts})


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"grid_size": 0.0}, "grid_size=0.0"),
        ({"grid_size": -10.0}, "grid_size=-10.0"),
        ({"grid_size": float("nan")}, "grid_size=nan"),
        ({"sigma": 0.0}, "sigma=0.0"),
        ({"neighbours": 0}, "neighbours=0"),
        ({"neighbours": GAMUT_BINS + 1}, f"neighbours={GAMUT_BINS + 1}"),
        ({"neighbours": 2.5}, "neighbours=2.5"),
        ({"grid_size": 200.0}, "neighbours=5"),  # 2 bins
        ({"decode": "mode"}, "decode='mode'"),
        ({"rebalance": 1.5}, "rebalance=1.5"),
    ],
)
def test_construction_errors_repeat_the_value(overrides, message):
    with pytest.raises(ValueError, match=message):
        gamut_codec(**overrides)


# === Decoding ===


def margin_logits(seed, shape=(2, 3, 4)):
    """Random logits [*shape, Q] whose best bin leads by at least 1."""
    logits = tf.random.stateless_normal([*shape, GAMUT_BINS], seed=[seed, 0]) * 3.0
    return logits + tf.one_hot(tf.argmax(logits, axis=-1), GAMUT_BINS)


def test_annealed_mean(codec):
    logits = margin_logits(3)
    centers = codec.bin_centers
    mean = tf.nn.softmax(logits).numpy() @ centers
    mode = centers[np.argmax(logits.numpy(), axis=-1)]

    def decode(temperature):
        return codec.decode(logits, temperature=temperature, method="annealed_mean").numpy()

    at_one = decode(1.0)
    assert at_one.shape == (2, 3, 4, 2) and at_one.dtype == np.float32
    np.testing.assert_allclose(at_one, mean, rtol=1e-4, atol=1e-3)
    for temperature in (0.0, 1e-4, tf.constant(0.0), tf.constant(1e-4)):
        np.testing.assert_array_equal(decode(temperature), mode)
    np.testing.assert_allclose(decode(0.01), mode, atol=1e-3)
    errors = {t: np.abs(decode(t) - mode).max() for t in (1.0, 0.38, 0.01)}
    assert errors[1.0] > errors[0.38] > errors[0.01]
    # T = 0.38 lies between: closer to the mode than the mean is, and not the mode itself.
    assert np.linalg.norm(decode(0.38) - mode) < np.linalg.norm(at_one - mode)
    for temperature in (0.38, 1.0):
        np.testing.assert_allclose(decode(tf.constant(temperature)), decode(temperature), rtol=1e-6)
    # The config's default decoding for the preset, and an export-style temperature input.
    preset = gamut_codec(decode="annealed_mean", temperature=0.38)
    np.testing.assert_allclose(preset.decode(logits).numpy(), decode(0.38), rtol=1e-6)
    sweep = tf.function(
        lambda x, t: preset.decode(x, temperature=t),
        input_signature=[tf.TensorSpec([None, None, None, GAMUT_BINS]), tf.TensorSpec([])],
        jit_compile=True,
    )
    np.testing.assert_allclose(sweep(logits, 0.38).numpy(), decode(0.38), rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(sweep(logits, 0.0).numpy(), mode)


def test_interp_decoding_uses_fitted_bin_colours():
    codec = gamut_codec(decode="interp", temperature=0.0)
    logits = margin_logits(4, shape=(1, 2))
    argmax = np.argmax(logits.numpy(), axis=-1)
    np.testing.assert_array_equal(codec.decode(logits).numpy(), codec.bin_centers[argmax])
    ab = np.array([[[1.0, 2.0], [1.0, 2.0], [3.0, -2.0]]], np.float32)  # all in the gray bin
    codec.fit([ab])
    neutral = codec.neutral_bin
    one_hot = tf.one_hot([[neutral]], GAMUT_BINS) * 100.0
    np.testing.assert_allclose(codec.decode(one_hot)[0, 0].numpy(), [1.0, 2.0])  # mode
    np.testing.assert_allclose(
        codec.decode(one_hot, temperature=1.0)[0, 0].numpy(), [5.0 / 3.0, 2.0 / 3.0], rtol=1e-6
    )
    # The annealed mean stays on the bin centres (Zhang et al.), fitted or not.
    np.testing.assert_array_equal(
        codec.decode(one_hot, temperature=0.0, method="annealed_mean")[0, 0].numpy(), [0, 0]
    )
    with pytest.raises(ValueError, match="decode='mode'"):
        codec.decode(one_hot, method="mode")


# === Loss and metrics ===


def numpy_loss(target, logits, class_weights, neighbours=5):
    bins, weights = target[..., :neighbours].astype(int), target[..., neighbours:]
    logits = logits.astype(np.float64)
    log_probabilities = logits - np.log(np.sum(np.exp(logits), axis=-1, keepdims=True))
    picked = np.take_along_axis(log_probabilities, bins, axis=-1)
    cross_entropy = -np.sum(weights * picked, axis=-1) * class_weights[bins[..., 0]]
    return cross_entropy.reshape(len(target), -1).mean(axis=1)


@pytest.mark.parametrize("rebalance", [None, 0.5])
def test_loss_matches_numpy(rebalance):
    codec = hand_made_prior_codec(rebalance)
    ab = hand_picked_ab().reshape(2, 1, 6, 2)
    target = codec.encode(ab)
    logits = tf.random.stateless_normal([2, 1, 6, GAMUT_BINS], seed=[5, 6])
    loss = codec.loss(target, tf.cast(logits, tf.float16))
    assert loss.shape == (2,) and loss.dtype == tf.float32
    half_logits = tf.cast(tf.cast(logits, tf.float16), tf.float32).numpy()
    expected = numpy_loss(target.numpy(), half_logits, codec.class_weights)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5)
    if rebalance is not None:
        unweighted = numpy_loss(target.numpy(), half_logits, np.ones(GAMUT_BINS))
        assert not np.allclose(expected, unweighted)
    xla = tf.function(codec.loss, jit_compile=True)(target, logits)
    np.testing.assert_allclose(xla.numpy(), codec.loss(target, logits).numpy(), rtol=1e-5)

    with tf.GradientTape() as tape:
        tape.watch(logits)
        total = tf.reduce_sum(codec.loss(target, logits))
    gradient = tape.gradient(total, logits).numpy()
    assert np.all(np.isfinite(gradient)) and np.abs(gradient).max() > 0

    # Logits that favour the target's bins (by its weights) cost less than random ones.
    favouring = 20.0 * tf.reduce_sum(
        tf.one_hot(tf.cast(target[..., :5], tf.int32), GAMUT_BINS) * target[..., 5:, None], axis=-2
    )
    assert np.all(codec.loss(target, favouring).numpy() < loss.numpy())
    with pytest.raises(ValueError, match="10 channels"):
        codec.loss(target[..., :8], logits)


def test_metrics_read_the_soft_target(codec):
    metrics = codec.metrics()
    assert [metric.name for metric in metrics] == [
        "bin_accuracy",
        "bin_top5_accuracy",
        "colored_bin_accuracy",
    ]
    assert all(metric.target_format == "soft" for metric in metrics)
    ab = np.array([[[[0.0, 0.0], [40.0, 30.0]]]], np.float32)  # [1, 1, 2, 2]: gray, orange
    target = codec.encode(ab)
    nearest = target[..., 0].numpy().astype(int)
    second = target[..., 1].numpy().astype(int)
    # The gray pixel right; the orange one's true bin only second.
    logits = tf.one_hot([[[nearest[0, 0, 0], second[0, 0, 1]]]], GAMUT_BINS) * 10.0
    logits += tf.one_hot(nearest, GAMUT_BINS) * 5.0
    for metric in metrics:
        metric.update_state(target, logits)
    results = [metric.result().numpy() for metric in metrics]
    np.testing.assert_allclose(results, [0.5, 1.0, 0.0])
    for metric in metrics:
        restored = keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(metric)
        )
        assert restored.get_config() == metric.get_config()


def test_a_tiny_model_learns_chelsea():
    lightness, ab = chelsea_lightness_and_ab(16)
    codec = gamut_codec(decode="annealed_mean", temperature=0.38).fit([ab])
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 1))
    hidden = keras.layers.Conv2D(16, 1, activation="relu")(inputs)
    outputs = keras.layers.Conv2D(codec.channels, 1, activation=codec.output_activation)(hidden)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=codec.loss,
        metrics=codec.metrics(),
        jit_compile=True,
    )
    target = codec.encode(ab).numpy()
    history = model.fit(lightness, target, epochs=30, verbose=0).history
    assert history["loss"][-1] < 0.7 * history["loss"][0], history["loss"]
    assert history["bin_accuracy"][-1] > history["bin_accuracy"][0]
    assert set(history) == {"loss"} | {metric.name for metric in codec.metrics()}
    decoded = codec.decode(model.predict(lightness, verbose=0)).numpy()
    assert decoded.shape == (1, 16, 16, 2) and np.all(np.isfinite(decoded))


def test_bins_of_its_own_replace_the_computed_ones(tmp_path):
    # Zhang et al.'s released network carries its 313 bins; any centres work.
    centers = np.random.default_rng(5).uniform(-100, 100, (13, 2)).astype(np.float32)
    codec = gamut_codec(neighbours=3)
    assert codec.get_state() == {}
    codec.set_state({"bin_centers": centers})
    assert codec.channels == codec.n_bins == 13 and not codec.fitted
    np.testing.assert_array_equal(codec.bin_centers, centers)
    np.testing.assert_array_equal(codec.get_state()["bin_centers"], centers)
    ab = np.random.default_rng(6).uniform(-110, 110, (1, 6, 6, 2)).astype(np.float32)
    nearest = np.argmin(((ab[..., None, :] - centers) ** 2).sum(-1), axis=-1)
    np.testing.assert_array_equal(codec.bin_index(ab).numpy(), nearest)
    np.testing.assert_array_equal(codec.encode(ab).numpy()[..., 0], nearest)
    # One logit per bin: the annealed mean at T -> 0 is the argmax bin's centre.
    logits = tf.one_hot(nearest, 13) * 50.0
    np.testing.assert_allclose(codec.decode(logits, temperature=0.0), centers[nearest])
    # Saved, loaded and fitted, the bins stay.
    codec.save(str(tmp_path))
    loaded = codecs.load_codec(str(tmp_path))
    np.testing.assert_array_equal(loaded.bin_centers, centers)
    loaded.fit([ab])
    assert loaded.fitted and loaded.bin_counts.sum() == 36
    np.testing.assert_array_equal(loaded.bin_counts, np.bincount(nearest.ravel(), minlength=13))
    refitted = gamut_codec(neighbours=3)
    refitted.set_state(loaded.get_state())
    np.testing.assert_array_equal(refitted.bin_counts, loaded.bin_counts)
    assert gamut_codec().channels == GAMUT_BINS  # other codecs keep the computed bins
    with pytest.raises(ValueError, match=r"bin_centers must be finite.*shape=\(2, 2\)"):
        gamut_codec(neighbours=3).set_state({"bin_centers": centers[:2]})
