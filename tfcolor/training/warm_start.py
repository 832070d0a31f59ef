"""Starting a new run's model from the matching layers of another run (`--init-from RUN`).

The video report trained its networks on images first and then on video: an image U-Net's
run starts the video U-Net + ConvLSTM, whose layers share its names (`down{level}_*`,
`bottleneck_*`, `up{level}_*`, `head`, `global_*`, `fusion_*`; `models.unet`,
`models.convlstm`), and only the ConvLSTM starts new. tf.estimator called this
`warm_start_from`.

A layer of the new model is loaded where the other run's model has a layer of the same name
whose weights have the same shapes, in the same order (all of them: a conv block with batch
norm has no bias, one without has one, so the two never half-match). Everything else keeps
its fresh initialization. The other run's weights are its newest readable state (its final
weights, or a later backup), read by building its own model from its config.json.
"""

from __future__ import annotations

import dataclasses

import keras
from absl import logging

from tfcolor.training import run_dir as run_dir_lib

__all__ = ["WarmStart", "warm_start"]


@dataclasses.dataclass(frozen=True)
class WarmStart:
    """What `warm_start` did.

    Attributes:
        source: the run the weights came from.
        weights_file: the file of that run that was read.
        loaded: names of the new model's layers whose weights were copied.
        left_new: `(name, reason)` of the new model's layers with weights that kept their
            fresh initialization (`not in the source`, or the shapes that differ).
        unused: names of the source's layers with weights that nothing took.
    """

    source: str
    weights_file: str
    loaded: tuple[str, ...]
    left_new: tuple[tuple[str, str], ...]
    unused: tuple[str, ...]

    def summary(self) -> str:
        """One paragraph naming what was loaded, what was left new and what went unused."""
        new = ", ".join(f"{name} ({reason})" for name, reason in self.left_new) or "none"
        return (
            f"initialized from {self.weights_file}: loaded {len(self.loaded)} layers "
            f"({', '.join(self.loaded)}); left new {len(self.left_new)} ({new}); unused in the "
            f"source {len(self.unused)} ({', '.join(self.unused) or 'none'})"
        )


def _layers_with_weights(model: keras.Model) -> dict[str, keras.layers.Layer]:
    return {layer.name: layer for layer in model.layers if layer.weights}


def _source_model(source: str) -> tuple[keras.Model, str]:
    """The other run's model with its newest readable weights, and that file's path.

    Raises:
        ValueError: `source` is not a run's folder, or holds no readable weights.
    """
    from tfcolor import codecs as codecs_lib
    from tfcolor.models import build_model

    config = run_dir_lib.read_config(source) if run_dir_lib.is_run(source) else None
    if config is None:
        raise ValueError(
            f"--init-from {source}: not a tfcolor run (no {run_dir_lib.CONFIG}); name the "
            "--model-dir of a run that has trained"
        )
    run = run_dir_lib.RunDir(source)
    codec = codecs_lib.load_codec(source) if run.has_codec else codecs_lib.make_codec(config.codec)
    model_config = config.model
    if model_config.backbone_weights == "imagenet":
        # The run's own file holds the backbone's weights: nothing to download.
        model_config = dataclasses.replace(model_config, backbone_weights=None)
    model = build_model(model_config, codec)
    holder = model
    if config.model.name == "convlstm":
        from tfcolor.training.streaming import streaming_trainer

        holder = streaming_trainer(config, model)  # what a video run's files hold
    loaded = run_dir_lib.load_first_readable(holder, run.weights_to_restore())
    if loaded is None:
        raise ValueError(
            f"--init-from {source}: the run holds no readable weights (it has not trained an "
            f"epoch: no {run_dir_lib.FINAL_WEIGHTS} or backup)"
        )
    return model, loaded


def warm_start(model: keras.Model, source: str) -> WarmStart:
    """Copies into `model` the weights of the layers of run `source` that match its own.

    Args:
        model: the new run's model (built, at its fresh initialization).
        source: the other run's model_dir.

    Returns:
        What was loaded, left new and unused (also logged).

    Raises:
        ValueError: `source` is not a run, holds no readable weights, or no layer matches
            (the message names both models' layers).
    """
    source_model, weights_file = _source_model(source)
    theirs = _layers_with_weights(source_model)
    loaded, left_new = [], []
    for name, layer in _layers_with_weights(model).items():
        other = theirs.get(name)
        if other is None:
            left_new.append((name, "not in the source"))
            continue
        mine = [tuple(weight.shape) for weight in layer.weights]
        shapes = [tuple(weight.shape) for weight in other.weights]
        if mine != shapes:
            left_new.append((name, f"shapes {shapes} in the source, {mine} here"))
            continue
        layer.set_weights(other.get_weights())
        loaded.append(name)
    if not loaded:
        raise ValueError(
            f"--init-from {source}: no layer of its {source_model.name} matches this "
            f"{model.name} (same name and weight shapes). Its layers: {', '.join(theirs)}; "
            f"this model's: {', '.join(_layers_with_weights(model))}"
        )
    used = set(loaded)
    report = WarmStart(
        source=source,
        weights_file=weights_file,
        loaded=tuple(loaded),
        left_new=tuple(left_new),
        unused=tuple(name for name in theirs if name not in used),
    )
    logging.info("%s", report.summary())
    return report
