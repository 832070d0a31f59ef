"""Runs the comparisons the thesis and the course report make, on CPU-sized data, and prints
them as one Markdown table (README, "The seeds' comparisons").

    python benchmarks/reproduce_seeds.py                      # the whole table, about 10 min
    python benchmarks/reproduce_seeds.py --only thesis --epochs 6 --work-dir runs/repro

The thesis (its 32x32 U-Net on the shapes data, trained as it trained: plain cross-entropy,
Adam 1e-3 at a constant rate, batch 64, `unet_thesis`):

- 324 against 36 grid bins;
- the temperature decode at T = 0, 0.8 and 1 (one trained run, decoded three ways);
- cross-entropy against MSE (the regression variant, `unet_mse`);
- plain against rebalanced cross-entropy (Zhang et al.'s lambda 0.5);
- 8/16/32 against 16/32/64 filters.

The course report (Iizuka et al.'s network): the basic model (no global features,
`iizuka_basic`) against the full one (`iizuka`), both at 64x64 on a small real-photo folder cut
from the photos scikit-image and scikit-learn ship (augmented, validated on photos of its own).

Each row is a run of tfcolor's own training (`tfcolor.Colorizer`) measured by its own
`evaluate` over the whole validation set: per-pixel bin accuracy (bin codecs), PSNR, SSIM, AuC
and colourfulness, each beside the gray baseline's (the truth's for colourfulness), and the
training time. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time

# The thesis's decoding temperatures compared on one run.
TEMPERATURES = (0.0, 0.8, 1.0)


@dataclasses.dataclass
class Row:
    """One line of the table."""

    group: str
    name: str
    results: dict
    seconds: float


def thesis_runs(epochs: int, steps: int | None):
    """(name, config, temperatures) of the thesis's comparisons."""
    from tfcolor.config import get_preset

    def thesis(**changes):
        config = get_preset("unet_thesis")
        config.train.epochs = epochs
        config.train.steps_per_epoch = steps
        config.train.metric_images = 324  # the whole validation set
        config.train.panel_images = 0
        for path, value in changes.items():
            section, field = path.split("__")
            setattr(getattr(config, section), field, value)
        return config

    mse = get_preset("unet_mse")
    mse.train.epochs, mse.train.steps_per_epoch = epochs, steps
    mse.train.metric_images, mse.train.panel_images = 324, 0
    return [
        ("324 bins, plain CE, 8/16/32 (the thesis's run)", thesis(), TEMPERATURES),
        ("36 bins", thesis(codec__n_bins=36), (0.0,)),
        ("MSE regression (unet_mse)", mse, (None,)),
        ("rebalanced CE (lambda 0.5)", thesis(codec__rebalance=0.5), (0.0,)),
        ("16/32/64 filters", thesis(model__filters=(16, 32, 64)), (0.0,)),
    ]


def write_photo_folders(folder: str, size: int = 64, seed: int = 0) -> tuple[str, str]:
    """Training and validation folders of `size` x `size` crops of the shipped photos: the
    training crops from seven photos, the validation crops from two others (no photo in both)."""
    import numpy as np
    import skimage.data
    from PIL import Image
    from sklearn.datasets import load_sample_image

    training = {
        "astronaut": skimage.data.astronaut(),
        "chelsea": skimage.data.chelsea(),
        "coffee": skimage.data.coffee(),
        "rocket": skimage.data.rocket(),
        "motorcycle": skimage.data.stereo_motorcycle()[0],
        "china": load_sample_image("china.jpg"),
        "retina": skimage.data.retina(),
    }
    validation = {
        "flower": load_sample_image("flower.jpg"),
        "hubble": skimage.data.hubble_deep_field(),
    }
    rng = np.random.default_rng(seed)
    folders = []
    for part, photos, crops in (("train", training, 24), ("validation", validation, 16)):
        target = os.path.join(folder, part)
        os.makedirs(target, exist_ok=True)
        for name, photo in photos.items():
            photo = photo[..., :3]
            for index in range(crops):
                # A crop of a random side (a quarter to the whole of the shorter side), resized.
                short = min(photo.shape[:2])
                side = int(rng.integers(short // 4, short + 1))
                top = int(rng.integers(0, photo.shape[0] - side + 1))
                left = int(rng.integers(0, photo.shape[1] - side + 1))
                crop = Image.fromarray(
                    np.ascontiguousarray(photo[top : top + side, left : left + side])
                )
                crop = crop.resize((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
                crop.save(os.path.join(target, f"{name}_{index:02d}.png"))
        folders.append(target)
    return folders[0], folders[1]


def report_runs(folder: str, epochs: int, steps: int | None, photos: str | None = None):
    """(name, config, temperatures) of the course report's basic against full model, on the
    shipped photos' crops or on `photos` (a folder, with its own validation split)."""
    from tfcolor.config import get_preset

    if photos is None:
        train, validation = write_photo_folders(os.path.join(folder, "photos"))
    else:
        train, validation = os.path.abspath(os.path.expanduser(photos)), None
    runs = []
    for preset, name in (("iizuka_basic", "basic model"), ("iizuka", "full model")):
        config = get_preset(preset)
        config.data.source = f"folder:{train}"
        config.data.validation_source = validation and f"folder:{validation}"
        config.data.image_size = 64
        config.data.batch_size = 16
        config.data.augment = True
        config.model.global_size = 64  # the global path's rescale, cut with the images
        config.train.epochs = epochs
        config.train.steps_per_epoch = steps
        config.train.metric_images = 32
        config.train.panel_images = 0
        runs.append((f"{name} ({preset}), 64x64 photos", config, (None,)))
    return runs


def run_group(group: str, runs, work_dir: str, progress) -> list[Row]:
    """Trains each run, then measures it at each of its temperatures."""
    import keras

    from tfcolor import Colorizer

    rows = []
    for name, config, temperatures in runs:
        keras.backend.clear_session()
        model_dir = os.path.join(
            work_dir, group, name.split(" (")[0].replace(" ", "_").replace("/", "-")
        )
        progress(f"{group}: {name}: training {config.train.epochs} epochs ...")
        colorizer = Colorizer(config, model_dir)
        start = time.perf_counter()
        colorizer.train(verbose=0)
        seconds = time.perf_counter() - start
        results = colorizer.evaluate()
        for temperature in temperatures:
            measured = dict(results)
            label = name
            if temperature is not None and len(temperatures) > 1:
                images = colorizer.validation_images(config.train.metric_images)
                measured.update(colorizer.measure(images, temperature=temperature).results)
                label = f"{name}, T = {temperature:g}"
            rows.append(Row(group, label, measured, seconds))
    return rows


def table(rows: list[Row]) -> list[str]:
    """The Markdown table: each image metric beside the gray baseline's."""

    def pair(results, name, baseline="gray_"):
        value = results.get(name)
        other = results.get(f"{baseline}{name}" if baseline == "gray_" else baseline)
        if value is None:
            return "-"
        return f"{value:.3f} / {other:.3f}" if other is not None else f"{value:.3f}"

    lines = [
        "| comparison | run | bin accuracy (coloured pixels) | PSNR / gray | SSIM / gray | "
        "AuC / gray | colourfulness / truth | training |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        results = row.results
        accuracy = "-"
        if "bin_accuracy" in results:
            accuracy = f"{100 * results['bin_accuracy']:.1f} %"
            if "colored_bin_accuracy" in results:
                accuracy += f" ({100 * results['colored_bin_accuracy']:.1f} %)"
        lines.append(
            f"| {row.group} | {row.name} | {accuracy} | {pair(results, 'psnr')} | "
            f"{pair(results, 'ssim')} | {pair(results, 'auc')} | "
            f"{pair(results, 'colorfulness', 'colorfulness_true')} | {row.seconds:.0f} s |"
        )
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=("thesis", "report"), help="one of the two groups")
    parser.add_argument(
        "--epochs", type=int, default=12, help="thesis runs (default 12, as the presets)"
    )
    parser.add_argument(
        "--report-epochs", type=int, default=15, help="the report's runs (default 15)"
    )
    parser.add_argument("--steps-per-epoch", type=int, help="cut every epoch (a quick try)")
    parser.add_argument(
        "--photos",
        help="the report's runs on this folder of photos (its deterministic validation split) "
        "instead of crops of the shipped photos",
    )
    parser.add_argument("--work-dir", help="where the runs go (default: a temporary folder)")
    args = parser.parse_args(argv)

    from tfcolor.cli.common import quiet_tensorflow

    quiet_tensorflow()

    def progress(line):
        print(line, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as scratch:
        work_dir = args.work_dir or scratch
        rows = []
        start = time.perf_counter()
        if args.only in (None, "thesis"):
            runs = thesis_runs(args.epochs, args.steps_per_epoch)
            rows += run_group("thesis, shapes 32x32", runs, work_dir, progress)
        if args.only in (None, "report"):
            runs = report_runs(work_dir, args.report_epochs, args.steps_per_epoch, args.photos)
            rows += run_group("course report, photos", runs, work_dir, progress)
        elapsed = time.perf_counter() - start
    print("\n".join(table(rows)))
    print(f"\n({len(rows)} rows, {elapsed / 60:.1f} min, {os.cpu_count()} CPU cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
