"""`bench colorize`: inference images/s of an image preset's network and of its export.

The preset's network is built with random weights (the speed does not depend on them) at its
default size; two things are timed on random images, in alternating rounds:

- `network`: normalized lightness [B, S, S, 1] -> the codec's outputs, the Keras model called
  in one `tf.function` (graph mode, no XLA), as `Colorizer.predict` and the export call it;
- `export`: uint8 RGB [B, S, S, 3] -> uint8 RGB through a saved and reloaded export's
  `colorize_images` signature (Lab conversion, the network at the render size, decoding,
  upsampling, the out-of-gamut rendering): what a server does per image.

The comparison with the same network in eager PyTorch is `benchmarks/zhang_vs_pytorch.py`
(torch is not a tfcolor dependency).
"""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
import time

from tfcolor.benchmarks.timing import cpu_seconds

__all__ = ["ColorizeBenchRow", "colorize_table", "run_colorize_benchmark"]


@dataclasses.dataclass
class ColorizeBenchRow:
    """One preset's figures: images/s (medians of the rounds) and the load from elsewhere.

    Attributes:
        preset: the preset's name.
        image_size: the side of the square images.
        batch_size: images per call.
        network: images/s of the network alone.
        export: images/s through the export's `colorize_images`.
        others_cpu: CPU cores other processes kept busy on average while timing (None where
            it cannot be read).
    """

    preset: str
    image_size: int
    batch_size: int
    network: float
    export: float
    others_cpu: float | None


def _images_per_second(call, batch_size: int, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        call()
    return batch_size * calls / (time.perf_counter() - start)


def run_colorize_benchmark(
    preset: str,
    image_size: int | None = None,
    batch_size: int = 1,
    calls: int = 4,
    rounds: int = 3,
    seed: int = 0,
) -> ColorizeBenchRow:
    """Times `preset`'s network and its export (see the module docstring).

    Args:
        preset: an image preset (`tfcolor.config.PRESETS`).
        image_size: the images' side (default: the preset's); also the export's render size.
        batch_size: images per call.
        calls: calls per timed round.
        rounds: timed rounds, alternating network and export; medians are kept.
        seed: the random weights' and images' seed.
    """
    import keras
    import numpy as np
    import tensorflow as tf

    from tfcolor import codecs
    from tfcolor.config import get_preset
    from tfcolor.export import saved_model as serving
    from tfcolor.models import build_model

    config = get_preset(preset)
    size = int(image_size or config.data.image_size)
    keras.utils.set_random_seed(seed)
    codec = codecs.make_codec(config.codec)
    model = build_model(config.model, codec)
    multiple = getattr(model, "downsampling", 1)
    rng = np.random.default_rng(seed)
    lightness = tf.constant(rng.random((batch_size, size, size, 1), np.float32))
    images = tf.constant(rng.integers(0, 256, (batch_size, size, size, 3), np.uint8))

    @tf.function(jit_compile=False)
    def network(lightness):
        return model(lightness, training=False)

    with tempfile.TemporaryDirectory() as folder:
        path = serving.export_saved_model(
            model, codec, folder, size, multiple, config.codec.temperature
        )
        serve = tf.saved_model.load(path).signatures["colorize_images"]
        figures = {
            "network": lambda: network(lightness).numpy(),
            "export": lambda: serve(images=images)["colorized"].numpy(),
        }
        for call in figures.values():  # warm-up: tracing, oneDNN's first calls
            call()
        rates = {name: [] for name in figures}
        start_load = cpu_seconds()
        start = time.perf_counter()
        for _ in range(rounds):
            for name, call in figures.items():
                rates[name].append(_images_per_second(call, batch_size, calls))
        elapsed = time.perf_counter() - start
        end_load = cpu_seconds()
    others = None
    if start_load is not None and end_load is not None:
        machine = end_load[0] - start_load[0]
        own = end_load[1] - start_load[1]
        others = max(0.0, machine - own) / elapsed
    return ColorizeBenchRow(
        preset=preset,
        image_size=size,
        batch_size=batch_size,
        network=statistics.median(rates["network"]),
        export=statistics.median(rates["export"]),
        others_cpu=others,
    )


def colorize_table(rows: list[ColorizeBenchRow]) -> list[str]:
    """A Markdown table of the rows."""
    lines = [
        "| preset | images | network images/s | export images/s | others (cores) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        others = "-" if row.others_cpu is None else f"{row.others_cpu:.1f}"
        lines.append(
            f"| {row.preset} | {row.batch_size} x {row.image_size}x{row.image_size} | "
            f"{row.network:.2f} | {row.export:.2f} | {others} |"
        )
    return lines
