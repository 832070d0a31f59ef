"""How the benchmarks count throughput: datasets iterated epoch after epoch as Keras' fit
draws them, and the CPU time the rest of the machine used meanwhile."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

__all__ = [
    "Epochs",
    "alternating_rounds",
    "cpu_seconds",
    "frames_per_second",
    "images_per_second",
]


def images_per_second(dataset, images: int) -> float:
    """Iterates a dataset of batches, epoch after epoch as Keras does, for `images` images.

    Each call starts a new iterator, so what starting one costs is in the figure.
    """
    import tensorflow as tf

    seen = 0
    start = time.perf_counter()
    while seen < images:
        for batch in dataset:
            first = batch[0] if isinstance(batch, tuple) else batch
            seen += int(tf.shape(first)[0])
            if seen >= images:
                break
    return seen / (time.perf_counter() - start)


class Epochs:
    """Batches of a dataset epoch after epoch, as Keras' fit draws them: one iterator per
    epoch, kept across timed rounds (a new iterator restarts the streams and the prefetching,
    which Keras pays once per epoch, not once per measurement)."""

    def __init__(self, dataset):
        self._dataset = dataset
        self._iterator = iter(dataset)

    def next(self):
        """The next batch, from a new epoch's iterator where the last one ended."""
        try:
            return next(self._iterator)
        except StopIteration:
            self._iterator = iter(self._dataset)
            return next(self._iterator)


def frames_per_second(epochs: Epochs, steps: int, count: Callable[[object], float]) -> float:
    """Real frames per second over the next `steps` batches; `count(batch)` is a batch's
    frames."""
    frames = 0.0
    start = time.perf_counter()
    for _ in range(steps):
        frames += count(epochs.next())
    return frames / (time.perf_counter() - start)


def cpu_seconds() -> tuple[float, float] | None:
    """(busy CPU seconds of the whole machine, CPU seconds of this process); None where
    /proc/stat is missing. The difference over a measurement is what other processes used."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    ticks = os.sysconf("SC_CLK_TCK")
    own = os.times()
    return (sum(fields[:8]) - idle) / ticks, own.user + own.system


def alternating_rounds(
    figures: dict[str, Callable[[], float]], rounds: int
) -> tuple[dict[str, float], float | None]:
    """Runs each of `figures` (name -> a call returning a rate) once a round, the order
    rotating from round to round so that none is always first after another, for `rounds`
    rounds.

    Returns:
        (name -> the median of its rates, the CPU cores other processes kept busy on average
        meanwhile: None where `cpu_seconds` cannot tell).
    """
    import statistics

    rates = {name: [] for name in figures}
    order = list(figures)
    start_load = cpu_seconds()
    start = time.perf_counter()
    for index in range(rounds):
        shift = index % len(order)
        for name in order[shift:] + order[:shift]:
            rates[name].append(figures[name]())
    elapsed = time.perf_counter() - start
    end_load = cpu_seconds()
    others = None
    if start_load is not None and end_load is not None:
        machine, own = (end - begin for end, begin in zip(end_load, start_load, strict=True))
        others = max(0.0, machine - own) / elapsed
    return {name: statistics.median(values) for name, values in rates.items()}, others
