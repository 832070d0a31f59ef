"""tfcolor.color against scikit-image, eagerly, in tf.data and under XLA."""

import warnings

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


# --- gamut mapping -----------------------------------------------------------------------------

# L from near black to near white; every whole degree of hue; chroma beyond sRGB almost
# everywhere (150) and a moderate one (60) that fits at mid L and not at the ends.
GAMUT_LIGHTNESS = np.array([2.0, 10.0, 30.0, 50.0, 70.0, 90.0, 98.0])
HUES = np.deg2rad(np.arange(360.0))


def _hue_grid(chroma):
    """Lab [len(GAMUT_LIGHTNESS), 360, 3] (float64) at one chroma, and the hues [.., 360]."""
    lightness, hue = np.meshgrid(GAMUT_LIGHTNESS, HUES, indexing="ij")
    return np.stack([lightness, chroma * np.cos(hue), chroma * np.sin(hue)], axis=-1), hue


def _hue_error_degrees(lab, hue):
    return np.abs(np.rad2deg(np.angle(np.exp(1j * (np.arctan2(lab[..., 2], lab[..., 1]) - hue)))))


@pytest.mark.parametrize("chroma", [60.0, 150.0])
def test_chroma_mapping_keeps_lightness_and_hue_on_every_hue(chroma):
    lab, hue = _hue_grid(chroma)
    mapped = color.map_chroma_into_gamut(lab.astype(np.float32)).numpy().astype(np.float64)
    # In gamut by scikit-image's own matrices: its linear RGB, unclipped, within [0, 1].
    linear = skcolor.lab2xyz(mapped) @ skcolor.colorconv.rgb_from_xyz.T
    assert linear.min() >= -1e-4 and linear.max() <= 1 + 1e-4
    rgb = color.lab_to_rgb(lab.astype(np.float32), gamut="chroma").numpy()
    rendered = skcolor.rgb2lab(rgb.astype(np.float64))
    assert np.abs(rendered[..., 0] - lab[..., 0]).max() <= 0.5
    colourful = np.hypot(rendered[..., 1], rendered[..., 2]) > 1.0  # hue defined
    assert colourful.mean() > 0.9
    assert _hue_error_degrees(rendered, hue)[colourful].max() <= 1.0
    # The old per-channel clip moves L far more on the same colours: the test can fail.
    clipped = skcolor.rgb2lab(color.lab_to_rgb(lab.astype(np.float32), gamut="clip").numpy())
    assert np.abs(clipped[..., 0] - lab[..., 0]).max() > 5.0


def _largest_chroma_in_gamut(lab, samples=200, steps=30):
    """float64 [...]: the chroma where the line from the grey (L, 0, 0) to `lab` first leaves
    sRGB (scikit-image's linear RGB outside [-1e-5, 1 + 1e-5]), `lab`'s own where it does not:
    samples along the line, then bisection between the last one inside and the next."""

    def inside(scale):
        scaled = lab * np.stack([np.ones_like(scale), scale, scale], axis=-1)
        with warnings.catch_warnings():  # "Z < 0": clipped as the mapping clips it
            warnings.simplefilter("ignore")
            linear = skcolor.lab2xyz(scaled) @ skcolor.colorconv.rgb_from_xyz.T
        return np.all((linear >= -1e-5) & (linear <= 1 + 1e-5), axis=-1)

    low, high = np.zeros(lab.shape[:-1]), np.ones(lab.shape[:-1])
    left = np.zeros(lab.shape[:-1], bool)
    for scale in np.linspace(0.0, 1.0, samples + 1)[1:]:
        fits = inside(np.full(low.shape, scale))
        high = np.where(~left & ~fits, scale, high)
        left |= ~fits
        low = np.where(~left, scale, low)
    for _ in range(steps):
        middle = (low + high) / 2
        fits = inside(middle)
        low, high = np.where(fits, middle, low), np.where(fits, high, middle)
    return np.hypot(lab[..., 1], lab[..., 2]) * np.where(left, low, 1.0)


@pytest.mark.parametrize("chroma", [60.0, 150.0, 300.0])
def test_chroma_mapping_keeps_the_largest_chroma_in_gamut(chroma):
    lab, _ = _hue_grid(chroma)
    mapped = color.map_chroma_into_gamut(lab.astype(np.float32)).numpy().astype(np.float64)
    shortfall = _largest_chroma_in_gamut(lab) - np.hypot(mapped[..., 1], mapped[..., 2])
    # The bisection's resolution, 135 / 2^9 = 0.26 of chroma whatever the chroma asked for
    # (a visible difference is about 2).
    assert shortfall.max() <= 0.3


def test_chroma_mapping_leaves_in_gamut_colours_unchanged(random_rgb):
    lab = skcolor.rgb2lab(random_rgb).astype(np.float32)
    np.testing.assert_array_equal(color.map_chroma_into_gamut(lab).numpy(), lab)
    rgb = color.lab_to_rgb(lab, gamut="chroma").numpy()
    np.testing.assert_allclose(rgb, skcolor.lab2rgb(lab.astype(np.float64)), atol=1e-4)
    np.testing.assert_array_equal(rgb, color.lab_to_rgb(lab, gamut="clip").numpy())


def test_chroma_mapping_in_xla_shapes_and_dtypes():
    lab, _ = _hue_grid(150.0)
    eager = color.lab_from_parts(lab[..., :1] / 100.0, lab[..., 1:]).numpy()
    xla = tf.function(color.lab_from_parts, jit_compile=True)
    # One bisection step apart at most where XLA rounds a boundary test the other way.
    np.testing.assert_allclose(
        xla(tf.constant(lab[..., :1] / 100.0, tf.float32), tf.constant(lab[..., 1:], tf.float32)),
        eager,
        atol=2e-3,
    )
    half = color.lab_to_rgb(tf.constant(lab[:2, :5], tf.float16), gamut="chroma")
    assert half.dtype == tf.float32 and half.shape == (2, 5, 3)
    with pytest.raises(ValueError, match="gamut"):
        color.lab_to_rgb(lab, gamut="hue")


def test_searching_only_the_colours_outside_gives_the_same_values(random_rgb):
    grid, _ = _hue_grid(150.0)
    inside = skcolor.rgb2lab(random_rgb[:500])
    lab = np.concatenate([grid.reshape(-1, 3), inside]).astype(np.float32).reshape(2, -1, 5, 3)
    searched = color.map_chroma_into_gamut(lab, only_outside=True)
    assert searched.shape == lab.shape
    np.testing.assert_array_equal(searched.numpy(), color.map_chroma_into_gamut(lab).numpy())
    empty = np.zeros((0, 4, 3), np.float32)
    assert color.lab_to_rgb(empty, gamut="chroma", only_outside=True).shape == (0, 4, 3)
