"""RGB <-> CIE Lab (sRGB primaries, D65 white, 2 degree observer) in plain TF ops.

Every function works on tensors of any rank whose last axis holds the colour channels, inside
`tf.data` map functions and under `tf.function(jit_compile=True)`: only element-wise TF math,
no numpy in the graph and no Python per pixel. The constants are scikit-image's
(`skimage.color.rgb2lab` / `lab2rgb` with their defaults), which the tests use as the reference.

The colour-space matrices are applied as explicit multiply-adds over the three channels rather
than as a matmul: a GPU may run float32 matmuls in TF32 (10-bit mantissa), which would cost
about 0.1 in Lab, more than the 0.05 the tests allow against scikit-image.

`lightness_and_ab` is the one function that turns RGB into model inputs and targets; training,
evaluation, predict and the export all call it, so they cannot drift apart.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = [
    "denormalize_lightness",
    "lab_from_parts",
    "lab_to_rgb",
    "lightness_and_ab",
    "normalize_lightness",
    "rgb_to_lab",
]

# sRGB (linear) -> CIE XYZ, from the sRGB specification (skimage's `xyz_from_rgb`).
_XYZ_FROM_RGB = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
# Its inverse (skimage's `rgb_from_xyz = linalg.inv(xyz_from_rgb)`), to float64 precision.
_RGB_FROM_XYZ = (
    (3.2404813432005266, -1.5371515162713183, -0.4985363261688878),
    (-0.9692549499965682, 1.8759900014898907, 0.04155592655829284),
    (0.05564663913517717, -0.20404133836651123, 1.0573110696453443),
)
# D65 reference white for the 2 degree observer (skimage's former `lab_ref_white`).
_D65_WHITE = (0.95047, 1.0, 1.08883)

# sRGB transfer function (IEC 61966-2-1): linear segment below these thresholds.
_SRGB_DECODE_THRESHOLD = 0.04045
_SRGB_ENCODE_THRESHOLD = 0.0031308
# CIE Lab f(t): cube root above (6/29)^3 = 0.008856, the linear segment 7.787 t + 16/116 below
# (skimage's rounded constants; its inverse switches at 6/29 = 0.2068966).
_LAB_EPSILON = 0.008856
_LAB_KAPPA = 7.787
_LAB_INVERSE_THRESHOLD = 0.2068966

# Largest L of the Lab space; the model sees L / 100 in [0, 1].
_L_MAX = 100.0


def _to_float32(values: tf.Tensor, argument: str) -> tf.Tensor:
    values = tf.convert_to_tensor(values)
    if not values.dtype.is_floating:
        # uint8 images silently scaled by 255 would give nonsense colours; say so instead.
        raise TypeError(
            f"{argument} must be a float tensor (values in [0, 1] for RGB). "
            f"Received: dtype={values.dtype.name}"
        )
    return tf.cast(values, tf.float32)


def _apply_matrix(matrix, channels: tf.Tensor) -> tf.Tensor:
    """Applies a 3x3 matrix to the last axis of `channels` with element-wise ops only."""
    c0, c1, c2 = tf.unstack(channels, num=3, axis=-1)
    rows = [row[0] * c0 + row[1] * c1 + row[2] * c2 for row in matrix]
    return tf.stack(rows, axis=-1)


def _srgb_to_linear(rgb: tf.Tensor) -> tf.Tensor:
    # The clamp keeps pow's base positive in the unused branch (no NaN values or gradients).
    curve = tf.pow((tf.maximum(rgb, _SRGB_DECODE_THRESHOLD) + 0.055) / 1.055, 2.4)
    return tf.where(rgb > _SRGB_DECODE_THRESHOLD, curve, rgb / 12.92)


def _linear_to_srgb(linear: tf.Tensor) -> tf.Tensor:
    curve = 1.055 * tf.pow(tf.maximum(linear, _SRGB_ENCODE_THRESHOLD), 1.0 / 2.4) - 0.055
    return tf.where(linear > _SRGB_ENCODE_THRESHOLD, curve, linear * 12.92)


def rgb_to_lab(rgb: tf.Tensor) -> tf.Tensor:
    """Converts sRGB to CIE Lab (D65, 2 degree observer), as `skimage.color.rgb2lab`.

    Args:
        rgb: float16/32/64 RGB in [0, 1], shape [..., 3].

    Returns:
        float32 Lab, shape [..., 3]: L in [0, 100], a and b roughly in [-128, 127].

    Raises:
        TypeError: `rgb` is not a float tensor (convert uint8 images with
            `tf.image.convert_image_dtype` first).
    """
    rgb = _to_float32(rgb, "rgb")
    xyz = _apply_matrix(_XYZ_FROM_RGB, _srgb_to_linear(rgb))
    xyz = xyz / tf.constant(_D65_WHITE, tf.float32)
    cube_root = tf.pow(tf.maximum(xyz, _LAB_EPSILON), 1.0 / 3.0)
    f = tf.where(xyz > _LAB_EPSILON, cube_root, _LAB_KAPPA * xyz + 16.0 / 116.0)
    fx, fy, fz = tf.unstack(f, num=3, axis=-1)
    lightness = 116.0 * fy - 16.0
    a = 500.0 * (fx - fy)
    b = 200.0 * (fy - fz)
    return tf.stack([lightness, a, b], axis=-1)


def lab_to_rgb(lab: tf.Tensor) -> tf.Tensor:
    """Converts CIE Lab (D65, 2 degree observer) to sRGB, as `skimage.color.lab2rgb`.

    Colours outside the sRGB gamut are clipped to [0, 1] (and a negative Z is clipped to 0
    first, as scikit-image does).

    Args:
        lab: float Lab, shape [..., 3]: L in [0, 100], a and b in about [-128, 127].

    Returns:
        float32 RGB in [0, 1], shape [..., 3].

    Raises:
        TypeError: `lab` is not a float tensor.
    """
    lab = _to_float32(lab, "lab")
    lightness, a, b = tf.unstack(lab, num=3, axis=-1)
    fy = (lightness + 16.0) / 116.0
    fx = a / 500.0 + fy
    fz = tf.maximum(fy - b / 200.0, 0.0)
    f = tf.stack([fx, fy, fz], axis=-1)
    xyz = tf.where(f > _LAB_INVERSE_THRESHOLD, f * f * f, (f - 16.0 / 116.0) / _LAB_KAPPA)
    xyz = xyz * tf.constant(_D65_WHITE, tf.float32)
    rgb = _linear_to_srgb(_apply_matrix(_RGB_FROM_XYZ, xyz))
    return tf.clip_by_value(rgb, 0.0, 1.0)


def normalize_lightness(lightness: tf.Tensor) -> tf.Tensor:
    """Maps Lab lightness L in [0, 100] to the model's input range [0, 1] (float32)."""
    return _to_float32(lightness, "lightness") / _L_MAX


def denormalize_lightness(normalized: tf.Tensor) -> tf.Tensor:
    """Maps normalized lightness in [0, 1] back to Lab L in [0, 100] (float32)."""
    return _to_float32(normalized, "normalized") * _L_MAX


def lightness_and_ab(rgb: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Splits RGB into the model input (normalized lightness) and the colour to predict (ab).

    Training, evaluation, predict and the export all make model inputs with this function.

    Args:
        rgb: float RGB in [0, 1], shape [..., 3].

    Returns:
        A tuple `(lightness, ab)`: float32 normalized lightness L / 100 in [0, 1], shape
        [..., 1], and float32 ab, shape [..., 2], roughly in [-128, 127].
    """
    lab = rgb_to_lab(rgb)
    return normalize_lightness(lab[..., :1]), lab[..., 1:]


def lab_from_parts(lightness: tf.Tensor, ab: tf.Tensor) -> tf.Tensor:
    """Recombines normalized lightness and ab into RGB (the inverse of `lightness_and_ab`).

    Args:
        lightness: float normalized lightness in [0, 1], shape [..., 1].
        ab: float ab, shape [..., 2] (same leading shape as `lightness`).

    Returns:
        float32 RGB in [0, 1], shape [..., 3].
    """
    lab = tf.concat([denormalize_lightness(lightness), _to_float32(ab, "ab")], axis=-1)
    return lab_to_rgb(lab)
