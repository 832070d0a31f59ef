"""Converts Zhang et al.'s released colorizers (PyTorch state dicts) into a tfcolor run.

The authors' reference (richzhang/colorization on GitHub) publishes the weights of its two
networks; download the file and convert it:

    python -m tfcolor.convert zhang_eccv16 colorization_release_v2-9b330a0b.pth --model-dir runs/e16
    python -m tfcolor.convert zhang_siggraph17 siggraph17-df00044c.pth --model-dir runs/s17
    python -m tfcolor.colorize old_photos/ --model runs/e16 --output colorized/

The file is read without PyTorch and without running its pickle: only tensors are taken, and
a file that names anything else is refused. Every tensor must fill a weight of the network and
every weight must come from the file, else nothing is written and the missing or left-over keys
are named (exit 2). The run (config, codec, weights, an export) is a normal one: colorize,
evaluate, refine and train (fine-tuning on --data, continuing from the converted weights) use
it as any other.

The run's settings are train's flags of the same fields: --data (the run's data: evaluate's
validation split, fine-tuning; default the preset's folder:images), --temperature
(zhang_eccv16: 1, the default, is the reference's expectation over the bins; 0.38 the paper's
annealed mean), --gamut (clip renders as the reference's scikit-image conversion does) and
--mixed-precision (bfloat16 strays from the reference; off keeps float32).
"""

from __future__ import annotations

import argparse
import os
import sys

from tfcolor import config as config_lib
from tfcolor.cli import common as cli
from tfcolor.config import CodecConfig, DataConfig, TrainConfig
from tfcolor.config.options import MODELS

# The networks with released weights: the presets of the same names (tfcolor.pretrained.zhang).
NETWORKS = tuple(name for name in MODELS if name.startswith("zhang_"))
# The run's settings that convert takes, as train's flags (the module docstring says why).
CONVERT_FLAGS = (
    (DataConfig, ("source",)),
    (CodecConfig, ("temperature", "gamut")),
    (TrainConfig, ("mixed_precision",)),
)
SECTION_OF = {DataConfig: "data", CodecConfig: "codec", TrainConfig: "train"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tfcolor.convert",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("network", choices=NETWORKS, help="the released network")
    parser.add_argument("weights", help="the released .pth file")
    parser.add_argument("--model-dir", required=True, help="the new run's folder")
    # The run's settings a user picks at conversion, as train's flags of the same fields.
    for kind, names in CONVERT_FLAGS:
        cli.add_config_flags(parser, kind, only=names)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    cli.quiet_tensorflow()
    model_dir = os.path.expanduser(args.model_dir)
    weights = os.path.expanduser(args.weights)
    if not os.path.isfile(weights):
        parser.error(f"{weights}: no such file")
    config = config_lib.get_preset(args.network)
    for kind, names in CONVERT_FLAGS:
        part = SECTION_OF[kind]
        setattr(config, part, getattr(config, part).updated(**cli.config_values(args, kind, names)))
    config.data.source = cli.expand_source(config.data.source)

    from tfcolor.pretrained import pth, zhang

    try:
        run, export = zhang.convert(args.network, weights, model_dir, config)
    except (pth.PthError, zhang.ConversionError, FileExistsError, ValueError) as error:
        print(f"tfcolor.convert: error: {error}", file=sys.stderr)
        return 2
    print(f"converted run: {run.model_dir}  ({args.network}, {run.model.count_params():,} weights)")
    print(f"exported: {export}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
