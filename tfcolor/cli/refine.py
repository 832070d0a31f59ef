"""Refines a trained colorizer with WGAN-GP and writes the refined run (a run of its own).

The second stage of the GAN system (after Zhang et al. 2016 and Nazeri et al. 2018): a
generator trained first with its codec's loss (the unet_gamut preset: in-gamut bins,
rebalanced cross-entropy) is fine-tuned against a Wasserstein critic with gradient penalty
(Gulrajani et al. 2017) that ignores the outer --critic-border pixels, keeping its codec loss
beside the adversarial term and unfreezing its layer groups one by one from the head back.

    python -m tfcolor.train --preset unet_gamut --data folder:~/photos --model-dir runs/gamut
    python -m tfcolor.refine --model-dir runs/gamut --output-dir runs/gamut_wgan --epochs 5
    python -m tfcolor.colorize photos/ --model runs/gamut_wgan --output colorized/
    tensorboard --logdir runs/gamut_wgan/logs

--model-dir is only read; --output-dir is a folder of its own (not the run, not in it, not
holding it), checked to be writable before anything is loaded. Running the same command again
continues the refined run in --output-dir (after a kill too, from its last backup); a larger
--epochs refines further. The refined run opens, evaluates and exports like any other run;
the command exports it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from tfcolor import config as config_lib
from tfcolor.cli import common as cli
from tfcolor.training import run_dir as run_dir_lib


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tfcolor.refine",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model-dir", required=True, help="the trained run to refine (image models)"
    )
    parser.add_argument(
        "--output-dir",
        required=True,
        help="the refined run (an existing one continues); not inside --model-dir",
    )
    parser.add_argument(
        "--data",
        help="training source in place of the run's: shapes | folder:DIR | tfds:NAME[:SPLIT]",
    )
    # The flags' defaults are the settings' own (no TensorFlow is imported for --help).
    cli.add_config_flags(parser, config_lib.RefinementConfig, defaults=True)
    cli.add_run_flags(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    cli.quiet_tensorflow()
    model_dir = os.path.expanduser(args.model_dir)
    output_dir = os.path.expanduser(args.output_dir)
    # Checked before TensorFlow is imported: a mistyped run fails at once.
    if not run_dir_lib.is_run(model_dir):
        parser.error(f"--model-dir {model_dir}: no tfcolor run there (no {run_dir_lib.CONFIG})")
    try:
        cli.check_not_input(output_dir, [model_dir], "--output-dir")
        cli.prepare_output_folder(output_dir, "--output-dir")
    except ValueError as error:
        print(f"tfcolor.refine: error: {error}", file=sys.stderr)
        return 2
    settings = config_lib.RefinementConfig(**cli.config_values(args, config_lib.RefinementConfig))

    from tfcolor.training import wgan as refinement
    from tfcolor.training.colorizer import Colorizer

    data = cli.expand_source(args.data)
    try:
        history = refinement.refine(
            model_dir, output_dir, settings, data_source=data, verbose=args.verbose
        )
        refined = Colorizer(None, output_dir)
    except (ValueError, FileNotFoundError) as error:
        print(f"tfcolor.refine: error: {error}", file=sys.stderr)
        return 2
    print(f"refined run: {refined.model_dir}  (tensorboard --logdir {refined.run_dir.logs})")
    with open(refined.run_dir.join(run_dir_lib.REFINEMENT_SETTINGS)) as f:
        print(f"settings ({run_dir_lib.REFINEMENT_SETTINGS}): {json.load(f)}")
    if history:
        last = {name: values[-1] for name, values in history.items()}
        print("last epoch: " + "  ".join(f"{name} {value:.4f}" for name, value in last.items()))
    else:
        print(f"nothing to do: the refinement had already run {settings.epochs} epochs")
    if not args.no_export:
        print(f"exported: {refined.export_saved_model()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
