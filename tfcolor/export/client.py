"""Using an export: finding a model_dir's exports, loading one checked to be a tfcolor export
(`load_export`), colorizing batches through it at a chosen render size and temperature
(`ExportImageColorizer`), streaming a video's chunks through it (`ExportClipColorizer`),
colorizing image files with reading, the model and writing overlapped (`colorize_image_files`),
reading user hints for an export that takes them (`read_hints`), and the one informative line
of a TensorFlow error (`error_reason`).

Only TensorFlow is needed (an export runs without the rest of tfcolor); TensorFlow is imported
when a function needs it. The commands `colorize` and `evaluate` call it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re

__all__ = [
    "COLORIZE_SIGNATURES",
    "DEFAULT_PATCH_SIZE",
    "EXPORT_DIR",
    "HINTS_SIGNATURE",
    "PNG_OUTPUTS",
    "MEASURE_SIGNATURES",
    "ExportClipColorizer",
    "ExportImageColorizer",
    "FileResult",
    "colorize_image_files",
    "default_workers",
    "error_reason",
    "one_thread_per_image",
    "export_candidates",
    "load_export",
    "read_hints",
    "read_input_file",
]

# A model_dir's folder of exports (`tfcolor.training.run_dir` names it too).
EXPORT_DIR = "export"

# The PNG output of the bytes signatures: `colorized_png_bytes` (TF Serving's REST API sends a
# string output as {"b64": ...} only when its name ends in `_bytes`); exports written before
# that name it `colorized_png`.
PNG_OUTPUTS = ("colorized_png_bytes", "colorized_png")
# What each caller runs, by signature: its input names and the outputs it reads (any one).
COLORIZE_SIGNATURES = {"serving_default": ({"image_bytes"}, PNG_OUTPUTS)}
# The signature of an export that takes user hints (Zhang et al. 2017's network).
HINTS_SIGNATURE = "colorize_with_hints"
# A hint's patch side at the network's input when a hints file gives none: a small square
# around the point (Zhang et al. 2017 trained on patches of 1 to 9 pixels).
DEFAULT_PATCH_SIZE = 3


def read_hints(path: str):
    """User hints from a JSON file, for an export's `colorize_with_hints` signature.

    The file: `{"points": [{"x": 120, "y": 64, "a": 40, "b": 50}, ...], "patch_size": 3}`.
    x and y are the column and row of the hinted pixel in the input image (0-based, from
    the top-left corner); a and b the hinted colour's Lab a and b; `patch_size` (optional,
    `DEFAULT_PATCH_SIZE`) the side of the square each hint covers at the network's input
    (its render size, 256 for Zhang et al.'s networks).

    Returns:
        (points float32 [K, 2] of (x, y), ab float32 [K, 2], patch_size int).

    Raises:
        ValueError: the file is not JSON of that form; the message names the file and the
            entry that is wrong.
        OSError: the file cannot be read.
    """
    import numpy as np

    with open(path, encoding="utf-8") as file:
        try:
            hints = json.load(file)
        except ValueError as error:
            raise ValueError(f"{path}: not JSON ({error})") from None
    form = '{"points": [{"x": .., "y": .., "a": .., "b": ..}, ...], "patch_size": 3}'
    if not isinstance(hints, dict) or not isinstance(hints.get("points"), list):
        raise ValueError(f"{path}: hints must be an object {form}")
    unknown = sorted(set(hints) - {"points", "patch_size"})
    if unknown:
        raise ValueError(f"{path}: unknown keys {', '.join(unknown)}; the form is {form}")
    patch_size = hints.get("patch_size", DEFAULT_PATCH_SIZE)
    if isinstance(patch_size, bool) or not isinstance(patch_size, int) or patch_size < 1:
        raise ValueError(f"{path}: patch_size must be an integer >= 1. Received: {patch_size!r}")
    rows = []
    for index, point in enumerate(hints["points"]):
        entry = f"{path}: points[{index}]"
        if not isinstance(point, dict) or set(point) != {"x", "y", "a", "b"}:
            raise ValueError(f"{entry} must have exactly x, y, a and b. Received: {point!r}")
        values = [point[key] for key in ("x", "y", "a", "b")]
        if not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in values
        ):
            raise ValueError(f"{entry}: x, y, a and b must be finite numbers. Received: {point}")
        if min(values[:2]) < 0:
            raise ValueError(f"{entry}: x and y must be >= 0 (pixels). Received: {point}")
        rows.append(values)
    table = np.asarray(rows, np.float32).reshape(-1, 4)
    return table[:, :2], table[:, 2:], int(patch_size)


def export_candidates(path: str) -> list[str]:
    """`path` itself if it is an export, else a model_dir's complete exports, newest first.

    Raises:
        FileNotFoundError: neither form holds a SavedModel.
    """
    from tfcolor.export.saved_model import export_versions

    if os.path.exists(os.path.join(path, "saved_model.pb")):
        return [path]
    for base in (os.path.join(path, EXPORT_DIR), path):
        if os.path.isdir(base):
            versions = export_versions(base)
            if versions:
                return versions
    raise FileNotFoundError(
        f"{path} is neither a SavedModel nor a model_dir with an export "
        "(train with `python -m tfcolor.train`, which exports at the end)"
    )


def load_export(path: str, signatures: dict | None = None):
    """Loads a tfcolor export, or a model_dir's newest export that loads.

    Args:
        path: an export or a model_dir.
        signatures: name -> (input names, output names of which one is needed) (default
            `COLORIZE_SIGNATURES`); an export without them is not a tfcolor export.

    Returns:
        `(loaded, export, passed_over)`: the loaded SavedModel, its folder, and
        `(export, reason)` for each newer export of a model_dir that could not be used.

    Raises:
        FileNotFoundError: no SavedModel there.
        ValueError: no export there can be used (one line: the newest one's reason).
    """
    signatures = COLORIZE_SIGNATURES if signatures is None else signatures
    passed_over = []
    for export in export_candidates(path):
        try:
            return _load_checked(export, signatures), export, passed_over
        except ValueError as error:
            passed_over.append((export, str(error)))
    newest, reason = passed_over[0]
    if len(passed_over) == 1:
        raise ValueError(f"{newest}: {reason}")
    raise ValueError(f"none of the {len(passed_over)} exports of {path} loads; {newest}: {reason}")


def _load_checked(export: str, signatures: dict):
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(export)
    except Exception as error:  # noqa: BLE001 - protobuf, OS and TF errors alike: one line
        reason = error_reason(error) if str(error).strip() else type(error).__name__
        raise ValueError(f"not a loadable SavedModel ({type(error).__name__}: {reason})") from None
    for name, (inputs, output) in signatures.items():
        if name not in loaded.signatures:
            raise ValueError(
                f"not a tfcolor export: it has no {name} signature (it has: "
                f"{', '.join(sorted(loaded.signatures)) or 'none'})"
            )
        function = loaded.signatures[name]
        given = set(function.structured_input_signature[1])
        outputs = (output,) if isinstance(output, str) else tuple(output)
        if not inputs <= given or not set(outputs) & set(function.structured_outputs):
            raise ValueError(
                f"not a tfcolor export: its {name} signature takes {sorted(given)} and gives "
                f"{sorted(function.structured_outputs)}, not {sorted(inputs)} -> {outputs[0]}"
            )
    return loaded


def error_reason(error: Exception) -> str:
    """The informative line of a TensorFlow error ("Input is empty.", "Unknown image ..."),
    without the op's decoration ("{{function_node ...}}", "[Op:DecodeImage]")."""
    lines = [line.strip() for line in getattr(error, "message", str(error)).splitlines()]
    noise = ("Graph execution error", "Detected at", "<stack traces", "[[")
    useful = [line for line in lines if line and not line.startswith(noise)]
    line = useful[0] if useful else (lines[0] if lines else "")
    line = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", line)
    line = re.sub(r"\s*\[Op:\w+\]$", "", line)
    # tf.debugging.Assert's "assertion failed: [message] [value] ...": the message and the
    # values it names ("image over the pixel budget. Received: ... = 16000 16000 ...").
    if line.startswith("assertion failed: ["):
        return " ".join(re.findall(r"\[([^\[\]]*)\]", line))
    return line or type(error).__name__


def read_input_file(path: str) -> bytes:
    """The bytes of an input file, refusing one that became a FIFO or device since it was
    listed (opened non-blocking, checked on the open descriptor).

    Raises:
        OSError: it cannot be read, or it is not a regular file.
    """
    import stat

    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(descriptor, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise OSError(f"{path} is not a regular file")
        return f.read()


def default_workers() -> int:
    """Images in flight at once in `colorize_image_files`: one per core, at least two (one
    image's decode, PNG encode and file I/O run while another's network runs)."""
    return max(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2)


def one_thread_per_image(workers: int) -> bool:
    """Runs each op on one thread where `workers` > 1 images are in flight (call before
    TensorFlow runs anything): the images then share the cores, instead of each image's ops
    spreading over all of them and the workers fighting for them (measured on 2 cores,
    `bench colorize --data`: 10.2 images/s against 8.6 with TensorFlow's default threads).

    Returns:
        Whether it is set (False for one worker, or where TensorFlow already runs with
        other threads).
    """
    if workers <= 1:
        return False
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
    except RuntimeError:  # the runtime is initialized: its threads stay as they are
        return False
    return True


@dataclasses.dataclass(frozen=True)
class FileResult:
    """What became of one input of `colorize_image_files`.

    Attributes:
        path: the input file.
        target: where its result was to be written.
        error: None where it was written; else why not, one line (`"cannot colorize it
            (...)"` or `"cannot write TARGET (...)"`).
    """

    path: str
    target: str
    error: str | None = None


def colorize_image_files(call, jobs, write, workers: int | None = None):
    """Colorizes image files with reading, the model and writing overlapped: up to `workers`
    images are in flight, each read, colorized and written by a thread of its own (TensorFlow
    and file I/O release the GIL), so one image's decode, PNG encode and I/O run while another
    runs through the network. A file that cannot be read, decoded or written fails alone.

    Args:
        call: `call(image_bytes)`, image_bytes a string tensor [1], returning a dict holding
            one of `PNG_OUTPUTS` ([1] PNG bytes): an export's `serving_default` or the like.
        jobs: (input path, target path) pairs.
        write: `write(target, png_bytes)`, raising OSError where it cannot.
        workers: images in flight (default `default_workers()`); 1 colorizes one at a time.

    Yields:
        A `FileResult` per job, in the order of `jobs`; at most about 2 x workers results are
        computed ahead of the one yielded.
    """
    import collections
    import concurrent.futures

    import tensorflow as tf

    def one(path: str, target: str) -> FileResult:
        try:
            data = read_input_file(path)
            result = call(tf.constant([data]))
            png = next(result[name] for name in PNG_OUTPUTS if name in result)[0].numpy()
        except (tf.errors.OpError, OSError) as error:
            return FileResult(path, target, f"cannot colorize it ({error_reason(error)})")
        try:
            write(target, png)
        except OSError as error:
            reason = error.strerror or str(error)
            return FileResult(path, target, f"cannot write {target} ({reason})")
        return FileResult(path, target)

    workers = workers or default_workers()
    if workers == 1:
        for path, target in jobs:
            yield one(path, target)
        return
    with concurrent.futures.ThreadPoolExecutor(workers, "tfcolor-colorize") as pool:
        pending = collections.deque()
        for path, target in jobs:
            pending.append(pool.submit(one, path, target))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


class ExportClipColorizer:
    """Colorizes the consecutive chunks of one video with a loaded export, in order.

    A recurrent export (`colorize_video_chunk`) starts from its `video_state` and carries the
    state from call to call, splitting a chunk into calls within its render budget
    (`max_render_pixels`: frames x the network's canvas); any other colorizes each frame on its
    own (`colorize_images`), as many frames per call as its pixel budget takes.
    Call it with uint8 frames [T, H, W, C]; make a new one for the next video.
    """

    def __init__(self, loaded):
        self._signatures = loaded.signatures
        self.recurrent = "colorize_video_chunk" in self._signatures
        # An image export has no chunk length: any works, frames are independent.
        self.chunk_frames = int(loaded.chunk_frames.numpy()) if self.recurrent else 8
        # The export's pixel budget per call (exports before it had none).
        budget = getattr(loaded, "max_pixels", None)
        self._max_pixels = int(budget.numpy()) if budget is not None else None
        # A recurrent export's network budget per call (frames x canvas), and its canvas box.
        render_budget = getattr(loaded, "max_render_pixels", None) if self.recurrent else None
        self._max_render_pixels = int(render_budget.numpy()) if render_budget is not None else None
        frame_size = getattr(loaded, "frame_size", None) if self.recurrent else None
        self._frame_size = (
            tuple(int(v) for v in frame_size.numpy()) if frame_size is not None else None
        )
        self._state = None

    def _canvas_estimate(self, height: int, width: int) -> int:
        """The pixels of the network's canvas for a frame: `geometry.placement`, as the export
        places it, without the rounding up to the network's down-sampling (which the export
        does not record; a call refused for it is retried smaller)."""
        from tfcolor.media import geometry

        place = geometry.placement(height, width, self._frame_size or (0, 0), multiple=1)
        return max(place.height * place.width, 1)

    def _recurrent(self, chunk):
        """The chunk through `colorize_video_chunk` in calls within the export's render budget
        (frames x canvas): the state is carried from call to call, so the colours are those
        of one call. A call refused for the render budget (the canvas estimate was short by
        the rounding) is retried with half the frames."""
        import numpy as np
        import tensorflow as tf

        step = len(chunk)
        if self._max_render_pixels:
            canvas = self._canvas_estimate(int(chunk.shape[1]), int(chunk.shape[2]))
            step = max(min(self._max_render_pixels // canvas, len(chunk)), 1)
        if self._state is None:
            self._state = self._signatures["video_state"](frames=tf.constant(chunk[None, :1]))
        results, start = [], 0
        while start < len(chunk):
            frames = tf.constant(chunk[None, start : start + step])
            try:
                result = self._signatures["colorize_video_chunk"](frames=frames, **self._state)
            except tf.errors.InvalidArgumentError as error:
                if step == 1 or "render budget" not in str(error):
                    raise
                step //= 2
                continue
            self._state = {"state_h": result["state_h"], "state_c": result["state_c"]}
            results.append(result["colorized"][0].numpy())
            start += step
        return np.concatenate(results)

    def __call__(self, chunk):
        import numpy as np
        import tensorflow as tf

        if not self.recurrent:
            # As many frames per call as the export's pixel budget takes (8 frames of a 4K
            # video are over the default 50 megapixels).
            frame_pixels = max(int(chunk.shape[1]) * int(chunk.shape[2]), 1)
            step = max(self._max_pixels // frame_pixels, 1) if self._max_pixels else len(chunk)
            serve = self._signatures["colorize_images"]
            return np.concatenate(
                [
                    serve(images=tf.constant(chunk[i : i + step]))["colorized"].numpy()
                    for i in range(0, len(chunk), max(step, 1))
                ]
            )
        return self._recurrent(chunk)


# The signature `ExportImageColorizer` runs (evaluate's measurement): its input names and
# the output it reads.
MEASURE_SIGNATURES = {
    "colorize_images_at": ({"images", "render_size", "temperature"}, "colorized"),
}


class ExportImageColorizer:
    """Colorizes uint8 batches with an export's `colorize_images_at` signature."""

    def __init__(self, loaded):
        self._loaded = loaded
        self._serve = loaded.signatures["colorize_images_at"]
        self.render_size = int(loaded.render_size.numpy())
        self._temperature = float(loaded.temperature.numpy())
        # The rendering of out-of-gamut colours baked in; exports written before the setting
        # clipped R, G and B.
        gamut = getattr(loaded, "gamut", None)
        self.gamut = gamut.numpy().decode() if gamut is not None else "clip"

    def __call__(self, truth, render_size=None, temperature=None):
        import tensorflow as tf

        result = self._serve(
            images=tf.constant(truth),
            render_size=tf.constant(self.render_size if render_size is None else render_size),
            temperature=tf.constant(
                self._temperature if temperature is None else temperature, tf.float32
            ),
        )
        return result["colorized"].numpy()

    def clip(self, clip, temperature=None):
        """A whole clip: streamed with the state carried by a recurrent export, frame by
        frame (in chunks of `ExportClipColorizer.chunk_frames`) otherwise.

        Raises:
            ValueError: a temperature for a recurrent export, whose streaming signature
                decodes at the export's own temperature.
        """
        import numpy as np

        colorize = ExportClipColorizer(self._loaded)
        if not colorize.recurrent:
            # Frame by frame in chunks: a whole clip in one call would pass the export's
            # pixel budget (N x H x W) on any long video.
            step = colorize.chunk_frames
            return np.concatenate(
                [self(clip[i : i + step], None, temperature) for i in range(0, len(clip), step)]
            )
        if temperature is not None:
            raise ValueError(
                "--temperature: a video export's colorize_video_chunk decodes at the "
                "temperature it was exported with; sweep it on the model_dir instead"
            )
        step = colorize.chunk_frames
        return np.concatenate([colorize(clip[i : i + step]) for i in range(0, len(clip), step)])
