"""Trains a colorizer, evaluates it, exports a SavedModel and prints its path.

With no flags it trains the thesis U-Net (324 grid bins) on the built-in `shapes` data:

    python -m tfcolor.train
    python -m tfcolor.train --preset unet_128 --data folder:~/photos --model-dir runs/photos
    tensorboard --logdir runs

Without --preset, the preset follows the data: `unet_shapes` for the built-in shapes,
`unet_128` (the 128x128 U-Net for real photos) for any other --data, and an existing
--model-dir continues with its own settings (its config.json); the choice is printed.

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
from tfcolor.training import run_dir

# The config's parts with their flags, in the order of --help: (attribute, group title).
SECTIONS = (("data", "data"), ("codec", "codec"), ("train", "training"), ("model", "model"))


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
        choices=sorted(config_lib.PRESETS),
        help="the seed system's settings to start from (default: unet_shapes for the "
        "built-in shapes, unet_128 for any other --data, an existing --model-dir's own)",
    )
    parser.add_argument("--model-dir", help="where the run lives (default: runs/<preset>)")
    defaults = config_lib.Config()
    for part, title in SECTIONS:
        group = parser.add_argument_group(title)
        cli.add_config_flags(group, type(getattr(defaults, part)))
    cli.add_run_flags(parser)
    return parser


def base_config(args: argparse.Namespace, given: dict) -> tuple[config_lib.Config, str | None]:
    """The settings the flags apply to, and a line saying why where no --preset chose them.

    --preset names them; without it an existing --model-dir continues with its own
    (config.json), else the preset follows the data (`tfcolor.config.default_preset`: real
    photos never take the shapes' 32x32 settings).

    Raises:
        ValueError: an unreadable config.json in --model-dir.
    """
    if args.preset is not None:
        return config_lib.get_preset(args.preset), None
    if args.model_dir:
        saved = run_dir.read_config(os.path.expanduser(args.model_dir))
        if saved is not None:
            return (
                saved,
                f"continuing {args.model_dir} with its own settings (preset {saved.preset})",
            )
    source = given["data"].get("source")
    name = config_lib.default_preset(source)
    if name == config_lib.default_preset(None):
        return config_lib.get_preset(name), None
    return config_lib.get_preset(name), (
        f"no --preset: {name}, the preset for real photos, for --data {source} "
        "(--preset chooses another)"
    )


def config_from_args(args: argparse.Namespace, announce=None) -> config_lib.Config:
    """The preset (`base_config`) with the flags given on top (`Section.updated`: switching
    codec follows `CodecConfig.updated`'s rule), validated. `announce` receives the line
    saying which settings were taken where no --preset named them.

    Raises:
        ValueError: one line naming the bad flag or value.
    """
    defaults = config_lib.Config()
    given = {part: cli.config_values(args, type(getattr(defaults, part))) for part, _ in SECTIONS}
    config, why = base_config(args, given)
    if why is not None and announce is not None:
        announce(why)
    model = given["model"]
    if "filters" in model and model.get("name", config.model.name) not in ("unet", "convlstm"):
        name = model.get("name", config.model.name)
        raise ValueError(f"--filters is a unet and convlstm setting. Received: --model {name}")
    weights = model.get("backbone_weights")
    if weights is not None and weights != "imagenet":
        weights = os.path.expanduser(weights)
        if not os.path.isfile(weights):
            raise ValueError(f"--backbone-weights {weights}: no such file")
        model["backbone_weights"] = os.path.abspath(weights)
    for part, values in given.items():
        setattr(config, part, getattr(config, part).updated(**values))
    config.data.source = cli.expand_source(config.data.source)
    config.data.validation_source = cli.expand_source(config.data.validation_source)
    if config.train.init_from:
        # config.json keeps where the weights came from, wherever the run is continued from.
        config.train.init_from = os.path.abspath(os.path.expanduser(config.train.init_from))
    config.validate()
    return config


# The image metrics of `Colorizer.evaluate`, printed beside the gray baseline's.
_IMAGE_METRICS = ("ab_error", "psnr", "ssim", "auc", "auc_rebalanced", "colorfulness")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    cli.quiet_tensorflow()
    try:
        config = config_from_args(
            args, announce=lambda line: print(f"tfcolor.train: note: {line}", file=sys.stderr)
        )
    except ValueError as error:
        parser.error(str(error))
    model_dir = args.model_dir or os.path.join("runs", config.preset)

    # TensorFlow is imported only after the flags are checked: `--help` and flag errors stay fast.
    from tfcolor.training import open_run
    from tfcolor.training.colorizer import TrainingDivergedError

    try:
        colorizer = open_run(model_dir, config)
        if colorizer.warm_start is not None:
            print(colorizer.warm_start.summary())
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
        logdir = os.path.join(colorizer.model_dir, run_dir.LOGS_DIR)
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
    final = os.path.join(colorizer.model_dir, run_dir.FINAL_WEIGHTS)
    if export is None or not os.path.exists(final):
        return None
    written = os.path.getmtime(os.path.join(export, "saved_model.pb"))
    return export if written >= os.path.getmtime(final) else None


if __name__ == "__main__":
    sys.exit(main())
