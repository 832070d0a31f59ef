"""How a run's model is built and compiled: its Keras dtype policy (mixed precision), its
optimizer and learning-rate schedule, XLA, and the codec's loss and metrics.

Mixed precision: `TrainConfig.mixed_precision` names the policy: `off` (float32), `float16`
(Keras' `mixed_float16`: float16 compute, float32 variables, dynamic loss scaling), `bfloat16`
(`mixed_bfloat16`: no loss scaling needed, bfloat16 keeps float32's exponent range) or `auto`
(`mixed_float16` with a GPU, `mixed_bfloat16` on a TPU, float32 on CPUs). Every tfcolor model
keeps its head, its softmax and its losses in float32 whatever the policy
(`tfcolor.models.blocks.apply_head`, the classifier's logits, the video model's ConvLSTM and
state), so a model's outputs are float32 under every policy, and the codecs' losses and metrics
cast what they get to float32. The policy is set only while a model is built (`policy_scope`):
Keras layers keep the policy they were made with, and the rest of the process (another run, the
input pipeline, metrics) keeps the global default. A model built with `mixed_float16` gets
Keras' LossScaleOptimizer around its optimizer when compiled.

Compiling (`compile_run`): the optimizer of `TrainConfig.optimizer` (`make_optimizer`: Adam,
or RMSprop) at `TrainConfig.learning_rate`, always through a schedule
(`learning_rate_schedule`: cosine decay or constant), XLA as `TrainConfig.jit_compile` says
(`use_xla`), and the codec's loss and metrics, with a classification head's beside them
(`compile_model`).
"""

from __future__ import annotations

import contextlib

import keras
import tensorflow as tf

from tfcolor.config import MIXED_PRECISIONS as PRECISIONS
from tfcolor.config import Config

__all__ = [
    "PRECISIONS",
    "compile_model",
    "compile_run",
    "learning_rate_schedule",
    "make_optimizer",
    "policy_name",
    "policy_scope",
    "use_xla",
]

_POLICIES = {"off": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}


def policy_name(mixed_precision: str, strategy: tf.distribute.Strategy | None = None) -> str:
    """The Keras dtype policy of a `mixed_precision` setting.

    Args:
        mixed_precision: `auto`, `off`, `float16` or `bfloat16`.
        strategy: the run's distribution strategy; `auto` under a `TPUStrategy` is bfloat16.

    Returns:
        `float32`, `mixed_float16` or `mixed_bfloat16`.

    Raises:
        ValueError: an unknown setting.
    """
    if mixed_precision not in PRECISIONS:
        raise ValueError(
            f"mixed_precision must be one of {', '.join(PRECISIONS)}. "
            f"Received: mixed_precision={mixed_precision!r}"
        )
    if mixed_precision != "auto":
        return _POLICIES[mixed_precision]
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return "mixed_bfloat16"  # TPUs compute in bfloat16 natively
    if tf.config.list_physical_devices("GPU"):
        # Tensor cores (compute capability 7.0+) run float16 convolutions several times
        # faster than float32; Keras warns on older GPUs, where it only saves memory.
        return "mixed_float16"
    # CPUs: measured on 2 cores with AVX512_BF16 (Keras fit, synthetic batches), bfloat16 was
    # no faster than float32 (the thesis U-Net at 32x32: 125 against 123-251 images/s; at
    # 128x128: 6.7-7.6 against 8.3-12.5) and float16 is emulated (8-12 images/s at 32x32).
    return "float32"


@contextlib.contextmanager
def policy_scope(policy: str):
    """Sets Keras' global dtype policy to `policy` inside the block, then restores the previous
    one (also when the block raises)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def use_xla(config: Config) -> bool:
    """Whether the run's steps are compiled with XLA (`TrainConfig.jit_compile`: on, off, auto)."""
    if config.train.jit_compile != "auto":
        return config.train.jit_compile == "on"
    # Measured with `python -m tfcolor.bench train` on 2 CPU cores: XLA slowed training of
    # both U-Nets (32x32: 188 -> 94-184 images/s; 128x128: 8.0-8.6 -> 3.9-6.8 images/s), so
    # auto leaves it off on CPUs. On accelerators XLA usually pays for convnets; not yet
    # measured here.
    return bool(tf.config.list_physical_devices("GPU") or tf.config.list_physical_devices("TPU"))


def learning_rate_schedule(
    config: Config, total_steps: int | None = None
) -> keras.optimizers.schedules.LearningRateSchedule:
    """The run's learning rate: a cosine decay over `total_steps` when `train.lr_schedule` is
    `cosine` and the steps are known, else constant at `train.learning_rate`.

    Always a schedule (alpha=1 keeps it constant), so the optimizer has the same variables
    whatever the schedule and a backup always restores its state. Extending a finished run
    continues on the cosine of the longer run (the rate rises again).
    """
    cosine = config.train.lr_schedule == "cosine" and bool(total_steps)
    return keras.optimizers.schedules.CosineDecay(
        config.train.learning_rate,
        decay_steps=max(int(total_steps or 1), 1),
        alpha=0.0 if cosine else 1.0,
    )


def make_optimizer(config: Config, total_steps: int | None = None) -> keras.optimizers.Optimizer:
    """The run's optimizer (`train.optimizer`) on `learning_rate_schedule`.

    Raises:
        ValueError: an unknown optimizer.
    """
    schedule = learning_rate_schedule(config, total_steps)
    if config.train.optimizer == "adam":
        return keras.optimizers.Adam(schedule)
    if config.train.optimizer == "rmsprop":
        # PyTorch's smoothing constant (its alpha, 0.99; Keras' rho defaults to 0.9): the
        # thesis compared RMSprop with Adam in PyTorch.
        return keras.optimizers.RMSprop(schedule, rho=0.99)
    raise ValueError(
        f"optimizer must be adam or rmsprop. Received: optimizer={config.train.optimizer!r}"
    )


UNLABELLED = -1  # the class index of an example without a label (an unlabelled split, or a
# folder image outside the class subfolders): no classification loss, not in the accuracy


@keras.saving.register_keras_serializable(package="tfcolor")
class LabelledAccuracy(keras.metrics.SparseCategoricalAccuracy):
    """Top-1 class accuracy over the labelled examples only (label `UNLABELLED` is left out,
    as the classification loss leaves it out)."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        labelled = tf.cast(tf.reshape(y_true, [-1]) != UNLABELLED, self.dtype)
        if sample_weight is not None:
            labelled *= tf.cast(tf.reshape(sample_weight, [-1]), self.dtype)
        return super().update_state(y_true, y_pred, sample_weight=labelled)


def compile_model(
    model: keras.Model,
    codec,
    optimizer,
    *,
    class_names=None,
    classification_weight: float = 1.0 / 300.0,
    jit_compile: bool = False,
) -> None:
    """Compiles a colorization model with its codec's loss and metrics.

    With `class_names` the model has a classification head (outputs `colors` and
    `class_logits`): the loss is the colour loss plus `classification_weight` times the
    classification cross-entropy (Iizuka et al.: 1/300), and its top-1 accuracy is reported
    as `class_accuracy`; an unlabelled example (class index -1) counts in neither.
    """
    loss, metrics, loss_weights = codec.loss, codec.metrics(), None
    if class_names:
        loss = {
            "colors": codec.loss,
            "class_logits": keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, ignore_class=UNLABELLED
            ),
        }
        loss_weights = {"colors": 1.0, "class_logits": classification_weight}
        metrics = {
            "colors": metrics,
            "class_logits": [LabelledAccuracy(name="class_accuracy")],
        }
    model.compile(
        optimizer=optimizer,
        loss=loss,
        loss_weights=loss_weights,
        metrics=metrics,
        jit_compile=jit_compile,
    )


def compile_run(model: keras.Model, codec, config: Config, total_steps: int | None = None) -> None:
    """Compiles a run's model as its config says: `make_optimizer`, XLA per
    `use_xla`, the codec's loss and metrics and the classification head's (`compile_model`).

    Call it in the strategy's scope: the optimizer's and the metrics' variables are made here.
    """
    compile_model(
        model,
        codec,
        make_optimizer(config, total_steps),
        class_names=config.model.class_names if config.model.classify else None,
        classification_weight=config.model.classification_weight,
        jit_compile=use_xla(config),
    )
