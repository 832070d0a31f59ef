"""Colorizes image files, videos and folders with an exported tfcolor model.

    python -m tfcolor.colorize old_photos/ scan.jpg --model runs/unet_shapes --output colorized/
    python -m tfcolor.colorize clip.mp4 --model runs/convlstm --output colorized/
    python -m tfcolor.colorize photo.jpg --model runs/s17 --hints hints.json --output colorized/

A folder is searched recursively; each image's result is a PNG at the input's relative path
(under the folder) in --output (`b.jpg` -> `b.png`; where two inputs would share a name,
`b.jpg.png`). A video (.mp4, .mov, .avi, .mkv, .webm, ...) becomes an H.264 `.mp4` with the
same frame count, size and frame rate, its audio copied: a recurrent video model colorizes it
chunk by chunk with its state carried from chunk to chunk (the export's
`colorize_video_chunk` signature); any other model colorizes its frames one by one.
A file that cannot be decoded is reported by name and the rest are still processed; so are
FIFOs, sockets, devices, symlink loops and broken links in the folders (named, never opened;
a symlinked subfolder is read once). Exit status: 0 all colorized, 1 some inputs failed,
2 nothing could run (a bad model, input or --output).

--hints FILE gives user hints to an export that takes them (Zhang et al. 2017's network, a
run converted with `python -m tfcolor.convert zhang_siggraph17`; its `colorize_with_hints`
signature): a JSON file `{"points": [{"x": 120, "y": 64, "a": 40, "b": 50}], "patch_size": 3}`,
x and y the column and row of the input pixel, a and b the Lab colour wanted there, the
patch's side in pixels at the network's input (optional, 3). The same hints apply to every
input image (images only, at the export's render size).

Outputs never destroy inputs: --output may not be an input, an input folder may not lie in
it, and a result that would land on an input file refuses the run. --output may lie inside
an input folder: it is left out of that folder's search. Each result is written to
a temporary file in its folder and renamed into place (a symlink already there is replaced,
not followed); --output is checked to be writable before the first image is computed.

--model is an export (a directory holding saved_model.pb) or a model_dir: its newest export
that loads (a broken newer one is named in a warning and passed over;
`tfcolor.export.client`). Only TensorFlow and PyAV are needed to run an export.
"""

from __future__ import annotations

import argparse
import os
import sys

from tfcolor.cli import common as cli
from tfcolor.config import IMAGE_EXTENSIONS
from tfcolor.export.result_names import is_video as _is_video
from tfcolor.export.result_names import output_names

# Written into an --output that lies inside an input folder: the results there are colorize's
# own, which a later run may replace (without it, a file in the way is the user's).
OUTPUT_MARKER = ".tfcolor-colorize"


def collect_inputs(
    inputs: list[str], output: str | None = None
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Every input file (images and videos); folders are searched recursively, leaving out
    `output` where it lies inside one (an earlier run's results are not inputs).

    Returns:
        `(pairs, skipped)`: (path, relative output name) of each file, and (path, reason) of
        what a folder walk left out (`tfcolor.input_pipeline.files.walk_files`: FIFOs,
        sockets, devices, symlink loops, broken links).

    Raises:
        FileNotFoundError: an input does not exist.
        ValueError: an input file that is not a regular file (a FIFO would block forever).
    """
    from tfcolor.input_pipeline.files import special_file_reason, walk_files
    from tfcolor.media.video_io import VIDEO_EXTENSIONS

    pairs, skipped = [], []
    for item in inputs:
        if os.path.isdir(item):
            found, left_out = walk_files(item, IMAGE_EXTENSIONS + tuple(VIDEO_EXTENSIONS))
            pairs.extend(
                (os.path.join(item, relative), relative)
                for relative in found
                if output is None or not cli.within(os.path.join(item, relative), output)
            )
            skipped.extend((os.path.join(item, relative), why) for relative, why in left_out)
        elif os.path.lexists(item):
            reason = special_file_reason(item)
            if reason is not None:
                raise ValueError(f"{item}: {reason}, not an image or video file")
            pairs.append((item, os.path.basename(item)))
        else:
            raise FileNotFoundError(f"{item}: no such file or folder")
    return pairs, skipped


def _landing_on_inputs(
    output: str, targets: list[str], pairs: list[tuple[str, str]]
) -> tuple[str, str] | None:
    """(target, input) for the first result that would replace an input file, else None."""
    inputs = {os.path.realpath(path): path for path, _ in pairs}
    for name in targets:
        target = os.path.join(output, name)
        # The folder resolved, the name not: a symlink at the name is replaced, not followed.
        real = os.path.join(os.path.realpath(os.path.dirname(target)), os.path.basename(target))
        if real in inputs:
            return target, inputs[real]
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tfcolor.colorize",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", help="image files and folders")
    parser.add_argument("--model", required=True, help="an export or a model_dir")
    parser.add_argument(
        "--output",
        required=True,
        help="folder for the results; not an input, and no input folder inside it",
    )
    parser.add_argument(
        "--render-size",
        type=cli.non_negative_int,
        help="side at which colours are predicted (default: the export's; 0: each image's own "
        "size, for models with a fixed-size global path such as Iizuka's)",
    )
    parser.add_argument(
        "--chunk-frames",
        type=cli.positive_int,
        help="videos: frames per model call (default: the export's training chunk length; "
        "the recurrent state is carried across calls, so this changes speed, not colours)",
    )
    parser.add_argument(
        "--workers",
        type=cli.positive_int,
        help="images in flight at once: reading, the model and writing overlap (default: one "
        "per core, at least 2; 1: one image at a time)",
    )
    parser.add_argument(
        "--hints",
        metavar="FILE",
        help='user hints, JSON: {"points": [{"x": .., "y": .., "a": .., "b": ..}], '
        '"patch_size": 3} (x, y: the input pixel; a, b: its Lab colour), for an export with a '
        "colorize_with_hints signature (zhang_siggraph17); images only",
    )
    return parser


def colorize_video_file(
    loaded,
    path: str,
    target: str,
    chunk_frames: int | None = None,
    output_root: str | None = None,
) -> int:
    """Colorizes the video at `path` into `target` with a loaded export; returns its frames.

    A recurrent export (`colorize_video_chunk`) carries its state from chunk to chunk; any
    other colorizes each frame on its own (`colorize_images`). The output keeps the frame
    count, size and frame rate, and gets the input's audio. It is written to a temporary
    file beside `target` and renamed onto it (`tfcolor.cli.common.atomic_target`; `output_root`,
    default `target`'s folder, is the folder it may not leave through a symlink).

    Raises:
        tfcolor.media.video_io.VideoError: the video cannot be read (a ValueError).
        OSError: the output cannot be written.
    """
    import numpy as np
    from tqdm import tqdm

    from tfcolor.export.client import ExportClipColorizer
    from tfcolor.media import video_io

    info = video_io.probe(path)
    colorize = ExportClipColorizer(loaded)
    if chunk_frames is None:
        chunk_frames = colorize.chunk_frames

    count = 0
    chunk: list[np.ndarray] = []
    root = output_root or os.path.dirname(target) or "."
    with cli.atomic_target(target, root) as partial:
        with (
            video_io.VideoWriter(
                partial, info.fps, info.width, info.height, audio_from=path
            ) as writer,
            tqdm(total=info.frames, unit="frame", desc=os.path.basename(path)) as progress,
        ):
            for frame in video_io.iter_frames(path):
                chunk.append(frame)
                if len(chunk) == chunk_frames:
                    writer.write(colorize(np.stack(chunk)))
                    progress.update(len(chunk))
                    count += len(chunk)
                    chunk = []
            if chunk:
                writer.write(colorize(np.stack(chunk)))
                progress.update(len(chunk))
                count += len(chunk)
    return count


def _error(message: str) -> int:
    print(f"tfcolor.colorize: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    cli.quiet_tensorflow()
    from tfcolor.export import client

    hints = None
    if args.hints is not None:
        if args.render_size is not None:
            return _error("--hints colorizes at the export's render size: no --render-size")
        try:
            hints = client.read_hints(args.hints)
        except (OSError, ValueError) as error:
            return _error(f"--hints {error}")
    try:
        client.export_candidates(args.model)  # a mistyped --model is named before the inputs
        pairs, skipped = collect_inputs(args.inputs, args.output)
        cli.check_not_input(args.output, args.inputs, "--output", results_checked=True)
    except (FileNotFoundError, ValueError) as error:
        return _error(str(error))
    if hints is not None and any(_is_video(path) for path, _ in pairs):
        return _error("--hints takes images only; the inputs hold videos")
    for path, reason in skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    if not pairs:
        return _error("no image or video files in the inputs")
    targets = output_names([relative for _, relative in pairs])
    clash = _landing_on_inputs(args.output, targets, pairs)
    if clash is not None:
        return _error(f"--output {args.output}: {clash[0]} would replace the input {clash[1]}")
    # An --output inside an input folder is left out of its walk, so the files already in it
    # are the user's unless colorize wrote them (its marker is there): never replace those.
    holder = next(
        (item for item in args.inputs if os.path.isdir(item) and cli.within(args.output, item)),
        None,
    )
    if holder is not None and not os.path.exists(os.path.join(args.output, OUTPUT_MARKER)):
        existing = next(
            (
                os.path.join(args.output, name)
                for name in targets
                if os.path.lexists(os.path.join(args.output, name))
            ),
            None,
        )
        if existing is not None:
            return _error(
                f"--output {args.output} lies inside the input {holder} and already holds "
                f"{existing}, which colorize did not write; choose a new or empty folder"
            )
    if not any(_is_video(path) for path, _ in pairs):
        # Images only: each image's ops on one thread, --workers images sharing the cores.
        client.one_thread_per_image(args.workers or client.default_workers())
    signatures = dict(client.COLORIZE_SIGNATURES)
    if args.render_size is not None:
        signatures["colorize_bytes_at_size"] = ({"image_bytes", "render_size"}, client.PNG_OUTPUTS)
    try:
        loaded, export, passed_over = client.load_export(args.model, signatures)
        cli.prepare_output_folder(args.output, "--output")
    except (FileNotFoundError, ValueError) as error:
        return _error(str(error))
    if holder is not None:
        with open(os.path.join(args.output, OUTPUT_MARKER), "w") as marker:
            marker.write("results of python -m tfcolor.colorize; later runs may replace them\n")
    for broken, reason in passed_over:
        print(f"tfcolor.colorize: warning: {broken}: {reason}; using {export}", file=sys.stderr)
    if hints is not None and client.HINTS_SIGNATURE not in loaded.signatures:
        return _error(
            f"--hints: the export {export} takes no hints (no {client.HINTS_SIGNATURE} "
            "signature; zhang_siggraph17 runs have one)"
        )

    import tensorflow as tf
    from tqdm import tqdm

    if hints is not None:
        call = _hinted_call(loaded.signatures[client.HINTS_SIGNATURE], *hints)
    elif args.render_size is None:
        serve = loaded.signatures["serving_default"]
        call = lambda data: serve(image_bytes=data)  # noqa: E731
    else:
        serve = loaded.signatures["colorize_bytes_at_size"]
        size = tf.constant(args.render_size, tf.int32)
        call = lambda data: serve(image_bytes=data, render_size=size)  # noqa: E731

    # A walked file that could not be opened safely counts as failed (exit status 1); a
    # folder left out (a symlink loop, a second path to a folder) was only named.
    extensions = IMAGE_EXTENSIONS + tuple(_video_extensions())
    failed = [(path, why) for path, why in skipped if path.lower().endswith(extensions)]
    total = len(pairs) + len(failed)
    videos = [
        (path, name) for (path, _), name in zip(pairs, targets, strict=True) if _is_video(path)
    ]
    images = [
        (path, name) for (path, _), name in zip(pairs, targets, strict=True) if not _is_video(path)
    ]
    for path, target_name in videos:
        target = os.path.join(args.output, target_name)
        try:
            frames = colorize_video_file(
                loaded, path, target, args.chunk_frames, output_root=args.output
            )
            tqdm.write(f"{path}: {frames} frames -> {target}")
        except (tf.errors.OpError, OSError, ValueError) as error:
            message = (
                client.error_reason(error) if isinstance(error, tf.errors.OpError) else str(error)
            )
            failed.append((path, message))
            tqdm.write(f"skipped {path}: cannot colorize it ({message})", file=sys.stderr)
    jobs = [(path, os.path.join(args.output, name)) for path, name in images]
    write = lambda target, png: cli.write_atomic(target, png, args.output)  # noqa: E731
    results = client.colorize_image_files(call, jobs, write, args.workers)
    for result in tqdm(results, total=len(jobs), unit="image", desc="colorizing", disable=not jobs):
        if result.error is not None:
            failed.append((result.path, result.error))
            tqdm.write(f"skipped {result.path}: {result.error}", file=sys.stderr)
    done = total - len(failed)
    kinds = "images" if not videos else ("videos" if not images else "images and videos")
    print(f"colorized {done} of {total} {kinds} into {args.output} with {export}")
    if failed:
        print(f"{len(failed)} failed: " + ", ".join(path for path, _ in failed), file=sys.stderr)
        return 1
    return 0


def _hinted_call(serve, points, ab, patch_size):
    """`call(image_bytes [1]) -> {"colorized_png_bytes": [1]}` through the export's hints
    signature: the image decoded here (the signature takes pixels), the hints given to it."""
    import tensorflow as tf

    hints = {
        "hint_points": tf.constant(points[None]),
        "hint_ab": tf.constant(ab[None]),
        "patch_size": tf.constant(patch_size, tf.int32),
    }

    def call(image_bytes):
        image = tf.io.decode_image(image_bytes[0], expand_animations=False)
        colorized = serve(images=image[tf.newaxis], **hints)["colorized"]
        return {"colorized_png_bytes": tf.io.encode_png(colorized[0])[tf.newaxis]}

    return call


def _video_extensions():
    from tfcolor.media.video_io import VIDEO_EXTENSIONS

    return VIDEO_EXTENSIONS


if __name__ == "__main__":
    sys.exit(main())
