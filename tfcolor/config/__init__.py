"""Typed configs (one dataclass per concern) and the named presets, one per seed system.

A `Config` is everything about a run; `Colorizer` writes it as JSON into its model_dir, and
`Config.from_dict(json.load(...))` reads it back.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

CODECS = ("grid", "gamut", "regression")
MODELS = ("unet", "iizuka", "backbone_fusion", "convlstm")
GLOBAL_FEATURES = (None, "learned", "backbone")
BACKBONES = ("inception_resnet_v2", "mobilenet_v2", "efficientnet_b0")
# The settings of tfcolor.training.precision and tfcolor.training.distribute, named here where
# no TensorFlow is
# imported (command lines check their flags before it loads).
MIXED_PRECISIONS = ("auto", "off", "float16", "bfloat16")
STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker", "tpu")
# The video report's frame size, (width, height) as ffmpeg writes sizes: 1/8 of 1920x1080.
DEFAULT_FRAME_SIZE = (240, 135)
# The image files a `folder:` source, `colorize` and `preprocess` read (TensorFlow's decoders).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")

__all__ = [
    "CodecConfig",
    "Config",
    "DataConfig",
    "ModelConfig",
    "RefinementConfig",
    "TrainConfig",
    "PRESETS",
    "get_preset",
]


@dataclasses.dataclass
class DataConfig:
    """Where the images come from and how they become model inputs.

    Attributes:
        source: `shapes`, `folder:DIR`, `tfds:NAME[:SPLIT]`; for video models `video:DIR` (a
            folder of video files, decoded while training: small jobs) or `tfrecord:DIR` (a
            collection written by `python -m tfcolor.preprocess`).
        validation_source: a source for validation; None splits it off `source` (shapes: its
            fixed 324-image validation set; folder: a deterministic hash split; tfds: the
            dataset's `test` split).
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

    source: str = "shapes"
    validation_source: str | None = None
    validation_fraction: float = 0.1
    image_size: int = 32
    batch_size: int = 32
    augment: bool = False
    gray_threshold: float | None = None
    classes: tuple[str, ...] | None = None
    shuffle_buffer: int = 2048
    seed: int = 0
    frame_size: tuple[int, int] = DEFAULT_FRAME_SIZE
    chunk_frames: int = 8

    @property
    def is_video(self) -> bool:
        """Whether `source` holds videos: `video:DIR`, or `tfrecord:DIR` (a preprocessed
        collection; its images also serve image models)."""
        return self.source.startswith(("video:", "tfrecord:"))


@dataclasses.dataclass
class CodecConfig:
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
    """

    name: str = "grid"
    n_bins: int = 324
    grid_size: float = 10.0
    neighbours: int = 5
    sigma: float = 5.0
    normalization: str = "sigmoid"
    decode: str = "interp"
    temperature: float = 0.0
    rebalance: float | None = 0.5


@dataclasses.dataclass
class ModelConfig:
    """The network body. The head's size comes from the codec, never from here.

    Attributes:
        name: `unet` (the thesis), `iizuka` (Iizuka et al. 2016) or `backbone_fusion` (the
            Keras baseline: strided encoder + a `keras.applications` embedding).
        filters: filters per U-Net level; len(filters) - 1 max-pools.
        output_stride: the head predicts at 1 / output_stride of the input's resolution (Zhang
            et al. predict at 1/4); the targets are average-pooled to match, and decoded ab is
            upsampled to full resolution.
        global_features: the U-Net's global feature vector fused at its bottleneck: None,
            `learned` (a global branch as Iizuka's) or `backbone` (a `keras.applications`
            embedding), the video report's "U-Net + Feature-Vektor".
        global_size: the square side the global path sees (Iizuka et al.: 224); the local
            path runs at the input's own resolution.
        simple_global: the Iizuka course report's simplification, one convolution in place of
            the global network's stack (saves memory); off as in the paper.
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
        batch_norm: `convlstm` only: batch norm in the U-Net's conv blocks (the video
            report's bigger U-Net had it, its basic one not).
        stateful: `convlstm` only: training carries the recurrent state from one chunk of a
            video to the next (zeroed where a new video starts); False zeroes it every chunk.
    """

    name: str = "unet"
    filters: tuple[int, ...] = (8, 16, 32)
    output_stride: int = 1
    global_features: str | None = None
    global_size: int = 224
    simple_global: bool = False
    backbone: str = "inception_resnet_v2"
    backbone_weights: str | None = "imagenet"
    backbone_trainable: bool = False
    classify: bool = False
    class_names: tuple[str, ...] | None = None
    classification_weight: float = 1.0 / 300.0
    batch_norm: bool = True
    stateful: bool = True

    @property
    def input_multiple(self) -> int:
        """Input sides must be multiples of this (the network's total down-sampling)."""
        if self.name in ("unet", "convlstm"):
            return 2 ** (len(self.filters) - 1)
        # Iizuka's low-level network and the Keras baseline's encoder: three stride-2 convs.
        return 8

    def validate(self) -> None:
        """Raises ValueError naming the first bad value."""
        if self.name not in MODELS:
            raise ValueError(
                f"model must be one of {', '.join(MODELS)}. Received: model={self.name!r}"
            )
        stride = self.output_stride
        if stride < 1 or stride & (stride - 1) or stride > self.input_multiple:
            raise ValueError(
                f"output_stride must be a power of 2 from 1 to {self.input_multiple} for the "
                f"{self.name} model. Received: output_stride={stride}"
            )
        if self.global_features not in GLOBAL_FEATURES:
            raise ValueError(
                f"global_features must be one of {GLOBAL_FEATURES}. "
                f"Received: global_features={self.global_features!r}"
            )
        if self.global_size < 32 or self.global_size % 16:
            raise ValueError(
                "global_size must be a multiple of 16, at least 32. "
                f"Received: global_size={self.global_size}"
            )
        if self.backbone not in BACKBONES:
            raise ValueError(
                f"backbone must be one of {', '.join(BACKBONES)}. "
                f"Received: backbone={self.backbone!r}"
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
        if self.classification_weight < 0:
            raise ValueError(
                "classification_weight must be >= 0. "
                f"Received: classification_weight={self.classification_weight}"
            )


@dataclasses.dataclass
class TrainConfig:
    """Optimisation and bookkeeping.

    Attributes:
        epochs: total epochs of the run (calling train again continues up to this number).
        steps_per_epoch: None runs each epoch over the whole training set.
        learning_rate: Adam's (initial) learning rate.
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
            `training.precision`). Heads, softmax and losses stay float32 under every policy.
        strategy: the distribution strategy: `auto` (multi_worker when TF_CONFIG names a
            cluster, mirrored over several GPUs, else one device), `one_device`, `mirrored`
            (the GPUs of this machine), `multi_worker` (TF_CONFIG) or `tpu` (see
            `tfcolor.training.distribute`). `data.batch_size` is the global batch over all replicas.
    """

    epochs: int = 12
    steps_per_epoch: int | None = None
    learning_rate: float = 1e-3
    lr_schedule: str = "cosine"
    jit_compile: str = "auto"
    backup_every_steps: int = 200
    render_size: int | None = None
    panel_images: int = 8
    metric_images: int = 256
    seed: int = 0
    mixed_precision: str = "auto"
    strategy: str = "auto"


@dataclasses.dataclass
class RefinementConfig:
    """The WGAN-GP refinement's settings.

    Args:
        epochs: total epochs of the refinement (a continued refinement runs up to this).
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

    epochs: int = 5
    steps_per_epoch: int | None = None
    critic_steps: int = 5
    gradient_penalty: float = 10.0
    adversarial_weight: float = 0.01
    critic_border: int = 16
    critic_filters: tuple[int, ...] = (64, 128, 256)
    learning_rate: float = 1e-5
    critic_learning_rate: float = 1e-4
    unfreeze_start: int = 1
    unfreeze_every: int = 1
    validation_steps: int | None = None
    backup_every_steps: int = 200
    seed: int = 0
    temperature: float | None = None
    mixed_precision: str | None = None

    def validate(self, image_size: int) -> None:
        """Raises ValueError on a bad value, repeating it."""
        positive = ("epochs", "critic_steps", "unfreeze_every", "backup_every_steps")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1. Received: {name}={getattr(self, name)}")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be >= 1. Received: {self.steps_per_epoch}")
        for name in ("learning_rate", "critic_learning_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0. Received: {name}={getattr(self, name)}")
        if self.mixed_precision is not None and self.mixed_precision not in MIXED_PRECISIONS:
            raise ValueError(
                f"mixed_precision must be one of {', '.join(MIXED_PRECISIONS)} or None. "
                f"Received: mixed_precision={self.mixed_precision!r}"
            )
        if self.critic_border < 0 or 2 * self.critic_border >= image_size:
            raise ValueError(
                f"critic_border must leave pixels of the {image_size}x{image_size} training "
                f"images to judge (0 to {(image_size - 1) // 2}). "
                f"Received: critic_border={self.critic_border}"
            )


@dataclasses.dataclass
class Config:
    """A whole run."""

    preset: str = "unet_shapes"
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    codec: CodecConfig = dataclasses.field(default_factory=CodecConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

    def validate(self) -> None:
        """Raises ValueError naming the first bad value."""
        if self.data.image_size < 8:
            raise ValueError(f"image_size must be at least 8. Received: {self.data.image_size}")
        multiple = self.model.input_multiple
        if self.data.image_size % multiple:
            raise ValueError(
                f"image_size must be divisible by {multiple} (the {self.model.name} model "
                f"down-samples by {multiple}). Received: image_size={self.data.image_size}"
            )
        self.model.validate()
        if self.data.batch_size < 1:
            raise ValueError(f"batch_size must be positive. Received: {self.data.batch_size}")
        if not 0.0 < self.data.validation_fraction < 1.0:
            raise ValueError(
                f"validation_fraction must be in (0, 1). Received: {self.data.validation_fraction}"
            )
        if self.codec.name not in CODECS:
            raise ValueError(
                f"codec must be one of {', '.join(CODECS)}. Received: codec={self.codec.name!r}"
            )
        if self.codec.name == "grid":
            root = math.isqrt(self.codec.n_bins)
            if self.codec.n_bins < 4 or root * root != self.codec.n_bins:
                raise ValueError(
                    f"n_bins must be a perfect square >= 4. Received: n_bins={self.codec.n_bins}"
                )
        if self.codec.temperature < 0:
            raise ValueError(
                f"temperature must be >= 0. Received: temperature={self.codec.temperature}"
            )
        if self.codec.decode == "interp" and self.codec.temperature > 1:
            raise ValueError(
                "the interp decoding takes a temperature in [0, 1]. "
                f"Received: temperature={self.codec.temperature}"
            )
        if self.model.name == "convlstm":
            if not self.data.is_video:
                raise ValueError(
                    "the convlstm model trains on videos: --data video:DIR or tfrecord:DIR. "
                    f"Received: source={self.data.source!r}"
                )
            if self.data.chunk_frames < 1:
                raise ValueError(
                    f"chunk_frames must be positive. Received: {self.data.chunk_frames}"
                )
            if len(self.data.frame_size) != 2 or min(self.data.frame_size) < 1:
                raise ValueError(
                    "frame_size must be (width, height), both positive. "
                    f"Received: frame_size={self.data.frame_size}"
                )
            if self.model.classify:
                raise ValueError("classify is not supported on the convlstm model")
        elif self.data.source.startswith("video:"):
            raise ValueError(
                f"{self.data.source} is a video source; train a video model on it "
                "(--model convlstm or a convlstm preset), or preprocess it and train an image "
                "model on the collection's images (tfrecord:DIR)"
            )
        if self.train.epochs < 1:
            raise ValueError(f"epochs must be positive. Received: {self.train.epochs}")
        if self.train.learning_rate <= 0:
            raise ValueError(
                f"learning_rate must be positive. Received: {self.train.learning_rate}"
            )
        if self.train.lr_schedule not in ("cosine", "constant"):
            raise ValueError(
                f"lr_schedule must be cosine or constant. Received: {self.train.lr_schedule!r}"
            )
        if self.train.jit_compile not in ("auto", "on", "off"):
            raise ValueError(
                f"jit_compile must be auto, on or off. Received: {self.train.jit_compile!r}"
            )
        if self.train.mixed_precision not in MIXED_PRECISIONS:
            raise ValueError(
                f"mixed_precision must be one of {', '.join(MIXED_PRECISIONS)}. "
                f"Received: mixed_precision={self.train.mixed_precision!r}"
            )
        if self.train.strategy not in STRATEGIES:
            raise ValueError(
                f"strategy must be one of {', '.join(STRATEGIES)}. "
                f"Received: strategy={self.train.strategy!r}"
            )

    @property
    def render_size(self) -> int:
        """The render size of predict and the export: 0 renders at each image's own size."""
        if self.train.render_size is None:
            return self.data.image_size
        return self.train.render_size

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Config:
        def build(kind, part):
            fields = {f.name: f for f in dataclasses.fields(kind)}
            unknown = set(part) - set(fields)
            if unknown:
                raise ValueError(f"unknown {kind.__name__} keys: {sorted(unknown)}")
            part = dict(part)
            for key in ("filters", "classes", "class_names", "frame_size"):
                if key in part and part[key] is not None:
                    part[key] = tuple(part[key])
            return kind(**part)

        return cls(
            preset=values.get("preset", "custom"),
            data=build(DataConfig, values.get("data", {})),
            codec=build(CodecConfig, values.get("codec", {})),
            model=build(ModelConfig, values.get("model", {})),
            train=build(TrainConfig, values.get("train", {})),
        )

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


# The thesis's 12 CIFAR-100 classes (nature scenes and plants, colour mostly predictable).
THESIS_CIFAR100_CLASSES = (
    "apple",
    "sunflower",
    "rose",
    "cloud",
    "maple_tree",
    "oak_tree",
    "pine_tree",
    "willow_tree",
    "palm_tree",
    "mountain",
    "forest",
    "sea",
)


def _unet_shapes() -> Config:
    # The thesis's toy run: 32x32 shapes, 8/16/32 filters, 324 bins. Plain CE at Adam 1e-3
    # predicted only the black background for 14 epochs (DESIGN.md, measured); rebalancing
    # (lambda 0.5, Zhang et al.) with Adam 3e-3 reached 98.5 % of pixels in 12 epochs.
    return Config(
        preset="unet_shapes",
        data=DataConfig(source="shapes", image_size=32, batch_size=32),
        codec=CodecConfig(name="grid", n_bins=324, decode="interp", temperature=0.0, rebalance=0.5),
        model=ModelConfig(name="unet", filters=(8, 16, 32)),
        train=TrainConfig(epochs=12, learning_rate=3e-3),
    )


def _unet_cifar() -> Config:
    # The thesis's CIFAR-100 subset: 12 nature classes at 32x32, 324 bins, Adam 1e-3.
    return Config(
        preset="unet_cifar",
        data=DataConfig(
            source="tfds:cifar100",
            image_size=32,
            batch_size=32,
            augment=True,
            classes=THESIS_CIFAR100_CLASSES,
        ),
        codec=CodecConfig(name="grid", n_bins=324, decode="interp", temperature=0.8),
        model=ModelConfig(name="unet", filters=(8, 16, 32)),
        train=TrainConfig(epochs=30, learning_rate=1e-3),
    )


def _unet_128() -> Config:
    # The thesis's 128x128 U-Net (16-128 filters, down to 8x8) on the user's photos.
    return Config(
        preset="unet_128",
        data=DataConfig(
            source="folder:images", image_size=128, batch_size=16, augment=True, gray_threshold=1.0
        ),
        codec=CodecConfig(name="grid", n_bins=324, decode="interp", temperature=0.8),
        model=ModelConfig(name="unet", filters=(16, 32, 64, 128, 128)),
        train=TrainConfig(epochs=30, learning_rate=1e-3),
    )


def _unet_mse() -> Config:
    # The thesis's regression variant: (ab + 128) / 255, MSE.
    config = _unet_shapes()
    config.preset = "unet_mse"
    config.codec = CodecConfig(name="regression", normalization="unit", rebalance=None)
    return config


def _unet_gamut() -> Config:
    # Zhang et al. 2016's codec on the thesis's 128x128 U-Net: 313-ish in-gamut bins,
    # soft-encoded over 5 neighbours (sigma 5), rebalanced (lambda 0.5), annealed mean at
    # T = 0.38, predicted at 1/4 of the resolution as Zhang's network does. Zhang trained a
    # 32M-parameter VGG-style net with Adam 3e-5; this 1.4M-parameter U-Net with batch norm
    # uses the thesis's 1e-3.
    config = _unet_128()
    config.preset = "unet_gamut"
    config.data.gray_threshold = 5.0  # Zhang et al. drop images whose ab is near zero
    config.codec = CodecConfig(
        name="gamut", decode="annealed_mean", temperature=0.38, rebalance=0.5
    )
    config.model.output_stride = 4
    return config


def _gamut_shapes() -> Config:
    # The Zhang codec on the thesis's toy data: fast enough for a laptop, or a test.
    config = _unet_shapes()
    config.preset = "gamut_shapes"
    config.codec = CodecConfig(
        name="gamut", decode="annealed_mean", temperature=0.38, rebalance=0.5
    )
    return config


def _iizuka() -> Config:
    # Iizuka et al. 2016: 224x224 training images of Places (the paper: 2.3M images of
    # Places205, gray ones removed), MSE on sigmoid-normalized ab, ab = (2 sigmoid - 1) 100.
    # The paper trained with Adadelta at batch 128; the course report that reimplemented it
    # used Adam (Keras' default rate 1e-3 here) and filtered gray images (|a|, |b| < 1).
    # The global path sees a 224x224 rescale, so predictions run at each image's own size.
    return Config(
        preset="iizuka",
        data=DataConfig(
            source="tfds:places365_small",
            image_size=224,
            batch_size=32,
            augment=False,
            gray_threshold=1.0,
        ),
        codec=CodecConfig(name="regression", normalization="sigmoid", rebalance=None),
        model=ModelConfig(name="iizuka", global_size=224),
        train=TrainConfig(epochs=10, learning_rate=1e-3, render_size=0),
    )


def _iizuka_cls() -> Config:
    # Iizuka's simultaneous classification: a head on the global features learns the scene
    # labels (Places' classes) with the colour loss + alpha * cross-entropy, alpha = 1/300.
    config = _iizuka()
    config.preset = "iizuka_cls"
    config.model.classify = True
    config.model.classification_weight = 1.0 / 300.0
    return config


def _unet_global() -> Config:
    # The video report's "U-Net CNN + Feature-Vektor": the 128x128 U-Net with a learned
    # global feature vector (Iizuka-style global branch on a 224x224 rescale) fused at its
    # bottleneck; MSE on sigmoid-normalized ab, Adam 1e-4 and batch 32 as the report.
    config = _unet_128()
    config.preset = "unet_global"
    config.codec = CodecConfig(name="regression", normalization="sigmoid", rebalance=None)
    config.model.global_features = "learned"
    config.data.batch_size = 32
    config.train.learning_rate = 1e-4
    return config


def _backbone_fusion() -> Config:
    # The Keras baseline after Emil Wallner's blog: 256x256 Lab, ab / 128 with a tanh head,
    # strided-conv encoder, a frozen ImageNet Inception-ResNet-v2 embedding fused at the
    # bottleneck, upsampling decoder; MSE with Adam (Keras' default rate 1e-3).
    return Config(
        preset="backbone_fusion",
        data=DataConfig(source="folder:images", image_size=256, batch_size=16, augment=True),
        codec=CodecConfig(name="regression", normalization="tanh", rebalance=None),
        model=ModelConfig(
            name="backbone_fusion",
            backbone="inception_resnet_v2",
            backbone_weights="imagenet",
        ),
        train=TrainConfig(epochs=30, learning_rate=1e-3),
    )


def _convlstm() -> Config:
    # The video report's U-Net + LSTM: videos scaled and padded to 240x135 (Lab), a U-Net
    # without batch norm with a ConvLSTM at its bottleneck whose state is carried from chunk
    # to chunk of a video and zeroed when the video ends; MSE on sigmoid-normalized ab, Adam
    # 1e-4, batches of 32 streams.
    return Config(
        preset="convlstm",
        data=DataConfig(
            source="video:videos",
            batch_size=32,
            frame_size=(240, 135),
            chunk_frames=8,
        ),
        codec=CodecConfig(name="regression", normalization="sigmoid", rebalance=None),
        model=ModelConfig(name="convlstm", filters=(16, 32, 64, 128), batch_norm=False),
        train=TrainConfig(epochs=20, learning_rate=1e-4, lr_schedule="constant"),
    )


def _convlstm_stateless() -> Config:
    # The report's non-stateful variant: the state is zeroed at every chunk.
    config = _convlstm()
    config.preset = "convlstm_stateless"
    config.model.stateful = False
    return config


def _convlstm_global() -> Config:
    # The report's "U-Net + Feature-Vektor + LSTM": a learned global vector per frame (on a
    # 224x224 rescale, as unet_global) fused into the bottleneck before the ConvLSTM.
    config = _convlstm()
    config.preset = "convlstm_global"
    config.model.global_features = "learned"
    return config


def _convlstm_big() -> Config:
    # The report's bigger U-Net with batch norm, with the ConvLSTM.
    config = _convlstm()
    config.preset = "convlstm_big"
    config.model.filters = (32, 64, 128, 256)
    config.model.batch_norm = True
    return config


PRESETS = {
    "unet_shapes": (_unet_shapes, "thesis U-Net, 324 grid bins, 32x32 shapes (the default)"),
    "unet_cifar": (_unet_cifar, "thesis U-Net, 324 grid bins, 12 CIFAR-100 classes via TFDS"),
    "unet_128": (_unet_128, "thesis 128x128 U-Net (16-128 filters), 324 bins, your photos"),
    "unet_mse": (_unet_mse, "thesis U-Net, regression on (ab + 128) / 255 with MSE"),
    "unet_gamut": (_unet_gamut, "Zhang et al.'s in-gamut bins on the 128x128 U-Net, 1/4 res."),
    "gamut_shapes": (_gamut_shapes, "Zhang et al.'s in-gamut bins on the thesis U-Net, shapes"),
    "iizuka": (_iizuka, "Iizuka et al. 2016 global/local fusion net, 224x224, sigmoid MSE"),
    "iizuka_cls": (_iizuka_cls, "Iizuka et al. with the simultaneous classification head"),
    "unet_global": (_unet_global, "video report's U-Net + learned global feature vector"),
    "backbone_fusion": (
        _backbone_fusion,
        "Keras baseline: encoder + Inception-ResNet-v2 embedding",
    ),
    "convlstm": (_convlstm, "video report's U-Net + ConvLSTM, stateful, 240x135 videos"),
    "convlstm_stateless": (_convlstm_stateless, "the same, state zeroed every chunk"),
    "convlstm_global": (_convlstm_global, "video U-Net + global feature vector + ConvLSTM"),
    "convlstm_big": (_convlstm_big, "video report's bigger U-Net with batch norm + ConvLSTM"),
}


def get_preset(name: str) -> Config:
    """Returns a fresh Config for a named preset.

    Raises:
        ValueError: the name is not a preset.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name][0]()
