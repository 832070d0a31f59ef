import keras
import numpy as np
import pytest
import skimage.color

from tfcolor.models import BroadcastConcatenate, LightnessToRGB, Resize, ResizeLike, apply_fusion


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
