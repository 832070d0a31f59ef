"""Training recurrent video colorizers: per-stream state carried from chunk to chunk.

The loader (`input_pipeline.video_streams`) yields batches of B streams: row b of step s is the
next chunk of the video playing in stream b, with `reset` set where that chunk starts a new
video. `StreamingTrainer` wraps a `VideoUNet` (explicit state in, final state out) in a Keras
model whose train and test steps

- take the state each stream ended its last chunk with, zero it on the rows where `reset` is
  set (`reset_rows`; a stateless model zeroes every row every chunk),
- run the chunk, backpropagate through it only (truncated backpropagation at chunk
  boundaries: the carried state is a constant of the next step),
- keep the final state for the next chunk of the same streams.

The loss and the codec's metrics see the chunk's frames folded into the batch ([B * T, ...]),
weighted by the loader's frame mask (0 for the padding of a short last chunk and for blank
rows), so they are the same per-frame numbers as an image model's. Everything else (compile,
fit, callbacks, backups) is Keras'.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfcolor import color
from tfcolor.export import inference
from tfcolor.export import saved_model as serving
from tfcolor.media.geometry import canvas_size
from tfcolor.models import build_model
from tfcolor.models.convlstm import fold_time, reset_rows
from tfcolor.training import distribute
from tfcolor.training.colorizer import Colorizer, video_frames

__all__ = [
    "StreamingTrainer",
    "VideoColorizer",
    "iter_clips",
    "limit_frames",
]


class StreamingTrainer(keras.Model):
    """A `VideoUNet` with the recurrent state of B streams, for `fit` and `evaluate`.

    Args:
        network: a `tfcolor.models.VideoUNet`.
        streams: B, the rows of every batch (the loader pads streams with blank chunks, so
            every batch has exactly B rows).
        frame_height, frame_width: the (padded) frame size of the batches.
        stateful: carry the state from chunk to chunk; False zeroes it every chunk.

    The state lives in plain `tf.Variable`s outside Keras' weights: it is not saved with the
    weights (a resumed run starts its streams from zero state, as every stream's first chunk
    does anyway), and a model_dir's weights load whatever the number of streams.

    Under a distribution strategy of R replicas (build the trainer in its scope), each replica
    trains B / R of the streams, always the same ones (the rows of the global batch that
    `input_pipeline.sharding.split_global_batches`, and Keras' own split of evaluation batches, give
    it), and keeps their state in its own copy of the variables (`synchronization=ON_READ`,
    `aggregation=NONE`: per-replica values that are never summed or averaged).

    Raises:
        ValueError: B does not split evenly over the replicas.
    """

    def __init__(self, network, streams: int, frame_height: int, frame_width: int, stateful=True):
        super().__init__(name="streaming_trainer")
        self.network = network
        self.stateful = bool(stateful)
        self.streams = int(streams)
        per_replica = distribute.check_batch_size(self.streams, tf.distribute.get_strategy())
        shape = (per_replica, *network.state_shape(frame_height, frame_width))
        self._states = {}
        for mode in ("train", "eval"):
            self._states[mode] = {
                key: tf.Variable(
                    tf.zeros(shape),
                    trainable=False,
                    name=f"{mode}_{key}",
                    dtype=tf.float32,
                    synchronization=tf.VariableSynchronization.ON_READ,
                    aggregation=tf.VariableAggregation.NONE,
                )
                for key in ("state_h", "state_c")
            }
        self.built = True

    @property
    def downsampling(self) -> int:
        return self.network.downsampling

    @property
    def output_stride(self) -> int:
        return self.network.output_stride

    def call(self, inputs, training=False):
        """Colours of chunks that each start a video: {"lightness" [B,T,H,W,1]} -> [B,T,h,w,C]."""
        lightness = inputs["lightness"]
        shape = tf.shape(lightness)
        state = self.network.zero_state(shape[0], shape[2], shape[3])
        return self.network({"frames": lightness, **state}, training=training)["colors"]

    def _run(self, inputs, mode: str, training: bool):
        states = self._states[mode]
        if self.stateful:
            state = reset_rows({key: var.value() for key, var in states.items()}, inputs["reset"])
        else:
            state = {key: tf.zeros_like(var) for key, var in states.items()}
        outputs = self.network({"frames": inputs["lightness"], **state}, training=training)
        return outputs, states

    def _step(self, data, mode: str, training: bool):
        """One chunk of every stream: its loss (and the metrics' inputs), the state kept.

        The state assigned after the chunk is a constant of the next step: backpropagation
        stops at the chunk boundary (the assignment is outside the tape's gradient path)."""
        x, y, mask = keras.utils.unpack_x_y_sample_weight(data)
        y = fold_time(y)
        weights = None if mask is None else tf.reshape(tf.cast(mask, tf.float32), [-1])
        outputs, states = self._run(x, mode, training)
        y_pred = fold_time(outputs["colors"])
        loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=weights, training=training)
        self._loss_tracker.update_state(_unscale(loss), sample_weight=tf.shape(y)[0])
        if self.stateful:
            for key, var in states.items():
                var.assign(outputs[key])
        return loss, (x, y, y_pred, weights)

    def train_step(self, data):
        with tf.GradientTape() as tape:
            loss, (x, y, y_pred, weights) = self._step(data, "train", training=True)
            scaled = self.optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights, strict=True))
        return self.compute_metrics(x, y, y_pred, sample_weight=weights)

    def test_step(self, data):
        _, (x, y, y_pred, weights) = self._step(data, "eval", training=False)
        return self.compute_metrics(x, y, y_pred, sample_weight=weights)

    def reset_streams(self) -> None:
        """Zeroes every stream's state (each stream's first chunk does this anyway)."""

        def zero():
            for states in self._states.values():
                for var in states.values():
                    var.assign(tf.zeros_like(var))

        self.distribute_strategy.run(zero)

    def stream_states(self, mode: str = "train") -> dict[str, np.ndarray]:
        """The kept state of every stream, {"state_h", "state_c"}: [B, h, w, R] float32, the
        replicas' streams in order."""
        strategy = self.distribute_strategy
        result = {}
        for key, var in self._states[mode].items():
            parts = strategy.experimental_local_results(var)
            result[key] = np.concatenate([part.numpy() for part in parts])
        return result


def _unscale(loss):
    """The replica's loss scaled back to the global batch's, for the loss tracker (what Keras'
    own train step does: `compute_loss` divides by the number of replicas)."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss * tf.cast(replicas, loss.dtype) if replicas > 1 else loss


def streaming_trainer(config, network: keras.Model) -> StreamingTrainer:
    """The `StreamingTrainer` a video run of `config` trains `network` (a `VideoUNet`) in:
    its streams, canvas and statefulness, as the run's weights files hold it."""
    height, width = canvas_size(config.data.frame_size, network.downsampling)
    return StreamingTrainer(
        network, config.data.batch_size, height, width, stateful=config.model.stateful
    )


class VideoColorizer(Colorizer):
    """The `Colorizer` of a recurrent video model (`config.model.name == "convlstm"`).

    `tfcolor.training.open_run(model_dir)` returns one for such a run. Its data is a
    video source (`video:DIR`, `tfrecord:DIR`) streamed as `data.batch_size` streams of
    chunks of `data.chunk_frames` frames; `self.model` is the `StreamingTrainer` and
    `self.network` the `VideoUNet` inside it. On top of the image API (an image is a one-frame
    video from the zero state) it colorizes whole videos with the state carried
    (`colorize_video`), measures temporal consistency (CDC and warp error) in `evaluate` and
    per epoch, and exports the streaming signature `colorize_video_chunk`.
    """

    video = True

    def _training_input_fn(self):
        # Global batches of all B streams, split row-wise over the replicas: a stream stays on
        # one replica, which keeps its state (`StreamingTrainer`).
        return self.input_fn(training=True)

    def _build_model(self) -> keras.Model:
        return streaming_trainer(self.config, build_model(self.config.model, self.codec))

    @property
    def network(self):
        """The `VideoUNet`."""
        return self.model.network

    def _video_pipeline(self):
        from tfcolor.input_pipeline import video_streams as video_pipeline

        return video_pipeline

    def input_fn(self, training: bool, true_ab: bool = False):
        """This run's video pipeline over `config.data`: batches of `data.batch_size` streams
        of chunks (`input_pipeline.video_streams.make_video_input_fn`), on one device.

        Args:
            training: the training split (shuffled, augmented); False: validation.
            true_ab: not for video runs (the refinement takes images only).

        Raises:
            ValueError: true_ab.
        """
        if true_ab:
            raise ValueError("true_ab is for image runs: the refinement takes images only")
        return self._video_pipeline().make_video_input_fn(
            self.config.data,
            self.codec,
            split="train" if training else "validation",
            multiple=self._multiple,
            target_stride=self.config.model.output_stride,
        )

    def _count_training_steps(self) -> int | None:
        return self._video_pipeline().count_steps(self.config.data, "train")

    def _too_little_data(self) -> str:
        data = self.config.data
        return (
            f"the training videos ({data.source}) give no full batch of {data.batch_size} "
            f"streams of {data.chunk_frames}-frame chunks; give more or longer videos or a "
            "smaller --batch-size"
        )

    def fit_codec(self, ab_batches=None) -> None:
        if ab_batches is None:

            def frames_ab():
                clips = iter_clips(self.config.data, "train", self._multiple)
                for frames in limit_frames(clips, 20000):
                    _, ab = color.lightness_and_ab(tf.image.convert_image_dtype(frames, tf.float32))
                    yield ab.numpy()

            ab_batches = frames_ab()
        super().fit_codec(ab_batches)

    def validation_clips(self, limit: int | None = None):
        """The validation videos as whole clips (`iter_clips`), at the training canvas."""
        return iter_clips(self.config.data, "validation", self._multiple, limit=limit)

    def colorize_video(self, frames, temperature=None, chunk_frames: int | None = None, gamut=None):
        """Colorizes one whole video, chunk by chunk with the state carried.

        Args:
            frames: uint8 [T, H, W, C] (C in 1..4; the colour of RGB frames is ignored).
            temperature: decoding temperature (default: the codec's).
            chunk_frames: frames per call (default: the training chunk length).
            gamut: `chroma` or `clip`, as `Colorizer.predict` (default: the codec's).

        Returns:
            uint8 RGB [T, H, W, 3].
        """
        chunk_frames = chunk_frames or self.config.data.chunk_frames
        frames = video_frames(frames)
        frame_size = self.config.data.frame_size
        state = None
        outputs = []
        for start in range(0, len(frames), chunk_frames):
            chunk = tf.convert_to_tensor(frames[None, start : start + chunk_frames])
            if state is None:
                state = inference.zero_video_state(self.network, chunk, frame_size, self._multiple)
            colorized, state = inference.colorize_chunk(
                self.network,
                self.codec,
                chunk,
                state,
                frame_size,
                self._multiple,
                temperature,
                gamut=gamut,
            )
            outputs.append(colorized[0].numpy())
        return np.concatenate(outputs)

    def _colorize_same_size(self, images, render_size=None, temperature=None, gamut=None):
        del render_size  # frames are placed in the training canvas
        frames = tf.convert_to_tensor(images)[:, tf.newaxis]
        frame_size = self.config.data.frame_size
        state = inference.zero_video_state(self.network, frames, frame_size, self._multiple)
        colorized, _ = inference.colorize_chunk(
            self.network,
            self.codec,
            frames,
            state,
            frame_size,
            self._multiple,
            temperature,
            gamut=gamut,
        )
        return colorized[:, 0].numpy()

    def _panel_truth(self, count: int) -> list[np.ndarray]:
        """The first frame of the first `count` validation clips."""
        return [clip[0] for clip in self.validation_clips(limit=count)]

    def measure_videos(self, frames_limit: int | None = None, temperature=None) -> dict:
        """`evaluation.measure_clips` of up to `frames_limit` (default
        `train.metric_images`) validation frames, colorized clip by clip with the state
        carried: the image metrics, `cdc` and `warp_error`, the truth's and the gray
        baseline's."""
        from tfcolor.evaluation import measure as evaluation

        limit = self.config.train.metric_images if frames_limit is None else frames_limit
        clips = limit_frames(self.validation_clips(), limit)
        measured = evaluation.measure_clips(
            lambda clip: self.colorize_video(clip, temperature=temperature),
            clips,
            pixel_class_weights=self._pixel_class_weights,
        )
        return measured.results

    def _image_metrics(self, images: int) -> dict[str, float]:
        """`evaluate`'s image metrics: `measure_videos` of `images` validation frames."""
        return self.measure_videos(images)

    def export_saved_model(self, export_dir_base=None, render_size=None) -> str | None:
        """Exports the video SavedModel (`serving.VideoColorizerModule`); returns its path (None
        on a cluster's non-chief worker, as `Colorizer.export_saved_model`)."""
        del render_size  # frames are placed in the training canvas
        return self._export(
            lambda base: serving.export_video_saved_model(
                self.network,
                self.codec,
                base,
                frame_size=self.config.data.frame_size,
                chunk_frames=self.config.data.chunk_frames,
                multiple=self._multiple,
                temperature=self.config.codec.temperature,
            ),
            export_dir_base,
        )


def iter_clips(data, split: str, multiple: int = 1, limit: int | None = None):
    """The videos of a video source as whole clips, uint8 [T, H, W, 3], in a fixed order.

    The frames are the loader's: scaled and padded to `data.frame_size`, padded up to
    `multiple`.

    Args:
        data: a `DataConfig` with a `video:` or `tfrecord:` source.
        split: `train` or `validation`.
        multiple: the canvas multiple.
        limit: at most this many clips.
    """
    from tfcolor.input_pipeline import video_streams as video_pipeline

    if limit is not None and limit <= 0:
        return
    streams = video_pipeline.make_video_streams(data, split, streams=1, multiple=multiple)
    clip: list[np.ndarray] = []
    count = 0
    for element in streams.as_numpy_iterator():
        if element["reset"][0] and clip:
            yield np.concatenate(clip)
            count += 1
            clip = []
            if limit is not None and count >= limit:
                return
        frames = element["frames"][0][element["mask"][0] > 0]
        if len(frames):
            clip.append(frames)
    if clip:
        yield np.concatenate(clip)


def limit_frames(clips, frames: int):
    """The clips cut so that they hold `frames` frames in all (the last one shortened)."""
    left = frames
    for clip in clips:
        if left <= 0:
            return
        yield clip[:left]
        left -= len(clip[:left])
