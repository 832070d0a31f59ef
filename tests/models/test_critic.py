"""The WGAN-GP refinement's critic (`tfcolor.models.critic`): its border, its config and
`.keras` round trip, its argument checks, and its Lab input."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfcolor.models.critic import Critic, lab_image


def test_the_critic_ignores_the_border():
    critic = Critic(filters=(8, 16), border=4)
    images = tf.random.stateless_uniform([2, 32, 32, 3], seed=[0, 1])
    score = critic(images).numpy()
    assert score.shape == (2, 1) and score.dtype == np.float32
    border = np.ones((32, 32, 1), np.float32)
    border[4:-4, 4:-4] = 0.0
    changed_border = images + 5.0 * border
    np.testing.assert_allclose(critic(changed_border).numpy(), score, rtol=1e-6)
    changed_centre = images + 5.0 * (1.0 - border)
    assert np.abs(critic(changed_centre).numpy() - score).min() > 1e-4


def test_critic_round_trips_through_config_and_keras_file(tmp_path):
    critic = Critic(filters=(4, 8), border=2, name="critic")
    restored = Critic.from_config(critic.get_config())
    assert restored.get_config() == critic.get_config()
    path = str(tmp_path / "critic.keras")
    critic.save(path)
    loaded = keras.saving.load_model(path)
    images = tf.random.stateless_uniform([1, 16, 16, 3], seed=[2, 3])
    np.testing.assert_allclose(loaded(images), critic(images), rtol=1e-6)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(filters=()), "filters needs at least one"),
        (dict(border=-1), "border must be an integer >= 0. Received: border=-1"),
    ],
)
def test_critic_arguments_are_checked(arguments, message):
    with pytest.raises(ValueError, match=message):
        Critic(**arguments)


def test_lab_image_upsamples_the_ab_of_a_strided_model():
    lightness = tf.fill([1, 8, 8, 1], 0.5)
    ab = tf.constant([[[[0.0, -64.0], [64.0, 0.0]], [[64.0, 0.0], [128.0, 64.0]]]])
    lab = lab_image(lightness, ab).numpy()
    assert lab.shape == (1, 8, 8, 3)
    np.testing.assert_allclose(lab[..., 0], 0.5)
    # Bilinear, half-pixel centres: the outer 2 x 2 pixels of each corner keep that corner's ab,
    # the rows in between blend (a of the top row: 0 at the left, 0.5 at the right, 0.25 midway).
    np.testing.assert_allclose(lab[0, :2, :2, 1:], np.broadcast_to([0.0, -0.5], (2, 2, 2)))
    np.testing.assert_allclose(lab[0, 6:, 6:, 1:], np.broadcast_to([1.0, 0.5], (2, 2, 2)))
    np.testing.assert_allclose(lab[0, 0, :, 1].mean(), 0.25, atol=1e-6)
