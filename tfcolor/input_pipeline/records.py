"""The on-disk format of preprocessed videos (`python -m tfcolor.preprocess`), in one place.

A preprocessed collection is a folder:

```
videos.jsonl              one JSON line per video (the manifest, `VideoEntry`)
videos/<key>.tfrecord     the chunks of one video, in order: one tf.train.Example per chunk
images-SSSSS-of-NNNNN.tfrecord   the images of the collection (Beam's sharded sink)
failed.txt                "<path>\t<reason>" per input that could not be read
```

Each video gets its own TFRecord file, written in chunk order by the worker that decoded it:
a video is streamed by reading one file from start to end, so the loader needs no index and
no sort. (Beam's sharded sinks do not keep the order of elements, and grouping the chunks of
every video back together would hold whole videos in a worker's memory.)

A chunk is T consecutive frames (the last chunk of a video may be shorter), scaled and padded
to the collection's frame size, each encoded as JPEG or PNG:

```
video_id      bytes    the video's path relative to the input folder
chunk_index   int64    0, 1, ... within the video
last          int64    1 on the video's last chunk
first_frame   int64    index in the video of the chunk's first frame
num_frames    int64    frames in this chunk (1..T)
frames        bytes[]  the encoded frames
height, width int64    the stored frame size (the padded canvas)
content       int64[4] top, left, height, width of the picture inside the canvas
fps           float    the video's frame rate
```

An image record holds `image` (encoded bytes) and `name` (its relative path).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Sequence

import tensorflow as tf

__all__ = [
    "CHUNK_FEATURES",
    "IMAGE_FEATURES",
    "MANIFEST",
    "VideoEntry",
    "chunk_example",
    "image_example",
    "parse_chunk",
    "read_failed",
    "read_manifest",
    "video_file_name",
    "write_failed",
    "write_manifest",
]

MANIFEST = "videos.jsonl"
VIDEO_FOLDER = "videos"
FAILED = "failed.txt"
IMAGE_PREFIX = "images"

CHUNK_FEATURES = {
    "video_id": tf.io.FixedLenFeature([], tf.string),
    "chunk_index": tf.io.FixedLenFeature([], tf.int64),
    "last": tf.io.FixedLenFeature([], tf.int64),
    "first_frame": tf.io.FixedLenFeature([], tf.int64),
    "num_frames": tf.io.FixedLenFeature([], tf.int64),
    "frames": tf.io.VarLenFeature(tf.string),
    "height": tf.io.FixedLenFeature([], tf.int64),
    "width": tf.io.FixedLenFeature([], tf.int64),
    "content": tf.io.FixedLenFeature([4], tf.int64),
    "fps": tf.io.FixedLenFeature([], tf.float32),
}

IMAGE_FEATURES = {
    "image": tf.io.FixedLenFeature([], tf.string),
    "name": tf.io.FixedLenFeature([], tf.string),
}


@dataclasses.dataclass(frozen=True)
class VideoEntry:
    """One line of the manifest: a preprocessed video.

    Attributes:
        id: the video's path relative to the input folder.
        file: its chunk file, relative to the collection's folder.
        frames: frames written (every decoded frame).
        chunks: chunks written, ceil(frames / chunk_frames).
        chunk_frames: T, the frames per chunk (the last may hold fewer).
        fps: the source's frame rate.
        height, width: the stored (padded) frame size.
        source_height, source_width: the source's frame size.
    """

    id: str
    file: str
    frames: int
    chunks: int
    chunk_frames: int
    fps: float
    height: int
    width: int
    source_height: int
    source_width: int


def video_file_name(video_id: str) -> str:
    """`videos/<key>.tfrecord`: the id's path with separators replaced, plus a short hash
    so that ids differing only in separators or case cannot collide."""
    import hashlib

    digest = hashlib.sha1(video_id.encode("utf-8")).hexdigest()[:10]
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in video_id)[-80:]
    return f"{VIDEO_FOLDER}/{stem}-{digest}.tfrecord"


def _bytes(values: Sequence[bytes]) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def _ints(values: Sequence[int]) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))


def chunk_example(
    video_id: str,
    chunk_index: int,
    last: bool,
    first_frame: int,
    frames: Sequence[bytes],
    height: int,
    width: int,
    content: Sequence[int],
    fps: float,
) -> tf.train.Example:
    """The record of one chunk; `frames` are the encoded (JPEG/PNG) frames, in order."""
    if not frames:
        raise ValueError(
            f"a chunk needs at least one frame. Received: {video_id} chunk {chunk_index}"
        )
    feature = {
        "video_id": _bytes([video_id.encode("utf-8")]),
        "chunk_index": _ints([chunk_index]),
        "last": _ints([int(bool(last))]),
        "first_frame": _ints([first_frame]),
        "num_frames": _ints([len(frames)]),
        "frames": _bytes(frames),
        "height": _ints([height]),
        "width": _ints([width]),
        "content": _ints(content),
        "fps": tf.train.Feature(float_list=tf.train.FloatList(value=[float(fps)])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature))


def image_example(name: str, encoded: bytes) -> tf.train.Example:
    """The record of one image: its encoded bytes, as read from disk, and its name."""
    feature = {"image": _bytes([encoded]), "name": _bytes([name.encode("utf-8")])}
    return tf.train.Example(features=tf.train.Features(feature=feature))


def parse_chunk(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
    """A serialized chunk -> its features; `frames` becomes a dense string vector [n]."""
    parsed = tf.io.parse_single_example(serialized, CHUNK_FEATURES)
    parsed["frames"] = tf.sparse.to_dense(parsed["frames"], default_value=b"")
    return parsed


def write_manifest(folder: str, entries: Iterable[VideoEntry]) -> str:
    """Writes `folder/videos.jsonl`, sorted by id; returns its path."""
    path = os.path.join(folder, MANIFEST)
    lines = [json.dumps(dataclasses.asdict(e)) for e in sorted(entries, key=lambda e: e.id)]
    with tf.io.gfile.GFile(path, "w") as f:
        f.write("".join(line + "\n" for line in lines))
    return path


def read_manifest(folder: str) -> list[VideoEntry]:
    """The videos of a preprocessed collection, sorted by id.

    Raises:
        FileNotFoundError: `folder` holds no videos.jsonl.
        ValueError: a line of it is not a video entry (names the line).
    """
    path = os.path.join(folder, MANIFEST)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(
            f"{folder} holds no {MANIFEST}: it is not a collection written by "
            "`python -m tfcolor.preprocess`"
        )
    entries = []
    with tf.io.gfile.GFile(path) as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                entries.append(VideoEntry(**json.loads(line)))
            except (TypeError, ValueError) as error:
                raise ValueError(f"{path} line {number} is not a video entry: {error}") from None
    return sorted(entries, key=lambda e: e.id)


def write_failed(folder: str, failures: Iterable[tuple[str, str]]) -> str:
    """Writes `folder/failed.txt`, one "<path>\t<reason>" line per input, sorted; returns
    its path. A reason is kept to its first line."""
    path = os.path.join(folder, FAILED)
    lines = [f"{name}\t{' '.join(str(reason).split())}\n" for name, reason in sorted(failures)]
    with tf.io.gfile.GFile(path, "w") as f:
        f.write("".join(lines))
    return path


def read_failed(folder: str) -> list[tuple[str, str]]:
    """(path, reason) of every input the preprocessing could not read; [] without the file."""
    path = os.path.join(folder, FAILED)
    if not tf.io.gfile.exists(path):
        return []
    with tf.io.gfile.GFile(path) as f:
        return [tuple(line.rstrip("\n").split("\t", 1)) for line in f if line.strip()]
