"""Zhang et al.'s released colorizers as tfcolor runs: the reference's state-dict layout mapped
onto `tfcolor.models.zhang`, and `convert`, which writes a normal run from a released file.

The authors' PyTorch reference (richzhang/colorization) publishes two state dicts:
`colorization_release_v2-9b330a0b.pth` (ECCV 2016) and `siggraph17-df00044c.pth` (SIGGRAPH
2017). Their keys are those of `nn.Sequential` blocks, `model{block}.{index}.{parameter}`:
`model1.0` the first convolution of block 1, `model1.4` its batch norm, `model8.6` the ECCV
network's 313-way 1x1 convolution, `model_out` its last 1x1 convolution (no bias) whose
weights, times 110, are the 313 bins' ab; the SIGGRAPH network's `model8up`, `model3short8`,
..., `model_class` and `model_out`. Every key must land in a layer and every weight of the
model must come from a key (`load_released_weights`), else the conversion stops naming what is
missing or left over.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from absl import logging

from tfcolor import codecs
from tfcolor.config import Config, get_preset
from tfcolor.models import build_model
from tfcolor.models.zhang import AB_NORM, ECCV16_BLOCKS, SIGGRAPH17_BLOCKS
from tfcolor.pretrained import pth
from tfcolor.training import run_dir as run_dir_lib
from tfcolor.training.colorizer import Colorizer

__all__ = [
    "NETWORKS",
    "RELEASED_FILES",
    "ConversionError",
    "bin_centers",
    "check_keys",
    "convert",
    "load_released_weights",
    "parameter_map",
    "released_config",
]

NETWORKS = ("zhang_eccv16", "zhang_siggraph17")
# The files the reference downloads (colorizers/eccv16.py, colorizers/siggraph17.py).
RELEASED_FILES = {
    "zhang_eccv16": "colorization_release_v2-9b330a0b.pth",
    "zhang_siggraph17": "siggraph17-df00044c.pth",
}
# The ECCV 2016 network's bins: the weights of its last 1x1 convolution (ab / 110).
ECCV16_BINS_KEY = "model_out.weight"
# Batch norm's step counter (PyTorch >= 0.4.1): read and dropped, Keras keeps none.
_STEP_COUNTER = "num_batches_tracked"

# How each kind of layer's tensors become its Keras weights, in the layer's weight order.
_PARAMETERS = {
    "conv": ("weight", "bias"),
    "transposed": ("weight", "bias"),
    "pointwise": ("weight", "bias"),
    "batch_norm": ("weight", "bias", "running_mean", "running_var"),
}


class ConversionError(ValueError):
    """The file does not hold the network's weights: what is missing, left over or misshapen."""


@dataclasses.dataclass(frozen=True)
class Target:
    """A Keras layer that one reference module's tensors fill."""

    layer: str
    kind: str  # a key of _PARAMETERS


def _block_targets(blocks, network_blocks: int) -> dict[str, Target]:
    """model{b}.{2i} -> conv{b}_{i+1}, model{b}.{2n} -> conv{b}_norm (conv, ReLU, ..., BN)."""
    targets = {}
    for block, spec in enumerate(blocks[:network_blocks], 1):
        convolutions = spec[0]
        for index in range(convolutions):
            targets[f"model{block}.{2 * index}"] = Target(f"conv{block}_{index + 1}", "conv")
        targets[f"model{block}.{2 * convolutions}"] = Target(f"conv{block}_norm", "batch_norm")
    return targets


def parameter_map(network: str) -> dict[str, Target]:
    """Reference module prefix (`model1.0`) -> the Keras layer it fills, for `network`.

    The ECCV 2016 network's `model_out` is not here: it holds the bins (`bin_centers`).
    """
    if network == "zhang_eccv16":
        targets = _block_targets(ECCV16_BLOCKS, 7)
        targets.update(
            {
                "model8.0": Target("conv8_1", "transposed"),
                "model8.2": Target("conv8_2", "conv"),
                "model8.4": Target("conv8_3", "conv"),
                "model8.6": Target("head", "pointwise"),
            }
        )
        return targets
    if network == "zhang_siggraph17":
        targets = _block_targets(SIGGRAPH17_BLOCKS, 7)
        targets.update(
            {
                "model8up.0": Target("conv8_up", "transposed"),
                "model3short8.0": Target("conv3_short8", "conv"),
                "model8.1": Target("conv8_1", "conv"),
                "model8.3": Target("conv8_2", "conv"),
                "model8.5": Target("conv8_norm", "batch_norm"),
                "model9up.0": Target("conv9_up", "transposed"),
                "model2short9.0": Target("conv2_short9", "conv"),
                "model9.1": Target("conv9_1", "conv"),
                "model9.3": Target("conv9_norm", "batch_norm"),
                "model10up.0": Target("conv10_up", "transposed"),
                "model1short10.0": Target("conv1_short10", "conv"),
                "model10.1": Target("conv10_1", "conv"),
                "model_class.0": Target("ab_class_head", "pointwise"),
                "model_out.0": Target("head", "pointwise"),
            }
        )
        return targets
    raise ValueError(f"network must be one of {', '.join(NETWORKS)}. Received: {network!r}")


def _expected_keys(network: str) -> tuple[list[str], set[str]]:
    """(the keys the file must hold, in order; the keys it may hold besides)."""
    required, optional = [], set()
    for prefix, target in parameter_map(network).items():
        required += [f"{prefix}.{name}" for name in _PARAMETERS[target.kind]]
        if target.kind == "batch_norm":
            optional.add(f"{prefix}.{_STEP_COUNTER}")
    if network == "zhang_eccv16":
        required.append(ECCV16_BINS_KEY)
    return required, optional


def _listed(keys) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:12])
    return shown + (f" and {len(keys) - 12} more" if len(keys) > 12 else "")


def check_keys(network: str, state_dict, source: str = "the state dict") -> None:
    """Raises ConversionError naming the keys `state_dict` lacks and those left over."""
    required, optional = _expected_keys(network)
    missing = [key for key in required if key not in state_dict]
    left_over = [key for key in state_dict if key not in required and key not in optional]
    if missing or left_over:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} keys: {_listed(missing)}")
        if left_over:
            parts.append(f"{len(left_over)} keys left over: {_listed(left_over)}")
        raise ConversionError(
            f"{source} does not hold the {network} network's weights: " + "; ".join(parts)
        )


def bin_centers(state_dict) -> np.ndarray:
    """The ECCV 2016 network's bins: float32 ab [Q, 2] from its last 1x1 convolution."""
    weight = np.asarray(state_dict[ECCV16_BINS_KEY], np.float32)
    if weight.ndim != 4 or weight.shape[0] != 2 or weight.shape[2:] != (1, 1):
        raise ConversionError(
            f"{ECCV16_BINS_KEY} must be a 1x1 convolution to ab, [2, Q, 1, 1]. "
            f"Received: shape={weight.shape}"
        )
    return weight[:, :, 0, 0].T * np.float32(AB_NORM)


def _keras_weights(kind: str, tensors: list[np.ndarray]) -> list[np.ndarray]:
    """PyTorch's layout -> Keras' (channels last; conv kernels [kh, kw, in, out])."""
    weight, rest = tensors[0], tensors[1:]
    if kind == "conv" and weight.ndim == 4:  # [out, in, kh, kw]
        weight = weight.transpose(2, 3, 1, 0)
    elif kind == "transposed" and weight.ndim == 4:  # [in, out, kh, kw] -> [kh, kw, out, in]
        weight = weight.transpose(2, 3, 1, 0)
    elif kind == "pointwise" and weight.ndim == 4:  # a 1x1 conv [out, in, 1, 1] -> [in, out]
        weight = weight[:, :, 0, 0].T
    return [weight, *rest]


def load_released_weights(model, network: str, state_dict, source: str = "the state dict"):
    """Fills every weight of `model` (a `ZhangECCV16` or `ZhangSIGGRAPH17`) from the
    reference's state dict.

    Args:
        model: the network, built with the codec's head (the ECCV network: as many bins as
            the file holds, `bin_centers`).
        network: `zhang_eccv16` or `zhang_siggraph17`.
        state_dict: parameter name -> numpy array (`pth.read_state_dict`).
        source: how errors name the state dict (its path).

    Raises:
        ConversionError: keys missing or left over, a tensor whose shape does not fit its
            layer, or a weight of the model that no key fills (each named).
    """
    check_keys(network, state_dict, source)
    targets = parameter_map(network)
    filled = set()
    for prefix, target in targets.items():
        layer = model.get_layer(target.layer)
        names = _PARAMETERS[target.kind]
        tensors = [np.asarray(state_dict[f"{prefix}.{name}"], np.float32) for name in names]
        weights = _keras_weights(target.kind, tensors)
        expected = [tuple(variable.shape) for variable in layer.weights]
        received = [tuple(weight.shape) for weight in weights]
        if expected != received:
            raise ConversionError(
                f"{source}: {prefix} ({', '.join(names)}) has shapes {received} in Keras' "
                f"layout, layer {target.layer} needs {expected}"
            )
        layer.set_weights(weights)
        filled.add(target.layer)
    unfilled = [layer.name for layer in model.layers if layer.weights and layer.name not in filled]
    if unfilled:
        raise ConversionError(f"no key of {source} fills the layers {_listed(unfilled)}")


def _codec_body(codec_config) -> dict:
    """The codec settings a network's weights depend on (not how its output is rendered)."""
    rendering = ("decode", "temperature", "gamut")
    return {k: v for k, v in dataclasses.asdict(codec_config).items() if k not in rendering}


def released_config(network: str) -> Config:
    """The run's config: the network's preset (`zhang_eccv16`, `zhang_siggraph17`)."""
    if network not in NETWORKS:
        raise ValueError(f"network must be one of {', '.join(NETWORKS)}. Received: {network!r}")
    return get_preset(network)


def convert(network: str, weights_path: str, model_dir: str, config: Config | None = None):
    """Writes a tfcolor run from Zhang et al.'s released weights and exports it.

    The run is a normal one: its config (the network's preset), its codec (the ECCV network's
    313 bins in the codec's state), its weights (`final.weights.h5`, standing at epoch 0) and
    an export; `colorize`, `evaluate`, `refine`, `train` (fine-tuning: it continues from these
    weights) and `tfcolor.open_run` use it as any other.

    Args:
        network: `zhang_eccv16` or `zhang_siggraph17`.
        weights_path: the released `.pth` file (`RELEASED_FILES`), read without PyTorch and
            without running its pickle (`pth.read_state_dict`).
        model_dir: the new run's folder; it must not hold a run yet.
        config: the run's config in place of the preset (its data, training settings and the
            codec's decoding and gamut mapping may differ; its model and the rest of its
            codec must be the preset's).

    Returns:
        The opened run (a `Colorizer`) and the export's path.

    Raises:
        ConversionError: the file lacks weights of the network, holds others, or misshapen
            ones (named); nothing is written then.
        pth.PthError: the file is not a PyTorch state dict, or names globals other than
            tensors (it is not loaded).
        FileExistsError: model_dir holds a run already.
    """
    default = released_config(network)
    config = default if config is None else config
    if config.model != default.model or _codec_body(config.codec) != _codec_body(default.codec):
        raise ValueError(
            f"the converted {network} run needs the preset's model and codec (its decoding "
            f"and gamut mapping may differ). Received: model={config.model}, "
            f"codec={config.codec}"
        )
    if run_dir_lib.is_run(model_dir):
        raise FileExistsError(f"{model_dir} holds a run already; convert into a new folder")
    state_dict = pth.read_state_dict(weights_path)
    check_keys(network, state_dict, weights_path)
    codec = codecs.make_codec(config.codec)
    if network == "zhang_eccv16":
        codec.set_state({"bin_centers": bin_centers(state_dict)})
    # Filled and checked before anything is written: a file that does not fit leaves no run.
    model = build_model(config.model, codec)
    load_released_weights(model, network, state_dict, weights_path)
    codec.save(model_dir)  # the Colorizer reads the bins from it to build its head
    colorizer = Colorizer(config, model_dir)
    colorizer.model.set_weights(model.get_weights())
    del model
    run_dir_lib.save_weights(colorizer.model, colorizer.run_dir.final_weights, epoch=0)
    export = colorizer.export_saved_model()
    logging.info(
        "converted %s (%s, %d tensors) into %s; exported %s",
        weights_path,
        network,
        len(state_dict),
        model_dir,
        export,
    )
    return colorizer, export
