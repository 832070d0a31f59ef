"""Augmented training from decoded images kept in memory, where they fit the budget."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
import tensorflow as tf

from tfcolor import color, input_pipeline
from tfcolor.config import DataConfig
from tfcolor.input_pipeline import images, shapes, sources

PHOTOS = 10
BATCH = 2
STEPS = PHOTOS // BATCH


@pytest.fixture
def jpeg_folder(tmp_path, photos) -> str:
    """Ten JPEGs, distinct crops of three real photos (a fresh folder per test: some remove
    files)."""
    from PIL import Image

    names = ("astronaut", "chelsea", "coffee")
    for index in range(PHOTOS):
        photo = photos[names[index % 3]]
        side = 120 + 20 * index
        crop = photo[index * 7 : index * 7 + side, index * 11 : index * 11 + side * 4 // 3]
        Image.fromarray(crop).save(os.path.join(tmp_path, f"photo{index:02d}.jpg"), quality=90)
    return str(tmp_path)


def _folder_data(folder: str) -> DataConfig:
    # Each split reads the whole folder: every photo is a training image.
    return DataConfig(
        source=f"folder:{folder}",
        validation_source=f"folder:{folder}",
        image_size=32,
        batch_size=BATCH,
        augment=True,
        seed=5,
    )


def _no_cache(monkeypatch) -> None:
    monkeypatch.setattr(images, "_CACHE_BUDGET_BYTES", 0)


def _identity_augmentation(monkeypatch) -> None:
    """The augmentation's place in the pipeline kept, the images left as they are."""
    monkeypatch.setattr(images, "_augment_compiled", lambda rgb, seed: rgb)


def _lightness_epochs(dataset, steps: int, count: int) -> list[np.ndarray]:
    """Per epoch, the lightness of its images in the order served, flattened: [N, S * S]."""
    batches = [lightness for lightness, _ in dataset.take(count * steps).as_numpy_iterator()]
    return [
        np.concatenate(batches[epoch * steps : (epoch + 1) * steps]).reshape(steps * BATCH, -1)
        for epoch in range(count)
    ]


def _match(images: np.ndarray, reference: np.ndarray, atol: float) -> np.ndarray:
    """For each image, the index of the reference image it is (within `atol` everywhere)."""
    distance = np.abs(images[:, None, :] - reference[None]).max(axis=-1)
    index = distance.argmin(axis=1)
    assert distance.min(axis=1).max() < atol, "an image that is none of the reference images"
    return index


def test_cached_epochs_serve_every_image_once_in_a_new_order(jpeg_folder, monkeypatch):
    _identity_augmentation(monkeypatch)
    data = _folder_data(jpeg_folder)
    cached = input_pipeline.make_dataset(data, None, training=True)
    # Counted when the cache was filled: one pass's steps are known without decoding again.
    assert int(cached.cardinality()) == STEPS
    repeated, steps = input_pipeline.repeat_epochs(cached)
    assert steps == STEPS
    first, second = _lightness_epochs(repeated, steps, count=2)

    _no_cache(monkeypatch)
    decoded = input_pipeline.make_dataset(data, None, training=True)
    assert int(decoded.cardinality()) == tf.data.UNKNOWN_CARDINALITY  # not cached: not counted
    (reference,) = _lightness_epochs(decoded, STEPS, count=1)

    # The same images as decoded each epoch (up to the uint8 rounding the cache keeps), each
    # of them once per epoch, in a new order every epoch.
    first_index = _match(first, reference, atol=0.01)
    second_index = _match(second, reference, atol=0.01)
    assert sorted(first_index) == sorted(second_index) == list(range(PHOTOS))
    assert list(first_index) != list(second_index)


@pytest.mark.parametrize("cached", [True, False], ids=["cached", "decoded each epoch"])
def test_augmented_batches_are_the_served_images_augmented_with_each_batch_seed(
    jpeg_folder, monkeypatch, cached
):
    if not cached:
        _no_cache(monkeypatch)
    data = _folder_data(jpeg_folder)
    augmented = list(
        input_pipeline.repeat_epochs(
            input_pipeline.make_dataset(data, None, training=True), expected_steps=STEPS
        )[0]
        .take(2 * STEPS)
        .as_numpy_iterator()
    )
    # The same pipeline (the same seed, so the same order) without the augmentation says
    # which images each batch holds.
    with monkeypatch.context() as patched:
        _identity_augmentation(patched)
        plain = input_pipeline.repeat_epochs(
            input_pipeline.make_dataset(data, None, training=True), expected_steps=STEPS
        )[0]
        plain_epochs = _lightness_epochs(plain, STEPS, count=2)
    # The decoded images, float32, as both paths read them.
    rgb = tf.stack(
        [element["rgb"] for element in sources.read_source(data, "train", shuffle=False)]
    )
    to_lightness = input_pipeline.inputs_and_targets(None)
    reference = to_lightness(rgb)[0].numpy().reshape(PHOTOS, -1)
    served = np.concatenate([_match(epoch, reference, atol=0.01) for epoch in plain_epochs])
    # The seeds as the pipeline draws them: one pair per batch from data.seed, new each epoch.
    seeds = tf.data.Dataset.random(seed=data.seed, rerandomize_each_iteration=True).batch(2)
    seeds = [
        seed
        for _, seed in tf.data.Dataset.zip(tf.data.Dataset.range(STEPS), seeds)
        .repeat()
        .take(2 * STEPS)
        .as_numpy_iterator()
    ]
    # The cache keeps their Lab as float16: the same augmented batches up to its rounding
    # (3e-4 of L / 100, 0.03 of ab at most). The augmentation resamples Lab, not RGB.
    atol = 1e-3 if cached else 1e-5
    for step, ((lightness, ab), seed) in enumerate(zip(augmented, seeds, strict=True)):
        batch = tf.gather(rgb, served[step * BATCH : (step + 1) * BATCH])
        lab = images._augment_compiled(color.rgb_to_lab(batch), seed)
        np.testing.assert_allclose(lightness, lab[..., :1] / 100, atol=atol, err_msg=f"{step}")
        np.testing.assert_allclose(ab, lab[..., 1:], atol=100 * atol, err_msg=f"step {step}")
    # And the epochs are augmented anew: no image of the second epoch is one of the first's.
    first = np.concatenate([lightness for lightness, _ in augmented[:STEPS]])
    second = np.concatenate([lightness for lightness, _ in augmented[STEPS:]])
    distance = np.abs(first.reshape(PHOTOS, 1, -1) - second.reshape(1, PHOTOS, -1)).max(-1)
    assert distance.min() > 0.01


@pytest.mark.parametrize(
    "budget, second_epoch",
    [(None, PHOTOS), (1024, PHOTOS - 1)],
    ids=["kept in memory", "budget too small"],
)
def test_images_decoded_each_epoch_where_they_do_not_fit(
    jpeg_folder, monkeypatch, budget, second_epoch
):
    if budget is not None:
        monkeypatch.setattr(images, "_CACHE_BUDGET_BYTES", budget)
    data = dataclasses.replace(_folder_data(jpeg_folder), batch_size=1)
    dataset = input_pipeline.make_dataset(data, None, training=True)
    assert len(list(dataset)) == PHOTOS
    os.remove(os.path.join(jpeg_folder, "photo03.jpg"))
    # Kept in memory, the epoch still has every image; decoded each epoch, the file gone
    # since is skipped.
    assert len(list(dataset)) == second_epoch


@pytest.mark.parametrize("class_names", [("red", "green", "blue"), ("red", "green")])
def test_cached_classification_labels_travel_with_their_images(monkeypatch, class_names):
    _identity_augmentation(monkeypatch)
    data = DataConfig(source="shapes", batch_size=16, augment=True)
    dataset = input_pipeline.make_dataset(data, None, training=True, class_names=class_names)
    labels = shapes.shapes_labels("train")
    wanted = np.isin(labels, class_names)
    assert int(dataset.cardinality()) == wanted.sum() // 16
    expected = np.array([class_names.index(name) if name in class_names else -1 for name in labels])
    truth = color.lightness_and_ab(tf.constant(shapes.shapes_images("train")) / 255)[0]
    truth = truth.numpy().reshape(len(labels), -1)
    epoch = list(dataset.as_numpy_iterator())
    for lightness, targets in epoch[:3]:
        index = _match(lightness.reshape(len(lightness), -1), truth, atol=1e-3)
        np.testing.assert_array_equal(targets["class_logits"], expected[index])
    # Only the images of the classes, each class as often as it has images (bar the last,
    # short batch left out).
    served = np.concatenate([targets["class_logits"] for _, targets in epoch])
    counts = np.bincount(served, minlength=len(class_names))
    full = np.bincount(expected[wanted], minlength=len(class_names))
    assert counts.sum() == len(served) and np.all(full - counts >= 0)
    assert (full - counts).sum() < 16
