"""Benchmarks: `python -m tfcolor.bench pipeline --data DIR --image-size 128`, `... train`.

`pipeline` measures, in one run, images/s of (a) decoding + resizing alone, exactly as the
pipeline decodes and resizes (`transforms.decode_and_resize`: JPEGs decoded at a reduced DCT
scale, only the centre square), and (b) the full training input pipeline (decode, resize,
augment, Lab, 324-bin grid encoding, batching) on a folder of images, and their ratio b / a:
what the work after decoding costs. For reference it also prints (a0), a plain full-size
decode + resize, DESIGN.md's baseline; b / a is the ratio that counts.

`train` measures training images/s of a preset at its default size: on synthetic in-memory
batches with XLA off and on, then fed by the real input pipeline with the faster setting, so an
input-bound run shows.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from tfcolor import cli

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
        return (
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


def _time_fit(model, dataset, steps: int, warmup: int) -> float:
    """Seconds per step of `model.fit` over `steps` steps, after `warmup` steps (tracing, XLA)."""
    model.fit(dataset, epochs=1, steps_per_epoch=warmup, verbose=0)
    start = time.perf_counter()
    model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
    return (time.perf_counter() - start) / steps


def _train_model(config, codec, jit_compile: bool):
    import keras

    from tfcolor.estimator import compile_model
    from tfcolor.models import build_model

    keras.utils.set_random_seed(config.train.seed)
    class_names = config.model.class_names if config.model.classify else None
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


def _train_command(args: argparse.Namespace) -> int:
    """Training images/s: synthetic in-memory batches with and without XLA, then the pipeline."""
    import tensorflow as tf

    from tfcolor import codecs as codecs_lib
    from tfcolor import color, input_pipeline
    from tfcolor.config import get_preset

    config = get_preset(args.preset)
    if args.data:
        config.data.source = args.data
    if args.image_size:
        config.data.image_size = args.image_size
    if args.batch_size:
        config.data.batch_size = args.batch_size
    # Random backbone weights cost the same compute as ImageNet's, without the download.
    config.model.backbone_weights = None
    config.validate()
    size, batch = config.data.image_size, config.data.batch_size
    codec = codecs_lib.make_codec(config.codec)
    stride = config.model.output_stride
    if config.model.classify and config.model.class_names is None:
        config.model.class_names = input_pipeline.label_names(config.data)

    # Synthetic data: random colours, so every bin codec sees a spread of targets.
    rng = tf.random.Generator.from_seed(0)
    rgb = rng.uniform([batch, size, size, 3])
    if codec.needs_fit:
        codec.fit([color.lightness_and_ab(rgb)[1]])
    # The pipeline's own function: the same pooling to the output stride and encoding.
    lightness, targets = input_pipeline.inputs_and_targets(codec, stride)(rgb)
    if config.model.classify:
        labels = rng.uniform([batch], 0, len(config.model.class_names), tf.int32)
        targets = {"colors": targets, "class_logits": labels}
    synthetic = tf.data.Dataset.from_tensors((lightness, targets)).repeat()

    print(
        f"preset {config.preset}: {size}x{size}, batch {batch}, codec {codec.name} "
        f"({codec.channels} channels), {args.steps} timed steps after {args.warmup} warm-up"
    )
    rates = {}
    for jit in (False, True):
        model = _train_model(config, codec, jit)
        seconds = _time_fit(model, synthetic, args.steps, args.warmup)
        rates[jit] = batch / seconds
        print(f"  synthetic, XLA {'on ' if jit else 'off'}: {rates[jit]:8.1f} images/s")
    best_jit = max(rates, key=rates.get)
    if not args.skip_pipeline:
        pipeline = input_pipeline.make_dataset(
            config.data,
            codec,
            training=True,
            target_stride=stride,
            class_names=config.model.class_names if config.model.classify else None,
        ).repeat()
        model = _train_model(config, codec, best_jit)
        seconds = _time_fit(model, pipeline, args.steps, args.warmup)
        fed = batch / seconds
        print(
            f"  pipeline ({config.data.source}), XLA {'on' if best_jit else 'off'}: "
            f"{fed:8.1f} images/s ({100 * fed / rates[best_jit]:.0f} % of synthetic)"
        )
    print(
        f"XLA is {'faster' if best_jit else 'slower'} here: "
        f"{rates[True] / rates[False]:.2f}x the images/s without it"
    )
    return 0


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

    from tfcolor.config import PRESETS

    train = subcommands.add_parser(
        "train", help="training images/s of a preset, with and without XLA, synthetic vs pipeline"
    )
    train.add_argument("--preset", default="unet_shapes", choices=sorted(PRESETS))
    train.add_argument("--data", help="source for the pipeline-fed run (default: the preset's)")
    train.add_argument("--image-size", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--steps", type=int, default=30, help="timed steps per measurement")
    train.add_argument("--warmup", type=int, default=5, help="untimed steps first (tracing, XLA)")
    train.add_argument(
        "--skip-pipeline", action="store_true", help="only synthetic in-memory batches"
    )
    train.set_defaults(handler=_train_command)
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
