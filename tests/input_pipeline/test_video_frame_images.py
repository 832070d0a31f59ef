"""Image models on video sources: each frame of `video:DIR` or of a `tfrecord:DIR`
collection's videos is one image, the videos split as the recurrent models split them."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests.video_helpers import moving_shapes, write_clip

CLIP_FRAMES = (5, 7, 6, 4)


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("frame_clips")
    for index, frames in enumerate(CLIP_FRAMES):
        write_clip(str(root / f"clip{index}.mp4"), moving_shapes(frames, 24, 32, seed=index))
    return str(root)


def _data(source: str):
    from tfcolor.config import DataConfig

    return DataConfig(source=source, image_size=16, batch_size=2, validation_fraction=0.3)


def _names(dataset):
    return [element["name"].decode() for element in dataset.as_numpy_iterator()]


def test_video_frames_are_images_split_by_video(clip_folder):
    from tfcolor.input_pipeline import images, sources, videos

    data = _data("video:" + clip_folder)
    train = sources.read_source(data, "train", shuffle=False)
    assert train.element_spec["rgb"].shape == (16, 16, 3)
    train_names = _names(train)
    validation_names = _names(sources.read_source(data, "validation", shuffle=False))
    trained = {name.split("#")[0] for name in train_names}
    held_out = {name.split("#")[0] for name in validation_names}
    # Every frame once, whole videos on one side, as the recurrent models' split has them.
    assert trained | held_out == {f"clip{index}.mp4" for index in range(len(CLIP_FRAMES))}
    assert not trained & held_out and held_out
    assert held_out == set(videos.video_frame_counts(data, "validation"))
    assert sorted(train_names + validation_names) == sorted(
        f"clip{index}.mp4#{frame}"
        for index, count in enumerate(CLIP_FRAMES)
        for frame in range(count)
    )
    assert images.num_examples(data, "train") == len(train_names)
    shuffled = _names(sources.read_source(data, "train", shuffle=True))
    assert sorted(shuffled) == sorted(train_names) and shuffled != train_names
    # The frames are the clips' pictures, scaled and centre-cropped as images are.
    first = next(train.as_numpy_iterator())
    assert first["rgb"].max() > 0.5 and first["label"] == b""


def test_collection_frames_without_their_padding(tmp_path):
    """A collection's frames are cropped to the picture inside their stored canvas."""
    import tensorflow as tf

    from tfcolor.input_pipeline import records, sources

    picture = np.zeros((8, 16, 3), np.uint8)
    picture[..., 0] = 200  # red
    canvas = np.zeros((16, 16, 3), np.uint8)
    canvas[4:12] = picture  # black bars above and below, as preprocess pads
    encoded = tf.io.encode_png(canvas).numpy()
    entries = []
    os.makedirs(tmp_path / records.VIDEO_FOLDER)
    for video_id, frames in (("a.mp4", 3), ("b.mp4", 2)):
        file = records.video_file_name(video_id)
        with tf.io.TFRecordWriter(str(tmp_path / file)) as writer:
            for chunk_index, first in enumerate(range(0, frames, 2)):
                count = min(2, frames - first)
                example = records.chunk_example(
                    video_id,
                    chunk_index,
                    first + count == frames,
                    first,
                    [encoded] * count,
                    16,
                    16,
                    (4, 0, 8, 16),
                    25.0,
                )
                writer.write(example.SerializeToString())
        chunks = -(-frames // 2)
        entries.append(records.VideoEntry(video_id, file, frames, chunks, 2, 25.0, 16, 16, 8, 16))
    records.write_manifest(str(tmp_path), entries)

    data = _data(f"tfrecord:{tmp_path}")
    found = list(sources.read_source(data, "all", shuffle=False).as_numpy_iterator())
    assert [element["name"].decode() for element in found] == [
        "a.mp4#0",
        "b.mp4#0",
        "a.mp4#1",
        "b.mp4#1",
        "a.mp4#2",
    ]
    for element in found:  # no black bar left: the red picture, scaled to 16x16
        np.testing.assert_allclose(element["rgb"][..., 0], 200 / 255, atol=0.01)


def test_an_image_model_trains_on_video_frames(clip_folder, tmp_path):
    from tfcolor.config import smoke
    from tfcolor.training.colorizer import Colorizer

    config = smoke("unet_mse", steps_per_epoch=2)
    config.data.source = "video:" + clip_folder
    config.data.image_size = 16
    config.data.validation_fraction = 0.3
    config.validate()
    colorizer = Colorizer(config, str(tmp_path / "run"))
    history = colorizer.train(verbose=0)
    assert len(history["loss"]) == 1 and np.isfinite(history["loss"][0])
