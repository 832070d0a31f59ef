"""The GAN system's second stage: WGAN-GP refinement of a trained colorizer (`refine`).

A run trained with its codec's loss (Zhang-style: `unet_gamut`, gamut bins and rebalanced
cross-entropy) is fine-tuned against a Wasserstein critic (`tfcolor.models.gan`): the critic,
blind to the outer `critic_border` pixels, learns to tell the training images' own colours
from the generator's; the generator keeps its codec loss and adds `adversarial_weight` times
-D(G(L)), with its layer groups unfrozen one by one from the head back to the encoder.

The refined run is a tfcolor run directory of its own, which `Colorizer(None, output_dir)`
opens to predict, evaluate and export like any other:

    config.json, codec.json, codec_state.npz   the trained run's (the codec's statistics kept)
    final.weights.h5        the refined generator, at the end of the last `refine` call
    critic.json, critic.weights.h5             the critic's settings and weights
    refinement.json         the refinement's settings and the run it started from
    refine_backup/          the resume backup of the whole WGAN (generator, critic, both
                            optimizers, epoch), every `backup_every_steps` steps and epoch
    logs/train, logs/validation   TensorBoard: critic_loss, wasserstein, gradient_penalty,
                            generator_loss, color_loss, unfrozen_groups, throughput, panels

The resume backup has a folder of its own (not `backup/`, which `Colorizer` reads as the
generator's): calling `refine` again with the same output_dir continues, also after a kill,
up to `epochs` in total, as `Colorizer.train` does.

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

from tfcolor.config import RefinementConfig
from tfcolor.models.gan import Critic, GradualUnfreezing, WGANTrainer, generator_groups
from tfcolor.training import callbacks as callbacks_lib
from tfcolor.training import precision

__all__ = ["RefinementConfig", "refine"]

BACKUP_DIR = "refine_backup"
CRITIC_CONFIG = "critic.json"
CRITIC_WEIGHTS = "critic.weights.h5"
SETTINGS = "refinement.json"


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
    from tfcolor.training.colorizer import Colorizer, backup_epochs_done

    settings = settings or RefinementConfig()
    model_dir, output_dir = os.path.abspath(model_dir), os.path.abspath(output_dir)
    if model_dir == output_dir:
        raise ValueError(f"the refined run needs a directory of its own. Received: {output_dir}")
    if not os.path.exists(os.path.join(model_dir, "config.json")):
        raise FileNotFoundError(f"{model_dir} holds no tfcolor run (no config.json)")
    if not any(
        os.path.exists(os.path.join(model_dir, *name))
        for name in (("final.weights.h5",), ("backup", "latest.weights.h5"))
    ):
        raise FileNotFoundError(f"{model_dir} holds no trained weights (no final.weights.h5)")
    one_device = tf.distribute.get_strategy()
    source = Colorizer(None, model_dir, strategy=one_device)
    config = source.config
    if config.model.name == "convlstm":
        raise ValueError(f"{model_dir} holds a recurrent video model; refinement takes images")
    if config.model.classify:
        raise ValueError(
            f"{model_dir} has a classification head; refinement trains the colour output only"
        )
    if data_source is not None:
        config.data.source = data_source
    if settings.mixed_precision is not None:
        config.train.mixed_precision = settings.mixed_precision
    config.validate()
    settings.validate(config.data.image_size)
    # Resolved once, so refinement.json says which temperature the critic judged at.
    settings = dataclasses.replace(settings, temperature=_temperature(config.codec, settings))

    fresh = not os.path.exists(os.path.join(output_dir, "config.json"))
    if fresh:
        # The codec's fitted statistics first: the refined Colorizer reads them.
        source.codec.save(output_dir)
    refined = Colorizer(config, output_dir, strategy=one_device)
    if not os.path.exists(os.path.join(output_dir, "final.weights.h5")):
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
    with open(os.path.join(output_dir, SETTINGS), "w") as f:
        json.dump({"model_dir": model_dir, **dataclasses.asdict(settings)}, f, indent=2)

    done = backup_epochs_done(os.path.join(output_dir, BACKUP_DIR))
    if done >= settings.epochs:
        logging.info("%s has already refined %d of %d epochs", output_dir, done, settings.epochs)
        return {}
    # The refined run's own pipeline, with the true ab, repeated as `Colorizer.train` does.
    dataset, steps_per_epoch = refined._own_epochs(
        refined._input_fn(training=True, true_ab=True)(), settings.steps_per_epoch
    )
    validation = None
    if settings.validation_steps != 0:
        validation = refined._input_fn(training=False, true_ab=True)()
    run_callbacks = [
        callbacks_lib.Backup(os.path.join(output_dir, BACKUP_DIR), settings.backup_every_steps),
        GradualUnfreezing(settings.unfreeze_start, settings.unfreeze_every),
        _LogUnfrozen(),
        # Throughput, hyperparameters, the validation image metrics, TensorBoard and the image
        # panel, as in `Colorizer.train`: `refined.model` is the generator being refined.
        *refined._chief_callbacks(validation is not None),
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
    callbacks_lib.save_weights(generator, os.path.join(output_dir, "final.weights.h5"))
    callbacks_lib.save_weights(critic, os.path.join(output_dir, CRITIC_WEIGHTS))
    return dict(history.history)


# Zhang et al.'s annealed-mean temperature, for runs that decode otherwise.
DEFAULT_TEMPERATURE = 0.38


def _temperature(codec_config, settings: RefinementConfig) -> float:
    """The generated ab's decoding temperature (`RefinementConfig.temperature`)."""
    from tfcolor.codecs import ANNEALED_MEAN_MIN_TEMPERATURE

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
    path = os.path.join(output_dir, CRITIC_CONFIG)
    if os.path.exists(path):
        with open(path) as f:
            saved = json.load(f)
        if saved != config:
            raise ValueError(
                f"{output_dir} holds a critic with {saved}; the settings ask for {config}. "
                "Use a new output directory, or the same critic settings."
            )
    with open(path, "w") as f:
        json.dump(config, f)
    # float32 whatever the global policy: the gradient penalty's norms and the Wasserstein
    # estimate are small differences of scores.
    with precision.policy_scope("float32"):
        critic = Critic(name="critic", **config)
    weights = os.path.join(output_dir, CRITIC_WEIGHTS)
    if os.path.exists(weights):
        critic.load_weights(weights)
    return critic


class _LogUnfrozen(keras.callbacks.Callback):
    """Adds the number of trained generator groups to the epoch's logs (for TensorBoard)."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["unfrozen_groups"] = int(self.model.unfrozen)
