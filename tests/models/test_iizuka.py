import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.models.model_checks import lightness_batch
from tfcolor import codecs, input_pipeline
from tfcolor.config import smoke
from tfcolor.models import IizukaNet, build_model
from tfcolor.training import compile as compile_lib


@pytest.fixture(scope="module")
def paper_model():
    """The paper's network: 224 x 224 global path, two sigmoid outputs."""
    return IizukaNet()


def test_pinned_parameter_count(paper_model):
    # A change in the architecture must be deliberate. The flatten -> 1024 dense layer holds
    # 7 * 7 * 512 * 1024 + 1024 = 25,691,136 of these.
    assert paper_model.count_params() == 42_183_170


@pytest.mark.parametrize("height, width", [(224, 224), (333, 517)])
def test_output_has_the_input_size(paper_model, height, width):
    colors = paper_model(lightness_batch(height, width, batch=1))
    assert tuple(colors.shape) == (1, height, width, 2)


def test_low_level_weights_are_shared_by_both_paths(paper_model):
    kernels = [w.path for w in paper_model.weights if w.path.endswith("/kernel")]
    assert sum(path.startswith("low_level_conv") for path in kernels) == 6
    # 6 low-level + 2 mid-level + 4 global convolutions + fusion + 4 colorization + head:
    # a second copy of the low-level network would add six more.
    convolutions = [layer for layer in paper_model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convolutions) == 18
    # Both paths run through those layers: each path alone depends on their kernels.
    shared = {id(w) for w in paper_model.weights if w.path.startswith("low_level_conv")}
    for path_end in ("mid_level_relu2", "global_dense3"):
        path = keras.Model(paper_model.input, paper_model.get_layer(path_end).output)
        assert shared <= {id(w) for w in path.weights}, path_end


def test_xla_gives_the_eager_output_at_an_odd_size():
    model = IizukaNet(global_size=32, simple_global=True)
    lightness = lightness_batch(21, 35, batch=1)
    compiled = tf.function(lambda x: model(x, training=False), jit_compile=True)
    np.testing.assert_allclose(compiled(lightness), model(lightness, training=False), atol=1e-5)


def test_simple_global_is_the_course_reports_network():
    # Pinned: the paper's network less its four 512-filter global convolutions and their
    # batch norm (4 x (3 * 3 * 512 * 512 + 4 * 512) = 9,445,376), plus the report's one
    # convolution to 32 channels (3 * 3 * 512 * 32 + 4 * 32 = 147,584); the flatten of
    # 28 x 28 x 32 feeds the paper's dense layers (tests/models/test_global_features.py).
    assert IizukaNet(simple_global=True).count_params() == 42_183_170 - 9_445_376 + 147_584


def test_a_model_saved_before_the_width_setting_rebuilds_its_former_network():
    # tfcolor's former simplification: a 512-filter stride-2 convolution and global pooling.
    config = IizukaNet(global_size=32, simple_global=True).get_config()
    del config["simple_global_width"], config["simple_global_pool"]
    former = IizukaNet.from_config(config)
    assert (former.simple_global_width, former.simple_global_pool) == (512, True)
    assert former.get_layer("global_conv1").kernel.shape == (3, 3, 512, 512)
    assert former.get_layer("global_conv1").strides == (2, 2)
    assert "global_pool" in {layer.name for layer in former.layers}


def test_the_basic_model_has_no_global_network():
    # The course report's basic model: the paper's network less its global network
    # (35,792,640 parameters after the shared low-level one) and the fusion layer's 1x1
    # convolution (512 * 256 + 256 = 131,328); the mid-level features' 256 channels enter the
    # colorization network as the fusion's did. Pinned.
    basic = IizukaNet(global_network=False)
    assert basic.count_params() == 42_183_170 - 35_792_640 - 131_328
    names = {layer.name for layer in basic.layers}
    assert not any(name.startswith(("global", "fusion")) for name in names)
    assert {"low_level_conv1", "mid_level_conv2", "colorization_level1_conv1", "head"} <= names
    assert basic.get_layer("colorization_level1_conv1").kernel.shape == (3, 3, 256, 128)
    colors = basic(lightness_batch(40, 56, batch=1))
    assert tuple(colors.shape) == (1, 40, 56, 2)


def test_the_iizuka_basic_preset_trains_a_step():
    # Its network is the only one no other preset has (they train in
    # tests/training/test_compile_mixed_precision.py and test_colorizer_fusion_presets.py):
    # one step with the preset's codec, loss and optimizer, at the smoke size.
    config = smoke("iizuka_basic")
    codec = codecs.make_codec(config.codec)
    model = build_model(config.model, codec)
    compile_lib.compile_run(model, codec, config, total_steps=1)
    images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    split = input_pipeline.inputs_and_targets(codec, config.model.output_stride)
    lightness, target = split(tf.image.convert_image_dtype(images, tf.float32))
    before = [np.array(weight) for weight in model.trainable_weights]
    logs = model.train_on_batch(lightness, target, return_dict=True)
    assert np.isfinite(logs["loss"])
    assert all(
        not np.array_equal(old, np.array(new))
        for old, new in zip(before, model.trainable_weights, strict=True)
    )


def test_classification_head_gives_logits_per_image():
    model = IizukaNet(global_size=32, num_classes=5)
    outputs = model(lightness_batch(16, 24, batch=3))
    assert tuple(outputs["colors"].shape) == (3, 16, 24, 2)
    assert tuple(outputs["class_logits"].shape) == (3, 5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"output_stride": 3}, "output_stride=3"),
        ({"output_stride": 16}, "output_stride=16"),
        ({"global_size": 40}, "global_size=40"),
        ({"global_size": 16}, "global_size=16"),
        ({"num_classes": 1}, "num_classes=1"),
        ({"head_channels": 0}, "head_channels=0"),
        ({"head_activation": "relu"}, "head_activation='relu'"),
        ({"global_network": False, "num_classes": 3}, "global_network=False.*num_classes=3"),
        ({"global_network": False, "simple_global": True}, "simple_global=True"),
    ],
)
def test_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        IizukaNet(**kwargs)


def test_a_few_training_steps_reduce_the_loss():
    keras.utils.set_random_seed(0)
    model = IizukaNet(global_size=32, num_classes=3)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss={
            "colors": "mse",
            "class_logits": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        },
    )
    rng = np.random.default_rng(0)
    lightness = lightness_batch(32, 32, batch=4)
    targets = {
        "colors": rng.random((4, 32, 32, 2)).astype("float32"),
        "class_logits": np.array([0, 1, 2, 1]),
    }
    history = model.fit(lightness, targets, batch_size=4, epochs=8, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0]
