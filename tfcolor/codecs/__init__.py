"""Codecs: what the model predicts per pixel, and how that becomes ab again.

The public names of the codec modules, re-exported:

    `base`: the `Codec` protocol, the registry (`make_codec`) and the codec's files
        (`Codec.save`, `load_codec`).
    `regression`: `RegressionCodec`, ab regressed directly, normalized three ways (the Iizuka
        course report, the Keras baseline, the thesis's MSE variant), MSE loss; its metric
        `AbMeanAbsoluteError`.
    `bins`: what the two bin codecs share (fitted per-bin colours and prior, class
        rebalancing, decodings).
    `grid`: `GridCodec`, the thesis's bins, a square grid over normalized ab; cross-entropy,
        optionally class-rebalanced as in Zhang et al. 2016; decoded from per-bin mode and mean
        colours fitted on the training data.
    `gamut`: `GamutCodec`, Zhang et al. 2016's bins, the ab grid cells that sRGB colours reach;
        each target soft-encoded over its nearest bins, (rebalanced) soft cross-entropy,
        decoded by annealed mean.
    `losses`: the loss functions and their XLA compilation.
    `metrics`: the bin metrics (`BinAccuracy`, `ColoredBinAccuracy`), and the metric base
        class and weight broadcast every tfcolor metric uses.
"""

from tfcolor.codecs.base import (
    AB_MAX,
    AB_MIN,
    AB_SPAN,
    CONFIG_FILENAME,
    STATE_FILENAME,
    Codec,
    load_codec,
    make_codec,
)
from tfcolor.codecs.bins import (
    ANNEALED_MEAN_MIN_TEMPERATURE,
    EVALUATION_REBALANCE,
    PRIOR_SMOOTHING_SIGMA,
)
from tfcolor.codecs.gamut import GamutCodec
from tfcolor.codecs.grid import GridCodec
from tfcolor.codecs.metrics import BinAccuracy, ColoredBinAccuracy
from tfcolor.codecs.regression import AbMeanAbsoluteError, RegressionCodec

__all__ = [
    "AB_MAX",
    "AB_MIN",
    "AB_SPAN",
    "ANNEALED_MEAN_MIN_TEMPERATURE",
    "CONFIG_FILENAME",
    "EVALUATION_REBALANCE",
    "PRIOR_SMOOTHING_SIGMA",
    "STATE_FILENAME",
    "AbMeanAbsoluteError",
    "BinAccuracy",
    "Codec",
    "ColoredBinAccuracy",
    "GamutCodec",
    "GridCodec",
    "RegressionCodec",
    "load_codec",
    "make_codec",
]
