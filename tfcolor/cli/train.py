"""Trains a colorizer, evaluates it, exports a SavedModel and prints its path.

With no flags it trains the thesis U-Net (324 grid bins) on the built-in `shapes` data:

    python -m tfcolor.train
    python -m tfcolor.train --preset unet_128 --data folder:~/photos --model-dir runs/photos
    tensorboard --logdir runs

Running the same command again continues the run in --model-dir (after a crash or kill too,
from its last backup, inside the epoch it stopped in); a larger --epochs trains further. A run
that has finished prints its latest export again instead of writing a new version. An export
that fails (a folder that cannot be written) is one line and exit status 2; the trained run
stays in --model-dir. The export's render budget admits its --render-size (and, for a video
run, its --frame-size x --chunk-frames chunk).
"""

from __future__ import annotations

import argparse
import os
import sys

from tfcolor import config as config_lib
from tfcolor.cli import common as cli


def build_parser() -> argparse.ArgumentParser:
    presets = "\n".join(f"  {name:<18} {text}" for name, (_, text) in config_lib.PRESETS.items())
    parser = argparse.ArgumentParser(
        prog="python -m tfcolor.train",
        description=__doc__,
        epilog=f"presets:\n{presets}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--preset",
        default="unet_shapes",
        choices=sorted(config_lib.PRESETS),
        help="the seed system's settings to start from (default: unet_shapes)",
    )
    parser.add_argument("--model-dir", help="where the run lives (default: runs/<preset>)")
    data = parser.add_argument_group("data")
    data.add_argument(
        "--data",
        help="training source: shapes | folder:DIR | tfds:NAME[:SPLIT]; video models: "
        "video:DIR | tfrecord:DIR (written by python -m tfcolor.preprocess)",
    )
    data.add_argument("--validation-data", help="validation source (default: split off --data)")
    data.add_argument("--image-size", type=cli.positive_int, help="training image side in pixels")
    data.add_argument("--batch-size", type=cli.positive_int)
    data.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        help="flips, rotation up to 30 degrees, zoom up to 30 %%",
    )
    data.add_argument(
        "--gray-threshold",
        type=float,
        help="drop images whose every |a|, |b| is below this (1: Iizuka, 5: Zhang)",
    )
    data.add_argument("--classes", help="comma-separated class subset of a labelled dataset")
    data.add_argument(
        "--frame-size",
        type=cli.frame_size,
        help="video: frames scaled and padded to WIDTHxHEIGHT (the video report: 240x135)",
    )
    data.add_argument(
        "--chunk-frames",
        type=cli.positive_int,
        help="video: consecutive frames per chunk; the state is carried between chunks",
    )
    codec = parser.add_argument_group("codec")
    codec.add_argument(
        "--codec",
        choices=["grid", "gamut", "regression"],
        help="grid: the thesis's bins; gamut: Zhang et al.'s in-gamut bins; regression",
    )
    codec.add_argument(
        "--bins", type=cli.positive_int, help="grid bins, a perfect square (36, 324)"
    )
    codec.add_argument(
        "--neighbours",
        type=cli.positive_int,
        help="gamut: soft-encode over this many nearest bins (Zhang et al.: 5)",
    )
    codec.add_argument(
        "--sigma", type=cli.positive_float, help="gamut: soft-encoding Gaussian width (5)"
    )
    codec.add_argument(
        "--normalization",
        choices=["sigmoid", "tanh", "unit"],
        help="regression target normalization",
    )
    codec.add_argument("--decode", choices=["interp", "annealed_mean"], help="bin decoding")
    codec.add_argument("--temperature", type=float, help="decoding temperature")
    codec.add_argument(
        "--rebalance",
        type=float,
        help="class-rebalancing lambda (0.5 in Zhang et al.); 0 turns it off",
    )
    train = parser.add_argument_group("training")
    train.add_argument("--epochs", type=cli.positive_int, help="total epochs of the run")
    train.add_argument("--steps-per-epoch", type=cli.positive_int)
    train.add_argument("--learning-rate", type=cli.positive_float)
    train.add_argument(
        "--lr-schedule",
        choices=["cosine", "constant"],
        help="cosine decay to 0 over --epochs (default) or constant",
    )
    model = parser.add_argument_group("model")
    model.add_argument(
        "--model",
        dest="model_name",
        choices=["unet", "iizuka", "backbone_fusion", "convlstm"],
        help="the network (default: the preset's); convlstm: the video U-Net + ConvLSTM",
    )
    model.add_argument("--filters", help="U-Net filters per level, e.g. 8,16,32")
    model.add_argument(
        "--output-stride",
        type=cli.positive_int,
        help="predict colours at 1/N of the resolution (Zhang et al.: 4), a power of 2",
    )
    model.add_argument(
        "--global-features",
        choices=["none", "learned", "backbone"],
        help="unet: a global feature vector fused at the bottleneck",
    )
    model.add_argument(
        "--global-size", type=cli.positive_int, help="side of the global path's rescale (224)"
    )
    model.add_argument(
        "--simple-global",
        action=argparse.BooleanOptionalAction,
        help="iizuka: one convolution in place of the global network's stack (course report)",
    )
    model.add_argument(
        "--backbone",
        choices=["inception_resnet_v2", "mobilenet_v2", "efficientnet_b0"],
        help="keras.applications embedding of backbone_fusion / global_features=backbone",
    )
    model.add_argument(
        "--backbone-weights",
        help="imagenet (downloads them), none (random), or a weights file",
    )
    model.add_argument(
        "--backbone-trainable",
        action=argparse.BooleanOptionalAction,
        help="fine-tune the backbone (default: frozen)",
    )
    model.add_argument(
        "--stateful",
        action=argparse.BooleanOptionalAction,
        help="convlstm: carry the state from chunk to chunk of a video (default) or zero it "
        "every chunk",
    )
    model.add_argument(
        "--batch-norm",
        action=argparse.BooleanOptionalAction,
        help="convlstm: batch norm in the U-Net's conv blocks",
    )
    model.add_argument(
        "--classify",
        action=argparse.BooleanOptionalAction,
        help="Iizuka's classification head on the global features, trained on the labels",
    )
    model.add_argument(
        "--classification-weight",
        type=float,
        help="alpha of the classification loss (Iizuka et al.: 1/300)",
    )
    train.add_argument("--jit-compile", choices=["auto", "on", "off"], help="XLA")
    train.add_argument(
        "--mixed-precision",
        choices=config_lib.MIXED_PRECISIONS,
        help="float16 or bfloat16 compute with float32 weights, heads and losses; auto "
        "(default): float16 on a GPU, off on a CPU",
    )
    train.add_argument(
        "--strategy",
        choices=config_lib.STRATEGIES,
        help="distribution: auto (default: multi_worker when TF_CONFIG names a cluster, "
        "mirrored over several GPUs, else one device), one_device, mirrored (this machine's "
        "GPUs), multi_worker (the cluster in TF_CONFIG), tpu; --batch-size is the global "
        "batch. A TF_CONFIG that is set must be a valid cluster under every strategy (exit 2)",
    )
    train.add_argument(
        "--render-size",
        type=cli.non_negative_int,
        help="side at which the export predicts colours (default: image size; 0: each "
        "image's own size)",
    )
    train.add_argument(
        "--backup-every-steps",
        type=cli.positive_int,
        help="resume backup interval in steps (it is also written every epoch)",
    )
    train.add_argument(
        "--metric-images",
        type=int,
        help="validation images measured each epoch (PSNR, SSIM, AuC...; 0: none)",
    )
    train.add_argument("--seed", type=int)
    train.add_argument("--no-export", action="store_true", help="skip the SavedModel export")
    parser.add_argument(
        "--verbose",
        type=int,
        default=1,
        choices=[0, 1, 2],
        help="Keras progress output (0 silent, 1 bar, 2 a line per epoch)",
    )
    return parser


def config_from_args(args: argparse.Namespace) -> config_lib.Config:
    config = config_lib.get_preset(args.preset)
    data, codec, model, train = config.data, config.codec, config.model, config.train
    overrides = [
        (model, "name", args.model_name),
        (model, "output_stride", args.output_stride),
        (model, "global_size", args.global_size),
        (model, "simple_global", args.simple_global),
        (model, "backbone", args.backbone),
        (model, "backbone_trainable", args.backbone_trainable),
        (model, "classify", args.classify),
        (model, "classification_weight", args.classification_weight),
        (codec, "neighbours", args.neighbours),
        (codec, "sigma", args.sigma),
        (train, "metric_images", args.metric_images),
        (data, "source", args.data),
        (data, "validation_source", args.validation_data),
        (data, "image_size", args.image_size),
        (data, "batch_size", args.batch_size),
        (data, "augment", args.augment),
        (data, "gray_threshold", args.gray_threshold),
        (data, "frame_size", args.frame_size),
        (data, "chunk_frames", args.chunk_frames),
        (model, "stateful", args.stateful),
        (model, "batch_norm", args.batch_norm),
        (codec, "name", args.codec),
        (codec, "n_bins", args.bins),
        (codec, "normalization", args.normalization),
        (codec, "decode", args.decode),
        (codec, "temperature", args.temperature),
        (train, "epochs", args.epochs),
        (train, "steps_per_epoch", args.steps_per_epoch),
        (train, "learning_rate", args.learning_rate),
        (train, "lr_schedule", args.lr_schedule),
        (train, "jit_compile", args.jit_compile),
        (train, "mixed_precision", args.mixed_precision),
        (train, "strategy", args.strategy),
        (train, "render_size", args.render_size),
        (train, "backup_every_steps", args.backup_every_steps),
        (train, "seed", args.seed),
    ]
    for part, key, value in overrides:
        if value is not None:
            setattr(part, key, value)
    if args.classes:
        data.classes = tuple(name.strip() for name in args.classes.split(",") if name.strip())
    if args.global_features is not None:
        model.global_features = None if args.global_features == "none" else args.global_features
    if args.backbone_weights is not None:
        weights = args.backbone_weights
        if weights.lower() == "none":
            model.backbone_weights = None
        elif weights == "imagenet":
            model.backbone_weights = weights
        else:
            weights = os.path.expanduser(weights)
            if not os.path.isfile(weights):
                raise ValueError(f"--backbone-weights {weights}: no such file")
            model.backbone_weights = os.path.abspath(weights)
    if args.rebalance is not None:
        codec.rebalance = args.rebalance or None
    if args.filters:
        if model.name not in ("unet", "convlstm"):
            raise ValueError(
                f"--filters is a unet and convlstm setting. Received: --model {model.name}"
            )
        try:
            model.filters = tuple(int(f) for f in args.filters.split(","))
        except ValueError:
            raise ValueError(
                f"--filters takes integers like 8,16,32. Received: {args.filters}"
            ) from None
    if codec.name == "regression":
        codec.rebalance = None
    if args.codec == "gamut" and args.decode is None and codec.decode == "interp":
        # Switched to Zhang's codec from a thesis preset: decode as Zhang et al. do.
        codec.decode = "annealed_mean"
        if args.temperature is None:
            codec.temperature = 0.38
    data.source = _expand_folder(data.source)
    data.validation_source = _expand_folder(data.validation_source)
    config.validate()
    return config


def _expand_folder(source: str | None) -> str | None:
    """`~` in the folder of a folder:, video: or tfrecord: source."""
    for kind in ("folder:", "video:", "tfrecord:"):
        if source and source.startswith(kind):
            return kind + os.path.expanduser(source[len(kind) :])
    return source


# The image metrics of `Colorizer.evaluate`, printed beside the gray baseline's.
_IMAGE_METRICS = ("psnr", "ssim", "auc", "auc_rebalanced", "colorfulness")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    cli.quiet_tensorflow()
    try:
        config = config_from_args(args)
    except ValueError as error:
        parser.error(str(error))
    model_dir = args.model_dir or os.path.join("runs", config.preset)

    # TensorFlow is imported only after the flags are checked: `--help` and flag errors stay fast.
    from tfcolor.training.colorizer import Colorizer, TrainingDivergedError

    try:
        colorizer = Colorizer(config, model_dir)
        history = colorizer.train(verbose=args.verbose)
        results = colorizer.evaluate()
    except TrainingDivergedError as error:
        print(f"tfcolor.train: {error}", file=sys.stderr)
        return 1
    except (ValueError, OSError, RuntimeError) as error:
        # RuntimeError: a strategy that cannot start (--strategy tpu without a TPU);
        # OSError: a file of the run or the data that cannot be read or written.
        message = " ".join(str(error).split())
        print(f"tfcolor.train: error: {message}", file=sys.stderr)
        return 2

    if colorizer.is_chief:
        logdir = os.path.join(colorizer.model_dir, "logs")
        print(f"model_dir: {colorizer.model_dir}  (tensorboard --logdir {logdir})")
        print(f"epochs trained: {colorizer.epochs_done}")
    else:
        print("this worker trained with the cluster; the chief writes the run's files")
    image_metrics = (*_IMAGE_METRICS, "colorfulness_true")
    keras_metrics = {k: v for k, v in results.items() if k not in image_metrics}
    keras_metrics = {k: v for k, v in keras_metrics.items() if not k.startswith("gray_")}
    print(
        "validation: " + "  ".join(f"{name} {value:.4f}" for name, value in keras_metrics.items())
    )
    if "bin_accuracy" in results:
        print(
            f"per-pixel bin accuracy: {100 * results['bin_accuracy']:.1f} % of all pixels, "
            f"{100 * results.get('colored_bin_accuracy', float('nan')):.1f} % of the "
            "coloured pixels"
        )
    if "cdc" in results:
        print(
            f"temporal consistency (model / truth): CDC {results['cdc']:.4f} / "
            f"{results['cdc_true']:.4f}  warp error {results['warp_error']:.5f} / "
            f"{results['warp_error_true']:.5f}"
        )
    if "class_accuracy" in results:
        print(f"classification: {100 * results['class_accuracy']:.1f} % top-1")
    images = [name for name in _IMAGE_METRICS if name in results]
    if images:
        print(
            "images (model / gray baseline): "
            + "  ".join(
                f"{name} {results[name]:.3f} / {results.get('gray_' + name, float('nan')):.3f}"
                for name in images
            )
            + f"  (colorfulness of the truth: {results.get('colorfulness_true', float('nan')):.3f})"
        )
    if not args.no_export:
        current = None if history else _current_export(colorizer)
        if current:
            print(f"exported: {current} (unchanged: this call trained no step)")
        else:
            try:
                export = colorizer.export_saved_model()
            except (ValueError, OSError) as error:
                # The run is trained and saved; only its export failed (a bound it cannot
                # serve, a folder that cannot be written): one line, and the run stays.
                message = " ".join(str(error).split())
                print(f"tfcolor.train: error: export failed: {message}", file=sys.stderr)
                return 2
            print(f"exported: {export or 'by the chief (this worker is not the chief)'}")
    return 0


def _current_export(colorizer) -> str | None:
    """The run's latest export where it is newer than its final weights (nothing to export
    again), else None."""
    from tfcolor.export import saved_model as serving

    export = serving.latest_export(colorizer.export_dir_base)
    final = os.path.join(colorizer.model_dir, "final.weights.h5")
    if export is None or not os.path.exists(final):
        return None
    written = os.path.getmtime(os.path.join(export, "saved_model.pb"))
    return export if written >= os.path.getmtime(final) else None


if __name__ == "__main__":
    sys.exit(main())
