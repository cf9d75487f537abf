"""DenseNet (Huang et al. 2017) for 32 x 32 x 3 images, basic (non-bottleneck)
layers, no compression, growth 12: depth 40 (the paper's CIFAR-10 network,
about 1.0 M parameters) and depth 100 (its NN_val for black-box attacks)."""

from __future__ import annotations

import torch
from torch import nn

from crossbar.nn import NO_NOISE, NoiseConfig, NoiseInjection

from ._build import he_fan_out, materialize


class DenseLayer(nn.Module):
    """BN - ReLU - conv3x3 (growth channels) - noise; output concatenated to the input."""

    def __init__(self, in_channels: int, growth: int, noise: NoiseConfig) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU()
        self.conv = nn.Conv2d(in_channels, growth, 3, padding=1, bias=False)
        self.noise = NoiseInjection(noise)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.noise(self.conv(self.relu(self.norm(x))))], 1)


class Transition(nn.Module):
    """BN - ReLU - conv1x1 (same width) - noise - 2x2 average pool."""

    def __init__(self, channels: int, noise: NoiseConfig) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()
        self.conv = nn.Conv2d(channels, channels, 1, bias=False)
        self.noise = NoiseInjection(noise)
        self.pool = nn.AvgPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.noise(self.conv(self.relu(self.norm(x)))))


class DenseNet(nn.Module):
    def __init__(
        self,
        depth: int = 40,
        growth: int = 12,
        noise: NoiseConfig = NO_NOISE,
        num_classes: int = 10,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        self.crossbar_input = (in_channels, 32, 32)
        if depth < 7 or (depth - 4) % 3:
            raise ValueError(f"DenseNet depth must be 3n + 4 (n >= 1), got {depth}")
        per_block = (depth - 4) // 3
        channels = 2 * growth
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, channels, 3, padding=1, bias=False),
            NoiseInjection(noise),
        ]
        for block in range(3):
            for _ in range(per_block):
                layers.append(DenseLayer(channels, growth, noise))
                channels += growth
            if block < 2:
                layers.append(Transition(channels, noise))
        layers += [nn.BatchNorm2d(channels), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(channels, num_classes), NoiseInjection(noise))
        self.depth, self.growth, self.out_channels = depth, growth, channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def densenet40(noise: NoiseConfig = NO_NOISE, num_classes: int = 10, *, seed: int = 0) -> DenseNet:
    return materialize(lambda: DenseNet(40, 12, noise, num_classes), seed, he_fan_out)


def densenet100(noise: NoiseConfig = NO_NOISE, num_classes: int = 10, *, seed: int = 0) -> DenseNet:
    return materialize(lambda: DenseNet(100, 12, noise, num_classes), seed, he_fan_out)
