"""The option lists of the configs, one place each: the config fields validate against them, the
command lines take them as their flags' choices, and the library (models, training) reads them.

No TensorFlow is imported here: command lines check their flags before it loads.
"""

from __future__ import annotations

__all__ = [
    "ACTIVATIONS",
    "BACKBONES",
    "CODECS",
    "DECODES",
    "DEFAULT_FRAME_SIZE",
    "GAMUT_MAPPINGS",
    "GAMUT_TEMPERATURE",
    "GLOBAL_FEATURES",
    "IMAGE_EXTENSIONS",
    "JIT_COMPILE",
    "LR_SCHEDULES",
    "MIXED_PRECISIONS",
    "MODELS",
    "NORMALIZATIONS",
    "OPTIMIZERS",
    "SIMPLE_GLOBAL_WIDTH",
    "STRATEGIES",
]

CODECS = ("grid", "gamut", "regression")
# Bin decoding: the thesis's `interp`, Zhang et al.'s `annealed_mean`.
DECODES = ("interp", "annealed_mean")
# How a decoded colour outside sRGB becomes RGB (`tfcolor.color.lab_to_rgb`): `chroma` (the
# default) lowers its chroma at constant L and hue until it fits, `clip` clips R, G and B
# one by one (the former behaviour, which shifts L by 3 to 5 on over-saturated predictions).
GAMUT_MAPPINGS = ("chroma", "clip")
# Zhang et al.'s annealed-mean temperature: the gamut codec decodes at it unless told otherwise.
GAMUT_TEMPERATURE = 0.38
# tanh110: ab / 110 with a tanh head, Zhang et al. 2017's regression.
NORMALIZATIONS = ("sigmoid", "tanh", "unit", "tanh110")
# zhang_eccv16, zhang_siggraph17: Zhang et al.'s released networks (tfcolor.models.zhang).
MODELS = ("unet", "iizuka", "backbone_fusion", "convlstm", "zhang_eccv16", "zhang_siggraph17")
GLOBAL_FEATURES = (None, "learned", "backbone")
# The Iizuka course report's simplified global network: one convolution on the low-level
# features to [batch_size, 28, 28, 32] at 224 (the report suggests trying wider).
SIMPLE_GLOBAL_WIDTH = 32
# The `keras.applications` embeddings of `tfcolor.models.backbone_fusion`.
BACKBONES = ("inception_resnet_v2", "mobilenet_v2", "efficientnet_b0")
LR_SCHEDULES = ("cosine", "constant")
# The optimizers and the U-Net's activations the thesis compared (its runs: Adam, ReLU).
OPTIMIZERS = ("adam", "rmsprop")
ACTIVATIONS = ("relu", "leaky_relu", "tanh")
JIT_COMPILE = ("auto", "on", "off")
# The settings of tfcolor.training.compile and tfcolor.training.distribute.
MIXED_PRECISIONS = ("auto", "off", "float16", "bfloat16")
STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker", "tpu")
# The video report's frame size, (width, height) as ffmpeg writes sizes: 1/8 of 1920x1080.
DEFAULT_FRAME_SIZE = (240, 135)
# The image files a `folder:` source, `colorize` and `preprocess` read (TensorFlow's decoders).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
