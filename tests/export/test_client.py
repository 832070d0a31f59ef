"""`tfcolor.export.client`: finding a model_dir's exports, loading one checked (a broken newer
one passed over), the batch and clip colorizers over an export, and TensorFlow's error line."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import run_python
from tfcolor.export import client


def _version(base, number, complete=True):
    folder = base / str(number)
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"not a protobuf")
    if complete:
        (folder / "variables" / "variables.index").write_bytes(b"")
    return str(folder)


def test_export_candidates_newest_first(tmp_path):
    base = tmp_path / "run" / client.EXPORT_DIR
    old, new = _version(base, 1), _version(base, 3)
    _version(base, 5, complete=False)  # a half-written export is no candidate
    assert client.export_candidates(str(tmp_path / "run")) == [new, old]
    assert client.export_candidates(str(base)) == [new, old]  # the export/ folder itself
    assert client.export_candidates(new) == [new]
    with pytest.raises(FileNotFoundError, match="neither a SavedModel nor a model_dir"):
        client.export_candidates(str(tmp_path / "nothing"))


def test_load_export_passes_over_a_broken_newer_one(classifier_export, tmp_path):
    base = tmp_path / "run" / client.EXPORT_DIR
    good = str(base / "1")
    shutil.copytree(classifier_export, good)
    broken = _version(base, 2)
    loaded, export, passed_over = client.load_export(str(tmp_path / "run"))
    assert export == good and "serving_default" in loaded.signatures
    assert [path for path, _ in passed_over] == [broken]
    assert "not a loadable SavedModel" in passed_over[0][1]
    with pytest.raises(ValueError, match="not a tfcolor export: it has no nope signature"):
        client.load_export(good, {"nope": ({"images"}, "colorized")})
    with pytest.raises(ValueError, match="not a tfcolor export: its serving_default"):
        client.load_export(good, {"serving_default": ({"pixels"}, "colorized")})
    shutil.rmtree(good)
    with pytest.raises(ValueError, match=f"{broken}: not a loadable SavedModel"):
        client.load_export(str(tmp_path / "run"))


def test_image_colorizer_over_an_export(classifier_export):
    loaded, _, _ = client.load_export(classifier_export, client.MEASURE_SIGNATURES)
    colorize = client.ExportImageColorizer(loaded)
    assert colorize.render_size == 32
    truth = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    colorized = colorize(truth)
    assert colorized.shape == truth.shape and colorized.dtype == np.uint8
    assert colorize(truth, 16, 0.0).shape == truth.shape
    clip = np.concatenate([truth, truth, truth])  # 9 frames, colorized 8 at a time
    assert client.ExportClipColorizer(loaded).recurrent is False
    assert np.array_equal(colorize.clip(clip)[:3], colorized)


def test_clip_colorizer_carries_the_state(video_export):
    loaded, _, _ = client.load_export(video_export, {})
    colorize = client.ExportClipColorizer(loaded)
    assert colorize.recurrent and colorize.chunk_frames == 4
    frames = np.random.default_rng(1).integers(0, 256, (6, 24, 32, 3), dtype=np.uint8)
    first = colorize(frames[:4])
    second = colorize(frames[4:])
    assert first.shape == (4, 24, 32, 3) and second.shape == (2, 24, 32, 3)
    again = client.ExportClipColorizer(loaded)  # a new video starts from a fresh state
    assert np.array_equal(again(frames[:4]), first)
    with pytest.raises(ValueError, match="decodes at the temperature it was exported with"):
        client.ExportImageColorizer(loaded).clip(frames, 0.5)


class _Error(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.message = message


def test_error_reason_is_the_informative_line():
    error = _Error(
        "Graph execution error:\n\nDetected at node decode defined at ...\n"
        "Input is empty.\n\t [[{{node DecodeImage}}]] [Op:__inference]"
    )
    assert client.error_reason(error) == "Input is empty."
    budget = _Error("assertion failed: [image over the pixel budget. Received:] [16000] [16000]")
    assert client.error_reason(budget) == "image over the pixel budget. Received: 16000 16000"
    assert client.error_reason(_Error("")) == "_Error"
    # An eager op's error, as the Beam pipeline's image decoding meets it: the op's decoration
    # goes, the reason stays.
    eager = _Error(
        "{{function_node __wrapped__DecodeImage}} Unknown image file format. [Op:DecodeImage]"
    )
    assert client.error_reason(eager) == "Unknown image file format."
    try:
        tf.io.decode_image(b"not an image")
    except tf.errors.OpError as real:
        assert client.error_reason(real).startswith("Unknown image file format")
        assert "Op:" not in client.error_reason(real) and "{{" not in client.error_reason(real)
    else:
        raise AssertionError("decode_image took bytes that are no image")
    assert os.path.basename(client.EXPORT_DIR) == "export"


def test_client_loads_without_tensorflow():
    # The commands import the client before they know they will run anything: TensorFlow
    # comes with the first call that needs it, not with the package.
    import subprocess
    import sys

    import tfcolor.export
    from tfcolor.export import inference, saved_model

    code = (
        "import sys; import tfcolor.export, tfcolor.export.client; "
        "assert 'tensorflow' not in sys.modules, 'TensorFlow imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    # The package's names are its modules' (loaded on first use) and dir() shows them.
    assert tfcolor.export.export_saved_model is saved_model.export_saved_model
    assert tfcolor.export.colorize_batch is inference.colorize_batch
    assert set(tfcolor.export.__all__) <= set(dir(tfcolor.export))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        tfcolor.export.nope  # noqa: B018


def test_images_in_flight_run_their_ops_on_one_thread_each():
    # In a process of its own: the threads can be set only before TensorFlow runs anything.
    code = (
        "import tensorflow as tf\n"
        "from tfcolor.export import client\n"
        "assert not client.one_thread_per_image(1)\n"
        "assert tf.config.threading.get_intra_op_parallelism_threads() == 0\n"
        "assert client.one_thread_per_image(2)\n"
        "assert tf.config.threading.get_intra_op_parallelism_threads() == 1\n"
    )
    result = run_python(["-c", code])
    assert result.returncode == 0, result.stderr[-2000:]
    # Where TensorFlow already runs with its own threads: left as they are, no error.
    code = (
        "import tensorflow as tf\n"
        "from tfcolor.export import client\n"
        "tf.constant(1.0) + 1.0\n"
        "assert not client.one_thread_per_image(2)\n"
        "assert tf.config.threading.get_intra_op_parallelism_threads() == 0\n"
    )
    result = run_python(["-c", code])
    assert result.returncode == 0, result.stderr[-2000:]
