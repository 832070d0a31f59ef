"""Apache Beam pipelines: `beam.preprocess` turns a folder of videos and images into a
collection of TFRecords (`python -m tfcolor.preprocess`). Beam is an optional extra."""
