"""The config dataclasses, one per concern; each validates itself (`validate`).

A `Config` is everything about a run: its data, codec, model and training settings;
`Colorizer` writes it as JSON into its model_dir, and `Config.from_dict(json.load(...))` (or
`Config.load`) reads it back. `RefinementConfig` holds the WGAN-GP refinement's settings.
Each field declares its bounds, choices and command-line flag (`tfcolor.config.base.option`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from tfcolor.config.base import Section, option
from tfcolor.config.options import (
    ACTIVATIONS,
    BACKBONES,
    CODECS,
    DECODES,
    DEFAULT_FRAME_SIZE,
    GAMUT_MAPPINGS,
    GAMUT_TEMPERATURE,
    GLOBAL_FEATURES,
    JIT_COMPILE,
    LR_SCHEDULES,
    MIXED_PRECISIONS,
    MODELS,
    NORMALIZATIONS,
    OPTIMIZERS,
    SIMPLE_GLOBAL_WIDTH,
    STRATEGIES,
)

__all__ = [
    "CodecConfig",
    "Config",
    "DataConfig",
    "ModelConfig",
    "RefinementConfig",
    "TrainConfig",
    "former_simple_global",
]


@dataclasses.dataclass
class DataConfig(Section):
    """Where the images come from and how they become model inputs.

    Attributes:
        source: `shapes`, `folder:DIR`, `tfds:NAME[:SPLIT]`, `video:DIR` (a folder of video
            files, decoded while training: small jobs) or `tfrecord:DIR` (a collection written
            by `python -m tfcolor.preprocess`). Video models play the videos in chunks; image
            models take each frame as an image (a collection: its images too).
        validation_source: a source for validation; None splits it off `source` (shapes: its
            fixed 324-image validation set; folder: a deterministic hash split; tfds: the
            dataset's `validation` split, else its `test` split, else the end of `train`).
        validation_fraction: share of a folder held out for validation when
            `validation_source` is None.
        image_size: training images are resized (shorter side) and centre-cropped to this square.
        batch_size: global batch size; for video sources, the number of streams (videos
            played side by side, one chunk of each per step).
        augment: the thesis's augmentation (flips, rotation up to 30 degrees, zoom up to 30 %).
        gray_threshold: drop images whose every pixel has |a| and |b| below this (the Iizuka
            course report used 1, Zhang et al. 5); None keeps every image.
        classes: a subset of class names of a labelled TFDS dataset (or of the folder's
            subfolders); None keeps all.
        shuffle_buffer: shuffle buffer of the training path.
        seed: shuffling and augmentation seed.
        frame_size: video frames are scaled to fit (width, height) keeping their aspect and
            padded to it (the video report: 240x135), then padded up to the model's input
            multiple.
        chunk_frames: T, the consecutive frames of a video in one training chunk; the
            recurrent state is carried from chunk to chunk (truncated backpropagation).
    """

    source: str = option(
        "shapes",
        flag="--data",
        help="training source: shapes | folder:DIR | tfds:NAME[:SPLIT] | video:DIR | "
        "tfrecord:DIR (written by python -m tfcolor.preprocess); image models take each "
        "video frame as an image",
    )
    validation_source: str | None = option(
        None, flag="--validation-data", help="validation source (default: split off --data)"
    )
    validation_fraction: float = 0.1
    image_size: int = option(32, ge=1, help="training image side in pixels")
    batch_size: int = option(
        32, ge=1, help="global batch size (video: streams played side by side)"
    )
    augment: bool = option(False, help="flips, rotation up to 30 degrees, zoom up to 30 %")
    gray_threshold: float | None = option(
        None, help="drop images whose every |a|, |b| is below this (1: Iizuka, 5: Zhang)"
    )
    classes: tuple[str, ...] | None = option(
        None, help="comma-separated class subset of a labelled dataset"
    )
    shuffle_buffer: int = 2048
    seed: int = 0
    frame_size: tuple[int, int] = option(
        DEFAULT_FRAME_SIZE,
        help="video: frames scaled and padded to WIDTHxHEIGHT (the video report: 240x135)",
    )
    chunk_frames: int = option(
        8, ge=1, help="video: consecutive frames per chunk; the state is carried between chunks"
    )

    @property
    def is_video(self) -> bool:
        """Whether `source` holds videos: `video:DIR`, or `tfrecord:DIR` (a preprocessed
        collection; its images also serve image models)."""
        return self.source.startswith(("video:", "tfrecord:"))

    def validate(self) -> None:
        """Raises ValueError naming the first bad value."""
        super().validate()
        if self.image_size < 8:
            raise ValueError(
                f"image_size must be at least 8. Received: image_size={self.image_size}"
            )
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(
                "validation_fraction must be in (0, 1). "
                f"Received: validation_fraction={self.validation_fraction}"
            )


@dataclasses.dataclass
class CodecConfig(Section):
    """What the model predicts per pixel (see `tfcolor.codecs`).

    Attributes:
        name: `grid` (the thesis's bins), `gamut` (Zhang et al. 2016: the ab grid cells of
            size `grid_size` inside the sRGB gamut, soft-encoded) or `regression`.
        n_bins: grid bins, a perfect square (the thesis used 36 and 324).
        grid_size: side of the gamut codec's ab cells (Zhang et al.: 10).
        neighbours: the gamut codec soft-encodes each target over its this many nearest bins
            (the paper says 5; the authors' training code used 10).
        sigma: width of the soft-encoding Gaussian in ab units (Zhang et al.: 5).
        normalization: regression target: `sigmoid` ((ab / 100 + 1) / 2 with a sigmoid head,
            decoded as ab = (2 * sigmoid - 1) * 100 as in Iizuka et al.; the course report),
            `tanh` (ab / 128 with a tanh head, the Keras baseline),
            `unit` ((ab + 128) / 255 with a linear head, the thesis's MSE variant).
        decode: bin decoding: `interp` (the thesis: mode - (mode - mean) * T) or
            `annealed_mean` (expectation under softmax(log p / T); Zhang et al. use T = 0.38;
            T -> 0 gives the mode, T = 1 the mean).
        temperature: decoding temperature T.
        rebalance: class-rebalancing lambda (Zhang et al. 2016 use 0.5); None trains plain CE.
        gamut: how a decoded colour outside the sRGB gamut is rendered (predict, the
            export, video, panels, evaluation): `chroma` lowers its chroma at constant L and
            hue until it fits, so the output keeps the input's lightness; `clip` clips R, G
            and B separately (the former behaviour, for comparison; it shifts L).
    """

    name: str = option(
        "grid",
        flag="--codec",
        label="codec",
        choices=CODECS,
        help="grid: the thesis's bins; gamut: Zhang et al.'s in-gamut bins; regression",
    )
    n_bins: int = option(324, flag="--bins", ge=1, help="grid bins, a perfect square (36, 324)")
    grid_size: float = 10.0
    neighbours: int = option(
        5, ge=1, help="gamut: soft-encode over this many nearest bins (Zhang et al.: 5)"
    )
    sigma: float = option(5.0, gt=0, help="gamut: soft-encoding Gaussian width (5)")
    normalization: str = option(
        "sigmoid", choices=NORMALIZATIONS, help="regression target normalization"
    )
    decode: str = option("interp", choices=DECODES, help="bin decoding")
    temperature: float = option(0.0, ge=0, help="decoding temperature")
    rebalance: float | None = option(
        0.5,
        none="0",
        help="class-rebalancing lambda (0.5 in Zhang et al.); 0 turns it off",
    )
    gamut: str = option(
        "chroma",
        choices=GAMUT_MAPPINGS,
        help="out-of-gamut colours: chroma (lower the chroma, keeping L and hue) or clip "
        "(clip R, G, B separately: shifts L; the former behaviour)",
    )

    def updated(self, **values) -> CodecConfig:
        """A copy with `values` set, as a user switches codec: switched to `gamut` from the
        thesis's `interp` decoding (and no `decode` given), it decodes as Zhang et al. do, by
        annealed mean at T = 0.38 unless a `temperature` is given; a `regression` codec has
        no rebalancing."""
        codec = dataclasses.replace(self, **values)
        if values.get("name") == "gamut" and "decode" not in values and self.decode == "interp":
            codec.decode = "annealed_mean"
            if "temperature" not in values:
                codec.temperature = GAMUT_TEMPERATURE
        if codec.name == "regression":
            codec.rebalance = None
        return codec

    @classmethod
    def for_codec(cls, name: str, **values) -> CodecConfig:
        """The settings of codec `name` as its reference uses them (`updated` from the
        defaults), with `values` set: `for_codec("gamut")` is Zhang et al.'s."""
        return cls().updated(name=name, **values)

    def validate(self) -> None:
        """Raises ValueError naming the first bad value."""
        super().validate()
        if self.name == "grid":
            root = math.isqrt(self.n_bins)
            if self.n_bins < 4 or root * root != self.n_bins:
                raise ValueError(
                    f"n_bins must be a perfect square >= 4. Received: n_bins={self.n_bins}"
                )
        if self.decode == "interp" and self.temperature > 1:
            raise ValueError(
                "the interp decoding takes a temperature in [0, 1]. "
                f"Received: temperature={self.temperature}"
            )


def former_simple_global(values: dict[str, Any]) -> dict[str, Any]:
    """A ModelConfig or model config dict written before `simple_global_width` existed, with
    `simple_global` on, ran tfcolor's former simplification (a 512-filter stride-2
    convolution and a global average pool): `values` with the settings that rebuild that
    network, so its saved weights load. Other dicts come back as they are."""
    if values.get("simple_global") and "simple_global_width" not in values:
        return {**values, "simple_global_width": 512, "simple_global_pool": True}
    return values


# Zhang et al.'s released networks (tfcolor.models.zhang): their levels of filters and the
# output stride of their head.
_ZHANG_NETWORKS = {"zhang_eccv16": (8, 4), "zhang_siggraph17": (10, 1)}


@dataclasses.dataclass
class ModelConfig(Section):
    """The network body. The head's size comes from the codec, never from here.

    Attributes:
        name: `unet` (the thesis), `iizuka` (Iizuka et al. 2016), `backbone_fusion` (the
            Keras baseline: strided encoder + a `keras.applications` embedding), or Zhang et
            al.'s released `zhang_eccv16` and `zhang_siggraph17` (`tfcolor.models.zhang`).
        filters: filters per U-Net level; len(filters) - 1 max-pools. The Zhang networks:
            filters per block (8 and 10 of them).
        activation: `unet` only: the activation after each convolution of its blocks,
            `relu` (the thesis's runs), `leaky_relu` (slope 0.01) or `tanh`, the three the
            thesis compared.
        output_stride: the head predicts at 1 / output_stride of the input's resolution (Zhang
            et al. predict at 1/4); the targets are average-pooled to match, and decoded ab is
            upsampled to full resolution.
        global_features: the U-Net's global feature vector fused at its bottleneck: None,
            `learned` (a global branch as Iizuka's) or `backbone` (a `keras.applications`
            embedding), the video report's "U-Net + Feature-Vektor".
        global_network: `iizuka` only: its global features network and fusion layer (the
            paper); False is the Iizuka course report's "basic colorization model", the
            mid-level features straight into the colorization network (`iizuka_basic`).
        global_size: the square side the global path sees (Iizuka et al.: 224); the local
            path runs at the input's own resolution.
        simple_global: the Iizuka course report's simplified global network: one convolution
            on the low-level features (28x28x32 at 224) in place of the four 512-filter
            convolutions, flattened into the dense layers 1024, 512, 256; off as in the paper.
            The flatten, as the paper's, fixes the dense layer's size by `global_size`.
        simple_global_width: that convolution's filters (the report: 32; it suggests wider).
        simple_global_pool: tfcolor's former simplification, which runs made with it rebuild
            (`former_simple_global`): the convolution at stride 2 and a global average pool.
        backbone: `inception_resnet_v2` (the Keras baseline), `mobilenet_v2` or
            `efficientnet_b0` (lighter).
        backbone_weights: `imagenet` (downloads them: for users), None (random: tests) or the
            path of a weights file.
        backbone_trainable: False freezes the backbone (the Keras baseline).
        classify: Iizuka's simultaneous classification head on the global features, trained
            on the images' labels (TFDS labels, or the top-level subfolder of `folder:`).
        class_names: the classifier's classes, in order; None with `classify` takes them from
            `data.classes` or from the data's labels when training starts.
        classification_weight: alpha, the classification loss's weight beside the colour loss
            (Iizuka et al.: 1/300).
        batch_norm: `unet` and `convlstm`: batch norm in the U-Net's conv blocks (the thesis's
            and the video report's bigger U-Net had it, the report's plain U-Net not).
        stateful: `convlstm` only: training carries the recurrent state from one chunk of a
            video to the next (zeroed where a new video starts); False zeroes it every chunk.
    """

    name: str = option(
        "unet",
        flag="--model",
        label="model",
        choices=MODELS,
        help="the network (default: the preset's); convlstm: the video U-Net + ConvLSTM",
    )
    filters: tuple[int, ...] = option((8, 16, 32), help="U-Net filters per level, e.g. 8,16,32")
    activation: str = option(
        "relu",
        choices=ACTIVATIONS,
        help="unet: its blocks' activation (relu; the thesis also tried leaky_relu and tanh)",
    )
    output_stride: int = option(
        1, ge=1, help="predict colours at 1/N of the resolution (Zhang et al.: 4), a power of 2"
    )
    global_features: str | None = option(
        None,
        choices=GLOBAL_FEATURES,
        none="none",
        help="unet: a global feature vector fused at the bottleneck",
    )
    global_network: bool = option(
        True,
        help="iizuka: the global features network and fusion layer; --no-global-network is "
        "the course report's basic model",
    )
    global_size: int = option(224, ge=1, help="side of the global path's rescale (224)")
    simple_global: bool = option(
        False,
        help="iizuka, learned global features: the course report's global network, one "
        "convolution (28x28x32 at 224) flattened into the dense layers",
    )
    simple_global_width: int = option(
        SIMPLE_GLOBAL_WIDTH, ge=1, help="--simple-global's convolution filters (the report: 32)"
    )
    simple_global_pool: bool = False
    backbone: str = option(
        "inception_resnet_v2",
        choices=BACKBONES,
        help="keras.applications embedding of backbone_fusion / global_features=backbone",
    )
    backbone_weights: str | None = option(
        "imagenet",
        none="none",
        help="imagenet (downloads them), none (random), or a weights file",
    )
    backbone_trainable: bool = option(False, help="fine-tune the backbone (default: frozen)")
    classify: bool = option(
        False, help="Iizuka's classification head on the global features, trained on the labels"
    )
    class_names: tuple[str, ...] | None = None
    classification_weight: float = option(
        1.0 / 300.0, ge=0, help="alpha of the classification loss (Iizuka et al.: 1/300)"
    )
    batch_norm: bool = option(
        True,
        help="unet, convlstm: batch norm in the U-Net's conv blocks (the report's plain "
        "U-Net: --no-batch-norm)",
    )
    stateful: bool = option(
        True,
        help="convlstm: carry the state from chunk to chunk of a video (default) or zero it "
        "every chunk",
    )

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        """`Section.from_dict`, rebuilding a former simplified global network
        (`former_simple_global`)."""
        if isinstance(values, dict):
            values = former_simple_global(values)
        return super().from_dict(values)

    @property
    def input_multiple(self) -> int:
        """Input sides must be multiples of this (the network's total down-sampling)."""
        if self.name in ("unet", "convlstm"):
            return 2 ** (len(self.filters) - 1)
        # Iizuka's low-level network and the Keras baseline's encoder: three stride-2 convs.
        return 8

    def validate(self) -> None:
        """Raises ValueError naming the first bad value."""
        super().validate()
        stride = self.output_stride
        if stride < 1 or stride & (stride - 1) or stride > self.input_multiple:
            raise ValueError(
                f"output_stride must be a power of 2 from 1 to {self.input_multiple} for the "
                f"{self.name} model. Received: output_stride={stride}"
            )
        if self.global_size < 32 or self.global_size % 16:
            raise ValueError(
                "global_size must be a multiple of 16, at least 32. "
                f"Received: global_size={self.global_size}"
            )
        zhang = _ZHANG_NETWORKS.get(self.name)
        if zhang is not None:
            levels, zhang_stride = zhang
            if stride != zhang_stride or len(self.filters) != levels:
                raise ValueError(
                    f"the {self.name} model has {levels} levels of filters and predicts at "
                    f"output_stride {zhang_stride}. Received: filters={self.filters}, "
                    f"output_stride={stride}"
                )
            if self.classify:
                raise ValueError(f"classify is not supported on the {self.name} model")
        if self.activation != "relu" and self.name != "unet":
            raise ValueError(
                "activation is a unet setting. "
                f"Received: model={self.name!r}, activation={self.activation!r}"
            )
        if not self.batch_norm and self.name not in ("unet", "convlstm"):
            raise ValueError(
                "batch_norm is a unet and convlstm setting. "
                f"Received: model={self.name!r}, batch_norm=False"
            )
        if not self.global_network:
            if self.name != "iizuka":
                raise ValueError(
                    "global_network is an iizuka setting (the unet's: global_features). "
                    f"Received: model={self.name!r}, global_network=False"
                )
            if self.classify or self.simple_global:
                raise ValueError(
                    "classify and simple_global need the global network. Received: "
                    f"global_network=False, classify={self.classify}, "
                    f"simple_global={self.simple_global}"
                )
        if self.classify and self.name == "convlstm":
            raise ValueError(
                "classify is not supported on the convlstm video model. "
                "Received: model='convlstm', classify=True"
            )
        if self.classify and self.name == "backbone_fusion":
            raise ValueError(
                "classify needs a learned global branch (iizuka, or unet with "
                "global_features='learned'). Received: model=backbone_fusion"
            )
        if self.classify and self.name == "unet" and self.global_features != "learned":
            raise ValueError(
                "classify on the unet needs global_features='learned'. "
                f"Received: global_features={self.global_features!r}"
            )
        if self.class_names is not None and len(self.class_names) < 2:
            raise ValueError(
                f"class_names needs at least two classes. Received: {self.class_names}"
            )


@dataclasses.dataclass
class TrainConfig(Section):
    """Optimisation and bookkeeping.

    Attributes:
        epochs: total epochs of the run (calling train again continues up to this number).
        steps_per_epoch: None runs each epoch over the whole training set.
        optimizer: `adam` or `rmsprop` (with PyTorch's rho 0.99: the thesis compared both in
            PyTorch; its runs used Adam).
        learning_rate: the optimizer's (initial) learning rate.
        lr_schedule: `cosine` decays it to 0 over the run's `epochs` (measured on shapes: the
            validation accuracy of the last epochs swings by 10 points at a constant 3e-3, and
            settles with the decay), or `constant`.
        jit_compile: XLA: `on`, `off`, or `auto` (off on CPUs, where it measured slower for
            both U-Nets, on with a GPU or TPU; see README).
        backup_every_steps: the resume backup is also written every this many steps, so a
            killed run loses at most this much work.
        render_size: the square size at which ab is predicted in `predict` and the export; None
            uses `data.image_size` (the size the model was trained at); 0 predicts at each
            image's own size (rounded to the model's down-sampling), for the models whose
            global path sees a fixed-size rescale (Iizuka et al.).
        panel_images: validation images shown in TensorBoard's gray | predicted | truth panel.
        metric_images: validation images colorized at the end of every epoch for the image
            metrics in TensorBoard (PSNR, SSIM, AuC, colourfulness, beside the gray
            baseline's); 0 turns them off.
        seed: Keras' global seed (weights initialisation).
        mixed_precision: the model's Keras dtype policy: `off` (float32), `float16`
            (`mixed_float16`, with dynamic loss scaling), `bfloat16` (`mixed_bfloat16`), or
            `auto`: float16 with a GPU, bfloat16 on a TPU, off on CPUs (see
            `training.compile`). Heads, softmax and losses stay float32 under every policy.
        strategy: the distribution strategy: `auto` (multi_worker when TF_CONFIG names a
            cluster, mirrored over several GPUs, else one device), `one_device`, `mirrored`
            (the GPUs of this machine), `multi_worker` (TF_CONFIG) or `tpu` (see
            `tfcolor.training.distribute`). `data.batch_size` is the global batch over all replicas.
        init_from: another run's model_dir: a run that starts fresh (no weights of its own)
            takes the weights of that run's layers whose names and shapes match its own
            (`training.warm_start`: an image run into a video model, as the video report
            trained on images first); a run that resumes keeps its own.
    """

    epochs: int = option(12, ge=1, help="total epochs of the run")
    steps_per_epoch: int | None = option(
        None, ge=1, help="training steps per epoch (default: the whole training set)"
    )
    optimizer: str = option(
        "adam", choices=OPTIMIZERS, help="adam (default) or rmsprop (the thesis tried both)"
    )
    learning_rate: float = option(1e-3, gt=0, help="the optimizer's (initial) learning rate")
    lr_schedule: str = option(
        "cosine",
        choices=LR_SCHEDULES,
        help="cosine decay to 0 over --epochs (default) or constant",
    )
    jit_compile: str = option("auto", choices=JIT_COMPILE, help="XLA")
    backup_every_steps: int = option(
        200, ge=1, help="resume backup interval in steps (it is also written every epoch)"
    )
    render_size: int | None = option(
        None,
        ge=0,
        help="side at which the export predicts colours (default: image size; 0: each "
        "image's own size)",
    )
    panel_images: int = 8
    metric_images: int = option(
        256, help="validation images measured each epoch (PSNR, SSIM, AuC...; 0: none)"
    )
    seed: int = option(0, help="Keras' global seed (weights initialisation)")
    mixed_precision: str = option(
        "auto",
        choices=MIXED_PRECISIONS,
        help="float16 or bfloat16 compute with float32 weights, heads and losses; auto "
        "(default): float16 on a GPU, off on a CPU",
    )
    strategy: str = option(
        "auto",
        choices=STRATEGIES,
        help="distribution: auto (default: multi_worker when TF_CONFIG names a cluster, "
        "mirrored over several GPUs, else one device), one_device, mirrored (this machine's "
        "GPUs), multi_worker (the cluster in TF_CONFIG), tpu; --batch-size is the global "
        "batch. A TF_CONFIG that is set must be a valid cluster under every strategy (exit 2)",
    )
    init_from: str | None = option(
        None,
        help="start a new run from the layers of the run in this model_dir whose names and "
        "shapes match (e.g. an image run into a video model); ignored when the run resumes",
    )


@dataclasses.dataclass
class RefinementConfig(Section):
    """The WGAN-GP refinement's settings.

    Args:
        epochs: total epochs of the refinement (a continued refinement runs up to this; the
            GAN project refined for about 8).
        steps_per_epoch: None: one pass over the training data.
        critic_steps: critic updates per generator update (Gulrajani et al.: 5).
        gradient_penalty: lambda of the gradient penalty (Gulrajani et al.: 10).
        adversarial_weight: weight of -D(G(L)) beside the codec loss. Small, because the
            pre-trained codec loss is what keeps the colours right; 0.01 as `WGANTrainer`.
        critic_border: pixels on every side the critic ignores (the project: 16).
        critic_filters: filters of the critic's strided convolutions.
        learning_rate: the generator's Adam rate: small, it fine-tunes a trained network
            (10x below the critic's).
        critic_learning_rate: the critic's Adam rate (Gulrajani et al.: 1e-4, beta_1 0,
            beta_2 0.9; the generator's Adam has the same betas).
        unfreeze_start: generator groups trained from the first epoch (1: the head).
        unfreeze_every: epochs between two unfreezings (`GradualUnfreezing`).
        validation_steps: validation batches per epoch (val_wasserstein, val_color_loss);
            None: the whole validation split; 0: none.
        backup_every_steps: the resume backup is also written every this many steps.
        seed: of the gradient penalty's interpolation weights.
        temperature: the annealed-mean temperature of the generated ab the critic judges;
            None: the run's own where it decodes by annealed mean, otherwise Zhang et al.'s
            0.38 (the thesis's `interp` decoding, and T = 0, are an argmax: no gradient).
        mixed_precision: the generator's dtype policy (`TrainConfig.mixed_precision`: auto,
            off, float16, bfloat16); None: the run's own. float16 scales the generator's loss
            (Keras' LossScaleOptimizer); the critic computes in float32 under every policy.
    """

    epochs: int = option(8, ge=1, help="total epochs of the refinement (the project: about 8)")
    steps_per_epoch: int | None = option(
        None, ge=1, help="training steps per epoch (default: one pass over the data)"
    )
    critic_steps: int = option(
        5, ge=1, help="critic updates per generator update (Gulrajani et al.: 5)"
    )
    gradient_penalty: float = option(
        10.0, gt=0, help="weight of the gradient penalty (Gulrajani et al.: 10)"
    )
    adversarial_weight: float = option(
        0.01, gt=0, help="weight of the critic's term beside the codec loss in the generator's"
    )
    critic_border: int = option(16, ge=0, help="pixels on every side the critic ignores")
    critic_filters: tuple[int, ...] = option(
        (64, 128, 256), help="filters of the critic's strided convolutions"
    )
    learning_rate: float = option(
        1e-5, gt=0, help="the generator's Adam rate (small: it fine-tunes a trained network)"
    )
    critic_learning_rate: float = option(
        1e-4,
        gt=0,
        help="the critic's Adam rate (WGAN-GP: 1e-4; both Adams beta_1 0, beta_2 0.9)",
    )
    unfreeze_start: int = option(
        1, ge=0, help="generator groups trained from the first epoch (1: the head)"
    )
    unfreeze_every: int = option(
        1, ge=1, help="epochs between unfreezing the next generator group, head to encoder"
    )
    validation_steps: int | None = option(
        None, ge=0, help="validation batches per epoch (default: all; 0: none)"
    )
    backup_every_steps: int = option(
        200, ge=1, help="resume backup interval in steps (it is also written every epoch)"
    )
    seed: int = option(0, help="seed of the gradient penalty's interpolation weights")
    temperature: float | None = option(
        None,
        gt=0,
        help="annealed-mean temperature of the generated colours the critic judges (default: "
        "the run's annealed-mean temperature, else 0.38; the argmax has no gradient)",
    )
    mixed_precision: str | None = option(
        None,
        choices=MIXED_PRECISIONS,
        help="the generator's dtype policy (default: the run's own; auto = float16 on a GPU)",
    )

    def validate(self, image_size: int | None = None) -> None:
        """Raises ValueError on a bad value, repeating it; with the run's `image_size`, also
        a `critic_border` that leaves the critic nothing to judge."""
        super().validate()
        if image_size is not None and 2 * self.critic_border >= image_size:
            raise ValueError(
                f"critic_border must leave pixels of the {image_size}x{image_size} training "
                f"images to judge (0 to {(image_size - 1) // 2}). "
                f"Received: critic_border={self.critic_border}"
            )


@dataclasses.dataclass
class Config(Section):
    """A whole run."""

    preset: str = "unet_shapes"
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    codec: CodecConfig = dataclasses.field(default_factory=CodecConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

    def validate(self) -> None:
        """Validates each part and how they fit together.

        Raises:
            ValueError: naming the first bad value.
        """
        self.data.validate()
        multiple = self.model.input_multiple
        if self.data.image_size % multiple:
            raise ValueError(
                f"image_size must be divisible by {multiple} (the {self.model.name} model "
                f"down-samples by {multiple}). Received: image_size={self.data.image_size}"
            )
        self.model.validate()
        self.codec.validate()
        if self.model.name == "convlstm":
            if not self.data.is_video:
                raise ValueError(
                    "the convlstm model trains on videos: --data video:DIR or tfrecord:DIR. "
                    f"Received: source={self.data.source!r}"
                )
            if len(self.data.frame_size) != 2 or min(self.data.frame_size) < 1:
                raise ValueError(
                    "frame_size must be (width, height), both positive. "
                    f"Received: frame_size={self.data.frame_size}"
                )
        self.train.validate()

    @property
    def render_size(self) -> int:
        """The render size of predict and the export: 0 renders at each image's own size."""
        if self.train.render_size is None:
            return self.data.image_size
        return self.train.render_size

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Config:
        """`Section.from_dict`; a config without a preset name is `custom`."""
        return super().from_dict({"preset": "custom", **values})

    @classmethod
    def load(cls, path: str) -> Config:
        """Reads a run's `config.json`.

        Raises:
            FileNotFoundError: no file at `path`.
            ValueError: a file that is not a valid config, with the file's path and what is
                wrong (unreadable, not JSON, not an object, unknown keys, bad values).
        """
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            raise
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or str(error)
            raise ValueError(f"{path}: cannot read the run's config ({reason})") from None
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not a tfcolor config: invalid JSON ({error})") from None
        if not isinstance(values, dict) or not all(
            isinstance(values.get(part, {}), dict) for part in ("data", "codec", "model", "train")
        ):
            raise ValueError(
                f"{path}: not a tfcolor config: expected a JSON object with data, codec, model "
                f"and train objects, got {type(values).__name__} {text[:60].strip()!r}"
            )
        try:
            return cls.from_dict(values)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path}: not a valid tfcolor config: {error}") from None
