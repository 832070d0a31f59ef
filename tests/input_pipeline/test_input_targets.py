"""Targets for reduced-resolution heads and for classification heads."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfcolor import codecs, input_pipeline
from tfcolor.config import CodecConfig, DataConfig
from tfcolor.input_pipeline import shapes


def test_shapes_labels_are_the_rectangle_colours():
    images = shapes.shapes_images("validation")
    labels = shapes.shapes_labels("validation")
    assert labels.shape == (324,) and set(labels) == set(shapes.CLASS_NAMES)
    # The rectangle is drawn first: its colour is the most frequent of the three rectangle
    # colours in the image (circles and triangles have other colours).
    palette = np.asarray(shapes.COLORS["rectangle"])
    for image, label in zip(images[:50], labels[:50], strict=True):
        counts = [np.all(image == colour, axis=-1).sum() for colour in palette]
        assert shapes.CLASS_NAMES[int(np.argmax(counts))] == label


def test_label_names_of_each_source(photo_folder):
    assert input_pipeline.label_names(DataConfig(source="shapes")) == ("red", "green", "blue")
    folder = DataConfig(source=f"folder:{photo_folder}")
    names = input_pipeline.label_names(folder)
    assert names == tuple(sorted(names)) and {"animals", "places"} <= set(names)
    assert input_pipeline.label_names(DataConfig(source="shapes", classes=("a", "b"))) == (
        "a",
        "b",
    )


def test_label_names_without_labels_is_a_clear_error(tmp_path):
    from PIL import Image

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "only.png")
    with pytest.raises(ValueError, match="at least two classes"):
        input_pipeline.label_names(DataConfig(source=f"folder:{tmp_path}"))


@pytest.mark.parametrize("training", [True, False])
def test_classification_targets_carry_class_indices(training):
    data = DataConfig(source="shapes", batch_size=16)
    codec = codecs.make_codec(CodecConfig(name="grid", n_bins=36))
    dataset = input_pipeline.make_dataset(
        data, codec, training=training, class_names=("red", "green", "blue")
    )
    lightness, targets = next(iter(dataset))
    assert set(targets) == {"colors", "class_logits"}
    assert targets["colors"].shape == (16, 32, 32) and targets["class_logits"].shape == (16,)
    split = "train" if training else "validation"
    names = ("red", "green", "blue")
    expected = np.array([names.index(name) for name in shapes.shapes_labels(split)])
    if not training:  # a fixed order: the first labels of the validation split
        np.testing.assert_array_equal(targets["class_logits"], expected[:16])
    else:  # shuffled: each label must still travel with its own image
        from tfcolor import color

        truth = color.lightness_and_ab(tf.constant(shapes.shapes_images(split)) / 255)[0]
        truth = truth.numpy().reshape(len(expected), -1)
        for lightness, batch_targets in dataset.take(3):
            flat = lightness.numpy().reshape(len(lightness), -1)
            distance = np.abs(flat[:, None, :] - truth[None]).max(axis=-1)
            index = distance.argmin(axis=1)
            assert distance.min(axis=1).max() < 1e-3  # each input is one training image
            np.testing.assert_array_equal(batch_targets["class_logits"], expected[index])


def test_images_of_other_labels_are_left_out():
    data = DataConfig(source="shapes", batch_size=512)
    dataset = input_pipeline.make_dataset(data, None, training=False, class_names=("red", "green"))
    labels = np.concatenate([targets["class_logits"] for _, targets in dataset])
    expected = np.isin(shapes.shapes_labels("validation"), ("red", "green")).sum()
    assert len(labels) == expected and set(labels) == {0, 1}


@pytest.mark.parametrize("stride", [2, 4])
def test_target_stride_average_pools_ab(stride):
    data = DataConfig(source="shapes", batch_size=8)
    full = next(iter(input_pipeline.make_dataset(data, None, training=False)))
    pooled = next(
        iter(input_pipeline.make_dataset(data, None, training=False, target_stride=stride))
    )
    np.testing.assert_array_equal(full[0], pooled[0])  # the input keeps its resolution
    ab = full[1].numpy()
    expected = ab.reshape(8, 32 // stride, stride, 32 // stride, stride, 2).mean(axis=(2, 4))
    assert pooled[1].shape == (8, 32 // stride, 32 // stride, 2)
    np.testing.assert_allclose(pooled[1], expected, atol=1e-3)
    # And the codec encodes the pooled ab.
    codec = codecs.make_codec(CodecConfig(name="grid", n_bins=324))
    encoded = next(
        iter(input_pipeline.make_dataset(data, codec, training=False, target_stride=stride))
    )[1]
    np.testing.assert_array_equal(encoded, codec.encode(tf.constant(expected)))
