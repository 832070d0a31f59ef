"""Temporal consistency of colorized video: colour distribution consistency and warping error.

A video colorizer can score well frame by frame and still flicker. The video colorization
literature measures that with two numbers, each reported beside the same number of the ground
truth (the truth moves and changes light too, so its own value is the floor to compare with):

    `cdc`, `cdc_per_clip`: colour distribution consistency, Liu et al., "Temporally consistent
        video colorization with deep feature propagation and self-regularization learning"
        (TCVC, arXiv 2110.04562, 2021; Computational Visual Media 2024). For each dilation d in
        (1, 2, 4) and each frame t with t + d < T, the Jensen-Shannon divergence between the
        normalized 256-bin histogram of one RGB channel in frame t and in frame t + d, averaged
        over t and the three channels; then the three dilations averaged with equal weights.
        Lower is more consistent; 0 for a clip whose histograms never change.
    `warp_error`, `warp_error_per_pair`: the temporal warping error of Lai et al., "Learning
        Blind Video Temporal Consistency" (ECCV 2018). Optical flow between truth frames t - 1
        and t; output frame t warped onto frame t - 1 along it; the mean squared difference
        from output frame t - 1 over the pixels that are visible in both frames; averaged over
        the T - 1 pairs. Lower is more consistent.

Both run on decoded frames after inference, in numpy and OpenCV, not in the training graph.

Conventions, checked against the reference implementations:
    CDC: natural logarithm, so the divergence of two disjoint histograms is ln 2 = 0.693. TCVC's
        `codes/eval_results.py` (`JS_divergence`, `compute_JS_bgr`, `calculate_folders_multiple`
        with dilation [1, 2, 4] and weight [1/3, 1/3, 1/3]) uses `scipy.stats.entropy`, whose
        default base is e, and the NTIRE 2023 video colorization challenge's `cdc.py` copies
        it. Empty bins contribute 0 (0 log 0 = 0). A clip shorter than d + 1 frames has no pair
        at dilation d: that dilation is left out and the others are averaged with equal weights
        (the reference takes the mean of an empty list, NaN). Over several clips the reference
        averages the clips' values with equal weights.
    Warping error: as Lai et al.'s `evaluate_WarpError.py` and `compute_flow_occlusion.py`
        (fast_blind_video_consistency): RGB scaled to [0, 1]; the forward flow F of frame t - 1
        to frame t (frame_{t-1}(x) ~ frame_t(x + F(x))) samples frame t at x + F(x), bilinear,
        coordinates clamped at the border (their Resample2d); the squared difference averaged
        over the non-occluded pixels and the three channels (a pair with no such pixel counts
        0, as theirs); the pairs' mean per clip. The occlusion rule is theirs
        (`detect_occlusion`, after Ruder, Dosovitskiy and Brox 2016, "Artistic style transfer
        for videos"): with B the backward flow of frame t to frame t - 1 sampled at x + F(x), a
        pixel is occluded where |F + B|^2 > 0.01 (|F|^2 + |B|^2) + 0.5 (forward and backward
        flow disagree), or on a motion boundary, |grad F_x|^2 + |grad F_y|^2 > 0.01 |F|^2 +
        0.002 (forward differences). Lai et al. estimate flow with FlowNet2 on the input video;
        here it is OpenCV's DIS (Kroeger et al. 2016, preset MEDIUM) on the grayscale truth, or
        Farneback (2003) with the parameters of OpenCV's optical flow tutorial. Measured on the
        truth's motion, the output and the truth are compared on the same flow and mask.

Inputs: RGB clips uint8 [T, H, W, 3]; float clips in [0, 1] are accepted too and quantized to
uint8 first (round(255 x)), as the references read frames back from 8-bit image files.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import numpy as np

__all__ = [
    "CDC_DILATIONS",
    "TemporalMetrics",
    "cdc",
    "cdc_per_clip",
    "temporal_metrics",
    "warp_error",
    "warp_error_per_pair",
]

# TCVC's dilations, each weighted 1/3.
CDC_DILATIONS = (1, 2, 4)
HISTOGRAM_BINS = 256
# Lai et al. 2018's forward-backward consistency check (after Ruder et al. 2016).
OCCLUSION_RELATIVE = 0.01
OCCLUSION_ABSOLUTE = 0.5  # pixels^2
# Lai et al. 2018's motion boundary check on the forward flow's gradient.
MOTION_BOUNDARY_RELATIVE = 0.01
MOTION_BOUNDARY_ABSOLUTE = 0.002
FLOW_METHODS = ("dis", "farneback")
# OpenCV's dense optical flow tutorial calls Farneback with these.
FARNEBACK_PARAMETERS = {
    "pyr_scale": 0.5,
    "levels": 3,
    "winsize": 15,
    "iterations": 3,
    "poly_n": 5,
    "poly_sigma": 1.2,
    "flags": 0,
}
_WEIGHTINGS = ("frames", "clips")
_METRIC_NAMES = ("cdc", "warp_error", "cdc_true", "warp_error_true")


# === Inputs ===


def _uint8_clip(frames, name: str) -> np.ndarray:
    """uint8 [T, H, W, 3] with T >= 2 from uint8 or float-in-[0, 1] frames, else ValueError."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 2:
        raise ValueError(
            f"{name} must be a clip of at least 2 RGB frames, shape [T, H, W, 3]. "
            f"Received: {name}.shape={frames.shape}"
        )
    if frames.dtype == np.uint8:
        return frames
    if not np.issubdtype(frames.dtype, np.floating):
        raise ValueError(
            f"{name} must be uint8, or float in [0, 1]. Received: {name}.dtype={frames.dtype}"
        )
    return np.round(np.clip(frames, 0.0, 1.0) * 255.0).astype(np.uint8)


def _check_dilations(dilations: Sequence[int]) -> tuple[int, ...]:
    dilations = tuple(dilations)
    if not dilations or any(
        isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1 for d in dilations
    ):
        raise ValueError(
            f"dilations must be a non-empty sequence of positive integers. "
            f"Received: dilations={dilations!r}"
        )
    return tuple(int(d) for d in dilations)


def _check_flow(flow: str) -> str:
    if flow not in FLOW_METHODS:
        raise ValueError(f"flow must be one of {', '.join(FLOW_METHODS)}. Received: flow={flow!r}")
    return flow


def _check_same_shape(output: np.ndarray, truth: np.ndarray) -> None:
    if output.shape != truth.shape:
        raise ValueError(
            f"output and truth must be clips of the same shape. "
            f"Received: output.shape={output.shape}, truth.shape={truth.shape}"
        )


# === Colour distribution consistency ===


def _channel_histograms(frames: np.ndarray) -> np.ndarray:
    """float64 [T, 3, 256]: each frame's per-channel histogram of uint8 frames, summing to 1."""
    # One bincount per frame over (channel, value) pairs: no [T, H, W, 3] int64 copy of a clip.
    channel_offsets = np.arange(3, dtype=np.int32) * HISTOGRAM_BINS
    pixels = frames.shape[1] * frames.shape[2]
    counts = np.stack(
        [
            np.bincount(
                (frame.reshape(-1, 3) + channel_offsets).ravel(), minlength=3 * HISTOGRAM_BINS
            )
            for frame in frames
        ]
    )
    return counts.reshape(len(frames), 3, HISTOGRAM_BINS) / pixels


def _kl_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """sum p ln(p / q) over the last axis, 0 where p = 0; q > 0 wherever p > 0."""
    ratio = np.divide(p, q, out=np.ones_like(p), where=p > 0)
    return np.sum(p * np.log(ratio), axis=-1)


def _js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence in nats over the last axis: in [0, ln 2]."""
    mixture = 0.5 * (p + q)
    return 0.5 * _kl_divergence(p, mixture) + 0.5 * _kl_divergence(q, mixture)


def _clip_cdc(frames: np.ndarray, dilations: tuple[int, ...], name: str) -> float:
    histograms = _channel_histograms(frames)
    count = len(frames)
    per_dilation = [
        # [T - d, 3] divergences; their mean is the mean over t of the mean over channels.
        np.mean(_js_divergence(histograms[:-d], histograms[d:]))
        for d in dilations
        if d < count
    ]
    if not per_dilation:
        raise ValueError(
            f"{name} is shorter than every dilation: no frame pair to compare. "
            f"Received: {name}.shape={frames.shape}, dilations={dilations}"
        )
    return float(np.mean(per_dilation))


def cdc_per_clip(clips: Iterable, dilations: Sequence[int] = CDC_DILATIONS) -> np.ndarray:
    """Colour distribution consistency of each clip (see `cdc`).

    Args:
        clips: uint8 (or float in [0, 1]) RGB, shape [N, T, H, W, 3], or a sequence of clips
            [T_i, H_i, W_i, 3] of any lengths and sizes.
        dilations: the frame distances compared; TCVC's (1, 2, 4) by default.

    Returns:
        float64 [N], in [0, ln 2].

    Raises:
        ValueError: a clip that is not [T, H, W, 3] with T >= 2, or shorter than every
            dilation; dilations that are not positive integers.
    """
    dilations = _check_dilations(dilations)
    values = [
        _clip_cdc(_uint8_clip(clip, f"clips[{index}]"), dilations, f"clips[{index}]")
        for index, clip in enumerate(clips)
    ]
    return np.array(values, np.float64)


def cdc(frames, dilations: Sequence[int] = CDC_DILATIONS) -> float:
    """Colour distribution consistency (Liu et al., TCVC) of a clip, or mean over clips.

    For each dilation d and each frame t with t + d < T: the Jensen-Shannon divergence, in nats
    (natural log, as the reference's `scipy.stats.entropy`), between the normalized 256-bin
    histograms of frame t and frame t + d, channel by channel. Averaged over t and the three
    channels, then over the dilations with equal weights. A dilation with no pair (T <= d) is
    left out and the others share its weight.

    Args:
        frames: uint8 (or float in [0, 1]) RGB, one clip [T, H, W, 3] with T >= 2, or a batch
            of clips [N, T, H, W, 3] (the clips' mean, each clip weighted equally as in TCVC).
        dilations: the frame distances compared; TCVC's (1, 2, 4) by default.

    Returns:
        CDC in [0, ln 2]: 0 when every frame has the same histograms, ln 2 = 0.693 when every
        compared pair has disjoint ones. Lower is more consistent.

    Raises:
        ValueError: frames not [T, H, W, 3] or [N, T, H, W, 3] with T >= 2, a clip shorter than
            every dilation, or dilations that are not positive integers (the message names the
            shape or the dilations received).
    """
    frames = np.asarray(frames)
    if frames.ndim == 5:
        return float(np.mean(cdc_per_clip(frames, dilations)))
    dilations = _check_dilations(dilations)
    return _clip_cdc(_uint8_clip(frames, "frames"), dilations, "frames")


# === Warping error ===


def _optical_flow(first: np.ndarray, second: np.ndarray, flow: str, dis) -> np.ndarray:
    """float32 [H, W, 2] flow F of grayscale uint8 `first` to `second`: first(x) ~ second(x + F)."""
    if flow == "dis":
        return dis.calc(first, second, None)
    return cv2.calcOpticalFlowFarneback(first, second, None, **FARNEBACK_PARAMETERS)


def _warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """`image` sampled at x + flow(x), bilinear, coordinates clamped to the border."""
    height, width = flow.shape[:2]
    columns, rows = np.meshgrid(
        np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)
    )
    return cv2.remap(
        image,
        columns + flow[..., 0],
        rows + flow[..., 1],
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def _squared_norm(vectors: np.ndarray) -> np.ndarray:
    return np.sum(np.square(vectors, dtype=np.float64), axis=-1)


def _non_occluded(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """bool [H, W]: pixels of frame t - 1 seen in frame t, by Lai et al.'s two checks.

    Args:
        forward: float32 [H, W, 2], flow of frame t - 1 to frame t.
        backward: float32 [H, W, 2], flow of frame t to frame t - 1.
    """
    backward_at_target = _warp(backward, forward)
    disagreement = _squared_norm(forward + backward_at_target)
    inconsistent = (
        disagreement
        > OCCLUSION_RELATIVE * (_squared_norm(forward) + _squared_norm(backward_at_target))
        + OCCLUSION_ABSOLUTE
    )
    # Forward differences, 0 on the last row and column, as Lai et al.'s compute_flow_gradients.
    forward = forward.astype(np.float64)
    d_column = np.zeros_like(forward)
    d_row = np.zeros_like(forward)
    d_column[:, :-1] = forward[:, :-1] - forward[:, 1:]
    d_row[:-1] = forward[:-1] - forward[1:]
    gradient = _squared_norm(d_column) + _squared_norm(d_row)
    boundary = gradient > MOTION_BOUNDARY_RELATIVE * _squared_norm(forward) + (
        MOTION_BOUNDARY_ABSOLUTE
    )
    return ~(inconsistent | boundary)


def _truth_motion(truth: np.ndarray, flow: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The truth's forward flows (t - 1 to t) and non-occlusion masks, one per frame pair."""
    gray = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in truth]
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM) if flow == "dis" else None
    forward_flows, masks = [], []
    for previous, current in zip(gray[:-1], gray[1:], strict=True):
        forward = _optical_flow(previous, current, flow, dis)
        backward = _optical_flow(current, previous, flow, dis)
        forward_flows.append(forward)
        masks.append(_non_occluded(forward, backward))
    return forward_flows, masks


def _pair_errors(frames: np.ndarray, forward_flows, masks) -> np.ndarray:
    """float64 [T - 1]: Lai et al.'s error of each pair of uint8 frames, RGB in [0, 1]."""
    unit = frames.astype(np.float32) / 255.0
    errors = []
    for previous, current, forward, mask in zip(
        unit[:-1], unit[1:], forward_flows, masks, strict=True
    ):
        squared = np.square(_warp(current, forward) - previous, dtype=np.float64)
        visible = np.count_nonzero(mask)
        # Lai et al. divide by every value when nothing is visible: the masked sum, 0, stays 0.
        errors.append(np.sum(squared[mask]) / (3 * visible) if visible else 0.0)
    return np.array(errors, np.float64)


def warp_error_per_pair(output, truth, flow: str = "dis") -> np.ndarray:
    """Lai et al.'s warping error of each pair of consecutive frames (see `warp_error`).

    Args:
        output: uint8 (or float in [0, 1]) RGB clip [T, H, W, 3], T >= 2.
        truth: the ground-truth clip, same shape; the flow and the occlusion mask come from it.
        flow: `"dis"` (OpenCV DIS, preset MEDIUM) or `"farneback"`.

    Returns:
        float64 [T - 1]: at index t - 1 the error between output frames t - 1 and t.

    Raises:
        ValueError: clips that are not [T, H, W, 3] with T >= 2, or not of the same shape
            (the message names both shapes), or an unknown flow.
    """
    flow = _check_flow(flow)
    output = _uint8_clip(output, "output")
    truth = _uint8_clip(truth, "truth")
    _check_same_shape(output, truth)
    return _pair_errors(output, *_truth_motion(truth, flow))


def warp_error(output, truth, flow: str = "dis") -> float:
    """Temporal warping error of Lai et al. 2018, on the ground truth's motion.

    For each pair of frames t - 1, t: the optical flow of truth frame t - 1 to truth frame t
    (grayscale), output frame t warped onto frame t - 1 along it (bilinear), and the mean
    squared difference from output frame t - 1 on RGB scaled to [0, 1], over the pixels the
    forward-backward and motion boundary checks find visible in both frames (and over the
    channels). The mean over the T - 1 pairs. `warp_error(truth, truth)` is the truth's own
    error: flow error, interpolation, lighting changes and compression noise, the floor an
    output is compared with.

    Args:
        output: uint8 (or float in [0, 1]) RGB clip [T, H, W, 3], T >= 2.
        truth: the ground-truth clip, same shape.
        flow: `"dis"` (OpenCV DIS, preset MEDIUM) or `"farneback"`.

    Returns:
        The warping error, >= 0 (a squared error on [0, 1] values). Lower is more consistent.

    Raises:
        ValueError: clips that are not [T, H, W, 3] with T >= 2, or not of the same shape
            (the message names both shapes), or an unknown flow.
    """
    return float(np.mean(warp_error_per_pair(output, truth, flow)))


# === Both, for an evaluation loop ===


def temporal_metrics(
    output, truth, dilations: Sequence[int] = CDC_DILATIONS, flow: str = "dis"
) -> dict[str, float]:
    """CDC and warping error of one output clip, and of its truth (the floor), flow shared.

    Args:
        output: uint8 (or float in [0, 1]) RGB clip [T, H, W, 3], T >= 2.
        truth: the ground-truth clip, same shape.
        dilations: CDC's frame distances.
        flow: `"dis"` or `"farneback"`, the warping error's optical flow.

    Returns:
        {"cdc": ..., "warp_error": ..., "cdc_true": ..., "warp_error_true": ...}, floats.

    Raises:
        ValueError: clips that are not [T, H, W, 3] with T >= 2, or not of the same shape
            (the message names both shapes); bad dilations or flow.
    """
    dilations = _check_dilations(dilations)
    flow = _check_flow(flow)
    output = _uint8_clip(output, "output")
    truth = _uint8_clip(truth, "truth")
    _check_same_shape(output, truth)
    motion = _truth_motion(truth, flow)
    return {
        "cdc": _clip_cdc(output, dilations, "output"),
        "warp_error": float(np.mean(_pair_errors(output, *motion))),
        "cdc_true": _clip_cdc(truth, dilations, "truth"),
        "warp_error_true": float(np.mean(_pair_errors(truth, *motion))),
    }


class TemporalMetrics:
    """`temporal_metrics` accumulated over clips, for an evaluation loop fed clip by clip.

    Example:
        metrics = TemporalMetrics()
        for output_clip, truth_clip in clips:
            metrics.update(output_clip, truth_clip)
        metrics.result()  # {"cdc": ..., "warp_error": ..., "cdc_true": ..., ...}

    Args:
        dilations: CDC's frame distances.
        flow: `"dis"` or `"farneback"`, the warping error's optical flow.
        weighting: `"frames"`, each clip's values weighted by its number of frames (a long
            clip counts as much as the same frames cut into short ones), or `"clips"`, every
            clip weighted equally, as TCVC's and Lai et al.'s evaluation scripts average over a
            dataset's videos.
    """

    def __init__(
        self,
        dilations: Sequence[int] = CDC_DILATIONS,
        flow: str = "dis",
        weighting: str = "frames",
    ):
        if weighting not in _WEIGHTINGS:
            raise ValueError(
                f"weighting must be one of {', '.join(_WEIGHTINGS)}. Received: weighting="
                f"{weighting!r}"
            )
        self.dilations = _check_dilations(dilations)
        self.flow = _check_flow(flow)
        self.weighting = weighting
        self.reset()

    def update(self, output_clip, truth_clip) -> dict[str, float]:
        """Adds one clip: output and truth, uint8 (or float in [0, 1]) [T, H, W, 3].

        Returns:
            The clip's own `temporal_metrics`.

        Raises:
            ValueError: as `temporal_metrics`; nothing is added then.
        """
        values = temporal_metrics(output_clip, truth_clip, self.dilations, self.flow)
        weight = float(np.shape(truth_clip)[0]) if self.weighting == "frames" else 1.0
        for name in _METRIC_NAMES:
            self._totals[name] += weight * values[name]
        self._weight += weight
        self.clips += 1
        self.frames += int(np.shape(truth_clip)[0])
        return values

    def result(self) -> dict[str, float]:
        """The weighted means so far: `cdc`, `warp_error`, `cdc_true`, `warp_error_true`; NaN
        before the first clip (0 would read as perfectly consistent)."""
        if not self._weight:
            return {name: float("nan") for name in _METRIC_NAMES}
        return {name: self._totals[name] / self._weight for name in _METRIC_NAMES}

    def reset(self) -> None:
        """Forgets every clip seen."""
        self._totals = dict.fromkeys(_METRIC_NAMES, 0.0)
        self._weight = 0.0
        self.clips = 0
        self.frames = 0
