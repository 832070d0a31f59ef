"""The thesis's synthetic shapes data set.

32x32 RGB images on a black background, each with one rectangle, one circle and one triangle
(drawn in that order, so later shapes may cover earlier ones). Every shape kind has its own
three colours, so the colour is predictable from the shape: a network that learns the shapes
can colour them exactly. 2,664 training and 324 validation images, as in the thesis.

Each image's label is its rectangle's colour (`red`, `green` or `blue`, `CLASS_NAMES`): a
class visible in the gray image (the three differ in lightness: L 53, 88, 32), for Iizuka's
simultaneous classification.

Generation is numpy over whole arrays of masks (no Python per pixel), deterministic (a fixed
seed per split), without anti-aliasing (only the 9 colours and black occur), and cached for
the process: the whole training split is 8 MB.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["CLASS_NAMES", "COLORS", "IMAGE_SIZE", "SPLIT_SIZES", "shapes_images", "shapes_labels"]

IMAGE_SIZE = 32
SPLIT_SIZES = {"train": 2664, "validation": 324}
# A fixed seed per split: the same images in every process and on every machine.
_SEEDS = {"train": 2664, "validation": 324}

# Three saturated colours per shape kind, 9 distinct colours in all, none of them gray: every
# shape pixel has a colour bin other than the neutral one, so the codecs' colored_bin_accuracy
# is exactly the accuracy on the shapes' own pixels. A shape's three colours differ in Lab
# lightness by at least 6 (triangles: L 67, 41, 91), so the gray image tells them apart; an
# earlier pink triangle (L 70 beside orange's 67) was a coin toss for the model.
COLORS = {
    "rectangle": ((255, 0, 0), (0, 255, 0), (0, 0, 255)),  # red, green, blue
    "circle": ((255, 255, 0), (0, 255, 255), (255, 0, 255)),  # yellow, cyan, magenta
    "triangle": ((255, 128, 0), (128, 0, 255), (128, 255, 128)),  # orange, purple, light green
}

# The label of an image: the colour of its rectangle, in the order of COLORS["rectangle"].
CLASS_NAMES = ("red", "green", "blue")

# Sizes in pixels, small enough that black stays the majority of every image (at most
# 16 * 16 + pi * 8^2 + 3 sqrt(3) / 4 * 9^2 = 562 of 1024 pixels covered).
_RECT_SIDE = (6, 16)
_CIRCLE_RADIUS = (3, 8)
_TRIANGLE_RADIUS = (4, 9)


def _paint(images: np.ndarray, masks: np.ndarray, palette, choice: np.ndarray) -> None:
    colors = np.asarray(palette, np.uint8)[choice]  # [N, 3]
    images[masks] = np.broadcast_to(colors[:, None, None, :], images.shape)[masks]


@functools.cache
def _generate(split: str) -> tuple[np.ndarray, np.ndarray]:
    count = SPLIT_SIZES[split]
    rng = np.random.default_rng(_SEEDS[split])
    size = IMAGE_SIZE
    # Pixel centres, broadcast against per-image parameters of shape [N, 1, 1].
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    images = np.zeros((count, size, size, 3), np.uint8)

    def column(values):
        return np.asarray(values, np.float32)[:, None, None]

    # Rectangle: axis-aligned, top-left corner anywhere it fits.
    width = rng.integers(_RECT_SIDE[0], _RECT_SIDE[1] + 1, count)
    height = rng.integers(_RECT_SIDE[0], _RECT_SIDE[1] + 1, count)
    left = column(rng.integers(0, size - width + 1))
    top = column(rng.integers(0, size - height + 1))
    rect = (xs >= left) & (xs < left + column(width)) & (ys >= top) & (ys < top + column(height))
    rect_colors = rng.integers(0, 3, count)
    _paint(images, rect, COLORS["rectangle"], rect_colors)

    # Circle: centre anywhere it fits.
    radius = rng.integers(_CIRCLE_RADIUS[0], _CIRCLE_RADIUS[1] + 1, count)
    cx = column(rng.uniform(radius, size - radius))
    cy = column(rng.uniform(radius, size - radius))
    circle = (xs - cx) ** 2 + (ys - cy) ** 2 <= column(radius) ** 2
    _paint(images, circle, COLORS["circle"], rng.integers(0, 3, count))

    # Triangle: equilateral, random size, position and rotation.
    radius = rng.uniform(_TRIANGLE_RADIUS[0], _TRIANGLE_RADIUS[1], count)
    cx = rng.uniform(radius, size - radius)
    cy = rng.uniform(radius, size - radius)
    phase = rng.uniform(0.0, 2.0 * np.pi, count)
    angles = phase[:, None] + np.array([0.0, 2.0, 4.0]) * np.pi / 3.0  # [N, 3]
    vx = cx[:, None] + radius[:, None] * np.cos(angles)
    vy = cy[:, None] + radius[:, None] * np.sin(angles)
    # Inside when the point is on the same side of all three edges (edge functions).
    sides = []
    for i in range(3):
        j = (i + 1) % 3
        x0, y0, x1, y1 = (column(v[:, k]) for v, k in ((vx, i), (vy, i), (vx, j), (vy, j)))
        sides.append((x1 - x0) * (ys - y0) - (y1 - y0) * (xs - x0))
    sides = np.stack(sides)
    triangle = np.all(sides >= 0, axis=0) | np.all(sides <= 0, axis=0)
    _paint(images, triangle, COLORS["triangle"], rng.integers(0, 3, count))

    images.setflags(write=False)
    labels = np.asarray(CLASS_NAMES)[rect_colors]
    labels.setflags(write=False)
    return images, labels


def shapes_images(split: str) -> np.ndarray:
    """The shapes images of a split.

    Args:
        split: `train` (2,664 images) or `validation` (324 images).

    Returns:
        A read-only uint8 array [N, 32, 32, 3], the same on every call.

    Raises:
        ValueError: an unknown split.
    """
    return _generate(_check_split(split))[0]


def shapes_labels(split: str) -> np.ndarray:
    """The label (rectangle colour, one of `CLASS_NAMES`) of each image of a split.

    Returns:
        A read-only str array [N], aligned with `shapes_images(split)`.
    """
    return _generate(_check_split(split))[1]


def _check_split(split: str) -> str:
    if split not in SPLIT_SIZES:
        raise ValueError(
            f"the shapes data has the splits {', '.join(SPLIT_SIZES)}. Received: split={split!r}"
        )
    return split
