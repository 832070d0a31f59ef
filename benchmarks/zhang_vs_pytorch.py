"""tfcolor's `zhang_eccv16` inference against the same network in eager PyTorch, side by side.

The target (issue 17, item 5): Zhang et al.'s ECCV 2016 network colorizes 256x256 images at
least 1.3x as fast in tfcolor as in eager PyTorch, the framework its reference is written in
(richzhang/colorization). Both sides hold the same weights: the reference network rebuilt in
PyTorch (`tests/pretrained/reference_nets.py`), randomized as the equivalence tests do, and
loaded into tfcolor's `ZhangECCV16` by the converter (`tfcolor.pretrained.zhang`); before
timing, the two outputs are compared. Two things are timed on each side, batch `--batch-size`
(default 1) of random lightness at `--image-size` (default 256):

- `network`: lightness -> the 313 logits at 1/4 resolution. tfcolor: the Keras model called in
  one `tf.function` (graph mode, no XLA: XLA's CPU convolutions lose to oneDNN here, see
  README.md), as `Colorizer.predict` and the export run it; PyTorch: blocks 1-8, eager, under
  `torch.inference_mode()`, in contiguous (NCHW) and channels-last memory format.
- `to ab`: the same plus the reference's decoding: softmax, the expectation over the bins
  (annealed mean at T = 1), ab upsampled x4 bilinearly to the input's size. tfcolor:
  `codec.decode` and `tf.image.resize` in the same `tf.function`; PyTorch: the reference's
  `forward`.

No torch.compile: the target is eager PyTorch. Each framework runs in a process of its own,
started by this one, which asks one of them at a time for N forward passes (the helpers of
`unet_vs_pytorch.py`); after a warm-up the variants are timed in alternating rounds, the order
rotating, and the medians of the clean rounds (other processes idle) are compared. torch is
not a tfcolor dependency: `pip install torch==2.13.0` (CPU build) to run this.

    python benchmarks/zhang_vs_pytorch.py --batch-size 1 --calls 4 --rounds 5
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time

# The repository root: tests/pretrained/reference_nets.py is the PyTorch reference.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from unet_vs_pytorch import (  # noqa: E402
    _report,
    _serve,
    _Worker,
    alternating_rounds,
)

# The outputs of the two sides on the same input: mean |ab difference| (Lab units) allowed.
AB_TOLERANCE = 0.5


def _reference_net(image_size: int, seed: int = 0):
    """The reference ECCV 2016 network with random weights, batch-norm statistics in a trained
    range and peaked bin distributions (as tests/pretrained randomizes it), in eval mode."""
    import torch

    from tests.pretrained import reference_nets

    generator = torch.Generator().manual_seed(seed)
    lightness = 100.0 * torch.rand(2, 1, image_size // 2, image_size // 2, generator=generator)
    net = reference_nets.randomize(reference_nets.ECCV16(), lightness, seed=seed)
    with torch.no_grad():
        net.model_out.weight.copy_(torch.rand(2, 313, 1, 1, generator=generator) - 0.5)
    return reference_nets.scale_to_std(net, net.model8[6], lightness, 3.0)


def _lightness(batch_size: int, image_size: int):
    """Random L in [0, 100], float32 [B, H, W, 1], the same in both processes."""
    import numpy as np

    rng = np.random.default_rng(1)
    return (100.0 * rng.random((batch_size, image_size, image_size, 1))).astype(np.float32)


# --- PyTorch -----------------------------------------------------------------------------------


class TorchRunner:
    """The reference network's forward passes in eager PyTorch."""

    def __init__(self, net, lightness, channels_last: bool, to_ab: bool):
        import torch

        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.net = net.to(memory_format=memory_format)
        self.inputs = (
            torch.from_numpy(lightness).permute(0, 3, 1, 2).contiguous(memory_format=memory_format)
        )
        self.to_ab = to_ab
        layout = "channels_last" if channels_last else "NCHW"
        self.name = f"PyTorch eager ({layout}) {'to ab' if to_ab else 'network'}"

    def logits(self, inputs):
        x = (inputs - 50.0) / 100.0  # the reference's normalize_l
        for number in range(1, 9):
            x = getattr(self.net, f"model{number}")(x)
        return x

    def train(self, calls: int) -> float:
        """`calls` forward passes (named train for `_serve`); returns the seconds they took."""
        import torch

        start = time.perf_counter()
        with torch.inference_mode():
            for _ in range(calls):
                output = self.net(self.inputs) if self.to_ab else self.logits(self.inputs)
        float(output[0, 0, 0, 0])
        return time.perf_counter() - start


def multiply_adds(net, inputs) -> int:
    """The multiply-adds of one image through `net`'s convolutions (every other layer is a
    rounding error beside them), counted with forward hooks on a real pass."""
    import torch

    counted = []

    def count(module, given, output):
        if isinstance(module, torch.nn.ConvTranspose2d):  # each input pixel, every tap
            pixels = given[0][0, 0].numel()
        else:
            pixels = output[0, 0].numel()
        taps = module.kernel_size[0] * module.kernel_size[1]
        counted.append(pixels * module.in_channels * module.out_channels * taps // module.groups)

    convolutions = (torch.nn.Conv2d, torch.nn.ConvTranspose2d)
    hooks = [m.register_forward_hook(count) for m in net.modules() if isinstance(m, convolutions)]
    try:
        with torch.inference_mode():
            net(inputs[:1])
    finally:
        for hook in hooks:
            hook.remove()
    return sum(counted)


def _torch_worker(connection, args, threads: int) -> None:
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    net = _reference_net(args.image_size)
    lightness = _lightness(args.batch_size, args.image_size)
    state = {key: value.numpy() for key, value in net.state_dict().items()}
    with torch.inference_mode():
        ab = net(torch.from_numpy(lightness).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    layouts = {"nchw": (False,), "channels_last": (True,), "both": (False, True)}
    runners = [
        TorchRunner(net, lightness, channels_last, to_ab)
        for to_ab in (False, True)
        for channels_last in layouts[args.torch_memory_format]
    ]
    connection.send(
        {
            "threads": f"PyTorch {torch.__version__}: {torch.get_num_threads()} threads, "
            f"mkldnn {'on' if torch.backends.mkldnn.enabled else 'off'} (default)",
            "state_dict": state,
            "ab": np.asarray(ab),
            "multiply_adds": multiply_adds(net, torch.from_numpy(lightness).permute(0, 3, 1, 2)),
            "parameters": {
                runner.name: sum(p.numel() for p in net.parameters()) for runner in runners
            },
        }
    )
    _serve(connection, runners)


# --- tfcolor -----------------------------------------------------------------------------------


class TfRunner:
    """tfcolor's converted network, called in one tf.function (graph mode, no XLA)."""

    def __init__(self, model, codec, lightness, to_ab: bool):
        import tensorflow as tf

        self.inputs = tf.constant(lightness / 100.0)  # tfcolor's models take L / 100
        self.to_ab = to_ab
        self.name = f"tfcolor tf.function {'to ab' if to_ab else 'network'}"

        @tf.function(jit_compile=False)
        def forward(lightness):
            logits = model(lightness, training=False)
            if not to_ab:
                return logits
            ab = codec.decode(tf.cast(logits, tf.float32))
            return tf.image.resize(ab, tf.shape(lightness)[1:3], method="bilinear")

        self.forward = forward

    def train(self, calls: int) -> float:
        start = time.perf_counter()
        for _ in range(calls):
            output = self.forward(self.inputs)
        output.numpy()
        return time.perf_counter() - start


def _tf_worker(connection, args, reference) -> None:
    import numpy as np
    import tensorflow as tf

    from tfcolor import codecs
    from tfcolor.config import get_preset
    from tfcolor.models import build_model
    from tfcolor.pretrained import zhang

    config = get_preset("zhang_eccv16")
    codec = codecs.make_codec(config.codec)
    state_dict = reference["state_dict"]
    codec.set_state({"bin_centers": zhang.bin_centers(state_dict)})
    model = build_model(config.model, codec)
    zhang.load_released_weights(model, "zhang_eccv16", state_dict, "the reference")
    lightness = _lightness(args.batch_size, args.image_size)
    runners = [TfRunner(model, codec, lightness, to_ab) for to_ab in (False, True)]
    ab = runners[1].forward(runners[1].inputs).numpy()
    intra = tf.config.threading.get_intra_op_parallelism_threads()
    connection.send(
        {
            "threads": f"TensorFlow {tf.__version__}: intra-op threads {intra} (0: one per core),"
            f" oneDNN ops {os.environ.get('TF_ENABLE_ONEDNN_OPTS', '1 (default)')}",
            "ab_difference": float(np.mean(np.abs(ab - reference["ab"]))),
            "parameters": {
                runner.name: int(sum(w.shape.num_elements() for w in model.weights))
                for runner in runners
            },
        }
    )
    _serve(connection, runners)


# --- the comparison ----------------------------------------------------------------------------


def _parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--image-size", type=int, default=256, help="a multiple of 8")
    parser.add_argument("--calls", type=int, default=4, help="forward passes per timed round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls of each variant")
    parser.add_argument(
        "--torch-memory-format",
        choices=("nchw", "channels_last", "both"),
        default="both",
        help="PyTorch's layout; with both, the faster one's median is compared",
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = _parse_args(argv)
    cores = len(os.sched_getaffinity(0))
    context = multiprocessing.get_context("spawn")
    # Both get one thread per core (TF's default intra-op setting).
    torch_worker = _Worker(context, _torch_worker, args, cores)
    torch_info = torch_worker.receive()
    reference = {key: torch_info[key] for key in ("state_dict", "ab")}
    tf_worker = _Worker(context, _tf_worker, args, reference)
    tf_info = tf_worker.receive()

    print(f"{cores} cores. {tf_info['threads']}. {torch_info['threads']}")
    print(
        f"zhang_eccv16 inference, batch {args.batch_size}, {args.image_size}x{args.image_size}; "
        f"mean |ab difference| tfcolor vs PyTorch {tf_info['ab_difference']:.4f}"
    )
    if tf_info["ab_difference"] > AB_TOLERANCE:
        raise AssertionError("the two networks' outputs differ")
    counts = {**tf_info["parameters"], **torch_info["parameters"]}
    print(f"parameters: {', '.join(f'{count:,}' for count in sorted(set(counts.values())))}")

    workers = {name: tf_worker for name in tf_info["parameters"]}
    workers.update({name: torch_worker for name in torch_info["parameters"]})
    names = list(workers)
    print(f"{args.rounds} rounds x {args.calls} calls after {args.warmup} warm-up calls each")
    for name in names:
        workers[name].train(name, args.warmup)
    rates, others = alternating_rounds(workers, args.rounds, args.calls, args.batch_size)
    tf_worker.close()
    torch_worker.close()
    # Both run oneDNN's fp32 convolutions: how close each comes to what the CPU can do.
    flops = 2 * torch_info["multiply_adds"]
    print(f"\n{flops / 1e9:.1f} GFLOP per image in the convolutions; at the medians of all rounds:")
    for name in names:
        rate = statistics.median(rates[name])
        print(f"  {name:32s} {rate * flops / 1e9:6.1f} GFLOP/s")
    for part in ("network", "to ab"):
        print(f"\n--- {part} ---")
        chosen = [name for name in names if name.endswith(part)]
        _report(
            {name: rates[name] for name in chosen},
            {name: others[name] for name in chosen},
            [name for name in chosen if name.startswith("tfcolor")],
            [name for name in chosen if name.startswith("PyTorch")],
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
