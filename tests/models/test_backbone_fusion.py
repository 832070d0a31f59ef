import keras
import numpy as np
import pytest

from tests.models.model_checks import lightness_batch
from tfcolor.models import BackboneFusionNet, UNet


@pytest.fixture(scope="module")
def mobilenet_model():
    return BackboneFusionNet(backbone="mobilenet_v2", backbone_weights=None)


def test_pinned_parameter_count(mobilenet_model):
    # A change in the architecture must be deliberate: MobileNetV2 with its classifier
    # (3,538,984) and the encoder, fusion and decoder around it.
    assert mobilenet_model.count_params() == 10_080_186
    backbone = mobilenet_model.get_layer("embedding_mobilenet_v2")
    assert backbone.count_params() == 3_538_984


def test_backbone_is_frozen_by_default(mobilenet_model):
    backbone = mobilenet_model.get_layer("embedding_mobilenet_v2")
    assert not backbone.trainable and not backbone.trainable_weights
    backbone_ids = {id(w) for w in backbone.weights}
    trainable_ids = {id(w) for w in mobilenet_model.trainable_weights}
    assert not backbone_ids & trainable_ids
    assert mobilenet_model.get_layer("encoder_conv1").kernel in mobilenet_model.trainable_weights


def test_frozen_backbone_ignores_training_mode(mobilenet_model):
    lightness = lightness_batch(16, 16, batch=2)
    np.testing.assert_allclose(
        mobilenet_model(lightness, training=True),
        mobilenet_model(lightness, training=False),
        atol=1e-5,
    )


def test_backbone_trains_when_asked_with_batch_norm_frozen():
    model = BackboneFusionNet(
        backbone="mobilenet_v2", backbone_weights=None, backbone_trainable=True
    )
    backbone = model.get_layer("embedding_mobilenet_v2")
    trainable_ids = {id(w) for w in model.trainable_weights}
    assert id(backbone.get_layer("Conv1").kernel) in trainable_ids
    batch_norm = backbone.get_layer("bn_Conv1")
    assert not batch_norm.trainable and id(batch_norm.gamma) not in trainable_ids


@pytest.mark.parametrize("file_name", ["b.weights.h5", "b.h5"])
def test_backbone_weights_from_a_file(tmp_path, file_name):
    # `.weights.h5` is what Keras 3's save_weights writes; `.h5` is the legacy format of
    # Keras' own ImageNet downloads.
    standalone = keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))
    path = str(tmp_path / file_name)
    if file_name.endswith(".weights.h5"):
        standalone.save_weights(path)
    else:
        standalone.save(path)
    model = BackboneFusionNet(backbone="mobilenet_v2", backbone_weights=path)
    loaded = model.get_layer("embedding_mobilenet_v2").get_weights()
    saved = standalone.get_weights()
    assert len(loaded) == len(saved)
    for loaded_array, saved_array in zip(loaded, saved, strict=True):
        np.testing.assert_array_equal(loaded_array, saved_array)
    # Loading a saved model needs neither the file nor a download: the saved weights win.
    clone = BackboneFusionNet.from_config(model.get_config())
    assert clone.get_config()["backbone_weights"] == path


def test_missing_weights_file_is_named(tmp_path):
    missing = str(tmp_path / "nowhere.weights.h5")
    with pytest.raises(ValueError, match="nowhere.weights.h5"):
        BackboneFusionNet(backbone="mobilenet_v2", backbone_weights=missing)
    with pytest.raises(ValueError, match="nowhere.weights.h5"):
        UNet(global_features="backbone", backbone_weights=missing)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"backbone": "resnet50"}, "backbone='resnet50'"),
        ({"backbone_embedding": "logits"}, "backbone_embedding='logits'"),
        ({"output_stride": 16}, "output_stride=16"),
        ({"head_activation": "softmax"}, "head_activation='softmax'"),
    ],
)
def test_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BackboneFusionNet(backbone_weights=None, **kwargs)


def test_a_few_training_steps_reduce_the_loss():
    keras.utils.set_random_seed(0)
    model = BackboneFusionNet(backbone="mobilenet_v2", backbone_weights=None)
    # The baseline has no batch norm; above 3e-4 its first steps jump (measured).
    model.compile(optimizer=keras.optimizers.Adam(3e-4), loss="mse")
    lightness = lightness_batch(32, 32, batch=4)
    ab = np.concatenate([0.6 * lightness - 0.1, 0.4 - 0.8 * lightness], axis=-1)
    history = model.fit(lightness, ab, batch_size=4, epochs=10, verbose=0)
    losses = history.history["loss"]
    assert min(losses[-3:]) < 0.85 * losses[0]


def test_the_networks_backbones_are_the_configs():
    # The config's option list (flags, validation) and the network's table name the same
    # backbones, in the same order.
    from tfcolor import config
    from tfcolor.models import backbone_fusion

    assert tuple(backbone_fusion.BACKBONES) == config.BACKBONES
