"""The codec protocol (`Codec`), the registry that builds a codec from its config, and the
codec's files in a model directory.

A codec is the hinge between the data and the model (DESIGN.md). It decides

- the head: `channels` outputs per pixel and their `output_activation`,
- the training target: `encode(ab)`, pure TF ops, called in `tf.data` map functions,
- the loss: `loss(y_true, y_pred)`, a Keras loss function giving one value per sample,
- the decoding: `decode(output)` from the model's output back to ab,
- the metrics it reports during training (`metrics()`),

and, where it needs data statistics (per-bin colours, the class prior), a `fit` step over the
training data's ab values. Its state is a dict of numpy arrays, saved next to the model
(`save` / `load_codec`) and turned into constants when the loss or decoding is traced, so it is
baked into an export.

Each codec class registers itself by its `name` (`register_codec`); `tfcolor.codecs` imports
every codec module, so the registry is complete whenever `make_codec` can be called.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
from collections.abc import Iterable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfcolor.config import CodecConfig

__all__ = [
    "AB_MAX",
    "AB_MIN",
    "AB_SPAN",
    "CONFIG_FILENAME",
    "STATE_FILENAME",
    "Codec",
    "load_codec",
    "make_codec",
    "register_codec",
]

# The codec's two files in a model directory.
CONFIG_FILENAME = "codec.json"
STATE_FILENAME = "codec_state.npz"

# The ab range the codecs cover: a and b of 8-bit Lab (all of sRGB lies inside).
AB_MIN = -128.0
AB_MAX = 127.0
AB_SPAN = AB_MAX - AB_MIN  # 255


class Codec:
    """What the model predicts per pixel. Subclasses set the class attributes below.

    Attributes:
        name: the codec's name in `CodecConfig.name`.
        channels: model outputs per pixel (the head's size).
        target_channels: floats per pixel of `encode`'s target (what the input pipeline
            carries and caches): 2 for ab, 1 for a bin index, 2k for a soft encoding.
        output_activation: `"sigmoid"`, `"tanh"` or None; the model applies it in its float32
            head. Codecs trained on logits use None.
        needs_fit: whether `fit` must see the training data before training.
    """

    name: str = ""
    channels: int = 0
    target_channels: int = 2
    output_activation: str | None = None
    needs_fit: bool = False

    def __init__(self, config: CodecConfig):
        if config.name != self.name:
            raise ValueError(
                f"{type(self).__name__} takes a config named {self.name!r}. "
                f"Received: name={config.name!r}"
            )
        self._config = dataclasses.replace(config)

    @property
    def config(self) -> CodecConfig:
        """A copy of the codec's config."""
        return dataclasses.replace(self._config)

    @property
    def fitted(self) -> bool:
        """Whether the codec holds data statistics (always True for codecs that need none)."""
        return not self.needs_fit

    def encode(self, ab: tf.Tensor) -> tf.Tensor:
        """Turns ab into the training target (pure TF ops, usable in `tf.data` maps).

        Args:
            ab: float32 ab, shape [..., H, W, 2].

        Returns:
            The target; its shape and dtype depend on the codec.
        """
        raise NotImplementedError

    def loss(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        """The training loss per sample, shape [B] (a Keras loss function)."""
        raise NotImplementedError

    def decode(
        self,
        output: tf.Tensor,
        temperature: float | tf.Tensor | None = None,
        method: str | None = None,
    ) -> tf.Tensor:
        """Turns model output into ab, float32 [..., H, W, 2]."""
        raise NotImplementedError

    def fit(self, ab_batches: Iterable[Any]) -> Codec:
        """Accumulates data statistics; a no-op for codecs that need none. Returns self."""
        del ab_batches
        return self

    def metrics(self) -> list[keras.metrics.Metric]:
        """New metric objects for `model.compile` (fresh ones on every call)."""
        return []

    def pixel_class_weights(self, ab: tf.Tensor) -> tf.Tensor | None:
        """Each pixel's weight for the class-balanced AuC, float32 [..., H, W]; None for
        codecs without colour classes (regression), which report no balanced AuC."""
        del ab
        return None

    def get_config(self) -> dict[str, Any]:
        """The `CodecConfig` fields, JSON-serializable."""
        return dataclasses.asdict(self._config)

    def get_state(self) -> dict[str, np.ndarray]:
        """The fitted statistics as numpy arrays; empty when there are none."""
        return {}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restores statistics returned by `get_state`."""
        if state:
            raise ValueError(
                f"the {self.name} codec holds no state. Received keys: {sorted(state)}"
            )

    def save(self, directory: str) -> None:
        """Writes `codec.json` (the config) and `codec_state.npz` (the state) into directory.

        `directory` may be any path `tf.io.gfile` understands (local, GCS, ...).
        """
        tf.io.gfile.makedirs(directory)
        with tf.io.gfile.GFile(os.path.join(directory, CONFIG_FILENAME), "w") as f:
            f.write(json.dumps(self.get_config(), indent=2, sort_keys=True))
        # zipfile needs a seekable file, which a GFile opened for writing is not.
        buffer = io.BytesIO()
        np.savez(buffer, **self.get_state())
        with tf.io.gfile.GFile(os.path.join(directory, STATE_FILENAME), "wb") as f:
            f.write(buffer.getvalue())

    def __repr__(self) -> str:
        fields = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({fields})"


# === Registry ===

_CODECS: dict[str, type[Codec]] = {}


def register_codec(codec_class: type[Codec]) -> type[Codec]:
    """Class decorator: makes `make_codec` build `codec_class` for `CodecConfig.name`.

    Raises:
        ValueError: the class has no name, or another class holds its name.
    """
    name = codec_class.name
    if not name:
        raise ValueError(f"a codec class needs a name. Received: {codec_class.__name__}.name=''")
    if _CODECS.get(name, codec_class) is not codec_class:
        raise ValueError(
            f"the codec name {name!r} is taken by {_CODECS[name].__name__}. "
            f"Received: {codec_class.__name__}"
        )
    _CODECS[name] = codec_class
    return codec_class


def make_codec(codec_config: CodecConfig) -> Codec:
    """Builds the codec a config names, checking its values.

    Raises:
        ValueError: an unknown codec name or a bad value, repeated in the message.
    """
    if codec_config.name not in _CODECS:
        raise ValueError(
            f"codec must be one of {', '.join(_CODECS)}. Received: name={codec_config.name!r}"
        )
    return _CODECS[codec_config.name](codec_config)


def load_codec(directory: str) -> Codec:
    """Reads a codec written by `Codec.save` (config and fitted state)."""
    with tf.io.gfile.GFile(os.path.join(directory, CONFIG_FILENAME)) as f:
        codec = make_codec(CodecConfig.from_dict(json.load(f)))
    state_path = os.path.join(directory, STATE_FILENAME)
    if tf.io.gfile.exists(state_path):
        with tf.io.gfile.GFile(state_path, "rb") as f:
            buffer = io.BytesIO(f.read())
        with np.load(buffer) as npz:
            codec.set_state({key: npz[key] for key in npz.files})
    return codec
