"""The fusion presets (Iizuka, classification head, U-Net + global vector, backbone fusion)
through the Colorizer: each trains with a bin codec, the classifier learns, the exports serve."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import run_python
from tfcolor.config import get_preset
from tfcolor.training.colorizer import Colorizer

FUSION_PRESETS = ("iizuka", "iizuka_cls", "unet_global", "backbone_fusion")


def smoke_config(preset: str, codec: str | None = None, steps: int = 6):
    """A preset cut to seconds on the shapes data: 32x32, small global path, random backbone."""
    config = get_preset(preset)
    config.data.source = "shapes"
    config.data.image_size = 32
    config.data.batch_size = 8
    config.data.augment = False
    config.data.gray_threshold = None
    config.model.global_size = 32
    config.model.backbone = "mobilenet_v2"
    config.model.backbone_weights = None
    if config.model.name == "unet":
        config.model.filters = (8, 16, 32)
    if codec is not None:
        config.codec.name = codec
        config.codec.rebalance = None if codec == "regression" else 0.5
        if codec != "regression":
            config.codec.decode = "annealed_mean"
            config.codec.temperature = 0.38
    config.train.epochs = 1
    config.train.steps_per_epoch = steps
    config.train.learning_rate = 1e-3
    config.train.panel_images = 0
    config.train.metric_images = 0
    return config


# Every fusion network trains once with a bin codec, each bin codec on two of them, and that
# one training serves the checks below: the validation loss falls, the export serves without
# tfcolor. Their presets' own codec (regression) trains, in bfloat16, in
# test_compile_mixed_precision.py; what a codec changes in a network is its head's channels and
# activation, set the same way for every network (`build_model`;
# tests/models/test_build_model.py), and the loss. (The full product of networks and codecs
# took 7 minutes of the suite.) iizuka_cls's case: the classification loss beside a bin codec's.
# Steps: enough for the loss on the validation batches, with the batch norm statistics
# (momentum 0.9) following the weights, to fall clearly (measured at 15 steps: iizuka 3.41 to
# 2.74, backbone_fusion 3.41 to 2.09, iizuka_cls 2.69 to 2.18); the U-Net + global vector with
# its (8, 16, 32) filters learns slowest (15 steps: 2.68 to 2.67; 25: 2.64) and gets 40.
TRAINING_CASES = {
    "iizuka": ("grid", 15),
    "unet_global": ("gamut", 40),
    "backbone_fusion": ("grid", 15),
    "iizuka_cls": ("gamut", 15),
}
assert set(TRAINING_CASES) == set(FUSION_PRESETS)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Each fusion preset trained with its bin codec: {preset: (colorizer, validation loss
    before, validation loss after, first training loss)}."""
    runs = {}
    for preset, (codec, steps) in TRAINING_CASES.items():
        config = smoke_config(preset, codec, steps=steps)
        colorizer = Colorizer(config, str(tmp_path_factory.mktemp(preset) / "run"))
        colorizer.fit_codec()
        # The loss on the same 3 validation batches before and after training.
        before = colorizer.evaluate(steps=3, images=0)["loss"]
        history = colorizer.train(verbose=0)
        after = colorizer.evaluate(steps=3, images=0)["loss"]
        runs[preset] = (colorizer, before, after, history["loss"][0])
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("preset", FUSION_PRESETS)
def test_every_fusion_model_trains_with_a_bin_codec(trained, preset):
    colorizer, before, after, first = trained[preset]
    assert colorizer.codec.name == TRAINING_CASES[preset][0]
    assert np.isfinite(first) and np.isfinite(before)
    assert after < before, (preset, TRAINING_CASES[preset], before, after)


def _pattern_folder(root, per_class=48, size=32):
    """A labelled folder whose label is visible in the gray image: stripes' orientation.

    Classes (subfolders) `horizontal`, `vertical`, `checker`; each image has two random
    colours of different lightness, so only the pattern, not the colour, tells the class.
    """
    from PIL import Image

    rng = np.random.default_rng(0)
    rows, columns = np.mgrid[0:size, 0:size] // 4
    patterns = {
        "horizontal": rows % 2,
        "vertical": columns % 2,
        "checker": (rows + columns) % 2,
    }
    for label, mask in patterns.items():
        os.makedirs(os.path.join(root, label))
        for index in range(per_class):
            dark = rng.integers(0, 110, 3)
            light = rng.integers(150, 256, 3)
            image = np.where(mask[..., None] == 1, light, dark).astype(np.uint8)
            shift = rng.integers(0, 8, 2)  # the phase of the pattern varies
            image = np.roll(image, tuple(shift), axis=(0, 1))
            Image.fromarray(image).save(os.path.join(root, label, f"{index:03d}.png"))
    return root


@pytest.mark.slow
def test_classification_head_learns_the_visible_label(tmp_path):
    # Iizuka's head on the global features must learn a label the gray image shows.
    folder = _pattern_folder(str(tmp_path / "patterns"))
    config = smoke_config("iizuka_cls", steps=None)
    config.data.source = f"folder:{folder}"
    config.data.validation_fraction = 0.25
    config.data.batch_size = 16
    config.model.classification_weight = 1.0  # the colour loss is not the point here
    config.train.epochs = 5
    colorizer = Colorizer(config, str(tmp_path / "run"))
    assert colorizer.class_names == ("checker", "horizontal", "vertical")
    colorizer.train(verbose=0)
    results = colorizer.evaluate(images=0)
    assert results["class_accuracy"] > 0.9, results  # chance: 1/3
    # TensorBoard has it per epoch.
    logs = os.path.join(colorizer.model_dir, "logs", "validation")
    tags = {
        value.tag
        for name in os.listdir(logs)
        for event in tf.compat.v1.train.summary_iterator(os.path.join(logs, name))
        for value in event.summary.value
    }
    assert "epoch_class_logits_class_accuracy" in tags


@pytest.mark.slow
def test_fusion_exports_serve_without_tfcolor(tmp_path, trained, photos):
    # The trained runs' exports (a bin codec's decoding inside the SavedModel).
    exports = {}
    for preset, (colorizer, *_) in trained.items():
        exports[preset] = (colorizer, colorizer.export_saved_model())
    image = photos["chelsea"][:45, :71]  # an odd size
    np.save(tmp_path / "image.npy", image[None])
    script = tmp_path / "serve.py"
    script.write_text(
        "import json, sys\n"
        "import numpy as np\n"
        "import tensorflow as tf\n"
        "image = np.load(sys.argv[1])\n"
        "report = {}\n"
        "for name, path in zip(sys.argv[2::2], sys.argv[3::2]):\n"
        "    model = tf.saved_model.load(path)\n"
        "    out = model.signatures['colorize_images'](images=tf.constant(image))\n"
        "    np.save(path + '.npy', out['colorized'].numpy())\n"
        "    report[name] = {key: list(value.shape) for key, value in out.items()}\n"
        "    report[name]['class_names'] = [c.decode() for c in model.class_names.numpy()]\n"
        "report['tfcolor_imported'] = any(m.startswith('tfcolor') for m in sys.modules)\n"
        "print(json.dumps(report))\n"
    )
    args = [str(script), str(tmp_path / "image.npy")]
    for preset, (_, path) in exports.items():
        args += [preset, path]
    result = run_python(args, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["tfcolor_imported"] is False
    for preset, (colorizer, path) in exports.items():
        assert report[preset]["colorized"] == [1, 45, 71, 3], preset
        served = np.load(path + ".npy")
        expected = colorizer.predict(image[None])
        assert np.abs(served.astype(int) - expected.astype(int)).max() <= 1, preset
    assert report["iizuka_cls"]["class_probabilities"] == [1, 3]
    assert report["iizuka_cls"]["class_names"] == ["red", "green", "blue"]  # shapes' labels
    assert "class_probabilities" not in report["iizuka"]
