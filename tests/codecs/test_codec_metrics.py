"""tfcolor.codecs.metrics: the bin metrics, the metric base class and the weight broadcast."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.codecs.codec_helpers import grid_codec, one_hot_logits
from tfcolor.codecs import metrics


def test_bin_accuracy_metrics():
    neutral = 21
    y_true = tf.constant([[[neutral, 0], [5, neutral]]], tf.float32)  # [1, 2, 2], Keras' float
    # The last pixel is wrong at top-1, but the true bin has the second-highest logit.
    y_pred = one_hot_logits([[[neutral, 0], [5, 3]]], 36) + one_hot_logits(
        [[[0, 0], [0, 21]]], 36, 50.0
    )
    accuracy, top5, colored = grid_codec(36).metrics()
    assert (accuracy.name, top5.name, colored.name) == (
        "bin_accuracy",
        "bin_top5_accuracy",
        "colored_bin_accuracy",
    )
    assert (accuracy.top_k, top5.top_k, colored.top_k) == (1, 5, 1)
    for metric in (accuracy, top5, colored):
        metric.update_state(y_true, y_pred)
    np.testing.assert_allclose(accuracy.result().numpy(), 0.75)
    np.testing.assert_allclose(top5.result().numpy(), 1.0)
    np.testing.assert_allclose(colored.result().numpy(), 1.0)  # the miss was a gray pixel

    # A second batch, every pixel's top-1 wrong, weighted per sample. Top-5 is bin 1, then the
    # lowest indices among the equal rest (0, 2, 3, 4): it holds the true bin 0.
    wrong = one_hot_logits([[[1, 1], [1, 1]], [[1, 1], [1, 1]]], 36)
    two_samples = tf.concat([y_true, y_true], axis=0)
    for metric in (accuracy, top5, colored):
        metric.update_state(two_samples, wrong, sample_weight=tf.constant([1.0, 0.0]))
    np.testing.assert_allclose(accuracy.result().numpy(), 3 / 8)
    np.testing.assert_allclose(top5.result().numpy(), 5 / 8)
    np.testing.assert_allclose(colored.result().numpy(), 2 / 4)

    accuracy.reset_state()
    colored.reset_state()
    assert accuracy.result().numpy() == 0.0 and colored.result().numpy() == 0.0
    for metric in (top5, colored):
        restored = keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(metric)
        )
        assert type(restored) is type(metric) and restored.get_config() == metric.get_config()
    assert restored.neutral_bin == neutral
    assert len(grid_codec(4).metrics()) == 2  # no top-5 among 4 bins


def test_bin_metrics_match_argmax_and_top_k_with_ties():
    # Logits from a few integer levels: most pixels tie among many bins, where the lower bin
    # index ranks first, as tf.math.top_k orders them.
    rng = np.random.default_rng(7)
    logits = tf.constant(rng.integers(0, 4, (3, 5, 6, 36)), tf.float32)
    labels = tf.constant(rng.integers(0, 36, (3, 5, 6)), tf.int32)
    weights = tf.constant([1.0, 0.5, 2.0])
    top1 = tf.cast(tf.argmax(logits, -1, output_type=tf.int32) == labels, tf.float32)
    top5 = tf.cast(
        tf.reduce_any(tf.math.top_k(logits, 5).indices == labels[..., None], -1), tf.float32
    )
    pixel_weight = tf.broadcast_to(weights[:, None, None], labels.shape)
    colored = pixel_weight * tf.cast(labels != 21, tf.float32)
    expected = [
        tf.reduce_sum(top1 * pixel_weight) / tf.reduce_sum(pixel_weight),
        tf.reduce_sum(top5 * pixel_weight) / tf.reduce_sum(pixel_weight),
        tf.reduce_sum(top1 * colored) / tf.reduce_sum(colored),
    ]

    @tf.function
    def update_all(metrics, y_true, y_pred):
        for metric in metrics:
            metric.update_state(y_true, y_pred, sample_weight=weights)

    for update in (update_all.python_function, update_all):  # eager, then one traced graph
        metrics = grid_codec(36).metrics()
        update(metrics, tf.cast(labels, tf.float32), logits)
        for metric, value in zip(metrics, expected, strict=True):
            np.testing.assert_allclose(metric.result().numpy(), value.numpy(), rtol=1e-6)

    # The metrics share one rank pass, but only for the same inputs: a second batch is ranked
    # anew (here every pixel is right).
    accuracy, top5_metric, _ = grid_codec(36).metrics()
    accuracy.update_state(labels, logits)
    top5_metric.update_state(labels, tf.one_hot(labels, 36))
    np.testing.assert_allclose(accuracy.result().numpy(), tf.reduce_mean(top1).numpy())
    assert top5_metric.result().numpy() == 1.0


def test_bin_accuracy_checks_its_arguments():
    with pytest.raises(ValueError, match="top_k=0"):
        metrics.BinAccuracy(top_k=0)
    with pytest.raises(ValueError, match="target_format='hard'"):
        metrics.BinAccuracy(target_format="hard")


def test_bin_metrics_share_one_rank_pass():
    accuracy, top5, colored = metrics.bin_metrics(36, neutral_bin=21, target_format="soft")
    assert (accuracy.name, top5.name, colored.name) == (
        "bin_accuracy",
        "bin_top5_accuracy",
        "colored_bin_accuracy",
    )
    assert accuracy._ranks is top5._ranks is colored._ranks
    assert colored.neutral_bin == 21
    assert all(metric.target_format == "soft" for metric in (accuracy, top5, colored))
    few = metrics.bin_metrics(5, neutral_bin=0, target_format="index")
    assert [metric.name for metric in few] == ["bin_accuracy", "colored_bin_accuracy"]
    assert metrics.bin_metrics(36, 21, "soft")[0]._ranks is not accuracy._ranks  # fresh ones


# === The pieces every metric uses ===


def test_pixel_weights_broadcasts_none_per_image_and_per_pixel_weights():
    pixels = tf.zeros([2, 3, 4])
    ones = metrics.pixel_weights(None, pixels)
    assert ones.dtype == tf.float64 and ones.shape == (2, 3, 4)
    np.testing.assert_array_equal(ones.numpy(), 1.0)
    per_image = metrics.pixel_weights(tf.constant([2.0, 0.5]), pixels, tf.float32)
    assert per_image.dtype == tf.float32
    np.testing.assert_array_equal(per_image.numpy()[:, 1, 2], [2.0, 0.5])
    np.testing.assert_array_equal(per_image.numpy()[0], 2.0)
    per_pixel = np.random.default_rng(0).random((2, 3, 4))
    np.testing.assert_array_equal(metrics.pixel_weights(per_pixel, pixels).numpy(), per_pixel)


class _MeanOfValues(metrics.MeanMetric):
    """The weighted mean of y_pred (a test subclass)."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        self._accumulate(y_pred, metrics.pixel_weights(sample_weight, y_pred))


class _PreciseMeanOfValues(_MeanOfValues):
    accumulator_dtype = "float64"


def test_mean_metric_is_the_weighted_mean_since_the_reset():
    metric = _MeanOfValues(name="mean")
    assert metric.total.dtype == metric.count.dtype == "float32"
    assert metric.result().numpy() == 0.0  # nothing seen yet: 0, not NaN
    metric.update_state(None, tf.constant([1.0, 3.0]))
    metric.update_state(None, tf.constant([10.0, 0.0]), sample_weight=tf.constant([2.0, 0.0]))
    np.testing.assert_allclose(metric.result().numpy(), (1 + 3 + 20) / 4)
    assert metric.get_config() == {"name": "mean", "dtype": "float32"}
    metric.reset_state()
    assert metric.result().numpy() == 0.0

    # float64 accumulators keep 1 + 2^-30, which float32 rounds away; the result is float32.
    precise = _PreciseMeanOfValues(name="precise")
    assert precise.total.dtype == "float64"
    precise.update_state(None, tf.constant([1.0 + 2.0**-30], tf.float64))
    assert precise.total.numpy() == 1.0 + 2.0**-30
    assert precise.result().dtype == tf.float32
