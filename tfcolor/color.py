"""RGB <-> CIE Lab (sRGB primaries, D65 white, 2 degree observer) in plain TF ops.

Every function works on tensors of any rank whose last axis holds the colour channels, inside
`tf.data` map functions and under `tf.function(jit_compile=True)`: only element-wise TF math,
no numpy in the graph and no Python per pixel. The constants are scikit-image's
(`skimage.color.rgb2lab` / `lab2rgb` with their defaults), which the tests use as the reference.

Speed matters here: the training input pipeline converts every pixel of every batch, under
XLA (`input_pipeline`). Three choices, measured on 32 x 128 x 128 batches on 2 CPU cores
(RGB -> L + 324-bin index under XLA: 33 ms before, 7 ms after; CPU time 56 and 12 ms):
- The channels are split once and every step works on [...] tensors, one per channel; the
  colour-space matrices are explicit multiply-adds. A matrix applied to a [..., 3] tensor
  (stacked or broadcast) makes XLA recompute the whole chain once per channel it reads. Not a
  matmul either: a GPU may run float32 matmuls in TF32 (10-bit mantissa), about 0.1 in Lab,
  more than the 0.05 the tests allow against scikit-image.
- `tf.pow` is a scalar library call under XLA on CPU; the sRGB curves use exp and log, which
  XLA vectorizes.
- The Lab cube root is a bit-level first guess and Newton steps (no transcendental at all).
The error against scikit-image stays below 0.001 in L, a and b.

`lightness_and_ab` is the one function that turns RGB into model inputs and targets; training,
evaluation, predict and the export all call it, so they cannot drift apart. `lab_from_parts` is
its inverse, and every rendering path calls it: a predicted ab outside the sRGB gamut at the
input's L is brought in by lowering its chroma at constant L and hue (`map_chroma_into_gamut`,
the `chroma` setting, the default), or by clipping R, G and B one by one (`clip`, as
scikit-image; it moves L by several units on saturated colours).
"""

from __future__ import annotations

import tensorflow as tf

from tfcolor.config.options import GAMUT_MAPPINGS

__all__ = [
    "denormalize_lightness",
    "lab_from_parts",
    "lab_to_rgb",
    "lightness_and_ab",
    "map_chroma_into_gamut",
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

# Gamut mapping (`map_chroma_into_gamut`). No sRGB colour has a chroma above 135 (the most
# chromatic, the blue primary: 133.8 at L = 32.3), so the bisection on the ab scale s runs on
# [0, min(1, 135 / chroma)]: 9 steps leave s * chroma within 135 / 2^9 = 0.26 of the largest
# in-gamut chroma whatever the ab, far below a visible difference (about 2); L and hue are
# exact whatever the steps.
_MAX_CHROMA = 135.0
_GAMUT_STEPS = 9
# `only_outside` searches the blocks of this many consecutive colours that hold one outside
# the gamut: gathering whole blocks copies rows, where gathering single colours cost as much
# as searching them all.
_GAMUT_BLOCK = 64
# Linear RGB this far outside [0, 1] counts as inside: float32 rounding of colours read from
# sRGB (measured up to about 1e-6); 1e-5 linear is at most 0.04 of an 8-bit level (near black).
_GAMUT_TOLERANCE = 1e-5

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


def _apply_matrix(matrix, channels: list[tf.Tensor]) -> list[tf.Tensor]:
    """Applies a 3x3 matrix to three channel tensors with element-wise ops only."""
    c0, c1, c2 = channels
    return [row[0] * c0 + row[1] * c1 + row[2] * c2 for row in matrix]


def _power(base: tf.Tensor, exponent: float) -> tf.Tensor:
    """base ** exponent for base > 0, as exp(exponent * log(base)) (vectorized by XLA)."""
    return tf.exp(exponent * tf.math.log(base))


def _cube_root(values: tf.Tensor) -> tf.Tensor:
    """Cube root of float32 values > 0, to float32 rounding (about 1e-7), without a division.

    Newton's method on the inverse cube root r = x^(-1/3), r <- r + r (1 - x r^3) / 3, needs
    no division; its first guess comes from the float's bit pattern (the exponent divided by
    -3; the constant is the usual one for this trick, within 4 %). Two steps, then x r^2 is
    the cube root, and one Newton step on it, y <- y - (y^3 - x) r^2 / 3, removes the last
    rounding errors (without it XLA and eager differ by more than the round-trip test allows).
    The guess is not differentiated: the steps alone give the exact derivative's value.
    """
    bits = tf.cast(tf.bitcast(values, tf.int32), tf.float32)  # the float's bits, as a number
    guess = tf.bitcast(0x54A2FA8C - tf.cast(bits * (1.0 / 3.0), tf.int32), tf.float32)
    inverse = tf.stop_gradient(guess)
    for _ in range(2):
        inverse = inverse + inverse * (1.0 - values * inverse * inverse * inverse) * (1.0 / 3.0)
    inverse_square = inverse * inverse
    root = values * inverse_square
    return root - (root * root * root - values) * inverse_square * (1.0 / 3.0)


def _srgb_to_linear(rgb: tf.Tensor) -> tf.Tensor:
    # The clamp keeps the log positive in the unused branch (no NaN values or gradients).
    base = (tf.maximum(rgb, _SRGB_DECODE_THRESHOLD) + 0.055) * (1.0 / 1.055)
    # base^2.4 as base^2 * base^0.4: the exp/log error grows with the exponent (2.4 gave
    # XLA and eager results 1e-6 apart, too much for the round trip's XLA = eager check).
    curve = base * base * _power(base, 0.4)
    return tf.where(rgb > _SRGB_DECODE_THRESHOLD, curve, rgb * (1.0 / 12.92))


def _linear_to_srgb(linear: tf.Tensor) -> tf.Tensor:
    curve = 1.055 * _power(tf.maximum(linear, _SRGB_ENCODE_THRESHOLD), 1.0 / 2.4) - 0.055
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
    return tf.stack(_lab_channels(_to_float32(rgb, "rgb")), axis=-1)


def _lab_channels(rgb: tf.Tensor) -> list[tf.Tensor]:
    """float32 RGB [..., 3] -> [L, a, b], each float32 [...]."""
    linear = [_srgb_to_linear(channel) for channel in tf.unstack(rgb, num=3, axis=-1)]
    xyz = [
        channel * (1.0 / white)
        for channel, white in zip(_apply_matrix(_XYZ_FROM_RGB, linear), _D65_WHITE, strict=True)
    ]
    fx, fy, fz = [
        tf.where(
            channel > _LAB_EPSILON,
            _cube_root(tf.maximum(channel, _LAB_EPSILON)),
            _LAB_KAPPA * channel + 16.0 / 116.0,
        )
        for channel in xyz
    ]
    return [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]


def _linear_rgb(lightness: tf.Tensor, a: tf.Tensor, b: tf.Tensor) -> list[tf.Tensor]:
    """Lab channels, each float32 [...] -> linear sRGB [R, G, B], unclipped (outside [0, 1]
    for a colour outside the gamut). A negative Z is clipped to 0 first, as scikit-image does."""
    fy = (lightness + 16.0) / 116.0
    fx = a / 500.0 + fy
    fz = tf.maximum(fy - b / 200.0, 0.0)
    xyz = [white * _lab_f_inverse(f) for f, white in zip((fx, fy, fz), _D65_WHITE, strict=True)]
    return _apply_matrix(_RGB_FROM_XYZ, xyz)


def _lab_f_inverse(f: tf.Tensor) -> tf.Tensor:
    """The inverse of Lab's f: t = f^3 above 6/29, the linear segment below (skimage's).

    Written with max and min instead of tf.where: on CPU a select costs as much as three to
    ten arithmetic ops (measured), and the chroma search calls this twice a step. The linear
    segment meets the cube at 6/29 (its tangent there), to 6e-8 with skimage's rounded
    constants.
    """
    above = tf.maximum(f, _LAB_INVERSE_THRESHOLD)
    return above * above * above + (
        tf.minimum(f, _LAB_INVERSE_THRESHOLD) - _LAB_INVERSE_THRESHOLD
    ) * (1.0 / _LAB_KAPPA)


def _gamut_margin(lightness: tf.Tensor):
    """`margin(a_offset, b_offset)`: how far inside sRGB each colour at `lightness` with
    f(X) = fy + a_offset and f(Z) = fy - b_offset lies (float32 [...], >= 0 inside), the
    smallest distance of its linear R, G or B to the ends of [-tol, 1 + tol]
    (`_GAMUT_TOLERANCE`). Lab's (a, b) has offsets (a / 500, b / 200).

    Along a chroma search only X and Z change (Y depends on L alone), so what depends on L is
    computed once here: each call costs two Lab f inversions and the matrix's three rows.
    """
    fy = (lightness + 16.0) / 116.0
    y = _D65_WHITE[1] * _lab_f_inverse(fy)
    x_gains = [row[0] * _D65_WHITE[0] for row in _RGB_FROM_XYZ]
    z_gains = [row[2] * _D65_WHITE[2] for row in _RGB_FROM_XYZ]
    # Each row's distance from the middle of [0, 1]: its Y part, less 0.5.
    y_parts = [row[1] * y - 0.5 for row in _RGB_FROM_XYZ]

    def margin(a_offset, b_offset):
        x = _lab_f_inverse(fy + a_offset)
        z = _lab_f_inverse(tf.maximum(fy - b_offset, 0.0))  # negative Z clipped: skimage
        distances = [
            tf.abs(x_gain * x + z_gain * z + y_part)
            for x_gain, z_gain, y_part in zip(x_gains, z_gains, y_parts, strict=True)
        ]
        farthest = tf.maximum(tf.maximum(distances[0], distances[1]), distances[2])
        return (0.5 + _GAMUT_TOLERANCE) - farthest

    return margin


def _chroma_scale(
    lightness: tf.Tensor, a: tf.Tensor, b: tf.Tensor, fits: tf.Tensor | None = None
) -> tf.Tensor:
    """The factor `map_chroma_into_gamut` scales a and b by, float32 [...] from float32 L,
    a, b [...]: 1 where the colour fits (bool `fits`, tested here when None), else the
    largest s found by bisection."""
    margin = _gamut_margin(lightness)
    if fits is None:
        fits = margin(a * (1.0 / 500.0), b * (1.0 / 200.0)) >= 0.0
    largest = _MAX_CHROMA / tf.maximum(tf.sqrt(a * a + b * b), _MAX_CHROMA)  # 1 to chroma 135
    a_step, b_step = a * (largest / 500.0), b * (largest / 200.0)
    # After step k the largest fitting s / largest lies in [low, low + 2^-k]: the upper end
    # need not be kept, and each step tries low + 2^-k. A fitting trial raises low by 2^-k
    # times a 0/1 indicator rather than through tf.where (on CPU a select costs as much as
    # three to ten multiplies, measured).
    low = tf.zeros_like(a)
    for step in range(1, _GAMUT_STEPS + 1):
        middle = low + 0.5**step
        fitting = tf.cast(margin(middle * a_step, middle * b_step) >= 0.0, tf.float32)
        low = low + fitting * 0.5**step
    # No tf.cond skipping the search when every colour fits: it cost 4x under XLA.
    return tf.where(fits, 1.0, low * largest)


def _chroma_scale_of_blocks_outside(lightness: tf.Tensor, a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """`_chroma_scale` searched only in the blocks of `_GAMUT_BLOCK` colours (in memory
    order) that hold one outside the gamut; the others are all 1."""
    fits = _gamut_margin(lightness)(a * (1.0 / 500.0), b * (1.0 / 200.0)) >= 0.0
    count = tf.size(a)
    padding = [[0, -count % _GAMUT_BLOCK]]

    def blocks(channel, fill=0.0):
        flat = tf.pad(tf.reshape(channel, [-1]), padding, constant_values=fill)
        return tf.reshape(flat, [-1, _GAMUT_BLOCK])

    fitting = blocks(tf.cast(fits, tf.float32), fill=1.0)
    outside = tf.reduce_min(fitting, axis=1) < 0.5
    indices = tf.where(outside)[:, 0]
    gathered = [tf.gather(blocks(channel), indices) for channel in (lightness, a, b)]
    searched = _chroma_scale(*gathered, fits=tf.gather(fitting, indices) > 0.5)
    # Back in place by a gather, not a scatter (3-4 times slower on CPU, measured): each block
    # outside takes its 1-based rank among them, each one that fits the row of ones in front.
    outside_count = tf.cast(outside, tf.int32)
    rank = tf.cumsum(outside_count) * outside_count
    scale = tf.gather(tf.concat([tf.ones([1, _GAMUT_BLOCK]), searched], axis=0), rank)
    return tf.reshape(tf.reshape(scale, [-1])[:count], tf.shape(a))


def _scale_for(lightness, a, b, only_outside: bool) -> tf.Tensor:
    """`_chroma_scale`, searched everywhere or (`only_outside`) in the blocks outside."""
    if only_outside:
        return _chroma_scale_of_blocks_outside(lightness, a, b)
    return _chroma_scale(lightness, a, b)


def map_chroma_into_gamut(lab: tf.Tensor, only_outside: bool = False) -> tf.Tensor:
    """Brings Lab colours into the sRGB gamut by lowering their chroma at constant L and hue.

    A colour inside the gamut is returned unchanged; one outside gets (a, b) scaled by the
    largest s in [0, 1] that keeps it inside, found by bisection on s (`_GAMUT_STEPS` steps
    on [0, min(1, 135 / chroma)], vectorized over every pixel: element-wise ops only, as the
    rest of this module; no tf.where in the loop, which costs several multiplies). The grey
    s = 0 is inside for L in [0, 100] (to 1e-4 at L = 100: scikit-image's white point and
    matrix differ in the fifth digit) and the gamut's slice at constant L and hue is one
    interval of s from there, so the bisection's lower end is inside: what is left to clip
    afterwards is float rounding.

    Args:
        lab: float Lab, shape [..., 3]: L in [0, 100].
        only_outside: search only the blocks of `_GAMUT_BLOCK` colours that hold one
            outside the gamut, gathered and put back: the same values, at a cost that
            follows how many blocks are searched (measured at 640x480 in graph mode on one
            thread: about 2 ms where every colour fits, against 11-13 ms for the whole
            search; 8 ms where a third of the colours, spread over the photo, lie outside;
            about 1 ms more than the whole search where nearly all do). Its shapes depend
            on the values, which XLA compiles to wrong values (measured): leave it False
            under `jit_compile`.

    Returns:
        float32 Lab of the same shape, L and hue (atan2(b, a)) unchanged.

    Raises:
        TypeError: `lab` is not a float tensor.
    """
    lightness, a, b = tf.unstack(_to_float32(lab, "lab"), num=3, axis=-1)
    scale = _scale_for(lightness, a, b, only_outside)
    return tf.stack([lightness, a * scale, b * scale], axis=-1)


def _check_gamut(gamut: str) -> None:
    if gamut not in GAMUT_MAPPINGS:
        raise ValueError(
            f"gamut must be one of {', '.join(GAMUT_MAPPINGS)}. Received: gamut={gamut!r}"
        )


def _rgb_from_lab_channels(
    lightness: tf.Tensor, a: tf.Tensor, b: tf.Tensor, gamut: str, only_outside: bool
) -> tf.Tensor:
    """float32 L, a, b [...] -> sRGB [..., 3] in [0, 1]. The channels stay apart from the
    Lab input to the RGB output: stacking and splitting [..., 3] tensors costs as much as
    several steps of the chroma search."""
    if gamut == "chroma":
        scale = _scale_for(lightness, a, b, only_outside)
        a, b = a * scale, b * scale
    rgb = [_linear_to_srgb(channel) for channel in _linear_rgb(lightness, a, b)]
    return tf.clip_by_value(tf.stack(rgb, axis=-1), 0.0, 1.0)


def lab_to_rgb(lab: tf.Tensor, gamut: str = "clip", only_outside: bool = False) -> tf.Tensor:
    """Converts CIE Lab (D65, 2 degree observer) to sRGB, as `skimage.color.lab2rgb`.

    Args:
        lab: float Lab, shape [..., 3]: L in [0, 100], a and b in about [-128, 127].
        gamut: how a colour outside the sRGB gamut is brought in: `clip` clips R, G and B to
            [0, 1] one by one (and a negative Z to 0 first), as scikit-image does: this moves
            L and hue (by 3 to 5 in L on an over-saturated colorization); `chroma` lowers its
            chroma at constant L and hue first (`map_chroma_into_gamut`), so L is kept.
            Colours inside the gamut give the same RGB either way.
        only_outside: with `chroma`, `map_chroma_into_gamut`'s search of only the blocks of
            colours that hold one outside the gamut (faster unless nearly all are outside;
            not under XLA).

    Returns:
        float32 RGB in [0, 1], shape [..., 3].

    Raises:
        TypeError: `lab` is not a float tensor.
        ValueError: an unknown `gamut`.
    """
    _check_gamut(gamut)
    lightness, a, b = tf.unstack(_to_float32(lab, "lab"), num=3, axis=-1)
    return _rgb_from_lab_channels(lightness, a, b, gamut, only_outside)


def normalize_lightness(lightness: tf.Tensor) -> tf.Tensor:
    """Maps Lab lightness L in [0, 100] to the model's input range [0, 1] (float32).

    Clamped into [0, 1]: float rounding puts black at about -1e-9 and white just above 1.
    """
    return tf.clip_by_value(_to_float32(lightness, "lightness") / _L_MAX, 0.0, 1.0)


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
    lightness, a, b = _lab_channels(_to_float32(rgb, "rgb"))
    return normalize_lightness(lightness[..., None]), tf.stack([a, b], axis=-1)


def lab_from_parts(
    lightness: tf.Tensor, ab: tf.Tensor, gamut: str = "chroma", only_outside: bool = False
) -> tf.Tensor:
    """Recombines normalized lightness and ab into RGB (the inverse of `lightness_and_ab`).

    Every rendering path (predict, the export, video, the panels: `tfcolor.export.inference`)
    calls it, with the run's `CodecConfig.gamut`.

    Args:
        lightness: float normalized lightness in [0, 1], shape [..., 1].
        ab: float ab, shape [..., 2] (same leading shape as `lightness`).
        gamut: `chroma` (default: an out-of-gamut ab loses chroma at constant L and hue, so
            the result keeps `lightness`) or `clip` (R, G, B clipped one by one); see
            `lab_to_rgb`.
        only_outside: with `chroma`, search only the blocks of colours that hold one
            outside the gamut (faster unless nearly all are outside; not under XLA:
            `map_chroma_into_gamut`).

    Returns:
        float32 RGB in [0, 1], shape [..., 3].
    """
    _check_gamut(gamut)
    a, b = tf.unstack(_to_float32(ab, "ab"), num=2, axis=-1)
    return _rgb_from_lab_channels(
        denormalize_lightness(lightness)[..., 0], a, b, gamut, only_outside
    )
