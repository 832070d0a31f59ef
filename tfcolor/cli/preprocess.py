"""Preprocesses a folder of videos and images into TFRecords, with an Apache Beam pipeline.

    python -m tfcolor.preprocess my_videos/ --output data/my_videos
    python -m tfcolor.train --preset <video preset> --data tfrecord:data/my_videos

Every video (.mp4 .mov .avi .mkv .webm .m4v .mpg .mpeg, searched recursively) is decoded,
scaled to fit --frame-size keeping its aspect ratio, padded with black to a canvas whose sides
are multiples of --multiple (240x135 -> 240x136 at 8) and cut into chunks of --chunk-frames
consecutive frames (every frame is kept: a video's last chunk may be shorter). Each video's
chunks go, in order, to its own file videos/<name>.tfrecord; videos.jsonl lists the videos.
Images (.jpg .jpeg .png .bmp .gif .webp) are checked and go to sharded images-*.tfrecord
files. A file that cannot be read is listed in failed.txt and does not stop the others; the
exit status is then 1. FIFOs, sockets, devices, symlink loops and broken links in a local
INPUT_DIR are named in a warning and never opened. --output may not be INPUT_DIR, lie in it
or hold it (an earlier run's shards there are replaced). The record format is described in
tfcolor/input_pipeline/records.py. Apache Beam (`pip install -e '.[beam]'`) is needed
to run the pipeline, not for --help.

The pipeline runs on Beam's DirectRunner in this process unless Beam's standard pipeline
options say otherwise; any option not listed below is handed to Beam unchanged.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from absl import logging

from tfcolor.cli import common as cli
from tfcolor.config import DEFAULT_FRAME_SIZE
from tfcolor.preprocessing.beam import (
    DEFAULT_CHUNK_FRAMES,
    DEFAULT_JPEG_QUALITY,
    DEFAULT_MULTIPLE,
    NO_BEAM,
    beam_installed,
    preprocess,
)

if TYPE_CHECKING:
    from apache_beam.options.pipeline_options import PipelineOptions

__all__ = ["build_parser", "main", "parse_args", "summary_line"]

_EPILOG = """\
Beam pipeline options (Beam's own flags, passed to the runner unchanged):
  --runner NAME            DirectRunner (default), DataflowRunner, FlinkRunner, SparkRunner, ...
  --direct_num_workers N   DirectRunner: N parallel workers (0: one per CPU core)
  --direct_running_mode M  DirectRunner: in_memory (default), multi_threading or
                           multi_processing (separate processes: decodes in parallel)
  and every other Beam option (--project, --region, --temp_location, --flink_master, ...):
  see https://beam.apache.org/documentation/runners/ for each runner's.

examples:
  # this machine, one process
  python -m tfcolor.preprocess clips/ --output data/clips
  # this machine, 4 processes
  python -m tfcolor.preprocess clips/ --output data/clips \\
      --direct_num_workers 4 --direct_running_mode multi_processing
  # Google Cloud Dataflow (tfcolor must be installed on the workers: --setup_file ./setup.py)
  python -m tfcolor.preprocess gs://bucket/clips --output gs://bucket/data/clips \\
      --runner DataflowRunner --project my-project --region europe-west1 \\
      --temp_location gs://bucket/tmp --setup_file ./setup.py
  # a Flink cluster
  python -m tfcolor.preprocess /shared/clips --output /shared/data/clips \\
      --runner FlinkRunner --flink_master localhost:8081 --environment_type LOOPBACK

exit status: 0 all inputs written; 1 some could not be read (listed in OUTPUT/failed.txt);
2 usage error.
"""


def _jpeg_quality(value: str) -> int:
    quality = int(value)
    if not 1 <= quality <= 100:
        raise argparse.ArgumentTypeError(f"must be in 1..100, got {value}")
    return quality


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input_dir", metavar="INPUT_DIR", help="folder of videos and images")
    parser.add_argument(
        "--output",
        required=True,
        metavar="OUT_DIR",
        help="folder for the collection (not INPUT_DIR, not inside it, not holding it)",
    )
    parser.add_argument(
        "--chunk-frames",
        type=cli.positive_int,
        default=DEFAULT_CHUNK_FRAMES,
        help=f"consecutive frames per record (default: {DEFAULT_CHUNK_FRAMES})",
    )
    parser.add_argument(
        "--frame-size",
        type=cli.frame_size,
        default=DEFAULT_FRAME_SIZE,
        metavar="WxH",
        help="fit the frames inside WIDTHxHEIGHT keeping the aspect ratio (default: 240x135, "
        "the video report's; 0x0 keeps each video's size; 240x0 leaves the height free)",
    )
    parser.add_argument(
        "--multiple",
        type=cli.positive_int,
        default=DEFAULT_MULTIPLE,
        help="pad the canvas's sides up to a multiple of this: the model's down-sampling "
        f"(default: {DEFAULT_MULTIPLE}, so 240x135 -> 240x136)",
    )
    parser.add_argument(
        "--frame-format",
        choices=("jpeg", "png"),
        default="jpeg",
        help="how frames are stored (default: jpeg)",
    )
    parser.add_argument(
        "--jpeg-quality",
        type=_jpeg_quality,
        default=DEFAULT_JPEG_QUALITY,
        help=f"JPEG quality, 1..100 (default: {DEFAULT_JPEG_QUALITY})",
    )
    parser.add_argument(
        "--image-size",
        type=cli.non_negative_int,
        default=0,
        help="re-encode images whose shorter side is longer than this, scaled down to it "
        "(default: 0, keep the files' bytes as they are)",
    )


def build_parser() -> argparse.ArgumentParser:
    """tfcolor.preprocess's own flags (Beam's are documented in the epilog)."""
    parser = argparse.ArgumentParser(
        prog="python -m tfcolor.preprocess",
        description=__doc__,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    _add_arguments(parser)
    return parser


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, PipelineOptions]:
    """Our flags and Beam's, from one command line, in any order.

    Both sets of flags are parsed together by one parser that knows them all, so that the
    value of a Beam flag (`--runner DataflowRunner`) is never taken for INPUT_DIR; a flag
    that neither knows is a usage error. Beam gets the options given on the command line.
    """
    return cli.parse_with_beam(build_parser(), _add_arguments, argv, "tfcolor.preprocess")


def summary_line(summary: dict) -> str:
    """ "preprocessed N videos (F frames in C chunks), M images; K failed: names"."""
    line = (
        f"preprocessed {summary['videos']} videos ({summary['frames']} frames in "
        f"{summary['chunks']} chunks), {summary['images']} images into {summary['output_dir']} "
        f"in {summary['seconds']:.1f} s"
    )
    failed = summary["failed"]
    if failed:
        line += f"; {len(failed)} failed: " + ", ".join(path for path, _ in failed)
    return line


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not beam_installed() and not {"-h", "--help"} & set(argv):
        print(f"tfcolor.preprocess: error: {NO_BEAM}", file=sys.stderr)
        return 2
    args, options = parse_args(argv)
    if not os.path.isdir(args.input_dir) and "://" not in args.input_dir:
        print(
            f"tfcolor.preprocess: error: input folder {args.input_dir} does not exist or is "
            "not a folder",
            file=sys.stderr,
        )
        return 2
    if "://" not in args.input_dir + args.output:
        try:  # it clears an earlier run's shards and manifest in --output
            cli.check_not_input(args.output, [args.input_dir], "--output")
        except ValueError as error:
            print(f"tfcolor.preprocess: error: {error}", file=sys.stderr)
            return 2
    cli.quiet_tensorflow()
    logging.set_verbosity(logging.INFO)
    frame_size = None if args.frame_size == (0, 0) else args.frame_size
    try:
        summary = preprocess(
            args.input_dir,
            args.output,
            chunk_frames=args.chunk_frames,
            frame_size=frame_size,
            multiple=args.multiple,
            frame_format=args.frame_format,
            pipeline_args=options,
            jpeg_quality=args.jpeg_quality,
            image_size=args.image_size,
        )
    except (FileNotFoundError, ValueError) as error:
        print(f"tfcolor.preprocess: error: {error}", file=sys.stderr)
        return 2
    print(summary_line(summary))
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
