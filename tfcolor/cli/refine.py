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

# The flags' defaults are the settings' own (no TensorFlow is imported for --help).
_DEFAULTS = config_lib.RefinementConfig()


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
    parser.add_argument(
        "--epochs",
        type=cli.positive_int,
        default=_DEFAULTS.epochs,
        help="total epochs of the refinement (%(default)s)",
    )
    parser.add_argument(
        "--steps-per-epoch", type=cli.positive_int, help="default: one pass over the data"
    )
    parser.add_argument(
        "--critic-steps",
        type=cli.positive_int,
        default=_DEFAULTS.critic_steps,
        help="critic updates per generator update (%(default)s; Gulrajani et al.: 5)",
    )
    parser.add_argument(
        "--gradient-penalty",
        type=cli.positive_float,
        default=_DEFAULTS.gradient_penalty,
        help="weight of the gradient penalty (%(default)s; Gulrajani et al.: 10)",
    )
    parser.add_argument(
        "--adversarial-weight",
        type=cli.positive_float,
        default=_DEFAULTS.adversarial_weight,
        help="weight of the critic's term beside the codec loss in the generator's (%(default)s)",
    )
    parser.add_argument(
        "--critic-border",
        type=cli.non_negative_int,
        default=_DEFAULTS.critic_border,
        help="pixels on every side the critic ignores (%(default)s)",
    )
    parser.add_argument(
        "--critic-filters",
        default=",".join(str(filters) for filters in _DEFAULTS.critic_filters),
        help="filters of the critic's strided convolutions (%(default)s)",
    )
    parser.add_argument(
        "--learning-rate",
        type=cli.positive_float,
        default=_DEFAULTS.learning_rate,
        help="the generator's Adam rate (%(default)s: it fine-tunes a trained network)",
    )
    parser.add_argument(
        "--critic-learning-rate",
        type=cli.positive_float,
        default=_DEFAULTS.critic_learning_rate,
        help="the critic's Adam rate (%(default)s; WGAN-GP: 1e-4; both Adams beta_1 0, beta_2 0.9)",
    )
    parser.add_argument(
        "--unfreeze-start",
        type=cli.non_negative_int,
        default=_DEFAULTS.unfreeze_start,
        help="generator groups trained from the first epoch (%(default)s; 1: the head)",
    )
    parser.add_argument(
        "--unfreeze-every",
        type=cli.positive_int,
        default=_DEFAULTS.unfreeze_every,
        help="epochs between unfreezing the next generator group, head to encoder (%(default)s)",
    )
    parser.add_argument(
        "--validation-steps",
        type=cli.non_negative_int,
        help="validation batches per epoch (default: all; 0: none)",
    )
    parser.add_argument(
        "--backup-every-steps",
        type=cli.positive_int,
        default=_DEFAULTS.backup_every_steps,
        help="resume backup interval in steps (%(default)s; it is also written every epoch)",
    )
    parser.add_argument(
        "--temperature",
        type=cli.positive_float,
        help="annealed-mean temperature of the generated colours the critic judges (default: "
        "the run's annealed-mean temperature, else 0.38; the argmax has no gradient)",
    )
    parser.add_argument(
        "--mixed-precision",
        choices=config_lib.MIXED_PRECISIONS,
        help="the generator's dtype policy (default: the run's own; auto = float16 on a GPU)",
    )
    parser.add_argument("--seed", type=int, default=_DEFAULTS.seed)
    parser.add_argument("--no-export", action="store_true", help="skip the SavedModel export")
    parser.add_argument(
        "--verbose",
        type=int,
        default=1,
        choices=[0, 1, 2],
        help="Keras progress output (0 silent, 1 bar, 2 a line per epoch)",
    )
    return parser


def _filters(text: str) -> tuple[int, ...]:
    try:
        filters = tuple(int(part) for part in text.split(","))
    except ValueError:
        filters = ()
    if not filters or min(filters) < 1:
        raise ValueError(f"--critic-filters takes positive integers like 64,128. Received: {text}")
    return filters


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    cli.quiet_tensorflow()
    model_dir = os.path.expanduser(args.model_dir)
    output_dir = os.path.expanduser(args.output_dir)
    # Checked before TensorFlow is imported: a mistyped run fails at once.
    if not os.path.isfile(os.path.join(model_dir, "config.json")):
        parser.error(f"--model-dir {model_dir}: no tfcolor run there (no config.json)")
    try:
        cli.check_not_input(output_dir, [model_dir], "--output-dir")
        cli.prepare_output_folder(output_dir, "--output-dir")
    except ValueError as error:
        print(f"tfcolor.refine: error: {error}", file=sys.stderr)
        return 2
    try:
        critic_filters = _filters(args.critic_filters)
    except ValueError as error:
        parser.error(str(error))

    from tfcolor.training import wgan as refinement
    from tfcolor.training.colorizer import Colorizer

    settings = config_lib.RefinementConfig(
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        critic_steps=args.critic_steps,
        gradient_penalty=args.gradient_penalty,
        adversarial_weight=args.adversarial_weight,
        critic_border=args.critic_border,
        critic_filters=critic_filters,
        learning_rate=args.learning_rate,
        critic_learning_rate=args.critic_learning_rate,
        unfreeze_start=args.unfreeze_start,
        unfreeze_every=args.unfreeze_every,
        validation_steps=args.validation_steps,
        backup_every_steps=args.backup_every_steps,
        seed=args.seed,
        temperature=args.temperature,
        mixed_precision=args.mixed_precision,
    )
    data = args.data
    if data and data.startswith("folder:"):
        data = "folder:" + os.path.expanduser(data[len("folder:") :])
    try:
        history = refinement.refine(
            model_dir, output_dir, settings, data_source=data, verbose=args.verbose
        )
        refined = Colorizer(None, output_dir)
    except (ValueError, FileNotFoundError) as error:
        print(f"tfcolor.refine: error: {error}", file=sys.stderr)
        return 2
    print(f"refined run: {refined.model_dir}  (tensorboard --logdir {refined.model_dir}/logs)")
    with open(os.path.join(refined.model_dir, "refinement.json")) as f:
        print(f"settings (refinement.json): {json.load(f)}")
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
