"""tfcolor.export.inference: what predict, the panels, video colorization and the export share.

The input's own lightness is kept at full resolution, the render size follows its rules, and
a video chunk colorized in parts with the state carried equals the whole chunk.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfcolor import color
from tfcolor.codecs import make_codec
from tfcolor.config import CodecConfig
from tfcolor.export import inference
from tfcolor.media import geometry


def _neutral_codec():
    return make_codec(CodecConfig(name="regression", normalization="tanh", rebalance=None))


def test_recombination_keeps_the_inputs_own_lightness(photos):
    """With ab predicted as 0 everywhere, the result is the input's own Lab gray, at full size."""
    codec = _neutral_codec()

    def neutral_model(lightness, training=False):
        return tf.zeros(tf.concat([tf.shape(lightness)[:3], [2]], 0))

    image = photos["chelsea"][:45, :71]
    output = inference.colorize_batch(neutral_model, codec, image[None], render_size=16)[0].numpy()
    assert output.shape == (45, 71, 3)
    # Gray: R = G = B (up to rounding).
    assert np.abs(output.astype(int) - output[..., :1].astype(int)).max() <= 1
    truth_l = color.rgb_to_lab(image.astype("float32") / 255)[..., 0].numpy()
    out_l = color.rgb_to_lab(output.astype("float32") / 255)[..., 0].numpy()
    assert np.abs(truth_l - out_l).max() < 0.5  # uint8 rounding only


def _gray(image):
    """Its CIE L (the lightness colorization keeps)."""
    return color.rgb_to_lab(np.asarray(image, np.float32) / 255)[..., 0].numpy()


def test_render_shape_is_square_or_own_size_within_a_budget():
    def shape(*args):
        return inference.render_shape(*args).numpy().tolist()

    assert shape(64, [45, 71], 8) == [64, 64]  # the square render size
    assert shape(0, [45, 71], 8) == [48, 72]  # own size, rounded to the nearest multiple
    assert shape(0, [3, 2], 8) == [8, 8]  # at least one multiple
    # Own size over the budget: scaled down, aspect kept, then rounded.
    assert shape(0, [1000, 2000], 1, 20000) == [100, 200]
    assert shape(0, [45, 71], 1, 10**6) == [45, 71]


def test_colorize_batch_returns_class_probabilities_of_a_head():
    def model(lightness, training=False):
        batch = tf.shape(lightness)[0]
        zeros = tf.zeros(tf.concat([tf.shape(lightness)[:3], [2]], 0))
        return {"colors": zeros, "class_logits": tf.tile([[0.0, tf.math.log(3.0)]], [batch, 1])}

    images = np.full((2, 9, 13, 3), 90, np.uint8)
    colorized, probabilities = inference.colorize_batch(
        model, _neutral_codec(), images, 16, 8, with_classes=True
    )
    assert colorized.shape == (2, 9, 13, 3)
    np.testing.assert_allclose(probabilities.numpy(), [[0.25, 0.75]] * 2, atol=1e-6)


class _NeutralNetwork:
    """A recurrent network's interface predicting ab 0, the canvas and state noted."""

    def __init__(self):
        self.canvases = []

    def zero_state(self, batch, height, width):
        zeros = tf.zeros([batch, height, width, 1])
        return {"state_h": zeros, "state_c": zeros}

    def __call__(self, inputs, training=False):
        frames = inputs["frames"]
        self.canvases.append(frames.numpy())
        colors = tf.zeros(tf.concat([tf.shape(frames)[:4], [2]], 0))
        return {"colors": colors, "state_h": inputs["state_h"] + 1, "state_c": inputs["state_c"]}


def test_colorize_chunk_keeps_each_frames_lightness_on_odd_sizes(photos):
    frames = np.stack([photos["chelsea"][:45, :71], photos["astronaut"][:45, :71]])[None]
    network = _NeutralNetwork()
    state = inference.zero_video_state(network, frames, (33, 17), 8)
    colorized, new_state = inference.colorize_chunk(
        network, _neutral_codec(), frames, state, (33, 17), 8
    )
    assert colorized.shape == (1, 2, 45, 71, 3) and colorized.dtype == tf.uint8
    assert np.abs(_gray(frames[0]) - _gray(colorized[0])).max() < 0.5  # uint8 rounding only
    # The network saw the frames' lightness on the training canvas, zero around the picture.
    place = geometry.placement(45, 71, (33, 17), 8)
    (canvas,) = network.canvases
    assert canvas.shape == (1, 2, place.height, place.width, 1)
    top, left, height, width = place.content
    inside = np.zeros(canvas.shape[2:4], bool)
    inside[top : top + height, left : left + width] = True
    assert not canvas[:, :, ~inside].any() and canvas[:, :, inside].min() >= 0
    # The state returned is the network's.
    np.testing.assert_array_equal(new_state["state_h"].numpy(), state["state_h"].numpy() + 1)


def test_a_chunk_colorized_in_parts_with_the_state_carried_equals_the_whole():
    from tests.helpers import smoke_preset
    from tfcolor.models import build_model

    config = smoke_preset("convlstm")
    config.model.filters = (4, 8)
    codec = make_codec(config.codec)
    network = build_model(config.model, codec)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, 4, 21, 30, 3), dtype=np.uint8)
    frame_size, multiple = (32, 24), network.downsampling

    state = inference.zero_video_state(network, frames, frame_size, multiple)
    whole, whole_state = inference.colorize_chunk(
        network, codec, frames, state, frame_size, multiple
    )
    parts = []
    for start in (0, 1, 3):
        stop = {0: 1, 1: 3, 3: 4}[start]
        part, state = inference.colorize_chunk(
            network, codec, frames[:, start:stop], state, frame_size, multiple
        )
        parts.append(part.numpy())
    parts = np.concatenate(parts, axis=1)
    assert parts.shape == whole.shape == (2, 4, 21, 30, 3)
    assert np.abs(parts.astype(int) - whole.numpy().astype(int)).max() <= 1
    np.testing.assert_allclose(state["state_h"], whole_state["state_h"], atol=1e-5)


def test_hint_maps_place_each_patch_around_its_point_at_the_render_size():
    points = np.float32([[[5, 2], [-1, -1], [6, 2]]])  # (x, y); the second is padding
    ab = np.float32([[[40, 20], [90, 90], [-20, 60]]])
    hints = inference.Hints(points, ab, 3)
    # The input is 8 rows x 10 columns, rendered at 16 x 20: twice the size.
    ab_map, mask = (t.numpy()[0] for t in inference.hint_maps(hints, [8, 10], [16, 20]))
    # (5, 2) -> render pixel (row 5, column 11), its 3x3 patch rows 4-6, columns 10-12;
    # (6, 2) -> (5, 13), columns 12-14; both cover column 12, where ab is their mean.
    expected_mask = np.zeros((16, 20), np.float32)
    expected_mask[4:7, 10:15] = 1.0
    np.testing.assert_array_equal(mask[..., 0], expected_mask)
    np.testing.assert_allclose(ab_map[5, 10], [40, 20])
    np.testing.assert_allclose(ab_map[5, 12], [10, 40])
    np.testing.assert_allclose(ab_map[5, 14], [-20, 60])
    assert not ab_map[mask[..., 0] == 0].any()
