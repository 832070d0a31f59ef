"""The SavedModel export of a colorizer, for TF Serving and the command line.

The export (`export_saved_model`, `export_video_saved_model`) is a plain SavedModel whose
signatures colorize with `tfcolor.export.inference` (the same functions as `Colorizer.predict`):
it runs in `tf.saved_model.load` and in the session-based loader of TF Serving and
`saved_model_cli run` (every network variable is tracked on the module). Each signature checks
its input before allocating for it and answers bad input with InvalidArgument: a pixel budget
(`max_pixels`, `DEFAULT_MAX_PIXELS` by default) that encoded images meet by their header
(`encoded_image_size`, `check_encoded`) and tensors by their shape (`check_images`), a render
budget for the network's input (`max_render_pixels`; `check_render_size`), a temperature in
[0, 1] (`check_temperature`); an empty batch gives an empty result. A version is written whole (a
staging folder renamed into place), readable by everyone, and `export_versions` lists the
complete ones newest first.
"""

from __future__ import annotations

import fcntl
import math
import os
import shutil
import tempfile
import time

import tensorflow as tf

from tfcolor.config.options import GAMUT_MAPPINGS
from tfcolor.export.inference import (
    Hints,
    colorize_batch,
    colorize_chunk,
    render_shape,
    zero_video_state,
)
from tfcolor.input_pipeline.image_headers import check_encoded, encoded_image_size
from tfcolor.input_pipeline.image_headers import checked as _checked
from tfcolor.media import geometry

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_RENDER_PIXELS",
    "MAX_AB",
    "MAX_HINTS",
    "ColorizerModule",
    "VideoColorizerModule",
    "check_encoded",
    "check_hints",
    "check_images",
    "check_render_size",
    "check_temperature",
    "default_render_budget",
    "encoded_image_size",
    "export_saved_model",
    "export_versions",
    "export_video_saved_model",
    "latest_export",
    "remove_stale_staging",
]


# --- input bounds ----------------------------------------------------------------------------

# 50 megapixels decoded: the largest photos of common cameras (8688 x 5792 sensors). A
# 24-megapixel JPEG through serving_default adds about 0.9 GB to the serving process (measured,
# tests/export/test_fuzz.py), so about 2 GB at the budget.
DEFAULT_MAX_PIXELS = 50_000_000
# The network's own input (N * render area) costs far more a pixel: about 1.3 KB for the
# 324-bin U-Net (its logits alone are 324 floats), 1.4 GB measured at 1024 x 1024, where a
# render at the pixel budget's side (7071) aborted the process (std::bad_alloc).
DEFAULT_MAX_RENDER_PIXELS = 1 << 20
# User hints per image (`colorize_with_hints`): a user places tens; the bound keeps the hint
# maps (K x (h + w) indicators, a K-long contraction per render pixel) far below the network.
MAX_HINTS = 1024
# |a| and |b| of a hint: the range of 8-bit Lab encodings, beyond every sRGB colour's.
MAX_AB = 128.0


def default_render_budget(render_size: int = 0, chunk_pixels: int = 0) -> int:
    """The render budget of an export given none: `DEFAULT_MAX_RENDER_PIXELS`, raised to
    render_size^2 (the baked render size always fits) and to `chunk_pixels` (a video export's
    training chunk: chunk_frames x the canvas), capped below 2^31."""
    wanted = max(DEFAULT_MAX_RENDER_PIXELS, int(render_size) ** 2, int(chunk_pixels))
    return min(wanted, (1 << 31) - 1)


def _canvas_pixels(frame_size, multiple: int) -> int:
    """Pixels of the canvas of `frame_size` (width, height; `geometry.canvas_size`), 0 where a
    side is free (the canvas then depends on the frame)."""
    height, width = geometry.canvas_size(frame_size, max(int(multiple), 1))
    return height * width


def _budget_side(max_pixels):
    """floor(sqrt(max_pixels)) exactly (int64), the largest square side in a budget."""
    max_pixels = tf.cast(max_pixels, tf.int64)
    side = tf.cast(tf.floor(tf.sqrt(tf.cast(max_pixels, tf.float64))), tf.int64)
    side = tf.where(side * side > max_pixels, side - 1, side)
    return tf.where((side + 1) * (side + 1) <= max_pixels, side + 1, side)


def check_render_size(render_size, max_render_pixels):
    """`render_size` (int32 scalar) once it is in [0, floor(sqrt(max_render_pixels))], else
    InvalidArgumentError."""
    side = _budget_side(max_render_pixels)
    size = tf.cast(render_size, tf.int64)
    valid = tf.logical_and(size >= 0, size <= side)
    message = (
        "render_size must be between 0 and the side of the render budget. Received: render_size ="
    )
    return _checked(render_size, (valid, [message, size, "side =", side]))


def check_temperature(temperature):
    """`temperature` (float32 scalar) once it is finite and in [0, 1], else
    InvalidArgumentError (NaN fails both comparisons)."""
    valid = tf.logical_and(temperature >= 0.0, temperature <= 1.0)
    message = "temperature must be finite, between 0 and 1. Received: temperature ="
    return _checked(temperature, (valid, [message, temperature]))


def check_hints(images, points, ab, patch_size):
    """`(points, ab, patch_size)` once they fit `images` [N, H, W, C]: points and ab
    [N, K, 2] with K at most `MAX_HINTS`, finite; every point that is not padding (both
    coordinates >= 0; `tfcolor.export.inference.Hints`) inside the image; |a|, |b| at most
    `MAX_AB`; patch_size at least 1. Else InvalidArgumentError."""
    image_shape = tf.shape(images, out_type=tf.int64)
    points_shape = tf.shape(points, out_type=tf.int64)
    ab_shape = tf.shape(ab, out_type=tf.int64)
    same_shape = tf.logical_and(
        tf.reduce_all(tf.equal(points_shape, ab_shape)), points_shape[0] == image_shape[0]
    )
    points_checked = _checked(
        points,
        (
            same_shape,
            [
                "hint_points and hint_ab must be [N, K, 2], N the images'. Received: images",
                image_shape,
                "hint_points",
                points_shape,
                "hint_ab",
                ab_shape,
            ],
        ),
        (
            points_shape[1] <= MAX_HINTS,
            ["at most", MAX_HINTS, "hints per image. Received: hint_points", points_shape],
        ),
        (
            tf.reduce_all(tf.math.is_finite(points)),
            ["hint_points must be finite (pad with -1). Received: hint_points", points],
        ),
    )
    size = tf.cast(tf.stack([image_shape[2], image_shape[1]]), tf.float32)  # (W, H)
    given = tf.reduce_all(points_checked >= 0.0, axis=-1, keepdims=True)
    inside = tf.logical_or(tf.logical_not(given), points_checked < size)
    points_checked = _checked(
        points_checked,
        (
            tf.reduce_all(inside),
            [
                "hint_points (x, y) must lie inside the image (x < width, y < height; a "
                "negative coordinate pads). Received: image (width, height)",
                size,
                "hint_points",
                points_checked,
            ],
        ),
    )
    ab_valid = tf.logical_and(
        tf.reduce_all(tf.math.is_finite(ab)), tf.reduce_all(tf.abs(ab) <= MAX_AB)
    )
    ab_checked = _checked(
        ab,
        (ab_valid, ["hint_ab must be finite, |a| and |b| at most", MAX_AB, ". Received:", ab]),
    )
    patch_checked = _checked(
        patch_size,
        (patch_size >= 1, ["patch_size must be at least 1. Received: patch_size =", patch_size]),
    )
    return points_checked, ab_checked, patch_checked


def check_images(images, max_pixels, leading_axes: int = 1):
    """uint8 images [..., H, W, C] once they fit: C in 1..4, H and W at least 1 (unless the
    batch is empty) and the batch's pixels (the product of all axes but C) within
    `max_pixels`; else InvalidArgumentError.

    Args:
        images: [N, H, W, C] (`leading_axes` 1) or frames [B, T, H, W, C] (2).
        max_pixels: the pixel budget (int64 scalar).
        leading_axes: the batch axes before H.
    """
    shape = tf.shape(images, out_type=tf.int64)
    batch = tf.reduce_prod(shape[:leading_axes])
    height, width, channels = shape[leading_axes], shape[leading_axes + 1], shape[-1]
    # The product is taken with each factor capped at the budget: no int64 overflow.
    capped = tf.minimum(shape[:-1], tf.cast(max_pixels, tf.int64) + 1)
    pixels = tf.minimum(tf.reduce_prod(capped[:leading_axes]), max_pixels + 1) * tf.minimum(
        capped[leading_axes] * capped[leading_axes + 1], max_pixels + 1
    )
    requirements = [
        (
            tf.logical_and(channels >= 1, channels <= 4),
            ["images must have 1 to 4 channels. Received: shape =", shape],
        ),
        (
            tf.logical_or(batch == 0, tf.logical_and(height >= 1, width >= 1)),
            ["images must have at least one pixel. Received: shape =", shape],
        ),
        (
            pixels <= max_pixels,
            [
                "images are over the pixel budget. Received: shape =",
                shape,
                "max_pixels =",
                max_pixels,
            ],
        ),
    ]
    return _checked(images, *requirements)


class ColorizerModule(tf.Module):
    """What the SavedModel holds: the network, the codec's state as constants, the signatures.

    Signatures:
        serving_default: `image_bytes` string [N] (JPEG, PNG, BMP, GIF, WebP) ->
            `colorized_png_bytes` string [N], each at its input's own resolution.
        colorize_images: `images` uint8 [N, H, W, 1 to 4] -> `colorized` uint8 [N, H, W, 3]
            (and `class_probabilities` float32 [N, classes] for a model with a
            classification head; the names are in the `class_names` variable).
        colorize_images_at: `images`, `render_size` int32 scalar (0: the images' own size),
            `temperature` float32 scalar in [0, 1] (bin codecs' decoding; ignored by
            regression) -> `colorized`: for evaluation sweeps.
        colorize_bytes_at_size: `image_bytes` string [N], `render_size` int32 scalar ->
            `colorized_png_bytes` string [N]: serving_default with another render size.
        colorize_with_hints (a network that takes user hints, Zhang et al. 2017's: one with
            a `hint_network()`): `images` uint8 [N, H, W, 1 to 4], `hint_points` float32
            [N, K, 2] ((x, y): column and row of the input pixel; a negative coordinate pads,
            so images may have fewer than K), `hint_ab` float32 [N, K, 2] (Lab units),
            `patch_size` int32 scalar (the side of each hint's square at the render size)
            -> `colorized`: colorize_images with each hint's ab over its patch and the mask 1
            there (`tfcolor.export.inference.hint_maps`). At most `MAX_HINTS` hints an image.

    Bounds, checked before anything is allocated for an image, answer InvalidArgument: an
    encoded image's size is read from its header (`encoded_image_size`) and must be at most
    `max_pixels`, a tensor batch's N * H * W too; the network's input is held to
    `max_render_pixels`: `render_size` in [0, floor(sqrt(max_render_pixels))], render_size 0
    (each image's own size) scales an image over it down, and a tensor batch runs through the
    network in chunks of at most `max_render_pixels` input pixels (each image colorized as it
    would be alone). `max_render_pixels` None: `DEFAULT_MAX_RENDER_PIXELS`, or render_size^2
    where that is more (`default_render_budget`: the baked render size always fits).
    `temperature` must be in [0, 1]. An empty batch gives an empty result.
    Encoded images are colorized one at a time.

    Every signature renders a colour outside sRGB by the `gamut` baked in (`chroma`: lower
    chroma at constant L and hue, the input's lightness kept; `clip`: R, G, B clipped).

    Variables, readable by a server without tfcolor (`loaded.render_size`): `render_size`,
    `temperature`, `gamut`, `max_pixels`, `max_render_pixels`, `codec_name`, `class_names`;
    `model_variables` holds the network's weights. `colorize_traced` is the one trace of the
    colorization that the signatures share.
    """

    def __init__(
        self,
        model,
        codec,
        render_size: int,
        multiple: int,
        temperature: float,
        class_names=None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        max_render_pixels: int | None = None,
        gamut: str | None = None,
    ):
        super().__init__(name="tfcolor_colorizer")
        gamut = codec.config.gamut if gamut is None else gamut
        if gamut not in GAMUT_MAPPINGS:
            raise ValueError(
                f"gamut must be one of {', '.join(GAMUT_MAPPINGS)}. Received: gamut={gamut!r}"
            )
        if max_render_pixels is None:
            max_render_pixels = default_render_budget(render_size)
        for name, value in (("max_pixels", max_pixels), ("max_render_pixels", max_render_pixels)):
            if not 1 <= int(value) < 1 << 31:
                raise ValueError(f"{name} must be in [1, 2^31). Received: {name}={value}")
        side = math.isqrt(int(max_render_pixels))
        if not 0 <= int(render_size) <= side:
            raise ValueError(
                f"render_size must be in [0, {side}] (the side of "
                f"max_render_pixels={max_render_pixels}). Received: render_size={render_size}"
            )
        if not 0.0 <= float(temperature) <= 1.0:
            raise ValueError(f"temperature must be in [0, 1]. Received: temperature={temperature}")
        self.model = model
        # Keras 3 variables are not among a Keras model's trackable children: without this
        # list of the tf.Variables under them (what `keras.export.ExportArchive` tracks too),
        # `tf.saved_model.load` still finds them, but the session-based loader of TF Serving
        # and `saved_model_cli run` fails ("Could not find variable ...").
        self.model_variables = [variable.value for variable in model.variables]
        self._codec = codec
        self._multiple = int(multiple)
        self._temperature = float(temperature)
        self._gamut = gamut
        # Plain variables: visible to a server (`loaded.render_size`) without tfcolor.
        self.render_size = tf.Variable(int(render_size), trainable=False, name="render_size")
        self.temperature = tf.Variable(self._temperature, trainable=False, name="temperature")
        self.max_pixels = tf.Variable(
            int(max_pixels), dtype=tf.int64, trainable=False, name="max_pixels"
        )
        self.max_render_pixels = tf.Variable(
            int(max_render_pixels), dtype=tf.int64, trainable=False, name="max_render_pixels"
        )
        self.codec_name = tf.Variable(codec.name, trainable=False, name="codec_name")
        self.gamut = tf.Variable(gamut, trainable=False, name="gamut")
        self._class_count = len(class_names or [])
        self.class_names = tf.Variable(
            list(class_names or []), dtype=tf.string, trainable=False, name="class_names"
        )
        # The same layers and weights taking hints (nothing copied; `ZhangSIGGRAPH17`).
        hint_network = getattr(model, "hint_network", None)
        self.hint_model = hint_network() if hint_network is not None else None
        if self.hint_model is not None:
            self.colorize_hints_traced = tf.function(
                self._colorize_hints_traced,
                input_signature=[
                    tf.TensorSpec([None, None, None, None], tf.uint8),
                    tf.TensorSpec([None, None, 2], tf.float32),
                    tf.TensorSpec([None, None, 2], tf.float32),
                    tf.TensorSpec([], tf.int32),
                ],
            )
            self.serve_hints = tf.function(
                self._serve_hints,
                input_signature=[
                    tf.TensorSpec([None, None, None, None], tf.uint8, name="images"),
                    tf.TensorSpec([None, None, 2], tf.float32, name="hint_points"),
                    tf.TensorSpec([None, None, 2], tf.float32, name="hint_ab"),
                    tf.TensorSpec([], tf.int32, name="patch_size"),
                ],
            )

    def _colorize(self, images, render_size, temperature=None, with_classes=False):
        temperature = self._temperature if temperature is None else temperature
        return colorize_batch(
            self.model,
            self._codec,
            images,
            render_size,
            self._multiple,
            temperature,
            with_classes=with_classes,
            max_render_pixels=self.max_render_pixels,
            gamut=self._gamut,
        )

    def _render_area(self, images, render_size):
        """Pixels of one image of `images` at the network's input (int64 scalar)."""
        shape = render_shape(
            render_size, tf.shape(images)[1:3], self._multiple, self.max_render_pixels
        )
        return tf.cast(shape[0], tf.int64) * tf.cast(shape[1], tf.int64)

    def _in_render_chunks(self, images, render_size, colorize_chunk):
        """`colorize_chunk(start, stop)` (`colorize_traced` of images[start:stop]) over
        consecutive chunks of the batch, each chunk's network input (images x render area)
        within the render budget: memory stays bounded whatever N, and every image is
        colorized exactly as it would be alone."""
        count = tf.shape(images)[0]
        area = tf.maximum(self._render_area(images, render_size), 1)
        chunk = tf.cast(tf.maximum(self.max_render_pixels // area, 1), tf.int32)
        names = ["colorized", *(["class_probabilities"] if self._class_count else [])]
        arrays = [
            tf.TensorArray(tf.uint8 if name == "colorized" else tf.float32, 0, True, False)
            for name in names
        ]

        def body(index, start, arrays):
            outputs = colorize_chunk(start, start + chunk)
            pairs = zip(arrays, names, strict=True)
            arrays = [array.write(index, outputs[name]) for array, name in pairs]
            return index + 1, start + chunk, arrays

        _, _, arrays = tf.while_loop(
            lambda index, start, arrays: start < count,
            body,
            (tf.constant(0), tf.constant(0), arrays),
            parallel_iterations=1,
        )
        return {name: array.concat() for array, name in zip(arrays, names, strict=True)}

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None, None, None], tf.uint8),
            tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.float32),
        ]
    )
    def colorize_traced(self, images, render_size, temperature):
        """`_colorize` of checked images, traced once for every signature (half the graph to
        build and save than a copy per signature): {"colorized"[, "class_probabilities"]}."""
        if self._class_count:
            colorized, probabilities = self._colorize(
                images, render_size, temperature, with_classes=True
            )
            return {"colorized": colorized, "class_probabilities": probabilities}
        return {"colorized": self._colorize(images, render_size, temperature)}

    def _colorize_checked(self, images, render_size, temperature=None):
        """`colorize_traced` of checked images; an empty batch gives an empty result."""
        temperature = self._temperature if temperature is None else temperature
        images = check_images(images, self.max_pixels)
        render_size = check_render_size(render_size, self.max_render_pixels)
        shape = tf.shape(images)

        def empty():
            outputs = {"colorized": tf.zeros(tf.concat([shape[:3], [3]], 0), tf.uint8)}
            if self._class_count:
                outputs["class_probabilities"] = tf.zeros([0, self._class_count], tf.float32)
            return outputs

        def colorize_chunk(start, stop):
            return self.colorize_traced(images[start:stop], render_size, temperature)

        return tf.cond(
            shape[0] == 0,
            empty,
            lambda: self._in_render_chunks(images, render_size, colorize_chunk),
        )

    def _colorize_hints_traced(self, images, points, ab, patch_size):
        """`colorize_traced` with user hints (checked images and hints), at the export's
        render size: {"colorized"}."""
        colorized = colorize_batch(
            self.hint_model,
            self._codec,
            images,
            self.render_size,
            self._multiple,
            self._temperature,
            max_render_pixels=self.max_render_pixels,
            gamut=self._gamut,
            hints=Hints(points, ab, patch_size),
        )
        return {"colorized": colorized}

    def _serve_hints(self, images, hint_points, hint_ab, patch_size):
        images = check_images(images, self.max_pixels)
        points, ab, patch_size = check_hints(images, hint_points, hint_ab, patch_size)
        shape = tf.shape(images)

        def colorize_chunk(start, stop):
            return self.colorize_hints_traced(
                images[start:stop], points[start:stop], ab[start:stop], patch_size
            )

        return tf.cond(
            shape[0] == 0,
            lambda: {"colorized": tf.zeros(tf.concat([shape[:3], [3]], 0), tf.uint8)},
            lambda: self._in_render_chunks(images, self.render_size, colorize_chunk),
        )

    def _colorize_encoded(self, image_bytes, render_size):
        render_size = check_render_size(render_size, self.max_render_pixels)

        def one(encoded):
            # The header's size is checked before decoding; bytes that are not an image raise
            # InvalidArgumentError there or in the decoder.
            image = tf.io.decode_image(
                check_encoded(encoded, self.max_pixels), expand_animations=False
            )
            outputs = self.colorize_traced(image[tf.newaxis], render_size, self._temperature)
            return tf.io.encode_png(outputs["colorized"][0])

        # One image at a time: a graph's map_fn runs 10 by default, 10 images' intermediates.
        return tf.map_fn(
            one,
            image_bytes,
            fn_output_signature=tf.TensorSpec([], tf.string),
            parallel_iterations=1,
        )

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serve_bytes(self, image_bytes):
        return {"colorized_png_bytes": self._colorize_encoded(image_bytes, self.render_size)}

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.string, name="image_bytes"),
            tf.TensorSpec([], tf.int32, name="render_size"),
        ]
    )
    def serve_bytes_at_size(self, image_bytes, render_size):
        return {"colorized_png_bytes": self._colorize_encoded(image_bytes, render_size)}

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, None], tf.uint8, name="images")])
    def serve_images(self, images):
        return self._colorize_checked(images, self.render_size)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None, None, None], tf.uint8, name="images"),
            tf.TensorSpec([], tf.int32, name="render_size"),
            tf.TensorSpec([], tf.float32, name="temperature"),
        ]
    )
    def serve_images_at(self, images, render_size, temperature):
        temperature = check_temperature(temperature)
        outputs = self._colorize_checked(images, render_size, temperature)
        return {"colorized": outputs["colorized"]}

    def signatures(self):
        return {
            "serving_default": self.serve_bytes.get_concrete_function(),
            "colorize_images": self.serve_images.get_concrete_function(),
            "colorize_images_at": self.serve_images_at.get_concrete_function(),
            "colorize_bytes_at_size": self.serve_bytes_at_size.get_concrete_function(),
            **(
                {"colorize_with_hints": self.serve_hints.get_concrete_function()}
                if self.hint_model is not None
                else {}
            ),
        }


def export_saved_model(
    model,
    codec,
    export_dir_base: str,
    render_size: int,
    multiple: int,
    temperature: float,
    class_names=None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_render_pixels: int | None = None,
    gamut: str | None = None,
) -> str:
    """Writes a SavedModel (`ColorizerModule`) to `export_dir_base/<integer version>/` and
    returns that path.

    The model is written to a temporary directory beside the target and renamed into place, so
    a server watching `export_dir_base` (TF Serving) never sees half a model (`_write_module`).

    Args:
        model, codec, render_size, multiple, temperature, class_names: as `ColorizerModule`.
        export_dir_base: the folder of versions.
        max_pixels: the pixel budget of every signature (decoded pixels per encoded image;
            N * H * W per tensor batch).
        max_render_pixels: the network's budget (images x render area per network call;
            see `ColorizerModule`); None: `DEFAULT_MAX_RENDER_PIXELS`, or render_size^2 where
            that is more (`default_render_budget`). A budget given is kept as it is.
        gamut: how every signature renders a colour outside sRGB, `chroma` or `clip`
            (`tfcolor.color.lab_to_rgb`); None: the codec's `CodecConfig.gamut`.

    Raises:
        ValueError: a budget outside [1, 2^31), render_size outside [0, the render budget's
            side], temperature outside [0, 1] or an unknown gamut.
    """
    module = ColorizerModule(
        model,
        codec,
        render_size,
        multiple,
        temperature,
        class_names,
        max_pixels=max_pixels,
        max_render_pixels=max_render_pixels,
        gamut=gamut,
    )
    return _write_module(module, export_dir_base)


# Staging folders beside the versions: `tf.saved_model.save` writes into one, which is renamed
# into place when complete. Each is held by an exclusive lock on `<folder>.lock` while its
# export runs; the lock dies with its process, so the next export removes the leftovers of a
# killed one. A folder without a lock file is removed once untouched for an hour.
_STAGING_PREFIX = ".tmp-export-"
_STALE_UNLOCKED_SECONDS = 3600


def _write_module(module, export_dir_base: str) -> str:
    """Saves `module` as the next integer version under `export_dir_base`; returns its path.

    The version appears whole or not at all (a rename of the staging folder), readable by
    everyone (folders 0755, files 0644: a server often runs as another user).
    """
    os.makedirs(export_dir_base, exist_ok=True)
    remove_stale_staging(export_dir_base)
    staging = tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=export_dir_base)
    lock_path = staging + ".lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # new file: never held elsewhere
        try:
            tf.saved_model.save(module, staging, signatures=module.signatures())
            _make_world_readable(staging)
            final = _rename_to_next_version(staging, export_dir_base)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        finally:
            os.remove(lock_path)
    return final


def _make_world_readable(folder: str) -> None:
    os.chmod(folder, 0o755)
    for root, folders, files in os.walk(folder):
        for name in folders:
            os.chmod(os.path.join(root, name), 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)


def _rename_to_next_version(staging: str, export_dir_base: str) -> str:
    """Renames `staging` to the first free integer version from the current time (seconds),
    atomically; a version another exporter took meanwhile is skipped, never replaced."""
    version = int(time.time())
    while True:
        final = os.path.join(export_dir_base, str(version))
        if not os.path.exists(final):
            try:
                os.rename(staging, final)  # fails on an existing non-empty folder
                return final
            except OSError:
                if not os.path.exists(final):
                    raise
        version += 1


def remove_stale_staging(export_dir_base: str) -> list[str]:
    """Removes the staging folders of exports that are no longer running; returns them.

    Stale: its lock file (`<folder>.lock`) is not locked by a live export, or it has no lock
    file and nothing in it changed for an hour. Lock files left without a folder go too.
    """
    removed = []
    for name in sorted(os.listdir(export_dir_base)):
        path = os.path.join(export_dir_base, name)
        if not name.startswith(_STAGING_PREFIX) or name.endswith(".lock"):
            continue
        lock_path = path + ".lock"
        if os.path.exists(lock_path):
            stale = _lock_is_free(lock_path)
        else:
            stale = time.time() - _newest_change(path) > _STALE_UNLOCKED_SECONDS
        if stale:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    for name in os.listdir(export_dir_base):
        path = os.path.join(export_dir_base, name)
        if name.startswith(_STAGING_PREFIX) and name.endswith(".lock"):
            if not os.path.exists(path[: -len(".lock")]) and _lock_is_free(path):
                _remove_quietly(path)
    return removed


def _lock_is_free(lock_path: str) -> bool:
    try:
        with open(lock_path) as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True  # closing the file releases it
    except FileNotFoundError:
        return False  # its export just finished
    except OSError:
        return False  # held: an export is writing


def _newest_change(folder: str) -> float:
    newest = os.path.getmtime(folder)
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                newest = max(newest, os.path.getmtime(os.path.join(root, name)))
            except OSError:
                pass
    return newest


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def export_versions(export_dir_base: str) -> list[str]:
    """The complete versions under `export_dir_base`, newest (highest integer) first.

    Complete: an integer-named folder with `saved_model.pb` and `variables/variables.index`.
    A caller can fall back from a newest export that fails to load to the next one.

    Returns:
        Their paths; [] when there is none (or no such folder).
    """
    if not os.path.isdir(export_dir_base):
        return []
    versions = [
        int(name)
        for name in os.listdir(export_dir_base)
        if name.isdigit()
        and os.path.exists(os.path.join(export_dir_base, name, "saved_model.pb"))
        and os.path.exists(os.path.join(export_dir_base, name, "variables", "variables.index"))
    ]
    return [os.path.join(export_dir_base, str(version)) for version in sorted(versions)[::-1]]


def latest_export(export_dir_base: str) -> str | None:
    """The newest complete version under `export_dir_base` (`export_versions`), or None."""
    versions = export_versions(export_dir_base)
    return versions[0] if versions else None


# --- video ---------------------------------------------------------------------------------


class VideoColorizerModule(ColorizerModule):
    """The export of a recurrent video colorizer: the image signatures plus streaming.

    Signatures, beside `ColorizerModule`'s (where an image is a one-frame video starting from
    the zero state):
        colorize_video_chunk: `frames` uint8 [B, T, H, W, 1 to 4] (the next T frames of B
            videos), `state_h`, `state_c` float32 (the state returned with the previous chunk)
            -> `colorized` uint8 [B, T, H, W, 3], `state_h`, `state_c`. A stateless server
            colorizes a stream chunk by chunk by sending back the state it got. An empty chunk
            (B or T 0) gives an empty `colorized` and the state it was given.
        video_state: `frames` uint8 [B, T, H, W, C] -> the zero `state_h`, `state_c` for
            videos of that frame size: the state of a video's first chunk.
    Both bound B * T * H * W by `max_pixels`, and B * T times the network's canvas by
    `max_render_pixels` (by default at least one training chunk: chunk_frames x the canvas
    of frame_size; `tfcolor.colorize` splits a longer chunk into calls within it).
    Variables `frame_size` (width, height) and `chunk_frames` (T of training) say how the
    network was trained.
    """

    def __init__(
        self,
        network,
        codec,
        frame_size,
        chunk_frames: int,
        multiple: int,
        temperature,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        max_render_pixels: int | None = None,
        gamut: str | None = None,
    ):
        if max_render_pixels is None:
            chunk = int(chunk_frames) * _canvas_pixels(frame_size, multiple)
            max_render_pixels = default_render_budget(chunk_pixels=chunk)
        super().__init__(
            network,
            codec,
            0,
            multiple,
            temperature,
            max_pixels=max_pixels,
            max_render_pixels=max_render_pixels,
            gamut=gamut,
        )
        self.network = network
        self._frame_size = tuple(int(v) for v in frame_size)
        self.frame_size = tf.Variable(list(self._frame_size), trainable=False, name="frame_size")
        self.chunk_frames = tf.Variable(int(chunk_frames), trainable=False, name="chunk_frames")

    def _checked_frames(self, frames):
        """Frames [B, T, H, W, C] once they and the network's canvases fit the budget."""
        frames = check_images(frames, self.max_pixels, leading_axes=2)
        shape = tf.shape(frames, out_type=tf.int64)
        place = geometry.frame_placement(shape[2], shape[3], self._frame_size, self._multiple)
        canvas = tf.cast(place.height, tf.int64) * tf.cast(place.width, tf.int64)
        valid = tf.logical_or(
            shape[0] * shape[1] == 0, shape[0] * shape[1] * canvas <= self.max_render_pixels
        )
        message = "frames x the network's canvas is over the render budget. Received: shape ="
        return _checked(frames, (valid, [message, shape, "canvas =", canvas]))

    def _render_area(self, images, render_size):
        del render_size  # frames are placed in the training canvas
        shape = tf.shape(images)
        place = geometry.frame_placement(shape[1], shape[2], self._frame_size, self._multiple)
        return tf.cast(place.height, tf.int64) * tf.cast(place.width, tf.int64)

    def _colorize(self, images, render_size, temperature=None, with_classes=False):
        del render_size  # frames are placed in the training canvas
        temperature = self._temperature if temperature is None else temperature
        frames = self._checked_frames(images[:, tf.newaxis])
        state = zero_video_state(self.network, frames, self._frame_size, self._multiple)
        colorized, _ = colorize_chunk(
            self.network,
            self._codec,
            frames,
            state,
            self._frame_size,
            self._multiple,
            temperature,
            gamut=self._gamut,
        )
        return (colorized[:, 0], None) if with_classes else colorized[:, 0]

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None, None, None, None], tf.uint8, name="frames"),
            tf.TensorSpec([None, None, None, None], tf.float32, name="state_h"),
            tf.TensorSpec([None, None, None, None], tf.float32, name="state_c"),
        ]
    )
    def serve_chunk(self, frames, state_h, state_c):
        frames = self._checked_frames(frames)
        shape = tf.shape(frames)

        def empty():
            return tf.zeros(tf.concat([shape[:4], [3]], 0), tf.uint8), state_h, state_c

        def colorize():
            colorized, state = colorize_chunk(
                self.network,
                self._codec,
                frames,
                {"state_h": state_h, "state_c": state_c},
                self._frame_size,
                self._multiple,
                self._temperature,
                gamut=self._gamut,
            )
            return colorized, state["state_h"], state["state_c"]

        colorized, new_h, new_c = tf.cond(shape[0] * shape[1] == 0, empty, colorize)
        return {"colorized": colorized, "state_h": new_h, "state_c": new_c}

    @tf.function(
        input_signature=[tf.TensorSpec([None, None, None, None, None], tf.uint8, name="frames")]
    )
    def serve_state(self, frames):
        frames = self._checked_frames(frames)
        return zero_video_state(self.network, frames, self._frame_size, self._multiple)

    def signatures(self):
        signatures = super().signatures()
        signatures["colorize_video_chunk"] = self.serve_chunk.get_concrete_function()
        signatures["video_state"] = self.serve_state.get_concrete_function()
        return signatures


def export_video_saved_model(
    network,
    codec,
    export_dir_base: str,
    frame_size,
    chunk_frames: int,
    multiple: int,
    temperature,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_render_pixels: int | None = None,
    gamut: str | None = None,
) -> str:
    """`export_saved_model` for a recurrent video colorizer (`VideoColorizerModule`).

    max_render_pixels None: `DEFAULT_MAX_RENDER_PIXELS`, or the training chunk (chunk_frames x
    the canvas of frame_size) where that is more, so that the export takes its own chunk."""
    module = VideoColorizerModule(
        network,
        codec,
        frame_size,
        chunk_frames,
        multiple,
        temperature,
        max_pixels=max_pixels,
        max_render_pixels=max_render_pixels,
        gamut=gamut,
    )
    return _write_module(module, export_dir_base)
