"""The input folder of the preprocessing tests (tests/preprocessing/test_beam.py and the
command's, tests/cli/test_preprocess.py): synthetic clips, a real one, images, corrupt and
truncated files."""

from __future__ import annotations

import os
import pathlib

import numpy as np

from tests.video_helpers import moving_shapes, real_clips, write_clip
from tfcolor.media import video_io as video

CLIP_LENGTHS = {"a.mp4": 7, "nested/b.mp4": 12, "c.mov": 20}  # 48x64 synthetic clips
CARPHONE_FRAMES = 30  # carphone's first 30 frames, re-encoded: a real picture, kept short
GOOD_VIDEOS = sorted([*CLIP_LENGTHS, "carphone.mp4"])
GOOD_IMAGES = ["astronaut.png", "nested/coffee.jpg"]
CORRUPT = ["broken.mp4", "broken.png"]
TRUNCATED = "truncated.mp4"  # decodes some of its 30 frames, then fails: leaves no file behind
CHUNK = 8


def _faststart(frames, path, fps):
    """A clip with its index in front (so that half of it still decodes), remuxed."""
    import av

    plain = write_clip(path + ".plain.mp4", frames, fps=fps)
    with av.open(plain) as src, av.open(path, "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    os.remove(plain)
    return path


def write_inputs(root: pathlib.Path) -> pathlib.Path:
    """Writes the test folder under `root`; returns the input folder, `root / "input"`."""
    import skimage.data
    import skimage.io

    source = root / "input"
    (source / "nested").mkdir(parents=True)
    for seed, (name, length) in enumerate(sorted(CLIP_LENGTHS.items())):
        write_clip(str(source / name), moving_shapes(length, 48, 64, seed=seed))
    carphone, info = video.read_video(real_clips()["carphone"], max_frames=CARPHONE_FRAMES)
    write_clip(str(source / "carphone.mp4"), carphone, fps=info.fps)
    whole = _faststart(carphone, str(root / "whole.mp4"), info.fps)
    data = open(whole, "rb").read()
    (source / TRUNCATED).write_bytes(data[: len(data) // 2])
    skimage.io.imsave(str(source / "astronaut.png"), skimage.data.astronaut())
    skimage.io.imsave(str(source / "nested" / "coffee.jpg"), skimage.data.coffee())
    (source / "broken.mp4").write_bytes(np.random.default_rng(0).bytes(4000))
    (source / "broken.png").write_bytes(b"\x89PNG but not really")
    (source / "notes.txt").write_text("not an input")
    return source
