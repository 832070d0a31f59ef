"""Feeds mutated image files to an export's serving_default and colorize_images.

Run as a script in a fresh interpreter (never imports tfcolor), so that a crash shows as a
return code: `python fuzz_check.py EXPORT SEED COUNT`. Prints one JSON line: counts of each
outcome, the peak RSS and any failure (an output of the wrong size, an error other than
InvalidArgument).

Each byte string is one real file (skimage photos, 48 x 64, encoded by Pillow as JPEG,
progressive JPEG, PNG, PNG with alpha, GIF, animated GIF, BMP, lossy, lossless and alpha WebP)
mutated, seeded: truncated, bits flipped, bytes overwritten, a dimension field set to a
random or huge value, a slice repeated, or two of these.
"""

import io
import json
import random
import sys
import time

import numpy as np
import skimage.data
import tensorflow as tf
from PIL import Image


def peak_rss_mb() -> float:
    """This process's peak resident memory: VmHWM of its own memory map. (getrusage's
    ru_maxrss is kept across execve on Linux: a child of a 3 GB pytest worker reports 3 GB.)"""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def encoded_files():
    photos = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee()]
    crops = [photo[k * 40 : k * 40 + 48, k * 30 : k * 30 + 64] for k, photo in enumerate(photos)]

    def save(image, fmt, **options):
        buffer = io.BytesIO()
        image.save(buffer, format=fmt, **options)
        return buffer.getvalue()

    files = []
    for crop in crops:
        image = Image.fromarray(crop)
        rgba = np.concatenate([crop, np.full(crop.shape[:2] + (1,), 128, np.uint8)], -1)
        files += [
            save(image, "JPEG"),
            save(image, "JPEG", progressive=True),
            save(image, "PNG"),
            save(Image.fromarray(rgba), "PNG"),
            save(image.convert("P"), "GIF"),
            save(image, "BMP"),
            save(image, "WEBP"),
            save(image, "WEBP", lossless=True),
            save(Image.fromarray(rgba), "WEBP"),
        ]
    frames = [Image.fromarray(crop).convert("P") for crop in crops]
    files.append(save(frames[0], "GIF", save_all=True, append_images=frames[1:]))
    return files


def dimension_offsets(data: bytes):
    """Byte offsets of the fields that hold an image's dimensions, per format."""
    if data.startswith(b"\x89PNG"):
        return [16, 18, 20, 22]
    if data.startswith(b"GIF8"):
        offsets = [6, 8]
        start = data.find(b"\x2c", 13)
        return offsets + ([start + 5, start + 7] if start > 0 else [])
    if data.startswith(b"BM"):
        return [18, 20, 22, 24]
    if data.startswith(b"RIFF"):
        return [24, 26, 27, 28, 21, 22, 23]
    if data.startswith(b"\xff\xd8"):
        for marker in (b"\xff\xc0", b"\xff\xc2"):
            start = data.find(marker)
            if start > 0:
                return [start + 5, start + 7]
    return [0]


def mutate(data: bytes, rng: random.Random) -> bytes:
    data = bytearray(data)
    kind = rng.choice(["truncate", "flip", "overwrite", "dimension", "huge", "repeat", "two"])
    if kind == "two":
        return mutate(mutate(bytes(data), rng), rng)
    if kind == "truncate":
        return bytes(data[: rng.randrange(0, len(data) + 1)])
    if kind == "flip":
        for _ in range(rng.randint(1, 8)):
            position = rng.randrange(len(data)) if rng.random() < 0.5 else rng.randrange(64)
            if position < len(data):
                data[position] ^= 1 << rng.randrange(8)
        return bytes(data)
    if kind == "overwrite":
        position = rng.randrange(min(len(data), 64))
        for k in range(rng.randint(1, 4)):
            if position + k < len(data):
                data[position + k] = rng.randrange(256)
        return bytes(data)
    if kind in ("dimension", "huge"):
        position = rng.choice(dimension_offsets(bytes(data)))
        values = [0xFF, 0xFF] if kind == "huge" else [rng.randrange(256), rng.randrange(256)]
        for k, value in enumerate(values):
            if position + k < len(data):
                data[position + k] = value
        return bytes(data)
    start = rng.randrange(len(data))
    piece = data[start : start + rng.randint(1, 512)]
    return bytes(data[:start] + piece * rng.randint(2, 50) + data[start:])


def odd_shapes(image: np.ndarray, rng: random.Random):
    """The decoded image as a batch, and sometimes cut into an odd or empty one."""
    batch = image[None]
    choice = rng.randrange(6)
    if choice == 0:
        return batch[:0]  # empty batch
    if choice == 1:
        return batch[:, : rng.randint(0, 2), :]  # 0 or 1 rows
    if choice == 2:
        return np.concatenate([batch, batch])[..., : rng.randint(0, 4)]  # 0 to 4 channels
    if choice == 3:
        return np.concatenate([batch, batch[..., :1]], -1)  # one channel too many (5 for RGBA)
    return batch


def main():
    export, seed, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(seed)
    files = encoded_files()
    loaded = tf.saved_model.load(export)
    serve = loaded.signatures["serving_default"]
    colorize = loaded.signatures["colorize_images"]
    outcomes = {"png": 0, "bytes_invalid": 0, "over_budget": 0, "tensor_ok": 0, "tensor_invalid": 0}
    failures = []
    start = time.time()
    for index in range(count):
        data = mutate(files[index % len(files)], rng)
        try:
            png = serve(image_bytes=tf.constant([data]))["colorized_png_bytes"][0].numpy()
        except tf.errors.InvalidArgumentError as error:
            outcomes["bytes_invalid"] += 1
            outcomes["over_budget"] += "over the pixel budget" in str(error)
            continue
        except Exception as error:  # noqa: BLE001 - any other error is a finding
            failures.append({"index": index, "error": f"{type(error).__name__}: {error}"[:300]})
            continue
        outcomes["png"] += 1
        # Served: decoding it again is within the budget; the PNG must have its size.
        try:
            decoded = tf.io.decode_image(data, expand_animations=False).numpy()
        except tf.errors.InvalidArgumentError as error:
            failures.append({"index": index, "error": f"served, does not decode: {error}"[:300]})
            continue
        colorized = np.asarray(Image.open(io.BytesIO(png)))
        if colorized.shape != decoded.shape[:2] + (3,):
            failures.append({"index": index, "png": colorized.shape, "decoded": decoded.shape})
        images = odd_shapes(decoded, rng)
        try:
            output = colorize(images=tf.constant(images))["colorized"].numpy()
        except tf.errors.InvalidArgumentError:
            outcomes["tensor_invalid"] += 1
            continue
        except Exception as error:  # noqa: BLE001
            failures.append({"index": index, "tensor_error": f"{type(error).__name__}: {error}"})
            continue
        outcomes["tensor_ok"] += 1
        if output.shape != images.shape[:3] + (3,) or output.dtype != np.uint8:
            failures.append({"index": index, "tensor": images.shape, "output": output.shape})
    report = {
        "count": count,
        "outcomes": outcomes,
        "failures": failures[:20],
        "seconds": time.time() - start,
        "peak_rss_mb": peak_rss_mb(),
        "tfcolor_imported": any(name.startswith("tfcolor") for name in sys.modules),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
