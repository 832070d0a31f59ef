"""Small pure functions from decoded images to model-ready RGB, in TF ops.

Each works eagerly, inside `tf.data` map functions and inside `tf.function` (the export and
`predict` call `to_rgb` too), with no numpy and no Python per pixel. Shapes and ranges are in
the docstrings; "RGB" below always means float32 in [0, 1] with the channels last.
"""

from __future__ import annotations

import math

import tensorflow as tf

from tfcolor import color

__all__ = [
    "AUGMENT_MAX_ROTATION_DEGREES",
    "AUGMENT_MAX_ZOOM",
    "augment_batch",
    "decode_and_resize",
    "is_colorful",
    "resize_and_crop",
    "to_rgb",
    "to_uint8",
]

# The thesis's augmentation: flips, rotation up to +-30 degrees, zoom up to 30 % (in or out).
AUGMENT_MAX_ROTATION_DEGREES = 30.0
AUGMENT_MAX_ZOOM = 0.3

# libjpeg decodes at 1/1, 1/2, 1/4 or 1/8 scale (DCT scaling), skipping most of the inverse
# DCT work and leaving fewer pixels to resize.
_JPEG_RATIOS = (1, 2, 4, 8)


def to_rgb(image: tf.Tensor) -> tf.Tensor:
    """Any decoded image as RGB.

    Args:
        image: uint8, uint16 or float (float taken as already in [0, 1]) image, shape
            [..., H, W, C] with C = 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA); the
            channel count may be unknown until run time (`tf.io.decode_image`). Alpha is
            dropped; gray is repeated into three channels.

    Returns:
        float32 RGB in [0, 1], shape [..., H, W, 3].
    """
    image = tf.convert_to_tensor(image)
    channels = image.shape[-1]
    if channels is not None:
        # Static channel count (the XLA case): plain slicing, no gather.
        if channels not in (1, 2, 3, 4):
            raise ValueError(f"images must have 1 to 4 channels. Received: shape={image.shape}")
        rgb = image[..., :3] if channels >= 3 else tf.concat([image[..., :1]] * 3, axis=-1)
    else:
        count = tf.shape(image)[-1]
        tf.debugging.assert_less_equal(count, 4, message="images must have 1 to 4 channels")
        indices = tf.where(count >= 3, tf.constant([0, 1, 2]), tf.constant([0, 0, 0]))
        rgb = tf.gather(image, indices, axis=-1)
    # convert_image_dtype scales integers by their type's maximum (255, 65535).
    return tf.image.convert_image_dtype(rgb, tf.float32)


def _centre_square(height: tf.Tensor, width: tf.Tensor) -> tuple[tf.Tensor, ...]:
    """(top, left, side) of the centre square of an image."""
    side = tf.minimum(height, width)
    return (height - side) // 2, (width - side) // 2, side


def resize_and_crop(image: tf.Tensor, size: int) -> tf.Tensor:
    """Scales the shorter side to `size` and centre-crops a `size` x `size` square.

    Implemented as crop-then-resize (the centre square of side min(H, W), then one resize),
    which is the same picture and resizes fewer pixels. Bilinear with antialiasing, so
    shrinking photos does not alias. Integer images are resized as they are and scaled to
    [0, 1] afterwards, on the small image (measured: converting a 480x480 image to float first
    costs about as much as the resize).

    Args:
        image: uint8 or uint16 (scaled by 1/255, 1/65535), or float in [0, 1]; shape
            [H, W, C].
        size: side of the output square.

    Returns:
        float32 in [0, 1], shape [size, size, C].
    """
    image = tf.convert_to_tensor(image)
    scale = 1.0 / image.dtype.max if image.dtype.is_integer else 1.0
    if image.shape[0] == size and image.shape[1] == size:
        return tf.cast(image, tf.float32) * scale if scale != 1.0 else tf.cast(image, tf.float32)
    shape = tf.shape(image)
    top, left, side = _centre_square(shape[0], shape[1])
    square = tf.image.crop_to_bounding_box(image, top, left, side, side)
    resized = tf.image.resize(square, [size, size], method="bilinear", antialias=True)
    if scale != 1.0:
        resized = resized * scale
    # The antialiasing kernel is non-negative, but float rounding can step just outside.
    return tf.clip_by_value(resized, 0.0, 1.0)


def _decode_jpeg_square(contents: tf.Tensor, size: int) -> tf.Tensor:
    """JPEG bytes -> uint8 centre square [s, s, 3], decoded at the smallest DCT scale with
    s >= size, and only the rows and columns of the square (decode_and_crop_jpeg)."""
    shape = tf.image.extract_jpeg_shape(contents)
    shorter = tf.minimum(shape[0], shape[1])
    # libjpeg's scaled size is ceil(side / ratio); the ratio is kept only while the shorter
    # side stays >= size, so the final resize still only shrinks.
    fits = [shorter >= ratio * size for ratio in _JPEG_RATIOS[1:]]
    index = tf.reduce_sum(tf.cast(tf.stack(fits), tf.int32))

    def decoder(ratio):
        def decode():
            # The crop window is in the scaled image's pixels (checked in the tests).
            height = (shape[0] + ratio - 1) // ratio
            width = (shape[1] + ratio - 1) // ratio
            top, left, side = _centre_square(height, width)
            # INTEGER_FAST: the fastest IDCT; its error is invisible after downscaling.
            return tf.io.decode_and_crop_jpeg(
                contents,
                tf.stack([top, left, side, side]),
                channels=3,
                ratio=ratio,
                dct_method="INTEGER_FAST",
            )

        return decode

    return tf.switch_case(index, [decoder(ratio) for ratio in _JPEG_RATIOS])


def decode_and_resize(contents: tf.Tensor, size: int) -> tf.Tensor:
    """Encoded image bytes -> RGB square, as `resize_and_crop(to_rgb(decoded), size)`.

    JPEG goes through libjpeg's scaled decoding of just the centre square (see
    `_JPEG_RATIOS`); every other format `tf.io.decode_image` reads (PNG incl. 16-bit, palette,
    gray, RGBA; GIF's first frame; BMP; WebP) is decoded at full size.

    Args:
        contents: scalar tf.string, the file's bytes.
        size: side of the output square.

    Returns:
        float32 RGB in [0, 1], shape [size, size, 3].

    Raises:
        tf.errors.InvalidArgumentError (at run time): bytes that do not decode.
    """

    def jpeg():
        return resize_and_crop(_decode_jpeg_square(contents, size), size)

    def other():
        # dtype uint8: 16-bit PNGs are scaled down to 8 bits by the decoder (WebP only
        # supports uint8 anyway). Resized before `to_rgb`: fewer pixels to convert.
        image = tf.io.decode_image(contents, dtype=tf.uint8, expand_animations=False)
        return to_rgb(resize_and_crop(image, size))

    rgb = tf.cond(tf.io.is_jpeg(contents), jpeg, other)
    return tf.ensure_shape(rgb, [size, size, 3])


def to_uint8(rgb: tf.Tensor) -> tf.Tensor:
    """RGB float32 in [0, 1] (any shape) -> uint8 in [0, 255], rounded."""
    return tf.image.convert_image_dtype(rgb, tf.uint8, saturate=True)


def is_colorful(rgb: tf.Tensor, gray_threshold: float) -> tf.Tensor:
    """Whether an image (or each image of a batch) has colour worth learning.

    Args:
        rgb: float32 RGB in [0, 1], shape [..., H, W, 3].
        gray_threshold: an image is gray when every pixel has |a| < threshold and
            |b| < threshold.

    Returns:
        bool, shape [...]: True unless the image is gray.
    """
    _, ab = color.lightness_and_ab(rgb)
    return tf.reduce_max(tf.abs(ab), axis=[-3, -2, -1]) >= gray_threshold


def _augment_transforms(batch_size: tf.Tensor, height: int, width: int, seed: tf.Tensor):
    """Per-image projective transforms [B, 8] mapping output to input pixel coordinates."""
    seeds = tf.random.experimental.stateless_split(seed, num=5)
    flip_x = tf.random.stateless_uniform([batch_size], seeds[0]) < 0.5
    flip_y = tf.random.stateless_uniform([batch_size], seeds[1]) < 0.5
    max_angle = AUGMENT_MAX_ROTATION_DEGREES * math.pi / 180.0
    angle = tf.random.stateless_uniform([batch_size], seeds[2], -max_angle, max_angle)
    # zoom z > 1 magnifies; the input is sampled at 1 / z of the output's offsets.
    zoom = tf.random.stateless_uniform(
        [batch_size], seeds[3], 1.0 - AUGMENT_MAX_ZOOM, 1.0 + AUGMENT_MAX_ZOOM
    )
    sign_x = tf.where(flip_x, -1.0, 1.0)
    sign_y = tf.where(flip_y, -1.0, 1.0)
    cos, sin = tf.cos(angle) / zoom, tf.sin(angle) / zoom
    # input = centre + R(angle) diag(sign_x, sign_y) / zoom (output - centre)
    a0, a1 = cos * sign_x, -sin * sign_y
    b0, b1 = sin * sign_x, cos * sign_y
    center_x, center_y = (width - 1) / 2.0, (height - 1) / 2.0
    a2 = center_x - a0 * center_x - a1 * center_y
    b2 = center_y - b0 * center_x - b1 * center_y
    zeros = tf.zeros_like(a0)
    return tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=-1)


def augment_batch(rgb: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """The thesis's augmentation, one random draw per image, vectorized over the batch.

    Random horizontal flip, vertical flip, rotation in [-30, 30] degrees and zoom in
    [0.7, 1.3], composed into one projective transform per image (one resampling, bilinear,
    reflecting at the borders). Stateless: the same `seed` gives the same images.

    Args:
        rgb: float32 RGB in [0, 1], shape [B, H, W, 3] (H and W static).
        seed: int32/int64 tensor of shape [2].

    Returns:
        float32 RGB in [0, 1], shape [B, H, W, 3].
    """
    height, width = rgb.shape[1], rgb.shape[2]
    transforms = _augment_transforms(tf.shape(rgb)[0], height, width, seed)
    output = tf.raw_ops.ImageProjectiveTransformV3(
        images=rgb,
        transforms=transforms,
        output_shape=tf.constant([height, width], tf.int32),
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    )
    return tf.clip_by_value(output, 0.0, 1.0)
