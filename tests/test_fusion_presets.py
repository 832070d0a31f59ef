"""The fusion presets (Iizuka, classification head, U-Net + global vector, backbone fusion)
through the Colorizer: every codec trains, the classifier learns, the exports serve."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.helpers import run_python
from tfcolor.config import get_preset
from tfcolor.estimator import Colorizer

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
    config.train.panel_images = 2
    config.train.metric_images = 16
    return config


@pytest.mark.slow
@pytest.mark.parametrize("preset", FUSION_PRESETS)
@pytest.mark.parametrize("codec", ["regression", "grid", "gamut"])
def test_every_fusion_model_trains_with_every_codec(tmp_path, preset, codec):
    config = smoke_config(preset, codec, steps=15)
    colorizer = Colorizer(config, str(tmp_path / "run"))
    colorizer.fit_codec()
    # The loss on the same 4 validation batches before and after 15 training steps.
    before = colorizer.evaluate(steps=4, images=0)["loss"]
    history = colorizer.train(verbose=0)
    after = colorizer.evaluate(steps=4, images=0)["loss"]
    assert np.isfinite(history["loss"][0]) and np.isfinite(before)
    assert after < before, (preset, codec, before, after)


@pytest.mark.slow
def test_classification_head_learns_the_visible_label(tmp_path):
    # The shapes' label is the rectangle's colour (red, green, blue), visible in the gray
    # image as lightness (L 53, 88, 32): Iizuka's head on the global features must learn it.
    config = smoke_config("iizuka_cls", steps=None)
    config.model.classification_weight = 1.0  # the colour loss is not the point here
    config.train.epochs = 4
    config.train.learning_rate = 1e-3
    config.train.metric_images = 0
    colorizer = Colorizer(config, str(tmp_path / "run"))
    colorizer.train(verbose=0)
    results = colorizer.evaluate(images=0)
    assert results["class_accuracy"] > 0.8, results  # chance: about 0.33


@pytest.mark.slow
def test_fusion_exports_serve_without_tfcolor(tmp_path, photos):
    exports = {}
    for preset in FUSION_PRESETS:
        config = smoke_config(preset, steps=2)
        colorizer = Colorizer(config, str(tmp_path / preset))
        colorizer.train(verbose=0)
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
    assert report["iizuka_cls"]["class_names"] == ["red", "green", "blue"]
    assert "class_probabilities" not in report["iizuka"]
