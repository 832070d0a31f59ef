"""Zhang et al.'s two networks in PyTorch, with the state-dict layout of the authors'
reference (richzhang/colorization: `colorizers/eccv16.py`, `colorizers/siggraph17.py`), written
here from their published description, for the equivalence tests only (torch is a test
dependency, never imported by tfcolor).

Each `nn.Sequential` lists its modules in the reference's order, so the parameter keys are the
released files' (`model1.0.weight`, `model1.4.running_mean`, `model8.6.bias`, `model_out.weight`,
...), and `forward` takes the reference's inputs: L in [0, 100] (and ab hints in Lab units,
their 0/1 mask), [B, C, H, W], returning ab [B, 2, H, W].
"""

from __future__ import annotations

import torch
from torch import nn

L_CENT, L_NORM, AB_NORM = 50.0, 100.0, 110.0


def _block(in_channels, filters, convolutions, last_stride=1, dilation=1, relu_first=False):
    """[ReLU,] (conv 3x3, ReLU) x n, batch norm: the reference's block layout."""
    modules = [nn.ReLU(True)] if relu_first else []
    for index in range(convolutions):
        stride = last_stride if index == convolutions - 1 else 1
        modules += [
            nn.Conv2d(
                in_channels if index == 0 else filters,
                filters,
                3,
                stride=stride,
                padding=dilation,
                dilation=dilation,
            ),
            nn.ReLU(True),
        ]
    return modules + [nn.BatchNorm2d(filters)]


class ECCV16(nn.Module):
    """Zhang et al. 2016: blocks 1-7, a transposed conv and two convs at 1/4, 313 logits,
    softmax, the bins' ab as a 1x1 conv without bias, x4 bilinear upsampling, x 110."""

    def __init__(self):
        super().__init__()
        specs = [(1, 64, 2, 2, 1), (64, 128, 2, 2, 1), (128, 256, 3, 2, 1), (256, 512, 3, 1, 1)]
        specs += [(512, 512, 3, 1, 2), (512, 512, 3, 1, 2), (512, 512, 3, 1, 1)]
        for number, spec in enumerate(specs, 1):
            setattr(self, f"model{number}", nn.Sequential(*_block(*spec)))
        self.model8 = nn.Sequential(
            nn.ConvTranspose2d(512, 256, 4, stride=2, padding=1),
            nn.ReLU(True),
            nn.Conv2d(256, 256, 3, padding=1),
            nn.ReLU(True),
            nn.Conv2d(256, 256, 3, padding=1),
            nn.ReLU(True),
            nn.Conv2d(256, 313, 1),
        )
        self.model_out = nn.Conv2d(313, 2, 1, bias=False)

    def forward(self, lightness):
        x = (lightness - L_CENT) / L_NORM
        for number in range(1, 9):
            x = getattr(self, f"model{number}")(x)
        ab = self.model_out(torch.softmax(x, dim=1))
        ab = nn.functional.interpolate(ab, scale_factor=4, mode="bilinear", align_corners=False)
        return ab * AB_NORM


class SIGGRAPH17(nn.Module):
    """Zhang et al. 2017: L, ab hints and mask in; every other pixel kept after blocks 1-3;
    transposed convs plus shortcuts back to full size; tanh regression x 110."""

    def __init__(self):
        super().__init__()
        specs = [(4, 64, 2), (64, 128, 2), (128, 256, 3), (256, 512, 3)]
        for number, (in_channels, filters, convolutions) in enumerate(specs, 1):
            setattr(
                self, f"model{number}", nn.Sequential(*_block(in_channels, filters, convolutions))
            )
        for number in (5, 6, 7):
            dilation = 2 if number in (5, 6) else 1
            block = _block(512, 512, 3, dilation=dilation)
            setattr(self, f"model{number}", nn.Sequential(*block))
        self.model8up = nn.Sequential(nn.ConvTranspose2d(512, 256, 4, stride=2, padding=1))
        self.model3short8 = nn.Sequential(nn.Conv2d(256, 256, 3, padding=1))
        self.model8 = nn.Sequential(*_block(256, 256, 2, relu_first=True))
        self.model9up = nn.Sequential(nn.ConvTranspose2d(256, 128, 4, stride=2, padding=1))
        self.model2short9 = nn.Sequential(nn.Conv2d(128, 128, 3, padding=1))
        self.model9 = nn.Sequential(*_block(128, 128, 1, relu_first=True))
        self.model10up = nn.Sequential(nn.ConvTranspose2d(128, 128, 4, stride=2, padding=1))
        self.model1short10 = nn.Sequential(nn.Conv2d(64, 128, 3, padding=1))
        self.model10 = nn.Sequential(
            nn.ReLU(True), nn.Conv2d(128, 128, 3, padding=1), nn.LeakyReLU(0.2)
        )
        self.model_class = nn.Sequential(nn.Conv2d(256, 529, 1))
        self.model_out = nn.Sequential(nn.Conv2d(128, 2, 1), nn.Tanh())

    def forward(self, lightness, ab_hints=None, hint_mask=None):
        if ab_hints is None:
            ab_hints = torch.zeros_like(lightness).repeat(1, 2, 1, 1)
        if hint_mask is None:
            hint_mask = torch.zeros_like(lightness)
        x = torch.cat([(lightness - L_CENT) / L_NORM, ab_hints / AB_NORM, hint_mask], dim=1)
        conv1 = self.model1(x)
        conv2 = self.model2(conv1[:, :, ::2, ::2])
        conv3 = self.model3(conv2[:, :, ::2, ::2])
        x = self.model4(conv3[:, :, ::2, ::2])
        x = self.model7(self.model6(self.model5(x)))
        x = self.model8(self.model8up(x) + self.model3short8(conv3))
        x = self.model9(self.model9up(x) + self.model2short9(conv2))
        x = self.model10(self.model10up(x) + self.model1short10(conv1))
        return self.model_out(x) * AB_NORM


def randomize(network, lightness, seed=0):
    """Random weights whose activations stay in range, and random batch-norm statistics.

    The convolutions keep PyTorch's random initialisation (seeded); each batch norm's running
    statistics are set from one training-mode pass over `lightness` (so every block's output
    is normalized, as in a trained network) and then scaled and shifted at random, and its
    weight and bias are random too. Returns the network in eval mode.
    """
    torch.manual_seed(seed)
    for module in network.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            module.reset_parameters()
            if module.bias is not None:
                nn.init.uniform_(module.bias, -0.05, 0.05)
        if isinstance(module, nn.BatchNorm2d):
            module.reset_parameters()
            module.momentum = None  # a cumulative average: one pass sets the statistics
    network.train()
    with torch.no_grad():
        network(lightness)
    generator = torch.Generator().manual_seed(seed + 1)
    for module in network.modules():
        if isinstance(module, nn.BatchNorm2d):
            channels = module.num_features
            with torch.no_grad():
                module.running_mean += 0.1 * torch.randn(channels, generator=generator)
                module.running_var *= 0.8 + 0.4 * torch.rand(channels, generator=generator)
                module.weight.copy_(0.7 + 0.6 * torch.rand(channels, generator=generator))
                module.bias.copy_(0.1 * torch.randn(channels, generator=generator))
            module.momentum = 0.1
    return network.eval()


def scale_to_std(network, module, lightness, std):
    """Scales `module`'s weight so that its output (bias aside) has standard deviation `std` on
    `lightness`: peaked bin distributions for the ECCV network's logits, a tanh that is not
    saturated for the SIGGRAPH network's regression (random weights give neither)."""
    seen = {}
    handle = module.register_forward_hook(lambda _, __, output: seen.update(output=output))
    with torch.no_grad():
        network(lightness)
        handle.remove()
        output = seen["output"]
        if module.bias is not None:
            output = output - module.bias.view(1, -1, 1, 1)
        module.weight *= std / output.std()
    return network
