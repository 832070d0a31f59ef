"""Exports a trained run: its versioned SavedModel (TF Serving, `tfcolor.colorize`) or one
portable file for runtimes without TensorFlow.

    python -m tfcolor.export --model runs/photos                  # export/<version>/
    python -m tfcolor.export --model runs/photos --format onnx    # export/colorizer.onnx
    python -m tfcolor.export --model runs/photos --format litert --output app/colorizer.tflite

--format saved_model (the default) writes what training writes, `<--output>/<version>/`
(default the run's `export/`). --format onnx or litert writes one file (--output: the file, or
a folder for `colorizer.onnx` / `colorizer.tflite`; default the run's `export/`) holding the
SavedModel's `colorize_images`: uint8 images [N, S, S, 1 to 4] (gray, gray + alpha, RGB,
RGBA) at the run's render size S -> `colorized` uint8 RGB [N, S, S, 3], with the Lab
conversion, the network, the decoding and the gamut mapping inside (`tfcolor.export.portable`).
An ONNX file takes any N; a LiteRT file one image a call unless --batch-size says otherwise.
Image models only. Needs `pip install -e '.[export]'` (tf2onnx, onnxruntime, ai-edge-litert).

Exit status: 0 exported, 2 a mistake in the command (no run, a video run to a portable
format, a bad --output), 1 the network cannot be converted (the op and its layer named).
"""

from __future__ import annotations

import argparse
import os
import sys

from tfcolor.cli import common as cli
from tfcolor.training import run_dir as run_dir_lib

# As `tfcolor.export.portable.FORMATS` (not imported here: --help costs no TensorFlow).
FORMATS = ("saved_model", "onnx", "litert")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tfcolor.export",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="the run (its model_dir) to export")
    parser.add_argument(
        "--format", default="saved_model", choices=FORMATS, help="default: %(default)s"
    )
    parser.add_argument(
        "--output",
        help="saved_model: the folder of versions; onnx, litert: the file or a folder "
        "(default: the run's export/)",
    )
    parser.add_argument(
        "--batch-size",
        type=cli.positive_int,
        help="onnx, litert: the file's fixed N (default: any N for onnx, 1 for litert)",
    )
    return parser


def _error(message: str, status: int = 2) -> int:
    print(f"tfcolor.export: error: {message}", file=sys.stderr)
    return status


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    cli.quiet_tensorflow()
    model_dir = os.path.expanduser(args.model)
    output = os.path.expanduser(args.output) if args.output else None
    # Checked before TensorFlow is imported: a mistyped run fails at once.
    if not run_dir_lib.is_run(model_dir):
        return _error(f"--model {model_dir}: no tfcolor run there (no {run_dir_lib.CONFIG})")
    if args.format == "saved_model" and args.batch_size is not None:
        return _error("--batch-size is for --format onnx or litert (a SavedModel takes any N)")
    if output is not None and os.path.exists(output) and args.format == "saved_model":
        if not os.path.isdir(output):
            return _error(f"--output {output} is a file, not a folder of SavedModel versions")
    from tfcolor.export import portable
    from tfcolor.training import open_run

    try:
        run = open_run(model_dir)
        path = portable.export_portable(run, args.format, output, batch_size=args.batch_size)
    except (ValueError, FileNotFoundError, OSError) as error:
        return _error(str(error))
    except portable.PortableExportError as error:
        return _error(str(error), status=1)
    except ImportError as error:  # tf2onnx, onnx or ai-edge-litert is not installed
        return _error(f"{error.name or error} is missing: pip install -e '.[export]'")
    print(f"exported ({args.format}): {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
