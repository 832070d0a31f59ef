"""Apache Beam pipelines: `beam.preprocess` turns a folder of videos and images into a
collection of TFRecords (`python -m tfcolor.preprocess`); `colorize_beam` colorizes a glob of
images with an export through Beam's RunInference (`python -m tfcolor.colorize_beam`). Beam is
an optional extra."""
