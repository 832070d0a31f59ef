"""`tfcolor.benchmarks.video_pipeline` (`bench video-pipeline`) on a small synthetic collection
(`tfcolor.benchmarks.data`); the command's own output is tested in
tests/input_pipeline/test_video_streams.py."""

from __future__ import annotations

import os

import pytest

from tfcolor.benchmarks import data, video_pipeline


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("collection"))
    return data.write_synthetic_collection(folder, videos=3, frame_size=(32, 24), chunk_frames=4)


def test_decode_only_counts_every_stored_frame(collection):
    from tfcolor.input_pipeline import records

    frames, count = video_pipeline.decode_only(f"tfrecord:{collection}", batch=16)
    total = sum(entry.frames for entry in records.read_manifest(collection))
    assert count is int and sum(int(n) for n in frames.as_numpy_iterator()) == total


def test_run_video_pipeline_benchmark(collection):
    from tfcolor.input_pipeline import records

    entries = records.read_manifest(collection)
    result = video_pipeline.run_video_pipeline_benchmark(
        f"tfrecord:{collection}", streams=(1, 2), chunk_frames=4, steps=2, rounds=1
    )
    assert result["decode"] > 0
    for kind in ("streams", "pipeline", "repeated"):
        assert set(result[kind]) == {1, 2} and min(result[kind].values()) > 0
    # validation_source is the source itself, so "train" is every video.
    assert (result["videos"], result["frames"]) == (len(entries), sum(e.frames for e in entries))
    # The default frame size's canvas (240x135, sides padded to a multiple of 8): smaller
    # stored frames are centred in it.
    assert result["canvas"] == (136, 240)
    assert result["steps"][1] >= result["steps"][2] >= 1


@pytest.mark.reliability
def test_video_decode_reference_skips_a_fifo(tmp_path):
    """bench video-pipeline's decode-only reference lists a local folder with
    `files.walk_files`: a FIFO named like a video is never opened (it would block)."""
    from tests.video_helpers import moving_shapes, write_clip

    write_clip(str(tmp_path / "clip.mp4"), moving_shapes(6, 24, 32))
    os.mkfifo(tmp_path / "stuck.mp4")
    frames, _ = video_pipeline.decode_only(f"video:{tmp_path}", batch=4)
    assert [int(count) for count in frames.as_numpy_iterator()] == [4, 2]
