"""tfcolor.codecs.base: what every codec does (tf.data encoding, Keras training), the registry
(`make_codec`, `register_codec`) and persistence (`Codec.save`, `load_codec`)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.codecs.codec_helpers import grid_codec, regression_codec
from tfcolor import codecs
from tfcolor.codecs import base
from tfcolor.config import CodecConfig

# === Every codec ===


@pytest.mark.parametrize(
    "codec", [grid_codec(36), regression_codec("sigmoid")], ids=["grid", "regression"]
)
def test_encode_in_tf_data_map(codec):
    ab = np.random.default_rng(1).uniform(-128, 127, (3, 8, 8, 2)).astype(np.float32)
    dataset = tf.data.Dataset.from_tensor_slices(ab).map(codec.encode).batch(3)
    np.testing.assert_allclose(next(iter(dataset)).numpy(), codec.encode(ab).numpy())


@pytest.mark.parametrize(
    "config, jit_compile",
    [
        (CodecConfig(name="grid", n_bins=36, rebalance=0.5), True),
        (CodecConfig(name="regression", normalization="unit"), False),
    ],
    ids=["grid-xla", "regression"],
)
def test_compiles_and_trains_with_keras(config, jit_compile):
    codec = codecs.make_codec(config)
    ab = np.random.default_rng(4).uniform(-60, 60, (8, 8, 8, 2)).astype(np.float32)
    codec.fit([ab])
    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Conv2D(
        codec.channels, 1, activation=codec.output_activation, dtype="float32"
    )(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer="adam", loss=codec.loss, metrics=codec.metrics(), jit_compile=jit_compile
    )
    lightness = np.random.default_rng(5).random((8, 8, 8, 1)).astype(np.float32)
    history = model.fit(lightness, codec.encode(ab), batch_size=4, epochs=1, verbose=0)
    assert all(np.isfinite(values[-1]) for values in history.history.values())
    assert set(history.history) == {"loss"} | {metric.name for metric in codec.metrics()}


# === Construction and persistence ===


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"name": "bins"}, "name='bins'"),
        ({"n_bins": 35}, "n_bins=35"),
        ({"n_bins": 1}, "n_bins=1"),
        ({"decode": "mode"}, "decode='mode'"),
        ({"temperature": -0.5}, "temperature=-0.5"),
        ({"decode": "interp", "temperature": 2.0}, "temperature=2.0"),
        ({"rebalance": 1.5}, "rebalance=1.5"),
        ({"name": "regression", "normalization": "relu"}, "normalization='relu'"),
    ],
)
def test_make_codec_errors_repeat_the_value(overrides, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        codecs.make_codec(CodecConfig(**overrides))


def test_unfitted_and_regression_save_load(tmp_path):
    grid_codec(324).save(str(tmp_path / "grid"))
    restored = codecs.load_codec(str(tmp_path / "grid"))
    assert restored.n_bins == 324 and not restored.fitted
    regression_codec("tanh").save(str(tmp_path / "regression"))
    restored = codecs.load_codec(str(tmp_path / "regression"))
    assert isinstance(restored, codecs.RegressionCodec) and restored.normalization == "tanh"


def test_a_codec_without_state_refuses_one():
    codec = regression_codec("unit")
    assert codec.get_state() == {}
    codec.set_state({})
    with pytest.raises(ValueError, match="bin_counts"):
        codec.set_state({"bin_counts": np.zeros(3)})


# === Registry ===


def test_the_package_re_exports_every_public_name():
    for name in codecs.__all__:
        assert getattr(codecs, name) is not None, name
    assert codecs.make_codec is base.make_codec and codecs.Codec is base.Codec
    assert set(base._CODECS) == {"grid", "gamut", "regression"}


def test_register_codec_makes_make_codec_build_the_class(monkeypatch, tmp_path):
    monkeypatch.setattr(base, "_CODECS", dict(base._CODECS))

    class Identity(base.Codec):
        name = "regression"  # CodecConfig checks its name; a new one stands in this name's place
        channels = 2

        def encode(self, ab):
            return tf.cast(ab, tf.float32)

    with pytest.raises(ValueError, match="taken by RegressionCodec"):
        base.register_codec(Identity)
    base._CODECS.pop("regression")
    assert base.register_codec(Identity) is Identity
    assert base.register_codec(Identity) is Identity  # the same class again: no change
    codec = codecs.make_codec(CodecConfig(name="regression"))
    assert type(codec) is Identity
    codec.save(str(tmp_path))
    assert type(codecs.load_codec(str(tmp_path))) is Identity

    class Nameless(base.Codec):
        pass

    with pytest.raises(ValueError, match="needs a name"):
        base.register_codec(Nameless)
