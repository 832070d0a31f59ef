"""Typed configs (one dataclass per concern) and the named presets, one factory per seed system.

- `configs`: `Config` (a whole run: `DataConfig`, `CodecConfig`, `ModelConfig`,
  `TrainConfig`) and `RefinementConfig`; each validates itself.
- `presets`: one factory per seed system and the registry, `PRESETS` and `get_preset`
  (`smoke` cuts a preset down to seconds).
- `options`: the option lists (codecs, models, backbones, ...), one place each.
- `base`: what the dataclasses share: one generic `from_dict`, fields that declare their
  bounds, choices and command-line flag (`tfcolor.cli` generates the flags from them).

No TensorFlow is imported here: command lines check their flags before it loads.
"""

from tfcolor.config.configs import (
    CodecConfig,
    Config,
    DataConfig,
    ModelConfig,
    RefinementConfig,
    TrainConfig,
)
from tfcolor.config.options import (
    ACTIVATIONS,
    BACKBONES,
    CODECS,
    DECODES,
    DEFAULT_FRAME_SIZE,
    GAMUT_TEMPERATURE,
    GLOBAL_FEATURES,
    IMAGE_EXTENSIONS,
    JIT_COMPILE,
    LR_SCHEDULES,
    MIXED_PRECISIONS,
    MODELS,
    NORMALIZATIONS,
    OPTIMIZERS,
    STRATEGIES,
)
from tfcolor.config.presets import (
    PRESETS,
    THESIS_CIFAR100_CLASSES,
    default_preset,
    get_preset,
    smoke,
)

__all__ = [
    "ACTIVATIONS",
    "BACKBONES",
    "CODECS",
    "DECODES",
    "DEFAULT_FRAME_SIZE",
    "GAMUT_TEMPERATURE",
    "GLOBAL_FEATURES",
    "IMAGE_EXTENSIONS",
    "JIT_COMPILE",
    "LR_SCHEDULES",
    "MIXED_PRECISIONS",
    "MODELS",
    "NORMALIZATIONS",
    "OPTIMIZERS",
    "PRESETS",
    "STRATEGIES",
    "THESIS_CIFAR100_CLASSES",
    "CodecConfig",
    "Config",
    "DataConfig",
    "ModelConfig",
    "RefinementConfig",
    "TrainConfig",
    "default_preset",
    "get_preset",
    "smoke",
]
