"""Measures a colorizer on a set of images: the metrics beside the gray baseline, a contact
sheet and the ab error curve.

`Colorizer.evaluate`, the TensorBoard validation metrics and `python -m tfcolor.evaluate` all
call `measure`, so the numbers of a training run and of a later evaluation are the same
numbers. Images are measured as the model sees them in validation (resized and centre-cropped
to the data's image size); a colorize function takes uint8 RGB [N, S, S, 3] (whose colour it
ignores) and returns colorized uint8 RGB of the same shape.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable

import numpy as np
import tensorflow as tf

from tfcolor import color
from tfcolor.evaluation import metrics

__all__ = [
    "Measurement",
    "contact_sheet",
    "gray_images",
    "measure",
    "measure_clips",
    "plot_error_curves",
    "triplets",
]

Colorize = Callable[[np.ndarray], np.ndarray]


@dataclasses.dataclass
class Measurement:
    """What `measure` found.

    Attributes:
        results: metric name -> value: `psnr`, `ssim`, `auc`, `auc_rebalanced` (bin codecs),
            `colorfulness`, `colorfulness_true`, and the gray baseline's under `gray_`.
        curve: the cumulative ab error curve, float32 [151] (index t: fraction of pixels whose
            ab error is at most t).
        gray_curve: the gray baseline's curve.
        images: the number of images measured.
        samples: up to `samples` (truth, predicted) uint8 pairs [N, S, S, 3] for a contact
            sheet.
    """

    results: dict[str, float]
    curve: np.ndarray
    gray_curve: np.ndarray
    images: int
    samples: tuple[np.ndarray, np.ndarray]


def measure(
    colorize: Colorize,
    batches: Iterable[np.ndarray],
    pixel_class_weights: Callable[[tf.Tensor], tf.Tensor] | None = None,
    samples: int = 0,
) -> Measurement:
    """Colorizes every batch and measures the results against the truth.

    Args:
        colorize: uint8 RGB [N, S, S, 3] -> colorized uint8 RGB [N, S, S, 3].
        batches: uint8 RGB truth batches [N, S, S, 3].
        pixel_class_weights: ab [N, S, S, 2] -> the class-rebalancing weight of each pixel's
            true colour [N, S, S] (a bin codec's `pixel_class_weights`), for Zhang et al.'s
            rebalanced AuC; None leaves it out.
        samples: keep this many (truth, predicted) pairs for a contact sheet.

    Returns:
        A `Measurement`.

    Raises:
        ValueError: there were no images.
    """
    accumulator = metrics.ColorizationMetrics(gray_baseline=True)
    count = 0
    kept_truth, kept_predicted = [], []
    for truth in batches:
        truth = np.asarray(truth)
        if not len(truth):
            continue
        predicted = np.asarray(colorize(truth))
        # Converted once here: the class weights and every metric read the same true ab.
        true_ab = color.lightness_and_ab(tf.image.convert_image_dtype(truth, tf.float32))[1]
        weights = pixel_class_weights(true_ab) if pixel_class_weights is not None else None
        # (a codec without colour classes returns None: no balanced AuC)
        accumulator.update(truth, predicted, true_ab=true_ab, pixel_weights=weights)
        count += len(truth)
        if len(kept_truth) < samples:
            room = samples - sum(len(batch) for batch in kept_truth)
            kept_truth.append(truth[:room])
            kept_predicted.append(predicted[:room])
    if count == 0:
        raise ValueError("there are no images to measure. Received: 0 images")
    empty = np.zeros((0, 1, 1, 3), np.uint8)
    return Measurement(
        results=accumulator.result(),
        curve=accumulator.curve(),
        gray_curve=accumulator.curve(gray=True),
        images=count,
        samples=(
            np.concatenate(kept_truth) if kept_truth else empty,
            np.concatenate(kept_predicted) if kept_predicted else empty,
        ),
    )


def measure_clips(
    colorize_clip: Colorize,
    clips: Iterable[np.ndarray],
    pixel_class_weights: Callable[[tf.Tensor], tf.Tensor] | None = None,
    samples: int = 0,
) -> Measurement:
    """`measure` over the frames of video clips, plus their temporal consistency.

    Args:
        colorize_clip: uint8 RGB [T, H, W, 3] -> colorized uint8 RGB [T, H, W, 3] (a
            recurrent model carries its state through the clip; an image model colorizes
            the frames one by one).
        clips: uint8 RGB truth clips [T, H, W, 3].
        pixel_class_weights, samples: as `measure` (samples are frames).

    Returns:
        A `Measurement` whose results add, over the clips of two frames or more
        (`tfcolor.evaluation.temporal`, frame-weighted): `cdc` and `warp_error` of the output, the
        truth's own `cdc_true` and `warp_error_true`, and the gray baseline's `gray_cdc`
        and `gray_warp_error`. `images` counts frames.
    """
    from tfcolor.evaluation import temporal

    model, gray = temporal.TemporalMetrics(), temporal.TemporalMetrics()

    def colorize(clip: np.ndarray) -> np.ndarray:
        predicted = np.asarray(colorize_clip(clip))
        if len(clip) > 1:
            model.update(predicted, clip)
            gray.update(gray_images(clip), clip)
        return predicted

    measured = measure(colorize, clips, pixel_class_weights=pixel_class_weights, samples=samples)
    if model.clips:
        measured.results.update(model.result())
        gray_results = gray.result()
        measured.results["gray_cdc"] = gray_results["cdc"]
        measured.results["gray_warp_error"] = gray_results["warp_error"]
    return measured


def gray_images(truth: np.ndarray) -> np.ndarray:
    """What the model sees, as an image: the truth's lightness with a = b = 0, uint8."""
    gray = metrics.gray_rgb(truth)
    return tf.image.convert_image_dtype(gray, tf.uint8, saturate=True).numpy()


def triplets(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """gray | predicted | truth side by side: uint8 [N, S, 3 S, 3] from two [N, S, S, 3]."""
    return np.concatenate([gray_images(truth), np.asarray(predicted), truth], axis=2)


def contact_sheet(
    truth: np.ndarray, predicted: np.ndarray, columns: int = 0, gap: int = 2
) -> np.ndarray:
    """Triplets gray | predicted | truth in a grid, one triplet per image.

    Args:
        truth: uint8 [N, S, S, 3].
        predicted: uint8 [N, S, S, 3].
        columns: triplets per row; 0 picks about as many as make the sheet square.
        gap: white pixels between triplets (none inside a triplet).

    Returns:
        uint8 RGB [rows * (S + gap) - gap, columns * (3 S + gap) - gap, 3], white where no
        triplet is.
    """
    truth, predicted = np.asarray(truth), np.asarray(predicted)
    if truth.shape != predicted.shape or truth.ndim != 4 or not len(truth):
        raise ValueError(
            "truth and predicted must be non-empty uint8 [N, S, S, 3] of one shape. "
            f"Received: {truth.shape} and {predicted.shape}"
        )
    count, height, width, _ = truth.shape
    rows_of_three = triplets(truth, predicted)
    if columns <= 0:
        columns = max(1, round(math.sqrt(count * height / (3 * width))))
    columns = min(columns, count)
    rows = math.ceil(count / columns)
    cell_height, cell_width = height + gap, 3 * width + gap
    sheet = np.full((rows * cell_height - gap, columns * cell_width - gap, 3), 255, np.uint8)
    for index, triplet in enumerate(rows_of_three):
        row, column = divmod(index, columns)
        top, left = row * cell_height, column * cell_width
        sheet[top : top + height, left : left + 3 * width] = triplet
    return sheet


def plot_error_curves(curves: dict[str, np.ndarray], path: str, title: str = "") -> None:
    """Writes the cumulative ab error curves (Zhang et al. 2016, fig. 5) as a PNG.

    Args:
        curves: label -> curve [T + 1] (fraction of pixels with error <= t), e.g. the model's
            and the gray baseline's.
        path: the PNG file to write.
        title: the plot's title.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(6, 4.5), dpi=100)
    for label, curve in curves.items():
        thresholds = np.arange(len(curve))
        auc = float(np.mean(curve))
        axes.plot(thresholds, curve, label=f"{label} (AuC {100 * auc:.1f} %)")
    axes.set_xlabel("threshold on the ab error (L2)")
    axes.set_ylabel("fraction of pixels within the threshold")
    axes.set_xlim(0, max(len(curve) - 1 for curve in curves.values()))
    axes.set_ylim(0, 1)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    if title:
        axes.set_title(title)
    figure.tight_layout()
    with tf.io.gfile.GFile(path, "wb") as f:
        figure.savefig(f, format="png")
    pyplot.close(figure)
