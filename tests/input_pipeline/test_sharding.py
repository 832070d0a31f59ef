"""Each input pipeline's share of the data: global batches split row-wise over the replicas,
per-replica batches shared step by step between the pipelines, the image models' input_fn."""

from __future__ import annotations

import pytest
import tensorflow as tf

from tfcolor import input_pipeline
from tfcolor.config import get_preset
from tfcolor.input_pipeline import sharding


def _rows(dataset):
    return [element.numpy().tolist() for element in dataset]


def test_global_batches_split_rowwise_into_each_pipelines_replicas():
    # 2 workers x 2 replicas: global batches of 8 rows; replica r gets rows [2r, 2r + 2).
    batches = tf.data.Dataset.range(24).batch(8)
    for pipeline, expected in ((0, [[0, 1], [2, 3]]), (1, [[4, 5], [6, 7]])):
        context = tf.distribute.InputContext(2, pipeline, 4)
        rows = _rows(sharding.split_global_batches(batches, context))
        assert rows[:2] == expected
        assert len(rows) == 6  # 3 global batches, 2 replicas of this pipeline each


def test_per_replica_batches_are_shared_step_by_step_between_pipelines():
    # Per-replica batches 0, 1, 2, ... of 2 rows; a global step takes 4 of them (2 workers x 2
    # replicas); worker 1 keeps the 3rd and 4th of each step; the incomplete last step is
    # dropped on every worker alike.
    per_replica = tf.data.Dataset.range(22).batch(2, drop_remainder=True)  # 11 batches
    shares = [
        _rows(sharding.pipeline_share(per_replica, tf.distribute.InputContext(2, pipeline, 4)))
        for pipeline in (0, 1)
    ]
    assert shares[0] == [[0, 1], [2, 3], [8, 9], [10, 11]]
    assert shares[1] == [[4, 5], [6, 7], [12, 13], [14, 15]]
    context = tf.distribute.InputContext(2, 0, 4)
    assert int(sharding.pipeline_share(per_replica, context).cardinality()) == 4


def test_global_step_rows_names_each_pipelines_replicas():
    # 4 replicas over 2 pipelines: pipeline 1 holds replicas 2 and 3.
    assert sharding.global_step_rows(tf.distribute.InputContext(2, 1, 4)) == (4, 2, 2)
    assert sharding.global_step_rows(tf.distribute.InputContext()) == (1, 1, 0)
    with pytest.raises(ValueError, match="3 replicas do not split over 2 input pipelines"):
        sharding.global_step_rows(tf.distribute.InputContext(2, 0, 3))


def test_image_input_fn_builds_per_replica_batches_of_its_own_share():
    data = get_preset("unet_shapes").data
    data.batch_size, data.augment = 8, False
    input_fn = input_pipeline.image_input_fn(data, None)
    assert input_pipeline.image_input_fn is sharding.image_input_fn
    alone = input_fn()  # one device: make_input_fn's batches unchanged
    lightness, _ = next(iter(alone))
    assert lightness.shape[0] == 8
    # 2 pipelines x 2 replicas: per-replica batches of 8 / 4, a quarter of the global steps.
    shared = input_fn(input_context=tf.distribute.InputContext(2, 1, 4))
    lightness, ab = next(iter(shared))
    assert lightness.shape[0] == 2 and ab.shape[-1] == 2
    # Each global step of 8 images: 4 per-replica batches, 2 of them this pipeline's.
    assert int(alone.cardinality()) > 0
    assert int(shared.cardinality()) == 2 * int(alone.cardinality())
