"""SavedModel export for TF Serving and the command line (see `serving`)."""

from tfcolor.export.saved_model import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_MAX_RENDER_PIXELS,
    ColorizerModule,
    colorize_batch,
    encoded_image_size,
    export_saved_model,
    export_versions,
    latest_export,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_RENDER_PIXELS",
    "ColorizerModule",
    "colorize_batch",
    "encoded_image_size",
    "export_saved_model",
    "export_versions",
    "latest_export",
]
