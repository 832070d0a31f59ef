"""`tfcolor.benchmarks.data`: the synthetic batch and collection the benchmarks make."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfcolor.benchmarks import data


@pytest.mark.parametrize("classes", [0, 3])
def test_synthetic_batch_is_a_training_batch(classes):
    from tfcolor import codecs
    from tfcolor.config import CodecConfig

    codec = codecs.make_codec(CodecConfig(name="grid", n_bins=324))
    lightness, targets = data.synthetic_batch(codec, 2, 16, 2, classes=classes)
    assert lightness.shape == (2, 16, 16, 1) and lightness.dtype == tf.float32
    assert 0 <= float(tf.reduce_min(lightness)) and float(tf.reduce_max(lightness)) <= 1
    colors = targets["colors"] if classes else targets
    assert colors.shape[:3] == (2, 8, 8)  # pooled to the output stride
    if classes:
        labels = targets["class_logits"].numpy()
        assert labels.shape == (2,) and labels.min() >= 0 and labels.max() < classes
    # The same seed, the same batch.
    again, _ = data.synthetic_batch(codec, 2, 16, 2, classes=classes)
    np.testing.assert_array_equal(lightness, again)


def test_synthetic_collection_reads_back(tmp_path):
    from tfcolor.input_pipeline import records

    folder = data.write_synthetic_collection(
        str(tmp_path), videos=2, frame_size=(32, 24), chunk_frames=16
    )
    entries = records.read_manifest(folder)
    assert [entry.id for entry in entries] == ["synthetic/clip000.mp4", "synthetic/clip001.mp4"]
    for entry in entries:
        assert 40 <= entry.frames < 240 and entry.chunks == -(-entry.frames // 16)
        assert (entry.height, entry.width) == (24, 32)
        chunks = list(tf.data.TFRecordDataset(f"{folder}/{entry.file}").map(records.parse_chunk))
        assert sum(int(chunk["num_frames"]) for chunk in chunks) == entry.frames


def test_synthetic_frames_move():
    frames = data.synthetic_frames(np.random.default_rng(0), 5, 24, 32)
    assert frames.shape == (5, 24, 32, 3) and frames.dtype == np.uint8
    assert (frames[0] != frames[-1]).any() and frames.max() >= 60  # boxes glide, and show
