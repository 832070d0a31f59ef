"""Portable exports (`tfcolor.export.portable`, `python -m tfcolor.export`): the ONNX and LiteRT
files colorize as the SavedModel's `colorize_images` does, run in ONNX Runtime and the LiteRT
interpreter (the ONNX file in a process without TensorFlow or tfcolor), and the command
answers mistakes with one line and exit status 2.

Networks with random weights at a 32-pixel render size (the smallest U-Net, as the serving
tests'); the comparison is on scikit-image's photos resized to it, as RGB and as gray.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

from tests.helpers import REPO, run_python, smoke_preset

onnxruntime = pytest.importorskip("onnxruntime")
pytest.importorskip("ai_edge_litert")
pytest.importorskip("tf2onnx")

SIZE = 32
# The mean |difference| allowed per channel value (of 255): the 8-bit rounding of the same
# computation done by another runtime's kernels.
MAX_MEAN_DIFFERENCE = 1.0


def _config(preset: str):
    config = smoke_preset(preset)
    # The smallest U-Net: one down-sampling level (two for an output stride of 4).
    config.model.filters = (4, 8, 16)[: max(2, config.model.output_stride.bit_length())]
    config.data.image_size = SIZE
    return config


@pytest.fixture(scope="module")
def photos():
    """astronaut, coffee and chelsea as uint8 RGB [3, SIZE, SIZE, 3]."""
    import skimage.data
    import skimage.transform

    images = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea()]
    resized = [
        skimage.transform.resize(image, (SIZE, SIZE), anti_aliasing=True) for image in images
    ]
    return np.round(np.stack(resized) * 255).astype(np.uint8)


def _gray(images: np.ndarray) -> np.ndarray:
    """[N, H, W, 1]: the photos as a gray scan would hold them (Rec. 601 luma)."""
    luma = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.round(luma)[..., np.newaxis].astype(np.uint8)


def _saved_model_colorize(export: str, *batches: np.ndarray) -> list[np.ndarray]:
    """`colorize_images` of the SavedModel (`tf.saved_model.load`) on each batch."""
    import tensorflow as tf

    signature = tf.saved_model.load(export).signatures["colorize_images"]
    return [signature(images=tf.constant(images))["colorized"].numpy() for images in batches]


def _vivid(model) -> None:
    """Scales the head's weights of a random network up: it then predicts saturated colours,
    many outside sRGB (the chroma search runs), where its initial weights give near gray."""
    head = model.get_layer("head")
    head.set_weights([weight * 30.0 for weight in head.get_weights()])


def _mean_difference(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape and a.dtype == b.dtype == np.uint8
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """A run of the default preset (random weights: never trained) exported by the command
    in every format: {format: path}."""
    from tfcolor.cli.export import main
    from tfcolor.training import open_run
    from tfcolor.training import run_dir as run_dir_lib

    model_dir = str(tmp_path_factory.mktemp("portable_run") / "run")
    config = _config("unet_shapes")
    assert config.render_size == SIZE
    run = open_run(model_dir, config)
    _vivid(run.model)
    run_dir_lib.save_weights(run.model, run.run_dir.final_weights)
    paths = {}
    for format in ("saved_model", "onnx", "litert"):
        assert main(["--model", model_dir, "--format", format]) == 0
    versions = os.path.join(model_dir, "export")
    paths["saved_model"] = os.path.join(
        versions, max((name for name in os.listdir(versions) if name.isdigit()), key=int)
    )
    paths["onnx"] = os.path.join(versions, "colorizer.onnx")
    paths["litert"] = os.path.join(versions, "colorizer.tflite")
    return model_dir, paths


def _library_exports(preset: str, base) -> dict[str, str]:
    """`preset`'s network (random weights) exported by the library in every format."""
    import keras

    from tfcolor.codecs import make_codec
    from tfcolor.export import portable
    from tfcolor.export import saved_model as serving
    from tfcolor.models import build_model

    keras.utils.set_random_seed(1)
    config = _config(preset)
    codec = make_codec(config.codec)
    model = build_model(config.model, codec)
    _vivid(model)
    multiple = getattr(model, "downsampling", 1)
    temperature = config.codec.temperature
    paths = {
        "saved_model": serving.export_saved_model(
            model, codec, str(base), SIZE, multiple, temperature
        )
    }
    for format, export in (("onnx", portable.export_onnx), ("litert", portable.export_litert)):
        path = str(base / f"colorizer{portable.EXTENSIONS[format]}")
        paths[format] = export(model, codec, path, SIZE, multiple, temperature)
    return paths


@pytest.fixture(scope="module")
def exports(default_run, photos, tmp_path_factory):
    """`exports(preset)`: (paths {format: path}, the SavedModel's colorization of the photos
    as RGB and as gray), made on first use: the default preset exported by the command, the
    others by the library."""
    made = {}

    def exported(preset: str):
        if preset not in made:
            if preset == "unet_shapes":
                paths = default_run[1]
            else:
                paths = _library_exports(preset, tmp_path_factory.mktemp(preset))
            expected = _saved_model_colorize(paths["saved_model"], photos, _gray(photos))
            made[preset] = paths, expected
        return made[preset]

    return exported


# The default preset, a fusion network (the video report's U-Net + learned global vector) and
# Zhang et al.'s in-gamut bins (annealed mean); the last two build and convert their own
# networks (about 30 s more on a loaded 2-core machine): slow.
PRESETS = [
    "unet_shapes",
    pytest.param("unet_global", marks=pytest.mark.slow),
    pytest.param("unet_gamut", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("format", ["onnx", "litert"])
def test_portable_file_colorizes_as_the_saved_model(exports, photos, preset, format):
    from tfcolor.export.portable_runtime import open_portable

    paths, expected = exports(preset)
    colorize = open_portable(paths[format])
    for images, wanted in zip((photos, _gray(photos)), expected, strict=True):
        outputs = colorize(images)
        assert sorted(outputs) == ["colorized"]
        difference = _mean_difference(outputs["colorized"], wanted)
        assert difference <= MAX_MEAN_DIFFERENCE, (preset, format, images.shape, difference)
        # The comparison means something: colours, not the gray input's R = G = B.
        assert np.abs(np.diff(wanted.astype(np.int16), axis=-1)).mean() > 5.0


def test_onnx_file_runs_without_tensorflow(default_run, photos, tmp_path):
    """The real consumer: a process with onnxruntime and numpy only."""
    _, paths = default_run
    np.save(tmp_path / "photos.npy", photos)
    script = f"""
import sys
import numpy as np
import onnxruntime
session = onnxruntime.InferenceSession({paths["onnx"]!r}, providers=["CPUExecutionProvider"])
inputs = [(i.name, i.type, i.shape) for i in session.get_inputs()]
outputs = [o.name for o in session.get_outputs()]
colorized = session.run(["colorized"], {{"images": np.load("photos.npy")}})[0]
np.save("colorized.npy", colorized)
meta = session.get_modelmeta().custom_metadata_map
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tfcolor", "keras"))
print(repr((inputs, outputs, meta, loaded)))
"""
    import subprocess

    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": ""},
    )
    assert result.returncode == 0, result.stderr
    inputs, outputs, meta, loaded = eval(result.stdout.strip().splitlines()[-1])
    assert loaded == []
    assert inputs == [("images", "tensor(uint8)", [inputs[0][2][0], SIZE, SIZE, inputs[0][2][3]])]
    assert isinstance(inputs[0][2][0], str)  # any N
    assert outputs == ["colorized"]
    assert meta["render_size"] == str(SIZE) and meta["gamut"] == "chroma"
    assert json.loads(meta["class_names"]) == []
    colorized = np.load(tmp_path / "colorized.npy")
    (expected,) = _saved_model_colorize(paths["saved_model"], photos)
    assert _mean_difference(colorized, expected) <= MAX_MEAN_DIFFERENCE


def test_litert_file_has_one_image_signature(default_run):
    from ai_edge_litert.interpreter import Interpreter

    _, paths = default_run
    interpreter = Interpreter(model_path=paths["litert"])
    assert interpreter.get_signature_list() == {
        "serving_default": {"inputs": ["images"], "outputs": ["colorized"]}
    }
    details = interpreter.get_signature_runner().get_input_details()["images"]
    assert details["shape_signature"].tolist() == [1, SIZE, SIZE, -1]  # DEFAULT_LITERT_BATCH
    assert details["dtype"] == np.uint8


def test_runtime_takes_any_batch_of_a_fixed_batch_file(default_run, photos):
    """A LiteRT file of N 1 colorizes 3 images, and 0, through `open_portable`."""
    from tfcolor.export.portable_runtime import open_portable

    _, paths = default_run
    colorize = open_portable(paths["litert"])
    together = colorize(photos)["colorized"]
    one_by_one = np.concatenate([colorize(photos[i : i + 1])["colorized"] for i in range(3)])
    np.testing.assert_array_equal(together, one_by_one)
    assert colorize(photos[:0])["colorized"].shape == (0, SIZE, SIZE, 3)


# --- the command's mistakes --------------------------------------------------------------------


def _one_line_error(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr
    return lines[-1]


def test_command_refuses_a_missing_run(tmp_path):
    missing = tmp_path / "no_run"
    result = run_python(["-m", "tfcolor.export", "--model", str(missing), "--format", "onnx"])
    assert result.returncode == 2
    line = _one_line_error(result)
    assert line.startswith("tfcolor.export: error:") and str(missing) in line
    assert len([s for s in result.stderr.splitlines() if s.strip()]) == 1


def test_command_refuses_an_unknown_format(default_run):
    model_dir, _ = default_run
    result = run_python(["-m", "tfcolor.export", "--model", model_dir, "--format", "pickle"])
    assert result.returncode == 2
    line = _one_line_error(result)
    assert "--format" in line and "'pickle'" in line and "onnx" in line


def test_command_refuses_a_video_run(tmp_path, capsys):
    from tfcolor.cli.export import main
    from tfcolor.training import open_run

    model_dir = str(tmp_path / "video_run")
    config = smoke_preset("convlstm")
    config.model.filters = (4, 8)
    open_run(model_dir, config)
    assert main(["--model", model_dir, "--format", "litert"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0
    assert model_dir in error and "only image models" in error
    assert not os.path.exists(os.path.join(model_dir, "export", "colorizer.tflite"))


def test_command_refuses_batch_size_for_saved_model(default_run, capsys):
    from tfcolor.cli.export import main

    model_dir, _ = default_run
    assert main(["--model", model_dir, "--batch-size", "2"]) == 2
    assert "--batch-size" in capsys.readouterr().err


def test_console_script_is_declared():
    with open(os.path.join(REPO, "setup.py")) as f:
        assert '"tfcolor-export=tfcolor.cli.export:main"' in f.read()


# --- what cannot be exported is named ----------------------------------------------------------


def _network_with(layer_class):
    """A tiny regression network [B, h, w, 1] -> 2 channels with `layer_class` inside."""
    import keras

    lightness = keras.Input((None, None, 1), name="lightness")
    x = layer_class(name="odd_layer")(lightness)
    colors = keras.layers.Conv2D(2, 1, activation="tanh", name="head")(x)
    return keras.Model(lightness, colors, name="colorizer")


@pytest.mark.parametrize("format", ["onnx", "litert"])
def test_an_op_without_a_conversion_is_named(tmp_path, format):
    import keras
    import tensorflow as tf

    from tfcolor.codecs import make_codec
    from tfcolor.config import CodecConfig
    from tfcolor.export import portable

    class Igamma(keras.layers.Layer):
        """The regularized incomplete gamma function: no ONNX op, no LiteRT builtin."""

        def call(self, x):
            return tf.math.igamma(1.0 + x, 1.0 + x)

    codec = make_codec(CodecConfig.for_codec("regression", normalization="tanh"))
    model = _network_with(Igamma)
    export = portable.export_onnx if format == "onnx" else portable.export_litert
    path = tmp_path / f"odd{portable.EXTENSIONS[format]}"
    with pytest.raises(portable.PortableExportError) as raised:
        export(model, codec, str(path), SIZE, 1, 0.0)
    message = str(raised.value)
    assert "Igamma" in message and "odd_layer" in message
    assert ("ONNX" if format == "onnx" else "LiteRT") in message
    assert not path.exists()


def test_command_refuses_an_output_named_for_another_format(default_run, tmp_path, capsys):
    from tfcolor.cli.export import main

    model_dir, _ = default_run
    output = tmp_path / "colorizer.onnx"
    assert main(["--model", model_dir, "--format", "litert", "--output", str(output)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and str(output) in error and ".tflite" in error
    assert not output.exists()
