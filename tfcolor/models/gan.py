"""WGAN-GP refinement of a pre-trained colorizer (the personal project after Zhang et al. 2016
and Nazeri et al. 2018).

The generator is any tfcolor image model trained first with its codec's loss (Zhang-style:
gamut bins, rebalanced cross-entropy). Fine-tuning then adds a Wasserstein critic (Arjovsky
et al. 2017) with the gradient penalty of Gulrajani et al. 2017:

- `Critic`: a convolutional critic on Lab images (L / 100, ab / 128), blind to the outer
  `border` pixels (16 in the project: the generator's edges, where padding shows, are not
  judged), one score per image. No batch normalization: the gradient penalty is taken per
  image, which batch statistics would couple (Gulrajani et al., section 4).
- `gradient_penalty`: mean over the batch of (||grad_x D(x_hat)||_2 - 1)^2 on random
  interpolates x_hat between real and generated images.
- `WGANTrainer`: the custom training step (a GAN needs one; everything else is Keras' fit,
  callbacks and backups). Every step trains the critic on one batch; every `critic_steps`-th
  step also the generator, on its codec loss plus `adversarial_weight` times -D(G(L)). The
  generated ab is the codec's differentiable decoding (annealed mean for bin codecs),
  upsampled to the input's resolution.
- Gradual unfreezing: the generator's weights are split into groups (`generator_groups`: the
  head and the decoder first, the encoder last); only the first `trainer.unfrozen` groups get
  gradients (a variable, so moving it retraces nothing: `GradualUnfreezing` raises it per
  epoch). A frozen group's batch normalization statistics still follow the data.
"""

from __future__ import annotations

import keras
import tensorflow as tf

__all__ = [
    "Critic",
    "GradualUnfreezing",
    "WGANTrainer",
    "generator_groups",
    "gradient_penalty",
    "lab_image",
]

# ab of 8-bit Lab lies in [-128, 127]: / 128 puts it in about [-1, 1], as L / 100 is in [0, 1].
_AB_SCALE = 128.0


def lab_image(lightness: tf.Tensor, ab: tf.Tensor) -> tf.Tensor:
    """The critic's input: L / 100 [B, H, W, 1] in [0, 1] and ab [B, h, w, 2] -> [B, H, W, 3].

    ab at a lower resolution (a model with an output stride) is bilinearly upsampled to the
    lightness's size, as the colorized image is recombined.
    """
    lightness = tf.cast(lightness, tf.float32)
    ab = tf.cast(ab, tf.float32)
    size = tf.shape(lightness)[1:3]
    if ab.shape[1:3] != lightness.shape[1:3] or None in ab.shape[1:3]:
        ab = tf.image.resize(ab, size, method="bilinear")
    return tf.concat([lightness, ab / _AB_SCALE], axis=-1)


@keras.saving.register_keras_serializable(package="tfcolor")
class Critic(keras.Model):
    """Wasserstein critic: normalized Lab images [B, H, W, 3] -> float32 scores [B, 1].

    Args:
        filters: filters of the strided 4x4 convolutions (each halves the resolution),
            followed by LeakyReLU(0.2); a last 4x4 convolution to one channel, averaged over
            the positions.
        border: pixels ignored on every side (cropped before the first convolution).
        image_shape: spatial shape of the input; (None, None) for any size above 2 * border.

    Raises:
        ValueError: empty or non-positive filters, a negative border.
    """

    def __init__(self, filters=(64, 128, 256), border: int = 16, image_shape=(None, None), **kw):
        filters = tuple(int(f) for f in filters)
        if not filters or min(filters) < 1:
            raise ValueError(f"filters needs at least one positive level. Received: {filters}")
        if int(border) != border or border < 0:
            raise ValueError(f"border must be an integer >= 0. Received: border={border}")
        border = int(border)

        # === Functional Model ===
        lab = keras.Input(shape=(*image_shape, 3), name="lab")
        x = keras.layers.Cropping2D(border, name="critic_crop")(lab) if border else lab
        for level, level_filters in enumerate(filters):
            x = keras.layers.Conv2D(
                level_filters, 4, strides=2, padding="same", name=f"critic_conv{level}"
            )(x)
            x = keras.layers.LeakyReLU(0.2, name=f"critic_relu{level}")(x)
        # No bias: the Wasserstein loss (D(fake) - D(real)) and the penalty cancel a constant.
        x = keras.layers.Conv2D(
            1, 4, padding="same", use_bias=False, dtype="float32", name="critic_score"
        )(x)
        score = keras.layers.GlobalAveragePooling2D(dtype="float32", name="critic_mean")(x)
        super().__init__(inputs=lab, outputs=score, **kw)

        # === Config ===
        self.filters = filters
        self.border = border
        self.image_shape = tuple(image_shape)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "filters": list(self.filters),
            "border": self.border,
            "image_shape": list(self.image_shape),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def gradient_penalty(critic, real: tf.Tensor, fake: tf.Tensor, mix: tf.Tensor) -> tf.Tensor:
    """Gulrajani et al. 2017's penalty: mean over the batch of (||grad D(x_hat)||_2 - 1)^2.

    Args:
        critic: images [B, H, W, C] -> scores [B] (or [B, 1]).
        real, fake: images [B, H, W, C].
        mix: float32 [B] in [0, 1]: x_hat = mix * real + (1 - mix) * fake per image.

    Returns:
        float32 scalar.
    """
    mix = tf.reshape(tf.cast(mix, tf.float32), [-1, 1, 1, 1])
    interpolates = mix * tf.cast(real, tf.float32) + (1.0 - mix) * tf.cast(fake, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(interpolates)
        scores = tf.reduce_sum(tf.cast(critic(interpolates, training=True), tf.float32))
    # The sum of independent per-image scores: its gradient per image is that image's own.
    gradients = tape.gradient(scores, interpolates)
    norms = tf.sqrt(tf.reduce_sum(tf.square(gradients), axis=[1, 2, 3]) + 1e-12)
    return tf.reduce_mean(tf.square(norms - 1.0))


def generator_groups(generator: keras.Model) -> list[list[tf.Variable]]:
    """The generator's trainable weights in unfreezing order: from the output back to the input.

    Layers are grouped by their name's prefix (`head`, `up0`, `up1`, ..., `bottleneck`,
    `fusion`, `down1`, `down0`: tfcolor's fixed layer names), each group the layers of one
    prefix, ordered by where their first layer sits in the model, last first.
    """
    groups: dict[str, list[tf.Variable]] = {}
    for layer in generator.layers:
        if layer.trainable_weights:
            groups.setdefault(layer.name.split("_")[0], []).extend(layer.trainable_weights)
    return list(reversed(list(groups.values())))


class WGANTrainer(keras.Model):
    """A generator and a critic trained by WGAN-GP, for `fit` (see the module docstring).

    Batches are `(lightness, {"colors": codec target, "ab": true ab [B, H, W, 2]})`:
    lightness L / 100 [B, H, W, 1], the codec's target at the generator's output size, and
    the image's own ab at full resolution for the critic's real images.

    Args:
        generator: a tfcolor image model (lightness -> codec outputs).
        critic: a `Critic`.
        codec: the generator's `tfcolor.codecs.Codec` (its loss and differentiable decoding).
        critic_steps: critic updates per generator update (Gulrajani et al.: 5).
        gradient_penalty_weight: lambda of the penalty (Gulrajani et al.: 10).
        adversarial_weight: weight of -D(G(L)) beside the codec loss in the generator's loss.
        temperature: the decoding temperature of the generated ab (bin codecs' annealed mean;
            Zhang et al.: 0.38); at least `codecs.ANNEALED_MEAN_MIN_TEMPERATURE`, below which
            the annealed mean is the argmax and passes no gradient.
        unfrozen: generator groups (`generator_groups`) trained from the start; None: all.
        seed: of the gradient penalty's interpolation weights.

    Raises:
        ValueError: critic_steps below 1, a negative weight, a temperature below the annealed
            mean's least, unfrozen out of range.
    """

    def __init__(
        self,
        generator: keras.Model,
        critic: keras.Model,
        codec,
        critic_steps: int = 5,
        gradient_penalty_weight: float = 10.0,
        adversarial_weight: float = 0.01,
        temperature: float = 0.38,
        unfrozen: int | None = None,
        seed: int = 0,
    ):
        super().__init__(name="wgan_trainer")
        if int(critic_steps) != critic_steps or critic_steps < 1:
            raise ValueError(f"critic_steps must be an integer >= 1. Received: {critic_steps}")
        from tfcolor.codecs import ANNEALED_MEAN_MIN_TEMPERATURE

        if not temperature >= ANNEALED_MEAN_MIN_TEMPERATURE:
            # Below it the annealed mean is the argmax bin's colour: no gradient would reach
            # the generator from the critic.
            raise ValueError(
                f"temperature must be >= {ANNEALED_MEAN_MIN_TEMPERATURE} (lower decodes by "
                f"argmax, which has no gradient). Received: temperature={temperature}"
            )
        if gradient_penalty_weight < 0 or adversarial_weight < 0:
            raise ValueError(
                "the loss weights must be >= 0. Received: "
                f"gradient_penalty_weight={gradient_penalty_weight}, "
                f"adversarial_weight={adversarial_weight}"
            )
        self.generator = generator
        self.critic = critic
        self.codec = codec
        self.critic_steps = int(critic_steps)
        self.gradient_penalty_weight = float(gradient_penalty_weight)
        self.adversarial_weight = float(adversarial_weight)
        self.temperature = float(temperature)
        self.groups = generator_groups(generator)
        if unfrozen is None:
            unfrozen = len(self.groups)
        if not 0 <= unfrozen <= len(self.groups):
            raise ValueError(
                f"unfrozen must be 0 to {len(self.groups)} (the generator's groups). "
                f"Received: unfrozen={unfrozen}"
            )
        self.unfrozen = tf.Variable(int(unfrozen), trainable=False, name="unfrozen")
        self._seed = tf.random.Generator.from_seed(seed)
        self._trackers = {
            name: keras.metrics.Mean(name=name)
            for name in (
                "critic_loss",
                "wasserstein",
                "gradient_penalty",
                "generator_loss",
                "color_loss",
            )
        }
        self.built = True

    @property
    def metrics(self):
        return list(self._trackers.values())

    def compile(self, generator_optimizer, critic_optimizer, **kwargs):
        """Two optimizers, one per network (WGAN-GP: Adam, lr 1e-4, beta_1 0, beta_2 0.9)."""
        super().compile(**kwargs)
        self.generator_optimizer = generator_optimizer
        self.critic_optimizer = critic_optimizer
        # Built now: their variables must exist before a traced step applies them in a branch.
        generator_optimizer.build(self.generator.trainable_variables)
        critic_optimizer.build(self.critic.trainable_variables)

    def call(self, lightness, training=False):
        """The generator's output: codec outputs for L / 100 [B, H, W, 1]."""
        return self.generator(lightness, training=training)

    def _fake(self, lightness, outputs):
        # The annealed mean whatever the codec's own decoding: the thesis's argmax decoding
        # (`interp`) has no gradient. (Regression codecs ignore the method.)
        ab = self.codec.decode(outputs, temperature=self.temperature, method="annealed_mean")
        return lab_image(lightness, ab)

    def _critic_step(self, lightness, true_ab):
        batch = tf.shape(lightness)[0]
        real = lab_image(lightness, true_ab)
        fake = tf.stop_gradient(self._fake(lightness, self.generator(lightness, training=True)))
        with tf.GradientTape() as tape:
            real_score = tf.reduce_mean(self.critic(real, training=True))
            fake_score = tf.reduce_mean(self.critic(fake, training=True))
            penalty = gradient_penalty(self.critic, real, fake, self._seed.uniform([batch]))
            loss = fake_score - real_score + self.gradient_penalty_weight * penalty
        variables = self.critic.trainable_variables
        gradients = tape.gradient(loss, variables)
        self.critic_optimizer.apply_gradients(zip(gradients, variables, strict=True))
        self._trackers["critic_loss"].update_state(loss)
        self._trackers["wasserstein"].update_state(real_score - fake_score)
        self._trackers["gradient_penalty"].update_state(penalty)

    def _generator_step(self, lightness, target):
        with tf.GradientTape() as tape:
            outputs = self.generator(lightness, training=True)
            color_loss = tf.reduce_mean(self.codec.loss(target, outputs))
            adversarial = -tf.reduce_mean(self.critic(self._fake(lightness, outputs)))
            loss = color_loss + self.adversarial_weight * adversarial
            # A LossScaleOptimizer's scale (a float16 generator), else the loss unchanged; its
            # apply_gradients unscales.
            scaled = self.generator_optimizer.scale_loss(loss)
        variables = [v for group in self.groups for v in group]
        gradients = tape.gradient(scaled, variables)
        # A frozen group's gradients are zeroed (Adam then leaves it as it is).
        keep = [index < self.unfrozen for index, group in enumerate(self.groups) for _ in group]
        masked = [
            None if gradient is None else gradient * tf.cast(kept, gradient.dtype)
            for gradient, kept in zip(gradients, keep, strict=True)
        ]
        self.generator_optimizer.apply_gradients(zip(masked, variables, strict=True))
        self._trackers["generator_loss"].update_state(loss)
        self._trackers["color_loss"].update_state(color_loss)

    def train_step(self, data):
        lightness, targets = data[0], data[1]
        self._critic_step(lightness, targets["ab"])
        step = self.critic_optimizer.iterations

        def generator_step():
            self._generator_step(lightness, targets["colors"])
            return tf.constant(True)

        tf.cond(step % self.critic_steps == 0, generator_step, lambda: tf.constant(False))
        return {name: tracker.result() for name, tracker in self._trackers.items()}

    def test_step(self, data):
        lightness, targets = data[0], data[1]
        outputs = self.generator(lightness, training=False)
        real = lab_image(lightness, targets["ab"])
        fake = self._fake(lightness, outputs)
        self._trackers["wasserstein"].update_state(
            tf.reduce_mean(self.critic(real)) - tf.reduce_mean(self.critic(fake))
        )
        self._trackers["color_loss"].update_state(
            tf.reduce_mean(self.codec.loss(targets["colors"], outputs))
        )
        return {name: self._trackers[name].result() for name in ("wasserstein", "color_loss")}


class GradualUnfreezing(keras.callbacks.Callback):
    """Unfreezes one more generator group every `epochs_per_group` epochs.

    Args:
        start: groups unfrozen in the first epoch (1: the head).
        epochs_per_group: epochs between two unfreezings.
    """

    def __init__(self, start: int = 1, epochs_per_group: int = 1):
        super().__init__()
        if start < 0 or epochs_per_group < 1:
            raise ValueError(
                "start must be >= 0 and epochs_per_group >= 1. "
                f"Received: start={start}, epochs_per_group={epochs_per_group}"
            )
        self.start = int(start)
        self.epochs_per_group = int(epochs_per_group)

    def on_epoch_begin(self, epoch, logs=None):
        groups = len(self.model.groups)
        self.model.unfrozen.assign(min(groups, self.start + epoch // self.epochs_per_group))
