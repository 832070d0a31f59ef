"""tfcolor: colorize grayscale photos and videos with TensorFlow/Keras.

The public API is what this module exports; everything else may change.
"""

from tfcolor.config import (
    PRESETS,
    CodecConfig,
    Config,
    DataConfig,
    ModelConfig,
    RefinementConfig,
    TrainConfig,
    get_preset,
)

__version__ = "0.1.0"

__all__ = [
    "PRESETS",
    "CodecConfig",
    "Colorizer",
    "Config",
    "DataConfig",
    "ModelConfig",
    "RefinementConfig",
    "TrainConfig",
    "get_preset",
]


def __getattr__(name):
    # Lazy: `python -m tfcolor.train --help` and flag errors should not wait for TensorFlow.
    if name == "Colorizer":
        from tfcolor.training.colorizer import Colorizer

        return Colorizer
    raise AttributeError(f"module 'tfcolor' has no attribute {name!r}")
