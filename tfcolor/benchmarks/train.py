"""`bench train`: training images/s of an image preset, synthetic-fed and pipeline-fed.

On a synthetic in-memory batch with XLA off and on, then fed by the real input pipeline with
the faster setting, so that an input-bound run shows as a ratio below 1. The preset's model is
built and compiled as training builds and compiles it, at its default size.
"""

from __future__ import annotations

import dataclasses
import itertools
import statistics
import time
from collections.abc import Callable

from tfcolor.benchmarks.timing import cpu_seconds

__all__ = [
    "FitTiming",
    "TrainBenchRow",
    "image_presets",
    "run_train_benchmark",
    "time_fit",
    "train_table",
]

# How a measurement is timed: ONE `model.fit` call, whose steps after the warm-up a callback
# times and which it stops; timing whole `fit` calls rounded the figures up (tf.data's
# autotuner wake-ups: benchmarks/README.md, `bench train`).
_FOREVER = 10**9  # epochs or steps; the timing callback stops the fit


@dataclasses.dataclass
class FitTiming:
    """One timed measurement: images/s, the step times, and the load from elsewhere.

    Attributes:
        images_per_second: batch size / mean seconds per timed step.
        step_seconds: each timed step's seconds, in order.
        others_cpu: CPU cores other processes kept busy on average while it was timed (None
            where unknown): a figure is only worth reporting when this is near 0.
        gave_up: the fit was stopped early because a step after the first took longer than
            `give_up` seconds; the figure is from that step alone.
    """

    images_per_second: float
    step_seconds: list[float]
    others_cpu: float | None
    gave_up: bool = False


def _step_timer(warmup: int, steps: int, seconds: float, give_up: float | None):
    import keras
    import numpy as np

    class StepTimer(keras.callbacks.Callback):
        """Times the steps after `warmup` (counted across epochs), then stops the fit."""

        def __init__(self):
            super().__init__()
            self.done = 0
            self.last = None
            self.ends: list[float] = []
            self.cpu = []
            self.slow_step = None

        def on_train_batch_end(self, batch, logs=None):
            # Reading a result waits for the step to finish where ops run asynchronously (GPU).
            if logs:
                np.asarray(next(iter(logs.values())))
            now = time.perf_counter()
            self.done += 1
            if give_up is not None and self.done >= 2 and now - self.last > give_up:
                self.slow_step = now - self.last
                self.model.stop_training = True
                return
            self.last = now
            if self.done == warmup:
                self.cpu.append(cpu_seconds())
            if self.done >= warmup:
                self.ends.append(now)
            timed = len(self.ends) - 1
            if timed >= steps and now - self.ends[0] >= seconds:
                self.cpu.append(cpu_seconds())
                self.model.stop_training = True

    return StepTimer()


def time_fit(
    model,
    dataset,
    *,
    batch: int,
    warmup: int,
    steps: int,
    seconds: float,
    epochs: bool,
    give_up: float | None = None,
):
    """Trains for `warmup` steps, then times at least `steps` steps and `seconds` seconds.

    `epochs`: the dataset is finite and is run epoch after epoch (the pipeline); otherwise it
    repeats forever (the synthetic batch). `give_up`: stop as soon as a step after the first
    (which traces and compiles) takes longer than this many seconds. Returns a `FitTiming`.

    Raises:
        ValueError: `warmup` or `steps` below 1 (the first timed step starts at the end of
            the last warm-up step).
    """
    if warmup < 1 or steps < 1:
        raise ValueError(f"warmup and steps must be >= 1. Received: {warmup=}, {steps=}")
    timer = _step_timer(warmup, steps, seconds, give_up)
    if epochs:
        from tfcolor import input_pipeline

        # As `Colorizer.train` feeds it: one iterator across the epochs where their steps are
        # known.
        dataset, steps_per_epoch = input_pipeline.repeat_epochs(dataset)
        model.fit(
            dataset,
            epochs=_FOREVER,
            steps_per_epoch=steps_per_epoch,
            verbose=0,
            callbacks=[timer],
            shuffle=False,
        )
    else:
        model.fit(
            dataset, epochs=1, steps_per_epoch=_FOREVER, verbose=0, callbacks=[timer], shuffle=False
        )
    if timer.slow_step is not None:
        return FitTiming(batch / timer.slow_step, [timer.slow_step], None, gave_up=True)
    step_seconds = [end - start for start, end in itertools.pairwise(timer.ends)]
    others = None
    if len(timer.cpu) == 2 and None not in timer.cpu:
        (busy0, own0), (busy1, own1) = timer.cpu
        others = max(0.0, (busy1 - busy0) - (own1 - own0)) / (timer.ends[-1] - timer.ends[0])
    return FitTiming(batch * len(step_seconds) / sum(step_seconds), step_seconds, others)


def _train_model(config, codec, jit_compile: bool, policy: str):
    """The preset's model, built under the Keras dtype `policy` and compiled as training
    compiles it (a `mixed_float16` model gets Keras' LossScaleOptimizer)."""
    import keras

    from tfcolor.models import build_model
    from tfcolor.training.compile import compile_model, policy_scope

    keras.utils.set_random_seed(config.train.seed)
    class_names = config.model.class_names if config.model.classify else None
    with policy_scope(policy):
        model = build_model(config.model, codec)  # classify: len(config.model.class_names)
    compile_model(
        model,
        codec,
        keras.optimizers.Adam(config.train.learning_rate),
        class_names=class_names,
        classification_weight=config.model.classification_weight,
        jit_compile=jit_compile,
    )
    return model


# An XLA step slower than this many times the slowest plain step is not timed further.
_XLA_GIVE_UP = 10


def _median(timings: list[FitTiming]) -> FitTiming:
    """The measurement with the median images/s (the lower middle one of an even count)."""
    ordered = sorted(timings, key=lambda timing: timing.images_per_second)
    return ordered[(len(ordered) - 1) // 2]


@dataclasses.dataclass
class TrainBenchRow:
    """One preset's figures from `run_train_benchmark`.

    Attributes:
        preset, image_size, batch_size, policy: what was measured (policy: Keras dtype policy).
        synthetic: {jit_compile: [FitTiming per round]} on the repeated in-memory batch; an
            XLA setting is left out when the model does not compile under it.
        pipeline: pipeline-fed FitTimings per round, with the faster XLA setting of the first
            round (`pipeline_jit`); empty when skipped or without data.
        notes: why a figure is missing, in a few words.
    """

    preset: str
    image_size: int
    batch_size: int
    policy: str
    synthetic: dict = dataclasses.field(default_factory=dict)
    pipeline: list = dataclasses.field(default_factory=list)
    pipeline_jit: bool | None = None
    notes: list[str] = dataclasses.field(default_factory=list)

    def rate(self, jit: bool) -> float | None:
        """Median synthetic-fed images/s with XLA `jit`; None when not measured."""
        runs = self.synthetic.get(jit)
        return _median(runs).images_per_second if runs else None

    @property
    def pipeline_rate(self) -> float | None:
        """Median pipeline-fed images/s; None when not measured."""
        return _median(self.pipeline).images_per_second if self.pipeline else None

    @property
    def pipeline_ratio(self) -> float | None:
        """Pipeline-fed over synthetic-fed images/s (medians), with the same XLA setting."""
        if not self.pipeline:
            return None
        return self.pipeline_rate / self.rate(self.pipeline_jit)

    @property
    def others_cpu(self) -> float | None:
        """The most CPU cores other processes used during any of the row's measurements."""
        timings = [*itertools.chain(*self.synthetic.values()), *self.pipeline]
        loads = [timing.others_cpu for timing in timings if timing.others_cpu is not None]
        return max(loads) if loads else None


def _short(error: BaseException, length: int = 70) -> str:
    """The first line of an error's message, cut to `length` characters."""
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0] if lines else ''}".strip()
    return text if len(text) <= length else text[: length - 3] + "..."


def run_train_benchmark(
    preset: str,
    *,
    data: str | None = None,
    image_size: int | None = None,
    batch_size: int | None = None,
    mixed_precision: str | None = None,
    steps: int = 10,
    seconds: float = 20.0,
    warmup: int = 5,
    rounds: int = 1,
    xla: str = "both",
    pipeline: bool = True,
    progress: Callable[[str], None] | None = None,
) -> TrainBenchRow:
    """Training images/s of one preset: synthetic batches with XLA off and on, then the pipeline.

    The synthetic batch (random colours, made by the pipeline's own `inputs_and_targets`)
    repeats from memory, so it measures the training step alone; the pipeline-fed run trains
    the same network (built again, the same seed) on `make_dataset`'s training data, with
    whichever XLA setting was faster, so a pipeline that holds training back shows as a ratio
    below 1. Each round measures every variant once, in turn, on the same models, so load
    from elsewhere hits them alike; the medians are kept. Backbone weights stay random (the
    same compute as ImageNet's, without the download).

    Args:
        preset: an image preset's name (`tfcolor.config.PRESETS`).
        data, image_size, batch_size: override the preset's source, size and batch.
        mixed_precision: `off`, `float16`, `bfloat16` or `auto`; None keeps the preset's.
        steps, seconds: each measurement times at least this many steps and seconds.
        warmup: untimed steps before each (tracing, XLA compilation, pipeline start).
        rounds: measurements of each variant; the median is kept.
        xla: `both`, `off` or `on`: the XLA settings measured on the synthetic batch.
        pipeline: False measures the synthetic batch only.
        progress: called with a line after each measurement; None logs it.

    Returns:
        A `TrainBenchRow`.
    """
    import tensorflow as tf
    from absl import logging

    from tfcolor import codecs as codecs_lib
    from tfcolor import input_pipeline
    from tfcolor.benchmarks.data import synthetic_batch
    from tfcolor.config import get_preset
    from tfcolor.training.compile import policy_name

    progress = progress or logging.info

    config = get_preset(preset)
    if data:
        config.data.source = data
    if image_size:
        config.data.image_size = image_size
    if batch_size:
        config.data.batch_size = batch_size
    if mixed_precision:
        config.train.mixed_precision = mixed_precision
    config.model.backbone_weights = None
    config.validate()
    size, batch = config.data.image_size, config.data.batch_size
    policy = policy_name(config.train.mixed_precision)
    row = TrainBenchRow(preset, size, batch, policy)
    codec = codecs_lib.make_codec(config.codec)
    stride = config.model.output_stride
    if config.model.classify and config.model.class_names is None:
        try:
            config.model.class_names = input_pipeline.label_names(config.data)
        except Exception as error:  # noqa: BLE001 - any source error: no labels to read
            # The synthetic run only needs the head's size; the pipeline cannot run anyway.
            config.model.class_names = ("class_a", "class_b")
            row.notes.append(f"class names: {_short(error)}; synthetic head of 2 classes")
            pipeline = False

    classes = len(config.model.class_names) if config.model.classify else 0
    lightness, targets = synthetic_batch(codec, batch, size, stride, classes=classes)
    # The pipeline's policy (autotuning off): the repeated batch has nothing to tune either.
    synthetic = input_pipeline.with_parallelism_policy(
        tf.data.Dataset.from_tensors((lightness, targets)).repeat()
    )
    dataset = None
    if pipeline:
        try:
            dataset = input_pipeline.make_dataset(
                config.data,
                codec,
                training=True,
                target_stride=stride,
                class_names=config.model.class_names if config.model.classify else None,
            )
        except Exception as error:  # noqa: BLE001 - missing folders, TFDS not downloaded, ...
            row.notes.append(f"pipeline: no data: {_short(error)}")

    timing = dict(batch=batch, warmup=warmup, steps=steps, seconds=seconds)
    models = {jit: None for jit in {"both": (False, True), "off": (False,), "on": (True,)}[xla]}
    pipeline_model = None
    for round_index in range(rounds):
        for jit in list(models):
            label = f"{preset}: synthetic, XLA {'on' if jit else 'off'}"
            if models[jit] is None:
                models[jit] = _train_model(config, codec, jit, policy)
            give_up = None
            if jit and row.synthetic.get(False):
                # A compiled step this much slower than the plain one is being compiled again
                # (as the gamut codec's was, 24-92 s a step, until its loss was inlined in the
                # compiled step: `codecs.losses.compile_loss`); a guard, so that a regression shows
                # as a note instead of holding the table up for an hour.
                give_up = _XLA_GIVE_UP * max(row.synthetic[False][-1].step_seconds) + 1.0
            try:
                result = time_fit(models[jit], synthetic, epochs=False, give_up=give_up, **timing)
            except Exception as error:  # noqa: BLE001 - XLA's errors come in many types
                if not jit:
                    raise
                row.notes.append(f"XLA: does not compile: {_short(error)}")
                del models[jit]
                continue
            row.synthetic.setdefault(jit, []).append(result)
            progress(_timing_line(label, result))
            if result.gave_up:
                row.notes.append(
                    f"XLA: stopped, a step after compiling took {result.step_seconds[0]:.1f} s "
                    f"(> {_XLA_GIVE_UP}x the slowest step without XLA): compiled again each step?"
                )
                del models[jit]
        if not models:
            break
        if dataset is not None and pipeline_model is None:
            row.pipeline_jit = max(models, key=row.rate)
            pipeline_model = _train_model(config, codec, row.pipeline_jit, policy)
        if pipeline_model is not None:
            result = time_fit(pipeline_model, dataset, epochs=True, **timing)
            row.pipeline.append(result)
            label = (
                f"{preset}: pipeline ({config.data.source}), XLA "
                f"{'on' if row.pipeline_jit else 'off'}"
            )
            progress(_timing_line(label, result))
        if rounds > 1:
            progress(f"{preset}: round {round_index + 1} of {rounds} done")
    return row


def _timing_line(label: str, timing: FitTiming) -> str:
    """One measurement, in one line of progress."""
    step_ms = sorted(1000 * s for s in timing.step_seconds)
    others = "?" if timing.others_cpu is None else f"{timing.others_cpu:.2f}"
    return (
        f"  {label}: {timing.images_per_second:.1f} images/s over {len(step_ms)} steps "
        f"(median step {statistics.median(step_ms):.1f} ms, slowest {step_ms[-1]:.1f} ms; "
        f"other processes used {others} cores)"
    )


def image_presets() -> tuple[str, ...]:
    """The presets `run_train_benchmark` measures: every preset but the video ones (those
    have their own benchmark, `video_pipeline`) and `smoke` (the default preset cut short), in
    the registry's order."""
    from tfcolor.config import PRESETS, get_preset

    return tuple(
        name for name in PRESETS if name != "smoke" and get_preset(name).model.name != "convlstm"
    )


def train_table(rows: list[TrainBenchRow]) -> list[str]:
    """A Markdown table, one line per preset, then the notes."""
    header = (
        "preset",
        "size",
        "batch",
        "synthetic XLA off",
        "synthetic XLA on",
        "pipeline-fed",
        "pipeline / synthetic",
        "others' CPU",
    )
    cells = []
    for row in rows:
        rates = []
        for jit in (False, True):
            rate = row.rate(jit)
            failed = jit and any(note.startswith("XLA: does not") for note in row.notes)
            stopped = any(timing.gave_up for timing in row.synthetic.get(jit, []))
            text = "-" if rate is None else f"{rate:.1f}" + (" (stopped)" if stopped else "")
            rates.append("does not compile" if failed else text)
        fed = ratio = "-"
        if row.pipeline:
            fed = f"{row.pipeline_rate:.1f} (XLA {'on' if row.pipeline_jit else 'off'})"
            ratio = f"{100 * row.pipeline_ratio:.0f} %"
        others = "?" if row.others_cpu is None else f"{row.others_cpu:.2f}"
        cells.append(
            (row.preset, str(row.image_size), str(row.batch_size), *rates, fed, ratio, others)
        )
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]

    def line(values):
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    lines = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += [line(values) for values in cells]
    notes = [f"{row.preset}: {note}" for row in rows for note in row.notes]
    return lines + ([""] + notes if notes else [])
