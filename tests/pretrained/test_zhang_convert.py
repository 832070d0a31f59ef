"""Zhang et al.'s released colorizers converted: the authors' networks rebuilt in PyTorch here
(`reference_nets`), randomized, saved with `torch.save`, converted by `python -m
tfcolor.convert`, and compared with PyTorch's forward pass on real photos at 256x256, directly
and through the export; the converted run used as any other; the conversion's refusals."""

from __future__ import annotations

import contextlib
import json
import os
import shutil

import numpy as np
import pytest
import skimage.color
import skimage.data
import skimage.transform
import tensorflow as tf
import torch

from tests.helpers import saved_model_cli_run
from tests.pretrained import reference_nets
from tfcolor import codecs
from tfcolor.cli import colorize as colorize_cli
from tfcolor.cli import convert as convert_cli
from tfcolor.cli import evaluate as evaluate_cli
from tfcolor.cli import refine as refine_cli
from tfcolor.config import get_preset
from tfcolor.export.saved_model import latest_export
from tfcolor.models import ZhangSIGGRAPH17
from tfcolor.pretrained import pth, zhang
from tfcolor.training import open_run
from tfcolor.training.colorizer import Colorizer
from tfcolor.training.run_dir import EXPORT_DIR

SIZE = 256
# The bounds on |ab difference| (Lab units): mean and 99th percentile.
MEAN_BOUND, P99_BOUND = 0.5, 2.0


@pytest.fixture(scope="module")
def photos():
    """Two of scikit-image's photos at 256x256: uint8 RGB [2, 256, 256, 3] and their L."""
    images = [
        skimage.transform.resize(image, (SIZE, SIZE), anti_aliasing=True)
        for image in (skimage.data.astronaut(), skimage.data.coffee())
    ]
    rgb = (np.stack(images) * 255).round().astype(np.uint8)
    lightness = skimage.color.rgb2lab(rgb)[..., :1].astype(np.float32)  # [2, H, W, 1], 0-100
    return rgb, lightness


def to_torch(lightness):
    return torch.from_numpy(lightness).permute(0, 3, 1, 2).contiguous()


def reference_network(network, lightness):
    """The PyTorch network with random weights and batch-norm statistics in a trained range
    (set on `lightness`)."""
    if network == "zhang_eccv16":
        net = reference_nets.randomize(reference_nets.ECCV16(), lightness)
        with torch.no_grad():  # 313 random bins in ab / 110 (the released file's range)
            generator = torch.Generator().manual_seed(7)
            net.model_out.weight.copy_(torch.rand(2, 313, 1, 1, generator=generator) - 0.5)
        return reference_nets.scale_to_std(net, net.model8[6], lightness, 3.0)
    net = reference_nets.randomize(reference_nets.SIGGRAPH17(), lightness)
    return reference_nets.scale_to_std(net, net.model_out[0], lightness, 0.25)


@pytest.fixture(scope="module")
def converted(photos, tmp_path_factory):
    """network -> (reference net, .pth path, reference ab [2, H, W, 2], converted run dir)."""
    lightness = to_torch(photos[1])
    runs = {}
    for network in zhang.NETWORKS:
        # Statistics from the photos at half size: the same colours, a quarter of the work.
        net = reference_network(network, lightness[:, :, ::2, ::2])
        with torch.no_grad():
            ab = net(lightness).permute(0, 2, 3, 1).numpy()
        folder = tmp_path_factory.mktemp(network)
        weights = str(folder / zhang.RELEASED_FILES[network])
        torch.save(net.state_dict(), weights)
        model_dir = str(folder / "run")
        # The SIGGRAPH run renders as the reference does (clip), in float32 anywhere.
        flags = ["--gamut", "clip", "--mixed-precision", "off"] if "siggraph" in network else []
        assert convert_cli.main([network, weights, "--model-dir", model_dir, *flags]) == 0
        runs[network] = (net, weights, ab, model_dir)
    return runs


@pytest.fixture(scope="module")
def opened(converted):
    """network -> the converted run, opened once (`open_run`)."""
    return {network: open_run(converted[network][3]) for network in zhang.NETWORKS}


def ab_differences(expected, actual):
    difference = np.abs(np.asarray(expected, np.float64) - np.asarray(actual, np.float64))
    return float(difference.mean()), float(np.percentile(difference, 99))


def predicted_ab(model, codec, lightness):
    """The run's ab at the input's size: model, codec decoding, bilinear upsampling (as
    `tfcolor.export.inference` does)."""
    ab = codec.decode(model(lightness / 100.0, training=False))
    return tf.image.resize(ab, lightness.shape[1:3], method="bilinear").numpy()


@pytest.mark.parametrize("network", zhang.NETWORKS)
def test_the_converted_run_reproduces_the_reference(converted, opened, photos, network):
    reference_ab = converted[network][2]
    run = opened[network]
    assert isinstance(run, Colorizer) and run.config.preset == network
    clip = network == "zhang_siggraph17"
    assert run.config.codec.gamut == ("clip" if clip else "chroma")
    assert run.config.train.mixed_precision == ("off" if clip else "auto")
    assert reference_ab.std() > 5.0  # colours, not a flat gray: the comparison means something
    mean, p99 = ab_differences(reference_ab, predicted_ab(run.model, run.codec, photos[1]))
    print(f"{network} direct: mean |ab diff| {mean:.5f}, p99 {p99:.5f}")
    assert mean < MEAN_BOUND and p99 < P99_BOUND


def test_any_size_divisible_by_8_matches_the_reference(converted, opened, photos):
    net = converted["zhang_eccv16"][0]
    run = opened["zhang_eccv16"]
    lightness = photos[1][1:, 40:112, 16:136]  # 72 x 120
    with torch.no_grad():
        expected = net(to_torch(lightness)).permute(0, 2, 3, 1).numpy()
    actual = predicted_ab(run.model, run.codec, lightness)
    mean, p99 = ab_differences(expected, actual)
    assert mean < MEAN_BOUND and p99 < P99_BOUND


def test_the_comparison_detects_a_swapped_weight(converted, opened, photos):
    reference_ab = converted["zhang_eccv16"][2]
    run = opened["zhang_eccv16"]
    layer = run.model.get_layer("conv4_2")
    kernel, bias = layer.get_weights()
    try:
        layer.set_weights([kernel.transpose(1, 0, 2, 3), bias])  # kh and kw swapped
        swapped = predicted_ab(run.model, run.codec, photos[1][:1])
    finally:
        layer.set_weights([kernel, bias])
    mean, p99 = ab_differences(reference_ab[:1], swapped)
    assert mean > MEAN_BOUND or p99 > P99_BOUND


def test_hints_reach_the_network_as_in_the_reference(converted, opened, photos):
    net = converted["zhang_siggraph17"][0]
    run = opened["zhang_siggraph17"]
    guided = ZhangSIGGRAPH17(hint_inputs=True)
    guided.set_weights(run.model.get_weights())
    height, width = 128, 96  # any multiple of 8
    lightness = photos[1][:1, :height, :width]
    rng = np.random.default_rng(3)
    ab_hints = np.zeros((1, height, width, 2), np.float32)
    mask = np.zeros((1, height, width, 1), np.float32)
    for y, x in zip(rng.integers(8, height - 8, 8), rng.integers(8, width - 8, 8), strict=True):
        ab_hints[0, y - 2 : y + 3, x - 2 : x + 3] = rng.uniform(-80, 80, 2)
        mask[0, y - 2 : y + 3, x - 2 : x + 3] = 1.0
    with torch.no_grad():
        expected = net(to_torch(lightness), to_torch(ab_hints), to_torch(mask))
    inputs = {"lightness": lightness / 100.0, "ab_hints": ab_hints, "hint_mask": mask}
    actual = run.codec.decode(guided(inputs, training=False))
    mean, p99 = ab_differences(expected.permute(0, 2, 3, 1).numpy(), actual)
    assert mean < MEAN_BOUND and p99 < P99_BOUND
    automatic = run.codec.decode(run.model(lightness / 100.0, training=False))
    assert np.abs(automatic - actual).max() > 1.0  # the hints changed the colours


def rendered_ab(rgb):
    return skimage.color.rgb2lab(rgb)[..., 1:]


# --- user hints ---------------------------------------------------------------------------------

# The hint-copying path's channels (+a, -a, +b, -b) and its gain: the identity for small ab
# (110 x tanh(ab / 110) ~ ab).
COPY_CHANNELS = [0, 1, 2, 3]
COPY_GAIN = 1.0


def _identity_taps(kernel, bias):
    """Channels COPY_CHANNELS of a 3x3 convolution [3, 3, in, out] pass straight through
    (centre tap 1) and mix with no other channel."""
    kernel[:, :, COPY_CHANNELS, :] = 0.0
    kernel[:, :, :, COPY_CHANNELS] = 0.0
    kernel[1, 1, COPY_CHANNELS, COPY_CHANNELS] = 1.0
    bias[COPY_CHANNELS] = 0.0


@contextlib.contextmanager
def hint_copying_weights(model):
    """The converted SIGGRAPH network given a path that copies a hint's ab onto its own pixels
    (what training teaches it; random weights do not): the hints' ab enter the first block's
    channels 0-3 only (as ReLU(+-a / 110), ReLU(+-b / 110), centre taps), which run through
    the full-resolution shortcut to the head (identity taps, nothing else mixed in) and add
    COPY_GAIN x ab / 110 to the tanh's input. Nothing else sees the hints (ab and mask weights
    of every other channel zeroed), so a hint changes its own patch and nothing beyond it:
    the test sees exactly where the export put it. The weights are restored after."""
    names = ["conv1_1", "conv1_2", "conv1_norm", "conv2_1", "conv1_short10", "conv10_up"]
    names += ["conv10_1", "head"]
    saved = {name: model.get_layer(name).get_weights() for name in names}
    weights = {name: [np.array(w) for w in values] for name, values in saved.items()}
    kernel, bias = weights["conv1_1"]  # inputs: L, a, b, mask
    kernel[:, :, 1:, :] = 0.0
    kernel[:, :, :, COPY_CHANNELS] = 0.0
    for channel, (source, sign) in enumerate([(1, 1.0), (1, -1.0), (2, 1.0), (2, -1.0)]):
        kernel[1, 1, source, channel] = sign
    bias[COPY_CHANNELS] = 0.0
    _identity_taps(*weights["conv1_2"])
    gamma, beta, mean, variance = weights["conv1_norm"]
    gamma[COPY_CHANNELS], beta[COPY_CHANNELS] = 1.0, 0.0
    mean[COPY_CHANNELS], variance[COPY_CHANNELS] = 0.0, 1.0
    weights["conv2_1"][0][:, :, COPY_CHANNELS, :] = 0.0
    _identity_taps(*weights["conv1_short10"])
    up_kernel, up_bias = weights["conv10_up"]  # [4, 4, out, in]
    up_kernel[:, :, COPY_CHANNELS, :] = 0.0
    up_bias[COPY_CHANNELS] = 0.0
    _identity_taps(*weights["conv10_1"])
    head = weights["head"][0]  # [128, 2]
    head[COPY_CHANNELS] = COPY_GAIN * np.array([[1, 0], [-1, 0], [0, 1], [0, -1]], np.float32)
    try:
        for name, values in weights.items():
            model.get_layer(name).set_weights(values)
        yield model
    finally:
        for name, values in saved.items():
            model.get_layer(name).set_weights(values)


@pytest.fixture(scope="module")
def hint_export(opened, tmp_path_factory):
    """The converted SIGGRAPH run's export with hint-copying weights (`hint_copying_weights`)."""
    run = opened["zhang_siggraph17"]
    with hint_copying_weights(run.model):
        return run.export_saved_model(str(tmp_path_factory.mktemp("hint_export")))


# A hint at a mid-grey pixel of the astronaut photo, a colour there inside sRGB.
HINT_X, HINT_Y, HINT_AB = 150, 60, (35.0, 45.0)


def test_a_hint_colours_its_patch_toward_its_ab_and_nothing_else(
    hint_export, opened, photos, tmp_path
):
    serve = tf.saved_model.load(hint_export).signatures["colorize_with_hints"]
    rgb = photos[0][:1]  # 256x256: the render size, one render pixel per input pixel

    def colorize(points, ab, patch_size=3):
        points, ab = np.float32([points]), np.float32([ab])
        return serve(images=rgb, hint_points=points, hint_ab=ab, patch_size=patch_size)[
            "colorized"
        ].numpy()[0]

    # Padding (a negative coordinate) is no hint.
    automatic = colorize([[-1, -1]], [[0, 0]])
    hinted = colorize([[HINT_X, HINT_Y], [-1, 7]], [HINT_AB, [-90, 90]])
    changed = np.argwhere(np.any(hinted != automatic, axis=-1))
    # Exactly the 3x3 patch around the point (column x, row y) changed.
    assert changed[:, 0].min() >= HINT_Y - 1 and changed[:, 0].max() <= HINT_Y + 1
    assert changed[:, 1].min() >= HINT_X - 1 and changed[:, 1].max() <= HINT_X + 1
    before = np.linalg.norm(rendered_ab(automatic)[HINT_Y, HINT_X] - HINT_AB)
    after = np.linalg.norm(rendered_ab(hinted)[HINT_Y, HINT_X] - HINT_AB)
    print(f"|ab - hint| at the point: {before:.1f} without the hint, {after:.1f} with it")
    assert before > 20.0 and after < 8.0
    # TF Serving's session-based loader (saved_model_cli run) serves the same signature.
    arrays = {
        "images": rgb,
        "hint_points": np.float32([[[HINT_X, HINT_Y], [-1, 7]]]),
        "hint_ab": np.float32([[HINT_AB, [-90, 90]]]),
        "patch_size": np.int32(3),
    }
    for name, array in arrays.items():
        np.save(tmp_path / f"{name}.npy", array)
    feeds = ";".join(f"{name}={tmp_path / name}.npy" for name in arrays)
    result = saved_model_cli_run(hint_export, "colorize_with_hints", feeds, tmp_path / "out")
    assert result.returncode == 0, result.stderr[-3000:]
    served = np.load(tmp_path / "out" / "colorized.npy")[0].astype(int)
    assert np.abs(served - hinted).max() <= 1  # the session's graph rewrites: 8-bit rounding
    # A larger patch reaches further; bad hints are refused.
    wide = colorize([[HINT_X, HINT_Y]], [HINT_AB], patch_size=9)
    assert np.any(wide[HINT_Y + 4, HINT_X] != automatic[HINT_Y + 4, HINT_X])
    with pytest.raises(tf.errors.InvalidArgumentError, match="inside the image"):
        colorize([[256, 10]], [HINT_AB])
    with pytest.raises(tf.errors.InvalidArgumentError, match="at most"):
        colorize([[1, 1]], [[200, 0]])
    # Colorizer.predict takes the same hints, through the same code.
    run = opened["zhang_siggraph17"]
    with hint_copying_weights(run.model):
        predicted = run.predict(rgb[0], hints=([[HINT_X, HINT_Y]], [HINT_AB], 3))
    assert np.abs(predicted.astype(int) - colorize([[HINT_X, HINT_Y]], [HINT_AB])).max() <= 1
    with pytest.raises(ValueError, match="inside the 256x256 images"):
        run.predict(rgb, hints=([[[256, 0]]], [[HINT_AB]], 3))


@pytest.mark.slow
def test_colorize_hints_json(hint_export, photos, tmp_path, capsys):
    # 128 rows x 192 columns, rendered at 256x256: hints are placed through the scaling.
    small = skimage.transform.resize(photos[0][0], (128, 192), anti_aliasing=True)
    photo = tmp_path / "astronaut.png"
    photo.write_bytes(tf.io.encode_png((small * 255).round().astype(np.uint8)).numpy())
    x, y = 112, 30
    hints = tmp_path / "hints.json"
    hints.write_text(json.dumps({"points": [{"x": x, "y": y, "a": 35, "b": 45}]}))
    outputs = {}
    for name, flags in (("plain", []), ("hinted", ["--hints", str(hints)])):
        output = tmp_path / name
        argv = [str(photo), "--model", hint_export, "--output", str(output), *flags]
        assert colorize_cli.main(argv) == 0
        outputs[name] = tf.io.decode_png((output / "astronaut.png").read_bytes()).numpy()
    plain, hinted = outputs["plain"], outputs["hinted"]
    before = np.linalg.norm(rendered_ab(plain)[y, x] - HINT_AB)
    after = np.linalg.norm(rendered_ab(hinted)[y, x] - HINT_AB)
    assert after < before - 10.0
    far = np.ones(plain.shape[:2], bool)
    far[y - 4 : y + 5, x - 4 : x + 5] = False
    assert np.array_equal(plain[far], hinted[far])
    # A bad entry is named with its file; an export without hints is refused.
    hints.write_text(json.dumps({"points": [{"x": 1, "y": 2, "a": 3}]}))
    argv = [str(photo), "--model", hint_export, "--output", str(tmp_path / "bad")]
    assert colorize_cli.main([*argv, "--hints", str(hints)]) == 2
    assert f"{hints}: points[0] must have exactly x, y, a and b" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("network", zhang.NETWORKS)
def test_the_export_reproduces_the_reference(converted, photos, network):
    _, _, reference_ab, model_dir = converted[network]
    # One photo: the export's path is the same for every image.
    rgb, lightness, reference_ab = photos[0][:1], photos[1][:1], reference_ab[:1]
    export = tf.saved_model.load(latest_export(os.path.join(model_dir, EXPORT_DIR)))
    colorized = export.signatures["colorize_images"](images=tf.constant(rgb))["colorized"].numpy()
    # The reference's own rendering: scikit-image's Lab -> RGB of its L and ab, as 8-bit RGB.
    lab = np.concatenate([lightness, reference_ab], axis=-1).astype(np.float64)
    reference_rgb = (skimage.color.lab2rgb(lab) * 255).round().astype(np.uint8)
    # Colours inside sRGB: outside it the export maps the chroma (keeping L) where the
    # reference clips R, G, B; both are 8-bit there.
    in_gamut = np.all(np.abs(skimage.color.rgb2lab(reference_rgb) - lab) < 1.0, axis=-1)
    assert in_gamut.mean() > 0.5
    difference = np.abs(rendered_ab(colorized) - rendered_ab(reference_rgb))[in_gamut]
    mean, p99 = float(difference.mean()), float(np.percentile(difference, 99))
    print(f"{network} export: mean |ab diff| {mean:.5f}, p99 {p99:.5f} ({in_gamut.mean():.0%})")
    assert mean < MEAN_BOUND and p99 < P99_BOUND


def test_missing_left_over_and_misshapen_keys_are_named(converted, tmp_path, capsys):
    net, weights, _, _ = converted["zhang_eccv16"]
    state = pth.read_state_dict(weights)
    assert len(state) == 82  # 58 parameters, 21 x 3 batch-norm statistics... and the counters
    del state["model3.2.bias"]
    state["model9.0.weight"] = np.zeros(1, np.float32)
    with pytest.raises(zhang.ConversionError) as error:
        zhang.check_keys("zhang_eccv16", state, "file.pth")
    assert "missing 1 keys: model3.2.bias" in str(error.value)
    assert "1 keys left over: model9.0.weight" in str(error.value)
    # Through the command: nothing written, exit 2, the keys named.
    tensors = net.state_dict()
    tensors["extra.weight"] = torch.zeros(1)
    del tensors["model8.6.bias"]
    broken = str(tmp_path / "broken.pth")
    torch.save(tensors, broken)
    model_dir = tmp_path / "run"
    assert convert_cli.main(["zhang_eccv16", broken, "--model-dir", str(model_dir)]) == 2
    message = capsys.readouterr().err
    assert "missing 1 keys: model8.6.bias" in message and "left over: extra.weight" in message
    assert not model_dir.exists()
    # The bins and the head disagree: the layer is named, nothing written.
    tensors = net.state_dict()
    tensors["model8.6.weight"] = tensors["model8.6.weight"][:300]
    tensors["model8.6.bias"] = tensors["model8.6.bias"][:300]
    torch.save(tensors, broken)
    assert convert_cli.main(["zhang_eccv16", broken, "--model-dir", str(model_dir)]) == 2
    assert "model8.6 (weight, bias) has shapes" in capsys.readouterr().err
    assert not model_dir.exists()
    # A run is never overwritten; the siggraph17 file is not an eccv16 one.
    model_dir.mkdir()
    (model_dir / "config.json").write_text("{}")
    assert convert_cli.main(["zhang_eccv16", weights, "--model-dir", str(model_dir)]) == 2
    assert "holds a run already" in capsys.readouterr().err
    siggraph = converted["zhang_siggraph17"][1]
    assert convert_cli.main(["zhang_eccv16", siggraph, "--model-dir", str(tmp_path / "x")]) == 2
    assert "missing" in capsys.readouterr().err


def test_the_converted_run_is_a_normal_run(converted, opened, photos, tmp_path):
    net, _, _, model_dir = converted["zhang_eccv16"]
    run = opened["zhang_eccv16"]
    # The bins are the reference's last layer's ab, held by the run's codec.
    expected_bins = net.model_out.weight.detach().numpy()[:, :, 0, 0].T * 110.0
    np.testing.assert_allclose(run.codec.bin_centers, expected_bins, rtol=1e-6)
    assert run.codec.channels == 313 and run.epochs_done == 0
    assert codecs.load_codec(model_dir).n_bins == 313
    # colorize reads its export.
    photo = tmp_path / "astronaut.png"
    tf.io.write_file(str(photo), tf.io.encode_png(photos[0][0]))
    output = tmp_path / "colorized"
    assert colorize_cli.main([str(photo), "--model", model_dir, "--output", str(output)]) == 0
    assert (output / "astronaut.png").stat().st_size > 0
    # evaluate measures it on a folder of one's own, beside the gray baseline.
    folder = tmp_path / "photos"
    folder.mkdir()
    for index, image in enumerate(photos[0]):
        tf.io.write_file(str(folder / f"{index}.png"), tf.io.encode_png(image[::4, ::4]))
    measured = tmp_path / "measured"
    arguments = ["--model", model_dir, "--data", f"folder:{folder}", "--image-size", "64"]
    assert evaluate_cli.main([*arguments, "--output", str(measured)]) == 0
    report = json.loads((measured / "metrics.json").read_text())
    assert report["images"] == 2 and report["image_size"] == 64
    assert report["results"], report


@pytest.mark.slow
def test_fine_tuning_continues_from_the_converted_weights(converted, opened, tmp_path):
    network = "zhang_eccv16"
    model_dir = str(tmp_path / "fine_tuned")
    shutil.copytree(converted[network][3], model_dir, ignore=shutil.ignore_patterns(EXPORT_DIR))
    before = opened[network].model.get_layer("conv1_1").get_weights()[0]
    config = get_preset(network)
    config.data.source = "shapes"  # one's own data; tiny here
    config.data.image_size, config.data.batch_size, config.data.augment = 32, 2, False
    config.train.epochs, config.train.steps_per_epoch = 1, 2
    config.train.metric_images, config.train.panel_images = 0, 0
    fine_tuned = Colorizer(config, model_dir)
    np.testing.assert_array_equal(fine_tuned.model.get_layer("conv1_1").get_weights()[0], before)
    validation = fine_tuned.input_fn(training=False)
    fine_tuned.train(validation_fn=lambda: validation().take(1), verbose=0)
    assert fine_tuned.epochs_done == 1
    after = fine_tuned.model.get_layer("conv1_1").get_weights()[0]
    assert 0 < np.abs(after - before).max() < 0.01  # moved from the converted weights, a little
    # The codec was fitted on the new data with the network's own 313 bins.
    fitted = codecs.load_codec(model_dir)
    assert fitted.fitted and fitted.n_bins == 313
    np.testing.assert_array_equal(fitted.bin_centers, opened[network].codec.bin_centers)
    # The WGAN-GP refinement takes the fine-tuned run (its 32x32 images, batch 2).
    refined = str(tmp_path / "refined")
    flags = ["--epochs", "1", "--steps-per-epoch", "1", "--critic-steps", "1"]
    flags += ["--validation-steps", "1", "--critic-border", "4", "--no-export", "--verbose", "0"]
    assert refine_cli.main(["--model-dir", model_dir, "--output-dir", refined, *flags]) == 0
    assert os.path.isfile(os.path.join(refined, "refinement.json"))
