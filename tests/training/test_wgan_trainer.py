"""WGAN-GP training (`tfcolor.training.wgan`): the gradient penalty, the training step, gradual
unfreezing. The critic network itself is tested in tests/models/test_critic.py."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfcolor import codecs, color
from tfcolor.config import CodecConfig
from tfcolor.input_pipeline import shapes
from tfcolor.models import UNet
from tfcolor.models.critic import Critic
from tfcolor.training.wgan import (
    GradualUnfreezing,
    WGANTrainer,
    generator_groups,
    gradient_penalty,
)


def test_gradient_penalty_of_a_linear_critic_is_the_weights_norm_minus_one():
    weights = tf.random.stateless_normal([1, 4, 5, 3], seed=[1, 2])

    def linear(images, training=False):
        return tf.reduce_sum(images * weights, axis=[1, 2, 3])

    real = tf.random.stateless_uniform([3, 4, 5, 3], seed=[3, 4])
    fake = tf.random.stateless_uniform([3, 4, 5, 3], seed=[5, 6])
    penalty = gradient_penalty(linear, real, fake, tf.constant([0.0, 0.3, 1.0]))
    expected = (np.linalg.norm(weights.numpy()) - 1.0) ** 2
    np.testing.assert_allclose(float(penalty), expected, rtol=1e-5)


def test_gradient_penalty_is_taken_at_each_images_own_interpolate():
    # D(x) = ||x||^2 / 2 per image: its gradient at x_hat is x_hat itself.
    def quadratic(images, training=False):
        return 0.5 * tf.reduce_sum(tf.square(images), axis=[1, 2, 3])

    rng = np.random.default_rng(0)
    real, fake = rng.random((2, 4, 3, 3, 3), dtype=np.float32)
    mix = np.array([0.1, 0.5, 0.7, 1.0], np.float32)
    x_hat = mix[:, None, None, None] * real + (1 - mix[:, None, None, None]) * fake
    expected = np.mean((np.linalg.norm(x_hat.reshape(4, -1), axis=1) - 1.0) ** 2)
    penalty = gradient_penalty(quadratic, real, fake, mix)
    np.testing.assert_allclose(float(penalty), expected, rtol=1e-5)


@pytest.fixture(scope="module")
def shapes_batches():
    """(lightness, {"colors": gamut target, "ab": true ab}) batches of 8 shapes images."""
    codec = codecs.make_codec(CodecConfig(name="gamut"))
    rgb = tf.image.convert_image_dtype(shapes.shapes_images("train")[:64], tf.float32)
    lightness, ab = color.lightness_and_ab(rgb)
    codec.fit([ab])
    data = tf.data.Dataset.from_tensor_slices(
        (lightness, {"colors": codec.encode(ab), "ab": ab})
    ).batch(8, drop_remainder=True)
    return codec, data


def _trainer(codec, critic_steps=2, unfrozen=None, adversarial_weight=0.01, learning_rate=1e-3):
    keras.utils.set_random_seed(0)
    generator = UNet(filters=(4, 8), head_channels=codec.channels)
    trainer = WGANTrainer(
        generator,
        Critic(filters=(8, 16), border=4),
        codec,
        critic_steps=critic_steps,
        adversarial_weight=adversarial_weight,
        unfrozen=unfrozen,
    )
    trainer.compile(
        keras.optimizers.Adam(learning_rate, beta_1=0.0, beta_2=0.9),
        keras.optimizers.Adam(learning_rate, beta_1=0.0, beta_2=0.9),
    )
    return trainer


def _weights(model):
    return [w.numpy().copy() for w in model.trainable_weights]


def _changed(before, after):
    return [not np.array_equal(b, a) for b, a in zip(before, after, strict=True)]


def test_the_critic_trains_every_step_the_generator_every_critic_steps(shapes_batches):
    codec, data = shapes_batches
    trainer = _trainer(codec, critic_steps=2)
    generator_start, critic_start = _weights(trainer.generator), _weights(trainer.critic)
    history = trainer.fit(data.take(1), epochs=1, verbose=0)
    assert all(_changed(critic_start, _weights(trainer.critic)))
    assert not any(_changed(generator_start, _weights(trainer.generator)))
    assert int(trainer.generator_optimizer.iterations) == 0
    trainer.fit(data.skip(1).take(1), epochs=1, verbose=0)  # the second step: both
    assert int(trainer.generator_optimizer.iterations) == 1
    assert all(_changed(generator_start, _weights(trainer.generator)))
    for name in ("critic_loss", "wasserstein", "gradient_penalty", "generator_loss"):
        assert np.isfinite(history.history[name][-1]), name


def test_frozen_groups_are_left_as_they_are(shapes_batches):
    codec, data = shapes_batches
    trainer = _trainer(codec, critic_steps=1, unfrozen=1)
    groups = generator_groups(trainer.generator)
    assert [group[0].path.split("/")[0] for group in groups][:2] == ["head", "up0_upconv"]
    before = [[v.numpy().copy() for v in group] for group in groups]
    trainer.fit(data.take(2), epochs=1, verbose=0)
    after = [[v.numpy().copy() for v in group] for group in groups]
    assert all(_changed(before[0], after[0]))  # the head
    for group_before, group_after in zip(before[1:], after[1:], strict=True):
        assert not any(_changed(group_before, group_after))


def test_gradual_unfreezing_adds_a_group_per_epoch(shapes_batches):
    codec, data = shapes_batches
    trainer = _trainer(codec, critic_steps=1, unfrozen=0)
    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(int(trainer.unfrozen))

    trainer.fit(data.take(1), epochs=3, verbose=0, callbacks=[GradualUnfreezing(1), Record()])
    assert seen == [1, 2, 3]
    with pytest.raises(ValueError, match="epochs_per_group >= 1"):
        GradualUnfreezing(1, epochs_per_group=0)


def test_the_critic_learns_to_tell_colour_from_gray(shapes_batches):
    """With the generator frozen at its untrained (near-gray) output, the critic's Wasserstein
    estimate must grow: real shapes are saturated colour on black."""
    codec, data = shapes_batches
    trainer = _trainer(codec, critic_steps=1, unfrozen=0, learning_rate=3e-3)
    history = trainer.fit(data.repeat(), steps_per_epoch=8, epochs=5, verbose=0)
    distances = history.history["wasserstein"]
    # Measured: 0.21 in the first epoch, 5.1 in the fifth.
    assert distances[-1] > 1.0 and distances[-1] > 5 * abs(distances[0]), distances
    assert trainer.evaluate(data, return_dict=True, verbose=0)["wasserstein"] > 1.0


def test_trainer_arguments_are_checked(shapes_batches):
    codec, _ = shapes_batches
    generator = UNet(filters=(4, 8), head_channels=codec.channels)
    critic = Critic(filters=(4,), border=0)
    with pytest.raises(ValueError, match="critic_steps must be an integer >= 1. Received: 0"):
        WGANTrainer(generator, critic, codec, critic_steps=0)
    with pytest.raises(ValueError, match="adversarial_weight=-1"):
        WGANTrainer(generator, critic, codec, adversarial_weight=-1)
    with pytest.raises(ValueError, match="unfrozen must be 0 to"):
        WGANTrainer(generator, critic, codec, unfrozen=99)
    # T = 0 (the thesis's decoding) is the argmax: the critic could not move the generator.
    with pytest.raises(ValueError, match=r"no gradient\)\. Received: temperature=0\.0"):
        WGANTrainer(generator, critic, codec, temperature=0.0)


def test_the_generated_ab_has_a_gradient_whatever_the_codec_decodes_by(shapes_batches):
    """The thesis's `interp` decoding is an argmax: the critic's signal must reach the
    generator through the annealed mean instead."""
    _, data = shapes_batches
    codec = codecs.make_codec(CodecConfig(name="grid", n_bins=36, decode="interp"))
    generator = UNet(filters=(4, 8), head_channels=codec.channels)
    trainer = WGANTrainer(generator, Critic(filters=(4,), border=0), codec)
    lightness = next(iter(data))[0]
    with tf.GradientTape() as tape:
        score = tf.reduce_sum(trainer.critic(trainer._fake(lightness, generator(lightness))))
    gradient = tape.gradient(score, generator.get_layer("head").kernel)
    assert gradient is not None and float(tf.reduce_max(tf.abs(gradient))) > 0
