"""tfcolor.preprocess: the Beam pipeline (DirectRunner) on a small folder of clips and images,
read back with tf.data and video_records, and its command line."""

from __future__ import annotations

import fractions
import os

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import run_python
from tests.video_helpers import moving_shapes, real_clips, write_clip
from tfcolor.cli import preprocess
from tfcolor.input_pipeline import video_records
from tfcolor.media import video_io as video

pytest.importorskip("apache_beam")

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


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    """(input folder, output folder, summary) of one pipeline run over the test folder."""
    import skimage.data
    import skimage.io

    root = tmp_path_factory.mktemp("preprocess")
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

    output = root / "output"
    summary = preprocess.preprocess(str(source), str(output), chunk_frames=CHUNK)
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
            place = video.placement(entry.source_height, entry.source_width, (240, 135), 8)
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
        place = video.placement(info.height, info.width, (240, 135), 8)
        expected = video.scale_and_pad(frames, place).numpy()
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
    summary = preprocess.preprocess(
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
    expected = video.scale_and_pad(decoded, video.placement(46, 62, None, 16)).numpy()
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
        preprocess.preprocess(str(tmp_path / "missing"), str(tmp_path / "out"))
    with pytest.raises(ValueError, match="chunk_frames=0"):
        preprocess.preprocess(str(tmp_path), str(tmp_path / "out"), chunk_frames=0)
    with pytest.raises(ValueError, match="holds no videos"):
        preprocess.preprocess(str(tmp_path), str(tmp_path / "out"))


# === Command line ===


def test_beam_options_in_any_order():
    from apache_beam.options.pipeline_options import DirectOptions, StandardOptions

    args, options = preprocess.parse_args(
        ["--runner", "DirectRunner", "clips", "--direct_num_workers", "2", "--output", "out"]
        + ["--chunk-frames", "4", "--frame-size", "320x180", "--save_main_session"]
    )
    assert (args.input_dir, args.output, args.chunk_frames) == ("clips", "out", 4)
    assert args.frame_size == (320, 180)
    assert options.view_as(StandardOptions).runner == "DirectRunner"
    assert options.view_as(DirectOptions).direct_num_workers == 2
    assert options.get_all_options(drop_default=True)["save_main_session"] is True


def test_unknown_flags_and_bad_values_are_usage_errors(capsys):
    for argv in (
        ["clips", "--output", "out", "--chunk-frame", "4"],  # a typo
        ["clips", "--output", "out", "--frame-size", "240"],
        ["clips"],  # no --output
    ):
        with pytest.raises(SystemExit) as caught:
            preprocess.parse_args(argv)
        assert caught.value.code == 2
    assert "--chunk-frame 4" in capsys.readouterr().err


def test_help_documents_the_runner_options(capsys):
    with pytest.raises(SystemExit) as caught:
        preprocess.main(["--help"])
    assert caught.value.code == 0
    text = capsys.readouterr().out
    for flag in ["--chunk-frames", "--frame-size", "--multiple", "--frame-format"]:
        assert flag in text
    for beam in ["--runner", "DataflowRunner", "FlinkRunner", "--direct_num_workers"]:
        assert beam in text


def test_missing_input_folder_is_one_line(tmp_path, capsys):
    missing = str(tmp_path / "nowhere")
    assert preprocess.main([missing, "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and missing in err[0] and "Traceback" not in err[0]


def test_command_line_run(collection, tmp_path):
    """`python -m tfcolor.preprocess` end to end: exit 1 for the corrupt files, the summary."""
    source, _, _ = collection
    result = run_python(
        ["-m", "tfcolor.preprocess", str(source), "--output", str(tmp_path / "out")],
        timeout=300,
    )
    assert result.returncode == 1, result.stderr[-3000:]
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("preprocessed")]
    assert line.startswith("preprocessed 4 videos (69 frames in 10 chunks), 2 images into ")
    assert line.endswith("3 failed: broken.mp4, broken.png, truncated.mp4")
    assert "Traceback" not in result.stderr
    assert len(video_records.read_manifest(str(tmp_path / "out"))) == 4


def test_collection_images_are_an_image_source(collection):
    """`tfrecord:DIR` reads the collection's images for image models, held out by name."""
    import skimage.data

    from tfcolor.config import DataConfig
    from tfcolor.input_pipeline import label_names, read_source, transforms

    _, output, _ = collection
    data = DataConfig(source=f"tfrecord:{output}", image_size=32, validation_fraction=0.5)
    names = {}
    for split in ("train", "validation"):
        for element in read_source(data, split, shuffle=False).as_numpy_iterator():
            names[element["name"].decode()] = (split, element["rgb"])
    assert sorted(names) == ["astronaut.png", "nested/coffee.jpg"]
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
