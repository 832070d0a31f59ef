"""`make_dataset(..., true_ab=True)`: the images' own ab beside the codec's target, on every
path (kept in memory or decoded each epoch, augmented or not), for the WGAN critic."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfcolor import codecs, color, input_pipeline
from tfcolor.config import CodecConfig, DataConfig
from tfcolor.input_pipeline import images, shapes

BATCH = 8
STRIDE = 2  # the target pooled, the true ab not


@pytest.fixture(scope="module")
def reference():
    """The shapes training images' normalized lightness [N, 1024] and ab [N, 32, 32, 2]."""
    rgb = tf.image.convert_image_dtype(shapes.shapes_images("train"), tf.float32)
    lightness, ab = color.lightness_and_ab(rgb)
    return lightness.numpy().reshape(len(rgb), -1), ab.numpy()


def _codec():
    return codecs.make_codec(CodecConfig(name="grid", n_bins=36))


def _check_colors_encode_ab(codec, colors, ab):
    pooled = tf.nn.avg_pool2d(ab, STRIDE, STRIDE, "VALID")
    expected = codec.encode(pooled).numpy()
    assert colors.shape == expected.shape == (BATCH, 16, 16)
    # XLA's fused encoding may put ab on the other side of a bin edge where float rounding
    # lands it there (2 pixels per million, `inputs_and_targets`).
    assert np.mean(colors != expected) < 1e-3


@pytest.mark.parametrize("augment", [False, True], ids=["plain", "augmented"])
@pytest.mark.parametrize("cached", [True, False], ids=["in memory", "decoded each epoch"])
def test_true_ab_is_the_lab_of_the_served_images(reference, monkeypatch, augment, cached):
    if not cached:
        monkeypatch.setattr(images, "_CACHE_BUDGET_BYTES", 0)
    if augment:  # the augmentation's place kept, the images left as they are, to match them
        monkeypatch.setattr(images, "_augment_compiled", lambda lab, seed: lab)
    data = DataConfig(source="shapes", batch_size=BATCH, augment=augment, seed=3)
    codec = _codec()
    dataset = input_pipeline.make_dataset(
        data, codec, training=True, target_stride=STRIDE, true_ab=True
    )
    reference_lightness, reference_ab = reference
    for lightness, targets in dataset.take(2).as_numpy_iterator():
        assert set(targets) == {"colors", "ab"}
        ab = targets["ab"]
        assert ab.dtype == np.float32 and ab.shape == (BATCH, 32, 32, 2)
        # Which training images the (shuffled) batch holds, from their lightness.
        distance = np.abs(lightness.reshape(BATCH, 1, -1) - reference_lightness[None]).max(-1)
        index = distance.argmin(axis=1)
        assert distance.min(axis=1).max() < 1e-3
        # The augmented path keeps Lab as float16 in memory: 0.03 of ab at most.
        np.testing.assert_allclose(ab, reference_ab[index], atol=0.05 if augment else 1e-3)
        _check_colors_encode_ab(codec, targets["colors"], ab)


def test_augmented_true_ab_moves_with_the_lightness():
    """Flipped, rotated and zoomed, the ab still lies on the same pixels as its lightness: the
    shapes' pixels are one of 10 Lab colours (9 and black), up to the resampled edges."""
    palette_rgb = np.array(
        [(0, 0, 0), *[rgb for kind in shapes.COLORS.values() for rgb in kind]], np.float32
    )
    palette = color.rgb_to_lab(tf.constant(palette_rgb / 255)).numpy()  # [10, 3]
    data = DataConfig(source="shapes", batch_size=BATCH, augment=True, seed=3)
    codec = _codec()
    dataset = input_pipeline.make_dataset(
        data, codec, training=True, target_stride=STRIDE, true_ab=True
    )

    def on_palette(lightness, ab):
        lab = np.concatenate([100 * lightness, ab], axis=-1).reshape(-1, 1, 3)
        return np.mean(np.linalg.norm(lab - palette[None], axis=-1).min(axis=-1) < 3.0)

    for lightness, targets in dataset.take(2).as_numpy_iterator():
        _check_colors_encode_ab(codec, targets["colors"], targets["ab"])
        # The batch's ab with the lightness of the next image in the batch fall off the
        # palette: the check tells aligned pixels from misaligned ones.
        aligned = on_palette(lightness, targets["ab"])
        misaligned = on_palette(lightness, np.roll(targets["ab"], 1, axis=0))
        # Measured: 0.90-0.91 aligned (the resampled edges are off), 0.53-0.59 misaligned.
        assert aligned > 0.8 and misaligned < aligned - 0.2, (aligned, misaligned)


@pytest.mark.parametrize("training", [True, False])
def test_true_ab_with_class_labels(training):
    data = DataConfig(source="shapes", batch_size=BATCH)
    lightness, targets = next(
        iter(
            input_pipeline.make_dataset(
                data,
                _codec(),
                training=training,
                class_names=("red", "green", "blue"),
                true_ab=True,
            )
        )
    )
    assert set(targets) == {"colors", "ab", "class_logits"}
    assert targets["ab"].shape == (BATCH, 32, 32, 2) and targets["class_logits"].shape == (BATCH,)
    if not training:  # a fixed order: the first validation images
        rgb = tf.image.convert_image_dtype(shapes.shapes_images("validation")[:BATCH], tf.float32)
        np.testing.assert_allclose(targets["ab"], color.lightness_and_ab(rgb)[1], atol=1e-3)


def test_without_true_ab_the_target_is_the_codecs_alone():
    data = DataConfig(source="shapes", batch_size=BATCH)
    _, target = next(iter(input_pipeline.make_dataset(data, _codec(), training=False)))
    assert isinstance(target, tf.Tensor) and target.shape == (BATCH, 32, 32)
