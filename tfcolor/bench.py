"""Benchmarks: `python -m tfcolor.bench pipeline --data DIR --image-size 128`.

`pipeline` measures, in one run, images/s of (a) decoding + resizing alone and (b) the full
training input pipeline (decode, resize, augment, Lab, 324-bin grid encoding, batching) on a
folder of images, and their ratio b / a: how much the work after decoding costs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

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
        {"decode_resize": images/s, "pipeline": images/s, "ratio": pipeline / decode_resize,
        "files": training files}.
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

    def plain_decode(path):
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

    def scaled_decode(path):
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
        "decode_resize": decoding(plain_decode),
        "scaled_decode_resize": decoding(scaled_decode),
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
    result["ratio_scaled"] = result["pipeline"] / result["scaled_decode_resize"]
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
    print(f"training files:                {result['files']}")
    print(f"(a)  decode + resize:                  {result['decode_resize']:8.1f} images/s")
    print(f"(a') decode at JPEG scale + resize:    {result['scaled_decode_resize']:8.1f} images/s")
    print(f"(b)  full training pipeline:           {result['pipeline']:8.1f} images/s")
    print(f"ratio b / a:                           {result['ratio']:8.1%}")
    print(f"ratio b / a':                          {result['ratio_scaled']:8.1%}")
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if getattr(args, "data", None) is not None and not os.path.isdir(args.data):
        print(f"error: {args.data!r} is not a folder", file=sys.stderr)
        return 2
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
