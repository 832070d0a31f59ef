"""SavedModel export for TF Serving and the command line (see `serving`)."""

from tfcolor.export.serving import (
    ColorizerModule,
    colorize_batch,
    export_saved_model,
    latest_export,
)

__all__ = ["ColorizerModule", "colorize_batch", "export_saved_model", "latest_export"]
