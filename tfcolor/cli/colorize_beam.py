"""Colorizes many images with an exported tfcolor model, on an Apache Beam pipeline.

    python -m tfcolor.colorize_beam old_photos/ --model runs/unet_shapes --output colorized/
    python -m tfcolor.colorize_beam 'gs://bucket/scans/**' --model gs://bucket/runs/unet \\
        --output gs://bucket/colorized --runner DataflowRunner ...

Each input is a folder (searched recursively), a file, or a Beam file pattern (`*` within a
folder, `**` across folders; quote it) on any file system Beam reads: local paths, gs://, ...
Images only (.jpg .jpeg .png .bmp .gif .webp); for videos and user hints use
`python -m tfcolor.colorize`. Each image's result is a PNG at its path relative to the input
folder (a pattern's folder before its first wildcard) in --output, named as
`python -m tfcolor.colorize` names it (`b.jpg` -> `b.png`; where two inputs would share a name,
`b.jpg.png`), with the same pixels. A file that cannot be read or decoded is listed in
OUTPUT/failed.txt ("path<TAB>reason") and counted in the Beam counter `failed`; the others are
still colorized (counter `colorized`). Exit status: 0 all colorized, 1 some failed, 2 nothing
could run (a bad model, input or --output).

Outputs never destroy inputs: --output may not be an input folder, lie inside one or hold one
(stricter than colorize: the patterns are matched on the workers), and a result that would land
on an input file is refused. Each result is written under a temporary name and renamed.

--model is an export (a directory holding saved_model.pb) or a model_dir: its newest export
that loads. The workers load it: on a cluster it must be where they read (gs://...).
Apache Beam (`pip install -e '.[beam]'`) is needed to run the pipeline, not for --help.

The pipeline runs on Beam's DirectRunner in this process unless Beam's standard pipeline
options say otherwise; any option not listed below is handed to Beam unchanged.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from tfcolor.cli import common as cli
from tfcolor.config import IMAGE_EXTENSIONS
from tfcolor.preprocessing.beam import NO_BEAM, beam_installed
from tfcolor.preprocessing.colorize_beam import DEFAULT_MAX_BATCH_SIZE

if TYPE_CHECKING:
    from apache_beam.options.pipeline_options import PipelineOptions

__all__ = ["build_parser", "main", "parse_args", "summary_line"]

_PROG = "tfcolor.colorize_beam"

_EPILOG = """\
Beam pipeline options (Beam's own flags, passed to the runner unchanged):
  --runner NAME            DirectRunner (default), DataflowRunner, FlinkRunner, SparkRunner, ...
  --direct_num_workers N   DirectRunner: N parallel workers (0: one per CPU core)
  --direct_running_mode M  DirectRunner: in_memory (default), multi_threading or
                           multi_processing (separate processes, each with its own model)
  and every other Beam option (--project, --region, --temp_location, --flink_master, ...):
  see https://beam.apache.org/documentation/runners/ for each runner's.

examples:
  # this machine, one process
  python -m tfcolor.colorize_beam photos/ --model runs/unet --output colorized/
  # this machine, 4 processes
  python -m tfcolor.colorize_beam photos/ --model runs/unet --output colorized/ \\
      --direct_num_workers 4 --direct_running_mode multi_processing
  # Google Cloud Dataflow (tfcolor must be installed on the workers: --setup_file ./setup.py)
  python -m tfcolor.colorize_beam 'gs://bucket/scans/**/*.jpg' --model gs://bucket/runs/unet \\
      --output gs://bucket/colorized --runner DataflowRunner --project my-project \\
      --region europe-west1 --temp_location gs://bucket/tmp --setup_file ./setup.py
  # a Flink cluster
  python -m tfcolor.colorize_beam /shared/photos --model /shared/runs/unet \\
      --output /shared/colorized --runner FlinkRunner --flink_master localhost:8081 \\
      --environment_type LOOPBACK

exit status: 0 all inputs colorized; 1 some could not be (listed in OUTPUT/failed.txt);
2 nothing could run (a usage error, no such model, an input that matches no file).
"""


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="image folders, files and file patterns"
    )
    parser.add_argument("--model", required=True, help="an export or a model_dir")
    parser.add_argument(
        "--output",
        required=True,
        help="folder for the results: not an input folder, not inside or holding one",
    )
    parser.add_argument(
        "--render-size",
        type=cli.non_negative_int,
        help="side at which colours are predicted (default: the export's; 0: each image's own "
        "size, for models with a fixed-size global path such as Iizuka's)",
    )
    parser.add_argument(
        "--max-batch-size",
        type=cli.positive_int,
        default=DEFAULT_MAX_BATCH_SIZE,
        help="images per model call at most; Beam batches up to it, images of one size go "
        f"through the model together (default: {DEFAULT_MAX_BATCH_SIZE})",
    )


def build_parser() -> argparse.ArgumentParser:
    """tfcolor.colorize_beam's own flags (Beam's are documented in the epilog)."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {_PROG}",
        description=__doc__,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    _add_arguments(parser)
    return parser


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, PipelineOptions]:
    """Our flags and Beam's, from one command line, in any order (as
    `tfcolor.cli.common.parse_with_beam`: one parser that knows both, so that a Beam flag's
    value is never taken for an input; a flag neither knows is a usage error)."""
    return cli.parse_with_beam(build_parser(), _add_arguments, argv, _PROG)


def summary_line(summary: dict) -> str:
    """ "colorized N of M images into OUTPUT with EXPORT in S s"."""
    done = summary["colorized"]
    return (
        f"colorized {done} of {done + len(summary['failed'])} images into {summary['output']} "
        f"with {summary['export']} in {summary['seconds']:.1f} s"
    )


def _error(message: str) -> int:
    print(f"{_PROG}: error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not beam_installed() and not {"-h", "--help"} & set(argv):
        return _error(NO_BEAM)
    args, options = parse_args(argv)
    cli.quiet_tensorflow()
    from tfcolor.preprocessing.colorize_beam import colorize_files

    try:
        summary = colorize_files(
            args.inputs,
            args.output,
            args.model,
            render_size=args.render_size,
            pipeline_args=options,
            max_batch_size=args.max_batch_size,
        )
    except (FileNotFoundError, ValueError) as error:
        return _error(str(error))
    for export, reason in summary["passed_over"]:
        print(f"{_PROG}: warning: {export}: {reason}; using {summary['export']}", file=sys.stderr)
    if summary["colorized"] == 0 and not summary["failed"]:
        return _error(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) in the inputs")
    print(summary_line(summary))
    failed = summary["failed"]
    if failed:
        print(
            f"{len(failed)} failed (listed in failed.txt): " + ", ".join(p for p, _ in failed),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
