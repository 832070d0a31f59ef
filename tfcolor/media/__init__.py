"""Media: video files (PyAV) and the frame-canvas geometry."""
