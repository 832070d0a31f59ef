"""Small codecs and inputs the codec tests share."""

import numpy as np
import tensorflow as tf

from tfcolor import codecs
from tfcolor.config import CodecConfig


def grid_codec(n_bins=36, **overrides):
    return codecs.make_codec(CodecConfig(name="grid", n_bins=n_bins, **overrides))


def regression_codec(normalization):
    return codecs.make_codec(CodecConfig(name="regression", normalization=normalization))


def one_hot_logits(bins, n_bins, scale=100.0):
    """Logits [..., n_bins] with a huge margin on the given bins."""
    return tf.one_hot(bins, n_bins, on_value=scale, off_value=0.0)


def hand_made_ab():
    """Pixels of the 36-bin grid with known per-bin statistics.

    The neutral bin (a, b in [-0.5, 42)) holds (10, 10) three times (once as (10.3, 9.8)),
    (40, 40) twice and (1, 1) once: its mode (10, 10) differs from its mean and from its
    maximum (40, 40). Bin 0 holds one pixel; every other bin is empty.
    """
    pixels = [(10, 10), (10, 10), (10.3, 9.8), (40, 40), (40, 40), (1, 1), (-120, -110)]
    return np.array(pixels, np.float32).reshape(1, 1, 7, 2)
