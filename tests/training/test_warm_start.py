"""`--init-from RUN` (`training.warm_start`): a fresh run's model takes the matching layers of
another run's weights, names what it loaded and left new, refuses a non-run, and never
applies over a run's own weights."""

from __future__ import annotations

import numpy as np
import pytest

# The image U-Net and the video U-Net + ConvLSTM with batch norm (convlstm_big's blocks) at
# the same filters share every layer but the ConvLSTM's.
FILTERS = (8, 8, 16)


def _image_run(model_dir: str, seed: int = 1, batch_norm: bool = True):
    """A run folder as an image run leaves it: config.json and final weights (not trained:
    weights drawn with another seed than the video run's, so a copy is told from a fresh
    layer)."""
    import keras

    from tfcolor import codecs
    from tfcolor.config import smoke
    from tfcolor.models import build_model
    from tfcolor.training import run_dir

    config = smoke("unet_mse")
    config.model.filters = FILTERS
    config.model.batch_norm = batch_norm
    keras.utils.set_random_seed(seed)
    model = build_model(config.model, codecs.make_codec(config.codec))
    run_dir.write_config(model_dir, config)
    run_dir.save_weights(model, run_dir.RunDir(model_dir).final_weights, epoch=1)
    return model


def _video_config(init_from: str | None, preset: str = "convlstm_big"):
    from tfcolor.config import smoke

    config = smoke(preset)
    config.model.filters = FILTERS
    config.train.init_from = init_from
    return config


def _weights(model, name):
    return [np.asarray(weight) for weight in model.get_layer(name).get_weights()]


def test_image_run_into_a_video_model(tmp_path):
    from tfcolor.training import open_run

    source = _image_run(str(tmp_path / "image"))
    fresh = open_run(str(tmp_path / "fresh"), _video_config(None))
    assert fresh.warm_start is None
    started = open_run(str(tmp_path / "video"), _video_config(str(tmp_path / "image")))

    report = started.warm_start
    image_layers = [layer.name for layer in source.layers if layer.weights]
    assert set(report.loaded) == set(image_layers)
    assert {"down0_conv1", "down0_bn1", "bottleneck_conv2", "up0_upconv", "head"} <= set(
        report.loaded
    )
    assert report.left_new == (("convlstm", "not in the source"),)
    assert report.unused == ()
    assert report.weights_file.endswith("final.weights.h5")
    summary = report.summary()
    assert "loaded" in summary and "convlstm (not in the source)" in summary
    for name in report.loaded:  # copied exactly, batch norm's moving statistics included
        copied = _weights(started.network, name)
        for mine, theirs in zip(copied, _weights(source, name), strict=True):
            np.testing.assert_array_equal(mine, theirs)
        if not name.endswith(("_bn1", "_bn2")):  # batch norm starts at ones and zeros anyway
            # and not what the fresh initialization gives
            initial = _weights(fresh.network, name)
            assert not all(np.array_equal(a, b) for a, b in zip(copied, initial, strict=True))
    for mine, initial in zip(
        _weights(started.network, "convlstm"), _weights(fresh.network, "convlstm"), strict=True
    ):
        np.testing.assert_array_equal(mine, initial)


def test_the_plain_image_unet_into_the_plain_video_model(tmp_path):
    """The report's plain U-Net (no batch norm) as an image run fills `convlstm` but its
    ConvLSTM; the image U-Net with batch norm fills there only what has no batch norm."""
    from tfcolor.training import open_run

    source = _image_run(str(tmp_path / "plain"), batch_norm=False)
    started = open_run(str(tmp_path / "video"), _video_config(str(tmp_path / "plain"), "convlstm"))
    assert started.warm_start.left_new == (("convlstm", "not in the source"),)
    for mine, theirs in zip(
        _weights(started.network, "down0_conv1"), _weights(source, "down0_conv1"), strict=True
    ):
        np.testing.assert_array_equal(mine, theirs)  # kernel and bias

    _image_run(str(tmp_path / "normed"))
    mixed = open_run(str(tmp_path / "mixed"), _video_config(str(tmp_path / "normed"), "convlstm"))
    assert set(mixed.warm_start.loaded) == {"up1_upconv", "up0_upconv", "head"}
    assert mixed.warm_start.unused and all(
        "_bn" in name or "_conv" in name for name in mixed.warm_start.unused
    )


def test_not_over_a_runs_own_weights(tmp_path):
    """A run that has weights of its own (final or backup) resumes from them: init_from is
    not applied again."""
    from tfcolor.training import open_run, run_dir

    _image_run(str(tmp_path / "image"))
    config = _video_config(str(tmp_path / "image"))
    model_dir = str(tmp_path / "video")
    started = open_run(model_dir, config)
    assert started.warm_start is not None
    head = started.network.get_layer("head")
    head.set_weights([np.full_like(weight, 0.25) for weight in head.get_weights()])
    run_dir.save_weights(started.model, started.run_dir.final_weights, epoch=1)

    resumed = open_run(model_dir, _video_config(str(tmp_path / "image")))
    assert resumed.warm_start is None
    for weight in _weights(resumed.network, "head"):
        np.testing.assert_array_equal(weight, np.full_like(weight, 0.25))


def test_refuses_a_non_run_and_no_match(tmp_path):
    from tfcolor.training import open_run

    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="not a tfcolor run"):
        open_run(str(tmp_path / "a"), _video_config(str(tmp_path / "empty")))
    # A run whose layers share names but no shapes (other filters): nothing to load.
    _image_run(str(tmp_path / "image"))
    config = _video_config(str(tmp_path / "image"))
    config.model.filters = (4, 4, 4)
    with pytest.raises(ValueError, match="no layer of its"):
        open_run(str(tmp_path / "b"), config)


def test_the_flag(tmp_path, monkeypatch):
    from tfcolor.cli import train

    monkeypatch.chdir(tmp_path)
    args = train.build_parser().parse_args(["--preset", "unet_shapes", "--init-from", "runs/a"])
    config = train.config_from_args(args)
    assert config.train.init_from == str(tmp_path / "runs" / "a")
