"""The 4-layer MNIST CNN of Madry et al. (the paper's NN_adv for black-box attacks)."""

from __future__ import annotations

from torch import nn

from crossbar.nn import NO_NOISE, NoiseConfig, NoiseInjection

from ._build import materialize


class MadryCNN4(nn.Module):
    """conv5x5 32 'same' + ReLU + maxpool, conv5x5 64 'same' + ReLU + maxpool,
    fc 1024 + ReLU, fc classes; input 1 x 28 x 28. A NoiseInjection follows
    every product (identity unless a noise config is given)."""

    def __init__(self, num_classes: int = 10, noise: NoiseConfig = NO_NOISE) -> None:
        super().__init__()
        self.crossbar_input = (1, 28, 28)
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 5, padding=2),
            NoiseInjection(noise),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2),
            NoiseInjection(noise),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(7 * 7 * 64, 1024),
            NoiseInjection(noise),
            nn.ReLU(),
            nn.Linear(1024, num_classes),
            NoiseInjection(noise),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


def madry_cnn4(num_classes: int = 10, *, noise: NoiseConfig = NO_NOISE, seed: int = 0) -> MadryCNN4:
    return materialize(lambda: MadryCNN4(num_classes, noise), seed)
