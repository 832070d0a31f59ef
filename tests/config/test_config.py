"""`tfcolor.config`: from_dict round trips, validation naming the field, the codec rule, the
presets and the smoke preset."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from tfcolor.config import (
    BACKBONES,
    PRESETS,
    CodecConfig,
    Config,
    DataConfig,
    ModelConfig,
    RefinementConfig,
    TrainConfig,
    get_preset,
    smoke,
)
from tfcolor.config.presets import refinement

SECTIONS = (DataConfig, CodecConfig, ModelConfig, TrainConfig, RefinementConfig)


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_round_trips_and_validates(name):
    config = get_preset(name)
    config.validate()
    assert config.preset == name
    assert Config.from_dict(json.loads(config.to_json())) == config
    assert Config.from_dict(config.to_dict()) == config
    assert get_preset(name) is not get_preset(name)  # fresh each time


def test_from_dict_defaults_and_errors():
    assert Config.from_dict({}).preset == "custom"
    assert Config.from_dict({"model": {"filters": [4, 8]}}).model.filters == (4, 8)
    assert Config.from_dict({"data": {"frame_size": [32, 24]}}).data.frame_size == (32, 24)
    # A run written before the gamut setting renders with today's default.
    assert Config.from_dict({"codec": {"name": "grid", "temperature": 0.8}}).codec.gamut == "chroma"
    with pytest.raises(ValueError, match=r"unknown ModelConfig keys: \['filter'\]"):
        Config.from_dict({"model": {"filter": [8]}})
    with pytest.raises(ValueError, match="CodecConfig takes a dict"):
        Config.from_dict({"codec": ["grid"]})
    settings = RefinementConfig(critic_filters=(8, 16), temperature=0.5)
    assert RefinementConfig.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings


def _bad_values(field):
    """Values that break a field's declared choices or bounds."""
    meta = field.metadata
    if "choices" in meta:
        yield "no_such_choice"
    if "ge" in meta:
        yield meta["ge"] - 1
    if "gt" in meta:
        yield meta["gt"]


@pytest.mark.parametrize("kind", SECTIONS, ids=lambda kind: kind.__name__)
def test_validation_errors_name_the_field(kind):
    checked = 0
    for field in dataclasses.fields(kind):
        label = field.metadata.get("label", field.name)
        for value in _bad_values(field):
            section = dataclasses.replace(kind(), **{field.name: value})
            with pytest.raises(ValueError, match=rf"{label}.*Received: {label}="):
                section.validate()
            checked += 1
    assert checked >= 3


def test_whole_config_validation_names_the_field():
    for part, key, value, message in [
        ("data", "image_size", 30, "image_size=30"),
        ("data", "image_size", 4, "image_size=4"),
        ("codec", "n_bins", 37, "n_bins=37"),
        ("model", "output_stride", 3, "output_stride=3"),
        ("model", "global_size", 100, "global_size=100"),
        ("train", "epochs", 0, "epochs=0"),
        ("codec", "temperature", 2.0, "temperature=2.0"),
    ]:
        config = get_preset("unet_shapes")
        setattr(getattr(config, part), key, value)
        with pytest.raises(ValueError, match=message):
            config.validate()


def test_classify_on_the_video_model_is_refused_once_by_the_model_config():
    with pytest.raises(ValueError, match="classify is not supported on the convlstm"):
        ModelConfig(name="convlstm", classify=True).validate()
    config = get_preset("convlstm")
    config.model.classify = True
    with pytest.raises(ValueError, match="classify"):
        config.validate()


def test_switching_to_the_gamut_codec_decodes_as_zhang():
    thesis = CodecConfig(name="grid", decode="interp", temperature=0.8)
    assert thesis.updated(name="gamut") == dataclasses.replace(
        thesis, name="gamut", decode="annealed_mean", temperature=0.38
    )
    assert thesis.updated(name="gamut", temperature=0.5).temperature == 0.5
    kept = thesis.updated(name="gamut", decode="interp")
    assert (kept.decode, kept.temperature) == ("interp", 0.8)
    annealed = CodecConfig(decode="annealed_mean", temperature=0.2).updated(name="gamut")
    assert annealed.temperature == 0.2
    assert thesis.updated(name="regression").rebalance is None
    assert CodecConfig.for_codec("gamut") == CodecConfig(
        name="gamut", decode="annealed_mean", temperature=0.38, rebalance=0.5
    )
    assert get_preset("unet_gamut").codec == CodecConfig.for_codec("gamut")


def test_smoke_presets_are_small_and_valid():
    for name in PRESETS:
        config = smoke(name, epochs=2)
        config.validate()
        assert config.preset == name
        assert config.data.image_size == 32 and max(config.model.filters) <= 16
        assert config.train.epochs == 2 and config.train.metric_images == 0
        assert config.model.backbone_weights is None and config.model.backbone in BACKBONES
    config = get_preset("smoke")
    config.validate()
    assert config.preset == "smoke" and config.data.source == "shapes"
    assert config.train.steps_per_epoch == 20


def test_config_imports_no_tensorflow():
    code = (
        "import sys, tfcolor.config; "
        "print(sorted(m for m in sys.modules if m.startswith(('tfcolor', 'tensorflow', 'keras'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    loaded = eval(result.stdout)  # noqa: S307 - a list of module names printed above
    assert not [name for name in loaded if not name.startswith("tfcolor")], loaded
    assert all(name == "tfcolor" or name.startswith("tfcolor.config") for name in loaded), loaded


def test_unet_128_is_the_thesis_network_and_older_runs_rebuild_theirs():
    # The thesis's Conv2dBlocks: 16, 32, 64, 128, 256 (four poolings, to 8x8 at 128x128).
    assert get_preset("unet_128").model.filters == (16, 32, 64, 128, 256)
    # A run made when the preset had 128 at the bottom recorded its filters in config.json.
    saved = json.loads(get_preset("unet_128").to_json())
    saved["model"]["filters"] = [16, 32, 64, 128, 128]
    assert Config.from_dict(saved).model.filters == (16, 32, 64, 128, 128)


def test_a_config_saved_before_simple_global_width_rebuilds_its_network():
    # simple_global was tfcolor's own simplification then (a 512-filter stride-2 convolution
    # and a global average pool); the course report's network is the default now.
    former = Config.from_dict({"model": {"name": "iizuka", "simple_global": True}}).model
    assert (former.simple_global_width, former.simple_global_pool) == (512, True)
    plain = Config.from_dict({"model": {"name": "iizuka"}}).model
    assert (plain.simple_global_width, plain.simple_global_pool) == (32, False)
    config = get_preset("iizuka")
    config.model.simple_global = True
    loaded = Config.from_dict(json.loads(config.to_json()))
    assert loaded == config and not loaded.model.simple_global_pool


def test_iizuka_basic_is_iizuka_without_its_global_network():
    # The course report's comparison: the basic and the full model on the same data.
    full, basic = get_preset("iizuka"), get_preset("iizuka_basic")
    assert basic.model == dataclasses.replace(full.model, global_network=False)
    assert (basic.data, basic.codec, basic.train) == (full.data, full.codec, full.train)
    assert Config.from_dict({"model": {"name": "iizuka"}}).model.global_network
    for values, message in [
        ({"name": "unet"}, "global_network is an iizuka setting"),
        ({"name": "iizuka", "classify": True}, "classify=True"),
        ({"name": "iizuka", "simple_global": True}, "simple_global=True"),
    ]:
        with pytest.raises(ValueError, match=message):
            ModelConfig(global_network=False, **values).validate()


def test_thesis_presets_train_as_the_thesis_and_the_default_says_how_it_differs():
    # The thesis: plain cross-entropy, Adam 1e-3 at a constant rate, batch 64, gray images kept.
    for name in ("unet_thesis", "unet_cifar", "unet_mse"):
        config = get_preset(name)
        assert config.codec.rebalance is None, name
        assert (config.train.optimizer, config.train.learning_rate) == ("adam", 1e-3), name
        assert config.train.lr_schedule == "constant", name
        assert config.data.batch_size == 64, name
        assert config.data.gray_threshold is None, name
        assert config.model.activation == "relu", name
    thesis, default = get_preset("unet_thesis"), get_preset("unet_shapes")
    assert (default.codec.rebalance, default.train.learning_rate) == (0.5, 3e-3)
    assert (default.train.lr_schedule, default.data.batch_size) == ("cosine", 32)
    assert thesis.model == default.model and thesis.data.source == default.data.source
    assert get_preset("unet_mse").codec.name == "regression"
    # unet_128, the preset for one's own photos, keeps the thesis's network, optimizer and rate
    # and trains as `bench quality` measured on real clips (README): rebalanced, annealed mean.
    photos = get_preset("unet_128")
    assert (photos.train.optimizer, photos.train.learning_rate) == ("adam", 1e-3)
    assert (photos.codec.name, photos.codec.n_bins, photos.codec.rebalance) == ("grid", 324, 0.5)
    assert (photos.codec.decode, photos.codec.temperature) == ("annealed_mean", 0.8)
    assert (photos.data.batch_size, photos.train.epochs) == (16, 120)
    # Runs written before the optimizer and activation settings: Adam and ReLU.
    old = Config.from_dict({"model": {"name": "unet"}, "train": {"learning_rate": 1e-3}})
    assert (old.train.optimizer, old.model.activation) == ("adam", "relu")
    with pytest.raises(ValueError, match="activation is a unet setting"):
        ModelConfig(name="iizuka", activation="tanh").validate()
    with pytest.raises(ValueError, match="optimizer must be one of adam, rmsprop"):
        dataclasses.replace(thesis.train, optimizer="sgd").validate()


def test_iizuka_presets_take_the_course_reports_rate_and_batch():
    for name in ("iizuka", "iizuka_cls", "iizuka_basic"):
        config = get_preset(name)
        assert (config.train.learning_rate, config.data.batch_size) == (1e-5, 64), name
        assert config.train.lr_schedule == "constant", name
        assert config.model.output_stride == 1, name  # the head at H/2, upsampled in-model


def test_gan_project_presets_have_its_data_size_and_epochs():
    pretraining = get_preset("unet_gamut")
    assert (pretraining.data.source, pretraining.data.image_size) == ("tfds:places365_small", 256)
    assert pretraining.train.epochs < 15  # the project: fewer than 15 epochs of pre-training
    assert refinement().epochs == 8  # and about 8 of refinement


def test_batch_norm_is_a_unet_and_convlstm_setting():
    from tfcolor.config import ModelConfig

    ModelConfig(name="unet", batch_norm=False).validate()
    ModelConfig(name="convlstm", batch_norm=False).validate()
    with pytest.raises(ValueError, match="batch_norm is a unet and convlstm setting"):
        ModelConfig(name="iizuka", batch_norm=False).validate()
