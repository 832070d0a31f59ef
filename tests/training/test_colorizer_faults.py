"""Issue 14: `python -m tfcolor.train` answers bad runs, data and clusters with one line and
exit 2, never a traceback; a finished run is not exported again; `Colorizer.predict` checks
its inputs."""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pytest

from tests.helpers import png_folder, run_python, small_config, smoke_preset

TINY = ["--preset", "unet_mse", "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "4"]
TINY += ["--filters", "4,8", "--metric-images", "0", "--verbose", "0"]


def _one_error_line(result, *expected):
    assert result.returncode == 2, (result.stdout[-2000:], result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("tfcolor.train:")]
    assert len(errors) == 1, result.stderr[-3000:]
    for text in expected:
        assert text in errors[0], errors[0]
    return errors[0]


def _main(capsys, model_dir, *flags):
    """`python -m tfcolor.train` in this process (no interpreter to start): (rc, out, err)."""
    from tfcolor.cli.train import main

    rc = main(["--model-dir", str(model_dir), *TINY, *flags])
    captured = capsys.readouterr()
    return SimpleNamespace(returncode=rc, stdout=captured.out, stderr=captured.err)


def _train(model_dir, *flags, env=None, timeout=300):
    return run_python(
        ["-m", "tfcolor.train", "--model-dir", str(model_dir), *TINY, *flags],
        env=env,
        timeout=timeout,
    )


# --- TF_CONFIG ---------------------------------------------------------------------------------

BAD_TF_CONFIGS = [
    ("{bad", "invalid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"cluster": "oops"}', '"cluster" must be'),
    ('{"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}', "non-empty list"),
    ('{"cluster": {"worker": {}}, "task": {"type": "worker", "index": 0}}', "must be a list"),
    ('{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}', "host:port"),
    ('{"cluster": {"worker": [12345]}, "task": {"type": "worker", "index": 0}}', "host:port"),
    ('{"cluster": {"worker": ["localhost:1"]}}', '"task" must be'),
    ('{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "chief", "index": 0}}', "chief"),
    ('{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 1}}', "range"),
    (
        '{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": "x"}}',
        "integer",
    ),
    (
        '{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 1.0}}',
        "integer",
    ),
    ('{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": "1"}}', "range"),
    ('{"cluster": {"ps": []}, "task": {"type": "evaluator", "index": 0}}', "at least one"),
    ('{"cluster": {"worker": ["a:1", "a:1"]}, "task": {"type": "worker", "index": 0}}', "twice"),
]


@pytest.mark.reliability
@pytest.mark.parametrize("tf_config, message", BAD_TF_CONFIGS)
def test_bad_tf_config_is_a_named_value_error(tf_config, message, monkeypatch):
    from tfcolor.training import distribute

    monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(ValueError, match="TF_CONFIG is not a valid cluster") as error:
        distribute.cluster_from_tf_config()
    assert message in str(error.value)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        distribute.make_strategy("one_device")


@pytest.mark.reliability
@pytest.mark.parametrize(
    "tf_config",
    [
        "",
        '{"cluster": {"worker": ["localhost:12345"]}, "task": {"type": "worker", "index": 0}}',
        '{"cluster": {"chief": ["h0:1"], "worker": ["h1:2", "[::1]:3"]}, '
        '"task": {"type": "worker", "index": 1}, "rpc_layer": "grpc"}',
        # TensorFlow reads these too: an empty job other than the task's, a string index
        # (int()), an evaluator beside the cluster.
        '{"cluster": {"worker": ["h1:2"], "ps": []}, "task": {"type": "worker", "index": 0}}',
        '{"cluster": {"worker": ["h1:2", "h2:2"]}, "task": {"type": "worker", "index": "1"}}',
        '{"cluster": {"worker": ["h1:2"]}, "task": {"type": "evaluator", "index": 0}}',
    ],
)
def test_valid_tf_configs_pass(tf_config, monkeypatch):
    from tfcolor.training import distribute

    monkeypatch.setenv("TF_CONFIG", tf_config)
    parsed = distribute.cluster_from_tf_config()
    assert (parsed is None) == (not tf_config)


@pytest.mark.reliability
def test_train_cli_refuses_a_bad_tf_config(tmp_path):
    result = _train(tmp_path / "run", "--strategy", "auto", env={"TF_CONFIG": "{bad"})
    _one_error_line(result, "TF_CONFIG", "invalid JSON")
    assert not (tmp_path / "run" / "final.weights.h5").exists()


@pytest.mark.reliability
@pytest.mark.parametrize(
    "tf_config, strategy", [("[1,2]", "multi_worker"), ('{"cluster": "oops"}', "one_device")]
)
def test_train_refuses_a_bad_tf_config_under_every_strategy(
    tf_config, strategy, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("TF_CONFIG", tf_config)
    result = _main(capsys, tmp_path / "run", "--strategy", strategy)
    _one_error_line(result, "TF_CONFIG")
    assert not (tmp_path / "run" / "final.weights.h5").exists()


# --- runs and data that cannot train -----------------------------------------------------------


@pytest.mark.reliability
def test_fewer_images_than_one_batch_is_an_error(tmp_path, capsys):
    data = png_folder(tmp_path / "photos", 20)
    validation = png_folder(tmp_path / "validation", 4, seed=1)
    result = _main(
        capsys,
        tmp_path / "run",
        "--data",
        f"folder:{data}",
        "--validation-data",
        f"folder:{validation}",
        "--batch-size",
        "32",
    )
    line = _one_error_line(result, "20", "32")
    assert "epochs trained" not in result.stdout, line
    assert not (tmp_path / "run" / "final.weights.h5").exists()
    assert not (tmp_path / "run" / "export").exists()


@pytest.mark.reliability
def test_a_data_set_that_yields_no_step_trains_nothing(tmp_path):
    import tensorflow as tf

    from tfcolor.training.colorizer import Colorizer

    config = smoke_preset("unet_mse", epochs=1)
    config.train.steps_per_epoch = None
    colorizer = Colorizer(config, str(tmp_path))
    empty = tf.data.Dataset.from_tensor_slices(
        (np.zeros((0, 32, 32, 1), np.float32), np.zeros((0, 32, 32, 2), np.float32))
    ).batch(4)
    with pytest.raises(ValueError, match="no training step ran"):
        colorizer.train(lambda: empty, validation_fn=lambda: empty, verbose=0)
    assert colorizer.epochs_done == 0
    assert not (tmp_path / "final.weights.h5").exists()


@pytest.mark.reliability
def test_model_dirs_that_cannot_hold_a_run_give_one_line(tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    _one_error_line(_main(capsys, a_file), str(a_file), "not a folder")
    _one_error_line(_main(capsys, a_file / "run"), str(a_file))
    for text in ("[1,2]", "garbage{"):
        run = tmp_path / f"run_{len(text)}"
        run.mkdir()
        (run / "config.json").write_text(text)
        _one_error_line(_main(capsys, run), str(run / "config.json"))
    # Through a real interpreter too: one line on stderr, exit 2.
    _one_error_line(_train(tmp_path / "run_5"), str(tmp_path / "run_5" / "config.json"))


@pytest.mark.reliability
@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into a 0500 folder"
)
def test_unwritable_model_dir_gives_one_line(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        _one_error_line(_main(capsys, locked / "run"), str(locked / "run"))
    finally:
        locked.chmod(0o700)


@pytest.mark.reliability
@pytest.mark.slow
def test_fifo_in_the_data_folder_does_not_traceback(tmp_path):
    data = png_folder(tmp_path / "photos", 12)
    os.mkfifo(data / "pipe.png")
    validation = png_folder(tmp_path / "validation", 4, seed=1)
    # In a process of its own: a reader stuck on the FIFO ends with the timeout.
    result = _train(
        tmp_path / "run",
        "--data",
        f"folder:{data}",
        "--validation-data",
        f"folder:{validation}",
        "--no-export",
        timeout=240,
    )
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.returncode in (0, 2), result.stderr[-3000:]


@pytest.mark.reliability
@pytest.mark.slow
def test_finished_run_is_not_exported_again(tmp_path, capsys):
    validation = png_folder(tmp_path / "validation", 4, seed=1)
    flags = ["--validation-data", f"folder:{validation}"]
    first = _main(capsys, tmp_path / "run", *flags)
    assert first.returncode == 0, first.stderr[-3000:]
    versions = sorted(os.listdir(tmp_path / "run" / "export"))
    assert len(versions) == 1
    again = _main(capsys, tmp_path / "run", *flags)
    assert again.returncode == 0, again.stderr[-3000:]
    assert sorted(os.listdir(tmp_path / "run" / "export")) == versions
    assert f"exported: {tmp_path / 'run' / 'export' / versions[0]} (unchanged" in again.stdout


# --- predict's inputs --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def colorizer(tmp_path_factory):
    from tfcolor.training.colorizer import Colorizer

    return Colorizer(small_config(), str(tmp_path_factory.mktemp("predict")))


@pytest.mark.reliability
def test_predict_takes_uint8_integers_and_unit_floats_alike(colorizer):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 32, 32, 3)).astype(np.uint8)
    expected = colorizer.predict(images)
    for same in (images.astype(np.int64), images.astype(np.uint16), images / 255.0):
        np.testing.assert_array_equal(colorizer.predict(same), expected)
    np.testing.assert_array_equal(colorizer.predict((images / 255.0).astype(np.float32)), expected)
    np.testing.assert_array_equal(colorizer.predict(list(images.astype(np.int32))), list(expected))


@pytest.mark.reliability
@pytest.mark.parametrize(
    "images, message",
    [
        (np.full((1, 8, 8, 3), 300, np.int64), "0-255"),
        (np.full((1, 8, 8, 3), -1, np.int32), "0-255"),
        (np.full((1, 8, 8, 3), 200.0, np.float32), "[0, 1]"),
        (np.full((1, 8, 8, 3), np.nan, np.float32), "NaN"),
        (np.full((1, 8, 8, 3), np.inf, np.float64), "NaN or infinite"),
        (np.ones((1, 8, 8, 3), bool), "bool"),
        (np.ones((1, 8, 8, 5), np.uint8), "channels"),
        (np.ones((8,), np.uint8), "shape"),
        (np.ones((1, 1, 8, 8, 3), np.uint8), "shape"),
        (np.ones((8, 8, 7), np.uint8), "shape"),
        ([np.ones((8,), np.uint8)], "images[0]"),
        ([np.full((8, 8), 2.0)], "images[0]"),
    ],
)
def test_predict_names_bad_input(colorizer, images, message):
    with pytest.raises(ValueError) as error:
        colorizer.predict(images)
    assert message in str(error.value)


@pytest.mark.reliability
def test_predict_of_nothing_is_empty(colorizer):
    empty = colorizer.predict(np.zeros((0, 16, 24, 3), np.uint8))
    assert empty.shape == (0, 16, 24, 3) and empty.dtype == np.uint8
    assert colorizer.predict([]) == []
