"""Bounded serving (issue 14): a pixel budget read from headers before decoding, render size and
temperature ranges, empty batches, the same rules on every signature."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests.export.conftest import SMALL_BUDGET, SMALL_RENDER_BUDGET
from tests.helpers import encode

pytestmark = pytest.mark.reliability

INVALID = tf.errors.InvalidArgumentError


def _save(image: np.ndarray, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _formats(photo: np.ndarray) -> dict[str, bytes]:
    rgba = np.concatenate([photo, np.full(photo.shape[:2] + (1,), 100, np.uint8)], -1)
    return {
        "jpeg": _save(photo, "JPEG"),
        "progressive_jpeg": _save(photo, "JPEG", progressive=True),
        "png": _save(photo, "PNG"),
        "gif": _save(photo, "GIF"),
        "bmp": _save(photo, "BMP"),
        "top_down_bmp": _top_down(_save(photo, "BMP")),
        "webp_lossy": _save(photo, "WEBP"),
        "webp_lossless": _save(photo, "WEBP", lossless=True),
        "webp_alpha": _save(rgba, "WEBP"),
    }


def _top_down(bmp: bytes) -> bytes:
    """A BMP stored top-down: negative height, rows in reading order."""
    width, height = struct.unpack_from("<ii", bmp, 18)
    offset = struct.unpack_from("<I", bmp, 10)[0]
    row = (width * 3 + 3) // 4 * 4
    rows = [bmp[offset + k * row : offset + (k + 1) * row] for k in range(height)]
    header = bytearray(bmp[:offset])
    struct.pack_into("<i", header, 22, -height)
    return bytes(header) + b"".join(reversed(rows))


def _with(data: bytes, offset: int, fmt: str, *values) -> bytes:
    edited = bytearray(data)
    struct.pack_into(fmt, edited, offset, *values)
    return bytes(edited)


def _huge(name: str, data: bytes) -> bytes:
    """`data` with a header that claims 30000 x 20000 pixels (600 megapixels)."""
    if "jpeg" in name:
        start = max(data.find(b"\xff\xc0"), data.find(b"\xff\xc2"))
        return _with(data, start + 5, ">HH", 20000, 30000)
    if name == "png":
        return _with(data, 16, ">II", 30000, 20000)
    if name == "gif":
        return _with(data, 6, "<HH", 30000, 20000)
    if "bmp" in name:
        return _with(data, 18, "<ii", 30000, -20000 if name == "top_down_bmp" else 20000)
    if name == "webp_lossy":
        return _with(data, 26, "<HH", 16000, 16000)  # 14-bit fields: 256 megapixels
    edited = bytearray(data)
    if name == "webp_lossless":  # after 0x2F: width - 1 and height - 1, 14 bits each
        bits = int.from_bytes(data[21:25], "little")
        edited[21:25] = (16383 | 16383 << 14 | bits & 0xF0000000).to_bytes(4, "little")
    else:  # VP8X: canvas width - 1 and height - 1, 24 bits each
        edited[24:27] = (29999).to_bytes(3, "little")
        edited[27:30] = (19999).to_bytes(3, "little")
    return bytes(edited)


def test_header_sizes_match_the_decoder(photos):
    from tfcolor.export.saved_model import encoded_image_size

    photo = photos["coffee"][:37, :53]
    for name, data in _formats(photo).items():
        height, width, pixels = (int(v) for v in encoded_image_size(tf.constant(data)))
        decoded = tf.io.decode_image(data, expand_animations=False)
        assert (height, width) == tuple(decoded.shape[:2]) == (37, 53), name
        assert pixels == 37 * 53, name


def test_huge_headers_are_refused_before_decoding(small_budget_loaded, photos):
    """Every format's dimension fields set to 600 megapixels (the pixel data left small, so
    only the header can tell): InvalidArgument naming the budget, on both bytes signatures."""
    loaded = small_budget_loaded
    assert int(loaded.max_pixels.numpy()) == SMALL_BUDGET
    for name, data in _formats(photos["chelsea"][:40, :50]).items():
        huge = _huge(name, data)
        for signature, extra in (
            ("serving_default", {}),
            ("colorize_bytes_at_size", {"render_size": tf.constant(16)}),
        ):
            with pytest.raises(INVALID, match="over the pixel budget"):
                loaded.signatures[signature](image_bytes=tf.constant([huge]), **extra)


def test_animated_gif_counts_every_frame(small_budget_loaded):
    """giflib holds all frames: 1-megapixel frames fill the 4-megapixel budget at 4 and are
    over it at 5; the first frame is what is colorized."""
    loaded = small_budget_loaded
    frames = [Image.new("L", (1000, 1000), color) for color in (10, 60, 110, 160, 210)]

    def gif(count):
        buffer = io.BytesIO()
        frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:count])
        return buffer.getvalue()

    with pytest.raises(INVALID, match="over the pixel budget"):
        loaded.signatures["serving_default"](image_bytes=tf.constant([gif(5)]))
    png = loaded.signatures["serving_default"](image_bytes=tf.constant([gif(4)]))
    assert tf.io.decode_png(png["colorized_png_bytes"][0]).shape == (1000, 1000, 3)


def test_unparsable_and_short_bytes_are_invalid_argument(trained_run, photos):
    _, export = trained_run
    serve = tf.saved_model.load(export).signatures["serving_default"]
    frames = [Image.fromarray(photos["astronaut"][k : k + 20, :30]) for k in (0, 40)]
    animated_webp = io.BytesIO()
    frames[0].save(animated_webp, "WEBP", save_all=True, append_images=frames[1:])
    png = encode(photos["coffee"][:20, :20], "PNG")
    cases = {
        b"": "not a JPEG, PNG, GIF, BMP or WebP",
        b"\xff\xd8": "not a JPEG",
        b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR": "IHDR",
        png[:12] + b"JUNK" + png[16:]: "IHDR",
        b"GIF89a\x01\0": "GIF shorter",
        b"BM" + bytes(10): "BMP shorter",
        b"RIFF\0\0\0\0WEBPVP8 ": "WebP shorter",
        b"RIFF\0\0\0\0WEBPJUNK" + bytes(20): "without a VP8",
        # TensorFlow 2.21's decoder aborts the process on these: refused before it.
        animated_webp.getvalue(): "animated WebP",
        b"just some text, long enough to hold any header": "not a JPEG",
    }
    for data, message in cases.items():
        with pytest.raises(INVALID, match=message):
            serve(image_bytes=tf.constant([data]))


def test_tensor_budget_render_size_and_temperature(small_budget_loaded):
    loaded = small_budget_loaded
    images = loaded.signatures["colorize_images"]
    at = loaded.signatures["colorize_images_at"]
    gray = tf.zeros([1, 8, 8, 1], tf.uint8)
    t = tf.constant(0.5)
    # N * H * W over 4 megapixels: one big image, or a batch of images within it alone.
    for shape in ([1, 2001, 2000, 1], [2, 1500, 1500, 1]):
        with pytest.raises(INVALID, match="over the pixel budget"):
            images(images=tf.zeros(shape, tf.uint8))
    for channels in (0, 5):
        with pytest.raises(INVALID, match="1 to 4 channels"):
            images(images=tf.zeros([1, 8, 8, channels], tf.uint8))
    with pytest.raises(INVALID, match="at least one pixel"):
        images(images=tf.zeros([1, 0, 8, 1], tf.uint8))
    # render_size in [0, 256] (256^2 = the render budget).
    assert int(loaded.max_render_pixels.numpy()) == SMALL_RENDER_BUDGET
    for size in (-1, 257, 7071, 2**31 - 1):
        with pytest.raises(INVALID, match="render_size must be between 0 and"):
            at(images=gray, render_size=tf.constant(size), temperature=t)
        with pytest.raises(INVALID, match="render_size must be between 0 and"):
            loaded.signatures["colorize_bytes_at_size"](
                image_bytes=tf.constant([encode(np.zeros((8, 8, 3), np.uint8))]),
                render_size=tf.constant(size),
            )
    out = at(images=gray, render_size=tf.constant(256), temperature=t)
    assert out["colorized"].shape == (1, 8, 8, 3)
    # A batch whose network input is over the render budget (5 x 128^2 > 256^2) runs through
    # the network in chunks (4 images, then 1): each image colorized as it is alone.
    rng = np.random.default_rng(3)
    batch = rng.integers(0, 256, (5, 12, 10, 1), dtype=np.uint8)
    together = at(images=tf.constant(batch), render_size=tf.constant(128), temperature=t)
    alone = [
        at(images=tf.constant(image[None]), render_size=tf.constant(128), temperature=t)
        for image in batch
    ]
    np.testing.assert_array_equal(
        together["colorized"].numpy(), np.concatenate([out["colorized"] for out in alone])
    )
    # render_size 0 (each image's own size): an image over the render budget is rendered
    # scaled down into it, and comes back at its own size.
    big = tf.zeros([1, 600, 410, 1], tf.uint8)
    out = at(images=big, render_size=tf.constant(0), temperature=t)
    assert out["colorized"].shape == (1, 600, 410, 3)
    for temperature in (-1.0, 1.5, 2.0, float("nan"), float("inf"), -float("inf")):
        with pytest.raises(INVALID, match="temperature must be finite, between 0 and 1"):
            at(images=gray, render_size=tf.constant(16), temperature=tf.constant(temperature))
    for temperature in (0.0, 1.0):
        out = at(images=gray, render_size=tf.constant(0), temperature=tf.constant(temperature))
        assert out["colorized"].shape == (1, 8, 8, 3)


def test_empty_batches_give_empty_results(small_budget_loaded):
    """Here in-process; the classification and video exports' empty batches, in the session
    loader, in test_session_loader.py."""
    signatures = small_budget_loaded.signatures
    no_bytes = tf.constant([], tf.string)
    assert signatures["serving_default"](image_bytes=no_bytes)["colorized_png_bytes"].shape == (0,)
    out = signatures["colorize_bytes_at_size"](image_bytes=no_bytes, render_size=tf.constant(16))
    assert out["colorized_png_bytes"].shape == (0,)
    out = signatures["colorize_images"](images=tf.zeros([0, 9, 7, 1], tf.uint8))
    assert out["colorized"].shape == (0, 9, 7, 3) and out["colorized"].dtype == tf.uint8
    out = signatures["colorize_images_at"](
        images=tf.zeros([0, 9, 7, 3], tf.uint8),
        render_size=tf.constant(16),
        temperature=tf.constant(0.5),
    )
    assert out["colorized"].shape == (0, 9, 7, 3)


def test_video_chunks_are_bounded(video_export):
    loaded = tf.saved_model.load(video_export)
    state = loaded.signatures["video_state"](frames=tf.zeros([1, 2, 24, 32, 1], tf.uint8))
    chunk = loaded.signatures["colorize_video_chunk"]
    # A time-empty chunk keeps the state it was given.
    out = chunk(frames=tf.zeros([1, 0, 24, 32, 1], tf.uint8), **state)
    assert out["colorized"].shape == (1, 0, 24, 32, 3)
    np.testing.assert_array_equal(out["state_h"], state["state_h"])
    with pytest.raises(INVALID, match="over the pixel budget"):
        chunk(frames=tf.zeros([1, 5, 1000, 1000, 1], tf.uint8), **state)
    with pytest.raises(INVALID, match="1 to 4 channels"):
        chunk(frames=tf.zeros([1, 1, 24, 32, 6], tf.uint8), **state)


def test_constructor_refuses_bounds_it_cannot_serve(trained_run, tmp_path):
    from tfcolor.export import saved_model as serving

    colorizer, _ = trained_run
    arguments = dict(multiple=colorizer._multiple, temperature=0.5)
    for bad, message in (
        (dict(render_size=32, max_pixels=0), "max_pixels must be in"),
        (dict(render_size=32, max_render_pixels=2**31), "max_render_pixels must be in"),
        (dict(render_size=101, max_render_pixels=10_000), r"render_size must be in \[0, 100\]"),
        (dict(render_size=-1), "render_size must be in"),
    ):
        with pytest.raises(ValueError, match=message):
            serving.export_saved_model(
                colorizer.model, colorizer.codec, str(tmp_path), **arguments, **bad
            )
    with pytest.raises(ValueError, match="temperature"):
        serving.ColorizerModule(colorizer.model, colorizer.codec, 32, 4, float("nan"))


def test_video_frames_through_an_image_export_stay_within_its_budget(small_budget_loaded):
    """colorize's frame-by-frame path sends as many frames per call as the pixel budget takes:
    3 frames of 1.5 megapixels are over the 4-megapixel test budget in one call."""
    from tfcolor.export.client import ExportClipColorizer

    frames = np.random.default_rng(5).integers(0, 256, (3, 1000, 1500, 3), dtype=np.uint8)
    with pytest.raises(INVALID, match="over the pixel budget"):
        small_budget_loaded.signatures["colorize_images"](images=tf.constant(frames))
    colorized = ExportClipColorizer(small_budget_loaded)(frames)
    assert colorized.shape == (3, 1000, 1500, 3)
    alone = small_budget_loaded.signatures["colorize_images"](images=tf.constant(frames[2:]))
    np.testing.assert_array_equal(colorized[2:], alone["colorized"].numpy())


def test_video_export_takes_its_own_chunk_over_the_default_budget(tmp_path):
    """A training chunk over DEFAULT_MAX_RENDER_PIXELS (16 frames of 320 x 240: 1.2
    megapixels) raises the export's default render budget to it; an export given a smaller
    budget is colorized by `ExportClipColorizer` in calls within it, the state carried, with
    the colours of one call."""
    from tests.helpers import smoke_preset
    from tfcolor.codecs import make_codec
    from tfcolor.export import saved_model as serving
    from tfcolor.export.client import ExportClipColorizer
    from tfcolor.models import build_model

    config = smoke_preset("convlstm")
    config.model.filters = (4, 8)
    codec = make_codec(config.codec)
    network = build_model(config.model, codec)
    multiple = getattr(network, "downsampling", 1)
    frame_size, chunk_frames = (320, 240), 16
    assert chunk_frames * 320 * 240 > serving.DEFAULT_MAX_RENDER_PIXELS
    exports = [
        serving.export_video_saved_model(
            network, codec, str(tmp_path / name), frame_size, chunk_frames, multiple, 0.5, **kw
        )
        for name, kw in (("default", {}), ("small", {"max_render_pixels": 3 * 320 * 240}))
    ]
    loaded, small = (tf.saved_model.load(export) for export in exports)
    assert int(loaded.max_render_pixels.numpy()) >= chunk_frames * 320 * 240
    chunk = np.random.default_rng(7).integers(0, 256, (chunk_frames, 240, 320, 1), np.uint8)
    state = loaded.signatures["video_state"](frames=tf.constant(chunk[None]))
    out = loaded.signatures["colorize_video_chunk"](frames=tf.constant(chunk[None]), **state)
    assert out["colorized"].shape == (1, chunk_frames, 240, 320, 3)
    with pytest.raises(INVALID, match="over the render budget"):
        small.signatures["colorize_video_chunk"](frames=tf.constant(chunk[None]), **state)
    whole = ExportClipColorizer(loaded)
    split = ExportClipColorizer(small)
    for part in (chunk[:10], chunk[10:]):  # two consecutive chunks: the state is carried
        np.testing.assert_allclose(whole(part).astype(int), split(part).astype(int), atol=1)


def test_image_export_budget_admits_its_render_size_by_default():
    """`train --render-size 1100` exports: the default render budget is raised to 1100^2; a
    budget given stays strict."""
    from tests.helpers import smoke_preset
    from tfcolor.codecs import make_codec
    from tfcolor.export import saved_model as serving
    from tfcolor.models import build_model

    config = smoke_preset("unet_shapes")
    config.model.filters = (4, 8)
    codec = make_codec(config.codec)
    model = build_model(config.model, codec)
    module = serving.ColorizerModule(model, codec, 1100, 2, 0.5)
    assert int(module.max_render_pixels.numpy()) == 1100 * 1100
    module = serving.ColorizerModule(model, codec, 32, 2, 0.5)
    assert int(module.max_render_pixels.numpy()) == serving.DEFAULT_MAX_RENDER_PIXELS
    with pytest.raises(ValueError, match="render_size must be in"):
        serving.ColorizerModule(model, codec, 1100, 2, 0.5, max_render_pixels=1 << 20)
