"""Per-example transforms: eager and inside tf.data give the same values."""

from __future__ import annotations

import io

import numpy as np
import pytest
import tensorflow as tf

from tfcolor.input_pipeline import transforms


def _in_tf_data(function, *args):
    dataset = tf.data.Dataset.from_tensors(args).map(function)
    return next(iter(dataset))


@pytest.fixture(scope="module")
def astronaut():
    import skimage.data

    return skimage.data.astronaut()[::4, ::4]  # 128 x 128 x 3


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_to_rgb_channels_and_dtypes(astronaut, channels, dtype):
    gray = astronaut[..., :1]
    layouts = {
        1: gray,
        2: np.concatenate([gray, np.full_like(gray, 7)], -1),
        3: astronaut,
        4: np.concatenate([astronaut, np.full_like(gray, 7)], -1),
    }
    image = layouts[channels].astype(dtype) * (257 if dtype == np.uint16 else 1)
    expected = (astronaut if channels >= 3 else np.repeat(gray, 3, -1)) / 255.0
    static = transforms.to_rgb(image)
    # Unknown channel count, as tf.io.decode_image gives.
    dynamic = tf.function(
        transforms.to_rgb, input_signature=[tf.TensorSpec([None, None, None], tf.as_dtype(dtype))]
    )(image)
    for rgb in (static, dynamic):
        assert rgb.dtype == tf.float32 and rgb.shape == (128, 128, 3)
        np.testing.assert_allclose(rgb.numpy(), expected, atol=1e-6)


def test_to_rgb_batch_and_float():
    batch = tf.random.uniform([2, 5, 6, 1])
    rgb = transforms.to_rgb(batch)
    assert rgb.shape == (2, 5, 6, 3)
    np.testing.assert_allclose(rgb[..., 2], batch[..., 0])
    with pytest.raises(ValueError, match="channels"):
        transforms.to_rgb(tf.zeros([4, 4, 5], tf.uint8))


def test_resize_and_crop_shape_range_and_centre(astronaut):
    wide = np.concatenate([np.zeros((128, 64, 3), np.uint8), astronaut, astronaut[:, :64]], 1)
    out = transforms.resize_and_crop(wide, 64)
    assert out.shape == (64, 64, 3) and out.dtype == tf.float32
    assert 0.0 <= float(tf.reduce_min(out)) and float(tf.reduce_max(out)) <= 1.0
    # The centre square of the wide image is the astronaut.
    reference = tf.image.resize(astronaut / 255.0, [64, 64], antialias=True)
    np.testing.assert_allclose(out.numpy(), reference.numpy(), atol=1e-5)
    # Same size: unchanged.
    same = transforms.resize_and_crop(astronaut, 128)
    np.testing.assert_allclose(same.numpy(), astronaut / 255.0, atol=1e-7)


def test_resize_and_crop_eager_equals_tf_data(astronaut):
    image = tf.constant(astronaut[:100])
    eager = transforms.resize_and_crop(image, 32)
    graph = _in_tf_data(lambda x: transforms.resize_and_crop(x, 32), image)
    np.testing.assert_array_equal(eager.numpy(), graph.numpy())


def _encode(image, fmt):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_decode_and_resize_matches_plain_decode(photos, fmt):
    # china.jpg is 427 x 640: at size 48 the JPEG is decoded at 1/8 scale, cropped.
    contents = _encode(photos["china"], fmt)
    eager = transforms.decode_and_resize(contents, 48)
    graph = _in_tf_data(lambda c: transforms.decode_and_resize(c, 48), tf.constant(contents))
    assert eager.shape == (48, 48, 3) and eager.dtype == tf.float32
    np.testing.assert_array_equal(eager.numpy(), graph.numpy())
    plain = transforms.resize_and_crop(tf.io.decode_image(contents, expand_animations=False), 48)
    # Scaled JPEG decoding is a different downscaler (and its 1/8-scale grid is offset by up to
    # a quarter of an output pixel on this detailed photo): close, not equal (measured 0.022).
    tolerance = 0.03 if fmt == "JPEG" else 1e-6
    assert float(tf.reduce_mean(tf.abs(eager - plain))) < tolerance


def test_decode_and_crop_window_is_in_scaled_pixels(photos):
    contents = _encode(photos["china"], "JPEG")
    full = tf.io.decode_jpeg(contents, ratio=2)  # 214 x 320
    cropped = tf.io.decode_and_crop_jpeg(contents, [0, 53, 214, 214], ratio=2)
    np.testing.assert_array_equal(full[:, 53 : 53 + 214].numpy(), cropped.numpy())


def test_truncated_jpeg_fails_even_at_one_eighth_scale(photos):
    contents = _encode(photos["china"], "JPEG")
    for cut in (len(contents) - 100, len(contents) // 2):
        with pytest.raises(tf.errors.InvalidArgumentError):
            tf.io.decode_jpeg(contents[:cut], ratio=8, dct_method="INTEGER_FAST")


def test_augment_keeps_shape_range_and_is_seeded(astronaut):
    batch = tf.constant(np.stack([astronaut, astronaut[::-1]]) / 255.0, tf.float32)
    seed = tf.constant([3, 4], tf.int64)
    out = transforms.augment_batch(batch, seed)
    assert out.shape == batch.shape and out.dtype == tf.float32
    assert 0.0 <= float(tf.reduce_min(out)) and float(tf.reduce_max(out)) <= 1.0
    np.testing.assert_array_equal(out.numpy(), transforms.augment_batch(batch, seed).numpy())
    other = transforms.augment_batch(batch, tf.constant([5, 6], tf.int64))
    assert not np.allclose(out.numpy(), other.numpy())
    assert not np.allclose(out.numpy(), batch.numpy())
    graph = _in_tf_data(transforms.augment_batch, batch, seed)
    np.testing.assert_allclose(graph.numpy(), out.numpy(), atol=1e-6)


def test_augment_draws_cover_the_thesis_ranges():
    transform = transforms._augment_transforms(4000, 32, 32, tf.constant([1, 2]))
    a0, a1, b0, b1 = (transform[:, i].numpy() for i in (0, 1, 3, 4))
    # Columns of R diag(sx, sy) / zoom: |det| = 1 / zoom^2, zoom in [0.7, 1.3].
    zoom = 1.0 / np.sqrt(np.abs(a0 * b1 - a1 * b0))
    assert 0.7 - 1e-4 <= zoom.min() < 0.75 and 1.25 < zoom.max() <= 1.3 + 1e-4
    flipped = a0 * b1 - a1 * b0 < 0  # one flip (not both) reverses orientation
    assert 0.4 < flipped.mean() < 0.6


def test_gray_filter(astronaut):
    colour = tf.constant(astronaut / 255.0, tf.float32)
    gray = tf.image.grayscale_to_rgb(tf.image.rgb_to_grayscale(colour))
    assert bool(transforms.is_colorful(colour, 1.0))
    assert not bool(transforms.is_colorful(gray, 1.0))
    flags = transforms.is_colorful(tf.stack([gray, colour]), 1.0)
    np.testing.assert_array_equal(flags.numpy(), [False, True])
    graph = _in_tf_data(lambda x: transforms.is_colorful(x, 1.0), gray)
    assert not bool(graph)
