"""The recurrent video model's training step: `StreamingTrainer`, which carries the ConvLSTM's
state from chunk to chunk of each stream (truncated backpropagation), and `streaming_trainer`,
the one a run's config makes. Apart from `training.video` so that `training.warm_start` can
rebuild a video run's files without importing the video Colorizer."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfcolor.media.geometry import canvas_size
from tfcolor.models.convlstm import fold_time, reset_rows
from tfcolor.training import distribute

__all__ = ["StreamingTrainer", "streaming_trainer"]


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
