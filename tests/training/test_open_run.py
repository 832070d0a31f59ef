"""`tfcolor.training.open_run`: a run opened as the estimator its model needs, and the
estimators refusing the other kind's runs."""

from __future__ import annotations

import pytest

from tests.helpers import smoke_preset
from tfcolor.training import open_run
from tfcolor.training.colorizer import Colorizer
from tfcolor.training.video import VideoColorizer


def _video_config():
    config = smoke_preset("convlstm")
    config.data.source = "video:/nonexistent"  # never read: the run is only built
    return config


def test_open_run_builds_and_reopens_each_kind(tmp_path):
    image = open_run(str(tmp_path / "image"), smoke_preset("unet_shapes"))
    video = open_run(str(tmp_path / "video"), _video_config())
    assert type(image) is Colorizer and type(video) is VideoColorizer
    # Reopened from the model_dir alone (its config.json).
    assert type(open_run(image.model_dir)) is Colorizer
    reopened = open_run(video.model_dir)
    assert type(reopened) is VideoColorizer
    assert reopened.config == video.config


def test_each_estimator_refuses_the_other_kind_and_names_open_run(tmp_path):
    video = open_run(str(tmp_path / "video"), _video_config())
    with pytest.raises(ValueError, match=r"VideoColorizer, not a Colorizer: use tfcolor.open_run"):
        Colorizer(None, video.model_dir)
    with pytest.raises(ValueError, match="VideoColorizer"):
        Colorizer(_video_config(), str(tmp_path / "other"))
    with pytest.raises(ValueError, match="Received: model='unet'; use tfcolor.open_run"):
        VideoColorizer(smoke_preset("unet_shapes"), str(tmp_path / "image"))


def test_open_run_without_a_run_is_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no tfcolor run"):
        open_run(str(tmp_path / "nothing"))
    (tmp_path / "spoiled").mkdir()
    (tmp_path / "spoiled" / "config.json").write_text("[]")
    with pytest.raises(ValueError, match="config.json"):
        open_run(str(tmp_path / "spoiled"))
