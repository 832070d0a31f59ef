"""tfcolor's 128x128 U-Net training against the same network in eager PyTorch, side by side.

The "Scale" target: the thesis U-Net (128x128, 324 grid bins, batch 16) trains at least 1.3x as
fast in tfcolor as in eager PyTorch, the seed thesis's framework. Both train on one synthetic
batch, repeated:

- tfcolor: the model, loss, metrics and `model.fit` of `python -m tfcolor.bench train --preset
  unet_128` (`build_model` + `compile_model`, the grid codec fitted on the batch, the batch made
  by the input pipeline's own `inputs_and_targets`), with XLA off and on (tfcolor trains with
  the faster one). One difference: tf.data's autotuning is off on the repeated batch (see
  `TfTrainer`).
- PyTorch: the same network written in `torch.nn` (per level two conv 3x3 + batch norm + ReLU,
  max-pool 2, a bottleneck block, transposed conv 3x3 stride 2 up, concat with the skip, a conv
  block, a 1x1 head to 324 logits), the same rebalanced per-pixel cross-entropy (the codec's
  class weights) on the same batch, Adam at the same rate, a standard eager step (zero_grad,
  forward, loss, backward, step), in contiguous (NCHW) and channels-last memory format.
  No torch.compile: the target is eager PyTorch.

Each framework runs in a process of its own (neither's thread pools can get in the other's
way), started by this one, which only sends "train N steps" to one at a time. After a warm-up
of each, the variants are timed in alternating rounds, the order rotating from round to round,
so a drift in the machine's load hits all of them alike; the medians are compared. torch is not
a tfcolor dependency: `pip install torch==2.13.0` (CPU build) to run this; see README.md here.

    python benchmarks/unet_vs_pytorch.py --steps 4 --rounds 9 --xla off
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time
import traceback
import warnings

TARGET_RATIO = 1.3  # the "Scale" issue: tfcolor at least 1.3x eager PyTorch's images/s
# The loss check runs on the first images of the batch with random logits, the same in both.
LOSS_CHECK_IMAGES = 2
LOSS_TOLERANCE = 1e-4
# A round is clean when other processes kept at most this many cores busy during it. On a
# loaded machine PyTorch loses far more than tfcolor (its OpenMP threads wait at every
# parallel region for one the kernel descheduled; measured with another process on one of the
# 2 cores: PyTorch 2.5-5.4 images/s against 17.9 idle, tfcolor 6-7 against 12.8), so rounds
# shared with other work flatter tfcolor: only clean rounds are compared.
CLEAN_OTHERS_CORES = 0.1
MIN_CLEAN_ROUNDS = 3


def _config(args):
    from tfcolor.config import get_preset

    config = get_preset(args.preset)
    if args.image_size:
        config.data.image_size = args.image_size
    if args.batch_size:
        config.data.batch_size = args.batch_size
    config.validate()
    if config.model.name != "unet" or config.codec.name != "grid" or config.model.output_stride > 1:
        raise ValueError(
            "the PyTorch twin is the U-Net with the grid codec at full resolution. "
            f"Received: preset={args.preset!r}"
        )
    return config


def _random_logits(targets_shape, n_bins: int):
    """float32 logits [LOSS_CHECK_IMAGES, H, W, n_bins], the same in both processes."""
    import numpy as np

    shape = [LOSS_CHECK_IMAGES, *targets_shape[1:], n_bins]
    return np.random.default_rng(0).normal(size=shape).astype(np.float32)


def _process_cpu_seconds() -> float:
    """CPU seconds this process has used, all threads (user + system)."""
    times = os.times()
    return times.user + times.system


def _machine_busy_seconds() -> float | None:
    """CPU seconds all processes of the machine have used (Linux /proc/stat); None elsewhere."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


# --- tfcolor -----------------------------------------------------------------------------------


def make_tf_batch(config):
    """One synthetic batch as `tfcolor.bench train` makes it, and the codec fitted on it.

    Returns:
        (codec, lightness float32 [B, H, W, 1] in [0, 1], bin index int32 [B, H, W]).
    """
    from tfcolor import codecs
    from tfcolor.benchmarks.data import synthetic_batch

    codec = codecs.make_codec(config.codec)
    lightness, targets = synthetic_batch(
        codec, config.data.batch_size, config.data.image_size, config.model.output_stride
    )
    return codec, lightness, targets


class TfTrainer:
    """tfcolor's model trained with `model.fit` on the repeated batch (as tfcolor.bench)."""

    def __init__(self, config, codec, lightness, targets, jit_compile: bool):
        import keras
        import tensorflow as tf

        from tfcolor.models import build_model
        from tfcolor.training.compile import compile_model

        keras.utils.set_random_seed(config.train.seed)
        self.model = build_model(config.model, codec)
        compile_model(
            self.model,
            codec,
            keras.optimizers.Adam(config.train.learning_rate),
            jit_compile=jit_compile,
        )
        self.name = f"tfcolor (XLA {'on' if jit_compile else 'off'})"
        # tf.data's autotuning off: the repeated batch has nothing to tune, and with it on, the
        # end of each `fit` call waits for the autotuner's next wake-up, 10 ms after the
        # iterator starts, then 30, 70, ... (10 * (2^k - 1)) ms: 4 steps of 1.5 s took 10.24 s
        # in some rounds (measured). Real training pays that once per epoch, not per round.
        options = tf.data.Options()
        options.autotune.enabled = False
        self.dataset = (
            tf.data.Dataset.from_tensors((lightness, targets)).repeat().with_options(options)
        )

    def trainable_parameters(self) -> int:
        return int(sum(int(w.shape.num_elements()) for w in self.model.trainable_weights))

    def train(self, steps: int) -> float:
        """Trains `steps` steps; returns the seconds they took."""
        start = time.perf_counter()
        self.model.fit(self.dataset, epochs=1, steps_per_epoch=steps, verbose=0)
        return time.perf_counter() - start


def _tf_worker(connection, args) -> None:
    """Builds the batch and tfcolor's trainers, reports them, then trains on request."""
    import tensorflow as tf

    # Keras' fit warns that a tf.data dataset is not shuffled: the repeated batch needs none.
    warnings.filterwarnings("ignore", message=".*shuffle=True.*")
    config = _config(args)
    codec, lightness, targets = make_tf_batch(config)
    jit = {"off": (False,), "on": (True,), "both": (False, True)}[args.xla]
    trainers = [TfTrainer(config, codec, lightness, targets, setting) for setting in jit]
    logits = _random_logits(targets.shape, codec.channels)
    check_targets = targets[:LOSS_CHECK_IMAGES]
    intra = tf.config.threading.get_intra_op_parallelism_threads()
    inter = tf.config.threading.get_inter_op_parallelism_threads()
    connection.send(
        {
            "threads": f"TensorFlow {tf.__version__}: intra-op threads {intra} (0: one per core),"
            f" inter-op {inter} (0: TF's default), oneDNN ops "
            f"{os.environ.get('TF_ENABLE_ONEDNN_OPTS', '1 (default)')}",
            "intra_op_threads": intra,
            "lightness": lightness.numpy(),
            "targets": targets.numpy(),
            "class_weights": codec.class_weights,
            "n_bins": codec.channels,
            # The codec's loss is per image; Keras averages it over the batch.
            "loss": float(tf.reduce_mean(codec.loss(check_targets, tf.constant(logits)))),
            "parameters": {trainer.name: trainer.trainable_parameters() for trainer in trainers},
            "summary": f"preset {config.preset}: {config.data.image_size}x"
            f"{config.data.image_size}, batch {config.data.batch_size}, {codec.channels} bins "
            f"(rebalance {config.codec.rebalance}), Adam {config.train.learning_rate}",
        }
    )
    _serve(connection, trainers)


# --- PyTorch -----------------------------------------------------------------------------------


def torch_unet(filters, n_bins: int):
    """tfcolor's UNet (models/unet.py, blocks.apply_conv_block) in torch.nn, NCHW.

    Batch norm as tfcolor's: epsilon 1e-3 (Keras' default), momentum 0.1 in PyTorch's
    convention (tfcolor's BATCH_NORM_MOMENTUM 0.9 in Keras'); convolutions before a batch norm
    have no bias.
    """
    import torch
    from torch import nn

    def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
        layers = []
        for channels in (in_channels, out_channels):
            layers += [
                nn.Conv2d(channels, out_channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(out_channels, eps=1e-3, momentum=0.1),
                nn.ReLU(inplace=True),
            ]
        return nn.Sequential(*layers)

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            levels = list(filters[:-1])
            inputs = [1, *levels[:-1]]
            self.down = nn.ModuleList(conv_block(i, f) for i, f in zip(inputs, levels, strict=True))
            self.pool = nn.MaxPool2d(2)
            self.bottleneck = conv_block(levels[-1], filters[-1])
            # Coarsest level first, as tfcolor builds them; Keras' "same" transposed conv
            # (3x3, stride 2) doubles the size, as padding 1 + output_padding 1 does here.
            coarser = [*levels[1:], filters[-1]]
            self.upconv = nn.ModuleList(
                nn.ConvTranspose2d(coarser[level], levels[level], 3, 2, 1, output_padding=1)
                for level in reversed(range(len(levels)))
            )
            self.up = nn.ModuleList(
                conv_block(2 * levels[level], levels[level])
                for level in reversed(range(len(levels)))
            )
            self.head = nn.Conv2d(levels[0], n_bins, 1)

        def forward(self, lightness):
            x, skips = lightness, []
            for block in self.down:
                x = block(x)
                skips.append(x)
                x = self.pool(x)
            x = self.bottleneck(x)
            for upconv, block, skip in zip(self.upconv, self.up, reversed(skips), strict=True):
                x = block(torch.cat([upconv(x), skip], dim=1))
            return self.head(x)

    return UNet()


def torch_loss(logits, bins, class_weights, channels_last: bool):
    """The codec's loss: cross-entropy per pixel times the true bin's weight, mean over pixels.

    Not `reduction="mean"` with `weight=`, which divides by the sum of the weights. With
    channels-last logits the bins are each pixel's contiguous row, so the loss runs on
    [pixels, bins] rows (a view): forward + backward on 16 x 324 x 128 x 128 logits took 364 ms,
    the 4-D call 792 ms on the channels-last tensor and 436 ms on a contiguous one (2 cores).
    """
    import torch.nn.functional as F

    if channels_last:
        rows = logits.permute(0, 2, 3, 1).reshape(-1, logits.shape[1])
        total = F.cross_entropy(rows, bins.reshape(-1), weight=class_weights, reduction="sum")
    else:
        total = F.cross_entropy(logits, bins, weight=class_weights, reduction="sum")
    return total / bins.numel()


class TorchTrainer:
    """The same network, loss and optimizer in eager PyTorch, one standard step at a time."""

    def __init__(self, config, class_weights, lightness, targets, channels_last: bool):
        import torch

        torch.manual_seed(config.train.seed)
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.model = torch_unet(config.model.filters, len(class_weights))
        self.model.to(memory_format=memory_format).train()
        # Keras' Adam epsilon (1e-7; torch's default is 1e-8).
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=config.train.learning_rate, eps=1e-7
        )
        self.name = f"PyTorch eager ({'channels_last' if channels_last else 'NCHW'})"
        self.channels_last = channels_last
        # lightness [B, H, W, 1] -> [B, 1, H, W] float32; bin index int64 [B, H, W].
        self.inputs = (
            torch.from_numpy(lightness).permute(0, 3, 1, 2).contiguous(memory_format=memory_format)
        )
        self.targets = torch.from_numpy(targets).long()
        self.class_weights = torch.from_numpy(class_weights)

    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters() if p.requires_grad)

    def train(self, steps: int) -> float:
        """Trains `steps` steps; returns the seconds they took."""
        start = time.perf_counter()
        for _ in range(steps):
            self.optimizer.zero_grad(set_to_none=True)
            logits = self.model(self.inputs)
            loss = torch_loss(logits, self.targets, self.class_weights, self.channels_last)
            loss.backward()
            self.optimizer.step()
        loss.item()  # CPU ops are synchronous; this only makes the end of the step explicit
        return time.perf_counter() - start


def _torch_worker(connection, args, batch) -> None:
    """Builds the PyTorch trainers on tfcolor's batch, reports them, then trains on request."""
    import torch

    config = _config(args)
    torch.set_num_threads(batch["threads"])
    layouts = {"nchw": (False,), "channels_last": (True,), "both": (False, True)}
    trainers = [
        TorchTrainer(
            config, batch["class_weights"], batch["lightness"], batch["targets"], channels_last
        )
        for channels_last in layouts[args.torch_memory_format]
    ]
    logits = _random_logits(batch["targets"].shape, batch["n_bins"])
    loss = torch_loss(
        torch.from_numpy(logits).permute(0, 3, 1, 2).contiguous(),
        torch.from_numpy(batch["targets"][:LOSS_CHECK_IMAGES]).long(),
        torch.from_numpy(batch["class_weights"]),
        channels_last=False,
    )
    connection.send(
        {
            "threads": f"PyTorch {torch.__version__}: {torch.get_num_threads()} threads, "
            f"{torch.get_num_interop_threads()} inter-op, mkldnn "
            f"{'on' if torch.backends.mkldnn.enabled else 'off'} (default)",
            "loss": float(loss),
            "parameters": {trainer.name: trainer.trainable_parameters() for trainer in trainers},
        }
    )
    _serve(connection, trainers)


# --- the comparison ----------------------------------------------------------------------------


def _serve(connection, trainers) -> None:
    """Answers ("train", name, steps) with (seconds, CPU seconds) until it receives None."""
    by_name = {trainer.name: trainer for trainer in trainers}
    while (request := connection.recv()) is not None:
        _, name, steps = request
        cpu = _process_cpu_seconds()
        seconds = by_name[name].train(steps)
        connection.send((seconds, _process_cpu_seconds() - cpu))


def _run_worker(target, connection, *args) -> None:
    try:
        target(connection, *args)
    except BaseException:
        connection.send({"error": traceback.format_exc()})
        raise


class _Worker:
    """A framework's process and the pipe to it."""

    def __init__(self, context, target, *args):
        self.connection, child = context.Pipe()
        # Daemonic: if the other framework's process fails, this one ends with the script.
        self.process = context.Process(target=_run_worker, args=(target, child, *args), daemon=True)
        self.process.start()

    def receive(self):
        message = self.connection.recv()
        if isinstance(message, dict) and "error" in message:
            raise RuntimeError(f"a benchmark process failed:\n{message['error']}")
        return message

    def train(self, name: str, steps: int) -> tuple[float, float]:
        self.connection.send(("train", name, steps))
        return self.receive()

    def close(self) -> None:
        self.connection.send(None)
        self.process.join()


def _report(rates, others, tf_names, torch_names) -> None:
    """Prints the medians, per-round figures and ratios; compares clean rounds only."""
    clean = {
        name: [
            rate
            for rate, cores in zip(rates[name], others[name], strict=True)
            if cores <= CLEAN_OTHERS_CORES
        ]
        for name in rates
    }
    measured = all(others.values())
    compared = (
        clean if measured and all(len(c) >= MIN_CLEAN_ROUNDS for c in clean.values()) else rates
    )
    print(
        "images/s per round (others: cores other processes kept busy; a round is clean when "
        f"at most {CLEAN_OTHERS_CORES})"
    )
    for name in rates:
        per_round = " ".join(f"{value:.2f}" for value in rates[name])
        clean_median = f"{statistics.median(clean[name]):.2f}" if clean[name] else "-"
        print(
            f"  {name:32s} median {statistics.median(rates[name]):6.2f}; "
            f"{len(clean[name])} clean rounds, median {clean_median}   (rounds: {per_round})"
        )
    medians = {name: statistics.median(values) for name, values in compared.items()}
    rounds = "clean rounds" if compared is clean else "all rounds"
    torch_best = max(torch_names, key=medians.get)
    print(f"compared: the medians of {rounds}; PyTorch's faster layout: {torch_best}")
    for name in tf_names:
        print(
            f"{name} {medians[name]:.2f} images/s, PyTorch eager {medians[torch_best]:.2f} "
            f"images/s, ratio {medians[name] / medians[torch_best]:.2f} "
            f"(target >= {TARGET_RATIO})"
        )
    tf_best = max(tf_names, key=medians.get)
    ratio = medians[tf_best] / medians[torch_best]
    if compared is clean:
        verdict = "meets" if ratio >= TARGET_RATIO else "misses"
        print(f"tfcolor's faster setting, {tf_best}: ratio {ratio:.2f}, {verdict} the target")
    else:
        print(
            f"tfcolor's faster setting, {tf_best}: ratio {ratio:.2f}, INCONCLUSIVE: fewer than "
            f"{MIN_CLEAN_ROUNDS} clean rounds (other processes were busy); rerun on an idle "
            "machine"
        )


def _parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="unet_128")
    parser.add_argument("--steps", type=int, default=4, help="training steps per timed round")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps of each variant")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the preset's")
    parser.add_argument("--image-size", type=int, default=None, help="default: the preset's")
    # XLA for the whole step is slower on CPUs, and its compile stalls here (README.md).
    parser.add_argument("--xla", choices=("off", "on", "both"), default="off")
    parser.add_argument(
        "--torch-memory-format",
        choices=("nchw", "channels_last", "both"),
        default="both",
        help="PyTorch's layout; with both, the faster one's median is compared",
    )
    return parser.parse_args(argv)


def alternating_rounds(workers, rounds: int, calls: int, images_per_call: int):
    """Times each variant (`workers`: name -> its worker, whose `train(name, calls)` returns
    (seconds, the worker's CPU seconds)) in `rounds` rounds, the order rotated each round so no
    variant always runs first; prints each round. Returns (images/s per round, the cores other
    processes kept busy in each round, where the machine's counters say), each by name."""
    names = list(workers)
    rates = {name: [] for name in names}
    others = {name: [] for name in names}
    for round_number in range(rounds):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            machine = _machine_busy_seconds()
            seconds, cpu_seconds = workers[name].train(name, calls)
            rates[name].append(images_per_call * calls / seconds)
            if machine is not None:
                machine = _machine_busy_seconds() - machine
                others[name].append(max(0.0, machine - cpu_seconds) / seconds)
        print(
            f"round {round_number + 1} images/s: "
            + ", ".join(
                f"{name} {rates[name][-1]:.2f}"
                + (f" (others {others[name][-1]:.1f})" if others[name] else "")
                for name in names
            ),
            flush=True,
        )
    return rates, others


def main(argv=None) -> int:
    args = _parse_args(argv)
    cores = len(os.sched_getaffinity(0))
    context = multiprocessing.get_context("spawn")
    tf_worker = _Worker(context, _tf_worker, args)
    tf_info = tf_worker.receive()
    # TF's default (0) is one intra-op thread per core; torch gets the same number.
    threads = tf_info["intra_op_threads"] or cores
    batch = {key: tf_info[key] for key in ("lightness", "targets", "class_weights", "n_bins")}
    torch_worker = _Worker(context, _torch_worker, args, {**batch, "threads": threads})
    torch_info = torch_worker.receive()

    print(f"{cores} cores. {tf_info['threads']}. {torch_info['threads']}")
    print(tf_info["summary"])
    print(f"loss on random logits: tfcolor {tf_info['loss']:.6f}, PyTorch {torch_info['loss']:.6f}")
    if abs(tf_info["loss"] - torch_info["loss"]) > LOSS_TOLERANCE:
        raise AssertionError("the two frameworks' losses differ")
    counts = {**tf_info["parameters"], **torch_info["parameters"]}
    for name, count in counts.items():
        print(f"trainable parameters, {name}: {count:,}")
    if len(set(counts.values())) != 1:
        raise AssertionError(f"the two networks differ in size: {counts}")

    workers = {name: tf_worker for name in tf_info["parameters"]}
    workers.update({name: torch_worker for name in torch_info["parameters"]})
    names = list(workers)
    batch_size = len(batch["targets"])
    print(f"{args.rounds} rounds x {args.steps} steps after {args.warmup} warm-up steps each")
    for name in names:
        workers[name].train(name, args.warmup)
    rates, others = alternating_rounds(workers, args.rounds, args.steps, batch_size)
    tf_worker.close()
    torch_worker.close()
    _report(rates, others, list(tf_info["parameters"]), list(torch_info["parameters"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
