"""Colorizer: continuing runs, NaN stops, learning the shapes, config checks."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import small_config
from tfcolor.training.colorizer import Colorizer, TrainingDivergedError


def test_model_dir_holds_the_run(trained_run):
    colorizer, _ = trained_run
    names = set(os.listdir(colorizer.model_dir))
    assert {
        "config.json",
        "codec.json",
        "codec_state.npz",
        "backup",
        "logs",
        "final.weights.h5",
        "best.weights.h5",
        "samples",
        "export",
    } <= names
    with open(os.path.join(colorizer.model_dir, "config.json")) as f:
        assert json.load(f)["preset"] == "unet_shapes"
    assert colorizer.epochs_done == 1
    assert len(os.listdir(os.path.join(colorizer.model_dir, "samples"))) == 4


def test_tensorboard_logs_scalars_and_panel(trained_run):
    colorizer, _ = trained_run
    tags = {}
    for split in ("train", "validation"):
        folder = os.path.join(colorizer.model_dir, "logs", split)
        for name in os.listdir(folder):
            for event in tf.compat.v1.train.summary_iterator(os.path.join(folder, name)):
                for value in event.summary.value:
                    tags.setdefault(split, set()).add(value.tag)
    assert {"epoch_loss", "epoch_bin_accuracy", "epoch_learning_rate", "steps_per_second"} <= tags[
        "train"
    ]
    assert {"epoch_loss", "epoch_bin_accuracy", "gray_predicted_truth"} <= tags["validation"]
    # The image metrics, each beside the gray baseline's.
    for name in ("psnr", "ssim", "auc", "auc_rebalanced", "colorfulness"):
        assert {f"epoch_{name}", f"epoch_gray_{name}"} <= tags["validation"], name


def test_tensorboard_gets_the_runs_hyperparameters(trained_run):
    from tensorboard.plugins.hparams import plugin_data_pb2

    colorizer, _ = trained_run
    folder = os.path.join(colorizer.model_dir, "logs")
    hparams = {}
    for name in os.listdir(folder):
        if not name.startswith("events"):
            continue
        for event in tf.compat.v1.train.summary_iterator(os.path.join(folder, name)):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "hparams":
                    data = plugin_data_pb2.HParamsPluginData.FromString(
                        value.metadata.plugin_data.content
                    )
                    if data.HasField("session_start_info"):
                        hparams = dict(data.session_start_info.hparams)
    assert hparams["codec.name"].string_value == "grid"
    assert hparams["model.filters"].string_value == "8,16,32"
    assert hparams["train.learning_rate"].number_value == pytest.approx(3e-3)


def test_reopening_a_model_dir_restores_the_model(trained_run):
    colorizer, _ = trained_run
    reopened = Colorizer(model_dir=colorizer.model_dir)
    images = np.asarray(
        tf.image.resize(np.random.default_rng(1).integers(0, 255, (2, 32, 32, 3)), (32, 32)),
        np.uint8,
    )
    np.testing.assert_array_equal(reopened.predict(images), colorizer.predict(images))
    np.testing.assert_allclose(
        reopened.codec.get_state()["bin_means"], colorizer.codec.get_state()["bin_means"]
    )


def test_train_again_continues_and_never_restarts(tmp_path):
    colorizer = Colorizer(small_config(epochs=1, steps_per_epoch=5), str(tmp_path))
    first = colorizer.train(verbose=0)
    assert len(first["loss"]) == 1 and colorizer.epochs_done == 1
    again = Colorizer(small_config(epochs=1, steps_per_epoch=5), str(tmp_path))
    assert again.train(verbose=0) == {}  # already trained its epoch: nothing redone
    further = Colorizer(small_config(epochs=3, steps_per_epoch=5), str(tmp_path))
    history = further.train(verbose=0)
    assert len(history["loss"]) == 2 and further.epochs_done == 3


def test_a_different_model_in_the_same_model_dir_is_refused(trained_run):
    colorizer, _ = trained_run
    config = small_config()
    config.model.filters = (4, 8, 16)
    with pytest.raises(ValueError, match="filters"):
        Colorizer(config, colorizer.model_dir)


def test_an_image_model_colorizes_a_video_frame_by_frame(trained_run):
    colorizer, _ = trained_run
    frames = np.random.default_rng(0).integers(0, 256, (7, 20, 24, 3), np.uint8)
    video = colorizer.colorize_video(frames, chunk_frames=3)
    assert video.shape == (7, 20, 24, 3) and video.dtype == np.uint8
    # Each frame on its own: the same as colorizing them as one batch of images.
    np.testing.assert_allclose(video, colorizer.predict(frames), atol=1)
    gray = frames[..., 0]
    np.testing.assert_allclose(
        colorizer.colorize_video(gray), colorizer.predict(gray[..., None]), atol=1
    )
    with pytest.raises(ValueError, match=r"T >= 1. Received: shape=\(0, 20, 24, 3\)"):
        colorizer.colorize_video(frames[:0])


def test_nan_loss_stops_with_a_message(tmp_path):
    colorizer = Colorizer(small_config(epochs=2, steps_per_epoch=5), str(tmp_path))
    colorizer.fit_codec()
    # A diverged head. (NaN inputs are no test of this: TensorFlow's max pooling on CPU turns
    # NaN into -FLT_MAX, and what the next layers make of that depends on op fusions.)
    head = colorizer.model.get_layer("head")
    head.kernel.assign(tf.fill(head.kernel.shape, float("nan")))

    def data():
        lightness = tf.fill([4, 32, 32, 1], 0.5)
        target = tf.zeros([4, 32, 32], tf.int32)
        return tf.data.Dataset.from_tensors((lightness, target)).repeat(5)

    with pytest.raises(TrainingDivergedError, match="NaN or infinite at epoch 1, step 1"):
        colorizer.train(data, validation_fn=lambda: None, verbose=0)


@pytest.mark.slow
def test_unet_learns_the_shapes(tmp_path):
    """The thesis's toy result, in a short run: most shape pixels get their colour bin."""
    config = small_config(epochs=4, steps_per_epoch=None, panel_images=0)
    colorizer = Colorizer(config, str(tmp_path))
    colorizer.train(verbose=0)
    # One pass over the training batches per epoch, though one iterator serves them all.
    assert int(colorizer.model.optimizer.iterations) == 4 * (2664 // 32)
    results = colorizer.evaluate()
    # Predicting the black background everywhere scores 0.76 / 0.0; 4 epochs measured
    # 0.88 / 0.73 (the full 12-epoch default run: see the README).
    assert results["bin_accuracy"] > 0.85, results
    assert results["colored_bin_accuracy"] > 0.6, results


def test_num_examples_gives_the_cosine_schedule_its_length():
    from tfcolor.config import get_preset
    from tfcolor.input_pipeline import num_examples

    data = get_preset("unet_shapes").data
    assert num_examples(data, "train") == 2664
    assert num_examples(data, "validation") == 324


def test_backup_in_the_first_epoch_of_a_resumed_run_keeps_the_epoch(tmp_path):
    """A resumed run killed in its first epoch must not back up "epoch 0"."""
    import keras

    from tfcolor.training.callbacks import Backup

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    data = tf.data.Dataset.from_tensors((tf.zeros([4, 2]), tf.zeros([4, 1]))).repeat(6)
    model.fit(data, epochs=1, callbacks=[Backup(str(tmp_path), save_freq=2)], verbose=0)

    class Kill(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 3:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        model.fit(data, epochs=3, callbacks=[Backup(str(tmp_path), save_freq=2), Kill()], verbose=0)
    with open(tmp_path / "training_metadata.json") as f:
        assert json.load(f)["epoch"] == 1


def test_predict_takes_one_image_in_any_layout(trained_run):
    colorizer, _ = trained_run
    gray = np.random.default_rng(2).integers(0, 255, (20, 30), dtype=np.uint8)
    assert colorizer.predict(gray).shape == (20, 30, 3)
    assert colorizer.predict(gray[..., None]).shape == (20, 30, 3)
    rgba = np.random.default_rng(3).integers(0, 255, (21, 33, 4), dtype=np.uint8)
    assert colorizer.predict(rgba).shape == (21, 33, 3)
    with pytest.raises(ValueError, match="shape=\\(2, 3, 4, 5, 6\\)"):
        colorizer.predict(np.zeros((2, 3, 4, 5, 6), np.uint8))
