"""`tfcolor.benchmarks.train` (`bench train`): how it times, what it measures, and its table."""

from __future__ import annotations

import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfcolor.benchmarks import train as bench
from tfcolor.config import PRESETS


def test_image_presets():
    image_presets = bench.image_presets()
    assert "unet_shapes" in image_presets and "iizuka_cls" in image_presets
    assert not [name for name in image_presets if name.startswith("convlstm")]
    assert "smoke" not in image_presets  # the default preset cut short: nothing to measure
    video = {n for n in PRESETS if n.startswith("convlstm")}
    assert set(image_presets) | video | {"smoke"} == set(PRESETS)
    assert list(image_presets) == [name for name in PRESETS if name in image_presets]


def _tiny_model():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    return model


@pytest.mark.parametrize("epochs", [True, False])
def test_time_fit_times_the_steps_after_the_warm_up(epochs):
    features = np.ones((6, 4), np.float32)
    dataset = tf.data.Dataset.from_tensor_slices((features, features[:, :1])).batch(2)  # 3 steps
    if not epochs:
        dataset = dataset.repeat()
    model = _tiny_model()
    timing = bench.time_fit(model, dataset, batch=2, warmup=3, steps=5, seconds=0, epochs=epochs)
    # One fit: 3 warm-up steps, then exactly 5 timed ones (across epochs of 3 steps), and
    # images/s is the batch over the mean step time.
    assert int(model.optimizer.iterations) == 8
    assert len(timing.step_seconds) == 5 and min(timing.step_seconds) > 0
    assert timing.images_per_second == pytest.approx(2 * 5 / sum(timing.step_seconds))
    assert timing.others_cpu is None or timing.others_cpu >= 0


def test_time_fit_gives_up_on_a_slow_step():
    features = np.ones((2, 4), np.float32)
    dataset = tf.data.Dataset.from_tensors((features, features[:, :1])).repeat()
    model = _tiny_model()
    timing = bench.time_fit(
        model, dataset, batch=2, warmup=3, steps=5, seconds=0, epochs=False, give_up=1e-9
    )
    # The first step (tracing) is never held against it; the second one is.
    assert timing.gave_up and int(model.optimizer.iterations) == 2
    assert len(timing.step_seconds) == 1
    assert timing.images_per_second == pytest.approx(2 / timing.step_seconds[0])


def test_an_xla_step_compiled_again_each_time_is_not_timed_at_length(monkeypatch):
    calls = []

    def time_fit(model, dataset, *, batch, warmup, steps, seconds, epochs, give_up=None):
        calls.append((model.jit, epochs, give_up))
        if model.jit:
            return bench.FitTiming(batch / 30.0, [30.0], None, gave_up=True)
        return bench.FitTiming(100.0, [0.2, 0.3, 0.25], 0.0)

    monkeypatch.setattr(bench, "_train_model", lambda c, k, jit, p: types.SimpleNamespace(jit=jit))
    monkeypatch.setattr(bench, "time_fit", time_fit)
    row = bench.run_train_benchmark("gamut_shapes", rounds=2)
    # XLA gets 10x the slowest plain step (+1 s), is measured once, and the pipeline runs
    # without it.
    assert calls[1] == (True, False, pytest.approx(10 * 0.3 + 1))
    assert [call[0] for call in calls] == [False, True, False, False, False]
    assert row.pipeline_jit is False and row.notes[0].startswith("XLA: stopped")
    cells = [cell.strip() for cell in bench.train_table([row])[2].strip("|").split("|")]
    assert cells[3:5] == ["100.0", "1.1 (stopped)"]


def test_time_fit_needs_a_warm_up_step():
    with pytest.raises(ValueError, match="warmup=0"):
        bench.time_fit(None, None, batch=2, warmup=0, steps=5, seconds=0, epochs=False)


def test_time_fit_runs_at_least_the_seconds():
    features = np.ones((2, 4), np.float32)
    dataset = tf.data.Dataset.from_tensors((features, features[:, :1])).repeat()
    timing = bench.time_fit(
        _tiny_model(), dataset, batch=2, warmup=1, steps=1, seconds=0.3, epochs=False
    )
    assert sum(timing.step_seconds) >= 0.3 and len(timing.step_seconds) >= 1


@pytest.mark.parametrize(
    "policy, loss_scaling", [("mixed_bfloat16", False), ("mixed_float16", True)]
)
def test_models_are_built_under_the_policy(policy, loss_scaling):
    from tfcolor import codecs
    from tfcolor.config import get_preset

    config = get_preset("unet_shapes")
    model = bench._train_model(config, codecs.make_codec(config.codec), False, policy)
    assert model.dtype_policy.name == policy
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer) == loss_scaling
    assert keras.config.dtype_policy().name == "float32"  # restored


def _fake_timing(rate):
    return bench.FitTiming(rate, [0.1] * 3, 0.0)


def test_a_preset_that_does_not_compile_under_xla_is_reported(monkeypatch):
    built = []

    def train_model(config, codec, jit, policy):
        built.append((jit, policy))
        return types.SimpleNamespace(jit=jit)

    def time_fit(model, dataset, *, batch, warmup, steps, seconds, epochs, give_up=None):
        if model.jit:
            raise tf.errors.InvalidArgumentError(None, None, "Detected unsupported operations\nx")
        return _fake_timing(90.0 if epochs else 100.0)

    monkeypatch.setattr(bench, "_train_model", train_model)
    monkeypatch.setattr(bench, "time_fit", time_fit)
    lines = []
    row = bench.run_train_benchmark(
        "unet_shapes", mixed_precision="bfloat16", rounds=2, progress=lines.append
    )
    # Progress goes to the caller's function: each figure, then the end of each round.
    assert lines[0].startswith("  unet_shapes: synthetic, XLA off: 100.0 images/s over 3 steps")
    assert lines[-1] == "unet_shapes: round 2 of 2 done" and len(lines) == 6
    assert row.policy == "mixed_bfloat16" and built[0] == (False, "mixed_bfloat16")
    assert row.notes == [
        "XLA: does not compile: InvalidArgumentError: Detected unsupported operations"
    ]
    assert list(row.synthetic) == [False] and len(row.synthetic[False]) == 2
    # The pipeline-fed runs take the setting that works, and the ratio is theirs.
    assert row.pipeline_jit is False and len(row.pipeline) == 2
    assert row.pipeline_ratio == pytest.approx(0.9)
    table = bench.train_table([row])
    cells = [cell.strip() for cell in table[2].strip("|").split("|")]
    assert cells == [
        "unet_shapes", "32", "32", "100.0", "does not compile", "90.0 (XLA off)", "90 %", "0.00"
    ]  # fmt: skip
    assert table[-1] == f"unet_shapes: {row.notes[0]}"


def test_median_of_rounds_and_the_table():
    row = bench.TrainBenchRow("gamut_shapes", 32, 32, "float32")
    row.synthetic = {
        False: [_fake_timing(rate) for rate in (300.0, 100.0, 200.0)],
        True: [_fake_timing(rate) for rate in (50.0, 60.0)],  # lower middle of an even count
    }
    row.pipeline_jit = False
    row.pipeline = [bench.FitTiming(rate, [0.1], load) for rate, load in ((190, 0.5), (210, 0.1))]
    assert row.rate(False) == 200.0 and row.rate(True) == 50.0
    assert row.pipeline_rate == 190 and row.pipeline_ratio == pytest.approx(0.95)
    assert row.others_cpu == 0.5  # the most of any measurement
    header, rule, line = bench.train_table([row])
    assert [cell.strip() for cell in header.strip("|").split("|")][3:] == [
        "synthetic XLA off",
        "synthetic XLA on",
        "pipeline-fed",
        "pipeline / synthetic",
        "others' CPU",
    ]
    assert len(header) == len(rule) == len(line)
    assert [cell.strip() for cell in line.strip("|").split("|")][3:] == [
        "200.0", "50.0", "190.0 (XLA off)", "95 %", "0.50"
    ]  # fmt: skip


@pytest.mark.slow
def test_train_benchmark_measures_a_preset():
    row = bench.run_train_benchmark("unet_mse", steps=2, seconds=0.1, warmup=1, xla="off")
    assert row.notes == [] and list(row.synthetic) == [False]
    assert row.rate(False) > 0 and row.pipeline_rate > 0 and row.pipeline_jit is False
    assert row.pipeline_ratio == pytest.approx(row.pipeline_rate / row.rate(False))
    assert len(row.pipeline[0].step_seconds) >= 2
