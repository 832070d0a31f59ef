"""The recurrent video colorizer end to end: per-stream state in training, a whole run on
synthetic clips, the streaming export (loaded without tfcolor), colorizing and evaluating
real clips."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tests.video_helpers import moving_shapes, real_clips, write_clip

# Frame counts of the synthetic clips: unequal, and not multiples of the chunk length.
CLIP_FRAMES = (20, 30, 25, 40, 18, 33)


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    for index, frames in enumerate(CLIP_FRAMES):
        write_clip(str(root / f"clip{index}.mp4"), moving_shapes(frames, 48, 64, seed=index))
    return str(root)


def _video_config(source: str, **model):
    from tfcolor.config import get_preset

    config = get_preset("convlstm")
    config.data.source = source
    config.data.frame_size = (64, 48)
    config.data.batch_size = 2
    config.data.chunk_frames = 4
    config.data.validation_fraction = 0.3
    config.model.filters = (8, 16, 32)
    for key, value in model.items():
        setattr(config.model, key, value)
    config.train.learning_rate = 3e-3
    config.train.epochs = 2
    config.train.metric_images = 48
    config.train.panel_images = 2
    return config


@pytest.fixture(scope="module")
def video_run(clip_folder, tmp_path_factory):
    """A stateful U-Net + ConvLSTM trained 2 epochs on the synthetic clips, and its export."""
    from tfcolor.training import open_run

    model_dir = str(tmp_path_factory.mktemp("video_run"))
    colorizer = open_run(model_dir, _video_config("video:" + clip_folder))
    history = colorizer.train(verbose=0)
    export = colorizer.export_saved_model()
    return colorizer, history, export


def _network(streams=2):
    import keras

    from tfcolor.models import VideoUNet

    keras.utils.set_random_seed(0)
    return VideoUNet(filters=(4, 8), head_channels=2, head_activation="sigmoid", batch_norm=False)


def _compiled_trainer(network, stateful):
    from tfcolor import codecs, config
    from tfcolor.training.video import StreamingTrainer

    codec = codecs.make_codec(config.CodecConfig(name="regression"))
    trainer = StreamingTrainer(network, streams=2, frame_height=8, frame_width=8, stateful=stateful)
    trainer.compile(optimizer="adam", loss=codec.loss)
    return trainer


def _two_steps(rng):
    """Two batches of 2 streams: both rows start a video, then row 1 starts another one."""
    import tensorflow as tf

    frames = rng.random((2, 2, 3, 8, 8, 1)).astype("float32")
    targets = rng.random((2, 2, 3, 8, 8, 2)).astype("float32")
    mask = np.ones((2, 2, 3), "float32")
    reset = np.array([[True, True], [False, True]])
    data = ({"lightness": frames, "reset": reset}, targets, mask)
    return frames, tf.data.Dataset.from_tensor_slices(data)


def test_trainer_carries_each_streams_state_and_zeroes_rows_that_reset():
    import tensorflow as tf

    network = _network()
    trainer = _compiled_trainer(network, stateful=True)
    frames, dataset = _two_steps(np.random.default_rng(0))
    trainer.evaluate(dataset, verbose=0)

    # By hand: chunk 1 from the zero state; chunk 2 row 0 continues, row 1 starts again.
    zero = network.zero_state(2, 8, 8)
    first = network({"frames": tf.constant(frames[0]), **zero})
    carried = {
        key: tf.stack([first[key][0], tf.zeros_like(first[key][1])])
        for key in ("state_h", "state_c")
    }
    second = network({"frames": tf.constant(frames[1]), **carried})
    for key in ("state_h", "state_c"):
        kept = trainer._states["eval"][key].numpy()
        np.testing.assert_allclose(kept, second[key].numpy(), atol=1e-6)
        assert np.abs(kept).max() > 1e-3  # a real state, not zeros
        # Row 0's state differs from what a restart would give: the carry mattered.
        restarted = network({"frames": tf.constant(frames[1]), **zero})[key].numpy()
        assert np.abs(restarted[0] - kept[0]).max() > 1e-4
        np.testing.assert_allclose(restarted[1], kept[1], atol=1e-6)


def _chunk_loss(network, frames, targets, state):
    """The codec loss of one chunk, by hand: frames folded into the batch, mean over them."""
    import tensorflow as tf

    from tfcolor import codecs, config

    codec = codecs.make_codec(config.CodecConfig(name="regression"))
    colors = network({"frames": tf.constant(frames), **state})["colors"]
    folded = tf.reshape(colors, [-1, *colors.shape[2:]])
    return float(tf.reduce_mean(codec.loss(targets.reshape(folded.shape[0], 8, 8, 2), folded)))


def test_stateless_trainer_starts_every_chunk_from_zero():
    import tensorflow as tf

    network = _network()
    rng = np.random.default_rng(1)
    frames, dataset = _two_steps(rng)
    targets = np.stack([element[1] for element in dataset.as_numpy_iterator()])
    zero = network.zero_state(2, 8, 8)
    # Stateless: both chunks from the zero state, whatever the reset flags say.
    expected = np.mean([_chunk_loss(network, frames[i], targets[i], zero) for i in range(2)])
    stateless = _compiled_trainer(network, stateful=False).evaluate(dataset, verbose=0)
    assert stateless == pytest.approx(expected, rel=1e-5)
    # Stateful: row 0 of chunk 2 continues from chunk 1, so the loss differs.
    first = network({"frames": tf.constant(frames[0]), **zero})
    carried = {
        key: tf.stack([first[key][0], tf.zeros_like(first[key][1])])
        for key in ("state_h", "state_c")
    }
    carried_loss = np.mean(
        [
            _chunk_loss(network, frames[0], targets[0], zero),
            _chunk_loss(network, frames[1], targets[1], carried),
        ]
    )
    stateful = _compiled_trainer(network, stateful=True).evaluate(dataset, verbose=0)
    assert stateful == pytest.approx(carried_loss, rel=1e-5)
    assert abs(stateful - stateless) > 1e-7


def test_video_run_learns_and_logs_temporal_metrics(video_run):
    colorizer, history, _ = video_run
    assert type(colorizer).__name__ == "VideoColorizer"
    assert history["loss"][-1] < history["loss"][0]
    for name in ("val_cdc", "val_warp_error", "val_cdc_true", "val_gray_cdc", "val_psnr"):
        assert np.isfinite(history[name]).all(), name
    # The truth's own consistency does not depend on the model.
    assert history["val_cdc_true"][0] == history["val_cdc_true"][-1]
    events = os.listdir(os.path.join(colorizer.model_dir, "logs", "validation"))
    assert any(name.startswith("events.out.tfevents") for name in events)


def test_video_run_reopens_from_its_model_dir(video_run):
    from tfcolor.training import open_run
    from tfcolor.training.colorizer import Colorizer

    colorizer, _, _ = video_run
    reopened = open_run(colorizer.model_dir)
    assert type(reopened).__name__ == "VideoColorizer"
    # Colorizer runs image models: for a video run it names the way to open it.
    with pytest.raises(ValueError, match="open_run"):
        Colorizer(None, colorizer.model_dir)
    for mine, theirs in zip(
        colorizer.network.get_weights(), reopened.network.get_weights(), strict=True
    ):
        np.testing.assert_array_equal(mine, theirs)


def test_colorize_video_carries_state_across_chunks(video_run):
    colorizer, _, _ = video_run
    clip = moving_shapes(12, 48, 64, seed=9)
    whole = colorizer.colorize_video(clip, chunk_frames=12)
    chunked = colorizer.colorize_video(clip, chunk_frames=5)
    assert whole.shape == clip.shape and whole.dtype == np.uint8
    assert np.abs(whole.astype(int) - chunked.astype(int)).max() <= 1


STREAMING_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tensorflow as tf

    export, frames_path, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3])
    clip = np.load(frames_path)
    loaded = tf.saved_model.load(export)
    stream, state = [], None
    for start in range(0, len(clip), chunk):
        frames = tf.constant(clip[None, start : start + chunk])
        if state is None:
            state = loaded.signatures["video_state"](frames=frames)
        out = loaded.signatures["colorize_video_chunk"](frames=frames, **state)
        state = {"state_h": out["state_h"], "state_c": out["state_c"]}
        stream.append(out["colorized"][0].numpy())
    whole_state = loaded.signatures["video_state"](frames=tf.constant(clip[None]))
    whole = loaded.signatures["colorize_video_chunk"](frames=tf.constant(clip[None]), **whole_state)
    image = loaded.signatures["colorize_images"](images=tf.constant(clip[:2]))["colorized"]
    np.savez(
        sys.argv[4],
        stream=np.concatenate(stream),
        whole=whole["colorized"][0].numpy(),
        image=image.numpy(),
        frame_size=loaded.frame_size.numpy(),
        chunk_frames=loaded.chunk_frames.numpy(),
        tfcolor="tfcolor" in sys.modules,
    )
    """
)


def test_streaming_signature_without_tfcolor_matches_the_whole_clip(video_run, tmp_path):
    colorizer, _, export = video_run
    clip = moving_shapes(11, 40, 70, seed=5)  # another size and aspect than training
    np.save(tmp_path / "clip.npy", clip)
    script = tmp_path / "stream.py"
    script.write_text(STREAMING_SCRIPT)
    result = tmp_path / "result.npz"
    subprocess.run(
        [sys.executable, str(script), export, str(tmp_path / "clip.npy"), "4", str(result)],
        check=True,
        cwd=tmp_path,  # not the repository: tfcolor is not importable by accident
        env={**os.environ, "PYTHONPATH": ""},
        capture_output=True,
    )
    got = np.load(result)
    assert not got["tfcolor"]
    assert got["stream"].shape == clip.shape
    assert np.abs(got["stream"].astype(int) - got["whole"].astype(int)).max() <= 1
    # The same frames as the library's own whole-clip colorization.
    library = colorizer.colorize_video(clip)
    assert np.abs(got["stream"].astype(int) - library.astype(int)).max() <= 1
    # An image is a one-frame video from the zero state.
    first_frames = colorizer.colorize_video(clip[:1])
    assert np.abs(got["image"][0].astype(int) - first_frames[0].astype(int)).max() <= 1
    assert list(got["frame_size"]) == [64, 48] and int(got["chunk_frames"]) == 4


def _video_facts(path):
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video=0))
        kinds = sorted(s.type for s in container.streams)
        return frames, stream.width, stream.height, stream.average_rate, kinds


def test_colorize_cli_keeps_frames_size_rate_and_audio(video_run, tmp_path):
    from tfcolor.cli import colorize

    _, _, export = video_run
    inputs = tmp_path / "in"
    inputs.mkdir()
    carphone = real_clips()["carphone"]
    os.symlink(carphone, inputs / "carphone.mp4")
    write_clip(str(inputs / "with_audio.mp4"), moving_shapes(15, 36, 50, seed=3), audio=True)
    (inputs / "broken.mp4").write_bytes(b"not a video at all" * 100)
    output = tmp_path / "out"
    status = colorize.main([str(inputs), "--model", export, "--output", str(output)])
    assert status == 1  # the broken file
    assert not (output / "broken.mp4").exists()
    assert _video_facts(str(output / "carphone.mp4"))[:4] == _video_facts(carphone)[:4]
    frames, width, height, _, kinds = _video_facts(str(output / "with_audio.mp4"))
    assert (frames, width, height) == (15, 50, 36)
    assert kinds == ["audio", "video"]
    assert not [name for name in os.listdir(output) if "part" in name]


def test_colorize_cli_names_the_broken_video(video_run, tmp_path, capsys):
    from tfcolor.cli import colorize

    _, _, export = video_run
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 500)
    status = colorize.main([str(broken), "--model", export, "--output", str(tmp_path / "o")])
    assert status == 1
    err = capsys.readouterr().err
    assert "broken.mp4" in err and "Traceback" not in err


def test_evaluate_reports_temporal_consistency_of_video_and_image_models(
    video_run, trained_run, clip_folder, tmp_path, capsys
):
    from tfcolor.cli import evaluate

    colorizer, _, export = video_run
    out = tmp_path / "video_eval"
    assert (
        evaluate.main(["--model", colorizer.model_dir, "--limit", "30", "--output", str(out)]) == 0
    )
    report = json.loads((out / "metrics.json").read_text())["results"]["model"]
    # The CLI measures what the library measures on the same 30 validation frames.
    expected = colorizer.measure_videos(30)
    for name in ("cdc", "warp_error", "cdc_true", "warp_error_true", "gray_cdc", "psnr"):
        assert report[name] == pytest.approx(expected[name], rel=1e-6), name
    assert report["cdc_true"] != report["cdc"]
    assert "cdc" in capsys.readouterr().out

    # The export streams the clips through colorize_video_chunk: the same frames within a
    # level, so nearly the same numbers; its truth is the same truth.
    out = tmp_path / "export_eval"
    assert evaluate.main(["--model", export, "--limit", "30", "--output", str(out)]) == 0
    streamed = json.loads((out / "metrics.json").read_text())["results"]["model"]
    assert streamed["cdc_true"] == pytest.approx(report["cdc_true"], rel=1e-9)
    assert streamed["psnr"] == pytest.approx(report["psnr"], abs=0.1)
    assert streamed["cdc"] == pytest.approx(report["cdc"], rel=0.05)
    args = ["--model", export, "--limit", "10", "--temperature", "0.5"]
    assert evaluate.main([*args, "--output", str(out)]) == 2  # the stream decodes at its own T

    # An image model (the session's shapes U-Net) colorizes the same clips frame by frame.
    image_colorizer, _ = trained_run
    out = tmp_path / "image_eval"
    args = ["--model", image_colorizer.model_dir, "--data", "video:" + clip_folder]
    assert evaluate.main([*args, "--split", "train", "--limit", "30", "--output", str(out)]) == 0
    frame_by_frame = json.loads((out / "metrics.json").read_text())["results"]["model"]
    for name in ("cdc", "warp_error", "cdc_true"):
        assert np.isfinite(frame_by_frame[name]), name


def test_an_image_model_colorizes_a_video_frame_by_frame(trained_run, tmp_path):
    from tfcolor.cli import colorize

    _, export = trained_run  # the session's shapes U-Net: no streaming signature
    clip = tmp_path / "clip.mp4"
    write_clip(str(clip), moving_shapes(9, 40, 56, seed=4), fps=24)
    output = tmp_path / "out"
    assert colorize.main([str(clip), "--model", export, "--output", str(output)]) == 0
    assert _video_facts(str(output / "clip.mp4"))[:4] == _video_facts(str(clip))[:4]
