"""tfcolor.codecs.regression: the three normalizations, the MSE loss, the ab MAE metric."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.codecs.codec_helpers import regression_codec
from tfcolor import codecs


@pytest.mark.parametrize(
    "normalization, activation",
    [("sigmoid", "sigmoid"), ("tanh", "tanh"), ("unit", None), ("tanh110", "tanh")],
)
def test_regression_round_trip(normalization, activation):
    codec = regression_codec(normalization)
    assert codec.channels == 2 and codec.output_activation == activation and codec.fitted
    limit = 100.0 if normalization == "sigmoid" else 127.0
    ab = np.random.default_rng(3).uniform(-limit, limit, (2, 4, 4, 2)).astype(np.float32)
    ab[0, 0, 0] = [-128.0 if normalization != "sigmoid" else -100.0, limit]
    target = codec.encode(ab)
    assert target.dtype == tf.float32 and target.shape == ab.shape
    np.testing.assert_allclose(codec.decode(target).numpy(), ab, atol=1e-4)
    low, high = {"sigmoid": (0, 1), "tanh": (-1, 1), "unit": (0, 1)}.get(normalization, (-2, 2))
    assert target.numpy().min() >= low and target.numpy().max() <= high


def test_regression_normalization_values():
    ab = tf.constant([[-150.0, -100.0], [0.0, 150.0]])
    np.testing.assert_allclose(regression_codec("sigmoid").encode(ab), [[0, 0], [0.5, 1]])
    np.testing.assert_allclose(
        regression_codec("sigmoid").decode(regression_codec("sigmoid").encode(ab)),
        [[-100, -100], [0, 100]],  # clipped beyond +-100
    )
    np.testing.assert_allclose(regression_codec("tanh").encode(ab), ab.numpy() / 128)
    np.testing.assert_allclose(regression_codec("unit").encode(ab), (ab.numpy() + 128) / 255)
    # Zhang et al. 2017's regression: ab / 110 (their ab_norm), decoded back exactly.
    np.testing.assert_allclose(regression_codec("tanh110").encode(ab), ab.numpy() / 110)
    np.testing.assert_allclose(regression_codec("tanh110").decode([[1.0, -0.5]]), [[110, -55]])
    # A linear head can overshoot; decoding keeps ab inside [-128, 127].
    np.testing.assert_allclose(regression_codec("unit").decode([[-0.5, 2.0]]), [[-128, 127]])


def test_regression_loss_and_metric():
    codec = regression_codec("tanh")
    y_true = tf.zeros([2, 2, 2, 2])
    y_pred = tf.concat([tf.fill([1, 2, 2, 2], 0.5), tf.zeros([1, 2, 2, 2])], axis=0)
    np.testing.assert_allclose(codec.loss(y_true, tf.cast(y_pred, tf.float16)), [0.25, 0.0])
    (metric,) = codec.metrics()
    assert metric.name == "ab_mae"
    metric.update_state(y_true, y_pred)
    np.testing.assert_allclose(metric.result().numpy(), 0.5 * 128 / 2)  # half the pixels off
    metric.reset_state()
    metric.update_state(y_true, y_pred, sample_weight=tf.constant([1.0, 0.0]))
    np.testing.assert_allclose(metric.result().numpy(), 64.0)
    assert codec.metrics()[0] is not metric


def test_ab_mae_checks_its_normalization_and_round_trips():
    with pytest.raises(ValueError, match="normalization='relu'"):
        codecs.AbMeanAbsoluteError(normalization="relu")
    metric = codecs.AbMeanAbsoluteError(normalization="unit", name="mae")
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(metric))
    assert type(restored) is codecs.AbMeanAbsoluteError
    assert (
        restored.get_config()
        == metric.get_config()
        == {
            "normalization": "unit",
            "name": "mae",
            "dtype": "float32",
        }
    )
    # Per-pixel weights: only the weighted pixel counts. unit: ab = 255 out - 128.
    y_true = tf.zeros([1, 1, 2, 2])
    y_pred = tf.constant([[[[0.2, 0.2], [0.4, 0.4]]]])
    metric.update_state(y_true, y_pred, sample_weight=tf.constant([[[0.0, 1.0]]]))
    np.testing.assert_allclose(metric.result().numpy(), 0.4 * 255, rtol=1e-6)
