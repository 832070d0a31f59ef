"""The GAN system's second stage: WGAN-GP refinement of a trained colorizer (`refine`), after
Zhang et al. 2016 and Nazeri et al. 2018.

A run trained with its codec's loss (Zhang-style: `unet_gamut`, gamut bins and rebalanced
cross-entropy) is fine-tuned against a Wasserstein critic (Arjovsky et al. 2017,
`tfcolor.models.critic.Critic`) with the gradient penalty of Gulrajani et al. 2017: the critic,
blind to the outer `critic_border` pixels, learns to tell the training images' own colours
from the generator's; the generator keeps its codec loss and adds `adversarial_weight` times
-D(G(L)), with its layer groups unfrozen one by one from the head back to the encoder.

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

The refined run is a tfcolor run directory of its own (its files: `training.run_dir`), which
`Colorizer(None, output_dir)` opens to predict, evaluate and export like any other: the
trained run's config and codec (its statistics kept), the refined generator as its final
weights, the critic's settings and weights, the refinement's settings and the run it started
from, and the resume backup of the whole WGAN (generator, critic, both optimizers, epoch),
every `backup_every_steps` steps and epoch, in a folder of its own (`refine_backup/`, not
`backup/`, which `Colorizer` reads as the generator's): calling `refine` again with the same
output_dir continues, also after a kill, up to `epochs` in total, as `Colorizer.train` does.
TensorBoard gets critic_loss, wasserstein, gradient_penalty, generator_loss, color_loss,
unfrozen_groups, throughput and the image panels.

The refinement runs on one device (no distribution strategy has been tried with its
two-optimizer step), with the run's mixed precision policy or `mixed_precision`'s.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence

import keras
import tensorflow as tf
from absl import logging

from tfcolor.codecs import ANNEALED_MEAN_MIN_TEMPERATURE
from tfcolor.config import RefinementConfig
from tfcolor.models.critic import Critic, lab_image
from tfcolor.training import callbacks as callbacks_lib
from tfcolor.training import compile as compile_lib
from tfcolor.training import run_dir
from tfcolor.training.colorizer import Colorizer

__all__ = [
    "GradualUnfreezing",
    "RefinementConfig",
    "WGANTrainer",
    "generator_groups",
    "gradient_penalty",
    "refine",
]


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


def refine(
    model_dir: str,
    output_dir: str,
    settings: RefinementConfig | None = None,
    *,
    data_source: str | None = None,
    verbose: int | str = "auto",
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> dict[str, list[float]]:
    """Fine-tunes the colorizer trained in `model_dir` with WGAN-GP into `output_dir`.

    Args:
        model_dir: a trained tfcolor image run: its config, codec and weights are read;
            nothing there is written.
        output_dir: the refined run; an existing one continues (its own generator, critic and
            backup), up to `settings.epochs` in total.
        settings: the refinement's settings (default `RefinementConfig()`).
        data_source: training source in place of the run's (`shapes`, `folder:DIR`,
            `tfds:NAME[:SPLIT]`); the image size, batch size and augmentation stay the run's.
        verbose: Keras' progress bar setting.
        callbacks: Keras callbacks called after the refinement's own.

    Returns:
        The Keras history of this call (metric name -> per-epoch values); {} when the
        refinement had already run its epochs.

    Raises:
        FileNotFoundError: model_dir holds no tfcolor run, or no trained weights.
        ValueError: a model that cannot be refined (a recurrent video model, a classification
            head), a bad setting, model_dir and output_dir the same, or an output_dir that
            holds another run or another critic.
    """
    settings = settings or RefinementConfig()
    trained, out = run_dir.RunDir(model_dir), run_dir.RunDir(output_dir)
    model_dir, output_dir = trained.path, out.path
    if model_dir == output_dir:
        raise ValueError(f"the refined run needs a directory of its own. Received: {output_dir}")
    saved = run_dir.read_config(model_dir)
    if saved is None:
        raise FileNotFoundError(f"{model_dir} holds no tfcolor run (no {run_dir.CONFIG})")
    if not any(
        os.path.exists(path)
        for path in (trained.final_weights, os.path.join(trained.backup, run_dir.BACKUP_WEIGHTS))
    ):
        raise FileNotFoundError(
            f"{model_dir} holds no trained weights (no {run_dir.FINAL_WEIGHTS})"
        )
    if saved.model.name == "convlstm":
        raise ValueError(f"{model_dir} holds a recurrent video model; refinement takes images")
    if saved.model.classify:
        raise ValueError(
            f"{model_dir} has a classification head; refinement trains the colour output only"
        )
    one_device = tf.distribute.get_strategy()
    source = Colorizer(None, model_dir, strategy=one_device)
    config = source.config
    if data_source is not None:
        config.data.source = data_source
    if settings.mixed_precision is not None:
        config.train.mixed_precision = settings.mixed_precision
    config.validate()
    settings.validate(config.data.image_size)
    # Resolved once, so refinement.json says which temperature the critic judged at.
    settings = dataclasses.replace(settings, temperature=_temperature(config.codec, settings))

    if not run_dir.is_run(output_dir):
        # The codec's fitted statistics first: the refined Colorizer reads them.
        source.codec.save(output_dir)
    refined = Colorizer(config, output_dir, strategy=one_device)
    if not os.path.exists(out.final_weights):
        refined.model.set_weights(source.model.get_weights())
    del source
    generator, codec = refined.model, refined.codec

    critic = _critic(output_dir, settings, config.data.image_size)
    trainer = WGANTrainer(
        generator,
        critic,
        codec,
        critic_steps=settings.critic_steps,
        gradient_penalty_weight=settings.gradient_penalty,
        adversarial_weight=settings.adversarial_weight,
        temperature=settings.temperature,
        unfrozen=min(settings.unfreeze_start, len(generator_groups(generator))),
        seed=settings.seed,
    )
    generator_optimizer = keras.optimizers.Adam(settings.learning_rate, beta_1=0.0, beta_2=0.9)
    if refined.dtype_policy == "mixed_float16":
        # float16 gradients of the generator underflow without it (Keras' compile adds it to
        # a float16 model's optimizer; the WGAN's own step scales the loss itself). The
        # critic stays float32.
        generator_optimizer = keras.optimizers.LossScaleOptimizer(generator_optimizer)
    trainer.compile(
        generator_optimizer,
        keras.optimizers.Adam(settings.critic_learning_rate, beta_1=0.0, beta_2=0.9),
        # No optimizer of its own (Keras' default would be an unused RMSprop whose variables
        # the backup would carry).
        optimizer=keras.optimizers.SGD(0.0),
    )
    trainer.optimizer.build([])
    run_dir.write_json(
        out.join(run_dir.REFINEMENT_SETTINGS),
        {"model_dir": model_dir, **dataclasses.asdict(settings)},
        indent=2,
    )

    backup_dir = out.join(run_dir.REFINE_BACKUP_DIR)
    done = run_dir.epochs_done(backup_dir)
    if done >= settings.epochs:
        logging.info("%s has already refined %d of %d epochs", output_dir, done, settings.epochs)
        return {}
    # The refined run's own pipeline, with the true ab, repeated as `Colorizer.train` does.
    dataset, steps_per_epoch = refined.repeat_epochs(
        refined.input_fn(training=True, true_ab=True)(), settings.steps_per_epoch
    )
    validation = None
    if settings.validation_steps != 0:
        validation = refined.input_fn(training=False, true_ab=True)()
    run_callbacks = [
        callbacks_lib.Backup(backup_dir, settings.backup_every_steps),
        GradualUnfreezing(settings.unfreeze_start, settings.unfreeze_every),
        _LogUnfrozen(),
        # Throughput, hyperparameters, the validation image metrics, TensorBoard and the image
        # panel, as in `Colorizer.train`: `refined.model` is the generator being refined.
        *refined.logging_callbacks(validation is not None),
    ]
    logging.info(
        "refining %s into %s, epoch %d to %d", model_dir, output_dir, done, settings.epochs
    )
    history = trainer.fit(
        dataset,
        validation_data=validation,
        validation_steps=settings.validation_steps,
        epochs=settings.epochs,
        initial_epoch=done,
        steps_per_epoch=steps_per_epoch,
        callbacks=[*run_callbacks, *callbacks],
        verbose=verbose,
        shuffle=False,  # the input pipeline shuffles
    )
    # Renamed into place whole: a kill while they are written leaves the previous ones.
    run_dir.save_weights(generator, out.final_weights)
    run_dir.save_weights(critic, out.join(run_dir.CRITIC_WEIGHTS))
    return dict(history.history)


# Zhang et al.'s annealed-mean temperature, for runs that decode otherwise.
DEFAULT_TEMPERATURE = 0.38


def _temperature(codec_config, settings: RefinementConfig) -> float:
    """The generated ab's decoding temperature (`RefinementConfig.temperature`)."""
    if settings.temperature is not None:
        return settings.temperature
    own = codec_config.temperature
    if codec_config.decode == "annealed_mean" and own >= ANNEALED_MEAN_MIN_TEMPERATURE:
        return own
    return DEFAULT_TEMPERATURE


def _critic(output_dir: str, settings: RefinementConfig, image_size: int) -> Critic:
    """The critic of the settings, or the one output_dir already holds (same settings)."""
    config = {
        "filters": list(settings.critic_filters),
        "border": settings.critic_border,
        "image_shape": [image_size, image_size],
    }
    path = os.path.join(output_dir, run_dir.CRITIC_CONFIG)
    if os.path.exists(path):
        with open(path) as f:
            saved = json.load(f)
        if saved != config:
            raise ValueError(
                f"{output_dir} holds a critic with {saved}; the settings ask for {config}. "
                "Use a new output directory, or the same critic settings."
            )
    run_dir.write_json(path, config)
    # float32 whatever the global policy: the gradient penalty's norms and the Wasserstein
    # estimate are small differences of scores.
    with compile_lib.policy_scope("float32"):
        critic = Critic(name="critic", **config)
    weights = os.path.join(output_dir, run_dir.CRITIC_WEIGHTS)
    if os.path.exists(weights):
        critic.load_weights(weights)
    return critic


class _LogUnfrozen(keras.callbacks.Callback):
    """Adds the number of trained generator groups to the epoch's logs (for TensorBoard)."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["unfrozen_groups"] = int(self.model.unfrozen)
