"""Media: video files (PyAV), the frame-canvas geometry, and files written whole (`files`)."""
