import keras
import numpy as np
import pytest
import skimage.color
import tensorflow as tf

from tfcolor.models import BroadcastConcatenate, LightnessToRGB, Resize, ResizeLike, apply_fusion
from tfcolor.models.blocks import BatchNormalization, PointwiseDense, apply_conv_block


def test_broadcast_concatenate_puts_the_vector_at_every_position():
    local = np.full((1, 2, 3, 1), 7.0, "float32")
    vector = np.array([[1.0, 2.0]], "float32")
    fused = np.asarray(BroadcastConcatenate()([local, vector]))
    assert fused.shape == (1, 2, 3, 3)
    np.testing.assert_array_equal(fused, np.broadcast_to([7.0, 1.0, 2.0], (1, 2, 3, 3)))


def test_broadcast_concatenate_keeps_each_sample_its_own_vector():
    local = np.zeros((2, 4, 5, 3), "float32")
    vector = np.array([[1.0], [-1.0]], "float32")
    fused = np.asarray(BroadcastConcatenate()([local, vector]))
    np.testing.assert_array_equal(fused[0, ..., 3], np.ones((4, 5)))
    np.testing.assert_array_equal(fused[1, ..., 3], -np.ones((4, 5)))


def test_fusion_in_a_graph_of_unknown_size():
    local = keras.Input((None, None, 6))
    vector = keras.Input((4,))
    fused = apply_fusion(local, vector, filters=5, name="fusion")
    assert tuple(fused.shape) == (None, None, None, 5)
    model = keras.Model([local, vector], fused)
    out = model([np.ones((2, 3, 7, 6), "float32"), np.ones((2, 4), "float32")])
    assert tuple(out.shape) == (2, 3, 7, 5) and float(np.min(out)) >= 0.0
    # concat (6 + 4 channels) -> 1x1 conv to 5, with bias.
    assert model.count_params() == (6 + 4) * 5 + 5


def test_resize_like_takes_the_reference_size_and_keeps_equal_sizes():
    images = np.random.default_rng(0).random((2, 4, 6, 3)).astype("float32")
    resized = ResizeLike()([images, np.zeros((2, 9, 13, 1), "float32")])
    assert tuple(resized.shape) == (2, 9, 13, 3)
    same = ResizeLike()([images, np.zeros((2, 4, 6, 1), "float32")])
    np.testing.assert_allclose(same, images, atol=1e-6)


def test_resize_to_a_fixed_size_round_trips_its_config():
    layer = Resize(5, 7, name="rescale")
    images = np.random.default_rng(0).random((2, 10, 3, 1)).astype("float32")
    assert tuple(layer(images).shape) == (2, 5, 7, 1)
    clone = Resize.from_config(layer.get_config())
    assert (clone.height, clone.width, clone.name) == (5, 7, "rescale")
    np.testing.assert_allclose(Resize(10, 3)(images), images, atol=1e-6)


@pytest.mark.parametrize("lightness", [0.0, 0.25, 0.5, 1.0])
def test_lightness_to_rgb_is_the_gray_of_that_lightness(lightness):
    rgb = np.asarray(LightnessToRGB()(np.full((1, 2, 2, 1), lightness, "float32")))
    expected = skimage.color.lab2rgb(np.array([[[100.0 * lightness, 0.0, 0.0]]])) * 255.0
    assert rgb.shape == (1, 2, 2, 3)
    np.testing.assert_allclose(rgb, np.broadcast_to(expected, rgb.shape), atol=0.05)


def _batch_norm_step(layer, x):
    """One training call: outputs, gradients (input, gamma, beta), moving statistics."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        # Channel-dependent weights, so the gradients are not all zero.
        loss = tf.reduce_sum(tf.cast(y, tf.float32) * tf.range(1.0, 6.0) * tf.cos(x))
    gradients = tape.gradient(loss, [x, layer.gamma, layer.beta])
    return [y, *gradients, layer.moving_mean, layer.moving_variance]


@pytest.mark.parametrize("policy", ["float32", "mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("center, scale", [(True, True), (False, True), (True, False)])
def test_fused_batch_norm_trains_as_the_stock_layer(policy, center, scale):
    x = tf.random.stateless_normal([4, 9, 7, 5], seed=[1, 2]) * 3.0 + 1.0
    kwargs = {"momentum": 0.9, "center": center, "scale": scale, "dtype": policy}
    stock, fused = keras.layers.BatchNormalization(**kwargs), BatchNormalization(**kwargs)
    for layer in (stock, fused):
        layer.build(x.shape)
    # Weights away from their initial values, the same in both.
    stock.set_weights([w + 0.3 * (i + 1) for i, w in enumerate(stock.get_weights())])
    fused.set_weights(stock.get_weights())
    if not center:
        stock.beta = fused.beta = tf.zeros([5])  # for the gradient list only: no variable
    if not scale:
        stock.gamma = fused.gamma = tf.ones([5])
    expected, got = _batch_norm_step(stock, x), _batch_norm_step(fused, x)
    assert got[0].dtype == expected[0].dtype == keras.mixed_precision.Policy(policy).compute_dtype
    tolerance = 1e-5 if policy == "float32" else 2e-2
    for name, a, b in zip(
        ["y", "dx", "dgamma", "dbeta", "mean", "variance"], expected, got, strict=True
    ):
        if a is None:
            assert b is None, name
            continue
        a, b = np.float32(a), np.float32(b)
        atol = tolerance * np.abs(a).max()
        np.testing.assert_allclose(b, a, rtol=tolerance, atol=atol, err_msg=name)
    # Inference is the stock layer's, with the statistics both updated.
    np.testing.assert_allclose(np.float32(fused(x)), np.float32(stock(x)), atol=tolerance)


def test_fused_batch_norm_falls_back_off_its_fused_case():
    # Rank 3, normalized over axis 1: the stock layer's path, same numbers.
    x = tf.random.stateless_normal([4, 6, 3], seed=[3, 4])
    stock, fused = keras.layers.BatchNormalization(axis=1), BatchNormalization(axis=1)
    np.testing.assert_allclose(fused(x, training=True), stock(x, training=True), atol=1e-6)
    np.testing.assert_allclose(fused.moving_variance, stock.moving_variance, atol=1e-7)


def test_conv_blocks_use_the_fused_batch_norm_and_it_round_trips():
    inputs = keras.Input([8, 8, 1])
    model = keras.Model(inputs, apply_conv_block(inputs, 4, name="block"))
    layer = model.get_layer("block_bn1")
    assert type(layer) is BatchNormalization
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is BatchNormalization and restored.get_config() == layer.get_config()


@pytest.mark.parametrize("shape", [(2, 5, 7, 6), (3, 6)])
def test_pointwise_dense_is_keras_dense(shape):
    x = tf.random.stateless_normal(shape, seed=[5, 6])
    stock, pointwise = keras.layers.Dense(4), PointwiseDense(4)
    stock.build(x.shape)
    pointwise.build(x.shape)
    stock.bias.assign([0.5, -1.0, 2.0, 0.0])
    pointwise.set_weights(stock.get_weights())
    results = []
    for layer in (stock, pointwise):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * tf.range(1.0, 5.0) * tf.sin(x[..., :1]))
        results.append([y, *tape.gradient(loss, [x, layer.kernel, layer.bias])])
    for expected, got in zip(*results, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_pointwise_dense_takes_any_spatial_size_and_round_trips():
    inputs = keras.Input([None, None, 3])
    model = keras.Model(inputs, PointwiseDense(2, name="head")(inputs))
    assert model(tf.zeros([1, 3, 5, 3])).shape == (1, 3, 5, 2)
    layer = model.get_layer("head")
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is PointwiseDense and restored.get_config() == layer.get_config()
