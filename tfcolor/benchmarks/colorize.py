"""`bench colorize`: inference images/s of an image preset's network and of its export.

The preset's network is built with random weights (the speed does not depend on them) at its
default size; two things are timed on random images, in alternating rounds:

- `network`: normalized lightness [B, S, S, 1] -> the codec's outputs, the Keras model called
  in one `tf.function` (graph mode, no XLA), as `Colorizer.predict` and the export call it;
- `export`: uint8 RGB [B, S, S, 3] -> uint8 RGB through a saved and reloaded export's
  `colorize_images` signature (Lab conversion, the network at the render size, decoding,
  upsampling, the out-of-gamut rendering): what a server does per image;
- `onnx`, `litert`: the same colorization as portable files (`tfcolor.export.portable`) in
  ONNX Runtime and the LiteRT interpreter, where `tfcolor[export]` is installed.

The comparison with the same network in eager PyTorch is `benchmarks/zhang_vs_pytorch.py`
(torch is not a tfcolor dependency).

`run_files_benchmark` times colorizing a folder of image files end to end, as
`python -m tfcolor.colorize` does it (`tfcolor.export.client.colorize_image_files`: read,
decode, the network at the render size, full-resolution recombination, PNG encode, write, with
--workers images in flight), beside the ceiling: the same loop doing only the read, the decode,
the PNG encode and the write. Alternating rounds, medians kept.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time

from tfcolor.benchmarks.timing import alternating_rounds

__all__ = [
    "ColorizeBenchRow",
    "FilesBenchRow",
    "colorize_table",
    "files_table",
    "run_colorize_benchmark",
    "run_files_benchmark",
    "write_photo_folder",
]


@dataclasses.dataclass
class ColorizeBenchRow:
    """One preset's figures: images/s (medians of the rounds) and the load from elsewhere.

    Attributes:
        preset: the preset's name.
        image_size: the side of the square images.
        batch_size: images per call.
        network: images/s of the network alone.
        export: images/s through the export's `colorize_images`.
        onnx: images/s of the same colorization as an ONNX file in ONNX Runtime (None where
            `tfcolor[export]` is not installed or the network does not convert).
        litert: the same as a LiteRT file in the LiteRT interpreter (one image a call, the
            file's fixed batch).
        others_cpu: CPU cores other processes kept busy on average while timing (None where
            it cannot be read).
    """

    preset: str
    image_size: int
    batch_size: int
    network: float
    export: float
    others_cpu: float | None
    onnx: float | None = None
    litert: float | None = None


def _portable_calls(model, codec, folder, size, multiple, temperature, images) -> dict:
    """name -> call of the ONNX and LiteRT files of the same colorization (those that export
    and run here; `tfcolor[export]` missing leaves both out)."""
    import os

    import numpy as np

    try:
        from tfcolor.export import portable, portable_runtime
    except ImportError:
        return {}
    pixels = np.asarray(images)
    calls = {}
    for name, write, suffix in (
        ("onnx", portable.export_onnx, ".onnx"),
        ("litert", portable.export_litert, ".tflite"),
    ):
        try:
            path = write(
                model,
                codec,
                os.path.join(folder, "colorizer" + suffix),
                size,
                multiple,
                temperature,
            )
            run = portable_runtime.open_portable(path)
        except (ImportError, portable.PortableExportError, ValueError):
            continue
        calls[name] = lambda run=run: run(pixels)["colorized"]
    return calls


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
    portable: bool = True,
) -> ColorizeBenchRow:
    """Times `preset`'s network and its export (see the module docstring), and with
    `portable` the same colorization as ONNX and LiteRT files in their runtimes.

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
        if portable:
            figures |= _portable_calls(
                model, codec, folder, size, multiple, config.codec.temperature, images
            )
        for call in figures.values():  # warm-up: tracing, oneDNN's first calls
            call()
        rates, others = alternating_rounds(
            {
                name: lambda call=call: _images_per_second(call, batch_size, calls)
                for name, call in figures.items()
            },
            rounds,
        )
    return ColorizeBenchRow(
        preset=preset,
        image_size=size,
        batch_size=batch_size,
        network=rates["network"],
        export=rates["export"],
        others_cpu=others,
        onnx=rates.get("onnx"),
        litert=rates.get("litert"),
    )


def colorize_table(rows: list[ColorizeBenchRow]) -> list[str]:
    """A Markdown table of the rows."""
    lines = [
        "| preset | images | network images/s | export images/s | ONNX Runtime | LiteRT | "
        "others (cores) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        others = "-" if row.others_cpu is None else f"{row.others_cpu:.1f}"
        onnx = "-" if row.onnx is None else f"{row.onnx:.2f}"
        litert = "-" if row.litert is None else f"{row.litert:.2f}"
        lines.append(
            f"| {row.preset} | {row.batch_size} x {row.image_size}x{row.image_size} | "
            f"{row.network:.2f} | {row.export:.2f} | {onnx} | {litert} | {others} |"
        )
    return lines


@dataclasses.dataclass
class FilesBenchRow:
    """Images/s of colorizing a folder of files (medians of the rounds).

    Attributes:
        model: the preset (random weights) or the export measured.
        render_size: the side the network ran at.
        files: the images per round, and their most common size (`640x480`).
        workers: images in flight in the overlapped runs.
        ceiling: images/s of read + decode + PNG encode + write alone, with `workers`.
        colorize: images/s end to end, with `workers`.
        one_at_a_time: images/s end to end with one image in flight.
        others_cpu: CPU cores other processes kept busy on average (None where unknown).
    """

    model: str
    render_size: int
    files: str
    workers: int
    ceiling: float
    colorize: float
    one_at_a_time: float
    others_cpu: float | None

    @property
    def ratio(self) -> float:
        """End to end against the ceiling."""
        return self.colorize / self.ceiling


def write_photo_folder(folder: str, count: int = 24, size=(640, 480), quality: int = 90) -> str:
    """Writes `count` JPEGs of `size` (width, height) cut from the photos scikit-image and
    scikit-learn ship (resized, mirrored and shifted so no two are alike); returns folder."""
    import os

    import numpy as np
    import skimage.data
    import skimage.transform
    from PIL import Image
    from sklearn.datasets import load_sample_image

    photos = [
        skimage.data.astronaut(),
        skimage.data.chelsea(),
        skimage.data.coffee(),
        load_sample_image("china.jpg"),
        load_sample_image("flower.jpg"),
    ]
    width, height = size
    os.makedirs(folder, exist_ok=True)
    for index in range(count):
        photo = photos[index % len(photos)]
        scale = max(height / photo.shape[0], width / photo.shape[1]) * (1 + 0.1 * (index // 5))
        resized = skimage.transform.rescale(photo, scale, channel_axis=2, anti_aliasing=True)
        top = (index * 7) % (resized.shape[0] - height + 1)
        left = (index * 13) % (resized.shape[1] - width + 1)
        crop = resized[top : top + height, left : left + width]
        if index % 2:
            crop = crop[:, ::-1]
        pixels = np.clip(crop * 255 + 0.5, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(
            os.path.join(folder, f"photo_{index:03d}.jpg"), quality=quality
        )
    return folder


def run_files_benchmark(
    data: str,
    model: str | None = None,
    preset: str = "unet_shapes",
    render_size: int = 256,
    workers: int | None = None,
    rounds: int = 3,
    seed: int = 0,
) -> FilesBenchRow:
    """Times colorizing the images of `data` end to end beside the ceiling (module docstring).

    Args:
        data: a folder of images (searched recursively).
        model: an export or a model_dir (its newest export); None exports `preset` with
            random weights at `render_size`.
        preset: the image preset measured where `model` is None.
        render_size: the side the network runs at (a `model`'s own export keeps its own).
        workers: images in flight (default `tfcolor.export.client.default_workers()`).
        rounds: timed rounds of each of the three, in alternating order.

    Raises:
        ValueError: `data` holds no images.
    """
    import os

    import keras
    import tensorflow as tf

    from tfcolor import codecs
    from tfcolor.config import IMAGE_EXTENSIONS, get_preset
    from tfcolor.export import client
    from tfcolor.export import saved_model as serving
    from tfcolor.input_pipeline.files import walk_files
    from tfcolor.models import build_model

    found, _ = walk_files(data, IMAGE_EXTENSIONS)
    if not found:
        raise ValueError(f"--data {data}: no image files")
    paths = [os.path.join(data, relative) for relative in sorted(found)]
    workers = workers or client.default_workers()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def ceiling(image_bytes):
        image = tf.io.decode_image(image_bytes[0], channels=3, expand_animations=False)
        return {"colorized_png_bytes": tf.io.encode_png(image)[tf.newaxis]}

    def write(target, png):
        with open(target, "wb") as f:
            f.write(png)

    with tempfile.TemporaryDirectory() as folder:
        if model is None:
            config = get_preset(preset)
            keras.utils.set_random_seed(seed)
            codec = codecs.make_codec(config.codec)
            network = build_model(config.model, codec)
            export = serving.export_saved_model(
                network,
                codec,
                os.path.join(folder, "export"),
                render_size,
                getattr(network, "downsampling", 1),
                config.codec.temperature,
            )
            name = f"{preset} (random weights)"
        else:
            export, name = model, model
        loaded, export, _ = client.load_export(export, dict(client.COLORIZE_SIGNATURES))
        if model is not None:
            render_size = int(loaded.render_size.numpy()) if hasattr(loaded, "render_size") else 0
        serve = loaded.signatures["serving_default"]
        colorize = lambda image_bytes: serve(image_bytes=image_bytes)  # noqa: E731
        outputs = os.path.join(folder, "out")
        os.makedirs(outputs)
        jobs = [(path, os.path.join(outputs, f"{i}.png")) for i, path in enumerate(paths)]

        def timed(call, in_flight):
            start = time.perf_counter()
            results = list(client.colorize_image_files(call, jobs, write, in_flight))
            failed = [result for result in results if result.error is not None]
            if failed:
                raise ValueError(f"{failed[0].path}: {failed[0].error}")
            return len(jobs) / (time.perf_counter() - start)

        figures = {
            "ceiling": lambda: timed(ceiling, workers),
            "colorize": lambda: timed(colorize, workers),
            "one_at_a_time": lambda: timed(colorize, 1),
        }
        timed(colorize, workers)  # warm-up: the first calls trace and set up oneDNN
        rates, others = alternating_rounds(figures, rounds)
    return FilesBenchRow(
        model=name,
        render_size=render_size,
        files=f"{len(jobs)} x {_common_size(paths)}",
        workers=workers,
        ceiling=rates["ceiling"],
        colorize=rates["colorize"],
        one_at_a_time=rates["one_at_a_time"],
        others_cpu=others,
    )


def _common_size(paths) -> str:
    """The most common `WxH` of the images (read from their headers)."""
    import collections

    from PIL import Image

    sizes = collections.Counter()
    for path in paths:
        try:
            with Image.open(path) as image:
                sizes[f"{image.width}x{image.height}"] += 1
        except OSError:
            sizes["?"] += 1
    return sizes.most_common(1)[0][0]


def files_table(rows: list[FilesBenchRow]) -> list[str]:
    """A Markdown table of the rows."""
    lines = [
        "| model | render | files | ceiling images/s | colorize images/s (workers) | "
        "ratio | one at a time | others (cores) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        others = "-" if row.others_cpu is None else f"{row.others_cpu:.1f}"
        render = row.render_size or "own size"
        lines.append(
            f"| {row.model} | {render} | {row.files} | {row.ceiling:.2f} | "
            f"{row.colorize:.2f} ({row.workers}) | {row.ratio:.0%} | {row.one_at_a_time:.2f} | "
            f"{others} |"
        )
    return lines
