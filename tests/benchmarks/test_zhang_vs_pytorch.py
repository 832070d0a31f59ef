"""benchmarks/zhang_vs_pytorch.py: the work it divides its rates by is the network's."""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest

from tests.helpers import REPO


def _script():
    folder = os.path.join(REPO, "benchmarks")
    sys.path.insert(0, folder)  # it imports its sibling unet_vs_pytorch
    try:
        spec = importlib.util.spec_from_file_location(
            "zhang_vs_pytorch", os.path.join(folder, "zhang_vs_pytorch.py")
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(folder)
    return module


def test_multiply_adds_count_every_tap_of_convolutions_and_transposed_ones():
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),  # 16x16 out: 16*16 * 3*8 * 9
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, stride=2, padding=1),  # 8x8 out: 8*8 * 8*8 * 9
        torch.nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1),  # 8x8 in: 8*8 * 8*4 * 16
        torch.nn.Conv2d(4, 4, 3, padding=1, groups=2),  # 16x16 out: 16*16 * 4*4 * 9 / 2
    )
    inputs = torch.zeros(2, 3, 16, 16)  # per image: the batch does not count
    expected = 256 * 24 * 9 + 64 * 64 * 9 + 64 * 32 * 16 + 256 * 16 * 9 // 2
    assert _script().multiply_adds(net, inputs) == expected


def test_the_reference_network_s_work_at_256():
    """ZhangECCV16 at 256x256, by its layers: 41.8 G multiply-adds (83.5 GFLOP)."""
    pytest.importorskip("torch")
    import torch

    from tests.pretrained import reference_nets

    blocks = [  # (output side, in, out, taps) of every convolution, block by block
        (256, 1, 64, 9), (128, 64, 64, 9),
        (128, 64, 128, 9), (64, 128, 128, 9),
        (64, 128, 256, 9), (64, 256, 256, 9), (32, 256, 256, 9),
        *[(32, 256 if i == 0 else 512, 512, 9) for i in range(3)],
        *[(32, 512, 512, 9)] * 9,
        (32, 512, 256, 16),  # the transposed convolution: its 32x32 input pixels
        (64, 256, 256, 9), (64, 256, 256, 9), (64, 256, 313, 1), (64, 313, 2, 1),
    ]  # fmt: skip
    expected = sum(side * side * cin * cout * taps for side, cin, cout, taps in blocks)
    counted = _script().multiply_adds(reference_nets.ECCV16(), torch.zeros(1, 1, 256, 256))
    assert counted == expected
    assert 83.0e9 < 2 * counted < 84.0e9
