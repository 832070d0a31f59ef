"""tfcolor.media.geometry: the one frame-canvas geometry, and every caller agreeing with it.

The placement is computed in numpy (`placement`, `canvas_size`) and in TF ops
(`frame_placement`); the preprocessing, the video loader, the trainer's state, video
colorization and the export all place frames through it, and must agree on odd sizes.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tests.video_helpers import moving_shapes
from tfcolor.media import geometry

# Odd sources and boxes, free sides, multiples: where rounding could make copies drift apart.
ODD_CASES = [
    ((47, 63), (33, 17), 8),
    ((101, 33), (240, 135), 16),
    ((1, 1999), (240, 135), 8),
    ((1999, 1), (0, 17), 1),
    ((3, 5), (0, 0), 16),
    ((135, 241), (241, 0), 4),
    ((720, 1280), (240, 135), 8),
]


def _smooth(height, width, seed=0):
    """A smooth RGB image (low-frequency sines): what resizing should nearly round-trip."""
    rng = np.random.default_rng(seed)
    y = np.arange(height)[:, None] / height
    x = np.arange(width)[None, :] / width
    channels = [
        127
        + 100
        * np.sin(
            2 * np.pi * (rng.uniform(0.3, 1.5) * y + rng.uniform(0.3, 1.5) * x) + rng.uniform(0, 6)
        )
        for _ in range(3)
    ]
    return np.clip(np.stack(channels, -1), 0, 255).round().astype(np.uint8)


@pytest.mark.parametrize(
    "source, frame_size, multiple, content, canvas",
    [
        ((720, 1280), (240, 135), 1, (0, 0, 135, 240), (135, 240)),
        ((1080, 1920), (240, 135), 8, (0, 0, 135, 240), (136, 240)),
        ((1920, 1080), (240, 135), 8, (0, 82, 135, 76), (136, 240)),  # portrait
        ((47, 63), (240, 135), 8, (0, 29, 135, 181), (136, 240)),  # odd, scaled up
        ((101, 33), (240, 135), 1, (0, 98, 135, 44), (135, 240)),
        ((47, 63), None, 8, (0, 0, 47, 63), (48, 64)),  # source size, padded
        ((101, 33), (0, 0), 8, (1, 3, 101, 33), (104, 40)),
        ((720, 1280), (240, 0), 1, (0, 0, 135, 240), (135, 240)),  # height free
        ((720, 1280), (0, 90), 16, (3, 0, 90, 160), (96, 160)),  # width free
    ],
)
def test_placement(source, frame_size, multiple, content, canvas):
    place = geometry.placement(*source, frame_size, multiple)
    assert place.content == content
    assert (place.height, place.width) == canvas
    assert (place.source_height, place.source_width) == source


def test_placement_keeps_the_aspect_ratio_within_a_pixel():
    rng = np.random.default_rng(0)
    for _ in range(300):
        height, width = (int(v) for v in rng.integers(1, 2000, size=2))
        box = tuple(int(v) for v in rng.integers(1, 500, size=2))
        multiple = int(rng.choice([1, 2, 8, 16]))
        place = geometry.placement(height, width, box, multiple)
        # The content fits the box, touches it on one side and keeps the aspect ratio.
        assert place.content_width <= box[0] and place.content_height <= box[1]
        assert place.content_width == box[0] or place.content_height == box[1]
        assert abs(place.content_width - width * place.content_height / height) <= 1 or (
            abs(place.content_height - height * place.content_width / width) <= 1
        )
        # Canvas: the box rounded up to the multiple, content centred.
        assert place.height % multiple == 0 and place.width % multiple == 0
        assert 0 <= place.height - box[1] < multiple and 0 <= place.width - box[0] < multiple
        assert place.top == (place.height - place.content_height) // 2
        assert place.left == (place.width - place.content_width) // 2


def test_placement_rejects_bad_arguments():
    with pytest.raises(ValueError, match="source_height=0"):
        geometry.placement(0, 10)
    with pytest.raises(ValueError, match="multiple=0"):
        geometry.placement(10, 10, multiple=0)
    with pytest.raises(ValueError, match="frame_size"):
        geometry.placement(10, 10, (-1, 5))


# Measured: mean abs error 0.07 (176x144) to 0.61 (33x101), max 7 (a border pixel of 360x640
# shrunk to 76x135); the smooth image changes little between neighbouring pixels.
@pytest.mark.parametrize(
    "source", [(144, 176), (720, 1280), (272, 640), (47, 63), (640, 360), (101, 33)]
)
def test_restore_inverts_scale_and_pad_on_a_smooth_image(source):
    image = _smooth(*source)
    place = geometry.placement(*source, (240, 135), 8)
    canvas = geometry.scale_and_pad(image, place)
    assert canvas.dtype == tf.uint8 and canvas.shape == (136, 240, 3)
    restored = geometry.restore(canvas, place).numpy()
    assert restored.shape == image.shape and restored.dtype == np.uint8
    error = np.abs(restored.astype(int) - image)
    assert error.mean() < 1.0
    assert error.max() <= 10


def test_scale_and_pad_batches_pads_with_zero_and_crops_back():
    frames = moving_shapes(4, 47, 63)
    place = geometry.placement(47, 63, (240, 135), 8)
    canvas = geometry.scale_and_pad(tf.constant(frames), place).numpy()
    assert canvas.shape == (4, 136, 240, 3)
    # Each frame scaled alone gives the same as the batch.
    np.testing.assert_array_equal(canvas[2], geometry.scale_and_pad(frames[2], place).numpy())
    top, left, height, width = place.content
    assert not canvas[:, :, :left].any() and not canvas[:, :, left + width :].any()
    assert not canvas[:, top + height :].any()
    content = geometry.crop_padding(canvas, place)
    assert content.shape == (4, 135, 181, 3)
    assert geometry.restore(canvas, place).shape == (4, 47, 63, 3)


def test_no_resize_when_the_size_is_kept():
    frames = moving_shapes(2, 47, 63)
    place = geometry.placement(47, 63, None, 8)
    canvas = geometry.scale_and_pad(frames, place).numpy()
    assert canvas.shape == (2, 48, 64, 3)
    np.testing.assert_array_equal(geometry.restore(canvas, place).numpy(), frames)


def test_scale_and_pad_inside_tf_data():
    """The same result eagerly and in a tf.data map (graph mode)."""
    frames = moving_shapes(3, 48, 64)
    place = geometry.placement(48, 64, (240, 135), 8)
    dataset = tf.data.Dataset.from_tensor_slices(frames).map(
        lambda f: geometry.scale_and_pad(f, place)
    )
    in_graph = np.stack([element.numpy() for element in dataset])
    np.testing.assert_array_equal(in_graph, geometry.scale_and_pad(frames, place).numpy())


def test_scale_and_pad_checks_its_input():
    place = geometry.placement(48, 64, (240, 135), 8)
    with pytest.raises(ValueError, match=r"\[\.\.\., 48, 64, 3\]"):
        geometry.scale_and_pad(np.zeros((48, 65, 3), np.uint8), place)
    with pytest.raises(ValueError, match="uint8"):
        geometry.scale_and_pad(np.zeros((48, 64, 3), np.float32), place)


def _random_cases(count, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        height, width = (int(v) for v in rng.integers(1, 2000, 2))
        frame_size = (int(rng.choice([0, 240, 33])), int(rng.choice([0, 135, 17])))
        yield (height, width), frame_size, int(rng.choice([1, 8, 16]))


def _fields(place):
    return [
        int(getattr(place, name))
        for name in (
            "source_height",
            "source_width",
            "content_height",
            "content_width",
            "top",
            "left",
            "height",
            "width",
        )
    ]


def test_frame_placement_in_tf_ops_matches_placement():
    # Moved from the video trainer's tests: the export's TF placement is the loader's.
    for source, frame_size, multiple in [*_random_cases(60), *ODD_CASES]:
        expected = geometry.placement(*source, frame_size, multiple)
        got = geometry.frame_placement(*source, frame_size, multiple)
        assert _fields(got) == _fields(expected), (source, frame_size, multiple)


def test_frame_placement_in_a_graph_of_unknown_sizes():
    @tf.function(input_signature=[tf.TensorSpec([None, None, 1], tf.float32)])
    def canvas_of(image):
        shape = tf.shape(image)
        place = geometry.frame_placement(shape[0], shape[1], (33, 17), 8)
        return tf.stack([place.height, place.width, place.top, place.left])

    for height, width in ((47, 63), (5, 300), (300, 5)):
        place = geometry.placement(height, width, (33, 17), 8)
        got = canvas_of(tf.zeros([height, width, 1])).numpy().tolist()
        assert got == [place.height, place.width, place.top, place.left]


def test_canvas_size_is_every_placements_canvas():
    for source, frame_size, multiple in [*_random_cases(60, seed=1), *ODD_CASES]:
        place = geometry.placement(*source, frame_size, multiple)
        canvas = geometry.canvas_size(
            frame_size, multiple, place.content_height, place.content_width
        )
        assert canvas == (place.height, place.width)
    # A free side without content is 0 (the canvas then depends on the frame).
    assert geometry.canvas_size((240, 0), 8) == (0, 240)
    assert geometry.canvas_size((240, 135), 8) == (136, 240)
    assert geometry.round_up(135, 8) == 136 and geometry.round_up(136, 8) == 136
    with pytest.raises(ValueError, match="multiple=0"):
        geometry.canvas_size((240, 135), 0)


def test_to_canvas_and_back_on_float_images_with_tensor_placements():
    # Float lightness, as video colorization places it: same box as the uint8 frames.
    frames = moving_shapes(2, 47, 63)
    place = geometry.placement(47, 63, (33, 17), 8)
    traced = geometry.frame_placement(47, 63, (33, 17), 8)
    image = tf.image.convert_image_dtype(frames, tf.float32)
    canvas = geometry.to_canvas(image, traced).numpy()
    assert canvas.shape == (2, place.height, place.width, 3)
    uint8 = geometry.scale_and_pad(frames, place).numpy()
    np.testing.assert_allclose(canvas * 255.0, uint8, atol=0.5 + 1e-3)
    back = geometry.from_canvas(canvas, traced, antialias=False)
    assert back.shape == (2, 47, 63, 3) and back.dtype == tf.float32


class _CanvasNetwork:
    """A recurrent network's interface that notes the canvas it is given."""

    def __init__(self):
        self.seen = {}

    def zero_state(self, batch, height, width):
        self.seen["state"] = (int(height), int(width))
        zeros = tf.zeros([batch, height, width, 1])
        return {"state_h": zeros, "state_c": zeros}

    def __call__(self, inputs, training=False):
        lightness = inputs["frames"]
        self.seen["frames"] = tuple(lightness.shape[2:4])
        colors = tf.concat([lightness, lightness], -1)
        return {"colors": colors, "state_h": inputs["state_h"], "state_c": inputs["state_c"]}


class _IdentityCodec:
    class config:  # noqa: N801 - stands for the codec's CodecConfig
        gamut = "clip"

    def decode(self, outputs, temperature=None):
        return outputs


def test_callers_agree_on_odd_sizes():
    """The loader, the trainer, the export's budget and video colorization use one canvas."""
    from tfcolor.export import inference, saved_model
    from tfcolor.input_pipeline import videos
    from tfcolor.training import streaming

    assert streaming.canvas_size is geometry.canvas_size  # the trainer's state size
    for source, frame_size, multiple in ODD_CASES:
        place = geometry.placement(*source, frame_size, multiple)
        # The loader's canvas for stored frames of the placement's size.
        loader = videos._canvas(frame_size, place.height, place.width, multiple, "test")
        assert loader == (place.height, place.width), (source, frame_size, multiple)
        # The export's render budget of a training chunk's canvas (fixed frame sizes only).
        if all(frame_size):
            assert saved_model._canvas_pixels(frame_size, multiple) == place.height * place.width

        # Video colorization: the network gets the lightness on the same canvas, and the
        # zero state is sized for it.
        network = _CanvasNetwork()
        frames = tf.zeros([1, 1, *source, 3], tf.uint8) + 128
        state = inference.zero_video_state(network, frames, frame_size, multiple)
        colorized, _ = inference.colorize_chunk(
            network, _IdentityCodec(), frames, state, frame_size, multiple
        )
        assert network.seen["state"] == network.seen["frames"] == (place.height, place.width)
        assert colorized.shape == (1, 1, *source, 3)
