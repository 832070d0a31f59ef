"""tfcolor: colorize grayscale photos and videos with TensorFlow/Keras.

The public API is what this module exports (`__all__`); everything else may change:

- `Colorizer`: a run of an image model (train / evaluate / predict / export);
  `VideoColorizer`: a run of a recurrent video model; `open_run(model_dir)` opens a run as
  the one its model needs; `TrainingDivergedError`: `train`'s error for a NaN loss.
- `RefinementConfig`: the settings of the WGAN-GP refinement of a trained image run, which
  `tfcolor.training.wgan.refine` runs. (`tfcolor.refine` is the module of the
  `python -m tfcolor.refine` command: importing it sets that attribute of this package, so a
  function of that name here would change meaning with what a process has imported.)
- `Config` and its parts (`DataConfig`, `CodecConfig`, `ModelConfig`, `TrainConfig`);
  `PRESETS` and `get_preset`.

Every name is imported when first used: importing tfcolor costs no TensorFlow, so
`python -m tfcolor.train --help` and flag errors do not wait for it.
"""

__version__ = "0.1.0"

_CONFIG_NAMES = (
    "CodecConfig",
    "Config",
    "DataConfig",
    "ModelConfig",
    "PRESETS",
    "RefinementConfig",
    "TrainConfig",
    "get_preset",
)

__all__ = sorted(
    [
        *_CONFIG_NAMES,
        "Colorizer",
        "TrainingDivergedError",
        "VideoColorizer",
        "open_run",
    ]
)


def __getattr__(name: str):
    # Each public name's module, imported on first use (written out, so that the import
    # graph test sees them).
    if name in _CONFIG_NAMES:
        from tfcolor import config as module
    elif name in ("Colorizer", "TrainingDivergedError"):
        from tfcolor.training import colorizer as module
    elif name == "VideoColorizer":
        from tfcolor.training import video as module
    elif name == "open_run":
        from tfcolor import training as module
    else:
        raise AttributeError(f"module 'tfcolor' has no attribute {name!r}")
    value = getattr(module, name)
    globals()[name] = value  # found directly from now on
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
