"""`tfcolor.preprocessing.beam`: the Beam pipeline (DirectRunner) on a small folder of clips and
images, read back with tf.data, `input_pipeline.records` and the image sources."""

from __future__ import annotations

import fractions
import os

import numpy as np
import pytest
import tensorflow as tf

from tests.preprocessing.beam_inputs import (
    CARPHONE_FRAMES,
    CHUNK,
    CLIP_LENGTHS,
    CORRUPT,
    GOOD_IMAGES,
    GOOD_VIDEOS,
    TRUNCATED,
    write_inputs,
)
from tests.video_helpers import moving_shapes, write_clip
from tfcolor.input_pipeline import records as video_records
from tfcolor.media import geometry
from tfcolor.media import video_io as video
from tfcolor.preprocessing import beam

pytest.importorskip("apache_beam")


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    """(input folder, output folder, summary) of one pipeline run over the test folder."""
    root = tmp_path_factory.mktemp("preprocess")
    source = write_inputs(root)
    output = root / "output"
    summary = beam.preprocess(str(source), str(output), chunk_frames=CHUNK)
    return source, output, summary


def _chunks(path):
    return [
        {key: value.numpy() for key, value in chunk.items()}
        for chunk in tf.data.TFRecordDataset(path).map(video_records.parse_chunk)
    ]


def test_summary(collection):
    _, output, summary = collection
    assert summary["videos"] == len(GOOD_VIDEOS)
    assert summary["frames"] == sum(CLIP_LENGTHS.values()) + CARPHONE_FRAMES
    # ceil(frames / 8): 1 + 2 + 3 + 4
    assert summary["chunks"] == 10
    assert summary["images"] == len(GOOD_IMAGES)
    assert sorted(path for path, _ in summary["failed"]) == sorted([*CORRUPT, TRUNCATED])
    assert summary["output_dir"] == str(output)


def test_every_decoded_frame_is_written(collection):
    source, output, _ = collection
    decoded = sum(sum(1 for _ in video.iter_frames(str(source / name))) for name in GOOD_VIDEOS)
    files = tf.io.gfile.glob(str(output / "videos" / "*.tfrecord"))
    dataset = tf.data.TFRecordDataset(files).map(video_records.parse_chunk)
    written = sum(int(chunk["num_frames"]) for chunk in dataset)
    assert written == decoded == sum(CLIP_LENGTHS.values()) + CARPHONE_FRAMES


def test_chunks_are_in_order(collection):
    _, output, _ = collection
    for entry in video_records.read_manifest(str(output)):
        chunks = _chunks(str(output / entry.file))
        assert [int(c["chunk_index"]) for c in chunks] == list(range(len(chunks)))
        assert [int(c["last"]) for c in chunks] == [0] * (len(chunks) - 1) + [1]
        first = 0
        for number, chunk in enumerate(chunks):
            assert chunk["video_id"].decode() == entry.id
            assert int(chunk["first_frame"]) == first
            expected = CHUNK if number < len(chunks) - 1 else entry.frames - first
            assert int(chunk["num_frames"]) == len(chunk["frames"]) == expected
            assert 1 <= expected <= CHUNK
            assert (int(chunk["height"]), int(chunk["width"])) == (136, 240)
            place = geometry.placement(entry.source_height, entry.source_width, (240, 135), 8)
            assert tuple(chunk["content"]) == place.content
            assert chunk["fps"] == pytest.approx(entry.fps)
            first += expected
        assert first == entry.frames


# Measured: mean abs error 0.80-0.87 on the synthetic clips, 1.35 on carphone (JPEG quality 95,
# full-resolution chroma); the padding stays black.
def test_frames_are_the_scaled_and_padded_source(collection):
    source, output, _ = collection
    for entry in video_records.read_manifest(str(output)):
        frames, info = video.read_video(str(source / entry.id))
        place = geometry.placement(info.height, info.width, (240, 135), 8)
        expected = geometry.scale_and_pad(frames, place).numpy()
        stored = np.stack(
            [
                tf.io.decode_jpeg(data).numpy()
                for chunk in _chunks(str(output / entry.file))
                for data in chunk["frames"]
            ]
        )
        assert stored.shape == expected.shape == (entry.frames, 136, 240, 3)
        assert np.abs(stored.astype(int) - expected).mean() < 2.0, entry.id
        # The padding is black, up to JPEG's ringing in the 8x8 blocks it shares with the
        # picture (measured: at most 22, in the row next to it).
        top, left, height, width = place.content
        padding = np.ones((136, 240), bool)
        padding[top : top + height, left : left + width] = False
        assert stored[:, padding].mean() < 1.0


def test_manifest_lists_the_good_videos(collection):
    _, output, _ = collection
    entries = {entry.id: entry for entry in video_records.read_manifest(str(output))}
    assert sorted(entries) == GOOD_VIDEOS
    for name, length in CLIP_LENGTHS.items():
        entry = entries[name]
        assert (entry.frames, entry.chunks, entry.chunk_frames) == (length, -(-length // CHUNK), 8)
        assert (entry.source_height, entry.source_width, entry.height, entry.width) == (
            48,
            64,
            136,
            240,
        )
        assert entry.fps == 25.0
        assert entry.file == video_records.video_file_name(name)
    carphone = entries["carphone.mp4"]
    assert (carphone.frames, carphone.chunks) == (30, 4)
    assert (carphone.source_height, carphone.source_width) == (144, 176)
    assert carphone.fps == pytest.approx(float(fractions.Fraction(30000, 1001)))


def test_failures_are_listed_and_leave_no_file(collection):
    _, output, _ = collection
    lines = (output / "failed.txt").read_text().splitlines()
    failed = dict(line.split("\t", 1) for line in lines)
    assert sorted(failed) == sorted([*CORRUPT, TRUNCATED])
    assert failed["broken.mp4"].startswith("cannot be opened")
    assert failed["broken.png"].startswith("cannot be decoded (Unknown image file format")
    # Measured: frame 9 (the first 9 frames hold the first half of the bytes), so a chunk had
    # been written to the temporary file before the failure.
    reason = failed[TRUNCATED]
    assert reason.startswith("is truncated: cannot be decoded at frame "), reason
    assert CHUNK < int(reason.split("at frame ")[1].split()[0]) < CARPHONE_FRAMES
    # Only the good videos' files, no temporary file of the truncated one.
    written = sorted(os.listdir(output / "videos"))
    assert written == sorted(
        os.path.basename(video_records.video_file_name(v)) for v in GOOD_VIDEOS
    )


def test_images_are_in_the_shards(collection):
    source, output, _ = collection
    shards = tf.io.gfile.glob(str(output / "images-*-of-*.tfrecord"))
    assert shards
    records = [
        tf.io.parse_single_example(record, video_records.IMAGE_FEATURES)
        for record in tf.data.TFRecordDataset(shards)
    ]
    names = sorted(record["name"].numpy().decode() for record in records)
    assert names == GOOD_IMAGES
    for record in records:
        name = record["name"].numpy().decode()
        # --image-size 0: the file's bytes as they were read
        assert record["image"].numpy() == (source / name).read_bytes()


def test_png_frames_source_size_and_image_size(tmp_path):
    """PNG frames are exactly scale_and_pad's; 0x0 keeps the source size (padded to the
    multiple); --image-size re-encodes large images with the shorter side at that size."""
    import skimage.data
    import skimage.io

    source = tmp_path / "input"
    source.mkdir()
    frames = moving_shapes(11, 46, 62, seed=5)
    write_clip(str(source / "clip.mp4"), frames)
    skimage.io.imsave(str(source / "chelsea.png"), skimage.data.chelsea())  # 300x451
    summary = beam.preprocess(
        str(source),
        str(tmp_path / "output"),
        chunk_frames=5,
        frame_size=None,
        multiple=16,
        frame_format="png",
        image_size=64,
    )
    assert (summary["videos"], summary["frames"], summary["chunks"]) == (1, 11, 3)
    assert summary["failed"] == []
    (entry,) = video_records.read_manifest(str(tmp_path / "output"))
    assert (entry.height, entry.width) == (48, 64)
    decoded, _ = video.read_video(str(source / "clip.mp4"))
    expected = geometry.scale_and_pad(decoded, geometry.placement(46, 62, None, 16)).numpy()
    stored = np.stack(
        [
            tf.io.decode_png(data).numpy()
            for chunk in _chunks(str(tmp_path / "output" / entry.file))
            for data in chunk["frames"]
        ]
    )
    np.testing.assert_array_equal(stored, expected)
    (record,) = list(
        tf.data.TFRecordDataset(tf.io.gfile.glob(str(tmp_path / "output" / "images-*")))
    )
    image = tf.io.decode_image(
        tf.io.parse_single_example(record, video_records.IMAGE_FEATURES)["image"]
    )
    assert image.shape == (64, 96, 3)  # 300x451 with the shorter side at 64


def test_library_rejects_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        beam.preprocess(str(tmp_path / "missing"), str(tmp_path / "out"))
    with pytest.raises(ValueError, match="chunk_frames=0"):
        beam.preprocess(str(tmp_path), str(tmp_path / "out"), chunk_frames=0)
    with pytest.raises(ValueError, match="holds no videos"):
        beam.preprocess(str(tmp_path), str(tmp_path / "out"))


def test_collection_images_are_an_image_source(collection):
    """`tfrecord:DIR` reads the collection's images for image models, held out by name, and
    its videos' frames (tests/input_pipeline/test_video_frame_images.py)."""
    import skimage.data

    from tfcolor.config import DataConfig
    from tfcolor.input_pipeline import label_names, read_source, transforms

    _, output, _ = collection
    data = DataConfig(source=f"tfrecord:{output}", image_size=32, validation_fraction=0.5)
    names = {}
    for split in ("train", "validation"):
        for element in read_source(data, split, shuffle=False).as_numpy_iterator():
            names[element["name"].decode()] = (split, element["rgb"])
    frames = {name for name in names if "#" in name}
    assert frames and {name.split("#")[0] for name in frames} <= set(
        entry.id for entry in video_records.read_manifest(output)
    )
    assert sorted(set(names) - frames) == ["astronaut.png", "nested/coffee.jpg"]
    expected = transforms.resize_and_crop(transforms.to_rgb(skimage.data.astronaut()), 32).numpy()
    np.testing.assert_allclose(names["astronaut.png"][1], expected, atol=1e-6)  # PNG: exact
    # The same split on every read; the labels are the top-level subfolders.
    again = read_source(data, names["astronaut.png"][0], shuffle=False).as_numpy_iterator()
    assert "astronaut.png" in [element["name"].decode() for element in again]
    with pytest.raises(ValueError, match="at least two classes"):
        label_names(data)  # one subfolder only: nested


def test_a_folder_without_image_shards_is_named(tmp_path):
    from tfcolor.config import DataConfig
    from tfcolor.input_pipeline import read_source

    data = DataConfig(source=f"tfrecord:{tmp_path}")
    with pytest.raises(ValueError, match=str(tmp_path)):
        read_source(data, "train", shuffle=False)


def test_beam_is_installed_here():
    # The tests above need it (importorskip); the command's one-line error is tested without
    # it in tests/cli/test_cli_faults.py.
    assert beam.beam_installed()
