"""The multi-stream video loader: plans, stream order, flags, frames, splits and sources.

The collection's frames say who they are: frame f of video n has red 40 (n + 1) + row,
green f and blue 4 * column, so every check below reads the video, the frame and the
placement back from the pixels.
"""

from __future__ import annotations

import dataclasses
import logging
import os

import numpy as np
import pytest
import tensorflow as tf

from tfcolor import codecs, color
from tfcolor.config import CodecConfig, DataConfig
from tfcolor.input_pipeline import records, video_streams, videos
from tfcolor.input_pipeline.files import is_validation

T = 4
HEIGHT, WIDTH = 24, 32
# Frames of each video: 1, 2, 5, 3 and 7 chunks of T = 4, most with a shorter last chunk.
FRAMES = {"clips/a.mp4": 3, "clips/b.mp4": 6, "clips/c.mp4": 19, "d.mp4": 12, "e/e.mp4": 25}
IDS = sorted(FRAMES)


def frame_pixels(video_number: int, frame_index: int) -> np.ndarray:
    """uint8 [HEIGHT, WIDTH, 3]: red 40 (n + 1) + row, green f, blue 4 * column."""
    rows = np.arange(HEIGHT)[:, None] + np.zeros((1, WIDTH), int)
    cols = np.zeros((HEIGHT, 1), int) + np.arange(WIDTH)[None, :]
    red = 40 * (video_number + 1) + rows
    green = np.full_like(rows, frame_index)
    return np.stack([red, green, 4 * cols], axis=-1).astype(np.uint8)


def write_collection(folder: str, frames: dict[str, int], chunk_frames: int = T) -> str:
    """A collection as `python -m tfcolor.preprocess` writes it: PNG frames, one file a video."""
    os.makedirs(os.path.join(folder, records.VIDEO_FOLDER), exist_ok=True)
    entries = []
    for video_id, count in frames.items():
        number = IDS.index(video_id) if video_id in IDS else 0
        file = records.video_file_name(video_id)
        chunks = -(-count // chunk_frames)
        with tf.io.TFRecordWriter(os.path.join(folder, file)) as writer:
            for chunk in range(chunks):
                first = chunk * chunk_frames
                encoded = [
                    tf.io.encode_png(frame_pixels(number, index)).numpy()
                    for index in range(first, min(count, first + chunk_frames))
                ]
                example = records.chunk_example(
                    video_id,
                    chunk,
                    chunk == chunks - 1,
                    first,
                    encoded,
                    HEIGHT,
                    WIDTH,
                    (0, 0, HEIGHT, WIDTH),
                    25.0,
                )
                writer.write(example.SerializeToString())
        entries.append(
            records.VideoEntry(
                id=video_id,
                file=file,
                frames=count,
                chunks=chunks,
                chunk_frames=chunk_frames,
                fps=25.0,
                height=HEIGHT,
                width=WIDTH,
                source_height=HEIGHT,
                source_width=WIDTH,
            )
        )
    records.write_manifest(folder, entries)
    return folder


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> str:
    return write_collection(str(tmp_path_factory.mktemp("collection")), FRAMES)


def config(folder: str, **overrides) -> DataConfig:
    """Every video in both splits (validation_source = source), unless overridden."""
    values = dict(
        source=f"tfrecord:{folder}",
        validation_source=f"tfrecord:{folder}",
        frame_size=(WIDTH, HEIGHT),
        chunk_frames=T,
        batch_size=2,
    )
    values.update(overrides)
    return DataConfig(**values)


def rows_by_stream(dataset: tf.data.Dataset) -> list[list[dict]]:
    """One epoch as, per stream, its rows in order (numpy)."""
    streams = None
    for batch in dataset.as_numpy_iterator():
        width = len(batch["reset"])
        streams = streams or [[] for _ in range(width)]
        for b in range(width):
            streams[b].append({key: value[b] for key, value in batch.items()})
    return streams or []


def played(streams: list[list[dict]]) -> list[list[tuple[str, int]]]:
    return [
        [(row["video_id"].decode(), int(row["chunk_index"])) for row in stream if row["video_id"]]
        for stream in streams
    ]


def video_ids(dataset: tf.data.Dataset) -> set[str]:
    return {video_id for stream in played(rows_by_stream(dataset)) for video_id, _ in stream}


def check_streams(streams, expected_frames: dict[str, int], top: int = 0, left: int = 0) -> None:
    """Every real chunk once, each video's chunks consecutive and in order within one stream,
    flags and masks right, blank rows only at the end, the frames those written."""
    seen = set()
    for stream in streams:
        blank_started = False
        previous = None
        for row in stream:
            video_id = row["video_id"].decode()
            if not video_id:
                blank_started = True
                assert row["reset"] and row["chunk_index"] == -1
                assert not row["mask"].any() and not row["frames"].any()
                continue
            assert not blank_started, "a real chunk after a blank row"
            chunk = int(row["chunk_index"])
            assert (video_id, chunk) not in seen
            seen.add((video_id, chunk))
            if chunk > 0:
                assert previous == (video_id, chunk - 1), "a video's chunks are not consecutive"
            assert bool(row["reset"]) == (chunk == 0)
            count = min(T, expected_frames[video_id] - chunk * T)
            np.testing.assert_array_equal(row["mask"], [1.0] * count + [0.0] * (T - count))
            number = IDS.index(video_id)
            for t in range(T):
                frame = row["frames"][t]
                if t < count:
                    content = frame[top : top + HEIGHT, left : left + WIDTH]
                    np.testing.assert_array_equal(content, frame_pixels(number, chunk * T + t))
                    outside = frame.copy()
                    outside[top : top + HEIGHT, left : left + WIDTH] = 0
                    assert not outside.any(), "padding must be zero"
                else:
                    assert not frame.any(), "the frames after a short last chunk must be zero"
            previous = (video_id, chunk)
    expected = {(v, c) for v, n in expected_frames.items() for c in range(-(-n // T))}
    assert seen == expected


@pytest.mark.parametrize("streams", [1, 2, 3])
@pytest.mark.parametrize("split", ["train", "validation"])
def test_every_chunk_once_in_order(collection, streams, split):
    data = config(collection)
    dataset = video_streams.make_video_streams(data, split, streams=streams)
    spec = dataset.element_spec
    assert spec["frames"].shape == (streams, T, HEIGHT, WIDTH, 3)
    assert spec["frames"].dtype == tf.uint8
    assert spec["mask"].shape == (streams, T) and spec["mask"].dtype == tf.float32
    assert spec["reset"].shape == (streams,) and spec["reset"].dtype == tf.bool
    assert spec["video_id"].dtype == tf.string and spec["chunk_index"].dtype == tf.int64
    by_stream = rows_by_stream(dataset)
    assert len(by_stream) == streams
    steps = len(by_stream[0])
    assert steps == video_streams.count_steps(data, split, streams=streams)
    assert steps == int(dataset.cardinality())
    check_streams(by_stream, FRAMES)


def test_streams_are_balanced(collection):
    # 7, 5, 3, 2, 1 chunks on 2 streams: longest first to the emptier stream gives 9 and 9.
    steps = {
        b: video_streams.count_steps(config(collection), "train", streams=b) for b in (1, 2, 3)
    }
    assert steps == {1: 18, 2: 9, 3: 7}


def test_plan_streams():
    chunks = [1, 2, 5, 3, 7, 7, 2]
    for seed in (None, 0, (3, 1)):
        plan = video_streams.plan_streams(chunks, 3, seed)
        assert sorted(v for stream in plan for v in stream) == list(range(len(chunks)))
        totals = sorted(sum(chunks[v] for v in stream) for stream in plan)
        assert totals == [9, 9, 9]
    # Without a seed each stream plays in the given order.
    assert all(s == sorted(s) for s in video_streams.plan_streams(chunks, 3))
    assert video_streams.plan_streams([], 2) == [[], []]
    with pytest.raises(ValueError, match="streams"):
        video_streams.plan_streams(chunks, 0)


def test_more_streams_than_videos(collection):
    data = config(collection)
    by_stream = rows_by_stream(video_streams.make_video_streams(data, "validation", streams=7))
    assert len(by_stream) == 7 and len(by_stream[0]) == 7
    assert sum(1 for stream in played(by_stream) if not stream) == 2  # all-blank streams
    check_streams(by_stream, FRAMES)


def test_padded_to_a_multiple(collection):
    data = config(collection)
    dataset = video_streams.make_video_streams(data, "validation", streams=2, multiple=16)
    # 24 x 32 -> 32 x 32: the stored frame stays centred (4 rows above, 4 below).
    assert dataset.element_spec["frames"].shape == (2, T, 32, 32, 3)
    check_streams(rows_by_stream(dataset), FRAMES, top=4)


def test_frame_size_is_the_canvas(collection, caplog):
    # Frames stored smaller than frame_size are centred in it (as video.placement centres).
    data = config(collection, frame_size=(WIDTH + 9, HEIGHT + 6))
    dataset = video_streams.make_video_streams(data, "validation", streams=2, multiple=2)
    assert dataset.element_spec["frames"].shape == (2, T, HEIGHT + 6, WIDTH + 10, 3)
    check_streams(rows_by_stream(dataset), FRAMES, top=3, left=5)
    # Stored frames padded beyond frame_size (preprocess: 240x135 -> 240x136 at multiple 8)
    # fill the canvas that frame_size rounds up to.
    data = config(collection, frame_size=(WIDTH - 3, HEIGHT - 1))
    dataset = video_streams.make_video_streams(data, "validation", streams=2, multiple=8)
    assert dataset.element_spec["frames"].shape == (2, T, HEIGHT, WIDTH, 3)
    # Frames written at a larger frame size are kept whole, with a warning.
    with caplog.at_level(logging.WARNING):
        dataset = video_streams.make_video_streams(config(collection, frame_size=(16, 16)), "train")
    assert "32x24 frames, larger than frame_size 16x16" in caplog.text
    assert dataset.element_spec["frames"].shape == (2, T, HEIGHT, WIDTH, 3)


def test_training_plan_shuffles_with_the_seed(collection):
    def orders(data, streams=1, epoch=0):
        dataset = video_streams.make_video_streams(data, "train", streams=streams, epoch=epoch)
        return played(rows_by_stream(dataset))

    data = config(collection, seed=0)
    assert orders(data) == orders(data)
    assert orders(data) != orders(dataclasses.replace(data, seed=1))
    assert orders(data, 2) != orders(dataclasses.replace(data, seed=1), 2)
    # A new plan on every iteration (epoch), the same steps; epoch=e starts at epoch e's plan.
    dataset = video_streams.make_video_streams(data, "train", streams=2)
    first, second = (played(rows_by_stream(dataset)) for _ in range(2))
    assert first != second
    assert second == orders(data, 2, epoch=1)
    check_streams(rows_by_stream(dataset), FRAMES)  # the third epoch is whole too
    # Repeated (one iterator, fit with steps_per_epoch): each pass plays the next epoch's plan.
    repeated = video_streams.make_video_streams(data, "train", streams=2).repeat(2)
    assert played(rows_by_stream(repeated)) == [
        a + b for a, b in zip(orders(data, 2), second, strict=True)
    ]
    # Validation keeps one fixed order: videos by id within each stream.
    validation = video_streams.make_video_streams(data, "validation", streams=1)
    assert [v for v, c in played(rows_by_stream(validation))[0] if c == 0] == IDS


def test_hash_split_keeps_videos_whole(collection):
    fraction = 0.4
    data = config(collection, validation_source=None, validation_fraction=fraction)
    ids = {
        split: video_ids(video_streams.make_video_streams(data, split, streams=2))
        for split in ("train", "validation")
    }
    assert ids["train"] and ids["validation"]
    assert ids["train"] | ids["validation"] == set(IDS)
    assert not ids["train"] & ids["validation"]
    assert ids["validation"] == {v for v in IDS if is_validation(v, fraction)}
    for split in ("train", "validation"):
        counts = videos.video_frame_counts(data, split)
        assert counts == {v: FRAMES[v] for v in ids[split]}
        assert videos.video_num_chunks(data, split) == sum(-(-n // T) for n in counts.values())


def test_tiny_collection_still_trains(tmp_path, caplog):
    folder = write_collection(str(tmp_path), {"clips/a.mp4": 6})
    # A fraction this high puts every video in validation: the first one trains instead.
    data = config(folder, validation_source=None, validation_fraction=0.999)
    assert videos.video_frame_counts(data, "train") == {"clips/a.mp4": 6}
    with caplog.at_level(logging.WARNING):
        validation = video_streams.make_video_streams(data, "validation", streams=2)
    assert "validation part" in caplog.text and folder in caplog.text
    assert int(validation.cardinality()) == 0
    assert not list(validation)


def test_regrouped_into_other_chunk_lengths(collection):
    # Written in chunks of 4, read in chunks of 3: the same frames, in order, recounted.
    data = config(collection, chunk_frames=3)
    by_stream = rows_by_stream(video_streams.make_video_streams(data, "validation", streams=2))
    frames = {}
    for stream in by_stream:
        for row in stream:
            if row["video_id"]:
                real = row["frames"][row["mask"] > 0]
                frames.setdefault(row["video_id"].decode(), []).extend(real)
                assert row["reset"] == (row["chunk_index"] == 0)
    assert set(frames) == set(IDS)
    for video_id, got in frames.items():
        number = IDS.index(video_id)
        expected = [frame_pixels(number, f) for f in range(FRAMES[video_id])]
        np.testing.assert_array_equal(np.stack(got), np.stack(expected))


@pytest.mark.parametrize(
    "codec_config, target_shape, target_dtype",
    [
        (CodecConfig(name="grid", n_bins=36), (2, T, HEIGHT // 2, WIDTH // 2), tf.int32),
        (
            CodecConfig(name="regression", normalization="tanh", rebalance=None),
            (2, T, HEIGHT // 2, WIDTH // 2, 2),
            tf.float32,
        ),
    ],
    ids=["grid", "regression"],
)
def test_make_video_dataset(collection, codec_config, target_shape, target_dtype):
    data = config(collection)
    codec = codecs.make_codec(codec_config)
    input_fn = video_streams.make_video_input_fn(
        data, codec, split="validation", multiple=8, target_stride=2
    )
    dataset = input_fn()
    inputs, targets, mask = dataset.element_spec
    assert inputs["lightness"].shape == (2, T, HEIGHT, WIDTH, 1)
    assert inputs["lightness"].dtype == tf.float32
    assert inputs["reset"].shape == (2,) and inputs["reset"].dtype == tf.bool
    assert targets.shape == target_shape and targets.dtype == target_dtype
    assert mask.shape == (2, T) and mask.dtype == tf.float32

    streams = video_streams.make_video_streams(data, "validation", multiple=8)
    # The image pipeline's parallelism policy; the strategy's sharding stays off as well.
    for returned in (dataset, streams):
        assert returned.options().autotune.enabled is False
        assert (
            returned.options().experimental_distribute.auto_shard_policy
            == tf.data.experimental.AutoShardPolicy.OFF
        )
    for (inputs, targets, mask), raw in zip(dataset.take(3), streams.take(3), strict=True):
        rgb = tf.image.convert_image_dtype(raw["frames"], tf.float32)
        lightness, ab = color.lightness_and_ab(rgb)
        np.testing.assert_allclose(inputs["lightness"], lightness, atol=1e-5)
        pooled = tf.nn.avg_pool2d(tf.reshape(ab, [-1, HEIGHT, WIDTH, 2]), 2, 2, "VALID")
        expected = tf.reshape(codec.encode(pooled), target_shape)
        if target_dtype == tf.int32:
            assert np.mean(targets.numpy() == expected.numpy()) > 0.999  # XLA rounding at edges
        else:
            np.testing.assert_allclose(targets, expected, atol=1e-4)
        np.testing.assert_array_equal(mask, raw["mask"])
        np.testing.assert_array_equal(inputs["reset"], raw["reset"])


def test_missing_chunk_file_is_skipped(tmp_path, caplog):
    folder = write_collection(str(tmp_path), {"clips/a.mp4": 3, "clips/b.mp4": 6, "d.mp4": 12})
    os.remove(os.path.join(folder, records.video_file_name("clips/b.mp4")))
    with open(os.path.join(folder, records.FAILED), "w") as f:
        f.write("clips/z.mp4\tcannot be opened (Invalid data found when processing input)\n")
    data = config(folder)
    with caplog.at_level(logging.WARNING):
        by_stream = rows_by_stream(video_streams.make_video_streams(data, "validation"))
    assert "clips/b.mp4" in caplog.text
    assert {v for stream in played(by_stream) for v, _ in stream} == {"clips/a.mp4", "d.mp4"}
    stats = videos.video_stats(data)
    assert stats.skipped_files == ["clips/z.mp4", "clips/b.mp4"]
    assert stats.total == 4


def test_bad_sources_are_named(tmp_path):
    missing = str(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="nowhere"):
        video_streams.make_video_streams(config(missing), "train")
    empty = str(tmp_path / "empty")
    os.makedirs(empty)
    with pytest.raises(ValueError, match=f"{empty}.*videos.jsonl"):
        video_streams.make_video_streams(config(empty), "train")
    with pytest.raises(ValueError, match="accepted forms"):
        video_streams.make_video_streams(DataConfig(source="folder:x"), "train")
    with pytest.raises(ValueError, match="split"):
        video_streams.make_video_streams(config(str(tmp_path)), "test")
    with pytest.raises(ValueError, match="no video files"):
        video_streams.make_video_streams(config(empty, source=f"video:{empty}"), "train")
    with pytest.raises(ValueError, match="nowhere"):
        video_streams.make_video_streams(config(missing, source=f"video:{missing}"), "train")


# --- video:DIR ---

CLIPS = {"one.mp4": 5, "sub/two.mp4": 9, "three.mp4": 3}


@pytest.fixture(scope="module")
def video_folder(tmp_path_factory) -> str:
    from tests.video_helpers import moving_shapes, write_clip

    root = tmp_path_factory.mktemp("videos")
    os.makedirs(root / "sub")
    for seed, (name, count) in enumerate(CLIPS.items()):
        write_clip(str(root / name), moving_shapes(count, 32, 48, seed=seed))
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
    return str(root)


def test_video_folder_streams_and_skips_the_broken_file(video_folder, caplog):
    data = DataConfig(
        source=f"video:{video_folder}",
        validation_source=f"video:{video_folder}",
        frame_size=(24, 16),  # 48 x 32 sources, halved
        chunk_frames=T,
    )
    with caplog.at_level(logging.WARNING):
        dataset = video_streams.make_video_streams(data, "train", streams=2, multiple=8)
    assert "broken.mp4" in caplog.text
    assert videos.video_stats(data).skipped_files == ["broken.mp4"]
    assert dataset.element_spec["frames"].shape == (2, T, 16, 24, 3)
    by_stream = rows_by_stream(dataset)
    chunks = {}
    for stream in by_stream:
        for row in stream:
            if row["video_id"]:
                video_id = row["video_id"].decode()
                chunks.setdefault(video_id, []).append(int(row["chunk_index"]))
                count = min(T, CLIPS[video_id] - int(row["chunk_index"]) * T)
                assert row["mask"].sum() == count
                assert row["reset"] == (row["chunk_index"] == 0)
                assert row["frames"][:count].mean() > 10  # a picture, not padding
    assert chunks == {name: list(range(-(-n // T))) for name, n in CLIPS.items()}
    assert videos.video_frame_counts(data, "train") == CLIPS


def test_bench_video_pipeline(collection, capsys):
    from tfcolor.cli import bench

    code = bench.main(
        ["video-pipeline", "--data", f"tfrecord:{collection}", "--streams", "1,2"]
        + ["--chunk-frames", "4", "--steps", "2", "--rounds", "1"]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "5 training videos, 65 frames" in printed
    assert "decode only" in printed and "B = 2" in printed
    assert bench.main(["video-pipeline", "--data", f"tfrecord:{collection}/nowhere"]) == 2
