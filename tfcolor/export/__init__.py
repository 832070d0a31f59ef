"""Inference and its export: `inference` (colorize_batch, colorize_chunk: shared by predict,
the TensorBoard panels, video colorization and the export), `saved_model` (the SavedModel for
TF Serving and the command line), `portable` (the same colorization as ONNX and LiteRT files)
and `portable_runtime` (running them without TensorFlow), `client` (using an export: finding,
loading, running) and `result_names` (the output file of each input).

The names below load their module when first used, so that `tfcolor.export.client` (which needs
TensorFlow only when it runs) does not import TensorFlow with the package.
"""

import importlib

_MODULES = {
    "colorize_batch": "inference",
    "colorize_chunk": "inference",
    "DEFAULT_MAX_PIXELS": "saved_model",
    "DEFAULT_MAX_RENDER_PIXELS": "saved_model",
    "ColorizerModule": "saved_model",
    "VideoColorizerModule": "saved_model",
    "encoded_image_size": "saved_model",
    "export_saved_model": "saved_model",
    "export_versions": "saved_model",
    "export_video_saved_model": "saved_model",
    "latest_export": "saved_model",
}

__all__ = sorted(_MODULES)


def __getattr__(name):
    if name in _MODULES:
        return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_MODULES))
