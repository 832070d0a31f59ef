"""Mixed precision (`--mixed-precision float16 | bfloat16`): every preset's model computes in the
low precision with float32 heads and outputs, trains with a falling loss (float16 with loss
scaling), exports a SavedModel that maps uint8 to uint8 whatever the policy, and reopens from
its model_dir with its policy.

Cost on 2 CPU cores: building every preset under both policies takes about 10 s; a training
case (8 steps on a fixed batch, export, reload) 10 to 20 s. CPUs emulate float16, and its
gradients of 512-filter convolutions are very slow (measured, 8 steps: iizuka 180 s,
unet_global 82 s, backbone_fusion 124 s against 6-7 s in bfloat16 or float32), so the networks
with Iizuka et al.'s 512-filter stacks train in bfloat16 only; in float16 they are built and
run forward (their loss scaling is Keras' LossScaleOptimizer, the same for every network, which
the float16 U-Net and video cases train with).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import smoke_preset
from tests.video_helpers import moving_shapes
from tfcolor import codecs, color, input_pipeline
from tfcolor.config import PRESETS, get_preset
from tfcolor.models import build_model
from tfcolor.training import compile as compile_lib
from tfcolor.training import open_run
from tfcolor.training.colorizer import Colorizer

POLICIES = {"float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}
STEPS = 8


def test_mixed_precision_settings_resolve_to_keras_policies():
    assert compile_lib.policy_name("off") == "float32"
    assert compile_lib.policy_name("float16") == "mixed_float16"
    assert compile_lib.policy_name("bfloat16") == "mixed_bfloat16"
    assert compile_lib.policy_name("auto") == "float32"  # no GPU here
    with pytest.raises(ValueError, match="Received: mixed_precision='half'"):
        compile_lib.policy_name("half")
    config = get_preset("unet_shapes")
    assert config.train.mixed_precision == "auto"
    config.train.mixed_precision = "half"
    with pytest.raises(ValueError, match="mixed_precision must be one of"):
        config.validate()


def test_policy_scope_restores_the_global_policy_even_on_errors():
    before = keras.config.dtype_policy().name
    with pytest.raises(RuntimeError, match="inside"):
        with compile_lib.policy_scope("mixed_bfloat16"):
            assert keras.config.dtype_policy().name == "mixed_bfloat16"
            raise RuntimeError("inside")
    assert keras.config.dtype_policy().name == before


def _inputs(model, video: bool):
    if video:
        return {"frames": tf.zeros([1, 2, 24, 32, 1]), **model.zero_state(1, 24, 32)}
    return tf.zeros([1, 32, 32, 1])


@pytest.mark.parametrize("mixed_precision", sorted(POLICIES))
def test_every_preset_computes_low_precision_with_float32_heads_and_outputs(mixed_precision):
    policy = POLICIES[mixed_precision]
    for name in PRESETS:
        config = smoke_preset(name)
        with compile_lib.policy_scope(policy):
            model = build_model(config.model, codecs.make_codec(config.codec))
        assert keras.config.dtype_policy().name == "float32", name
        assert model.dtype_policy.name == policy, name
        compute = {layer.name: layer.compute_dtype for layer in model.layers}
        assert policy.removeprefix("mixed_") in set(compute.values()), name
        float32_layers = ["head"]
        if config.model.classify:
            float32_layers.append("class_logits")
        if config.model.name == "convlstm":
            float32_layers.append("convlstm")  # the state sums over a whole video
        for layer in float32_layers:
            assert compute[layer] == "float32", (name, layer)
        assert {tensor.dtype for tensor in tf.nest.flatten(model.outputs)} == {"float32"}, name
        outputs = tf.nest.flatten(model(_inputs(model, config.model.name == "convlstm")))
        assert {tensor.dtype for tensor in outputs} == {tf.float32}, name
        assert all(np.isfinite(tensor.numpy()).all() for tensor in outputs), name


# --- training -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shapes_images():
    data = get_preset("unet_shapes").data
    images = input_pipeline.load_images(data, split="train", limit=4)
    return np.stack([element["image"] for element in images.as_numpy_iterator()])


class StepLosses(keras.callbacks.Callback):
    """Each training step's own loss (Keras logs the running mean of the epoch)."""

    def __init__(self):
        super().__init__()
        self.means = []

    def on_train_batch_end(self, batch, logs=None):
        self.means.append(float(logs["loss"]))

    @property
    def losses(self) -> np.ndarray:
        means = np.asarray(self.means)
        steps = np.arange(1, len(means) + 1)
        return steps * means - np.concatenate([[0.0], (steps * means)[:-1]])


def _image_batch(colorizer, images):
    split = input_pipeline.inputs_and_targets(colorizer.codec, colorizer.config.model.output_stride)
    lightness, target = split(tf.image.convert_image_dtype(images, tf.float32))
    if colorizer.class_names:
        target = {"colors": target, "class_logits": tf.constant([0, 1, 0, 1], tf.int32)}
    return lightness, target


def _video_batch(colorizer):
    """Two streams of one 4-frame chunk each, both starting their video."""
    clips = np.stack([moving_shapes(4, 24, 32, seed=seed) for seed in (1, 2)])
    split = input_pipeline.inputs_and_targets(colorizer.codec, colorizer.config.model.output_stride)
    lightness, target = split(tf.image.convert_image_dtype(clips.reshape(8, 24, 32, 3), tf.float32))
    inputs = {
        "lightness": tf.reshape(lightness, [2, 4, 24, 32, 1]),
        "reset": tf.constant([True, True]),
    }
    return inputs, tf.reshape(target, [2, 4, *target.shape[1:]]), tf.ones([2, 4])


def _check_export(colorizer, export, images):
    loaded = tf.saved_model.load(export)
    signature = loaded.signatures["colorize_images"]
    assert signature.structured_input_signature[1]["images"].dtype == tf.uint8
    outputs = signature(images=tf.constant(images))
    assert outputs["colorized"].dtype == tf.uint8
    assert outputs["colorized"].shape == images.shape
    expected = colorizer.predict(images)
    assert np.abs(outputs["colorized"].numpy().astype(int) - expected.astype(int)).max() <= 1
    if colorizer.class_names:
        assert outputs["class_probabilities"].dtype == tf.float32
    if colorizer.config.model.name == "convlstm":
        chunk = loaded.signatures["colorize_video_chunk"]
        specs = chunk.structured_input_signature[1]
        assert specs["frames"].dtype == tf.uint8
        assert specs["state_h"].dtype == specs["state_c"].dtype == tf.float32
        results = chunk.structured_outputs
        assert results["colorized"].dtype == tf.uint8
        assert results["state_h"].dtype == results["state_c"].dtype == tf.float32


def train_and_export(
    name: str, mixed_precision: str, model_dir, images, export: bool = True, steps: int = STEPS
) -> Colorizer:
    """Trains a shrunk preset `steps` steps on one fixed batch under the policy (the loss must
    be finite and, from 4 steps on, fall), exports it and checks the export's dtypes; returns
    the Colorizer."""
    colorizer = open_run(str(model_dir), smoke_preset(name, mixed_precision=mixed_precision))
    assert colorizer.dtype_policy == POLICIES[mixed_precision]
    assert colorizer.model.dtype_policy.name == POLICIES[mixed_precision]
    video = colorizer.config.model.name == "convlstm"
    if colorizer.codec.needs_fit:
        _, ab = color.lightness_and_ab(tf.image.convert_image_dtype(images, tf.float32))
        colorizer.fit_codec([ab.numpy()])
    batch = _video_batch(colorizer) if video else _image_batch(colorizer, images)
    recorder = StepLosses()
    colorizer.train(
        lambda: tf.data.Dataset.from_tensors(batch).repeat(steps),
        validation_fn=lambda: None,
        verbose=0,
        callbacks=[recorder],
    )
    losses = recorder.losses
    assert len(losses) == steps and np.isfinite(losses).all(), losses
    if steps >= 4:
        # Falling: the second half of the steps lower than the first (one noisy step, as
        # bfloat16's 8-bit mantissa gives, does not decide it).
        half = steps // 2
        assert losses[half:].mean() < losses[:half].mean(), (name, mixed_precision, losses)
    # Keras wraps the optimizer of a float16 model in dynamic loss scaling; bfloat16 has
    # float32's exponent range and needs none.
    scaled = isinstance(colorizer.model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert scaled == (mixed_precision == "float16")
    assert keras.config.dtype_policy().name == "float32"
    if export:
        _check_export(colorizer, colorizer.export_saved_model(), images)
    return colorizer


def test_float16_unet_trains_with_loss_scaling_exports_and_reopens(tmp_path, shapes_images):
    colorizer = train_and_export("unet_shapes", "float16", tmp_path / "run", shapes_images)
    reopened = Colorizer(None, colorizer.model_dir)
    assert reopened.dtype_policy == "mixed_float16"
    assert reopened.model.get_layer("down0_conv1").compute_dtype == "float16"
    for mine, theirs in zip(
        colorizer.model.get_weights(), reopened.model.get_weights(), strict=True
    ):
        np.testing.assert_array_equal(mine, theirs)
    np.testing.assert_array_equal(reopened.predict(shapes_images), colorizer.predict(shapes_images))


def test_bfloat16_unet_at_a_quarter_resolution_trains_and_exports(tmp_path, shapes_images):
    # Zhang et al.'s gamut codec, predicted at 1/4 of the resolution.
    train_and_export("unet_gamut", "bfloat16", tmp_path / "run", shapes_images)


def test_float16_video_trainer_scales_its_loss(tmp_path, shapes_images):
    # StreamingTrainer's own train step: optimizer.scale_loss, then apply_gradients unscales.
    # (The float16 video export: convlstm_big below.)
    train_and_export("convlstm", "float16", tmp_path / "run", shapes_images[:, :24], export=False)


# The rest of the distinct networks and heads: presets that share one differ only in data
# (unet_shapes, unet_cifar, unet_128: the U-Nets above), codec (gamut_shapes: unet_gamut's) or
# trainer flag (convlstm_stateless: convlstm's network); the float16 U-Net and video trainer
# above train with loss scaling. The four fusion networks (Iizuka's 512-filter global network,
# the classification head, the backbone) take 2 bfloat16 steps, not 8: a step with finite
# loss and gradients in bfloat16 is what their layers add (a step costs them 3 to 4 s on 2
# cores, 3 times float32's), and that the loss falls in a low precision the U-Nets and
# ConvLSTMs show; in float32 they learn in test_colorizer_fusion_presets.py. Of them only
# iizuka_cls exports here (its class probabilities' dtype): the export's uint8 contract does
# not depend on the network, and a fusion export costs about 10 s.
MATRIX = [
    ("unet_mse", "bfloat16", STEPS, True),
    ("unet_gamut", "float16", STEPS, True),
    ("iizuka", "bfloat16", 2, False),
    ("iizuka_cls", "bfloat16", 2, True),
    ("unet_global", "bfloat16", 2, False),
    ("backbone_fusion", "bfloat16", 2, False),
    ("convlstm", "bfloat16", STEPS, True),
    ("convlstm_global", "bfloat16", STEPS, True),
    ("convlstm_big", "bfloat16", STEPS, True),
]


@pytest.mark.slow
@pytest.mark.parametrize("name, mixed_precision, steps, export", MATRIX)
def test_every_distinct_network_trains_and_exports(
    tmp_path, shapes_images, name, mixed_precision, steps, export
):
    images = shapes_images[:, :24] if get_preset(name).model.name == "convlstm" else shapes_images
    train_and_export(name, mixed_precision, tmp_path / "run", images, export, steps=steps)
