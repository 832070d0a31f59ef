"""Training: a run's estimator (`Colorizer`: train / evaluate / predict / export), opened with
`open_run`.

- `run_dir`: every file of a model_dir, its config read and written, epochs done.
- `colorizer`: `Colorizer`, the image models' run; `video`: `VideoColorizer`, the recurrent
  video models' (a subclass).
- `compile`: dtype policy (mixed precision), optimizer, learning-rate schedule, XLA.
- `callbacks`: resume backup, best weights, NaN stop, throughput, TensorBoard panels.
- `distribute`: distribution strategies and their input.
- `wgan`: the WGAN-GP refinement of a trained run (`refine`).

Importing this package costs no TensorFlow: `open_run` imports the colorizers when called.
"""

from __future__ import annotations

__all__ = ["open_run"]


def open_run(model_dir: str, config=None, *, strategy=None):
    """The run in `model_dir` as its estimator: a `VideoColorizer` for a recurrent video model
    (`model.name == "convlstm"`), else a `Colorizer`.

    Args:
        model_dir: the run's folder.
        config: a `tfcolor.config.Config` to start or continue the run with (see `Colorizer`);
            None opens the run saved in model_dir (its `config.json`).
        strategy: a `tf.distribute.Strategy` in place of the config's (see `Colorizer`).

    Returns:
        A `Colorizer` or `VideoColorizer`.

    Raises:
        FileNotFoundError: config is None and model_dir holds no run.
        ValueError: an unreadable `model_dir/config.json`, or what `Colorizer` raises.
    """
    from tfcolor.training import run_dir
    from tfcolor.training.colorizer import Colorizer
    from tfcolor.training.video import VideoColorizer

    chosen = config if config is not None else run_dir.read_config(model_dir)
    video = chosen is not None and chosen.model.name == "convlstm"
    kind = VideoColorizer if video else Colorizer
    return kind(config, model_dir, strategy=strategy)
