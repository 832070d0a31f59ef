"""VideoUNet: the U-Net + ConvLSTM video colorizer with an explicit recurrent state."""

import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfcolor.config import ModelConfig
from tfcolor.models import (
    DynamicConvLSTM2D,
    FoldTime,
    UnfoldTime,
    VideoUNet,
    build_model,
    reset_rows,
)

STATE_KEYS = ("state_h", "state_c")


def frames_batch(batch, steps, height, width, seed=0):
    """Random L in [0, 1], [batch, steps, height, width, 1] float32, as a tensor.

    A tensor, not a NumPy array: Keras refuses a dict input that mixes the two, and
    `zero_state` gives tensors.
    """
    rng = np.random.default_rng(seed)
    return tf.constant(rng.random((batch, steps, height, width, 1)).astype("float32"))


def run(model, frames, state=None, **kwargs):
    """The model on frames from `state` (zero state by default)."""
    if state is None:
        state = model.zero_state(frames.shape[0], frames.shape[2], frames.shape[3])
    return model({"frames": frames, **state}, **kwargs)


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)


@pytest.mark.parametrize("activation", [None, "sigmoid", "tanh"])
@pytest.mark.parametrize("output_stride", [1, 2])
def test_output_shapes_and_dtypes(activation, output_stride):
    model = VideoUNet(
        filters=(4, 8, 16), head_channels=3, head_activation=activation, output_stride=output_stride
    )
    assert (model.downsampling, model.recurrent_filters) == (4, 16)
    for height, width, steps in [(16, 24, 3), (8, 12, 1)]:
        outputs = run(model, frames_batch(2, steps, height, width))
        assert set(outputs) == {"colors", *STATE_KEYS}
        colors = outputs["colors"]
        size = (height // output_stride, width // output_stride)
        assert tuple(colors.shape) == (2, steps, *size, 3)
        for key in STATE_KEYS:
            assert tuple(outputs[key].shape) == (2, height // 4, width // 4, 16)
            assert outputs[key].dtype == "float32"
        assert colors.dtype == "float32"
        if activation == "sigmoid":
            assert 0.0 <= float(np.min(colors)) and float(np.max(colors)) <= 1.0
        if activation == "tanh":
            assert -1.0 <= float(np.min(colors)) and float(np.max(colors)) <= 1.0


def test_state_shape_and_zero_state():
    model = VideoUNet(filters=(4, 8, 16))
    assert model.state_shape(16, 24) == (4, 6, 16)
    state = model.zero_state(3, 16, 24)
    assert set(state) == set(STATE_KEYS)
    for tensor in state.values():
        assert tuple(tensor.shape) == (3, 4, 6, 16) and tensor.dtype == tf.float32
        assert not np.any(tensor)

    # Sizes read with tf.shape inside a tf.function, as a training step has them.
    @tf.function
    def zero_state_like(frames):
        shape = tf.shape(frames)
        return model.zero_state(shape[0], shape[2], shape[3])

    traced = zero_state_like(frames_batch(2, 3, 8, 12))
    assert tuple(traced["state_c"].shape) == (2, 2, 3, 16)
    with pytest.raises(ValueError, match="height=10, width=24"):
        model.state_shape(10, 24)


def test_state_carries_across_chunks():
    # A 6-frame clip in one chunk = two 3-frame chunks with the first one's final state passed
    # on. Logits: the zero-state difference is ~6e-3 at initialization (measured), far above
    # the 1e-5 tolerance of the equality.
    keras.utils.set_random_seed(0)
    model = VideoUNet(filters=(4, 8), head_channels=2, head_activation=None)
    clip = frames_batch(2, 6, 16, 24)
    whole = run(model, clip)
    first = run(model, clip[:, :3])
    carried = run(model, clip[:, 3:], {key: first[key] for key in STATE_KEYS})
    np.testing.assert_allclose(carried["colors"], whole["colors"][:, 3:], atol=1e-5)
    np.testing.assert_allclose(first["colors"], whole["colors"][:, :3], atol=1e-5)
    for key in STATE_KEYS:
        np.testing.assert_allclose(carried[key], whole[key], atol=1e-5)
    restarted = run(model, clip[:, 3:])
    assert np.max(np.abs(restarted["colors"] - whole["colors"][:, 3:])) > 1e-3


def _check_row_1_reset(result, state):
    for key in STATE_KEYS:
        value = np.asarray(result[key])
        assert value.dtype == np.float32
        assert not np.any(value[1])
        np.testing.assert_array_equal(value[0], np.asarray(state[key])[0])
        np.testing.assert_array_equal(value[2], np.asarray(state[key])[2])


def test_reset_rows_zeroes_only_the_reset_rows():
    rng = np.random.default_rng(0)
    state = {
        key: tf.constant(rng.normal(size=(3, 2, 3, 4)).astype("float32")) for key in STATE_KEYS
    }
    flags = tf.constant([False, True, False])
    _check_row_1_reset(reset_rows(state, flags), state)
    _check_row_1_reset(tf.function(reset_rows, jit_compile=True)(state, flags), state)
    # 0/1 numbers work as flags; so do a [B, 1] column and a Python list.
    _check_row_1_reset(reset_rows(state, tf.constant([0.0, 1.0, 0.0])), state)
    _check_row_1_reset(reset_rows(state, tf.constant([[0], [1], [0]])), state)
    _check_row_1_reset(reset_rows(state, [False, True, False]), state)
    # A NaN in a finished video's state does not survive the reset (tf.where, not a product).
    poisoned = {
        key: tf.tensor_scatter_nd_update(value, [[1]], [value[1] * np.nan])
        for key, value in state.items()
    }
    _check_row_1_reset(reset_rows(poisoned, flags), state)
    # A single tensor is a state too.
    single = reset_rows(state["state_h"], tf.constant([True, False, True]))
    assert not np.any(single[0]) and not np.any(single[2])
    np.testing.assert_array_equal(single[1], state["state_h"][1])


def test_fold_and_unfold_time_are_inverse():
    sequences = frames_batch(2, 3, 4, 6)
    folded = FoldTime()(sequences)
    assert tuple(folded.shape) == (6, 4, 6, 1)
    # Frame b * T + t of the folded batch is frame t of sequence b.
    np.testing.assert_array_equal(folded[4], sequences[1, 1])
    np.testing.assert_array_equal(UnfoldTime()([folded, sequences]), sequences)


def test_dynamic_convlstm_is_keras_convlstm_at_any_size():
    sequences = frames_batch(2, 3, 4, 6)
    state = [tf.constant(np.full((2, 4, 6, 5), value, "float32")) for value in (0.3, -0.2)]
    keras_layer = keras.layers.ConvLSTM2D(
        5, 3, padding="same", return_sequences=True, return_state=True
    )
    dynamic = DynamicConvLSTM2D(5, 3, padding="same", return_sequences=True, return_state=True)
    expected = keras_layer(sequences, initial_state=state)
    dynamic.build((None, None, None, None, 1))
    dynamic.set_weights(keras_layer.get_weights())
    for actual, wanted in zip(dynamic(sequences, initial_state=state), expected, strict=True):
        np.testing.assert_allclose(actual, wanted, atol=1e-6)
    # Another size, with the same weights.
    smaller = dynamic(frames_batch(1, 2, 2, 4), initial_state=[s[:1, :2, :4] for s in state])
    assert tuple(smaller[0].shape) == (1, 2, 2, 4, 5)
    with pytest.raises(ValueError, match="initial_state=None"):
        dynamic(sequences)


def test_training_with_carried_state_learns_the_previous_frame():
    # Each frame is one gray level; the target colour of frame t is the lightness of frame
    # t - 1 (0.5 for a video's first frame), so only the memory can predict it, across the
    # chunk boundary too. Without memory the best prediction is 0.5 everywhere, an MSE of
    # 5/6 * Var(U[0, 1]) = 5/72 = 0.069. The last 5 of 40 steps average 0.009 to 0.017
    # (measured, seeds 0 to 3): the threshold, half the memoryless optimum, has a 2x margin.
    # Fresh levels every step: nothing to memorize.
    keras.utils.set_random_seed(0)
    model = VideoUNet(filters=(4, 8), head_channels=2, head_activation="sigmoid")
    optimizer = keras.optimizers.Adam(1e-2)
    streams, steps, chunk = 8, 6, 3

    @tf.function
    def train_step(frames, target, state):
        with tf.GradientTape() as tape:
            outputs = model({"frames": frames, **state}, training=True)
            loss = tf.reduce_mean(tf.square(outputs["colors"] - target))
        gradients = tape.gradient(loss, model.trainable_weights)
        optimizer.apply(gradients, model.trainable_weights)
        # Truncated backpropagation: the next chunk starts from the state, not through it.
        return loss, {key: tf.stop_gradient(outputs[key]) for key in STATE_KEYS}

    rng = np.random.default_rng(0)
    state = model.zero_state(streams, 16, 24)
    losses = []
    for _ in range(40):
        levels = rng.random((streams, steps)).astype("float32")
        previous = np.concatenate([np.full((streams, 1), 0.5, "float32"), levels[:, :-1]], 1)
        frames = np.broadcast_to(levels[:, :, None, None, None], (streams, steps, 16, 24, 1))
        target = np.stack([previous, 1 - previous], -1)[:, :, None, None, :]
        target = np.broadcast_to(target, (streams, steps, 16, 24, 2))
        chunk_losses = []
        for start in range(0, steps, chunk):
            state = reset_rows(state, tf.fill([streams], start == 0))
            loss, state = train_step(
                tf.constant(frames[:, start : start + chunk]),
                tf.constant(target[:, start : start + chunk]),
                state,
            )
            chunk_losses.append(float(loss))
        losses.append(np.mean(chunk_losses))
    memoryless = 5 / 72
    assert np.mean(losses[:3]) > 0.8 * memoryless
    assert np.mean(losses[-5:]) < 0.5 * memoryless


def test_without_batch_norm():
    model = VideoUNet(filters=(4, 8), batch_norm=False)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
    assert model.get_layer("down0_conv1").use_bias
    assert tuple(run(model, frames_batch(1, 2, 8, 12))["colors"].shape) == (1, 2, 8, 12, 2)
    with_batch_norm = VideoUNet(filters=(4, 8))
    assert not with_batch_norm.get_layer("down0_conv1").use_bias


def test_pinned_parameter_counts():
    # A change in the architecture must be deliberate. The ConvLSTM: 4 gates x (3x3 input
    # and recurrent kernels of 64 channels + bias) = 4 * (9 * 64 * 64 * 2 + 64) = 295,168.
    model = VideoUNet()
    assert model.get_layer("convlstm").count_params() == 295_168
    assert model.count_params() == 425_698
    assert VideoUNet(filters=(4, 8), batch_norm=False).count_params() == 6_450


def test_learned_global_features_fuse_before_the_convlstm():
    model = VideoUNet(filters=(4, 8), global_features="learned", global_size=32, simple_global=True)
    assert model.get_layer("fusion_conv").kernel.shape == (1, 1, 8 + 256, 8)
    # The ConvLSTM reads the fused bottleneck (8 channels in, 4 gates x 8 out).
    assert model.get_layer("bottleneck_unfold").input[0] is model.get_layer("fusion_relu").output
    assert model.get_layer("convlstm").cell.kernel.shape == (3, 3, 8, 32)
    outputs = run(model, frames_batch(2, 3, 16, 24))
    assert tuple(outputs["colors"].shape) == (2, 3, 16, 24, 2)


VIDEO_CASES = {
    "plain": lambda: VideoUNet(filters=(4, 8), head_channels=2),
    "no_batch_norm_stride2_tanh": lambda: VideoUNet(
        filters=(4, 8, 16),
        head_channels=3,
        head_activation="tanh",
        output_stride=2,
        batch_norm=False,
    ),
    "learned_stride4": lambda: VideoUNet(
        filters=(4, 8, 16),
        head_channels=5,
        head_activation=None,
        output_stride=4,
        global_features="learned",
        global_size=32,
        simple_global=True,
    ),
    "static_shape": lambda: VideoUNet(filters=(4, 8), image_shape=(16, 24)),
}


@pytest.mark.parametrize("case", list(VIDEO_CASES))
def test_model_contract(case, tmp_path):
    # model_checks.run_model_checks for a model with dict inputs and state outputs.
    model = VIDEO_CASES[case]()
    config = model.get_config()
    clone = VideoUNet.from_config(config)
    assert clone.get_config() == config
    assert clone.count_params() == model.count_params()
    names = [layer.name for layer in model.layers]
    assert len(names) == len(set(names))
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in _all_layers(model))

    # `model(x)` (as an export calls it) runs batch norm in inference mode, updating nothing.
    frames = frames_batch(2, 3, 16, 24, seed=2)
    before = [np.array(w) for w in model.non_trainable_weights]
    default = run(model, frames)
    inference = run(model, frames, training=False)
    for key in default:
        np.testing.assert_allclose(default[key], inference[key], atol=1e-6)
    for old, new in zip(before, model.non_trainable_weights, strict=True):
        np.testing.assert_array_equal(old, np.array(new))

    path = str(tmp_path / "video.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded) is VideoUNet
    assert loaded.get_config() == config
    state = {
        key: tf.constant(
            np.full(
                (2, 16 // model.downsampling, 24 // model.downsampling, model.recurrent_filters),
                0.1,
                "float32",
            )
        )
        for key in STATE_KEYS
    }
    expected = run(model, frames, state)
    actual = run(loaded, frames, state)
    for key in expected:
        np.testing.assert_allclose(actual[key], expected[key], atol=1e-5)


def test_backbone_global_features():
    # MobileNetV2 at its 224 input, random weights: builds in ~2 s (measured).
    model = VideoUNet(
        filters=(4, 8),
        global_features="backbone",
        backbone="mobilenet_v2",
        backbone_weights=None,
        backbone_embedding="pooled",
    )
    assert model.get_layer("fusion_conv").kernel.shape == (1, 1, 8 + 1280, 8)
    assert not model.get_layer("embedding_mobilenet_v2").trainable_weights
    outputs = run(model, frames_batch(1, 2, 8, 12))
    assert tuple(outputs["colors"].shape) == (1, 2, 8, 12, 2)
    clone = VideoUNet.from_config(model.get_config())
    assert clone.count_params() == model.count_params()


def test_build_model():
    codec = types.SimpleNamespace(channels=2, output_activation="tanh")
    config = ModelConfig(name="convlstm", filters=(4, 8, 16), output_stride=2, batch_norm=False)
    model = build_model(config, codec, name="video")
    assert isinstance(model, VideoUNet) and model.name == "video"
    assert (model.head_channels, model.head_activation) == (2, "tanh")
    assert (model.output_stride, model.downsampling, model.batch_norm) == (2, 4, False)
    assert model.global_features is None
    learned = ModelConfig(
        name="convlstm",
        filters=(4, 8),
        global_features="learned",
        global_size=32,
        simple_global=True,
    )
    model = build_model(learned, types.SimpleNamespace(channels=313, output_activation=None))
    assert model.head_channels == 313 and model.batch_norm
    assert (model.global_features, model.global_size, model.simple_global) == ("learned", 32, True)
    classify = ModelConfig(
        name="convlstm",
        filters=(4, 8),
        global_features="learned",
        classify=True,
        class_names=("a", "b"),
    )
    with pytest.raises(ValueError, match="classify"):
        build_model(classify, codec)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"filters": (8,)}, "filters=\\(8,\\)"),
        ({"filters": (4, 0)}, "filters=\\(4, 0\\)"),
        ({"filters": (4, 8), "output_stride": 4}, "output_stride=4"),
        ({"output_stride": 3}, "output_stride=3"),
        ({"head_activation": "relu"}, "head_activation='relu'"),
        ({"head_channels": 0}, "head_channels=0"),
        ({"global_features": "lstm"}, "global_features='lstm'"),
        ({"global_features": "learned", "global_size": 50}, "global_size=50"),
        ({"global_features": "backbone", "backbone": "vgg16"}, "backbone='vgg16'"),
        ({"image_shape": (18, 24)}, "image_shape=\\(18, 24\\)"),
    ],
)
def test_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VideoUNet(**kwargs)
