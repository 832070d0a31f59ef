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
from tfcolor.models import build_model
from tfcolor.training.colorizer import Colorizer, video_frames
from tfcolor.training.streaming import StreamingTrainer, streaming_trainer

__all__ = [
    "StreamingTrainer",
    "VideoColorizer",
    "iter_clips",
    "limit_frames",
]


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

    def _colorize_same_size(
        self, images, render_size=None, temperature=None, gamut=None, hints=None
    ):
        del render_size  # frames are placed in the training canvas
        if hints is not None:
            raise ValueError("hints are for networks that take them; a video model takes none")
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
