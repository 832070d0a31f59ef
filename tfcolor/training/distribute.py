"""Distribution strategies: one device, several GPUs, several machines, a TPU.

`TrainConfig.strategy` names one:

- `auto`: `multi_worker` when TF_CONFIG describes a cluster of more than one task,
  `mirrored` with more than one GPU, else TensorFlow's default strategy (one device, no
  distribution overhead).
- `one_device`: `OneDeviceStrategy` on the first GPU (or the CPU).
- `mirrored`: `MirroredStrategy`, one replica per GPU of this machine (without GPUs: per
  logical CPU device, one unless the CPU was split with
  `tf.config.set_logical_device_configuration`).
- `multi_worker`: `MultiWorkerMirroredStrategy`, one process per machine, the cluster and this
  process's task read from the TF_CONFIG environment variable; the replicas are every
  machine's GPUs (or CPUs).
- `tpu`: `TPUStrategy` on the TPU that `TPUClusterResolver` finds (TPU_NAME, or the TPU VM it
  runs on); made only when asked for.

The batch size of a config (`data.batch_size`) is the GLOBAL batch: one training step sees that
many images (video: streams) over all replicas, and each replica gets
`batch_size / num_replicas_in_sync` of them; a batch size that does not divide evenly is an
error. `distribute_input_fn` feeds an `input_fn` per input pipeline (one per worker) with
`Strategy.distribute_datasets_from_function`:

- an input_fn with an `input_context` parameter (a `tf.distribute.InputContext`, as the
  Estimator's) is called once per worker and returns per-replica batches
  (`input_context.get_per_replica_batch_size(global_batch)`) of its own shard
  (`input_pipeline_id` of `num_input_pipelines`): `input_pipeline.image_input_fn` is
  tfcolor's own;
- an input_fn without one returns global batches; each worker keeps its share of every
  global batch's rows, and each replica a contiguous slice of `batch_size / replicas` rows
  (`input_pipeline.sharding.split_global_batches`). The recurrent video models take this
  path, so that a stream is always on the same replica, which keeps its state.

A TF_CONFIG that is set must describe a valid cluster (`cluster_from_tf_config` states the
rules), whatever the strategy: a malformed one is a ValueError naming the problem, never a
silent run on one device.

Only the chief (`is_chief`) writes the run's files: checkpoints, backups, TensorBoard logs,
the export. The other workers write their copies of what involves every worker (the weights
files, the export: reading distributed variables can need collective ops) into a temporary
folder (`scratch_dir`) that is removed afterwards, the pattern TensorFlow's multi-worker
guide prescribes. Give every worker the same model_dir on a shared file system (GCS, NFS): a
resumed run's workers all restore the chief's backup, and a worker that cannot see it would
start from other weights than the chief's.

Keras 3.15's `fit` under tf.distribute needs three mends, made here: its pre-fit build
(`prepare_model`), the length of a distributed dataset (`distribute_input_fn`), and its
per-step log reduction on a multi-worker cluster (`prepare_model`); each names its Keras or
TensorFlow issue.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import tensorflow as tf

from tfcolor.config import STRATEGIES
from tfcolor.input_pipeline import repeat_epochs
from tfcolor.input_pipeline.sharding import global_step_rows, split_global_batches

__all__ = [
    "STRATEGIES",
    "DistributedInput",
    "check_batch_size",
    "cluster_from_tf_config",
    "distribute_input_fn",
    "is_chief",
    "is_default",
    "make_strategy",
    "prepare_model",
    "scratch_dir",
    "takes_input_context",
]

# One strategy per kind and process: MultiWorkerMirroredStrategy configures the process's
# collective ops and a TPU system is initialized once, so every Colorizer of a process shares
# them.
_STRATEGIES: dict[str, tf.distribute.Strategy] = {}


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """The distribution strategy named `name` (see the module's docstring), made once per process.

    Make it before anything else runs TensorFlow ops: `MultiWorkerMirroredStrategy` must
    configure the process's collective ops before TensorFlow initializes its runtime.

    Raises:
        ValueError: an unknown name, or a TF_CONFIG that is set but not a valid cluster.
        RuntimeError: `tpu` without a reachable TPU, or `multi_worker` made too late, with
            what to do.
    """
    if name not in STRATEGIES:
        raise ValueError(
            f"strategy must be one of {', '.join(STRATEGIES)}. Received: strategy={name!r}"
        )
    cluster_from_tf_config()  # a malformed TF_CONFIG is an error whatever the strategy
    if name == "auto":
        name = _auto_strategy_name()
    if name not in _STRATEGIES:
        _STRATEGIES[name] = _create(name)
    return _STRATEGIES[name]


def _auto_strategy_name() -> str:
    if _cluster_tasks() > 1:
        return "multi_worker"
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return "mirrored"
    return "default"


def _cluster_tasks() -> int:
    """The chief and worker tasks that TF_CONFIG names (0 without TF_CONFIG)."""
    cluster = (cluster_from_tf_config() or {}).get("cluster", {})
    return sum(len(cluster.get(kind, [])) for kind in ("chief", "worker"))


def cluster_from_tf_config() -> dict | None:
    """The TF_CONFIG environment variable, checked; None where it is unset or blank.

    The rules (those of TensorFlow's `TFConfigClusterResolver`, made strict): a JSON object
    with a `cluster` object that maps each job name (`chief`, `worker`, `ps`, `evaluator`...)
    to a list of distinct "host:port" strings (port 1-65535), and a `task` object whose `type`
    is one of the cluster's jobs, with a non-empty list, and whose `index` is an integer (or
    an integer string such as "0", read with `int()` as TensorFlow does) in the range of that
    job's list. An `evaluator` task needs no job in the cluster (it runs beside it, as in
    TensorFlow's `multi_worker_util`). Other jobs may have empty lists. Other keys
    (`rpc_layer`, `environment`) are left to TensorFlow.

    Raises:
        ValueError: the first rule TF_CONFIG breaks, with what it holds.
    """
    text = os.environ.get("TF_CONFIG")
    if text is None or not text.strip():
        return None
    shown = " ".join(text.split())
    shown = shown if len(shown) <= 80 else shown[:77] + "..."

    def bad(problem: str) -> ValueError:
        return ValueError(f"TF_CONFIG is not a valid cluster: {problem}. Received: {shown}")

    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise bad(f"invalid JSON ({error.msg} at character {error.pos})") from None
    if not isinstance(value, dict):
        raise bad(f"expected a JSON object, got {type(value).__name__}")
    cluster = value.get("cluster")
    if not isinstance(cluster, dict) or not cluster:
        raise bad('"cluster" must be an object of job name -> list of "host:port"')
    for job, addresses in cluster.items():
        if not isinstance(addresses, list):
            raise bad(f'cluster job "{job}" must be a list of "host:port"')
        for address in addresses:
            if not _host_port(address):
                raise bad(f'cluster job "{job}" has {address!r}, not a "host:port" string')
        if len(set(addresses)) != len(addresses):
            raise bad(f'cluster job "{job}" names an address twice')
    task = value.get("task")
    if not isinstance(task, dict):
        raise bad('"task" must be an object with "type" and "index"')
    task_type, index = task.get("type"), task.get("index", 0)
    if task_type == "evaluator" and task_type not in cluster:
        # TensorFlow's evaluator runs beside the cluster, not in it.
        if not any(cluster.values()):
            raise bad('"cluster" must name at least one "host:port"')
        if isinstance(index, bool) or not _integer(index):
            raise bad(f"task index {index!r} is not an integer")
        return value
    if task_type not in cluster:
        raise bad(f"task type {task_type!r} is not a job of the cluster ({', '.join(cluster)})")
    if not cluster[task_type]:
        raise bad(f'cluster job "{task_type}" of this task must be a non-empty list of "host:port"')
    if isinstance(index, bool) or not _integer(index):
        raise bad(f"task index {index!r} is not an integer")
    index = int(index)
    if not 0 <= index < len(cluster[task_type]):
        raise bad(
            f'task index {index} is out of range: job "{task_type}" has '
            f"{len(cluster[task_type])} task(s)"
        )
    return value


def _integer(value) -> bool:
    """Whether `value` is an int or a string that `int()` reads (TensorFlow reads the task
    index so)."""
    if isinstance(value, int):
        return True
    if isinstance(value, str):
        try:
            int(value)
        except ValueError:
            return False
        return True
    return False


def _host_port(address) -> bool:
    """Whether `address` is a "host:port" string (IPv6 hosts in brackets)."""
    if not isinstance(address, str) or ":" not in address:
        return False
    host, port = address.rsplit(":", 1)
    return bool(host.strip()) and " " not in address and port.isdigit() and 0 < int(port) < 65536


def _create(name: str) -> tf.distribute.Strategy:
    # Physical devices only, before the strategy exists: listing logical devices starts
    # TensorFlow's runtime, after which MultiWorkerMirroredStrategy can no longer start.
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(
            "/gpu:0" if tf.config.list_physical_devices("GPU") else "/cpu:0"
        )
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if name == "multi_worker":
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except (RuntimeError, ValueError) as error:
            raise RuntimeError(
                "could not start MultiWorkerMirroredStrategy; it must be made before TensorFlow "
                "runs anything in the process, from a TF_CONFIG naming this process's task "
                f"({error})"
            ) from error
    return _tpu_strategy()


def _tpu_strategy() -> tf.distribute.Strategy:
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as error:
        raise RuntimeError(
            "--strategy tpu found no TPU: run on a Cloud TPU VM, or set TPU_NAME to the TPU's "
            f"name or grpc:// address ({type(error).__name__}: {error})"
        ) from error


def is_default(strategy: tf.distribute.Strategy) -> bool:
    """Whether `strategy` is TensorFlow's default (no distribution)."""
    return type(strategy).__name__ == "_DefaultDistributionStrategy"


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's files: True but on a multi-worker cluster's
    non-chief workers (the chief is task `chief`, or `worker` 0 of a cluster without one)."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    resolver = strategy.cluster_resolver
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type in (None, "chief"):
        return True
    return task_type == "worker" and task_id == 0 and "chief" not in resolver.cluster_spec().jobs


@contextlib.contextmanager
def scratch_dir(strategy: tf.distribute.Strategy) -> Iterator[str | None]:
    """None on the chief; on another worker a temporary folder, removed when the block ends.

    A non-chief worker writes there what every worker must write alike (weights, exports),
    so that nothing it writes lands in the run's model_dir.
    """
    if is_chief(strategy):
        yield None
        return
    folder = tempfile.mkdtemp(prefix="tfcolor-worker-")
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def check_batch_size(global_batch_size: int, strategy: tf.distribute.Strategy) -> int:
    """The per-replica batch size of a global batch size.

    Raises:
        ValueError: the global batch does not split evenly over the replicas.
    """
    replicas = strategy.num_replicas_in_sync
    if global_batch_size % replicas:
        raise ValueError(
            "batch_size is the global batch, split evenly over the "
            f"{replicas} replicas of the {type(strategy).__name__}: it must be a multiple of "
            f"{replicas}. Received: batch_size={global_batch_size}"
        )
    return global_batch_size // replicas


def takes_input_context(input_fn: Callable) -> bool:
    """Whether `input_fn` has an `input_context` parameter (it then builds per-replica batches
    of its own shard)."""
    try:
        return "input_context" in inspect.signature(input_fn).parameters
    except (TypeError, ValueError):
        return False


@dataclasses.dataclass(frozen=True)
class DistributedInput:
    """What `distribute_input_fn` returns.

    Attributes:
        dataset: the `tf.distribute.DistributedDataset`; each step gives every replica its
            own batch.
        element_spec: the structure of `tf.TensorSpec`s of one replica's batch.
        steps_per_epoch: global steps in one pass over the data, where that is known; the
            dataset then repeats without end, and `fit` must get this as its
            `steps_per_epoch` (see `distribute_input_fn`). None: the dataset ends after one
            pass.
    """

    dataset: Any
    element_spec: Any
    steps_per_epoch: int | None


def distribute_input_fn(
    strategy: tf.distribute.Strategy,
    input_fn: Callable,
    steps_per_epoch: int | None = None,
    expected_steps: int | None = None,
    skip_steps: int = 0,
) -> DistributedInput:
    """`input_fn`'s batches over the strategy's replicas.

    Where the steps of a pass over the data are known (`steps_per_epoch`, the cardinality
    of `input_fn`'s dataset, or `expected_steps`), the data repeat and `fit` runs exactly that many
    steps per epoch: Keras 3.15 would otherwise take TensorFlow's count of per-replica
    batches for the count of steps, and the step that finds a distributed iterator exhausted
    still runs the ops that do not read the batch (measured: the optimizer's step counter
    gained one per epoch; Keras' loss tracker counted a batch too many where the batch size
    is static). Where they are not known, the dataset ends after one pass (with that step
    counter caveat), its batch dimension left open so that the epoch's metrics stay right.

    Args:
        strategy: the distribution strategy.
        input_fn: `input_fn(input_context)` returning this input pipeline's per-replica batches,
            or `input_fn()` returning global batches (split with `split_global_batches`).
        steps_per_epoch: the global steps of an epoch, if the caller sets them.
        expected_steps: the global steps of one pass over the data where the dataset's
            cardinality is unknown and the caller knows them.
        skip_steps: global steps the data leave out first (a resumed epoch's trained steps).

    Returns:
        A `DistributedInput`.
    """
    found = []

    def dataset_fn(input_context):
        replicas, local, _ = global_step_rows(input_context)
        if takes_input_context(input_fn):
            dataset = input_fn(input_context=input_context)
            steps = _cardinality(dataset, per_step=local)
        else:
            dataset = input_fn()
            steps = _cardinality(dataset, per_step=1)
            dataset = split_global_batches(dataset, input_context)
        # The rule of one-device training: repeated where an epoch's steps are known.
        dataset, steps = repeat_epochs(dataset, steps_per_epoch or steps, expected_steps)
        if skip_steps:
            dataset = dataset.skip(skip_steps * local)  # a step takes one batch per replica
        if not steps:
            dataset = _unknown_length(_open_batch_dimension(dataset))
        found.append((dataset.element_spec, steps))
        return dataset

    dataset = strategy.distribute_datasets_from_function(dataset_fn)
    element_spec, steps = found[0]
    return DistributedInput(dataset, element_spec, steps)


def _cardinality(dataset: tf.data.Dataset, per_step: int) -> int | None:
    """Steps in a dataset of `per_step` elements a step; None where unknown."""
    count = int(dataset.cardinality())
    return count // per_step if count > 0 else None


def prepare_model(model, element_spec) -> None:
    """Readies a compiled model for `fit` and `evaluate` under its distribution strategy.

    Two steps of Keras 3.15's TensorFlow trainer fail under a distribution strategy, and this
    replaces them for this model (call it after each `compile`):

    - Keras builds the loss and metrics state from a real batch that it takes from the
      iterator and averages over the replicas (`Trainer._maybe_symbolic_build`): the average
      fails under MultiWorkerMirroredStrategy (keras-team/keras#20585, "Attempt to convert a
      value (PerReplica...)"), and with `steps_per_epoch` the batch it took is lost to
      training (keras-team/keras#20394). Here Keras' own symbolic build runs from
      `element_spec` (the batch dimension left open) in the strategy's scope instead.
    - On a multi-worker cluster Keras averages each step's scalar logs over the replicas along
      an axis 0 they do not have (tensorflow/tensorflow#72388, "Invalid reduction dimension 0
      for input with 0 dimensions"). Here a step's logs get that axis (shape [1]), which the
      average then removes.

    Args:
        model: a compiled Keras model, built in the strategy's scope.
        element_spec: the structure of `tf.TensorSpec`s of the batches (a dataset's
            `element_spec`).
    """
    strategy = model.distribute_strategy
    batch = tf.nest.map_structure(
        lambda spec: tf.TensorSpec([None, *spec.shape[1:]], spec.dtype), element_spec
    )

    def symbolic_build(iterator=None, data_batch=None):
        del iterator, data_batch  # never a real batch
        with strategy.scope():
            model._symbolic_build(data_batch=batch)

    model._maybe_symbolic_build = symbolic_build
    if (
        isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        and len(strategy.extended.worker_devices) < strategy.num_replicas_in_sync
    ):
        # The class's method: a second call (evaluate after train) must not wrap the wrapper.
        metrics_result = type(model).get_metrics_result.__get__(model)

        def step_logs():
            logs = metrics_result()
            if not tf.distribute.has_strategy() or tf.distribute.in_cross_replica_context():
                return logs  # not a replica's step: the epoch's logs, read after the steps
            return tf.nest.map_structure(
                lambda value: tf.reshape(value, [1]) if value.shape.rank == 0 else value, logs
            )

        model.get_metrics_result = step_logs


def _open_batch_dimension(dataset: tf.data.Dataset) -> tf.data.Dataset:
    # The same batches with their batch dimension left open (None) in the element spec. When
    # the data runs out, a distributed iterator's last `get_next` fails inside the step, and
    # the step's ops that do not read the batch run anyway: with a static batch size,
    # `tf.shape(batch)[0]` is such a constant, and Keras' loss tracker counted one batch too
    # many (measured: the epoch's loss off by 6/7 under MirroredStrategy).
    def open_batch(*element):
        element = element[0] if len(element) == 1 else element
        return tf.nest.map_structure(
            lambda tensor: tf.raw_ops.PlaceholderWithDefault(
                input=tensor, shape=[None, *tensor.shape[1:]]
            ),
            element,
        )

    return dataset.map(open_batch)


def _unknown_length(dataset: tf.data.Dataset) -> tf.data.Dataset:
    # A filter that keeps everything: the dataset's cardinality becomes unknown, so Keras counts
    # an epoch's steps as it runs them instead of taking the per-replica batch count.
    return dataset.filter(lambda *_: True)
