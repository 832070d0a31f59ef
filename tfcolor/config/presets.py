"""The named presets: one factory per seed system, and the registry (`PRESETS`, `get_preset`).

Each factory returns a fresh `Config` of one system of ../DESIGN.md, its variants chosen by
argument; `PRESETS` names each variant (the names `--preset` takes) with a line for `--help`.
`smoke` cuts any preset down to seconds of training (tests, a first try).
"""

from __future__ import annotations

from functools import partial

from tfcolor.config.configs import (
    CodecConfig,
    Config,
    DataConfig,
    ModelConfig,
    RefinementConfig,
    TrainConfig,
)

__all__ = [
    "PRESETS",
    "THESIS_CIFAR100_CLASSES",
    "backbone_fusion",
    "default_preset",
    "get_preset",
    "iizuka",
    "refinement",
    "smoke",
    "thesis_unet",
    "video_report",
    "zhang_gamut",
    "zhang_released",
]

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


def _thesis_training(epochs: int) -> TrainConfig:
    # The thesis's training: Adam 1e-3 at a constant rate (its code has no schedule).
    return TrainConfig(epochs=epochs, optimizer="adam", learning_rate=1e-3, lr_schedule="constant")


def _thesis_codec(temperature: float) -> CodecConfig:
    # 324 grid bins, plain (unweighted) cross-entropy, decoded by mode - (mode - mean) * T.
    return CodecConfig(
        name="grid", n_bins=324, decode="interp", temperature=temperature, rebalance=None
    )


def thesis_unet(variant: str = "shapes") -> Config:
    """The thesis's U-Net bin classifier: `thesis` (its toy run on the shapes, as it trained:
    plain cross-entropy, Adam 1e-3 at a constant rate, batch 64), `shapes` (the same network
    with tfcolor's measured improvements: the default preset), `cifar` (its 12 CIFAR-100
    classes), `128` (the 128x128 U-Net on your photos) or `mse` (its regression variant).

    `thesis`, `cifar` and `mse` train as the thesis did; `shapes` and `128` with the changes
    measured on their data (the shapes; held-out frames of real clips). The thesis's other runs
    are flags: `--optimizer rmsprop`, `--activation leaky_relu|tanh`, `--learning-rate 1e-4`.
    """
    if variant == "shapes":
        # The default: the thesis's 32x32 run with tfcolor's changes. Plain CE at Adam 1e-3
        # predicted only the black background for 14 epochs (DESIGN.md, measured); rebalancing
        # (lambda 0.5, Zhang et al.) with Adam 3e-3 reached 98.5 % of pixels in 12 epochs, and
        # the cosine decay settles the last epochs' accuracy (TrainConfig.lr_schedule).
        return Config(
            preset="unet_shapes",
            data=DataConfig(source="shapes", image_size=32, batch_size=32),
            codec=CodecConfig(
                name="grid", n_bins=324, decode="interp", temperature=0.0, rebalance=0.5
            ),
            model=ModelConfig(name="unet", filters=(8, 16, 32)),
            train=TrainConfig(epochs=12, learning_rate=3e-3),
        )
    if variant == "thesis":
        # The same run as the thesis trained it (epochs: the default's 12, to compare).
        return Config(
            preset="unet_thesis",
            data=DataConfig(source="shapes", image_size=32, batch_size=64),
            codec=_thesis_codec(temperature=0.0),
            model=ModelConfig(name="unet", filters=(8, 16, 32)),
            train=_thesis_training(epochs=12),
        )
    if variant == "cifar":
        # 12 nature classes at 32x32.
        return Config(
            preset="unet_cifar",
            data=DataConfig(
                source="tfds:cifar100",
                image_size=32,
                batch_size=64,
                augment=True,
                classes=THESIS_CIFAR100_CLASSES,
            ),
            codec=_thesis_codec(temperature=0.8),
            model=ModelConfig(name="unet", filters=(8, 16, 32)),
            train=_thesis_training(epochs=30),
        )
    if variant == "128":
        # The thesis's 128x128 U-Net: its Conv2dBlocks of 16, 32, 64, 128 and 256 filters
        # (four poolings, down to 8x8), 2.17M parameters. The thesis found halving them
        # (`--filters 8,16,32,64,128`) worse on its landscapes. tfcolor built 16/32/64/128/128
        # (1.43M) before; runs made then keep those filters in their config.json and rebuild it.
        # Trained for real photos as `bench quality` measured on held-out frames of real clips
        # (README, "Quality on real footage"): the thesis's plain cross-entropy and decoding
        # (batch 64, 30 epochs, interpolated mode at T 0.8) left bikes' colours at a third of
        # the truth's colourfulness (0.84x gray's ab error); rebalancing (lambda 0.5), the
        # annealed mean at T 0.8, batch 16 and 120 epochs reach 0.68x and 0.40x of gray's
        # error on bikes and carphone with the truth's colourfulness.
        return Config(
            preset="unet_128",
            data=DataConfig(source="folder:images", image_size=128, batch_size=16, augment=True),
            codec=CodecConfig(
                name="grid", n_bins=324, decode="annealed_mean", temperature=0.8, rebalance=0.5
            ),
            model=ModelConfig(name="unet", filters=(16, 32, 64, 128, 256)),
            train=_thesis_training(epochs=120),
        )
    if variant == "mse":
        # The regression variant: (ab + 128) / 255, MSE, trained as the thesis's toy run.
        config = thesis_unet("thesis")
        config.preset = "unet_mse"
        config.codec = CodecConfig.for_codec("regression", normalization="unit")
        return config
    raise ValueError(
        f"thesis_unet variants: thesis, shapes, cifar, 128, mse. Received: {variant!r}"
    )


def zhang_gamut(data: str = "photos") -> Config:
    """Zhang et al. 2016's codec (in-gamut bins, soft-encoded, rebalanced, annealed mean at
    T = 0.38) on the thesis's U-Net, the GAN system's pre-training (`refinement` is its
    second stage): `photos` (the 128x128 U-Net predicting at 1/4 of the resolution, as
    Zhang's network does) or `shapes` (the toy data: fast enough for a laptop, or a test)."""
    if data == "photos":
        # The GAN project pre-trained on Places365 at 256x256 for fewer than 15 epochs (its
        # refinement: about 8, `refinement`). Zhang trained a 32M-parameter VGG-style net
        # with Adam 3e-5; this 2.2M-parameter U-Net with batch norm uses the thesis's 1e-3,
        # at batch 16 (the project's optimizer and batch are not in DESIGN.md's summary).
        config = thesis_unet("128")
        config.preset = "unet_gamut"
        config.data = DataConfig(
            source="tfds:places365_small",  # Places365 at 256x256
            image_size=256,
            batch_size=16,
            augment=True,
            gray_threshold=5.0,  # Zhang et al. drop images whose ab is near zero
        )
        config.model.output_stride = 4
        config.train.epochs = 14
    elif data == "shapes":
        config = thesis_unet("shapes")
        config.preset = "gamut_shapes"
    else:
        raise ValueError(f"zhang_gamut data: photos, shapes. Received: {data!r}")
    config.codec = CodecConfig.for_codec("gamut", rebalance=0.5)
    return config


def zhang_released(network: str = "eccv16") -> Config:
    """Zhang et al.'s released colorizers, as `python -m tfcolor.convert` writes their runs:
    `eccv16` ("Colorful Image Colorization", ECCV 2016: 313 bins at 1/4 resolution, decoded
    as the reference does, by the expectation over the bins: annealed mean at T = 1;
    `--temperature 0.38` is the paper's annealed mean) or `siggraph17` (the user-guided
    network of SIGGRAPH 2017 in automatic mode: ab / 110 regressed through tanh).

    Both predict at 256x256 as the reference's demo does; training from scratch or on (a run
    converted from the released weights: fine-tuning) uses the authors' Adam 3e-5 on your
    photos, gray images (|ab| < 5) dropped as Zhang et al. did. The ECCV 2016 network trains
    with the gamut codec (soft encoding over 5 bins, rebalancing lambda 0.5) on its own 313
    bins once converted (on the 261 computed ones from scratch).
    """
    data = DataConfig(
        source="folder:images", image_size=256, batch_size=16, augment=True, gray_threshold=5.0
    )
    # Adam 3e-5 (Zhang et al. 2016, section 3.1), a few epochs: fine-tuning, not training.
    train = TrainConfig(epochs=5, learning_rate=3e-5)
    if network == "eccv16":
        return Config(
            preset="zhang_eccv16",
            data=data,
            codec=CodecConfig.for_codec("gamut", temperature=1.0, rebalance=0.5),
            # The reference's filters of blocks 1-8 (tfcolor.models.zhang.ECCV16_FILTERS).
            model=ModelConfig(
                name="zhang_eccv16",
                filters=(64, 128, 256, 512, 512, 512, 512, 256),
                output_stride=4,
            ),
            train=train,
        )
    if network == "siggraph17":
        return Config(
            preset="zhang_siggraph17",
            data=data,
            codec=CodecConfig.for_codec("regression", normalization="tanh110"),
            # The reference's filters of blocks 1-10 (tfcolor.models.zhang.SIGGRAPH17_FILTERS).
            model=ModelConfig(
                name="zhang_siggraph17",
                filters=(64, 128, 256, 512, 512, 512, 512, 256, 128, 128),
                output_stride=1,
            ),
            train=train,
        )
    raise ValueError(f"zhang_released networks: eccv16, siggraph17. Received: {network!r}")


def refinement() -> RefinementConfig:
    """The GAN system's second stage: WGAN-GP fine-tuning of a `zhang_gamut` run
    (`python -m tfcolor.refine`), with the settings of Gulrajani et al. and the project
    (about 8 epochs of refinement: `RefinementConfig.epochs`)."""
    return RefinementConfig()


def iizuka(classify: bool = False, global_network: bool = True) -> Config:
    """Iizuka et al. 2016 on 224x224 Places; `classify` adds the simultaneous classification
    head on the global features (colour loss + alpha * cross-entropy, alpha = 1/300);
    `global_network=False` is the course report's basic model (no global features network,
    no fusion), trained on the same data with the same settings for its comparison "Basic
    colorization model vs Full colorization model"."""
    # The paper: 2.3M images of Places205, gray ones removed; MSE on sigmoid-normalized ab,
    # ab = (2 sigmoid - 1) 100, predicted at half the input's resolution and upsampled (the
    # network's own output stride of 2: IizukaNet). It trained with Adadelta at batch 128;
    # the course report that reimplemented it used Adam and suggests a rate of 1e-5 at batch
    # 64 (no schedule named: constant), and filtered gray images (|a|, |b| < 1). The global
    # path sees a 224x224 rescale, so predictions run at each image's own size.
    config = Config(
        preset="iizuka",
        data=DataConfig(
            source="tfds:places365_small",
            image_size=224,
            batch_size=64,
            augment=False,
            gray_threshold=1.0,
        ),
        codec=CodecConfig.for_codec("regression", normalization="sigmoid"),
        model=ModelConfig(name="iizuka", global_size=224),
        train=TrainConfig(epochs=10, learning_rate=1e-5, lr_schedule="constant", render_size=0),
    )
    if classify:
        config.preset = "iizuka_cls"
        config.model.classify = True
        config.model.classification_weight = 1.0 / 300.0
    if not global_network:
        config.preset = "iizuka_basic"
        config.model.global_network = False
    return config


def backbone_fusion() -> Config:
    """The Keras baseline after Emil Wallner's blog: 256x256 Lab, ab / 128 with a tanh head,
    strided-conv encoder, a frozen ImageNet Inception-ResNet-v2 embedding fused at the
    bottleneck, upsampling decoder; MSE with Adam (Keras' default rate 1e-3)."""
    return Config(
        preset="backbone_fusion",
        data=DataConfig(source="folder:images", image_size=256, batch_size=16, augment=True),
        codec=CodecConfig.for_codec("regression", normalization="tanh"),
        model=ModelConfig(
            name="backbone_fusion",
            backbone="inception_resnet_v2",
            backbone_weights="imagenet",
        ),
        train=TrainConfig(epochs=30, learning_rate=1e-3),
    )


def video_report(variant: str = "convlstm") -> Config:
    """The video report's networks: `convlstm` (U-Net + ConvLSTM, its state carried from chunk
    to chunk), `stateless` (the state zeroed every chunk), `global` (+ a learned global
    feature vector per frame), `big` (the bigger U-Net with batch norm), and `unet_global`
    (its image model: the 128x128 U-Net + a learned global feature vector)."""
    if variant == "unet_global":
        # "U-Net CNN + Feature-Vektor": an Iizuka-style global branch on a 224x224 rescale
        # fused at the bottleneck; MSE on sigmoid-normalized ab, Adam 1e-4 and batch 32.
        # The schedule (cosine) and the gray filter (|ab| < 1) are tfcolor's, as before.
        config = thesis_unet("128")
        config.preset = "unet_global"
        config.codec = CodecConfig.for_codec("regression", normalization="sigmoid")
        config.model.global_features = "learned"
        config.data.batch_size = 32
        config.data.gray_threshold = 1.0
        config.train.learning_rate = 1e-4
        config.train.lr_schedule = "cosine"
        return config
    # Videos scaled and padded to 240x135 (Lab), a U-Net without batch norm with a ConvLSTM at
    # its bottleneck whose state is carried from chunk to chunk of a video and zeroed when the
    # video ends; MSE on sigmoid-normalized ab, Adam 1e-4, batches of 32 streams.
    config = Config(
        preset="convlstm",
        data=DataConfig(
            source="video:videos",
            batch_size=32,
            frame_size=(240, 135),
            chunk_frames=8,
        ),
        codec=CodecConfig.for_codec("regression", normalization="sigmoid"),
        model=ModelConfig(name="convlstm", filters=(16, 32, 64, 128), batch_norm=False),
        train=TrainConfig(epochs=20, learning_rate=1e-4, lr_schedule="constant"),
    )
    if variant == "convlstm":
        return config
    config.preset = f"convlstm_{variant}"
    if variant == "stateless":
        config.model.stateful = False
    elif variant == "global":
        # "U-Net + Feature-Vektor + LSTM": a learned global vector per frame (on a 224x224
        # rescale, as unet_global) fused into the bottleneck before the ConvLSTM.
        config.model.global_features = "learned"
    elif variant == "big":
        # The report's bigger U-Net with batch norm, plus a ConvLSTM the report does not list
        # for it (kept, to compare): its own is the image U-Net at these filters on the same
        # frames (README, "Image models on video").
        config.model.filters = (32, 64, 128, 256)
        config.model.batch_norm = True
    else:
        raise ValueError(
            "video_report variants: convlstm, stateless, global, big, unet_global. "
            f"Received: {variant!r}"
        )
    return config


def smoke(name: str = "unet_shapes", **train) -> Config:
    """Preset `name` cut to seconds of training: 32x32 images (video: 32x24 frames, 2 streams
    of 4-frame chunks), batch 4, at most 16 filters per level, a 32x32 global path, a random
    MobileNetV2 for the backbone, no image metrics or panels, one epoch at a constant
    learning rate of 1e-3; `train` sets TrainConfig fields on top.

    The data is `shapes` for image presets and a placeholder `video:unused` folder for video
    presets (give the Colorizer its own input functions, or set `data.source`)."""
    config = get_preset(name)
    video = config.model.name == "convlstm"
    config.data.source = "video:unused" if video else "shapes"
    config.data.validation_source = None
    config.data.image_size = 32
    config.data.batch_size = 2 if video else 4
    config.data.augment = False
    config.data.gray_threshold = None
    config.data.frame_size = (32, 24)
    config.data.chunk_frames = 4
    config.model.filters = tuple(min(filters, 16) for filters in config.model.filters)
    config.model.global_size = 32
    config.model.backbone = "mobilenet_v2"
    config.model.backbone_weights = None
    if config.model.classify:
        config.model.class_names = ("red", "green")
    config.train.epochs = 1
    config.train.learning_rate = 1e-3
    config.train.lr_schedule = "constant"
    config.train.panel_images = 0
    config.train.metric_images = 0
    for key, value in train.items():
        setattr(config.train, key, value)
    return config


def _smoke_preset() -> Config:
    # The registry's `smoke`: the default preset in seconds (20 steps of shapes).
    config = smoke("unet_shapes", steps_per_epoch=20)
    config.preset = "smoke"
    return config


PRESETS = {
    "unet_shapes": (
        partial(thesis_unet, "shapes"),
        "thesis U-Net on 32x32 shapes, rebalanced, Adam 3e-3 cosine (the default)",
    ),
    "unet_thesis": (
        partial(thesis_unet, "thesis"),
        "thesis U-Net on 32x32 shapes as the thesis trained it (plain CE, Adam 1e-3)",
    ),
    "unet_cifar": (
        partial(thesis_unet, "cifar"),
        "thesis U-Net, 324 grid bins, 12 CIFAR-100 classes via TFDS",
    ),
    "unet_128": (
        partial(thesis_unet, "128"),
        "thesis 128x128 U-Net (16-256 filters), 324 bins rebalanced, your photos",
    ),
    "unet_mse": (
        partial(thesis_unet, "mse"),
        "thesis U-Net, regression on (ab + 128) / 255 with MSE",
    ),
    "unet_gamut": (
        partial(zhang_gamut, "photos"),
        "GAN project's pre-training: Zhang et al.'s bins, U-Net, Places365 256x256",
    ),
    "gamut_shapes": (
        partial(zhang_gamut, "shapes"),
        "Zhang et al.'s in-gamut bins on the thesis U-Net, shapes",
    ),
    "zhang_eccv16": (
        partial(zhang_released, "eccv16"),
        "Zhang et al. 2016's released network, 313 bins (python -m tfcolor.convert)",
    ),
    "zhang_siggraph17": (
        partial(zhang_released, "siggraph17"),
        "Zhang et al. 2017's user-guided network, automatic mode (tfcolor.convert)",
    ),
    "iizuka": (partial(iizuka), "Iizuka et al. 2016 global/local fusion net, 224x224, sigmoid MSE"),
    "iizuka_cls": (
        partial(iizuka, classify=True),
        "Iizuka et al. with the simultaneous classification head",
    ),
    "iizuka_basic": (
        partial(iizuka, global_network=False),
        "Iizuka et al. without the global network (the course report's basic model)",
    ),
    "unet_global": (
        partial(video_report, "unet_global"),
        "video report's U-Net + learned global feature vector",
    ),
    "backbone_fusion": (
        partial(backbone_fusion),
        "Keras baseline: encoder + Inception-ResNet-v2 embedding",
    ),
    "convlstm": (
        partial(video_report, "convlstm"),
        "video report's U-Net + ConvLSTM, stateful, 240x135 videos",
    ),
    "convlstm_stateless": (
        partial(video_report, "stateless"),
        "the same, state zeroed every chunk",
    ),
    "convlstm_global": (
        partial(video_report, "global"),
        "video U-Net + global feature vector + ConvLSTM",
    ),
    "convlstm_big": (
        partial(video_report, "big"),
        "video report's bigger U-Net with batch norm + ConvLSTM",
    ),
    "smoke": (_smoke_preset, "the default preset cut to seconds (tests, a first try)"),
}


def get_preset(name: str) -> Config:
    """Returns a fresh Config for a named preset.

    Raises:
        ValueError: the name is not a preset.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name][0]()


# The preset a run takes when none is named: the thesis's toy net for its shapes, the 128x128
# U-Net (the README's preset for one's own photos) for real images and frames.
SHAPES_PRESET = "unet_shapes"
REAL_PHOTO_PRESET = "unet_128"


def default_preset(source: str | None) -> str:
    """The preset for a data source when none is named: `unet_shapes` for the built-in
    `shapes` (or no source), `unet_128` for everything else (`folder:`, `tfds:`, `tfrecord:`,
    `video:`): real photos and frames must not take the 32x32 toy settings.
    """
    if source is None or source == "shapes":
        return SHAPES_PRESET
    return REAL_PHOTO_PRESET
