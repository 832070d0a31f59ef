"""The flags generated from the config dataclasses (`tfcolor.cli.common.add_config_flags`):
every field has one with help, the commands' flags are the recorded ones (name, type,
choices, default: what users know), and their values reach the configs."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from tfcolor.cli import common as cli
from tfcolor.cli import refine, train
from tfcolor.config import (
    CodecConfig,
    DataConfig,
    ModelConfig,
    RefinementConfig,
    TrainConfig,
)

# `python -m tfcolor.train --help` before the flags were generated: flag -> (type, choices,
# default); only --classes, --filters and --critic-filters were parsed after argparse then.
TRAIN_FLAGS = {
    # None: the preset follows the data (train.base_config), unet_shapes for the shapes.
    "--preset": ("str", None, None),
    "--model-dir": ("str", None, None),
    "--data": ("str", None, None),
    "--validation-data": ("str", None, None),
    "--image-size": ("positive_int", None, None),
    "--batch-size": ("positive_int", None, None),
    "--augment": ("bool", None, None),
    "--gray-threshold": ("float", None, None),
    "--classes": ("name_list", None, None),
    "--frame-size": ("frame_size", None, None),
    "--chunk-frames": ("positive_int", None, None),
    "--codec": ("str", ("grid", "gamut", "regression"), None),
    "--bins": ("positive_int", None, None),
    "--neighbours": ("positive_int", None, None),
    "--sigma": ("positive_float", None, None),
    "--normalization": ("str", ("sigmoid", "tanh", "unit", "tanh110"), None),
    "--decode": ("str", ("interp", "annealed_mean"), None),
    "--temperature": ("float", None, None),
    "--rebalance": ("float", None, None),
    "--gamut": ("str", ("chroma", "clip"), None),
    "--epochs": ("positive_int", None, None),
    "--steps-per-epoch": ("positive_int", None, None),
    "--optimizer": ("str", ("adam", "rmsprop"), None),
    "--learning-rate": ("positive_float", None, None),
    "--lr-schedule": ("str", ("cosine", "constant"), None),
    "--jit-compile": ("str", ("auto", "on", "off"), None),
    "--backup-every-steps": ("positive_int", None, None),
    "--render-size": ("non_negative_int", None, None),
    "--metric-images": ("int", None, None),
    "--seed": ("int", None, None),
    "--mixed-precision": ("str", ("auto", "off", "float16", "bfloat16"), None),
    "--strategy": ("str", ("auto", "one_device", "mirrored", "multi_worker", "tpu"), None),
    "--init-from": ("str", None, None),
    "--model": (
        "str",
        ("unet", "iizuka", "backbone_fusion", "convlstm", "zhang_eccv16", "zhang_siggraph17"),
        None,
    ),
    "--filters": ("int_list", None, None),
    "--activation": ("str", ("relu", "leaky_relu", "tanh"), None),
    "--output-stride": ("positive_int", None, None),
    "--global-features": ("str", ("none", "learned", "backbone"), None),
    "--global-size": ("positive_int", None, None),
    "--global-network": ("bool", None, None),
    "--simple-global": ("bool", None, None),
    "--simple-global-width": ("positive_int", None, None),
    "--backbone": ("str", ("inception_resnet_v2", "mobilenet_v2", "efficientnet_b0"), None),
    "--backbone-weights": ("str", None, None),
    "--backbone-trainable": ("bool", None, None),
    "--classify": ("bool", None, None),
    "--classification-weight": ("float", None, None),
    "--batch-norm": ("bool", None, None),
    "--stateful": ("bool", None, None),
    "--no-export": ("switch", None, False),
    "--verbose": ("int", (0, 1, 2), 1),
}

REFINE_FLAGS = {
    "--model-dir": ("str", None, None),
    "--output-dir": ("str", None, None),
    "--data": ("str", None, None),
    "--epochs": ("positive_int", None, 8),
    "--steps-per-epoch": ("positive_int", None, None),
    "--critic-steps": ("positive_int", None, 5),
    "--gradient-penalty": ("positive_float", None, 10.0),
    "--adversarial-weight": ("positive_float", None, 0.01),
    "--critic-border": ("non_negative_int", None, 16),
    "--critic-filters": ("int_list", None, "64,128,256"),
    "--learning-rate": ("positive_float", None, 1e-05),
    "--critic-learning-rate": ("positive_float", None, 0.0001),
    "--unfreeze-start": ("non_negative_int", None, 1),
    "--unfreeze-every": ("positive_int", None, 1),
    "--validation-steps": ("non_negative_int", None, None),
    "--backup-every-steps": ("positive_int", None, 200),
    "--seed": ("int", None, 0),
    "--temperature": ("positive_float", None, None),
    "--mixed-precision": ("str", ("auto", "off", "float16", "bfloat16"), None),
    "--no-export": ("switch", None, False),
    "--verbose": ("int", (0, 1, 2), 1),
}

# The fields that have no flag (library settings a command line never needed).
NO_FLAG = {
    DataConfig: {"validation_fraction", "shuffle_buffer", "seed"},
    CodecConfig: {"grid_size"},
    ModelConfig: {"class_names", "simple_global_pool"},
    TrainConfig: {"panel_images"},
    RefinementConfig: set(),
}


def _flags(parser: argparse.ArgumentParser) -> dict:
    flags = {}
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if isinstance(action, argparse.BooleanOptionalAction):
            kind = "bool"
        elif isinstance(action, argparse._StoreTrueAction):
            kind = "switch"
        elif action.type is None:
            kind = "str"
        else:
            kind = getattr(action.type, "__name__", "")
            kind = "int_list" if kind == "parse" else kind
        choices = tuple(action.choices) if action.choices and action.dest != "preset" else None
        flags[action.option_strings[0]] = (kind, choices, action.default)
        assert action.help, action.option_strings
    return flags


def test_train_flags_are_the_recorded_ones():
    assert _flags(train.build_parser()) == TRAIN_FLAGS


def test_refine_flags_are_the_recorded_ones():
    assert _flags(refine.build_parser()) == REFINE_FLAGS


@pytest.mark.parametrize("kind", list(NO_FLAG), ids=lambda kind: kind.__name__)
def test_every_config_field_has_a_flag_with_help(kind):
    without = {field.name for field in dataclasses.fields(kind) if not field.metadata.get("help")}
    assert without == NO_FLAG[kind]
    parser = argparse.ArgumentParser()
    cli.add_config_flags(parser, kind)
    helps = {action.dest: action.help for action in parser._actions}
    for field in dataclasses.fields(kind):
        if field.name not in NO_FLAG[kind]:
            assert helps[f"{kind.__name__}.{field.name}"], field.name


def _config(*flags):
    return train.config_from_args(train.build_parser().parse_args(list(flags)))


def test_flag_values_reach_the_config(tmp_path):
    assert _config().to_dict() == _config("--preset", "unet_shapes").to_dict()
    config = _config("--rebalance", "0", "--classes", "apple, rose,", "--global-features", "none")
    assert (config.codec.rebalance, config.data.classes) == (None, ("apple", "rose"))
    assert config.model.global_features is None
    config = _config("--preset", "unet_cifar", "--codec", "gamut", "--decode", "interp")
    assert (config.codec.decode, config.codec.temperature) == ("interp", 0.8)
    config = _config("--preset", "unet_cifar", "--codec", "gamut", "--temperature", "0.5")
    assert (config.codec.decode, config.codec.temperature) == ("annealed_mean", 0.5)
    config = _config("--preset", "unet_mse", "--rebalance", "0.5")
    assert config.codec.rebalance is None  # a regression codec has no rebalancing
    config = _config("--filters", "4,8", "--frame-size", "64x48", "--no-augment")
    assert (config.model.filters, config.data.frame_size) == ((4, 8), (64, 48))
    weights = tmp_path / "w.h5"
    weights.write_bytes(b"")
    config = _config("--global-features", "backbone", "--backbone-weights", str(weights))
    assert config.model.backbone_weights == str(weights)
    with pytest.raises(ValueError, match="no such file"):
        _config("--backbone-weights", str(tmp_path / "nope.h5"))
    config = _config("--data", "folder:~/photos", "--seed", "3", "--stateful")
    assert config.data.source.startswith("folder:/") and config.train.seed == 3


def test_refine_flags_default_to_the_settings():
    parser = refine.build_parser()
    base = ["--model-dir", "a", "--output-dir", "b"]
    values = cli.config_values(parser.parse_args(base), RefinementConfig)
    assert RefinementConfig(**values) == RefinementConfig()
    args = parser.parse_args([*base, "--critic-filters", "8,16", "--temperature", "0.2"])
    settings = RefinementConfig(**cli.config_values(args, RefinementConfig))
    assert (settings.critic_filters, settings.temperature) == ((8, 16), 0.2)
    with pytest.raises(SystemExit):
        parser.parse_args([*base, "--critic-filters", "8,0"])


def test_argument_types():
    assert cli.int_list("8,16")("4,8") == (4, 8)
    with pytest.raises(argparse.ArgumentTypeError, match="like 8,16. Received: 4,x"):
        cli.int_list("8,16")("4,x")
    assert cli.name_list(" a, b ,,") == ("a", "b") and cli.name_list(" , ") is None
    assert cli.expand_source("shapes") == "shapes"
    assert not cli.expand_source("video:~/clips").startswith("video:~")
    assert cli.expand_source(None) is None


def test_only_some_fields_get_flags_and_convert_takes_trains_own():
    """`only` adds the named fields' flags (convert's four are train's, help and all); a name
    that is no flagged field is an error, not a flag silently left out."""
    from tfcolor.cli import convert
    from tfcolor.config import CodecConfig

    parser = argparse.ArgumentParser()
    cli.add_config_flags(parser, CodecConfig, only=("gamut",))
    args = parser.parse_args(["--gamut", "clip"])
    assert cli.config_values(args, CodecConfig, only=("gamut",)) == {"gamut": "clip"}
    with pytest.raises(SystemExit):
        parser.parse_args(["--temperature", "0.5"])
    with pytest.raises(ValueError, match=r"no flagged fields \['nope'\]"):
        cli.add_config_flags(argparse.ArgumentParser(), CodecConfig, only=("nope",))

    def helps(parser):
        return {a.option_strings[0]: a.help for a in parser._actions if a.option_strings}

    converted, trained = helps(convert.build_parser()), helps(train.build_parser())
    for flag in ("--data", "--temperature", "--gamut", "--mixed-precision"):
        assert converted[flag] == trained[flag], flag
    args = convert.build_parser().parse_args(
        ["zhang_eccv16", "w.pth", "--model-dir", "r", "--temperature", "0.38", "--gamut", "clip"]
    )
    assert cli.config_values(args, CodecConfig, ("temperature", "gamut")) == {
        "temperature": 0.38,
        "gamut": "clip",
    }
