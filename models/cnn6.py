"""The 6-layer CNN of Qin & Vucinic, Table 1 (MNIST)."""

from __future__ import annotations

from torch import nn

from crossbar.nn import NO_NOISE, NoiseConfig, NoiseInjection

from ._build import materialize


def _conv_out(size: int) -> int:
    size = (size - 4) // 2  # two valid 3x3 convolutions, 2x2 max pool
    return (size - 4) // 2


class CNN6(nn.Module):
    """conv3x3 32, conv3x3 32, maxpool, conv3x3 64, conv3x3 64, maxpool, fc 256, fc classes.

    Every product (conv / fc) is followed by BatchNorm, NoiseInjection, ReLU;
    the last fc by NoiseInjection only. All convolutions are 'valid'. For
    ``noise.kind == "add"`` the batch norms have no affine parameters
    (beta = 0, gamma = 1 fixed), as in the paper. ``builtin_noise=False`` leaves
    the noise layers out (``crossbar.nn.placement.place_noise`` puts them in the
    same places).
    """

    def __init__(
        self,
        noise: NoiseConfig = NO_NOISE,
        in_channels: int = 1,
        num_classes: int = 10,
        image_size: int = 28,
        builtin_noise: bool = True,
    ) -> None:
        super().__init__()
        self.crossbar_input = (in_channels, image_size, image_size)
        feat = _conv_out(image_size)
        if feat < 1:
            raise ValueError(f"cnn6 needs images of at least 16x16 pixels, got {image_size}")
        affine = noise.kind != "add"

        def noisy() -> list[nn.Module]:
            return [NoiseInjection(noise)] if builtin_noise else []

        def stage(c_in: int, c_out: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3), nn.BatchNorm2d(c_out, affine=affine), *noisy(), nn.ReLU()]

        self.features = nn.Sequential(
            *stage(in_channels, 32),
            *stage(32, 32),
            nn.MaxPool2d(2),
            *stage(32, 64),
            *stage(64, 64),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * feat * feat, 256),
            nn.BatchNorm1d(256, affine=affine),
            *noisy(),
            nn.ReLU(),
            nn.Linear(256, num_classes),
            *noisy(),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


def cnn6(
    noise: NoiseConfig = NO_NOISE,
    in_channels: int = 1,
    num_classes: int = 10,
    image_size: int = 28,
    *,
    builtin_noise: bool = True,
    seed: int = 0,
) -> CNN6:
    """Table 1 CNN; weights drawn from ``seed`` (PyTorch's default init scheme)."""
    return materialize(lambda: CNN6(noise, in_channels, num_classes, image_size, builtin_noise), seed)
