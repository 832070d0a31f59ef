"""`tfcolor.benchmarks.timing`: how the benchmarks count images, frames and others' CPU."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfcolor.benchmarks import timing


def test_images_per_second_runs_epoch_after_epoch():
    dataset = tf.data.Dataset.from_tensor_slices(np.zeros((10, 2), np.float32)).batch(4)  # 4+4+2
    assert timing.images_per_second(dataset, 25) > 0
    # Tuples count their first element's batch.
    pairs = tf.data.Dataset.from_tensor_slices((np.zeros((6, 2)), np.zeros(6))).batch(3)
    assert timing.images_per_second(pairs, 3) > 0


def test_epochs_start_a_new_iterator_where_one_ends():
    epochs = timing.Epochs(tf.data.Dataset.range(3))
    assert [int(epochs.next()) for _ in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    counted = []

    def count(batch):
        counted.append(int(batch))
        return 2.0

    assert timing.frames_per_second(epochs, 4, count) > 0
    assert counted == [1, 2, 0, 1]  # the same iterator carries on


def test_cpu_seconds():
    seconds = timing.cpu_seconds()
    if seconds is not None:  # None only without /proc/stat
        busy, own = seconds
        assert busy > 0 and own > 0


def test_alternating_rounds_rotate_the_order_and_keep_medians():
    calls = []
    rates = {"a": iter([1.0, 5.0, 3.0]), "b": iter([2.0, 2.0, 9.0]), "c": iter([4.0, 4.0, 4.0])}
    figures = {name: lambda name=name: calls.append(name) or next(rates[name]) for name in rates}
    medians, others = timing.alternating_rounds(figures, 3)
    assert calls == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert medians == {"a": 3.0, "b": 2.0, "c": 4.0}
    assert others is None or others >= 0.0
