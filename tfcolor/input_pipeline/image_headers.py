"""Encoded images' sizes read from their headers, in TensorFlow ops, before any decoding.

`tf.io.decode_image` allocates the whole decoded image (every frame of an animated GIF) before
anything can look at it: a 250 KB PNG can declare 16000 x 16000 pixels and take 8 GB, and TF
2.21's WebP decoder corrupts the heap on animated WebP. `encoded_image_size` reads the size
from the header of each format the decoder reads, and `check_encoded` refuses bytes over a
pixel budget with InvalidArgumentError, so that the export's signatures
(`tfcolor.export.saved_model`) and the image sources (`tfcolor.input_pipeline.sources`) decode
only what they can hold. `checked` is the ordered-requirements helper both use.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["MAX_DATA_PIXELS", "check_encoded", "checked", "encoded_image_size"]

# The largest image a data source decodes (pixels of all its frames): above any camera's
# photo, below what would take gigabytes per parallel decode. Larger files are skipped as
# undecodable, by name.
MAX_DATA_PIXELS = 120_000_000

# An animated GIF is bounded by the sum of its frames (giflib holds every frame at once), which
# needs a walk over its blocks: at most this many (2,000 frames of two blocks each).
_MAX_GIF_BLOCKS = 4096
_HEADER_BYTES = 32


def checked(value, *requirements):
    """`value` computed only once every requirement holds, else InvalidArgumentError.

    Args:
        value: a tensor.
        *requirements: (bool scalar, list of message parts and tensors) pairs, checked in
            order, each only after the previous one passed: the error names the first
            problem (a later check may be meaningless after it).
    """
    assertions = []
    for condition, message in requirements:
        with tf.control_dependencies(assertions[-1:]):
            assertions.append(tf.debugging.Assert(condition, message))
    with tf.control_dependencies(assertions[-1:]):
        return tf.identity(value)


def _header(encoded):
    """The first `_HEADER_BYTES` bytes of `encoded` as int64 [_HEADER_BYTES], zero-padded."""
    padded = tf.strings.join([tf.strings.substr(encoded, 0, _HEADER_BYTES), b"\0" * _HEADER_BYTES])
    head = tf.strings.substr(padded, 0, _HEADER_BYTES)
    return tf.cast(tf.io.decode_raw(head, tf.uint8), tf.int64)


def _starts_with(header, magic: bytes, offset: int = 0):
    return tf.reduce_all(tf.equal(header[offset : offset + len(magic)], list(magic)))


def _little_endian(header, start: int, count: int):
    return sum(header[start + k] * (1 << (8 * k)) for k in range(count))


def _big_endian(header, start: int, count: int):
    return sum(header[start + k] * (1 << (8 * (count - 1 - k))) for k in range(count))


def _require(condition, *message):
    """A requirement for `_checked`: a bool scalar and the error message's parts."""
    return condition, list(message)


def _jpeg_size(encoded, header, length):
    del header, length
    # libjpeg's own header parser (InvalidArgumentError for a broken header); reads no pixels.
    shape = tf.image.extract_jpeg_shape(encoded, output_type=tf.int64)
    return shape[0], shape[1], shape[0] * shape[1]


def _png_size(encoded, header, length):
    del encoded
    # Signature (8 bytes), then the IHDR chunk: length (4), "IHDR", width and height (4 each).
    valid = tf.logical_and(length >= 24, _starts_with(header, b"IHDR", 12))
    check = _require(valid, "PNG without its IHDR header (truncated or corrupt)")
    # Each side capped at 2^31 (PNG's own limit), so that the product cannot overflow int64.
    height = tf.minimum(_big_endian(header, 20, 4), 1 << 31)
    width = tf.minimum(_big_endian(header, 16, 4), 1 << 31)
    return checked(height, check), width, height * width


def _gif_size(encoded, header, length):
    """The logical screen, and the pixels giflib holds: the largest of the screen, the frames'
    extent, and the sum of all frames' areas (it keeps every frame, even when one is asked)."""
    check = _require(length >= 13, "GIF shorter than its screen descriptor")
    width, height = _little_endian(header, 6, 2), _little_endian(header, 8, 2)
    data = tf.cast(tf.io.decode_raw(encoded, tf.uint8), tf.int32)
    size = tf.size(data)
    data = tf.concat([data, tf.zeros([1], tf.int32)], 0)  # data[size] = 0: reads past the end

    def at(position):
        return tf.gather(data, tf.minimum(position, size))

    def table_bytes(packed):  # a colour table of 2^(bits + 1) RGB entries, when flagged
        return tf.where(packed >= 128, 3 * tf.bitwise.left_shift(2, packed % 8), 0)

    # Where each chain of data sub-blocks (a length byte, that many bytes, ... a 0) starting at
    # each position ends: pointer doubling, log2(size) gathers instead of a loop per sub-block.
    positions = tf.range(size + 1)
    jump = tf.where(data != 0, tf.minimum(positions + 1 + data, size), positions)
    log2 = tf.math.log(tf.cast(size + 2, tf.float64)) / tf.math.log(tf.constant(2.0, tf.float64))
    steps = tf.cast(tf.math.ceil(log2), tf.int32)
    _, chain_end = tf.while_loop(
        lambda k, jump: k < steps, lambda k, jump: (k + 1, tf.gather(jump, jump)), (0, jump)
    )

    def after_blocks(position):
        return tf.gather(chain_end, tf.minimum(position, size)) + 1

    def step(position, frames_area, extent, done):
        code = at(position)
        is_image, is_extension = code == 0x2C, code == 0x21
        # Image descriptor: left, top, width, height (2 bytes each, little-endian), flags.
        left = tf.cast(at(position + 1) + 256 * at(position + 2), tf.int64)
        top = tf.cast(at(position + 3) + 256 * at(position + 4), tf.int64)
        frame_width = tf.cast(at(position + 5) + 256 * at(position + 6), tf.int64)
        frame_height = tf.cast(at(position + 7) + 256 * at(position + 8), tf.int64)
        # After the descriptor (10 bytes), its colour table and the LZW code size byte.
        image_end = after_blocks(position + 11 + table_bytes(at(position + 9)))
        next_position = tf.where(is_image, image_end, after_blocks(position + 2))
        frames_area += tf.where(is_image, frame_width * frame_height, 0)
        extent = tf.maximum(
            extent, tf.where(is_image, (left + frame_width) * (top + frame_height), 0)
        )
        # The trailer (0x3B), anything giflib refuses, or the end of the data ends the walk.
        ended = tf.logical_not(tf.logical_or(is_image, is_extension))
        return next_position, frames_area, extent, tf.logical_or(ended, next_position >= size)

    start = 13 + table_bytes(tf.cast(header[10], tf.int32))
    zero = tf.constant(0, tf.int64)
    _, frames_area, extent, done = tf.while_loop(
        lambda position, frames_area, extent, done: tf.logical_not(done),
        step,
        (start, zero, zero, start >= size),
        maximum_iterations=_MAX_GIF_BLOCKS,
    )
    walked = _require(
        done, f"GIF with more than {_MAX_GIF_BLOCKS} blocks: its frames are not bounded"
    )
    pixels = tf.maximum(tf.maximum(width * height, extent), frames_area)
    return checked(height, check, walked), width, pixels


def _bmp_size(encoded, header, length):
    del encoded
    check = _require(length >= 26, "BMP shorter than its header")

    def int32(start):  # little-endian, signed
        value = _little_endian(header, start, 4)
        return tf.where(value >= 1 << 31, value - (1 << 32), value)

    # TensorFlow's decoder reads these two as int32 whatever the header size; a negative height
    # is a top-down bitmap.
    width, height = int32(18), tf.abs(int32(22))
    return checked(height, check), width, height * width


def _webp_size(encoded, header, length):
    del encoded
    # RIFF, size, WEBP, then the first chunk: its name (4 bytes) and size (4) at 12.
    lossy, lossless = _starts_with(header, b"VP8 ", 12), _starts_with(header, b"VP8L", 12)
    extended = _starts_with(header, b"VP8X", 12)
    animated = tf.logical_and(extended, tf.bitwise.bitwise_and(header[20], 2) != 0)
    checks = [
        _require(length >= 30, "WebP shorter than its header"),
        _require(
            tf.reduce_any([lossy, lossless, extended]), "WebP without a VP8, VP8L or VP8X chunk"
        ),
        # TensorFlow 2.21's decoder corrupts memory (aborting the process) on animated WebP.
        _require(tf.logical_not(animated), "animated WebP is not supported"),
        _require(
            tf.logical_or(tf.logical_not(lossy), _starts_with(header, b"\x9d\x01\x2a", 23)),
            "WebP VP8 chunk without its start code",
        ),
        _require(
            tf.logical_or(tf.logical_not(lossless), tf.equal(header[20], 0x2F)),
            "WebP VP8L chunk without its signature",
        ),
    ]
    # VP8: 14-bit width and height after the frame tag and start code. VP8L: after the
    # signature byte, width - 1 and height - 1 in 14 bits each. VP8X: after flags and 3
    # reserved bytes, canvas width - 1 and height - 1 in 24 bits each.
    bits = _little_endian(header, 21, 4)
    width = tf.where(
        lossy,
        _little_endian(header, 26, 2) % (1 << 14),
        tf.where(lossless, bits % (1 << 14) + 1, _little_endian(header, 24, 3) + 1),
    )
    height = tf.where(
        lossy,
        _little_endian(header, 28, 2) % (1 << 14),
        tf.where(lossless, (bits // (1 << 14)) % (1 << 14) + 1, _little_endian(header, 27, 3) + 1),
    )
    return checked(height, *checks), width, height * width


def _unknown_size(encoded, header, length):
    del encoded, header
    check = _require(
        tf.constant(False),
        "not a JPEG, PNG, GIF, BMP or WebP image (or shorter than its header); bytes:",
        length,
    )
    zero = tf.constant(0, tf.int64)
    return checked(zero, check), zero, zero


def encoded_image_size(encoded):
    """The size of an encoded image read from its header, without decoding its pixels.

    The formats of `tf.io.decode_image`, told apart by the same signatures: JPEG (libjpeg's
    header parser), PNG (IHDR), GIF (logical screen; the pixels count every frame, as the
    decoder holds them all), BMP (BITMAPINFOHEADER, negative heights top-down) and WebP (VP8,
    VP8L or VP8X; animated WebP is refused).

    Args:
        encoded: string scalar.

    Returns:
        int64 scalars (height, width, pixels): pixels is what decoding holds at once, in
        pixels (height * width, except for animated GIF).

    Raises:
        InvalidArgumentError (when run): bytes too short for a header, an unknown format, or a
            header that cannot be parsed.
    """
    header = _header(encoded)
    length = tf.cast(tf.strings.length(encoded), tf.int64)
    formats = [
        _starts_with(header, b"\xff\xd8\xff"),
        _starts_with(header, b"\x89PNG\r\n\x1a\n"),
        _starts_with(header, b"GIF8"),
        _starts_with(header, b"BM"),
        tf.logical_and(_starts_with(header, b"RIFF"), _starts_with(header, b"WEBP", 8)),
    ]
    index = tf.constant(len(formats), tf.int32)
    for position in reversed(range(len(formats))):
        index = tf.where(formats[position], position, index)
    branches = [_jpeg_size, _png_size, _gif_size, _bmp_size, _webp_size, _unknown_size]
    return tf.switch_case(
        index, [lambda size=size: size(encoded, header, length) for size in branches]
    )


# Traced once (per process) and called by every signature that reads headers.
_traced_encoded_image_size = tf.function(
    encoded_image_size, input_signature=[tf.TensorSpec([], tf.string)], autograph=False
)


def check_encoded(encoded, max_pixels):
    """`encoded` (string scalar) once its header gives at least one pixel and at most
    `max_pixels`; else InvalidArgumentError, before anything is decoded."""
    height, width, pixels = _traced_encoded_image_size(encoded)
    requirements = [
        (
            tf.logical_and(height >= 1, width >= 1),
            ["image header gives an empty image. Received: height, width =", height, width],
        ),
        (
            pixels <= max_pixels,
            [
                "image over the pixel budget. Received: height, width, pixels =",
                height,
                width,
                pixels,
                "max_pixels =",
                max_pixels,
            ],
        ),
    ]
    return checked(encoded, *requirements)
