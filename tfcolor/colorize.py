"""Colorizes image files, videos and folders with an exported tfcolor model.

    python -m tfcolor.colorize old_photos/ scan.jpg --model runs/unet_shapes --output colorized/
    python -m tfcolor.colorize clip.mp4 --model runs/convlstm --output colorized/

A folder is searched recursively; each image's result is a PNG at the input's relative path
(under the folder) in --output (`b.jpg` -> `b.png`; where two inputs would share a name,
`b.jpg.png`). A video (.mp4, .mov, .avi, .mkv, .webm, ...) becomes an H.264 `.mp4` with the
same frame count, size and frame rate, its audio copied: a recurrent video model colorizes it
chunk by chunk with its state carried from chunk to chunk (the export's
`colorize_video_chunk` signature); any other model colorizes its frames one by one.
A file that cannot be decoded is reported by name and the rest are still processed; the exit
status is 1 if any failed. --model is an export (a directory holding saved_model.pb) or a
model_dir (its latest export). Only TensorFlow and PyAV are needed to run an export.
"""

from __future__ import annotations

import argparse
import os
import sys

from tfcolor import cli
from tfcolor.config import IMAGE_EXTENSIONS


def find_export(path: str) -> str:
    """The SavedModel directory for an export or a model_dir (its latest export).

    Raises:
        FileNotFoundError: neither form holds a SavedModel.
    """
    from tfcolor.export import latest_export

    if os.path.exists(os.path.join(path, "saved_model.pb")):
        return path
    for base in (os.path.join(path, "export"), path):
        export = latest_export(base)
        if export is not None:
            return export
    raise FileNotFoundError(
        f"{path} is neither a SavedModel nor a model_dir with an export "
        "(train with `python -m tfcolor.train`, which exports at the end)"
    )


def collect_inputs(inputs: list[str]) -> list[tuple[str, str]]:
    """(path, relative output name) for every input file (images and videos); folders are
    searched recursively.

    Raises:
        FileNotFoundError: an input does not exist.
    """
    from tfcolor.video import VIDEO_EXTENSIONS

    pairs = []
    for item in inputs:
        if os.path.isdir(item):
            for root, dirs, files in os.walk(item):
                dirs.sort()
                for name in sorted(files):
                    if name.lower().endswith(IMAGE_EXTENSIONS + tuple(VIDEO_EXTENSIONS)):
                        path = os.path.join(root, name)
                        pairs.append((path, os.path.relpath(path, item)))
        elif os.path.isfile(item):
            pairs.append((item, os.path.basename(item)))
        else:
            raise FileNotFoundError(f"{item}: no such file or folder")
    return pairs


def _is_video(path: str) -> bool:
    from tfcolor.video import VIDEO_EXTENSIONS

    return path.lower().endswith(tuple(VIDEO_EXTENSIONS))


def output_names(relatives: list[str]) -> list[str]:
    """Unique output names: `a/b.jpg` -> `a/b.png`, `a/c.avi` -> `a/c.mp4`.

    Where two inputs would share a name (`b.jpg` and `b.png`, compared case-insensitively for
    filesystems that do), each keeps its extension (`b.jpg.png`); names still shared after that
    (the same relative path from two input folders) get a counter (`b.jpg-2.png`).
    """
    suffixes = [".mp4" if _is_video(relative) else ".png" for relative in relatives]
    plain = [
        os.path.splitext(relative)[0] + suffix
        for relative, suffix in zip(relatives, suffixes, strict=True)
    ]
    counts: dict[str, int] = {}
    for name in plain:
        counts[name.lower()] = counts.get(name.lower(), 0) + 1
    names = [
        name if counts[name.lower()] == 1 else relative + suffix
        for name, relative, suffix in zip(plain, relatives, suffixes, strict=True)
    ]
    taken: set[str] = set()
    unique = []
    for name, suffix in zip(names, suffixes, strict=True):
        candidate, number = name, 1
        while candidate.lower() in taken:
            number += 1
            candidate = f"{name[: -len(suffix)]}-{number}{suffix}"
        taken.add(candidate.lower())
        unique.append(candidate)
    return unique


def _reason(error: Exception) -> str:
    """The informative line of a TensorFlow error ("Input is empty.", "Unknown image ...")."""
    lines = [line.strip() for line in getattr(error, "message", str(error)).splitlines()]
    noise = ("Graph execution error", "Detected at node", "<stack traces", "[[")
    useful = [line for line in lines if line and not line.startswith(noise)]
    return useful[0] if useful else (lines[0] if lines else type(error).__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tfcolor.colorize",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", help="image files and folders")
    parser.add_argument("--model", required=True, help="an export or a model_dir")
    parser.add_argument("--output", required=True, help="folder for the colorized PNGs")
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
    return parser


class ExportClipColorizer:
    """Colorizes the consecutive chunks of one video with a loaded export, in order.

    A recurrent export (`colorize_video_chunk`) starts from its `video_state` and carries the
    state from call to call; any other colorizes each frame on its own (`colorize_images`).
    Call it with uint8 frames [T, H, W, C]; make a new one for the next video.
    """

    def __init__(self, loaded):
        self._signatures = loaded.signatures
        self.recurrent = "colorize_video_chunk" in self._signatures
        # An image export has no chunk length: any works, frames are independent.
        self.chunk_frames = int(loaded.chunk_frames.numpy()) if self.recurrent else 8
        self._state = None

    def __call__(self, chunk):
        import tensorflow as tf

        if not self.recurrent:
            return self._signatures["colorize_images"](images=tf.constant(chunk))[
                "colorized"
            ].numpy()
        frames = tf.constant(chunk[None])
        if self._state is None:
            self._state = self._signatures["video_state"](frames=frames)
        result = self._signatures["colorize_video_chunk"](frames=frames, **self._state)
        self._state = {"state_h": result["state_h"], "state_c": result["state_c"]}
        return result["colorized"][0].numpy()


def colorize_video_file(loaded, path: str, target: str, chunk_frames: int | None = None) -> int:
    """Colorizes the video at `path` into `target` with a loaded export; returns its frames.

    A recurrent export (`colorize_video_chunk`) carries its state from chunk to chunk; any
    other colorizes each frame on its own (`colorize_images`). The output keeps the frame
    count, size and frame rate, and gets the input's audio.

    Raises:
        tfcolor.video.VideoError: the video cannot be read (a ValueError).
    """
    import numpy as np
    from tqdm import tqdm

    from tfcolor import video as video_io

    info = video_io.probe(path)
    colorize = ExportClipColorizer(loaded)
    if chunk_frames is None:
        chunk_frames = colorize.chunk_frames

    count = 0
    chunk: list[np.ndarray] = []
    partial = target + ".part.mp4"
    try:
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
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return count


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    cli.quiet_tensorflow()
    try:
        export = find_export(args.model)
        pairs = collect_inputs(args.inputs)
    except FileNotFoundError as error:
        print(f"tfcolor.colorize: error: {error}", file=sys.stderr)
        return 2
    if not pairs:
        print("tfcolor.colorize: error: no image or video files in the inputs", file=sys.stderr)
        return 2
    try:
        os.makedirs(args.output, exist_ok=True)
    except OSError as error:
        print(f"tfcolor.colorize: error: --output {args.output}: {error.strerror}", file=sys.stderr)
        return 2

    import tensorflow as tf
    from tqdm import tqdm

    loaded = tf.saved_model.load(export)
    if args.render_size is None:
        serve = loaded.signatures["serving_default"]
        call = lambda data: serve(image_bytes=data)  # noqa: E731
    else:
        serve = loaded.signatures["colorize_bytes_at_size"]
        size = tf.constant(args.render_size, tf.int32)
        call = lambda data: serve(image_bytes=data, render_size=size)  # noqa: E731

    targets = output_names([relative for _, relative in pairs])
    failed = []
    videos = [
        (path, name) for (path, _), name in zip(pairs, targets, strict=True) if _is_video(path)
    ]
    images = [
        (path, name) for (path, _), name in zip(pairs, targets, strict=True) if not _is_video(path)
    ]
    for path, target_name in videos:
        target = os.path.join(args.output, target_name)
        try:
            os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
            frames = colorize_video_file(loaded, path, target, args.chunk_frames)
            tqdm.write(f"{path}: {frames} frames -> {target}")
        except (tf.errors.OpError, OSError, ValueError) as error:
            message = _reason(error) if isinstance(error, tf.errors.OpError) else str(error)
            failed.append((path, message))
            tqdm.write(f"skipped {path}: cannot colorize it ({message})", file=sys.stderr)
    for path, target_name in tqdm(images, unit="image", desc="colorizing", disable=not images):
        try:
            with open(path, "rb") as f:
                data = f.read()
            png = call(tf.constant([data]))["colorized_png"][0].numpy()
        except (tf.errors.OpError, OSError) as error:
            message = _reason(error)
            failed.append((path, message))
            tqdm.write(f"skipped {path}: cannot colorize it ({message})", file=sys.stderr)
            continue
        target = os.path.join(args.output, target_name)
        try:
            os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
            with open(target, "wb") as f:
                f.write(png)
        except OSError as error:
            failed.append((path, str(error)))
            tqdm.write(f"skipped {path}: cannot write {target} ({error.strerror})", file=sys.stderr)
    done = len(pairs) - len(failed)
    kinds = "images" if not videos else ("videos" if not images else "images and videos")
    print(f"colorized {done} of {len(pairs)} {kinds} into {args.output} with {export}")
    if failed:
        print(f"{len(failed)} failed: " + ", ".join(path for path, _ in failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
