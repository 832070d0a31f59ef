"""`Colorizer`: the estimator-style API (train / evaluate / predict / export) on top of Keras.

Everything about a run lives under its `model_dir`, whose files `training.run_dir` names,
writes and reads: a run continues from what its model_dir holds (its config, codec, newest
readable weights and resume backup). `tfcolor.training.open_run(model_dir)` opens a run as
the estimator its model needs (`VideoColorizer` for a recurrent video model).

A run is built under its distribution strategy (`training.distribute`) and with its Keras dtype
policy (`training.compile`): the model, its optimizer and its metrics live in the strategy's
scope, and training data reach the replicas per input pipeline. On a multi-worker cluster only
the chief writes into model_dir.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from tfcolor import codecs as codecs_lib
from tfcolor import input_pipeline
from tfcolor.config import Config
from tfcolor.export import inference
from tfcolor.export import saved_model as serving
from tfcolor.models import build_model
from tfcolor.training import callbacks as callbacks_lib
from tfcolor.training import compile as compile_lib
from tfcolor.training import distribute
from tfcolor.training import run_dir as run_dir_lib
from tfcolor.training import warm_start as warm_start_lib

__all__ = ["Colorizer", "TrainingDivergedError", "video_frames"]

InputFn = Callable[[], tf.data.Dataset]


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; the backup holds the last finite state."""


def video_frames(frames) -> np.ndarray:
    """A video's frames as [T, H, W, C], T >= 1 (gray [T, H, W] gets its channel axis).

    Raises:
        ValueError: any other shape, named.
    """
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[..., None]
    if frames.ndim != 4 or len(frames) == 0:
        raise ValueError(f"frames must be [T, H, W, C] with T >= 1. Received: shape={frames.shape}")
    return frames


class Colorizer:
    """Trains, evaluates, applies and exports one colorization model.

    Args:
        config: the run's Config. None reads `model_dir/config.json` (an existing run).
        model_dir: where everything about the run lives. An existing model_dir continues: its
            model and codec must match `config`'s; training settings (epochs, learning rate,
            data, mixed precision, strategy) may change.
        strategy: a `tf.distribute.Strategy` to build and train under, in place of the one
            `config.train.strategy` names. Without it, a run opened from its model_dir alone
            (config None: to evaluate, predict, export) runs on one device (TensorFlow's
            default strategy), not on the cluster it was trained on.

    The model is built with the Keras dtype policy of `config.train.mixed_precision`
    (`self.dtype_policy`; the global policy is restored afterwards), so a run reopened from its
    model_dir runs with the policy it was trained with.

    A recurrent video model's run (`model.name == "convlstm"`) is a `VideoColorizer`:
    `tfcolor.training.open_run(model_dir)` opens any run as the class its model needs.

    Raises:
        ValueError: a bad config value, a config whose model or codec differs from the one
            already trained in `model_dir`, a model_dir that is a file or cannot be written,
            an unreadable `model_dir/config.json` (named), a video model's run (its
            `VideoColorizer` named), or a fresh run's `train.init_from` that is not a run
            or has no layer matching this model's (`training.warm_start`).
        FileNotFoundError: config is None and model_dir holds no run.
        RuntimeError: a strategy that cannot start (`tpu` without a TPU).
    """

    # Whether this class runs the recurrent video models (`VideoColorizer`) or the image ones.
    video = False

    def __init__(
        self,
        config: Config | None = None,
        model_dir: str = "runs/default",
        *,
        strategy: tf.distribute.Strategy | None = None,
    ):
        self.run_dir = run_dir_lib.RunDir(model_dir)
        self.model_dir = self.run_dir.path
        if os.path.exists(self.model_dir) and not os.path.isdir(self.model_dir):
            raise ValueError(f"model_dir {self.model_dir} is a file, not a folder")
        saved = run_dir_lib.read_config(self.model_dir)
        reopened = config is None
        if config is None:
            if saved is None:
                raise FileNotFoundError(
                    f"{self.model_dir} holds no tfcolor run (no {run_dir_lib.CONFIG})"
                )
            config = saved
        elif saved is not None:
            if config.model.class_names is None:
                # Resolved from the data when the run started; a new config leaves it unset.
                config.model.class_names = saved.model.class_names
            for part in ("model", "codec"):
                old, new = getattr(saved, part), getattr(config, part)
                if old != new and not (part == "codec" and _same_codec_body(old, new)):
                    raise ValueError(
                        f"{self.model_dir} holds a run with {part} {old}; the config asks for "
                        f"{new}. Use a new --model-dir, or the same {part} settings."
                    )
        self._check_kind(config)
        config.validate()
        # The strategy first: MultiWorkerMirroredStrategy must start before any TF op runs.
        if strategy is None and reopened:
            # Opened to evaluate, predict or export: one device, never a cluster to join.
            strategy = tf.distribute.get_strategy()
        elif strategy is None:
            strategy = distribute.make_strategy(config.train.strategy)
        self.strategy = strategy
        self.dtype_policy = compile_lib.policy_name(config.train.mixed_precision, strategy)
        if config.model.classify and config.model.class_names is None:
            config.model.class_names = input_pipeline.label_names(config.data)
        self.config = config
        if self.is_chief and not reopened:
            # A reopened run's config is the one on disk: nothing to write (a run opened only
            # to read it, as the refinement reads its trained run, stays untouched).
            run_dir_lib.write_config(self.model_dir, config)

        if self.run_dir.has_codec:
            # Decoding settings may change between runs; the fitted statistics stay.
            state = codecs_lib.load_codec(self.model_dir).get_state()
            self.codec = codecs_lib.make_codec(config.codec)
            self.codec.set_state(state)
        else:
            self.codec = codecs_lib.make_codec(config.codec)
        keras.utils.set_random_seed(config.train.seed)
        # The model's variables (and, in `_compile`, the optimizer's and the metrics') are the
        # strategy's; its layers keep the policy they were made with.
        with self.strategy.scope(), compile_lib.policy_scope(self.dtype_policy):
            self.model = self._build_model()
            # The newest readable weights of the run: the final ones or a later (killed)
            # backup, whichever is newer (the final ones where they tie), then the backup's
            # previous state, then the best ones. An unreadable file gets one warning line and
            # the next one is tried; with none readable the model keeps its initial weights.
            own_weights = self.run_dir.weights_to_restore()
            run_dir_lib.load_first_readable(self.model, own_weights)
        # What `config.train.init_from` loaded (`training.warm_start`), or None: it applies
        # only to a run that starts fresh, never over a run's own weights or backup.
        self.warm_start = None
        if config.train.init_from and not own_weights and not reopened:
            self.warm_start = warm_start_lib.warm_start(self.network, config.train.init_from)

    def _check_kind(self, config: Config) -> None:
        """Raises ValueError where `config`'s model is not this class's kind (image, video)."""
        video = config.model.name == "convlstm"
        if video and not self.video:
            raise ValueError(
                f"{self.model_dir}: a recurrent video model ({config.model.name}) runs in a "
                "VideoColorizer, not a Colorizer: use tfcolor.open_run(model_dir) (or "
                "tfcolor.VideoColorizer(config, model_dir))"
            )
        if self.video and not video:
            raise ValueError(
                f"{self.model_dir}: a VideoColorizer runs recurrent video models (convlstm). "
                f"Received: model={config.model.name!r}; use tfcolor.open_run(model_dir) or "
                "tfcolor.Colorizer(config, model_dir)"
            )

    @property
    def network(self) -> keras.Model:
        """The colorization network: `model` itself (a `VideoColorizer`'s is inside its
        trainer)."""
        return self.model

    @property
    def is_chief(self) -> bool:
        """Whether this process writes the run's files (False on a cluster's other workers)."""
        return distribute.is_chief(self.strategy)

    def _build_model(self) -> keras.Model:
        # With `classify`, the head's size is len(config.model.class_names), resolved above.
        return build_model(self.config.model, self.codec)

    # --- the run -----------------------------------------------------------------------------

    @property
    def class_names(self) -> tuple[str, ...] | None:
        """The classification head's classes, in order; None without a head."""
        return self.config.model.class_names if self.config.model.classify else None

    @property
    def export_dir_base(self) -> str:
        """Where `export_saved_model` writes by default: `model_dir/export`."""
        return self.run_dir.export

    @property
    def epochs_done(self) -> int:
        """Finished epochs according to the newest readable state of the run (its resume
        backup, else its final or best weights): `RunDir.epochs_done`."""
        return self.run_dir.epochs_done

    # --- training --------------------------------------------------------------------------

    def _compile(self, total_steps: int | None = None) -> None:
        """Compiles as the config says, in the strategy's scope (`compile.compile_run`)."""
        with self.strategy.scope():
            # A model built with `mixed_float16` gets Keras' LossScaleOptimizer around Adam.
            compile_lib.compile_run(self.model, self.codec, self.config, total_steps)

    def _training_input_fn(self) -> InputFn:
        """The training pipeline over `config.data`, built per input pipeline of the strategy
        at the per-replica batch size (`input_pipeline.image_input_fn`)."""
        return input_pipeline.image_input_fn(
            self.config.data,
            self.codec,
            target_stride=self.config.model.output_stride,
            class_names=self.class_names,
        )

    def input_fn(self, training: bool, true_ab: bool = False) -> InputFn:
        """This run's input pipeline over `config.data` (on one device).

        Args:
            training: the training split, shuffled and augmented, and its last smaller batch
                dropped; False: the validation split as it is.
            true_ab: with the images' own ab beside the codec's target (the targets are then
                `{"colors", "ab"}`), for the refinement's critic.

        Returns:
            A function returning a `tf.data.Dataset` of (lightness, target) batches at the
            model's output stride, with the class labels of a classification head.
        """
        return input_pipeline.make_input_fn(
            self.config.data,
            self.codec,
            training=training,
            target_stride=self.config.model.output_stride,
            class_names=self.class_names,
            true_ab=true_ab,
        )

    def repeat_epochs(
        self, dataset: tf.data.Dataset, steps_per_epoch: int | None
    ) -> tuple[tf.data.Dataset, int | None]:
        """The training data of this run's own pipeline (`input_fn(training=True)()`) repeated
        epoch after epoch, with one iterator for every epoch (`input_pipeline.repeat_epochs`).

        Args:
            dataset: a dataset of `input_fn(training=True)`.
            steps_per_epoch: steps of an epoch; None: the whole dataset, its steps counted
                from the source where the dataset's cardinality is unknown.

        Returns:
            (the repeated dataset, the steps of an epoch or None where unknown).
        """
        expected = None
        if not steps_per_epoch and int(dataset.cardinality()) < 0:
            expected = self._count_training_steps()
        return input_pipeline.repeat_epochs(dataset, steps_per_epoch, expected)

    def fit_codec(self, ab_batches=None) -> None:
        """Fits the codec's data statistics (bin colours, class prior) and saves them.

        Args:
            ab_batches: an iterable of ab arrays [..., H, W, 2]; None reads the training data
                of `config.data`.
        """
        if ab_batches is None:
            ab_batches = input_pipeline.ab_batches(self.config.data, limit_images=20000)
        logging.info("fitting the %s codec's statistics", self.codec.name)
        self.codec.fit(ab_batches)
        if self.is_chief:  # every worker fits the same statistics from the same data
            self.codec.save(self.model_dir)

    def train(
        self,
        input_fn: InputFn | None = None,
        *,
        validation_fn: InputFn | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        verbose: int | str = "auto",
        callbacks: Sequence[keras.callbacks.Callback] = (),
    ) -> dict[str, list[float]]:
        """Trains up to `epochs` epochs in total, continuing from what model_dir holds.

        Under a distribution strategy, `data.batch_size` is the global batch: each of the
        strategy's replicas trains on `batch_size / num_replicas_in_sync` of it per step.

        Args:
            input_fn: the training batches of (lightness, target); None builds them from
                `config.data`. `input_fn()` returns a `tf.data.Dataset` of global batches
                (split over the replicas row-wise by `sharding.split_global_batches`), or
                `input_fn(input_context)` returns this worker's per-replica batches (a
                `tf.distribute.InputContext`, called once per worker; see
                `tfcolor.training.distribute`).
            validation_fn: returns the validation dataset (global batches; Keras splits them
                over the replicas); None builds it from `config.data`.
            epochs: the total number of epochs of the run (default `config.train.epochs`). A
                run that has finished them does nothing; a run killed mid-epoch resumes from
                the newest readable state of its backup and trains only the rest of that
                epoch (on data that skip the steps it had trained), then the others.
            steps_per_epoch: None runs over the whole dataset each epoch.
            verbose: Keras' progress bar setting.
            callbacks: Keras callbacks called after the run's own (a resumed epoch's rest is
                a `fit` of its own, so they may see two `fit` calls).

        Returns:
            The Keras history of this call (metric name -> per-epoch values); empty where
            the run had already trained `epochs`.

        Raises:
            TrainingDivergedError: the loss became NaN or infinite.
            ValueError: `data.batch_size` does not split evenly over the strategy's replicas;
                the own training data hold fewer images than one batch; or the data gave no
                training step at all (nothing is then written as trained).
        """
        epochs = epochs or self.config.train.epochs
        steps_per_epoch = steps_per_epoch or self.config.train.steps_per_epoch
        done = self.epochs_done
        if done >= epochs:
            logging.info("%s has already trained %d of %d epochs", self.model_dir, done, epochs)
            return {}
        data = self.config.data
        distribute.check_batch_size(data.batch_size, self.strategy)
        own_pipeline = input_fn is None
        if own_pipeline:
            self._check_one_batch()
        if self.codec.needs_fit and not self.codec.fitted:
            self.fit_codec()
        elif self.is_chief:
            self.codec.save(self.model_dir)
        if validation_fn is None:
            validation_fn = self.input_fn(training=False)
        if own_pipeline:
            input_fn = self._training_input_fn()
        dataset, steps_known, element_spec = self._epochs_of(
            input_fn, own_pipeline, steps_per_epoch
        )
        if self.config.train.lr_schedule == "cosine" and not steps_known:
            logging.warning(
                "the training data's size is unknown, so the learning rate stays constant "
                "(pass steps_per_epoch for the cosine schedule)"
            )
        self._compile(total_steps=epochs * steps_known if steps_known else None)
        with self.strategy.scope():
            # The backup needs built variables, optimizer included, before it is restored.
            self.model.optimizer.build(self.model.trainable_variables)
        if not distribute.is_default(self.strategy):
            distribute.prepare_model(self.model, element_spec)
        done, skip = self._resume(epochs, steps_known)
        if done >= epochs:
            return {}
        # (data, first epoch, steps an epoch, steps trained before, whether it ends after
        # its first epoch)
        phases = [(dataset, done, steps_known, 0, False)]
        if skip:
            rest, _, _ = self._epochs_of(input_fn, own_pipeline, steps_per_epoch, skip=skip)
            remaining = steps_known - skip if steps_known else None
            logging.info("resuming epoch %d after its step %d", done + 1, skip)
            phases = [(rest, done, remaining, skip, True)]
            if done + 1 < epochs:
                phases.append((dataset, done + 1, steps_known, 0, False))
        stop_on_nan = callbacks_lib.StopOnNaN()
        validation = validation_fn() if validation_fn else None
        histories, trained = [], 0
        # Every worker writes the weights files (reading distributed variables may need all
        # of them); the chief into model_dir, the others into a scratch folder, removed after.
        with distribute.scratch_dir(self.strategy) as scratch:
            root = run_dir_lib.RunDir(scratch or self.model_dir)
            for phase_data, first, phase_steps, steps_done, one_epoch in phases:
                backup = callbacks_lib.Backup(
                    root.backup,
                    self.config.train.backup_every_steps,
                    restore=False,  # restored above
                    steps_done=steps_done,
                    stop_on_nan=stop_on_nan,  # nothing backed up once the loss is NaN
                )
                run_callbacks = [stop_on_nan, backup]
                if self.is_chief:
                    run_callbacks += self.logging_callbacks(validation is not None)
                if validation is not None:
                    run_callbacks.append(
                        callbacks_lib.BestCheckpoint(
                            root.best_weights, record_path=self.run_dir.best_record
                        )
                    )
                if one_epoch:
                    # Keras' progress then reads "Epoch 2/3" with the epoch's remaining steps.
                    run_callbacks.append(
                        keras.callbacks.LambdaCallback(
                            on_epoch_end=lambda epoch, logs: setattr(
                                self.model, "stop_training", True
                            )
                        )
                    )
                logging.info("training %s from epoch %d to %d", self.model_dir, first, epochs)
                # In the strategy's scope: Keras reads the epoch's metrics from their
                # per-replica variables there, and only in a cross-replica context does that
                # sum the replicas.
                with warnings.catch_warnings(), self.strategy.scope():
                    # Keras warns "Your input ran out of data" at the end of the first epoch of
                    # a dataset of unknown length; ending there is what an epoch is.
                    warnings.filterwarnings("ignore", message="Your input ran out of data")
                    self.model._initial_epoch = None  # Keras' BackupAndRestore's, not ours
                    history = self.model.fit(
                        phase_data,
                        validation_data=validation,
                        epochs=epochs,
                        initial_epoch=first,
                        steps_per_epoch=phase_steps,
                        callbacks=[*run_callbacks, *callbacks],
                        verbose=verbose,
                        shuffle=False,  # the input pipeline shuffles
                    )
                histories.append(history.history)
                # Counted by the backup: Keras' step counter also counts the step that finds
                # the data at their end.
                trained += backup.steps_trained
                if stop_on_nan.where is not None or backup.position[0] <= first:
                    break  # diverged, stopped by a callback inside the epoch, or no data
            # A step trained, or an epoch finished whose steps were all trained before (a kill
            # after its last step's backup, on data of unknown length).
            progressed = trained > 0 or backup.position > (done, skip)
            if stop_on_nan.where is None and progressed:
                run_dir_lib.save_weights(
                    self.model,
                    root.final_weights,
                    # Where training stands (an epoch inside where a callback stopped early).
                    *backup.position,
                )
        if stop_on_nan.where is not None:
            epoch, step = stop_on_nan.where
            raise TrainingDivergedError(
                f"training stopped: the loss became NaN or infinite at epoch {epoch}, step "
                f"{step}. The backup in {self.run_dir.backup} holds the last finite state; "
                "lower the learning rate and run again to continue from it."
            )
        if not progressed:
            raise ValueError(
                "no training step ran: the training data gave no batch of "
                f"{self.config.data.batch_size} (training drops a last, smaller batch); give "
                "more data or a smaller batch size"
            )
        return {
            name: [value for history in histories for value in history.get(name, [])]
            for name in dict.fromkeys(name for history in histories for name in history)
        }

    def _resume(self, epochs: int, steps_known: int | None) -> tuple[int, int]:
        """Restores the newest readable state of the run into the compiled model (optimizer
        included) and returns where training stands: (epochs done, steps of the next epoch
        already trained).

        A backup from inside an epoch resumes with the rest of that epoch, on data that skip
        the steps it had trained (its optimizer step count and learning rate come with it).
        """
        with self.strategy.scope():
            # Every worker restores the chief's backup: the newest state that reads whole.
            resumed = run_dir_lib.restore_backup(
                self.model,
                self.run_dir.backup,
                self.run_dir.fallback_weights,
                self.run_dir.preferred_weights,
            )
        done = resumed.epoch if resumed else 0
        skip = resumed.steps if resumed else 0
        if steps_known and skip >= steps_known:
            # Backed up after the epoch's last step (or the epochs were shorter then): the
            # epoch is finished.
            done, skip = done + 1, 0
            if done >= epochs:
                # A kill after the last step's backup (in validation or at the epoch's end):
                # the run is finished. Its epoch-end state says so (epochs_done, train.py).
                with distribute.scratch_dir(self.strategy) as scratch:
                    root = run_dir_lib.RunDir(scratch or self.model_dir)
                    run_dir_lib.save_weights(self.model, root.final_weights, epoch=done)
        return done, skip

    def _epochs_of(
        self, input_fn: InputFn, own_pipeline: bool, steps_per_epoch: int | None, skip: int = 0
    ):
        """The training data repeated epoch after epoch, for this strategy.

        Returns:
            (dataset, steps of an epoch or None where unknown, the element spec of a
            distributed dataset or None). With `skip`, the data leave out that many steps
            first (a resumed epoch's rest).
        """
        if distribute.is_default(self.strategy):
            # One iterator for every epoch (`input_pipeline.repeat_epochs`): a new iterator per
            # epoch restarted the pipeline and cost each epoch's first step about 230 ms.
            if own_pipeline:
                dataset, steps = self.repeat_epochs(input_fn(), steps_per_epoch)
            else:
                dataset, steps = input_pipeline.repeat_epochs(input_fn(), steps_per_epoch)
            return (dataset.skip(skip) if skip else dataset), steps, None
        distributed = distribute.distribute_input_fn(
            self.strategy,
            input_fn,
            steps_per_epoch,
            expected_steps=self._count_training_steps() if own_pipeline else None,
            skip_steps=skip,
        )
        # Where the steps are known the data repeat, and fit must count them.
        return distributed.dataset, distributed.steps_per_epoch, distributed.element_spec

    def _check_one_batch(self) -> None:
        """Raises ValueError where the own training data give no full batch (training drops
        a last, smaller batch, so an epoch would train no step)."""
        if self._count_training_steps() == 0:
            raise ValueError(self._too_little_data())

    def _too_little_data(self) -> str:
        count = input_pipeline.num_examples(self.config.data, "train")
        return (
            f"the training data ({self.config.data.source}) hold {count} usable images, "
            f"fewer than one batch of {self.config.data.batch_size}; give more images or a "
            "smaller --batch-size"
        )

    def logging_callbacks(self, validating: bool) -> list[keras.callbacks.Callback]:
        """The callbacks that only report, into the run's logs/ and samples/
        (`callbacks.reporting_callbacks`): throughput, hyperparameters, the validation image
        metrics, TensorBoard and its image panel. Only the chief (`is_chief`) runs them.

        Args:
            validating: whether the `fit` they join validates: then the image metrics
                (`train.metric_images` of them, added to the epoch logs as `val_<name>`) and
                the image panel (`train.panel_images`, also written to samples/) come too.

        Returns:
            Keras callbacks for the `fit` of `self.model` (or of a trainer around it: the
            refinement's `WGANTrainer`).
        """
        train = self.config.train
        metric_images = train.metric_images if validating else 0
        panel_images = train.panel_images if validating else 0
        return callbacks_lib.reporting_callbacks(
            self.run_dir.logs,
            batch_size=self.config.data.batch_size,
            hparams=callbacks_lib.flat_hparams(self.config.to_dict()),
            trial_id=os.path.basename(self.model_dir),
            measure=(lambda: self._image_metrics(metric_images)) if metric_images > 0 else None,
            panel=self._panel_truth(panel_images) if panel_images > 0 else [],
            colorize=self._colorize_same_size,
            samples_dir=self.run_dir.samples,
        )

    def _count_training_steps(self) -> int | None:
        """Batches in one epoch of the own training pipeline; None when unknown."""
        count = input_pipeline.num_examples(self.config.data, "train")
        return None if count is None else count // self.config.data.batch_size

    def _panel_truth(self, count: int) -> list[np.ndarray]:
        """The first `count` validation images, uint8 RGB."""
        dataset = input_pipeline.load_images(self.config.data, split="validation", limit=count)
        return [element["image"] for element in dataset.as_numpy_iterator()]

    # --- evaluation and prediction -----------------------------------------------------------

    def evaluate(
        self, input_fn: InputFn | None = None, steps: int | None = None, images: int | None = None
    ) -> dict:
        """Loss and the codec's metrics, and the image metrics beside the gray baseline's.

        Args:
            input_fn: returns (lightness, target) batches; None uses the validation data of
                `config.data`.
            steps: evaluate this many batches of input_fn; None: all.
            images: the image metrics (`tfcolor.evaluation.measure`: PSNR, SSIM, AuC,
                colourfulness, each also for the gray baseline as `gray_<name>`) over this
                many validation images of `config.data`; None uses
                `config.train.metric_images`, 0 leaves them out.

        Returns:
            metric name -> value: `loss`, the codec's (`bin_accuracy`, `bin_top5_accuracy`,
            `colored_bin_accuracy` or `ab_mae`), `class_accuracy` with a classification head,
            then the image metrics.
        """
        if input_fn is None:
            input_fn = self.input_fn(training=False)
        self._compile()
        dataset = input_fn()
        if not distribute.is_default(self.strategy):
            distribute.prepare_model(self.model, dataset.element_spec)
        with self.strategy.scope():  # the metrics summed over the replicas, as in `train`
            results = self.model.evaluate(dataset, steps=steps, return_dict=True, verbose=0)
        results = {_metric_name(name): float(value) for name, value in results.items()}
        images = self.config.train.metric_images if images is None else images
        if images > 0:
            results.update(self._image_metrics(images))
        return results

    def _image_metrics(self, images: int) -> dict[str, float]:
        """The image metrics of `evaluate` over `images` validation images."""
        return self.measure(self.validation_images(images)).results

    def measure(self, batches, samples: int = 0, **colorize_args):
        """`tfcolor.evaluation.measure` of this model on uint8 RGB truth batches.

        `colorize_args` (render_size, temperature, gamut) go to `predict`.
        """
        from tfcolor.evaluation import measure as evaluation

        return evaluation.measure(
            lambda truth: self._colorize_same_size(truth, **colorize_args),
            batches,
            pixel_class_weights=self._pixel_class_weights,
            samples=samples,
        )

    def validation_images(self, limit: int | None):
        """uint8 RGB batches [B, S, S, 3] of the validation images `evaluate` measures (at
        most `limit`; None: all), in a fixed order: for `measure` at other settings."""
        dataset = input_pipeline.load_images(self.config.data, split="validation", limit=limit)
        batches = dataset.map(lambda element: element["image"]).batch(self.config.data.batch_size)
        return batches.as_numpy_iterator()

    @property
    def _pixel_class_weights(self):
        """The codec's class weight per pixel (for the rebalanced AuC); None before `fit`."""
        return self.codec.pixel_class_weights if self.codec.fitted else None

    @property
    def _multiple(self) -> int:
        return getattr(self.model, "downsampling", 1)

    def _colorize_same_size(
        self, images, render_size=None, temperature=None, gamut=None, hints=None
    ):
        render_size = self.config.render_size if render_size is None else render_size
        model = self.model
        if hints is not None:
            model, hints = self._hint_network(), _checked_hints(hints, images.shape)
        return inference.colorize_batch(
            model,
            self.codec,
            tf.convert_to_tensor(images),
            render_size,
            self._multiple,
            temperature,
            gamut=gamut,
            hints=hints,
        ).numpy()

    def _hint_network(self) -> keras.Model:
        """The run's network taking user hints (its own layers and weights), built once."""
        hint_network = getattr(self.model, "hint_network", None)
        if hint_network is None:
            raise ValueError(
                "hints need a network that takes them (zhang_siggraph17). "
                f"Received: model={self.config.model.name}"
            )
        # Built again if the run's model was replaced (the pair holds the model it serves).
        model, hint_model = getattr(self, "_hint_models", (None, None))
        if model is not self.model:
            hint_model = hint_network()
            self._hint_models = (self.model, hint_model)
        return hint_model

    def predict(
        self,
        images: np.ndarray | Sequence[np.ndarray],
        render_size: int | None = None,
        temperature: float | None = None,
        gamut: str | None = None,
        hints=None,
    ) -> np.ndarray | list[np.ndarray]:
        """Colorizes images with the same code path as the export.

        Args:
            images: [N, H, W, C], one image [H, W, C] or [H, W], or a list of images of
                any sizes; C is 1 (gray), 2 (gray + alpha), 3 (RGB, whose colour is ignored)
                or 4 (RGBA). uint8, another integer dtype with values in 0-255, or floats in
                [0, 1] (rounded to 8 bits, as the export takes them).
            render_size: the square side at which colours are predicted (default: the
                training size; 0: each image's own size).
            temperature: decoding temperature (default: the codec's).
            gamut: how a colour outside sRGB is rendered, `chroma` (lower chroma at constant
                L and hue) or `clip` (default: the codec's `CodecConfig.gamut`).
            hints: user hints for a network that takes them (zhang_siggraph17), as the
                export's `colorize_with_hints`: `(points, ab, patch_size)`, points (x, y) of
                input pixels and ab (Lab) [N, K, 2] for a batch or [K, 2] for one image (a
                negative coordinate pads), patch_size the side of each hint's square at the
                render size (`tfcolor.export.inference.Hints`). Not with a list of images.

        Returns:
            uint8 RGB at each input's own size: [N, H, W, 3] for a batch ([0, H, W, 3] for
            an empty one), [H, W, 3] for one image, a list for a list.

        Raises:
            ValueError: another shape, channel count or dtype (bool, complex, strings...),
                integers outside 0-255, floats outside [0, 1] or not finite; what was given
                is named.
        """
        if isinstance(images, np.ndarray):
            if images.ndim == 4:
                batch = _uint8_images(images, "images")
                if not len(batch):
                    return np.zeros((0, *batch.shape[1:3], 3), np.uint8)
                return self._colorize_same_size(batch, render_size, temperature, gamut, hints)
            if images.ndim == 2 or (images.ndim == 3 and images.shape[-1] in (1, 2, 3, 4)):
                single = images[..., None] if images.ndim == 2 else images
                single = _uint8_images(single[None], "image")
                if hints is not None:
                    points, ab, patch_size = hints
                    hints = (np.asarray(points)[None], np.asarray(ab)[None], patch_size)
                return self._colorize_same_size(single, render_size, temperature, gamut, hints)[0]
            raise ValueError(
                "images must be [N, H, W, C], [H, W, C] with C in 1..4, or [H, W]. "
                f"Received: shape={images.shape}, dtype={images.dtype}"
            )
        if hints is not None:
            raise ValueError("hints take a batch [N, H, W, C] or one image, not a list of images")
        results = []
        for index, image in enumerate(images):
            image = np.asarray(image)
            if image.ndim == 2:
                image = image[..., None]
            if image.ndim != 3:
                raise ValueError(
                    f"images[{index}] must be [H, W, C] with C in 1..4, or [H, W]. "
                    f"Received: shape={image.shape}"
                )
            image = _uint8_images(image[None], f"images[{index}]")
            results.append(self._colorize_same_size(image, render_size, temperature, gamut)[0])
        return results

    def colorize_video(
        self,
        frames,
        temperature: float | None = None,
        chunk_frames: int | None = None,
        gamut: str | None = None,
    ) -> np.ndarray:
        """Colorizes one whole video. An image model colorizes every frame on its own (a
        recurrent model's `VideoColorizer` carries its state from frame to frame instead).

        Args:
            frames: uint8 [T, H, W, C] (C in 1..4; the colour of RGB frames is ignored).
            temperature: decoding temperature (default: the codec's).
            chunk_frames: frames per call (default: the batch size).
            gamut: `chroma` or `clip`, as `predict` (default: the codec's).

        Returns:
            uint8 RGB [T, H, W, 3].
        """
        frames = video_frames(frames)
        chunk_frames = chunk_frames or self.config.data.batch_size
        return np.concatenate(
            [
                self._colorize_same_size(
                    frames[start : start + chunk_frames], None, temperature, gamut
                )
                for start in range(0, len(frames), chunk_frames)
            ]
        )

    # --- export ------------------------------------------------------------------------------

    def export_saved_model(
        self, export_dir_base: str | None = None, render_size: int | None = None
    ) -> str | None:
        """Exports a SavedModel to `export_dir_base/<integer version>/` and returns its path.

        The export takes and returns the same dtypes whatever the run's mixed precision
        (uint8 images in, uint8 images out; see `tfcolor.export.saved_model`).

        Args:
            export_dir_base: default `model_dir/export`.
            render_size: the render size baked into the export (default: the training size);
                the `colorize_bytes_at_size` signature overrides it per call.

        Returns:
            The export's path; None on a cluster's non-chief worker, which writes its copy
            into a temporary folder and removes it (only the chief exports).
        """
        return self._export(
            lambda base: serving.export_saved_model(
                self.model,
                self.codec,
                base,
                render_size=self.config.render_size if render_size is None else render_size,
                multiple=self._multiple,
                temperature=self.config.codec.temperature,
                class_names=self.class_names,
            ),
            export_dir_base,
        )

    def _export(self, write: Callable[[str], str], export_dir_base: str | None) -> str | None:
        """`write(base)` into export_dir_base on the chief, into a scratch folder elsewhere
        (every worker saves alike: saving may read distributed variables collectively)."""
        with distribute.scratch_dir(self.strategy) as scratch:
            path = write(scratch or export_dir_base or self.export_dir_base)
        return None if scratch else path


def _checked_hints(hints, images_shape) -> inference.Hints:
    """`(points, ab, patch_size)` for images of `images_shape` [N, H, W, C] as
    `inference.Hints`, checked as the export checks them (`saved_model.check_hints`).

    Raises:
        ValueError: what is wrong, with what was received.
    """
    points, ab, patch_size = hints
    points, ab = np.asarray(points, np.float32), np.asarray(ab, np.float32)
    count, height, width = images_shape[:3]
    received = f"Received: points shape {points.shape}, ab shape {ab.shape}, images {images_shape}"
    if points.shape != ab.shape or points.ndim != 3 or points.shape[::2] != (count, 2):
        raise ValueError(f"hint points and ab must be [N, K, 2], N the images'. {received}")
    if not (np.isfinite(points).all() and np.isfinite(ab).all()):
        raise ValueError(f"hint points and ab must be finite. {received}")
    given = np.all(points >= 0, axis=-1)
    if np.any(given & ((points[..., 0] >= width) | (points[..., 1] >= height))):
        raise ValueError(f"hint points (x, y) must lie inside the {width}x{height} images")
    if np.abs(ab).max(initial=0.0) > serving.MAX_AB or int(patch_size) < 1:
        raise ValueError(
            f"hint |a|, |b| must be at most {serving.MAX_AB:g} and patch_size at least 1. "
            f"Received: patch_size={patch_size}, largest |ab| {np.abs(ab).max(initial=0.0):g}"
        )
    return inference.Hints(tf.constant(points), tf.constant(ab), tf.constant(int(patch_size)))


def _uint8_images(images: np.ndarray, name: str) -> np.ndarray:
    """A batch [N, H, W, C] of images as uint8, checked (see `Colorizer.predict`).

    Raises:
        ValueError: what is wrong, with the shape, dtype and range received.
    """
    received = f"Received: shape={images.shape}, dtype={images.dtype}"
    if images.shape[-1] not in (1, 2, 3, 4):
        raise ValueError(
            f"{name} must have 1 to 4 channels (gray, gray + alpha, RGB, RGBA). " + received
        )
    if 0 in images.shape[1:3]:
        raise ValueError(f"{name} must be at least 1x1 pixels. {received}")
    if images.dtype == np.uint8:
        return images
    kind = images.dtype.kind
    if kind not in "iuf":
        raise ValueError(f"{name} must be uint8, integers in 0-255 or floats in [0, 1]. {received}")
    if not images.size:
        return images.astype(np.uint8)
    if kind == "f" and not np.isfinite(images).all():
        raise ValueError(f"{name} hold NaN or infinite values. {received}")
    low, high = images.min(), images.max()
    if kind == "f":
        if low < 0 or high > 1:
            raise ValueError(
                f"{name} are floats, which must lie in [0, 1]; these span {low:g} to {high:g} "
                f"(pass 0-255 values as uint8). {received}"
            )
        return np.round(images.astype(np.float32) * 255).astype(np.uint8)
    if low < 0 or high > 255:
        raise ValueError(
            f"{name} are integers, which must lie in 0-255; these span {low} to {high}. " + received
        )
    return images.astype(np.uint8)


def _metric_name(name: str) -> str:
    """Keras prefixes the metrics of a two-output model with the output's name."""
    if name.endswith("_loss"):
        return name  # colors_loss and class_logits_loss, beside the total `loss`
    for prefix in ("colors_", "class_logits_"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _same_codec_body(old, new) -> bool:
    """Codecs differing only in decoding settings share a model."""
    keys = ("decode", "temperature")
    strip = lambda c: {k: v for k, v in vars(c).items() if k not in keys}  # noqa: E731
    return strip(old) == strip(new)
