"""`bench pipeline`: images/s of the image input pipeline against decoding + resizing alone.

In one run it measures (a) decoding + resizing exactly as the pipeline decodes and resizes
(`transforms.decode_and_resize`: JPEGs decoded at a reduced DCT scale, only the centre
square), (b) the full training input pipeline (decode, resize, augment, Lab, 324-bin grid
encoding, batching) on the same folder of images, and their ratio b / a: what the work after
decoding costs. For reference, (a0) is a plain full-size decode + resize (DESIGN.md's
baseline); b / a is the ratio that counts.
"""

from __future__ import annotations

import statistics

from tfcolor.benchmarks.timing import images_per_second

__all__ = ["run_pipeline_benchmark"]


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
        images_per_second(dataset, min(images, len(files)))
    rates = {name: [] for name in variants}
    for _ in range(rounds):
        for name, dataset in variants.items():
            rates[name].append(images_per_second(dataset, images))
    result = {name: statistics.median(values) for name, values in rates.items()}
    result["ratio"] = result["pipeline"] / result["decode_resize"]
    result["ratio_full"] = result["pipeline"] / result["full_decode_resize"]
    result["files"] = len(files)
    return result
