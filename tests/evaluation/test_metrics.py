"""tfcolor.evaluation.metrics: PSNR, SSIM, the ab error AuC, colorfulness, the gray baseline.

Reference values are computed by hand, with numpy, with scikit-image or with tf.image.
"""

import math

import keras
import numpy as np
import pytest
import skimage.metrics
import tensorflow as tf

from tfcolor.codecs.metrics import MeanMetric
from tfcolor.color import lightness_and_ab
from tfcolor.evaluation import metrics


def random_rgb(seed, shape=(3, 24, 24, 3), smooth=True):
    """float32 RGB in [0, 1]; smoothed noise has structure at the SSIM window's scale."""
    rng = np.random.default_rng(seed)
    images = rng.random(shape)
    if smooth:
        images = (images + np.roll(images, 1, axis=1) + np.roll(images, 1, axis=2)) / 3.0
    return images.astype(np.float32)


def noisy(images, seed, scale=0.1):
    rng = np.random.default_rng(seed)
    return np.clip(images + rng.normal(0.0, scale, images.shape), 0.0, 1.0).astype(np.float32)


def random_ab(seed, shape=(2, 6, 5, 2), scale=40.0):
    return np.random.default_rng(seed).normal(0.0, scale, shape).astype(np.float32)


def constant_ab(a, b, shape=(2, 4, 4)):
    return np.broadcast_to(np.array([a, b], np.float32), (*shape, 2)).copy()


def numpy_curve(true_ab, predicted_ab, weights=None, max_threshold=150):
    """The curve by its definition: weighted fraction of pixels with error <= t, float64."""
    error = np.sqrt(np.sum((predicted_ab.astype(np.float64) - true_ab) ** 2, axis=-1))
    if weights is None:
        weights = np.ones_like(error)
    weights = np.broadcast_to(weights, error.shape)
    return np.array(
        [np.sum(weights * (error <= t)) / np.sum(weights) for t in range(max_threshold + 1)]
    )


def numpy_colorfulness(rgb_uint8):
    """Hasler and Suesstrunk 2003 on one 0-255 image, in float64 (population std)."""
    red, green, blue = [rgb_uint8[..., c].astype(np.float64) for c in range(3)]
    rg = red - green
    yb = 0.5 * (red + green) - blue
    return np.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)


# === PSNR ===


def test_psnr_of_a_constant_error_of_a_tenth_is_20_db():
    true_rgb = np.full((2, 5, 7, 3), 0.5, np.float32)
    np.testing.assert_allclose(metrics.psnr(true_rgb, true_rgb + 0.1), [20.0, 20.0], atol=1e-3)


def test_psnr_scales_uint8_images_to_unit_range():
    # An error of 51 / 255 = 0.2: MSE 0.04, PSNR 10 log10(25).
    true_rgb = np.full((1, 4, 4, 3), 100, np.uint8)
    predicted_rgb = np.full((1, 4, 4, 3), 151, np.uint8)
    np.testing.assert_allclose(
        metrics.psnr(true_rgb, predicted_rgb), [10.0 * math.log10(25.0)], atol=1e-3
    )


def test_psnr_matches_skimage():
    true_rgb = random_rgb(0)
    predicted_rgb = noisy(true_rgb, 1)
    expected = [
        skimage.metrics.peak_signal_noise_ratio(t, p, data_range=1.0)
        for t, p in zip(true_rgb, predicted_rgb, strict=True)
    ]
    np.testing.assert_allclose(metrics.psnr(true_rgb, predicted_rgb), expected, rtol=1e-5)


# === SSIM ===


def test_ssim_matches_tf_image_ssim_and_skimage():
    true_rgb = random_rgb(2, shape=(2, 32, 32, 3))
    predicted_rgb = noisy(true_rgb, 3)
    values = metrics.ssim(true_rgb, predicted_rgb).numpy()
    np.testing.assert_allclose(
        values, tf.image.ssim(true_rgb, predicted_rgb, max_val=1.0).numpy(), rtol=1e-6
    )
    # scikit-image with the paper's Gaussian window (11 x 11, sigma 1.5: its truncate=3.5 gives
    # 11 taps) and population statistics computes the same quantity (both average over the
    # window positions inside the image): equal to float32 rounding (2e-7 here). Its default,
    # a 7 x 7 uniform window with sample covariance, is another SSIM: 0.006 higher on these.
    expected = [
        skimage.metrics.structural_similarity(
            t,
            p,
            data_range=1.0,
            channel_axis=-1,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
        for t, p in zip(true_rgb, predicted_rgb, strict=True)
    ]
    np.testing.assert_allclose(values, expected, atol=1e-5)
    assert np.all(values < 0.99)


def test_ssim_of_images_smaller_than_the_window():
    true_rgb = random_rgb(4, shape=(2, 8, 6, 3))
    predicted_rgb = noisy(true_rgb, 5)
    np.testing.assert_allclose(metrics.ssim(true_rgb, true_rgb), [1.0, 1.0], atol=1e-5)
    expected = tf.image.ssim(true_rgb, predicted_rgb, max_val=1.0, filter_size=6)
    np.testing.assert_allclose(metrics.ssim(true_rgb, predicted_rgb), expected, rtol=1e-6)


# === ab error curve and AuC ===


def test_auc_of_a_perfect_prediction_is_one():
    ab = random_ab(6)
    np.testing.assert_array_equal(metrics.ab_error_curve(ab, ab), np.ones(151, np.float32))
    assert float(metrics.ab_error_auc(ab, ab)) == 1.0


@pytest.mark.parametrize(
    "a, b, ceil_error",
    [
        (20.0, 15.0, 25),  # error exactly 25: counted from t = 25 on ('error <= t')
        (10.0, 10.0, 15),  # error 14.14
        (-3.0, 0.5, 4),  # error 3.04
        (160.0, 0.0, None),  # error beyond 150: never counted
    ],
)
def test_auc_of_the_gray_prediction_of_a_constant_colour(a, b, ceil_error):
    true_ab = constant_ab(a, b)
    predicted_ab = metrics.gray_ab(true_ab)
    np.testing.assert_array_equal(predicted_ab, np.zeros_like(true_ab))
    curve = metrics.ab_error_curve(true_ab, predicted_ab).numpy()
    if ceil_error is None:
        expected_curve = np.zeros(151)
    else:
        expected_curve = (np.arange(151) >= ceil_error).astype(np.float32)
    np.testing.assert_array_equal(curve, expected_curve)
    # The curve is 0 below ceil(d) and 1 from there on: (150 - ceil(d) + 1) / 151.
    expected_auc = 0.0 if ceil_error is None else (150 - ceil_error + 1) / 151
    assert float(metrics.ab_error_auc(true_ab, predicted_ab)) == pytest.approx(expected_auc)


def test_auc_with_another_max_threshold():
    true_ab = constant_ab(4.5, 0.0)
    curve = metrics.ab_error_curve(true_ab, 0 * true_ab, max_threshold=10)
    assert curve.shape == (11,)
    # error 4.5: counted from t = 5, so 6 of the 11 thresholds.
    assert float(metrics.ab_error_auc(true_ab, 0 * true_ab, max_threshold=10)) == pytest.approx(
        6 / 11
    )


@pytest.mark.parametrize("max_threshold", [0, -3, 2.5, True, "150"])
def test_bad_max_threshold_is_refused(max_threshold):
    with pytest.raises(ValueError, match="max_threshold"):
        metrics.ab_error_curve(constant_ab(1, 1), constant_ab(1, 1), max_threshold=max_threshold)
    with pytest.raises(ValueError, match="max_threshold"):
        metrics.AbErrorAuC(max_threshold=max_threshold)


def test_ab_error_curve_matches_numpy():
    true_ab, predicted_ab = random_ab(7), random_ab(8)
    weights = np.random.default_rng(9).random(true_ab.shape[:-1]).astype(np.float32)
    np.testing.assert_allclose(
        metrics.ab_error_curve(true_ab, predicted_ab),
        numpy_curve(true_ab, predicted_ab),
        atol=1e-6,
    )
    np.testing.assert_allclose(
        metrics.ab_error_curve(true_ab, predicted_ab, weights),
        numpy_curve(true_ab, predicted_ab, weights),
        atol=1e-6,
    )


def test_weighted_auc_counts_only_the_selected_pixels():
    # Left half predicted exactly, right half off by 25.
    true_ab = constant_ab(20.0, 15.0, shape=(2, 4, 6))
    predicted_ab = true_ab.copy()
    predicted_ab[:, :, 3:] = 0.0
    left = np.zeros((2, 4, 6), np.float32)
    left[:, :, :3] = 1.0
    off_by_25 = (150 - 25 + 1) / 151
    assert float(metrics.ab_error_auc(true_ab, predicted_ab)) == pytest.approx(
        0.5 + 0.5 * off_by_25
    )
    assert float(metrics.ab_error_auc(true_ab, predicted_ab, left)) == pytest.approx(1.0)
    assert float(metrics.ab_error_auc(true_ab, predicted_ab, 1.0 - left)) == pytest.approx(
        off_by_25
    )
    # Three times the weight on the wrong half: a quarter of the mass is right.
    assert float(metrics.ab_error_auc(true_ab, predicted_ab, 3.0 - 2.0 * left)) == pytest.approx(
        0.25 + 0.75 * off_by_25
    )


def test_per_image_weights_select_images():
    true_ab = constant_ab(20.0, 15.0, shape=(2, 3, 3))
    predicted_ab = true_ab.copy()
    predicted_ab[1] = 0.0
    assert float(metrics.ab_error_auc(true_ab, predicted_ab, [1.0, 0.0])) == pytest.approx(1.0)
    assert float(metrics.ab_error_auc(true_ab, predicted_ab, [0.0, 1.0])) == pytest.approx(
        126 / 151
    )


def test_ab_error_curve_under_xla_matches_eager():
    true_ab, predicted_ab = random_ab(10), random_ab(11)
    compiled = tf.function(metrics.ab_error_curve, jit_compile=True)
    np.testing.assert_allclose(
        compiled(true_ab, predicted_ab), metrics.ab_error_curve(true_ab, predicted_ab), atol=1e-6
    )


# === AbErrorAuC ===


def test_ab_error_auc_metric_over_two_batches_equals_the_function_on_their_union():
    first_true, first_predicted = random_ab(12, (3, 5, 5, 2)), random_ab(13, (3, 5, 5, 2), 5.0)
    second_true, second_predicted = random_ab(14, (1, 5, 5, 2)), random_ab(15, (1, 5, 5, 2))
    metric = metrics.AbErrorAuC()
    metric.update_state(first_true, first_predicted)
    metric.update_state(second_true, second_predicted)
    all_true = np.concatenate([first_true, second_true])
    all_predicted = np.concatenate([first_predicted, second_predicted])
    expected = metrics.ab_error_auc(all_true, all_predicted)
    assert float(metric.result()) == pytest.approx(float(expected), abs=1e-6)
    np.testing.assert_allclose(
        metric.curve(), metrics.ab_error_curve(all_true, all_predicted), atol=1e-6
    )
    # Pooled, not a mean of the two batches' AuCs (which differ in size and accuracy here).
    batch_mean = (
        float(metrics.ab_error_auc(first_true, first_predicted))
        + float(metrics.ab_error_auc(second_true, second_predicted))
    ) / 2
    assert abs(float(metric.result()) - batch_mean) > 1e-3

    metric.reset_state()
    assert float(metric.result()) == 0.0
    metric.update_state(second_true, second_true)
    assert float(metric.result()) == 1.0


def test_ab_error_auc_metric_takes_per_image_and_per_pixel_weights():
    true_ab, predicted_ab = random_ab(16, (2, 4, 4, 2)), random_ab(17, (2, 4, 4, 2))
    pixel_weights = np.random.default_rng(18).random((2, 4, 4)).astype(np.float32)
    per_pixel = metrics.AbErrorAuC()
    per_pixel.update_state(true_ab, predicted_ab, sample_weight=pixel_weights)
    assert float(per_pixel.result()) == pytest.approx(
        float(metrics.ab_error_auc(true_ab, predicted_ab, pixel_weights)), abs=1e-6
    )
    per_image = metrics.AbErrorAuC()
    per_image.update_state(true_ab, predicted_ab, sample_weight=np.array([0.0, 2.0]))
    assert float(per_image.result()) == pytest.approx(
        float(metrics.ab_error_auc(true_ab[1:], predicted_ab[1:])), abs=1e-6
    )


def test_ab_error_auc_metric_in_model_compile_and_evaluate():
    keras.utils.set_random_seed(0)
    lightness = np.random.default_rng(19).random((6, 8, 8, 1)).astype(np.float32)
    true_ab = random_ab(20, (6, 8, 8, 2), 20.0)
    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Conv2D(2, 3, padding="same", kernel_initializer="he_normal")(inputs)
    model = keras.Model(inputs, 30.0 * outputs)
    model.compile(
        loss="mse",
        metrics=[metrics.AbErrorAuC(name="auc"), metrics.AbErrorAuC(10, name="auc_10")],
    )
    model.fit(lightness, true_ab, batch_size=4, epochs=1, verbose=0)
    results = model.evaluate(lightness, true_ab, batch_size=4, verbose=0, return_dict=True)
    predicted_ab = model.predict(lightness, batch_size=6, verbose=0)
    expected = float(metrics.ab_error_auc(true_ab, predicted_ab))
    assert 0.0 < expected < 1.0
    assert results["auc"] == pytest.approx(expected, abs=1e-5)
    assert results["auc_10"] == pytest.approx(
        float(metrics.ab_error_auc(true_ab, predicted_ab, max_threshold=10)), abs=1e-5
    )


# === Colorfulness ===


def test_colorfulness_of_gray_images_is_zero():
    levels = np.random.default_rng(21).integers(0, 256, (2, 5, 5, 1), dtype=np.uint8)
    gray = np.repeat(levels, 3, axis=-1)
    np.testing.assert_allclose(metrics.colorfulness(gray), [0.0, 0.0], atol=1e-3)


def test_colorfulness_of_half_red_half_green():
    image = np.zeros((1, 4, 4, 3), np.uint8)
    image[0, :, :2, 0] = 255
    image[0, :, 2:, 1] = 255
    # rg = +-255 (mean 0, std 255), yb = 127.5 everywhere (mean 127.5, std 0).
    hand = 255.0 + 0.3 * 127.5
    assert numpy_colorfulness(image[0]) == pytest.approx(hand)
    np.testing.assert_allclose(metrics.colorfulness(image), [hand], rtol=1e-5)
    np.testing.assert_allclose(metrics.colorfulness(image / 255.0), [hand], rtol=1e-5)


def test_colorfulness_matches_numpy_on_random_images():
    images = np.random.default_rng(22).integers(0, 256, (3, 7, 9, 3), dtype=np.uint8)
    expected = [numpy_colorfulness(image) for image in images]
    np.testing.assert_allclose(metrics.colorfulness(images), expected, rtol=1e-4)


def test_colorfulness_metric_of_the_prediction_and_of_the_truth():
    colourful = np.random.default_rng(23).integers(0, 256, (2, 6, 6, 3), dtype=np.uint8)
    gray = np.repeat(colourful[..., :1], 3, axis=-1)
    predicted, true = metrics.Colorfulness(), metrics.Colorfulness(of="true")
    assert (predicted.name, true.name) == ("colorfulness", "colorfulness_true")
    for metric in (predicted, true):
        metric.update_state(colourful, gray)
    assert float(predicted.result()) == pytest.approx(0.0, abs=1e-3)
    assert float(true.result()) == pytest.approx(
        float(np.mean(metrics.colorfulness(colourful))), rel=1e-5
    )
    with pytest.raises(ValueError, match="of must be one of"):
        metrics.Colorfulness(of="gray")


# === Per-image Keras metrics ===


@pytest.mark.parametrize(
    "metric_class, function",
    [
        (metrics.PSNR, metrics.psnr),
        (metrics.SSIM, metrics.ssim),
        (metrics.Colorfulness, lambda true_rgb, predicted_rgb: metrics.colorfulness(predicted_rgb)),
    ],
    ids=["psnr", "ssim", "colorfulness"],
)
def test_per_image_metric_is_the_mean_over_all_images(metric_class, function):
    true_rgb = random_rgb(24, shape=(3, 16, 16, 3))
    predicted_rgb = noisy(true_rgb, 25)
    metric = metric_class()
    metric.update_state(true_rgb[:2], predicted_rgb[:2])
    metric.update_state(true_rgb[2:], predicted_rgb[2:])
    values = function(true_rgb, predicted_rgb).numpy()
    assert float(metric.result()) == pytest.approx(float(np.mean(values)), rel=1e-5)

    metric.reset_state()
    metric.update_state(true_rgb, predicted_rgb, sample_weight=[0.0, 1.0, 3.0])
    weighted = (values[1] + 3.0 * values[2]) / 4.0
    assert float(metric.result()) == pytest.approx(float(weighted), rel=1e-5)
    # The codecs' metric base class, with float64 sums; a per-pixel weight is refused.
    assert isinstance(metric, MeanMetric) and metric.total.dtype == "float64"
    assert metric.result().dtype == tf.float32
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError)):
        metric.update_state(true_rgb, predicted_rgb, sample_weight=np.ones((3, 16, 16)))


def test_image_metrics_in_model_compile_and_evaluate():
    keras.utils.set_random_seed(1)
    true_rgb = random_rgb(26, shape=(5, 12, 12, 3))
    inputs = keras.Input((12, 12, 3))
    outputs = keras.layers.Conv2D(3, 3, padding="same", activation="sigmoid")(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(
        loss="mse",
        metrics=[
            metrics.PSNR(),
            metrics.SSIM(),
            metrics.Colorfulness(),
            metrics.Colorfulness(of="true"),
        ],
    )
    results = model.evaluate(true_rgb, true_rgb, batch_size=2, verbose=0, return_dict=True)
    predicted_rgb = model.predict(true_rgb, batch_size=5, verbose=0)
    expected = {
        "psnr": metrics.psnr(true_rgb, predicted_rgb),
        "ssim": metrics.ssim(true_rgb, predicted_rgb),
        "colorfulness": metrics.colorfulness(predicted_rgb),
        "colorfulness_true": metrics.colorfulness(true_rgb),
    }
    for name, values in expected.items():
        assert results[name] == pytest.approx(float(np.mean(values)), rel=1e-4), name


# === Serialization ===


@pytest.mark.parametrize(
    "metric",
    [
        metrics.PSNR(),
        metrics.SSIM(name="structural_similarity"),
        metrics.Colorfulness(of="true"),
        metrics.Colorfulness(name="predicted_colorfulness"),
        metrics.AbErrorAuC(),
        metrics.AbErrorAuC(max_threshold=40, name="auc_40"),
    ],
    ids=lambda metric: metric.name,
)
def test_metric_config_round_trip(metric):
    config = metric.get_config()
    restored = type(metric).from_config(config)
    assert restored.get_config() == config
    # By registered name, as a saved model's compile config restores it.
    serialized = keras.saving.serialize_keras_object(metric)
    assert serialized["registered_name"] == f"tfcolor>{type(metric).__name__}"
    deserialized = keras.saving.deserialize_keras_object(serialized)
    assert type(deserialized) is type(metric)
    assert deserialized.get_config() == config


# === Gray baseline and aggregation ===


def test_gray_rgb_keeps_the_lightness_and_drops_the_colour():
    true_rgb = random_rgb(27, shape=(2, 6, 6, 3))
    baseline = metrics.gray_rgb(true_rgb).numpy()
    np.testing.assert_allclose(baseline[..., 0], baseline[..., 1], atol=1e-3)
    np.testing.assert_allclose(baseline[..., 1], baseline[..., 2], atol=1e-3)
    lightness, ab = lightness_and_ab(baseline)
    np.testing.assert_allclose(lightness, lightness_and_ab(true_rgb)[0], atol=1e-3)
    np.testing.assert_allclose(ab, np.zeros_like(ab), atol=0.05)
    uint8 = np.round(true_rgb * 255).astype(np.uint8)
    np.testing.assert_allclose(metrics.gray_rgb(uint8), metrics.gray_rgb(uint8 / 255.0), atol=1e-6)


def test_image_metrics_of_one_batch():
    true_rgb = random_rgb(28, shape=(2, 12, 12, 3))
    predicted_rgb = noisy(true_rgb, 29)
    weights = np.random.default_rng(30).random((2, 12, 12)).astype(np.float32)
    values = metrics.image_metrics(true_rgb, predicted_rgb, weights=weights)
    assert set(values) == {
        "psnr",
        "ssim",
        "auc",
        "auc_rebalanced",
        "colorfulness",
        "colorfulness_true",
    }
    true_ab = lightness_and_ab(true_rgb)[1]
    predicted_ab = lightness_and_ab(predicted_rgb)[1]
    np.testing.assert_allclose(values["psnr"], metrics.psnr(true_rgb, predicted_rgb))
    np.testing.assert_allclose(values["auc"], metrics.ab_error_auc(true_ab, predicted_ab))
    np.testing.assert_allclose(
        values["auc_rebalanced"], metrics.ab_error_auc(true_ab, predicted_ab, weights)
    )
    np.testing.assert_allclose(values["colorfulness_true"], metrics.colorfulness(true_rgb))
    assert "auc_rebalanced" not in metrics.image_metrics(true_rgb, predicted_rgb)


def test_colorization_metrics_over_batches_with_the_gray_baseline():
    true_rgb = random_rgb(31, shape=(3, 12, 12, 3))
    predicted_rgb = noisy(true_rgb, 32, scale=0.02)
    weights = np.random.default_rng(33).random((3, 12, 12)).astype(np.float32)
    aggregate = metrics.ColorizationMetrics()
    for batch in (slice(0, 2), slice(2, 3)):
        aggregate.update(true_rgb[batch], predicted_rgb[batch], pixel_weights=weights[batch])
    result = aggregate.result()
    names = ["psnr", "ssim", "ab_error", "auc", "auc_rebalanced", "colorfulness"]
    assert set(result) == {*names, *[f"gray_{name}" for name in names], "colorfulness_true"}
    assert all(isinstance(value, float) for value in result.values())

    true_ab = lightness_and_ab(true_rgb)[1]
    predicted_ab = lightness_and_ab(predicted_rgb)[1]
    gray = metrics.gray_rgb(true_rgb)
    expected = {
        "psnr": np.mean(metrics.psnr(true_rgb, predicted_rgb)),
        "ssim": np.mean(metrics.ssim(true_rgb, predicted_rgb)),
        "auc": metrics.ab_error_auc(true_ab, predicted_ab),
        "auc_rebalanced": metrics.ab_error_auc(true_ab, predicted_ab, weights),
        # The mean over every pixel, in numpy: the distance in ab, pooled over the batches.
        "ab_error": np.mean(np.linalg.norm(np.float64(predicted_ab) - true_ab, axis=-1)),
        "gray_ab_error": np.mean(np.linalg.norm(np.float64(true_ab), axis=-1)),
        "colorfulness": np.mean(metrics.colorfulness(predicted_rgb)),
        "colorfulness_true": np.mean(metrics.colorfulness(true_rgb)),
        "gray_psnr": np.mean(metrics.psnr(true_rgb, gray)),
        "gray_ssim": np.mean(metrics.ssim(true_rgb, gray)),
        "gray_auc": metrics.ab_error_auc(true_ab, 0 * true_ab),
        "gray_auc_rebalanced": metrics.ab_error_auc(true_ab, 0 * true_ab, weights),
    }
    for name, value in expected.items():
        assert result[name] == pytest.approx(float(value), rel=1e-4, abs=1e-6), name
    assert result["gray_colorfulness"] == pytest.approx(0.0, abs=0.1)
    # A slightly noisy prediction beats gray on every measure.
    for name in ("psnr", "ssim", "auc", "auc_rebalanced"):
        assert result[name] > result[f"gray_{name}"], name

    np.testing.assert_allclose(
        aggregate.curve(), metrics.ab_error_curve(true_ab, predicted_ab), atol=1e-6
    )
    np.testing.assert_allclose(
        aggregate.curve(rebalanced=True, gray=True),
        metrics.ab_error_curve(true_ab, 0 * true_ab, weights),
        atol=1e-6,
    )
    aggregate.reset()
    assert aggregate.result()["auc"] == 0.0


def test_colorization_metrics_uses_the_given_ab():
    true_rgb = random_rgb(34, shape=(2, 12, 12, 3))
    true_ab = constant_ab(20.0, 15.0, shape=(2, 12, 12))
    aggregate = metrics.ColorizationMetrics(gray_baseline=False)
    aggregate.update(true_rgb, true_rgb, true_ab=true_ab, predicted_ab=0 * true_ab)
    result = aggregate.result()
    assert not any(name.startswith("gray_") for name in result)
    assert "auc_rebalanced" not in result
    assert result["auc"] == pytest.approx(126 / 151)
    with pytest.raises(ValueError, match="gray_baseline"):
        aggregate.curve(gray=True)
    with pytest.raises(ValueError, match="pixel_weights"):
        aggregate.curve(rebalanced=True)


def test_colorization_metrics_refuses_weights_on_some_batches_only():
    true_rgb = random_rgb(35, shape=(1, 12, 12, 3))
    aggregate = metrics.ColorizationMetrics()
    aggregate.update(true_rgb, true_rgb)
    with pytest.raises(ValueError, match="every batch or for none"):
        aggregate.update(true_rgb, true_rgb, pixel_weights=np.ones((1, 12, 12), np.float32))
