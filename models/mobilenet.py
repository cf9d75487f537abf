"""A MobileNet-style depthwise-separable CNN for small images (Fashion-MNIST, 1 x 28 x 28).

After Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
Applications" (arXiv:1704.04861, 2017): a full 3x3 stem convolution, then blocks of a
depthwise 3x3 convolution (``groups`` = channels) and a pointwise 1x1 convolution, each
followed by batch norm and ReLU; global average pooling and one linear classifier. Sized
down for 28 x 28 inputs (four blocks, 32 to 256 channels). On crossbars the depthwise
layers map as grouped convolutions (``crossbar.nn.conv``).
"""

from __future__ import annotations

from torch import nn

from crossbar.nn import NO_NOISE, NoiseConfig, NoiseInjection

from ._build import materialize

# (input channels, output channels, depthwise stride) of each depthwise-separable block
BLOCKS = ((32, 64, 2), (64, 128, 2), (128, 128, 1), (128, 256, 2))


class MobileNetSmall(nn.Module):
    """stem conv3x3 32, four depthwise-separable blocks, average pool, fc classes.

    Every product (conv / fc) is followed by BatchNorm, NoiseInjection, ReLU, as in
    :class:`~crossbar.models.CNN6`; the last fc by NoiseInjection only. For
    ``noise.kind == "add"`` the batch norms have no affine parameters.
    """

    def __init__(self, noise: NoiseConfig = NO_NOISE, in_channels: int = 1, num_classes: int = 10,
                 image_size: int = 28) -> None:
        super().__init__()
        if image_size < 8:
            raise ValueError(f"mobilenet_small needs images of at least 8x8 pixels, got {image_size}")
        self.crossbar_input = (in_channels, image_size, image_size)
        affine = noise.kind != "add"

        def stage(product: nn.Module, channels: int) -> list[nn.Module]:
            return [product, nn.BatchNorm2d(channels, affine=affine), NoiseInjection(noise), nn.ReLU()]

        layers = stage(nn.Conv2d(in_channels, 32, 3, padding=1, bias=False), 32)
        for c_in, c_out, stride in BLOCKS:
            layers += stage(nn.Conv2d(c_in, c_in, 3, stride, padding=1, groups=c_in, bias=False), c_in)
            layers += stage(nn.Conv2d(c_in, c_out, 1, bias=False), c_out)
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Sequential(nn.Linear(BLOCKS[-1][1], num_classes), NoiseInjection(noise))

    def forward(self, x):
        return self.classifier(self.features(x))


def mobilenet_small(noise: NoiseConfig = NO_NOISE, in_channels: int = 1, num_classes: int = 10,
                    image_size: int = 28, *, seed: int = 0) -> MobileNetSmall:
    """The depthwise-separable CNN; weights drawn from ``seed`` (PyTorch's default init scheme)."""
    return materialize(lambda: MobileNetSmall(noise, in_channels, num_classes, image_size), seed)
