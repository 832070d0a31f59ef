"""Tiny exports for the serving tests: built in seconds, untrained (the tests compare an export
with itself or with its bounds, never with a trained model's colours)."""

from __future__ import annotations

import pytest

# The budgets of the bound tests' exports: 4 megapixels, so that a header claiming a huge image
# meets the bound while real test images stay far within it; the network's input at most
# 256 x 256, so that rendering at the largest allowed size stays cheap.
SMALL_BUDGET = 4_000_000
SMALL_RENDER_BUDGET = 256 * 256


def _export(preset: str, base: str, max_pixels: int, classify: bool = False) -> str:
    from tests.helpers import smoke_preset
    from tfcolor.codecs import make_codec
    from tfcolor.export import saved_model as serving
    from tfcolor.models import build_model

    config = smoke_preset(preset)
    config.model.filters = (4, 8)  # the smallest U-Net: one down-sampling level
    if classify:
        config.model.classify = True
        config.model.class_names = ("red", "green")
    codec = make_codec(config.codec)
    model = build_model(config.model, codec)
    multiple = getattr(model, "downsampling", 1)
    if config.model.name == "convlstm":
        return serving.export_video_saved_model(
            model, codec, base, config.data.frame_size, 4, multiple, 0.5, max_pixels=max_pixels
        )
    class_names = config.model.class_names if config.model.classify else None
    return serving.export_saved_model(
        model, codec, base, 32, multiple, 0.5, class_names=class_names, max_pixels=max_pixels
    )


@pytest.fixture(scope="session")
def classifier_export(tmp_path_factory):
    """An export of a U-Net with a learned global path and its classification head
    (`class_probabilities`)."""
    base = str(tmp_path_factory.mktemp("classifier_export"))
    return _export("unet_global", base, SMALL_BUDGET, classify=True)


@pytest.fixture(scope="session")
def video_export(tmp_path_factory):
    """An export of a recurrent video U-Net (`colorize_video_chunk`, `video_state`)."""
    return _export("convlstm", str(tmp_path_factory.mktemp("video_export")), SMALL_BUDGET)


@pytest.fixture(scope="session")
def small_budget_export(trained_run, tmp_path_factory):
    """The trained run's network exported with the small budgets."""
    from tfcolor.export import saved_model as serving

    colorizer, _ = trained_run
    return serving.export_saved_model(
        colorizer.model,
        colorizer.codec,
        str(tmp_path_factory.mktemp("small_budget_export")),
        render_size=32,
        multiple=colorizer._multiple,
        temperature=colorizer.config.codec.temperature,
        max_pixels=SMALL_BUDGET,
        max_render_pixels=SMALL_RENDER_BUDGET,
    )


@pytest.fixture(scope="session")
def small_budget_loaded(small_budget_export):
    """`small_budget_export` loaded once (`tf.saved_model.load`), for the in-process tests."""
    import tensorflow as tf

    return tf.saved_model.load(small_budget_export)
