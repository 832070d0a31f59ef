"""Sources: source strings, folders (odd and broken files), TFDS (mock data)."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
import tensorflow as tf

from tfcolor import color, input_pipeline
from tfcolor.config import DataConfig
from tfcolor.input_pipeline import files, sources


def _names(dataset) -> list[str]:
    return [element["name"].numpy().decode() for element in dataset]


@pytest.mark.parametrize(
    "source, kind",
    [
        ("shapes", "shapes"),
        ("folder:/x/y", "folder"),
        ("tfds:cifar100", "tfds"),
        ("tfds:cifar100:train[:10%]", "tfds"),
    ],
)
def test_parse_source(source, kind):
    assert sources.parse_source(source).kind == kind


def test_parse_source_split_and_name():
    spec = sources.parse_source("tfds:coco/2017:validation")
    assert (spec.name, spec.split) == ("coco/2017", "validation")


@pytest.mark.parametrize("source", ["", "shape", "folder:", "tfds:", "tfrecord:", "imgs"])
def test_bad_source_string_names_it_and_the_accepted_forms(source):
    with pytest.raises(ValueError) as error:
        sources.parse_source(source)
    assert repr(source) in str(error.value) and "folder:DIR" in str(error.value)


def test_missing_and_empty_folders_are_named(tmp_path):
    missing = str(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="nowhere"):
        input_pipeline.load_images(DataConfig(source=f"folder:{missing}"), split="train")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "readme.txt").write_text("no images")
    with pytest.raises(ValueError, match="empty.*holds no images"):
        input_pipeline.make_dataset(
            DataConfig(source=f"folder:{tmp_path / 'empty'}"), None, training=True
        )


def _folder_config(folder, **overrides) -> DataConfig:
    values = dict(source=f"folder:{folder}", image_size=32, batch_size=4, validation_fraction=0.3)
    values.update(overrides)
    return DataConfig(**values)


def test_folder_skips_names_and_counts_corrupt_files(photo_folder, usable_files, corrupt_files):
    data = _folder_config(photo_folder)
    stats = input_pipeline.pipeline_stats(data)
    assert sorted(stats.skipped_files) == sorted(corrupt_files)
    assert stats.skipped == 3 and stats.total == len(usable_files) + 3
    assert stats.dropped_gray == 0
    assert sorted(sources.list_image_files(photo_folder)) == sorted(
        usable_files | set(corrupt_files)
    )


def test_folder_every_usable_file_comes_through_once(photo_folder, usable_files):
    data = _folder_config(photo_folder)
    train = list(input_pipeline.load_images(data, split="train"))
    validation = list(input_pipeline.load_images(data, split="validation"))
    train_names = [e["name"].numpy().decode() for e in train]
    validation_names = [e["name"].numpy().decode() for e in validation]
    assert not set(train_names) & set(validation_names)
    assert sorted(train_names + validation_names) == sorted(usable_files)
    assert train_names == sorted(train_names)  # deterministic, sorted order
    assert validation_names  # 30 % of 13 files
    for element in train + validation:
        image = element["image"].numpy()
        assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    by_name = {e["name"].numpy().decode(): e for e in train + validation}
    assert by_name["animals/space/astronaut.png"]["label"].numpy() == b"animals"
    assert by_name["top.jpg"]["label"].numpy() == b""
    # 16-bit PNG scaled, not clipped: the astronaut's colours survive.
    rgb16 = by_name["odd/rgb16.png"]["image"].numpy().astype(int)
    rgb8 = by_name["odd/palette.png"]["image"].numpy().astype(int)
    assert rgb16.max() > 200 and np.abs(rgb16 - rgb8).mean() < 12
    gray = by_name["odd/gray.png"]["image"].numpy()
    np.testing.assert_array_equal(gray[..., 0], gray[..., 2])


def test_folder_split_is_deterministic(photo_folder):
    data = _folder_config(photo_folder)
    first = _names(input_pipeline.load_images(data, split="validation"))
    sources._DECODABLE.clear()  # forget the validation pass too
    assert _names(input_pipeline.load_images(data, split="validation")) == first
    # A stable hash: the same split for another fraction's superset.
    larger = _names(
        input_pipeline.load_images(
            _folder_config(photo_folder, validation_fraction=0.6), split="validation"
        )
    )
    assert set(first) <= set(larger)


def test_folder_training_dataset(photo_folder, usable_files):
    data = _folder_config(photo_folder, augment=True)
    batches = list(input_pipeline.make_dataset(data, None, training=True))
    train_count = len(list(input_pipeline.load_images(data, split="train")))
    assert len(batches) == train_count // 4  # drop_remainder
    for lightness, ab in batches:
        assert lightness.shape == (4, 32, 32, 1) and ab.shape == (4, 32, 32, 2)
        # L / 100 of black is 116 * f - 16 = 0 up to float rounding.
        assert -1e-6 <= float(np.min(lightness)) and float(np.max(lightness)) <= 1.0 + 1e-6
    validation = list(input_pipeline.make_dataset(data, None, training=False))
    validation_count = sum(int(lightness.shape[0]) for lightness, _ in validation)
    assert validation_count == len(usable_files) - train_count


def test_folder_gray_images_dropped_and_named(photo_folder, usable_files, gray_files):
    data = _folder_config(photo_folder, gray_threshold=1.0)
    stats = input_pipeline.pipeline_stats(data)
    assert sorted(stats.gray_files) == sorted(gray_files)
    names = _names(input_pipeline.load_images(data, split="train")) + _names(
        input_pipeline.load_images(data, split="validation")
    )
    assert sorted(names) == sorted(usable_files - set(gray_files))


def test_folder_classes(photo_folder):
    data = _folder_config(photo_folder, classes=("places",), validation_fraction=0.01)
    names = _names(input_pipeline.load_images(data, split="train")) + _names(
        input_pipeline.load_images(data, split="validation")
    )
    assert sorted(names) == ["places/china.jpg", "places/coffee.webp", "places/flower.gif"]
    with pytest.raises(ValueError, match="plants"):
        input_pipeline.load_images(_folder_config(photo_folder, classes=("plants",)), split="train")


def test_validation_source(photo_folder, usable_files):
    data = _folder_config(photo_folder, source="shapes", validation_source=f"folder:{photo_folder}")
    assert sorted(_names(input_pipeline.load_images(data, split="validation"))) == sorted(
        usable_files
    )
    assert len(list(input_pipeline.load_images(data, split="train", limit=3))) == 3


def test_shapes_datasets():
    data = DataConfig(source="shapes", image_size=32, batch_size=32, augment=True)
    train = input_pipeline.make_dataset(data, None, training=True)
    assert train.element_spec[0].shape == (32, 32, 32, 1)
    assert train.element_spec[1].shape == (32, 32, 32, 2)
    assert sum(1 for _ in train) == 2664 // 32
    validation = list(input_pipeline.make_dataset(data, None, training=False))
    assert sum(int(lightness.shape[0]) for lightness, _ in validation) == 324
    first = next(iter(input_pipeline.make_dataset(data, None, training=False)))[0]
    np.testing.assert_array_equal(first.numpy(), validation[0][0].numpy())
    images = list(input_pipeline.load_images(data, split="validation", limit=5))
    assert len(images) == 5 and images[0]["image"].dtype == np.uint8
    ab = list(input_pipeline.ab_batches(data, limit_images=40))
    assert [batch.shape[0] for batch in ab] == [32, 8]


def test_training_order_is_seeded_and_reshuffled():
    data = DataConfig(source="shapes", batch_size=64, seed=3)

    def first_batches(dataset, count=2):
        return [lightness.numpy() for lightness, _ in dataset.take(count)]

    one = input_pipeline.make_dataset(data, None, training=True)
    two = input_pipeline.make_dataset(data, None, training=True)
    epoch1 = first_batches(one)
    np.testing.assert_array_equal(epoch1[0], first_batches(two)[0])
    assert not np.array_equal(epoch1[0], first_batches(one)[0])  # the next epoch reshuffles


def test_every_dataset_has_the_autotuning_model_off(photo_folder):
    # The pipeline's parallelism policy: with tf.data's autotuning model on, replacing an
    # epoch's iterator could wait seconds for the model thread (see the module docstring).
    shapes_data = DataConfig(source="shapes", batch_size=8)
    augmented = DataConfig(source="shapes", batch_size=8, augment=True)
    folder = DataConfig(
        source=f"folder:{photo_folder}",
        validation_source=f"folder:{photo_folder}",
        image_size=32,
        batch_size=4,
    )
    datasets = {
        "shapes, cached, training": input_pipeline.make_dataset(shapes_data, None, training=True),
        "shapes, cached, validation": input_pipeline.make_dataset(
            shapes_data, None, training=False
        ),
        "shapes, augmented": input_pipeline.make_dataset(augmented, None, training=True),
        "folder, augmented": input_pipeline.make_dataset(
            dataclasses.replace(folder, augment=True), None, training=True
        ),
        "folder, validation": input_pipeline.make_dataset(folder, None, training=False),
        "load_images": input_pipeline.load_images(folder, split="train"),
        "ab_batches": input_pipeline.ab_batches(folder),
    }
    for name, dataset in datasets.items():
        assert dataset.options().autotune.enabled is False, name
    # The same images as before: the folder's validation batches hold its files in their
    # fixed order, as `load_images` gives them (uint8, hence the tolerance).
    first = next(iter(datasets["folder, validation"]))[0].numpy()
    expected = next(iter(input_pipeline.load_images(folder, split="validation")))["image"]
    lightness = color.lightness_and_ab(tf.image.convert_image_dtype(expected, tf.float32))[0]
    np.testing.assert_allclose(first[0], lightness.numpy(), atol=0.01)


def test_with_a_codec():
    from tfcolor.codecs import make_codec
    from tfcolor.config import CodecConfig

    codec = make_codec(CodecConfig(name="grid", n_bins=36))
    data = DataConfig(source="shapes", batch_size=8)
    lightness, target = next(iter(input_pipeline.make_dataset(data, codec, training=True)))
    assert target.shape == (8, 32, 32) and target.dtype == np.int32
    input_fn = input_pipeline.make_input_fn(data, codec, training=False)
    assert input_fn().element_spec[1].shape.as_list() == [None, 32, 32]


# --- TFDS, with tfds.testing.mock_data (offline, the real feature specs) ---

CIFAR100_LABELS = (
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus "
    "butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch "
    "crab crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house "
    "kangaroo keyboard lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle "
    "mountain mouse mushroom oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree "
    "plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew "
    "skunk skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank "
    "telephone television tiger tractor train trout tulip turtle wardrobe whale willow_tree "
    "wolf woman worm"
).split()


@pytest.fixture
def mock_cifar100(tmp_path):
    """cifar100 mock data with the real label names.

    CIFAR-100's label names are read from the downloaded archive, so without metadata the mock
    has names '0'..'99'; the test writes the metadata (dataset_info.json, label names) that a
    download would, and `mock_data(data_dir=...)` reads it.
    """
    import tensorflow_datasets as tfds

    assert len(CIFAR100_LABELS) == 100
    builder = tfds.builder("cifar100", data_dir=str(tmp_path))
    builder.info.features["label"].names = list(CIFAR100_LABELS)
    os.makedirs(builder.data_dir, exist_ok=True)
    builder.info.write_to_directory(builder.data_dir)
    with tfds.testing.mock_data(num_examples=240, data_dir=str(tmp_path)):
        yield


def test_tfds_class_subset(mock_cifar100):
    from tfcolor.config import THESIS_CIFAR100_CLASSES

    data = DataConfig(source="tfds:cifar100", classes=THESIS_CIFAR100_CLASSES, batch_size=8)
    images = list(input_pipeline.load_images(data, split="validation"))
    assert 0 < len(images) < 120  # 12 of 100 classes of 240 random examples
    labels = {e["label"].numpy().decode() for e in images}
    assert labels <= set(THESIS_CIFAR100_CLASSES)
    assert images[0]["image"].shape == (32, 32, 3)
    lightness, ab = next(iter(input_pipeline.make_dataset(data, None, training=True)))
    assert lightness.shape == (8, 32, 32, 1) and ab.shape == (8, 32, 32, 2)


def test_tfds_unknown_class(mock_cifar100):
    data = DataConfig(source="tfds:cifar100", classes=("apple", "unicorn"))
    with pytest.raises(ValueError, match="unicorn"):
        input_pipeline.make_dataset(data, None, training=True)


def test_tfds_gray_counting_and_resize(mock_cifar100):
    data = DataConfig(source="tfds:cifar100:train", image_size=16, gray_threshold=1.0)
    stats = input_pipeline.pipeline_stats(data)
    assert stats.total == 480 and stats.dropped_gray == 0  # random pixels are colourful
    element = next(iter(input_pipeline.load_images(data, split="train")))
    assert element["image"].shape == (16, 16, 3)
    assert element["name"].numpy().decode().startswith("cifar100/train/")
    assert os.path.basename(element["name"].numpy().decode()) == "0"


def _count(dataset) -> int:
    return int(dataset.reduce(0, lambda count, _: count + 1))


@pytest.mark.parametrize("classes", [None, ("apple", "bear", "whale")])
def test_tfds_examples_are_counted_for_the_epoch_length(mock_cifar100, classes):
    """Training repeats one iterator over epochs of the counted length (`repeat_epochs`)."""
    data = DataConfig(source="tfds:cifar100", classes=classes)
    for split in ("train", "validation"):
        expected = _count(input_pipeline.read_source(data, split, shuffle=False))
        assert input_pipeline.num_examples(data, split) == expected
    if classes is None:
        assert input_pipeline.num_examples(data, "train") == 240  # the mock's examples
    else:
        assert 0 < input_pipeline.num_examples(data, "train") < 120


def test_tfds_examples_with_a_gray_threshold_come_from_the_gray_count(mock_cifar100):
    data = DataConfig(source="tfds:cifar100", gray_threshold=1.0)
    assert input_pipeline.num_examples(data, "train") == _count(
        input_pipeline.read_source(data, "train", shuffle=False)
    )
    assert input_pipeline.pipeline_stats(data).kept == {"train": 240, "validation": 240}


def test_tfds_examples_of_another_source_kind_is_a_clear_error():
    from tfcolor.input_pipeline.sources import tfds_examples

    with pytest.raises(ValueError, match="not a TFDS source. Received: 'shapes'"):
        tfds_examples(DataConfig(source="shapes"), "train")


def test_augmented_tfds_training_is_kept_in_memory_with_its_epoch_length(mock_cifar100):
    from tfcolor.config import THESIS_CIFAR100_CLASSES

    data = DataConfig(
        source="tfds:cifar100", classes=THESIS_CIFAR100_CLASSES, batch_size=4, augment=True
    )
    dataset = input_pipeline.make_dataset(data, None, training=True)
    # Counted while the decoded images were cached: the cardinality of one epoch is known.
    steps = input_pipeline.num_examples(data, "train") // 4
    assert int(dataset.cardinality()) == steps > 0
    assert _count(dataset) == steps


@pytest.mark.reliability
def test_walk_files_never_opens_special_files_and_survives_loops(tmp_path, photos):
    """A FIFO named x.jpg in a data folder hung training; a symlink loop gave a traceback."""
    import socket
    import threading

    from tests.helpers import encode

    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "cat.jpg").write_bytes(encode(photos["chelsea"][:40, :48]))
    (outside / "coffee.png").write_bytes(encode(photos["coffee"][:40, :48], "PNG"))
    os.mkfifo(root / "x.jpg")
    (root / "loop.jpg").symlink_to("loop.jpg")
    (root / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (root / "sub" / "up").symlink_to(root)  # a subfolder loop
    (root / "linked").symlink_to(outside)  # followed, once
    (root / "again").symlink_to(outside)
    (root / "readme.txt").write_text("not an image, not reported")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(root / "s.png"))
    try:
        found, skipped = files.walk_files(str(root), (".jpg", ".png"))
        assert found == ["again/coffee.png", "cat.jpg"]
        assert dict(skipped) == {
            "gone.jpg": "a broken symlink",
            "linked": f"a second path to the folder {outside}",
            "loop.jpg": "a symlink loop",
            "s.png": "a socket",
            "sub/up": f"a symlink loop (to {root})",
            "x.jpg": "a FIFO",
        }
        assert files.special_file_reason(str(root / "x.jpg")) == "a FIFO"
        assert files.special_file_reason(str(root / "cat.jpg")) is None

        # The folder source (training's) reads the photos and never opens the FIFO.
        data = _folder_config(root, validation_fraction=0.0)
        done = []
        reader = threading.Thread(
            target=lambda: done.append(_names(input_pipeline.load_images(data, split="train"))),
            daemon=True,
        )
        reader.start()
        reader.join(120)
        assert done == [["again/coffee.png", "cat.jpg"]], "blocked on the FIFO?"
    finally:
        server.close()


def test_split_all_reads_a_whole_source(photo_folder, usable_files):
    data = _folder_config(photo_folder)
    assert sorted(_names(input_pipeline.load_images(data, split="all"))) == sorted(usable_files)
    shapes = list(
        input_pipeline.load_images(DataConfig(source="shapes", image_size=32), split="all")
    )
    assert len(shapes) == 2664 + 324
    with pytest.raises(ValueError, match="'all'"):
        files.split_source(data, "everything")


@pytest.mark.reliability
def test_folder_skips_bombs_and_animated_webp_by_their_headers(tmp_path, photos):
    """A PNG declaring 132 megapixels (a 100 KB file) and an animated WebP (TF 2.21's decoder
    aborts the process on it) are skipped as undecodable by name, read from their headers;
    the photos beside them train."""
    import subprocess
    import sys

    from PIL import Image

    root = tmp_path / "data"
    root.mkdir()
    for name in ("astronaut", "chelsea", "coffee"):
        Image.fromarray(photos[name][::8, ::8]).save(root / f"{name}.png")
    Image.new("L", (12000, 11000)).save(root / "bomb.png", optimize=False)
    assert (root / "bomb.png").stat().st_size < 1_000_000
    frames = [Image.fromarray(photos[name][:48, :48]) for name in ("astronaut", "chelsea")]
    frames[0].save(root / "animated.webp", save_all=True, append_images=frames[1:], duration=100)
    # In a fresh process: an aborted decoder would end it (return code -6), not fail a test.
    script = f"""
from tfcolor import input_pipeline
from tfcolor.config import DataConfig
data = DataConfig(source="folder:{root}", image_size=32, batch_size=2, augment=False,
                  gray_threshold=None)
stats = input_pipeline.pipeline_stats(data)
names = sorted(e["name"].numpy().decode()
               for e in input_pipeline.load_images(data, split="all"))
print((sorted(stats.skipped_files), names))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == str(
        (["animated.webp", "bomb.png"], ["astronaut.png", "chelsea.png", "coffee.png"])
    )


# --- a TFDS dataset whose test split is unlabelled (places365_small's layout) ---

PLACES_SPLITS = {"train": 24, "validation": 8, "test": 8}
PLACES_CLASSES = 365


@pytest.fixture
def mock_places365(tmp_path):
    """places365_small offline: its real features and split names, 48x48 images, and a test
    split whose every label is -1, as in the real dataset (the mock's own random labels would
    all be valid)."""
    import tensorflow_datasets as tfds

    builder = tfds.builder("places365_small", data_dir=str(tmp_path))
    builder.info.set_splits(
        tfds.core.SplitDict(
            [
                tfds.core.SplitInfo(name=name, shard_lengths=[count], num_bytes=0)
                for name, count in PLACES_SPLITS.items()
            ]
        )
    )
    os.makedirs(builder.data_dir, exist_ok=True)
    builder.info.write_to_directory(builder.data_dir)
    seen = []

    def as_dataset(self, split, decoders=None, read_config=None, shuffle_files=False):
        name = str(split).split("[")[0]
        seen.append(name)
        count = PLACES_SPLITS[name]
        rng = np.random.default_rng(len(name))
        images = rng.integers(0, 256, (count, 48, 48, 3), dtype=np.uint8)
        labels = np.full(count, -1) if name == "test" else rng.integers(0, 3, count)
        examples = {
            "image": images,
            "label": labels.astype(np.int64),
            "filename": np.array([f"{name}/{index}.jpg".encode() for index in range(count)]),
        }
        if decoders and "image" in decoders:  # SkipDecoding: the encoded image
            examples["image"] = np.array([b"not decoded"] * count)
        return tf.data.Dataset.from_tensor_slices(examples)

    with tfds.testing.mock_data(as_dataset_fn=as_dataset, data_dir=str(tmp_path)):
        yield seen


def test_tfds_validation_prefers_the_labelled_validation_split(mock_places365):
    data = DataConfig(source="tfds:places365_small", image_size=32)
    names = [
        e["name"].numpy().decode()
        for e in input_pipeline.read_source(data, "validation", shuffle=False)
    ]
    assert len(names) == PLACES_SPLITS["validation"]
    assert all(name.startswith("places365_small/validation/") for name in names)


def test_tfds_unlabelled_examples_carry_an_empty_label(mock_places365):
    data = DataConfig(source="tfds:places365_small", validation_source="tfds:places365_small:test")
    labels = [
        e["label"].numpy() for e in input_pipeline.read_source(data, "validation", shuffle=False)
    ]
    assert labels == [b""] * PLACES_SPLITS["test"]
    labelled = [
        e["label"].numpy() for e in input_pipeline.read_source(data, "train", shuffle=False)
    ]
    assert all(label for label in labelled)


def test_tfds_class_filter_on_an_unlabelled_split_is_a_clear_error(mock_places365):
    classes = ("airfield", "airplane_cabin", "airport_terminal")  # labels 0, 1, 2
    data = DataConfig(
        source="tfds:places365_small",
        validation_source="tfds:places365_small:test",
        classes=classes,
    )
    with pytest.raises(
        ValueError, match="split 'test' of the TFDS dataset 'places365_small' has no labels"
    ):
        input_pipeline.read_source(data, "validation", shuffle=False)
    with pytest.raises(ValueError, match="has no labels"):
        input_pipeline.num_examples(data, "validation")
    # The labelled splits filter as before.
    data.validation_source = None
    assert input_pipeline.num_examples(data, "validation") > 0


@pytest.mark.slow
def test_iizuka_cls_trains_and_validates_on_places365_with_an_unlabelled_test_split(
    mock_places365, tmp_path
):
    """The iizuka_cls preset's own data: validation reads the labelled `validation` split (the
    unlabelled `test` split crashed the first validation batch), and evaluation on the
    unlabelled split leaves its examples out of the classification loss and accuracy."""
    from tfcolor.config import smoke
    from tfcolor.training.colorizer import Colorizer

    config = smoke("iizuka_cls", steps_per_epoch=2)
    config.data.source = "tfds:places365_small"  # the preset's data
    config.model.class_names = None  # read from the dataset, as a user's run does
    colorizer = Colorizer(config, str(tmp_path / "run"))
    assert len(colorizer.class_names) == PLACES_CLASSES
    history = colorizer.train(verbose=0)
    assert "validation" in mock_places365 and "test" not in mock_places365
    assert np.isfinite(history["val_loss"][0])
    labelled = colorizer.evaluate(images=0)
    unlabelled_data = dataclasses.replace(
        config.data, validation_source="tfds:places365_small:test"
    )
    unlabelled = colorizer.evaluate(
        input_pipeline.make_input_fn(
            unlabelled_data, colorizer.codec, training=False, class_names=colorizer.class_names
        ),
        images=0,
    )
    assert "test" in mock_places365
    # No labelled example: no classification loss, where a label of -1 failed the loss. (That
    # class_accuracy leaves them out, which an all-unlabelled split cannot show, is
    # tests/training/test_compile.py's mixed batch.)
    assert np.isfinite(unlabelled["loss"]) and unlabelled["class_logits_loss"] == 0.0
    assert labelled["class_logits_loss"] > 0.0
