"""The thesis's synthetic shapes data."""

from __future__ import annotations

import numpy as np

from tfcolor.input_pipeline import shapes


def test_split_sizes_shape_and_dtype():
    train = shapes.shapes_images("train")
    validation = shapes.shapes_images("validation")
    assert train.shape == (2664, 32, 32, 3)
    assert validation.shape == (324, 32, 32, 3)
    assert train.dtype == np.uint8 and validation.dtype == np.uint8


def test_deterministic_and_splits_differ():
    first = shapes.shapes_images("train")
    shapes._generate.cache_clear()
    second = shapes.shapes_images("train")
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first[:324], shapes.shapes_images("validation"))


def test_black_background_is_the_majority_of_every_image():
    images = shapes.shapes_images("train")
    black_share = np.all(images == 0, axis=-1).mean(axis=(1, 2))
    assert black_share.min() > 0.5


def test_exactly_the_nine_colours_and_black():
    images = shapes.shapes_images("train")
    packed = images.reshape(-1, 3).astype(np.int32) @ np.array([1 << 16, 1 << 8, 1])
    present = {(c >> 16, (c >> 8) & 255, c & 255) for c in np.unique(packed).tolist()}
    expected = {tuple(c) for palette in shapes.COLORS.values() for c in palette}
    assert len(expected) == 9
    assert present == expected | {(0, 0, 0)}


def test_every_image_shows_colour_from_each_shape_kind_mostly():
    # Shapes may overlap, but nearly every image shows each of its three shapes.
    images = shapes.shapes_images("validation")
    for palette in shapes.COLORS.values():
        shown = np.zeros(len(images), bool)
        for colour in palette:
            shown |= np.all(images == colour, axis=-1).any(axis=(1, 2))
        assert shown.mean() > 0.9


def test_unknown_split():
    import pytest

    with pytest.raises(ValueError, match="test"):
        shapes.shapes_images("test")
