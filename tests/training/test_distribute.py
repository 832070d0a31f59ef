"""Distribution strategies: MirroredStrategy over two logical CPU devices trains as one device
does (images and the video trainer's per-stream state), the global batch splits as documented,
and MultiWorkerMirroredStrategy with two worker processes trains while only the chief writes.

The strategies run in subprocesses: logical devices must be made before TensorFlow starts, and
MultiWorkerMirroredStrategy before it runs anything.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import REPO, run_python
from tfcolor.training import distribute

# --- in-process: the pieces --------------------------------------------------------------


def test_strategy_names_are_checked_and_tpu_is_made_only_when_asked():
    with pytest.raises(ValueError, match="Received: strategy='gpus'"):
        distribute.make_strategy("gpus")
    # No TPU here: a clear error, not a hang or a TensorFlow traceback.
    with pytest.raises(RuntimeError, match="found no TPU.*TPU_NAME"):
        distribute.make_strategy("tpu")
    strategy = distribute.make_strategy("auto")  # one CPU: TensorFlow's default strategy
    assert distribute.is_default(strategy) and distribute.is_chief(strategy)
    assert strategy.num_replicas_in_sync == 1


def test_the_global_batch_must_split_over_the_replicas():
    strategy = distribute.make_strategy("auto")
    assert distribute.check_batch_size(32, strategy) == 32

    class FourReplicas:
        num_replicas_in_sync = 4

    with pytest.raises(ValueError, match="multiple of 4. Received: batch_size=30"):
        distribute.check_batch_size(30, FourReplicas())


@pytest.mark.reliability
def test_a_resumed_epoch_skips_its_trained_steps_and_the_next_starts_whole():
    # 5 steps an epoch; a backup after step 2: the rest of that epoch, then whole epochs.
    strategy = distribute.make_strategy("auto")
    batches = tf.data.Dataset.range(10).batch(2)
    for input_fn in (lambda: batches, lambda input_context: batches):
        rest = distribute.distribute_input_fn(strategy, input_fn, 5, skip_steps=2)
        firsts = [int(batch[0]) for batch, _ in zip(rest.dataset, range(6), strict=False)]
        assert rest.steps_per_epoch == 5
        assert firsts == [4, 6, 8, 0, 2, 4]


def test_train_flags_set_precision_and_strategy():
    from tfcolor.cli import train

    args = train.build_parser().parse_args(
        ["--mixed-precision", "bfloat16", "--strategy", "mirrored"]
    )
    config = train.config_from_args(args)
    assert (config.train.mixed_precision, config.train.strategy) == ("bfloat16", "mirrored")
    defaults = train.config_from_args(train.build_parser().parse_args([]))
    assert (defaults.train.mixed_precision, defaults.train.strategy) == ("auto", "auto")
    with pytest.raises(SystemExit):
        train.build_parser().parse_args(["--strategy", "horovod"])


# --- MirroredStrategy over two logical CPUs, against one device ----------------------------

MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, os, shutil, sys
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    import keras
    from tests.helpers import small_config, smoke_preset
    from tests.video_helpers import moving_shapes, write_clip
    from tfcolor.training import distribute, open_run
    from tfcolor.training.colorizer import Colorizer

    out_dir = sys.argv[1]
    report = {}


    class StepLosses(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.means = []

        def on_train_batch_end(self, batch, logs=None):
            self.means.append(float(logs["loss"]))


    def run(config, name, codec_from=None, **train_args):
        model_dir = os.path.join(out_dir, name)
        if codec_from is not None:  # the first run's fitted codec: one fit fewer
            shutil.copytree(codec_from, model_dir)
        colorizer = open_run(model_dir, config)  # a VideoColorizer for the video runs
        recorder = StepLosses()
        history = colorizer.train(verbose=0, callbacks=[recorder], **train_args)
        return colorizer, {
            "replicas": colorizer.strategy.num_replicas_in_sync,
            "steps": recorder.means,
            "history": {key: list(map(float, value)) for key, value in history.items()},
            "iterations": int(colorizer.model.optimizer.iterations.numpy()),
        }


    # Images: the shapes U-Net, global batch 16, its own input pipeline.
    for strategy in ("auto", "mirrored"):
        config = small_config(epochs=2, steps_per_epoch=5, panel_images=0, metric_images=0)
        config.data.batch_size = 16
        config.train.lr_schedule = "constant"
        config.train.strategy = strategy
        codec_from = os.path.join(out_dir, "codec") if strategy == "mirrored" else None
        colorizer, report["image_" + strategy] = run(config, "image_" + strategy, codec_from)
        if codec_from is None:
            os.makedirs(os.path.join(out_dir, "codec"))
            for name in ("codec.json", "codec_state.npz"):
                shutil.copy(os.path.join(colorizer.model_dir, name), os.path.join(out_dir, "codec"))

    # The split: each replica's batch is half of the one-device global batch, in order.
    distributed = distribute.distribute_input_fn(colorizer.strategy, colorizer._training_input_fn())
    first = next(iter(distributed.dataset))[0]
    halves = colorizer.strategy.experimental_local_results(first)
    whole = next(iter(colorizer._training_input_fn()()))[0]
    report["split"] = {
        "shapes": [list(half.shape) for half in halves],
        "equal": bool(np.array_equal(np.concatenate(halves), whole.numpy())),
        "steps_per_epoch": distributed.steps_per_epoch,
    }
    seen = []

    def input_fn(input_context):
        seen.append(
            [input_context.num_replicas_in_sync, input_context.get_per_replica_batch_size(16)]
        )
        return tf.data.Dataset.from_tensors(
            (tf.zeros([8, 32, 32, 1]), tf.zeros([8, 32, 32], tf.int32))
        ).repeat(2)

    distribute.distribute_input_fn(colorizer.strategy, input_fn)
    report["input_context"] = seen
    odd = small_config(strategy="mirrored")
    odd.data.batch_size = 15
    try:
        Colorizer(odd, os.path.join(out_dir, "odd")).train(verbose=0)
    except ValueError as error:
        report["odd_batch"] = str(error)

    # Video: 2 streams, one per replica, state carried from chunk to chunk.
    clips = os.path.join(out_dir, "clips")
    os.makedirs(clips)
    for index, frames in enumerate((12, 9, 16, 10)):
        write_clip(os.path.join(clips, f"clip{index}.mp4"), moving_shapes(frames, 24, 32, index))
    for strategy in ("auto", "mirrored"):
        config = smoke_preset("convlstm", epochs=2, learning_rate=3e-3, strategy=strategy)
        config.data.source = "video:" + clips
        config.data.validation_fraction = 0.3
        config.model.filters = (4, 8)
        colorizer, report["video_" + strategy] = run(config, "video_" + strategy)
        states = colorizer.model.stream_states("train")
        report["video_" + strategy]["states"] = {k: v.tolist() for k, v in states.items()}
        variable = colorizer.model._states["train"]["state_h"]
        report["video_" + strategy]["state_parts"] = [
            list(part.shape) for part in colorizer.strategy.experimental_local_results(variable)
        ]
    with open(os.path.join(out_dir, "report.json"), "w") as f:
        json.dump(report, f)
    """
)


@pytest.fixture(scope="module")
def mirrored_report(tmp_path_factory):
    """One subprocess with two logical CPUs: image and video runs, one device and mirrored."""
    folder = tmp_path_factory.mktemp("mirrored")
    script = folder / "mirrored.py"
    script.write_text(MIRRORED_SCRIPT)
    result = run_python([str(script), str(folder)], timeout=300, env={"PYTHONPATH": REPO})
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads((folder / "report.json").read_text())


# Tolerance: per-replica batch norm statistics (8 images instead of 16) and the summation
# order of the gradients' all-reduce; measured differences stay below 2e-3 on losses near 3.2.
LOSS_TOLERANCE = 1e-2


def test_mirrored_training_follows_the_one_device_loss_curve(mirrored_report):
    one, two = mirrored_report["image_auto"], mirrored_report["image_mirrored"]
    assert (one["replicas"], two["replicas"]) == (1, 2)
    assert len(one["steps"]) == len(two["steps"]) == 10
    np.testing.assert_allclose(two["steps"], one["steps"], atol=LOSS_TOLERANCE)
    for key in ("loss", "val_loss", "bin_accuracy"):
        np.testing.assert_allclose(two["history"][key], one["history"][key], atol=LOSS_TOLERANCE)
    assert one["steps"][-1] < one["steps"][0]
    # Exactly the steps asked for: no step lost to Keras' pre-fit build, none added when the
    # data run out.
    assert one["iterations"] == two["iterations"] == 10


def test_mirrored_replicas_each_get_half_of_the_global_batch(mirrored_report):
    split = mirrored_report["split"]
    assert split["shapes"] == [[8, 32, 32, 1], [8, 32, 32, 1]]
    assert split["equal"]  # replica 0 the first 8 images of the global batch, replica 1 the rest
    assert split["steps_per_epoch"] == 2664 // 16  # shapes' training set in global batches
    assert mirrored_report["input_context"] == [[2, 8]]
    assert "multiple of 2. Received: batch_size=15" in mirrored_report["odd_batch"]


def test_mirrored_video_trainer_keeps_each_replicas_streams(mirrored_report):
    one, two = mirrored_report["video_auto"], mirrored_report["video_mirrored"]
    np.testing.assert_allclose(two["steps"], one["steps"], rtol=1e-3)
    np.testing.assert_allclose(two["history"]["loss"], one["history"]["loss"], rtol=1e-3)
    np.testing.assert_allclose(two["history"]["val_loss"], one["history"]["val_loss"], rtol=1e-3)
    # Each replica holds the state of its own stream (one of two), and together they are the
    # one-device run's states.
    assert one["state_parts"] == [[2, 12, 16, 8]]
    assert two["state_parts"] == [[1, 12, 16, 8], [1, 12, 16, 8]]
    for key in ("state_h", "state_c"):
        mirrored, single = np.asarray(two["states"][key]), np.asarray(one["states"][key])
        assert np.abs(single).max() > 1e-3
        np.testing.assert_allclose(mirrored, single, atol=1e-4)


# --- MultiWorkerMirroredStrategy: two worker processes --------------------------------------


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def test_multi_worker_training_writes_only_from_the_chief(tmp_path):
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    processes = []
    try:
        for index in range(2):
            scratch = tmp_path / f"tmp{index}"
            scratch.mkdir()
            env = dict(
                os.environ,
                TF_CPP_MIN_LOG_LEVEL="2",
                TMPDIR=str(scratch),  # where a worker's temporary copies go
                TF_CONFIG=json.dumps(
                    {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
                ),
            )
            args = [
                "--model-dir",
                str(tmp_path / f"worker{index}"),
                "--strategy",
                "multi_worker",
                "--epochs",
                "1",
                "--steps-per-epoch",
                "4",
                "--batch-size",
                "8",
                "--metric-images",
                "0",
                "--verbose",
                "0",
            ]
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "tfcolor.train", *args],
                    cwd=REPO,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        outputs = [process.communicate(timeout=240) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err[-4000:]
    chief, worker = (tmp_path / f"worker{index}" for index in range(2))
    assert {"config.json", "codec.json", "backup", "final.weights.h5", "logs", "export"} <= set(
        os.listdir(chief)
    )
    assert any(name.startswith("events") for name in os.listdir(chief / "logs" / "train"))
    (version,) = os.listdir(chief / "export")
    assert (chief / "export" / version / "saved_model.pb").exists()
    assert not worker.exists()  # the worker wrote nothing into its model_dir...
    assert not os.listdir(tmp_path / "tmp1")  # ...and removed its temporary copies
    # One model: both workers measured the same validation loss.
    validation = [
        next(line for line in out.splitlines() if line.startswith("validation:"))
        for out, _ in outputs
    ]
    assert validation[0] == validation[1]
    assert "exported: by the chief" in outputs[1][0]
