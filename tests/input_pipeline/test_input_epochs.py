"""Training epochs from one iterator (`input_pipeline.repeat_epochs`): each pass still one epoch."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfcolor import input_pipeline
from tfcolor.config import get_preset

# 2,664 shapes training images = 111 full batches of 24: every pass holds every image.
BATCH = 24
STEPS = 2664 // BATCH


def _epochs(dataset, steps, count=2):
    """Per epoch, a fingerprint per image (its lightness and ab sums), in the order served."""
    batches = list(dataset.take(count * steps).as_numpy_iterator())
    epochs = []
    for epoch in range(count):
        prints = []
        for lightness, ab in batches[epoch * steps : (epoch + 1) * steps]:
            prints.extend(
                zip(
                    np.round(lightness.sum(axis=(1, 2, 3)), 2),
                    np.round(ab.sum(axis=(1, 2, 3)), 1),
                    strict=True,
                )
            )
        epochs.append(prints)
    return epochs


def _shapes_data(augment: bool):
    data = get_preset("unet_shapes").data
    data.batch_size, data.augment = BATCH, augment
    return data


def test_each_repeated_pass_is_one_epoch_of_every_image_in_a_new_order():
    once = input_pipeline.make_dataset(_shapes_data(augment=False), None, training=True)
    repeated, steps = input_pipeline.repeat_epochs(once)
    assert steps == STEPS == int(once.cardinality())
    first, second = _epochs(repeated, steps)
    (one_pass,) = _epochs(once, steps, count=1)
    assert sorted(first) == sorted(second) == sorted(one_pass)
    assert first != second  # reshuffled


def test_each_repeated_pass_is_augmented_anew():
    once = input_pipeline.make_dataset(_shapes_data(augment=True), None, training=True)
    repeated, steps = input_pipeline.repeat_epochs(once)
    first, second = _epochs(repeated, steps)
    # New flips, rotations and zooms each epoch: the epochs' images are not the same set.
    assert len(set(first) & set(second)) < len(first) // 2


def test_repeat_epochs_only_where_an_epoch_has_known_steps():
    finite = tf.data.Dataset.range(6)
    repeated, steps = input_pipeline.repeat_epochs(finite)
    assert steps == 6 and repeated.cardinality() == tf.data.INFINITE_CARDINALITY
    assert list(repeated.take(8).as_numpy_iterator()) == [0, 1, 2, 3, 4, 5, 0, 1]
    # The caller's steps win over the cardinality.
    assert input_pipeline.repeat_epochs(finite, steps_per_epoch=4)[1] == 4
    unknown = finite.filter(lambda value: value % 2 == 0)
    assert input_pipeline.repeat_epochs(unknown) == (unknown, None)
    counted, steps = input_pipeline.repeat_epochs(unknown, expected_steps=3)
    assert steps == 3 and list(counted.take(4).as_numpy_iterator()) == [0, 2, 4, 0]
    endless = finite.repeat()
    assert input_pipeline.repeat_epochs(endless) == (endless, None)
    assert input_pipeline.repeat_epochs(endless, 5) == (endless, 5)


def test_an_empty_dataset_is_not_repeated():
    empty = tf.data.Dataset.range(0)
    assert input_pipeline.repeat_epochs(empty) == (empty, None)
