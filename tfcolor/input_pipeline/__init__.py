"""The input pipelines in `tf.data`: images and video streams in, model batches out.

This package only re-exports; each concept has its module:

```
images.py         image batches `(lightness, target)` for training and evaluation, the
                  parallelism policy, `repeat_epochs`
files.py          what every source stands on: the splits, a file's hash hold-out, walking a
                  folder (special files named), what a source left out (PipelineStats)
sources.py        where images come from (shapes, folder:DIR, tfds:NAME, tfrecord:DIR, and
                  the frames of video:DIR as images)
videos.py         the videos of a video source: listed, scanned, split, their frames
transforms.py     small per-example and per-batch functions: decode, resize, augment
shapes.py         the synthetic `shapes` data set
image_headers.py  encoded images' sizes read from their headers, before decoding
video_streams.py  the recurrent video models' loader: B videos side by side, chunk by chunk
records.py        the on-disk format of preprocessed collections (TFRecord + manifest)
sharding.py       each input pipeline's share of the data under a distribution strategy
```
"""

from tfcolor.input_pipeline import transforms
from tfcolor.input_pipeline.files import PipelineStats
from tfcolor.input_pipeline.images import (
    ab_batches,
    inputs_and_targets,
    lab_inputs_and_targets,
    load_images,
    make_dataset,
    make_input_fn,
    num_examples,
    pipeline_stats,
    repeat_epochs,
    with_parallelism_policy,
)
from tfcolor.input_pipeline.sharding import image_input_fn
from tfcolor.input_pipeline.sources import (
    label_names,
    list_image_files,
    parse_source,
    read_source,
)

__all__ = [
    "PipelineStats",
    "ab_batches",
    "image_input_fn",
    "inputs_and_targets",
    "lab_inputs_and_targets",
    "label_names",
    "list_image_files",
    "load_images",
    "make_dataset",
    "make_input_fn",
    "num_examples",
    "parse_source",
    "pipeline_stats",
    "read_source",
    "repeat_epochs",
    "transforms",
    "with_parallelism_policy",
]
