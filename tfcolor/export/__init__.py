"""Inference and its export: `inference` (colorize_batch, colorize_chunk: shared by predict,
the TensorBoard panels, video colorization and the export) and `saved_model` (the SavedModel
for TF Serving and the command line)."""

from tfcolor.export.inference import colorize_batch, colorize_chunk
from tfcolor.export.saved_model import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_MAX_RENDER_PIXELS,
    ColorizerModule,
    VideoColorizerModule,
    encoded_image_size,
    export_saved_model,
    export_versions,
    export_video_saved_model,
    latest_export,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_RENDER_PIXELS",
    "ColorizerModule",
    "VideoColorizerModule",
    "colorize_batch",
    "colorize_chunk",
    "encoded_image_size",
    "export_saved_model",
    "export_versions",
    "export_video_saved_model",
    "latest_export",
]
