"""Mixed precision: which Keras dtype policy a run's model is built with.

`TrainConfig.mixed_precision` names it: `off` (float32), `float16` (Keras' `mixed_float16`:
float16 compute, float32 variables, dynamic loss scaling), `bfloat16` (`mixed_bfloat16`: no
loss scaling needed, bfloat16 keeps float32's exponent range) or `auto` (`mixed_float16` with
a GPU, `mixed_bfloat16` on a TPU, float32 on CPUs).

Every tfcolor model keeps its head, its softmax and its losses in float32 whatever the policy
(`tfcolor.models.blocks.apply_head`, the classifier's logits, the video model's ConvLSTM and
state), so a model's outputs are float32 under every policy, and the codecs' losses and metrics
cast what they get to float32.

The policy is set only while a model is built (`policy_scope`): Keras layers keep the policy
they were made with, and the rest of the process (another run, the input pipeline, metrics)
keeps the global default.
"""

from __future__ import annotations

import contextlib

import keras
import tensorflow as tf

from tfcolor.config import MIXED_PRECISIONS as PRECISIONS

__all__ = ["PRECISIONS", "policy_name", "policy_scope"]

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
