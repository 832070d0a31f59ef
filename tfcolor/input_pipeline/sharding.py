"""Each input pipeline's share of the data under a distribution strategy.

A strategy of R replicas over P input pipelines (one per worker) reads data one of two ways
(`tfcolor.training.distribute.distribute_input_fn` picks by the input_fn's signature):

- per-replica batches, built by every pipeline alike (the same seed), of which each keeps its
  own replicas' batches of every global step (`pipeline_share`; `image_input_fn` is the image
  models' input_fn built so);
- global batches, of which each replica takes a contiguous slice of rows
  (`split_global_batches`): a row, a recurrent video model's stream, stays on one replica.

Every worker reads and decodes the whole data and keeps its share: correct and simple;
sharding the sources by `input_pipeline_id` would spare the other workers' decoding.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import tensorflow as tf

from tfcolor.input_pipeline.images import make_input_fn

__all__ = ["global_step_rows", "image_input_fn", "pipeline_share", "split_global_batches"]


def global_step_rows(input_context: tf.distribute.InputContext) -> tuple[int, int, int]:
    """(replicas, this pipeline's replicas, its first replica) of `input_context`.

    Raises:
        ValueError: the replicas do not split evenly over the input pipelines.
    """
    replicas = input_context.num_replicas_in_sync
    pipelines = input_context.num_input_pipelines
    if replicas % pipelines:
        raise ValueError(
            f"{replicas} replicas do not split over {pipelines} input pipelines evenly"
        )
    local = replicas // pipelines
    return replicas, local, input_context.input_pipeline_id * local


def split_global_batches(
    dataset: tf.data.Dataset, input_context: tf.distribute.InputContext
) -> tf.data.Dataset:
    """Global batches -> this input pipeline's per-replica batches, in replica order.

    Every pipeline builds the same global batches; replica r (over all workers) gets rows
    [r * B / R, (r + 1) * B / R) of each (B the global batch, R the replicas), so a row
    position, a video stream, stays on one replica. The pipeline yields, per global batch, the
    slices of its own replicas in turn, as `distribute_datasets_from_function` hands them out.

    Raises:
        ValueError: a static batch size that the replicas do not divide (a dynamic one fails
            when it is read).
    """
    replicas, local, first = global_step_rows(input_context)
    if replicas == 1:
        return dataset
    batch = tf.nest.flatten(dataset.element_spec)[0].shape[0]
    if batch is not None and batch % replicas:
        raise ValueError(
            f"the global batch of {batch} does not split evenly over {replicas} replicas"
        )
    rows = -1 if batch is None else batch // replicas

    def per_replica(tensor):
        shape = tf.shape(tensor)
        tf.debugging.assert_equal(
            shape[0] % replicas, 0, "the global batch must split evenly over the replicas"
        )
        grouped = tf.reshape(tensor, tf.concat([[replicas, rows], shape[1:]], axis=0))
        return grouped[first : first + local]

    def slices(*element):
        element = element[0] if len(element) == 1 else element
        return tf.data.Dataset.from_tensor_slices(tf.nest.map_structure(per_replica, element))

    return dataset.flat_map(slices)


def pipeline_share(
    dataset: tf.data.Dataset, input_context: tf.distribute.InputContext
) -> tf.data.Dataset:
    """A sequence of per-replica batches -> this input pipeline's share of it.

    Every pipeline builds the same sequence (the same seed); global step s takes the R
    batches [s * R, (s + 1) * R) (R replicas), and this pipeline keeps those of its own
    replicas. Every pipeline thus has the same number of steps (a last incomplete step is
    dropped), and a run's global batches hold the same images in the same order on any
    number of replicas and workers.
    """
    replicas, local, first = global_step_rows(input_context)
    if replicas == 1:
        return dataset
    steps = dataset.batch(replicas, drop_remainder=True)

    def mine(*element):
        element = element[0] if len(element) == 1 else element
        return tf.nest.map_structure(lambda tensor: tensor[first : first + local], element)

    shared = steps.map(mine).unbatch()
    count = int(steps.cardinality())
    if count >= 0:  # unbatch forgets it
        shared = shared.apply(tf.data.experimental.assert_cardinality(count * local))
    return shared


def image_input_fn(data, codec, *, target_stride: int = 1, class_names=None) -> Callable:
    """The training input_fn of image models, built per input pipeline.

    `input_fn(input_context=None)` builds `make_dataset`'s training batches at the
    per-replica batch size (`data.batch_size` / replicas) and keeps this pipeline's share
    (`pipeline_share`). Without a context (one device) it is `make_input_fn(data, ...)()`
    unchanged.
    """

    def input_fn(input_context: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
        context = input_context or tf.distribute.InputContext()
        per_replica = context.get_per_replica_batch_size(data.batch_size)
        per_replica_data = dataclasses.replace(data, batch_size=per_replica)
        dataset = make_input_fn(
            per_replica_data,
            codec,
            training=True,
            target_stride=target_stride,
            class_names=class_names,
        )()
        return pipeline_share(dataset, context)

    return input_fn
