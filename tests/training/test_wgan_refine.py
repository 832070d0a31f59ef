"""WGAN-GP refinement of a trained run (`tfcolor.refinement.refine`, `python -m tfcolor.refine`).

One tiny gamut-bin U-Net is trained on shapes and refined once for the whole module; the
tests read that refined run, and the resume test continues a copy of it."""

from __future__ import annotations

import json
import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import run_python, smoke_preset
from tfcolor.input_pipeline import shapes

EPOCHS = 3
STEPS = 6
CRITIC_STEPS = 2


def _settings(**overrides):
    from tfcolor.training.wgan import RefinementConfig

    values = dict(
        epochs=EPOCHS,
        steps_per_epoch=STEPS,
        critic_steps=CRITIC_STEPS,
        critic_border=4,
        critic_filters=(8, 16),
        learning_rate=1e-3,
        critic_learning_rate=3e-3,
        unfreeze_start=1,
        unfreeze_every=2,  # epochs 0, 1: the head; epoch 2: the head and the bottleneck
        validation_steps=1,
    )
    values.update(overrides)
    return RefinementConfig(**values)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(trained run dir, refined run dir, the refinement's history)."""
    from tfcolor.training.colorizer import Colorizer
    from tfcolor.training.wgan import refine

    root = tmp_path_factory.mktemp("refine")
    config = smoke_preset("unet_gamut", steps_per_epoch=10)
    config.model.filters = (8, 16)
    config.model.output_stride = 2  # the critic sees ab upsampled, as from unet_gamut's 1/4
    config.data.batch_size = 8
    trained = str(root / "trained")
    Colorizer(config, trained).train(verbose=0)
    refined = str(root / "refined")
    history = refine(trained, refined, _settings(), verbose=0)
    return trained, refined, history


def test_the_critic_learns_and_every_loss_is_logged(runs):
    _, refined, history = runs
    distances = history["wasserstein"]
    assert len(distances) == EPOCHS
    # The critic's estimate of the Wasserstein distance between the real and the generated
    # colours grows as it learns to tell them apart.
    # Measured: 0.01, 0.29, 0.79 (validation: 0.11, 0.64, 1.61).
    assert distances == sorted(distances) and distances[-1] > distances[0] + 0.3, distances
    assert history["val_wasserstein"][-1] > 0.3
    for name in ("critic_loss", "gradient_penalty", "generator_loss", "color_loss"):
        assert len(history[name]) == EPOCHS and np.all(np.isfinite(history[name])), name
    assert history["unfrozen_groups"] == [1, 1, 2]
    assert "val_wasserstein" in history
    # TensorBoard has them.
    logged = set()
    for directory, _, files in os.walk(os.path.join(refined, "logs", "train")):
        for name in files:
            for event in tf.compat.v1.train.summary_iterator(os.path.join(directory, name)):
                logged.update(value.tag for value in event.summary.value)
    for name in ("critic_loss", "wasserstein", "gradient_penalty", "color_loss"):
        assert f"epoch_{name}" in logged, logged


def test_only_the_unfrozen_groups_changed(runs):
    from tfcolor.training.colorizer import Colorizer
    from tfcolor.training.wgan import generator_groups

    trained, refined, _ = runs
    before = generator_groups(Colorizer(None, trained).model)
    after = generator_groups(Colorizer(None, refined).model)
    names = [group[0].path.split("/")[0].split("_")[0] for group in after]
    # Output stride 2: the two-level U-Net's up-level is the head's input, not a group.
    assert names == ["head", "bottleneck", "down0"]
    changed = [
        [not np.array_equal(old.numpy(), new.numpy()) for old, new in zip(a, b, strict=True)]
        for a, b in zip(before, after, strict=True)
    ]
    # Unfrozen by the last epoch: the head and the bottleneck, every one of their weights moved.
    assert all(changed[0]) and all(changed[1])
    assert not any(changed[2])


def test_the_refined_run_opens_exports_and_serves_as_it_predicts(runs, tmp_path):
    from tfcolor.training.colorizer import Colorizer

    trained, refined, _ = runs
    with open(os.path.join(refined, "refinement.json")) as f:
        recorded = json.load(f)
    # The temperature the critic judged at, resolved (unet_gamut's annealed mean: 0.38).
    assert recorded["model_dir"] == trained and recorded["temperature"] == 0.38
    for name in ("config.json", "codec.json", "codec_state.npz", "final.weights.h5"):
        assert os.path.exists(os.path.join(refined, name)), name
    for name in ("critic.json", "critic.weights.h5", "refinement.json"):
        assert os.path.exists(os.path.join(refined, name)), name
    colorizer = Colorizer(None, refined)
    assert colorizer.codec.fitted  # the trained run's statistics
    images = shapes.shapes_images("validation")[:4]
    predicted = colorizer.predict(images)
    assert predicted.shape == (4, 32, 32, 3) and predicted.dtype == np.uint8
    export = colorizer.export_saved_model(str(tmp_path / "export"))
    served = tf.saved_model.load(export).signatures["colorize_images"](images=tf.constant(images))
    np.testing.assert_allclose(served["colorized"].numpy(), predicted, atol=1)


def test_a_killed_refinement_resumes_from_its_backup(runs, tmp_path):
    from tfcolor.training.wgan import refine

    trained, refined, _ = runs
    copy = str(tmp_path / "refined")
    shutil.copytree(refined, copy)

    class Kill(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:  # after the backup of the epoch's second step
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        refine(
            trained, copy, _settings(epochs=5, backup_every_steps=2), verbose=0, callbacks=[Kill()]
        )

    started = {}

    class Record(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            started["critic_steps"] = int(self.model.critic_optimizer.iterations)

        def on_epoch_begin(self, epoch, logs=None):
            started.setdefault("epochs", []).append(epoch)

    history = refine(trained, copy, _settings(epochs=5), verbose=0, callbacks=[Record()])
    # The epoch killed is run again from its backup, the two critic steps it had done kept.
    assert started == {"critic_steps": EPOCHS * STEPS + 2, "epochs": [3, 4]}
    assert history["unfrozen_groups"] == [2, 3]
    with open(os.path.join(copy, "refine_backup", "training_metadata.json")) as f:
        assert json.load(f)["epoch"] == 5
    assert refine(trained, copy, _settings(epochs=5), verbose=0) == {}  # done


def test_a_run_without_weights_or_a_bad_setting_is_refused(runs, tmp_path):
    from tfcolor.training.wgan import refine

    trained, _, _ = runs
    empty = tmp_path / "untrained"
    empty.mkdir()
    shutil.copy(os.path.join(trained, "config.json"), empty)
    with pytest.raises(FileNotFoundError, match="no trained weights"):
        refine(str(empty), str(tmp_path / "out"), _settings())
    with pytest.raises(ValueError, match="critic_border=16"):
        refine(trained, str(tmp_path / "out"), _settings(critic_border=16))
    with pytest.raises(ValueError, match="a directory of its own"):
        refine(trained, trained, _settings())


def test_cli_help_explains_the_stage():
    result = run_python(["-m", "tfcolor.refine", "--help"])
    assert result.returncode == 0
    for text in ("WGAN-GP", "--model-dir", "--critic-steps", "--unfreeze-every", "continues"):
        assert text in result.stdout, text


def test_cli_bad_model_dir_gives_one_line(tmp_path):
    missing = tmp_path / "no_run"
    result = run_python(
        ["-m", "tfcolor.refine", "--model-dir", str(missing), "--output-dir", str(tmp_path / "o")]
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"--model-dir {missing}: no tfcolor run" in result.stderr.strip().splitlines()[-1]


def test_the_critic_judges_an_annealed_mean_whatever_the_run_decodes_by():
    from tfcolor.config import CodecConfig
    from tfcolor.training.wgan import _temperature

    # The thesis's grid run decodes by argmax (interp, T = 0): Zhang et al.'s 0.38 instead.
    thesis = CodecConfig(name="grid", decode="interp", temperature=0.0)
    assert _temperature(thesis, _settings()) == 0.38
    assert _temperature(CodecConfig(decode="annealed_mean", temperature=0.0), _settings()) == 0.38
    # A run decoding by annealed mean keeps its own; an explicit setting wins.
    zhang = CodecConfig(name="gamut", decode="annealed_mean", temperature=0.2)
    assert _temperature(zhang, _settings()) == 0.2
    assert _temperature(thesis, _settings(temperature=0.5)) == 0.5


def test_a_float16_refinement_scales_the_generators_loss(runs, tmp_path):
    from tfcolor.training.colorizer import Colorizer
    from tfcolor.training.wgan import generator_groups, refine

    trained, _, _ = runs
    seen = {}

    class Inspect(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            seen["optimizer"] = self.model.generator_optimizer
            seen["dtypes"] = (self.model.generator.compute_dtype, self.model.critic.compute_dtype)

    output = str(tmp_path / "float16")
    settings = _settings(epochs=1, mixed_precision="float16")
    history = refine(trained, output, settings, verbose=0, callbacks=[Inspect()])
    # Keras' dynamic loss scaling around the generator's Adam; the critic stays float32.
    optimizer = seen["optimizer"]
    assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    assert seen["dtypes"] == ("float16", "float32")
    # Generator steps every CRITIC_STEPS-th batch, none of them skipped as non-finite.
    assert int(optimizer.iterations) == STEPS // CRITIC_STEPS
    for name in ("critic_loss", "wasserstein", "generator_loss", "color_loss"):
        assert np.all(np.isfinite(history[name])), name
    reopened = Colorizer(None, output)
    assert reopened.dtype_policy == "mixed_float16"
    head = generator_groups(reopened.model)[0]
    original = generator_groups(Colorizer(None, trained).model)[0]
    moved = [not np.array_equal(a.numpy(), b.numpy()) for a, b in zip(head, original, strict=True)]
    assert any(moved)
