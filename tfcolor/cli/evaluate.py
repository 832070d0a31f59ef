"""Measures a colorizer on a dataset, beside the gray baseline (a = b = 0).

    python -m tfcolor.evaluate --model runs/unet_shapes
    python -m tfcolor.evaluate --model runs/photos/export/1790000000 --data folder:~/test_photos
    python -m tfcolor.evaluate --model runs/cifar --temperature 0,0.38,0.8,1

Prints a table of PSNR, SSIM, the AuC of the per-pixel ab error curve (Zhang et al. 2016;
class-rebalanced too for bin codecs), colourfulness (Hasler and Suesstrunk 2003) of the output
and of the truth, for the model and for the gray baseline; writes them as metrics.json, a
contact sheet (gray | predicted | truth) and the ab error curves as PNGs into --output.

--model is a model_dir (its config gives the data, image size and codec) or an export (then
--data is needed unless the export lies in a model_dir's export/ folder). --temperature sweeps
the decoding temperature of bin codecs, as the thesis compared T = 0, 0.8 and 1. --gamut
clip renders out-of-gamut colours as before (R, G, B clipped, which shifts L) for comparison
with the default chroma (lower chroma at constant L and hue); an export has its setting baked
in, so a different one needs the model_dir.

--split: the run's own data is measured on its validation split (a folder's held-out share);
--data of a source the run did not train on is measured whole (`all`). --data is the run's own
when it names the same folder (resolved: a trailing slash, a relative path or a symlink to it
counts as the same) or the same source.

--output may not be the data folder or the model, nor lie inside the data folder (its PNGs
would become data); it is checked to be writable before anything is measured, and each file
is written to a temporary name and renamed into place (a symlink there is replaced, not
followed).

On video data (--data video:DIR or tfrecord:DIR, or a video model's own data) the clips are
colorized whole, a recurrent model carrying its state from chunk to chunk and an image model
frame by frame; the image metrics are over the frames, and the temporal consistency of the
output, of the truth and of the gray baseline is added: CDC (colour distribution
consistency) and the warp error (`tfcolor.evaluation.temporal`). --limit then counts frames.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from tfcolor.cli import common as cli
from tfcolor.config.options import GAMUT_MAPPINGS
from tfcolor.training import run_dir as run_dir_lib

__all__ = ["main"]


def _temperatures(text: str) -> list[float]:
    try:
        values = [float(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes numbers like 0,0.38,1, got {text}") from None
    if not values or not all(0 <= value <= 1 for value in values):
        raise argparse.ArgumentTypeError(f"takes temperatures between 0 and 1, got {text}")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tfcolor.evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="a model_dir or an export")
    parser.add_argument(
        "--data",
        help="source to measure on: shapes | folder:DIR | tfds:NAME[:SPLIT] | video:DIR | "
        "tfrecord:DIR (default: the run's validation data)",
    )
    parser.add_argument(
        "--split",
        choices=["validation", "train", "all"],
        help="which part of the data (default: validation, a folder's held-out share, for the "
        "run's own data; all, the whole source, for --data the run did not train on)",
    )
    parser.add_argument(
        "--image-size", type=cli.positive_int, help="images are resized and centre-cropped to this"
    )
    parser.add_argument("--limit", type=cli.positive_int, help="measure at most this many images")
    parser.add_argument("--batch-size", type=cli.positive_int, default=32)
    parser.add_argument(
        "--temperature",
        type=_temperatures,
        help="decoding temperatures to sweep, comma-separated, each in [0, 1] (bin codecs)",
    )
    parser.add_argument(
        "--render-size",
        type=cli.non_negative_int,
        help="side at which colours are predicted (default: the model's; 0: each image's own)",
    )
    parser.add_argument(
        "--gamut",
        choices=GAMUT_MAPPINGS,
        help="out-of-gamut colours: chroma (lower the chroma, keeping L and hue) or clip (R, G, "
        "B clipped separately, the former behaviour) (default: the model's; an export's is "
        "baked in)",
    )
    parser.add_argument(
        "--sheet-images", type=int, default=36, help="images on the contact sheet (default 36)"
    )
    parser.add_argument(
        "--output", help="folder for the results (default: MODEL_DIR/eval, or ./tfcolor_eval)"
    )
    return parser


def _run_dir(path: str) -> str | None:
    """The model_dir of a model_dir, or of an export inside its export/ folder."""
    path = os.path.abspath(path)
    for candidate in (path, os.path.dirname(os.path.dirname(path))):
        if run_dir_lib.is_run(candidate):
            return candidate
    return None


def _same_source(first: str | None, second: str | None) -> bool:
    """Whether two source strings name the same data: the same kind and, for folders
    (folder:, video:, tfrecord:), the same folder once resolved (a trailing slash, a relative
    path or a symlink to it); other sources (shapes, tfds:NAME) by their text."""
    if first is None or second is None:
        return False
    first, second = cli.expand_source(first), cli.expand_source(second)
    kind, separator, folder = first.partition(":")
    other_kind, _, other_folder = second.partition(":")
    if separator and kind in ("folder", "video", "tfrecord") and kind == other_kind:
        return os.path.realpath(folder) == os.path.realpath(other_folder)
    return first == second


def _table(rows: dict[str, dict[str, float]]) -> str:
    """Metric rows, one column per model setting and the gray baseline last."""
    columns = list(rows)
    names = [name for name in next(iter(rows.values())) if not name.startswith("gray_")]
    width = max(12, *(len(column) + 2 for column in columns))
    header = "metric".ljust(22) + "".join(c.rjust(width) for c in columns) + "gray".rjust(width)
    lines = [header, "-" * len(header)]
    first = rows[columns[0]]
    for name in names:
        cells = "".join(f"{rows[c].get(name, float('nan')):{width}.4f}" for c in columns)
        gray = first.get(f"gray_{name}", first.get(name) if name == "colorfulness_true" else None)
        gray_cell = f"{gray:{width}.4f}" if gray is not None else "-".rjust(width)
        lines.append(name.ljust(22) + cells + gray_cell)
    return "\n".join(lines)


def _error(message: str) -> int:
    print(f"tfcolor.evaluate: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    cli.quiet_tensorflow()
    if not os.path.exists(args.model):
        return _error(f"--model {args.model}: no such folder")

    import numpy as np
    import tensorflow as tf

    from tfcolor import input_pipeline
    from tfcolor.config import DataConfig
    from tfcolor.evaluation import measure as evaluation
    from tfcolor.input_pipeline.files import split_source

    run_dir = _run_dir(args.model)
    is_export = os.path.exists(os.path.join(args.model, "saved_model.pb"))
    config = None
    if run_dir is not None:
        try:
            config = run_dir_lib.read_config(run_dir)
        except ValueError as error:
            return _error(str(error))
    data = config.data if config is not None else DataConfig()
    source = cli.expand_source(args.data) if args.data else None
    if source is None and config is None:
        parser.error(f"--data is needed: {args.model} is an export outside a model_dir")
    own = source is None or (
        config is not None
        and any(_same_source(source, mine) for mine in (data.source, data.validation_source))
    )
    if not own:
        # A source of its own: measured whole by default, not split like the run's data.
        data.source, data.validation_source, data.classes = source, None, None
    split = args.split or ("validation" if own else "all")
    if args.image_size:
        data.image_size = args.image_size
    data.batch_size = args.batch_size
    output = args.output or (
        os.path.join(run_dir, run_dir_lib.EVAL_DIR) if run_dir else "tfcolor_eval"
    )
    data_folders = [
        text.partition(":")[2]
        for text in map(cli.expand_source, (data.source, data.validation_source))
        if text and text.partition(":")[0] in ("folder", "video", "tfrecord")
    ]
    try:
        cli.check_not_input(output, data_folders, "--output")
        cli.check_not_input(output, [args.model], "--output", results_checked=True)
        cli.prepare_output_folder(output, "--output")
    except ValueError as error:
        return _error(str(error))

    try:
        if is_export or run_dir is None:
            colorize_fn, codec_name, codec = _export_colorizer(args.model)
            if not args.image_size and config is None:
                data.image_size = colorize_fn.render_size or data.image_size
            if args.gamut and args.gamut != colorize_fn.gamut:
                raise ValueError(
                    f"--gamut {args.gamut}: this export renders with {colorize_fn.gamut} baked "
                    "in; pass its model_dir as --model to render with another"
                )
            gamut = colorize_fn.gamut
        else:
            colorize_fn, codec_name, codec = _run_colorizer(run_dir, args.gamut)
            gamut = args.gamut or codec.config.gamut
        if args.temperature and codec_name == "regression":
            raise ValueError("--temperature applies to bin codecs; this model regresses ab")
        settings = args.temperature or [None]
        if not data.is_video:
            dataset = input_pipeline.load_images(data, split=split, limit=args.limit)
            batches = dataset.map(lambda element: element["image"]).batch(data.batch_size)
        weights = codec.pixel_class_weights if codec is not None else None
        rows, curves, sheet = {}, {}, None
        for temperature in settings:
            label = "model" if temperature is None else f"T={temperature:g}"
            samples = args.sheet_images if sheet is None else 0
            if data.is_video:
                from tfcolor.training.video import iter_clips, limit_frames

                clips = iter_clips(data, split)
                measured = evaluation.measure_clips(
                    lambda clip, t=temperature: colorize_fn.clip(clip, t),
                    limit_frames(clips, args.limit) if args.limit else clips,
                    pixel_class_weights=weights,
                    samples=samples,
                )
            else:
                measured = evaluation.measure(
                    lambda truth, t=temperature: colorize_fn(truth, args.render_size, t),
                    batches.as_numpy_iterator(),
                    pixel_class_weights=weights,
                    samples=samples,
                )
            rows[label] = measured.results
            curves[label] = measured.curve
            if sheet is None and args.sheet_images > 0:
                sheet = evaluation.contact_sheet(*measured.samples)
        curves["gray"] = measured.gray_curve
    except (ValueError, FileNotFoundError, tf.errors.OpError) as error:
        if isinstance(error, tf.errors.OpError):
            from tfcolor.export.client import error_reason

            return _error(error_reason(error))
        return _error((str(error).strip().splitlines() or [type(error).__name__])[0])

    # What was measured: a run's validation split reads its validation_source where it has one.
    measured_source = split_source(data, split)[0]
    report = {
        "model": os.path.abspath(args.model),
        "data": measured_source,
        "split": split,
        "image_size": data.image_size,
        "gamut": gamut,
        "images": measured.images,
        "results": rows,
        "ab_error_curve": {label: np.round(c, 6).tolist() for label, c in curves.items()},
    }
    try:
        cli.write_atomic(
            os.path.join(output, "metrics.json"),
            json.dumps(report, indent=2).encode("utf-8"),
            output,
        )
        if sheet is not None:
            png = tf.io.encode_png(sheet).numpy()
            cli.write_atomic(os.path.join(output, "contact_sheet.png"), png, output)
        with cli.atomic_target(os.path.join(output, "ab_error_curve.png"), output) as partial:
            evaluation.plot_error_curves(
                curves,
                partial,
                title=f"{os.path.basename(os.path.abspath(args.model))} on {measured_source}",
            )
    except OSError as error:
        return _error(f"--output {output}: cannot write the results ({error.strerror or error})")
    if data.is_video:
        width, height = data.frame_size
        print(f"{measured.images} frames of {measured_source} ({split}), {width}x{height}")
    else:
        print(f"{measured.images} images of {measured_source} ({split}), {data.image_size} px")
    print(_table(rows))
    print(f"written to {output}: metrics.json, contact_sheet.png, ab_error_curve.png")
    return 0


def _export_colorizer(path: str):
    """The colorizer, codec name and codec (None outside a model_dir) of an export, or of a
    model_dir's newest export that loads (a broken newer one is named in a warning).

    Raises:
        FileNotFoundError, ValueError: no usable export (one line).
    """
    from tfcolor.export.client import MEASURE_SIGNATURES, ExportImageColorizer, load_export

    loaded, export, passed_over = load_export(path, MEASURE_SIGNATURES)
    for broken, reason in passed_over:
        print(f"tfcolor.evaluate: warning: {broken}: {reason}; using {export}", file=sys.stderr)
    codec = None
    run_dir = _run_dir(export)
    if run_dir is not None and run_dir_lib.RunDir(run_dir).has_codec:
        from tfcolor import codecs

        codec = codecs.load_codec(run_dir)
    return ExportImageColorizer(loaded), loaded.codec_name.numpy().decode(), codec


def _run_colorizer(run_dir: str, gamut: str | None = None):
    from tfcolor.training import open_run

    colorizer = open_run(run_dir)

    def colorize(truth, render_size=None, temperature=None):
        return colorizer.predict(
            truth, render_size=render_size, temperature=temperature, gamut=gamut
        )

    colorize.clip = lambda clip, t=None: colorizer.colorize_video(clip, temperature=t, gamut=gamut)
    return colorize, colorizer.codec.name, colorizer.codec


if __name__ == "__main__":
    sys.exit(main())
