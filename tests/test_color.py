"""tfcolor.color against scikit-image, eagerly, in tf.data and under XLA."""

import numpy as np
import pytest
import tensorflow as tf
from skimage import color as skcolor

from tfcolor import color

# 0.05 in L, a and b: far below a visible difference (a just noticeable one is about 1-2).
LAB_TOLERANCE = 0.05

CUBE_CORNERS = np.array([[(i >> 2) & 1, (i >> 1) & 1, i & 1] for i in range(8)], np.float64)


@pytest.fixture(scope="module")
def random_rgb():
    """100,000 random colours and the 8 corners of the RGB cube, float64 [N, 3] in [0, 1]."""
    rng = np.random.default_rng(0)
    return np.concatenate([rng.random((100_000, 3)), CUBE_CORNERS])


def test_rgb_to_lab_matches_skimage(random_rgb):
    lab = color.rgb_to_lab(random_rgb)
    assert lab.dtype == tf.float32
    np.testing.assert_allclose(lab.numpy(), skcolor.rgb2lab(random_rgb), atol=LAB_TOLERANCE)


def test_cube_corners_golden_values():
    lab = color.rgb_to_lab(CUBE_CORNERS).numpy()
    np.testing.assert_allclose(lab[0], [0.0, 0.0, 0.0], atol=1e-4)  # black
    np.testing.assert_allclose(lab[7], [100.0, 0.0, 0.0], atol=0.01)  # white
    np.testing.assert_allclose(lab, skcolor.rgb2lab(CUBE_CORNERS), atol=LAB_TOLERANCE)


def test_lab_to_rgb_matches_skimage(random_rgb):
    lab = skcolor.rgb2lab(random_rgb)
    rgb = color.lab_to_rgb(lab.astype(np.float32))
    assert rgb.dtype == tf.float32
    np.testing.assert_allclose(rgb.numpy(), skcolor.lab2rgb(lab), atol=1e-4)


def test_lab_to_rgb_clips_out_of_gamut():
    lab = np.array([[50.0, 120.0, -120.0], [100.0, -128.0, 127.0], [0.0, 0.0, -127.0]])
    rgb = color.lab_to_rgb(lab.astype(np.float32)).numpy()
    assert np.all(rgb >= 0.0) and np.all(rgb <= 1.0)
    np.testing.assert_allclose(rgb, skcolor.lab2rgb(lab), atol=1e-4)


def test_round_trip_within_one_level(random_rgb):
    rgb = color.lab_to_rgb(color.rgb_to_lab(random_rgb)).numpy()
    np.testing.assert_allclose(rgb, random_rgb, atol=1.0 / 255.0)


def test_lightness_normalization_is_inverse():
    lightness = tf.constant([0.0, 25.0, 100.0])
    normalized = color.normalize_lightness(lightness)
    np.testing.assert_allclose(normalized.numpy(), [0.0, 0.25, 1.0])
    np.testing.assert_allclose(color.denormalize_lightness(normalized).numpy(), lightness.numpy())


def test_lightness_and_ab_and_recombination():
    rng = np.random.default_rng(1)
    rgb = rng.random((2, 4, 5, 3)).astype(np.float32)
    lightness, ab = color.lightness_and_ab(rgb)
    assert lightness.shape == (2, 4, 5, 1) and ab.shape == (2, 4, 5, 2)
    assert lightness.dtype == tf.float32 and ab.dtype == tf.float32
    reference = skcolor.rgb2lab(rgb.astype(np.float64))
    np.testing.assert_allclose(lightness.numpy()[..., 0], reference[..., 0] / 100.0, atol=1e-3)
    np.testing.assert_allclose(ab.numpy(), reference[..., 1:], atol=LAB_TOLERANCE)
    np.testing.assert_allclose(color.lab_from_parts(lightness, ab).numpy(), rgb, atol=1 / 255)


@pytest.mark.parametrize("shape", [(3,), (7, 3), (2, 4, 5, 3), (2, 3, 4, 5, 3)])
def test_shapes_preserved(shape):
    rgb = np.random.default_rng(2).random(shape).astype(np.float32)
    lab = color.rgb_to_lab(rgb)
    assert lab.shape == shape
    assert color.lab_to_rgb(lab).shape == shape


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float_dtypes_accepted(dtype):
    rgb = np.random.default_rng(3).random((16, 3)).astype(dtype)
    lab = color.rgb_to_lab(rgb)
    assert lab.dtype == tf.float32
    # Compared with skimage on the values actually received (float16 rounds the input).
    reference = skcolor.rgb2lab(rgb.astype(np.float64))
    np.testing.assert_allclose(lab.numpy(), reference, atol=LAB_TOLERANCE)


def test_integer_input_rejected():
    with pytest.raises(TypeError, match="uint8"):
        color.rgb_to_lab(np.zeros((2, 3), np.uint8))


def test_same_values_in_tf_data_and_xla_as_eager():
    rgb = np.random.default_rng(4).random((6, 8, 8, 3)).astype(np.float32)
    eager_lightness, eager_ab = color.lightness_and_ab(rgb)
    eager_rgb = color.lab_from_parts(eager_lightness, eager_ab)

    dataset = tf.data.Dataset.from_tensor_slices(rgb).map(color.lightness_and_ab).batch(6)
    data_lightness, data_ab = next(iter(dataset))
    np.testing.assert_allclose(data_lightness.numpy(), eager_lightness.numpy(), atol=1e-5)
    np.testing.assert_allclose(data_ab.numpy(), eager_ab.numpy(), atol=1e-4)

    @tf.function(jit_compile=True)
    def round_trip(images):
        lightness, ab = color.lightness_and_ab(images)
        return lightness, ab, color.lab_from_parts(lightness, ab)

    xla_lightness, xla_ab, xla_rgb = round_trip(tf.constant(rgb))
    np.testing.assert_allclose(xla_lightness.numpy(), eager_lightness.numpy(), atol=1e-5)
    np.testing.assert_allclose(xla_ab.numpy(), eager_ab.numpy(), atol=1e-3)
    np.testing.assert_allclose(xla_rgb.numpy(), eager_rgb.numpy(), atol=1e-5)


def test_gradients_are_finite():
    # Black and white sit on both sides of the piecewise curves' switch points.
    rgb = tf.constant(np.concatenate([CUBE_CORNERS, [[0.5, 0.2, 0.9]]]), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(rgb)
        total = tf.reduce_sum(color.lab_to_rgb(color.rgb_to_lab(rgb)))
    assert np.all(np.isfinite(tape.gradient(total, rgb).numpy()))
