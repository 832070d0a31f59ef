"""Batch colorization on Apache Beam: image files matched by patterns -> PNGs, with RunInference.

The pipeline (`colorize_files`) matches each input pattern (`fileio.MatchFiles`: local paths,
gs:// and every file system Beam has), spreads the files over the workers, reads them
(`fileio.ReadMatches`), checks and decodes each image as the export's `serving_default` does
(its header against the export's pixel budget, then `tf.io.decode_image`), colorizes the
decoded images with Beam's `RunInference` and writes each result as a PNG under the output
folder at the name `python -m tfcolor.colorize` gives it
(`tfcolor.export.result_names.output_names`).
A file that cannot be read or decoded is listed in `failed.txt` (path and reason) and counted;
the others are still written. The Beam counters (namespace `tfcolor`) are `colorized` and
`failed`.

The model is a tfcolor export driven through `ExportImageColorizer` (its `colorize_images_at`
signature: uint8 images of any size and 1 to 4 channels -> RGB at full resolution, colours
predicted at the export's render size), so each result is pixel for pixel the one that
`tfcolor.colorize` writes from the same file and export.

Why `RunInference` with a model handler of our own (`ExportModelHandler`), not Beam's
`TFModelHandlerTensor`: the latter loads with `tf.keras.models.load_model`, which in Keras 3
refuses a plain SavedModel ("the legacy SavedModel format is not supported"), calls the
model's `__call__` on one stacked tensor (the export has none, and images of different sizes
do not stack), and its module imports `tensorflow_hub`, which the `beam` extra does not
install; every method would have been overridden. RunInference still does the batching
(`BatchElements`), the one model per process shared by its threads, and its metrics.

Apache Beam is an optional extra (`pip install -e '.[beam]'`): without it this module still
imports (so that the command's --help works) and `colorize_files` raises ImportError. The
command line is `tfcolor.cli.colorize_beam` (`python -m tfcolor.colorize_beam`).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from absl import logging

from tfcolor.config import IMAGE_EXTENSIONS
from tfcolor.preprocessing.beam import NAMESPACE, NO_BEAM, beam_installed, pipeline_counters

try:
    import apache_beam as beam
    from apache_beam.io import fileio
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.ml.inference.base import (
        KeyedModelHandler,
        ModelHandler,
        PredictionResult,
        RunInference,
    )
    from apache_beam.options.pipeline_options import PipelineOptions
except ImportError:  # an optional extra: the command's --help and one-line error work without it
    beam = None

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "DEFAULT_MAX_BATCH_SIZE",
    "ExportModelHandler",
    "colorize_files",
    "input_pattern",
    "resolve_export",
]

# Images per model call at most: BatchElements grows its batches up to this while they get
# faster; same-size images go through the export in one call (a folder of camera photos).
DEFAULT_MAX_BATCH_SIZE = 16
_FAILED_TAG = "failed"
_WILDCARDS = "*?["

_ModelHandler = ModelHandler if beam is not None else object
_DoFn = beam.DoFn if beam is not None else object


def _counter(name: str):
    return beam.metrics.Metrics.counter(NAMESPACE, name) if beam is not None else None


_colorized = _counter("colorized")
_failed = _counter("failed")


def _is_remote(path: str) -> bool:
    return "://" in path


def _join(folder: str, relative: str) -> str:
    """folder + '/' + relative for local paths and URLs (gs://...) alike."""
    return folder.rstrip("/") + "/" + relative


def input_pattern(item: str) -> tuple[str, str]:
    """(file pattern, base folder) of an input: a folder is searched recursively (`DIR/**`), a
    pattern (`photos/*/*.jpg`, `gs://bucket/scans/**`) is taken as it is, a file alone too.
    An output's name is the matched path relative to the base: the folder, or the pattern's
    folder before its first wildcard, or a lone file's folder (so its name is kept).

    Beam's patterns: `*` matches within a folder, `**` across folders.
    """
    if not _is_remote(item) and os.path.isdir(item):
        return _join(item, "**"), item.rstrip("/") or "/"
    if _is_remote(item) and item.endswith("/"):
        return item + "**", item.rstrip("/")
    fixed = item[: min((item.index(c) for c in _WILDCARDS if c in item), default=len(item))]
    base = fixed.rsplit("/", 1)[0] if "/" in fixed else "."
    return item, base


def _relative(path: str, base: str) -> str:
    if base == ".":
        return path.removeprefix("./")
    return path[len(base.rstrip("/")) + 1 :] if path.startswith(base.rstrip("/") + "/") else path


def _is_image(path: str) -> bool:
    return path.lower().endswith(IMAGE_EXTENSIONS)


# === Finding the export ===


def _remote_export_candidates(path: str) -> list[str]:
    """`tfcolor.export.client.export_candidates` through Beam's file systems (gs://...)."""
    from tfcolor.export.client import EXPORT_DIR

    if FileSystems.exists(_join(path, "saved_model.pb")):
        return [path]
    for base in (_join(path, EXPORT_DIR), path):
        (matched,) = FileSystems.match([_join(base, "*/saved_model.pb")])
        versions = sorted(
            (
                int(name)
                for name in {m.path[len(base) + 1 :].split("/")[0] for m in matched.metadata_list}
                if name.isdigit()
                and FileSystems.exists(_join(base, f"{name}/variables/variables.index"))
            ),
            reverse=True,
        )
        if versions:
            return [_join(base, str(version)) for version in versions]
    raise FileNotFoundError(
        f"{path} is neither a SavedModel nor a model_dir with an export "
        "(train with `python -m tfcolor.train`, which exports at the end)"
    )


def resolve_export(model: str):
    """The export to run: `model` itself, or a model_dir's newest export that loads.

    Local paths go through `tfcolor.export.client.load_export` (as `tfcolor.colorize`);
    others (gs://...) are listed with Beam's file systems and loaded by TensorFlow's.

    Returns:
        `(loaded, export, passed_over)` as `tfcolor.export.client.load_export`.

    Raises:
        FileNotFoundError: no export there.
        ValueError: none loads as a tfcolor export with a `colorize_images_at` signature.
    """
    from tfcolor.export import client

    if not _is_remote(model):
        return client.load_export(model, client.MEASURE_SIGNATURES)
    import tensorflow as tf

    passed_over = []
    for export in _remote_export_candidates(model):
        try:
            loaded = tf.saved_model.load(export)
            client.ExportImageColorizer(loaded)  # it has what the pipeline runs
            return loaded, export, passed_over
        except (tf.errors.OpError, OSError, ValueError, KeyError, AttributeError) as error:
            reason = client.error_reason(error) if str(error).strip() else type(error).__name__
            passed_over.append((export, f"not a tfcolor export that loads ({reason})"))
    raise ValueError(f"{passed_over[0][0]}: {passed_over[0][1]}")


# === The model handler ===


class ExportModelHandler(_ModelHandler):
    """RunInference's handler of a tfcolor export: uint8 images [H, W, C] of any size, C in
    1..4 -> `PredictionResult`s whose inference is the RGB uint8 [H, W, 3] result.

    Each batch is split by image shape (one `colorize_images_at` call per shape: images of
    one size stack), in calls within the export's pixel budget (`max_pixels`, N * H * W), so
    no call is refused for its size; every image is colorized as alone (the export's render
    chunks over a batch do not mix images).
    """

    def __init__(
        self,
        export: str,
        render_size: int | None = None,
        max_pixels: int | None = None,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
    ):
        # (BatchElements in Beam 2.77 takes no max_batch_weight, though ModelHandler offers
        # it: the pixel budget is kept in `run_inference`.)
        super().__init__(max_batch_size=max_batch_size)
        self._export = export
        self._render_size = render_size
        self._max_pixels = max_pixels

    def load_model(self):
        import tensorflow as tf

        from tfcolor.export.client import ExportImageColorizer

        return ExportImageColorizer(tf.saved_model.load(self._export))

    def run_inference(self, batch, model, inference_args=None):
        import numpy as np

        by_shape: dict[tuple[int, ...], list[int]] = {}
        for index, image in enumerate(batch):
            by_shape.setdefault(tuple(image.shape), []).append(index)
        results: list[np.ndarray | None] = [None] * len(batch)
        for shape, indices in by_shape.items():
            # As many images per call as the export's pixel budget takes (N * H * W).
            step = (
                max(self._max_pixels // max(shape[0] * shape[1], 1), 1)
                if self._max_pixels
                else len(indices)
            )
            for start in range(0, len(indices), step):
                chunk = indices[start : start + step]
                colorized = model(np.stack([batch[i] for i in chunk]), self._render_size)
                for index, result in zip(chunk, colorized, strict=True):
                    results[index] = result
        return [
            PredictionResult(image, result, self._export)
            for image, result in zip(batch, results, strict=True)
        ]

    def get_num_bytes(self, batch) -> int:
        return sum(image.nbytes for image in batch)

    def get_metrics_namespace(self) -> str:
        return "tfcolor_RunInference"


# === The pipeline's steps ===


def _fail(path: str, reason: str):
    _failed.inc()
    logging.warning("skipped %s: %s", path, reason)
    return beam.pvalue.TaggedOutput(_FAILED_TAG, (path, reason))


class _DecodeImage(_DoFn):
    """(key, ReadableFile) -> (key, uint8 [H, W, C]) as the export's serving_default decodes
    it (the header checked against its pixel budget first), or (path, reason) on "failed"."""

    def __init__(self, max_pixels: int | None):
        self.max_pixels = max_pixels
        self._decode = None

    def setup(self):
        import tensorflow as tf

        from tfcolor.input_pipeline.image_headers import check_encoded

        max_pixels = self.max_pixels

        # In a graph, as in the export: the same checks, and an error whose informative line
        # `error_reason` finds (an eager one starts with a Python stack).
        @tf.function(input_signature=[tf.TensorSpec([], tf.string)])
        def decode(encoded):
            if max_pixels is not None:
                encoded = check_encoded(encoded, tf.constant(max_pixels, tf.int64))
            return tf.io.decode_image(encoded, expand_animations=False)

        self._decode = decode

    def process(self, element):
        import stat

        import tensorflow as tf

        from tfcolor.export.client import error_reason

        key, readable = element
        path = readable.metadata.path
        # Reading a FIFO or a device would block a worker forever (colorize never opens one).
        if not _is_remote(path):
            try:
                if not stat.S_ISREG(os.stat(path).st_mode):
                    yield _fail(path, "not a regular file")
                    return
            except OSError as error:
                yield _fail(path, error.strerror or str(error))
                return
        try:
            with readable.open(compression_type=CompressionTypes.UNCOMPRESSED) as handle:
                data = handle.read()
        except OSError as error:
            yield _fail(path, f"cannot be read ({error.strerror or error})")
            return
        try:
            image = self._decode(tf.constant(data))
        except tf.errors.OpError as error:
            # `error_reason` without the Python stack of the node's definition, which a
            # function traced here carries (the export's, loaded, has none).
            lines = error.message.splitlines()
            message = "\n".join(line for line in lines if not line.strip().startswith('File "'))
            yield _fail(path, error_reason(ValueError(message)))
            return
        yield key, image.numpy()


def _output_names(keys: list[tuple[int, str]], bases: Sequence[str], output: str) -> dict:
    """{(input index, path): output path} for every matched image: `tfcolor.colorize`'s
    names (the inputs in order, each one's paths sorted); None where the result would land on
    an input file."""
    from tfcolor.export.result_names import output_names

    keys = sorted(set(keys))
    names = output_names([_relative(path, bases[index]) for index, path in keys])
    inputs = {_comparable(path) for _, path in keys}
    targets = {}
    for key, name in zip(keys, names, strict=True):
        target = _join(output, name)
        targets[key] = None if _comparable(target) in inputs else target
    return targets


def _comparable(path: str) -> str:
    """A path as the file it names: local paths resolved (symlinks, `..`), URLs as given."""
    return path if _is_remote(path) else os.path.realpath(path)


class _WritePng(_DoFn):
    """(key, PredictionResult) -> the PNG at its output name, written under a temporary name
    and renamed (a retried bundle or a killed worker never leaves half a PNG under the
    name); (path, reason) on "failed" where it cannot be written."""

    def process(self, element, targets):
        import tensorflow as tf

        (_, path), prediction = element
        target = targets[element[0]]
        if target is None:
            yield _fail(path, "its result would replace an input file")
            return
        png = tf.io.encode_png(prediction.inference).numpy()
        folder, name = target.rsplit("/", 1)
        temporary = _join(folder, f".tmp-{uuid.uuid4().hex}-{name}")
        try:
            with FileSystems.create(temporary, compression_type=CompressionTypes.UNCOMPRESSED) as f:
                f.write(png)
            FileSystems.rename([temporary], [target])
        except (OSError, beam.io.filesystem.BeamIOError) as error:
            if FileSystems.exists(temporary):
                FileSystems.delete([temporary])
            yield _fail(path, f"cannot write {target} ({_one_line(error)})")
            return
        _colorized.inc()
        yield target


def _one_line(text) -> str:
    return " ".join(str(text).split())


def _write_failed(failures, output: str) -> None:
    """`output/failed.txt`: one "<path>\t<reason>" line per input, sorted (the format of
    `tfcolor.input_pipeline.records.write_failed`), through Beam's file systems."""
    from tfcolor.input_pipeline.records import FAILED

    lines = "".join(f"{path}\t{_one_line(reason)}\n" for path, reason in sorted(failures))
    with FileSystems.create(_join(output, FAILED), "text/plain") as f:
        f.write(lines.encode())


def _read_failed(output: str) -> list[tuple[str, str]]:
    from tfcolor.input_pipeline.records import FAILED

    with FileSystems.open(_join(output, FAILED), "text/plain") as f:
        text = f.read().decode()
    return [tuple(line.split("\t", 1)) for line in text.splitlines() if line.strip()]


# === The launcher ===


def _check_output(output: str, bases: Sequence[str]) -> None:
    """Refuses an output folder that is an input folder, lies inside one or holds one.

    Stricter than `tfcolor.colorize`, which lets --output lie inside an input folder and
    leaves it out of the walk: a pattern is matched on the workers, after the check.

    Raises:
        ValueError: one line naming both.
    """
    for base in bases:
        if _is_remote(output) or _is_remote(base):
            out, folder = output.rstrip("/") + "/", base.rstrip("/") + "/"
            inside, holds = out.startswith(folder), folder.startswith(out)
        else:
            inside, holds = _within(output, base), _within(base, output)
        if inside or holds:
            what = "is" if inside and holds else ("lies inside" if inside else "holds")
            raise ValueError(
                f"--output {output} {what} the input folder {base}; results are never written "
                "among the inputs: choose another folder"
            )


def _within(path: str, folder: str) -> bool:
    """`tfcolor.cli.common.within` (real paths), which this layer may not import."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _prepare_output(output: str) -> None:
    """Makes the output folder and checks that a file can be written there, before any work.

    Raises:
        ValueError: one line with the reason.
    """
    from apache_beam.io.filesystem import BeamIOError

    probe = _join(output, f".tfcolor-write-check-{uuid.uuid4().hex}")
    try:
        if not _is_remote(output):
            if os.path.exists(output) and not os.path.isdir(output):
                raise ValueError(f"--output {output} is a file, not a folder")
            os.makedirs(output, exist_ok=True)
        with FileSystems.create(probe) as f:
            f.write(b"")
        FileSystems.delete([probe])
    except (OSError, BeamIOError) as error:
        raise ValueError(f"--output {output}: cannot write there ({_one_line(error)})") from None


def _check_render_size(render_size: int | None, loaded) -> None:
    if render_size is None:
        return
    budget = getattr(loaded, "max_render_pixels", None)
    side = int(budget.numpy() ** 0.5) if budget is not None else None
    if render_size < 0 or (side is not None and render_size > side):
        raise ValueError(
            f"--render-size must be between 0 and {side}, the side of the export's render "
            f"budget. Received: {render_size}"
        )


def colorize_files(
    inputs: Sequence[str],
    output: str,
    model: str,
    render_size: int | None = None,
    pipeline_args: Sequence[str] | PipelineOptions | None = None,
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
) -> dict:
    """Colorizes the images matched by `inputs` into `output` with a Beam pipeline; waits.

    Args:
        inputs: folders (searched recursively), files or Beam file patterns, local or on any
            Beam file system (gs://...). Only images (`IMAGE_EXTENSIONS`) are taken.
        output: the results' folder; not an input folder, not inside or holding one.
        model: an export or a model_dir (its newest export that loads); workers load it, so
            on a cluster it must be where they can read it (gs://...).
        render_size: side at which colours are predicted (None: the export's; 0: each
            image's own size).
        pipeline_args: Beam pipeline options, as flags or a PipelineOptions; None runs the
            DirectRunner in this process.
        max_batch_size: images per model call at most.

    Returns:
        {"colorized": results written, "counters": the Beam counters by name (`colorized`,
        `failed`), "failed": [(path, reason)] from failed.txt, "output", "export",
        "passed_over": [(export, reason)], "seconds"}.

    Raises:
        ImportError: Apache Beam is not installed.
        FileNotFoundError: no such model, or an input matches no file (locally: no image).
        ValueError: a bad model or argument, or --output overlaps the inputs or cannot be
            written (one line each).
    """
    if not beam_installed():
        raise ImportError(NO_BEAM)
    if max_batch_size < 1:
        raise ValueError(f"max_batch_size must be >= 1. Received: {max_batch_size}")
    if not inputs:
        raise ValueError("no inputs given")
    # A mistyped --model is named before the inputs are matched (as colorize does).
    if _is_remote(model):
        _remote_export_candidates(model)
    else:
        from tfcolor.export.client import export_candidates

        export_candidates(model)
    patterns = [input_pattern(item) for item in inputs]
    for (pattern, _), item in zip(patterns, inputs, strict=True):
        # A local listing is cheap: an input without images is named before anything is
        # made. A bucket's may be long: the first file tells a mistyped pattern, and one
        # that matches files but no image colorizes nothing (`colorized` 0, no failures).
        (matched,) = FileSystems.match([pattern], limits=[1] if _is_remote(pattern) else None)
        if not matched.metadata_list:
            raise FileNotFoundError(f"{item}: no file matches it")
        if not _is_remote(pattern) and not any(_is_image(m.path) for m in matched.metadata_list):
            raise FileNotFoundError(
                f"{item}: no image files ({', '.join(IMAGE_EXTENSIONS)}) match it"
            )
    bases = [base for _, base in patterns]
    _check_output(output, bases)
    loaded, export, passed_over = resolve_export(model)
    _check_render_size(render_size, loaded)
    budget = getattr(loaded, "max_pixels", None)
    max_pixels = int(budget.numpy()) if budget is not None else None
    del loaded  # the workers load their own
    _prepare_output(output)

    if isinstance(pipeline_args, PipelineOptions):
        options = pipeline_args
    else:
        options = PipelineOptions(list(pipeline_args or []))
    start = time.monotonic()
    pipeline = beam.Pipeline(options=options)
    matched, keys = [], []
    for index, (pattern, _) in enumerate(patterns):
        images = (
            pipeline
            | f"Match{index}" >> fileio.MatchFiles(pattern, fileio.EmptyMatchTreatment.ALLOW)
            | f"Images{index}" >> beam.Filter(lambda m: _is_image(m.path))
        )
        keys.append(images | f"Key{index}" >> beam.Map(lambda m, i=index: (i, m.path)))
        matched.append(
            images
            # One pattern's matches come from one element: spread them over the workers.
            | f"Spread{index}" >> beam.Reshuffle()
            | f"Read{index}" >> fileio.ReadMatches(compression=CompressionTypes.UNCOMPRESSED)
            | f"KeyRead{index}" >> beam.Map(lambda f, i=index: ((i, f.metadata.path), f))
        )
    targets = (
        keys
        | "AllKeys" >> beam.Flatten()
        | "CollectKeys" >> beam.combiners.ToList()
        | "Names" >> beam.Map(_output_names, bases, output)
    )
    decoded = (
        matched
        | "AllFiles" >> beam.Flatten()
        | "Decode" >> beam.ParDo(_DecodeImage(max_pixels)).with_outputs(_FAILED_TAG, main="images")
    )
    handler = ExportModelHandler(export, render_size, max_pixels, max_batch_size)
    written = (
        decoded.images
        | "Colorize" >> RunInference(KeyedModelHandler(handler))
        | "WritePng"
        >> beam.ParDo(_WritePng(), beam.pvalue.AsSingleton(targets)).with_outputs(
            _FAILED_TAG, main="written"
        )
    )
    _ = (
        [decoded[_FAILED_TAG], written[_FAILED_TAG]]
        | "AllFailures" >> beam.Flatten()
        | "CollectFailures" >> beam.combiners.ToList()
        | "WriteFailed" >> beam.Map(_write_failed, output)
    )
    result = pipeline.run()
    result.wait_until_finish()
    seconds = time.monotonic() - start

    failed = _read_failed(output)
    counters = pipeline_counters(result)
    return {
        "colorized": counters.get("colorized", 0),
        "counters": counters,
        "failed": failed,
        "output": output,
        "export": export,
        "passed_over": passed_over,
        "seconds": seconds,
    }
