"""The Walking Noise papers' small networks, as plain torch modules without noise.

* ``mlp``: ``RL_TFC`` of the paper code, three hidden layers of ``width`` units,
  each Linear -> BatchNorm -> ReLU, then a Linear to the classes (11 noise
  positions with the input).
* ``lenet5``: LeNet-5 (C6@5 - MP2 - C16@5 - MP2 - FC120 - FC84 - FC), with
  BatchNorm after every Conv/FC but the last (``batch_norm=True``, the
  paper's LeNet5-BN, 16 positions) or without (10 positions).

Noise positions are added afterwards by :func:`crossbar.walk.noise.place_noise`.
Weights come from ``torch.Generator().manual_seed(seed)`` with PyTorch's own
default laws (Kaiming-uniform, a = sqrt(5); bias U(+-1/sqrt(fan_in))), so
building a network never touches torch's global random state.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

__all__ = ["NETS", "lenet5", "mlp"]


def _init(module: nn.Module, seed: int) -> nn.Module:
    """Materialise a meta-device module with PyTorch's default initialisation from ``seed``."""
    module = module.to_empty(device="cpu")
    gen = torch.Generator().manual_seed(int(seed))
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=gen)
            if m.bias is not None:
                bound = 1.0 / math.sqrt(m.weight[0].numel())
                nn.init.uniform_(m.bias, -bound, bound, generator=gen)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            if m.affine:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
    return module


def mlp(*, in_features: int = 784, num_classes: int = 10, width: int = 64, depth: int = 3,
        batch_norm: bool = True, seed: int = 0) -> nn.Module:
    """RL_TFC: ``depth`` hidden blocks Linear(width) -> BatchNorm1d -> ReLU, then Linear."""
    with torch.device("meta"):
        layers: list[nn.Module] = [nn.Flatten()]
        n = in_features
        for _ in range(depth):
            layers.append(nn.Linear(n, width))
            if batch_norm:
                layers.append(nn.BatchNorm1d(width))
            layers.append(nn.ReLU())
            n = width
        layers.append(nn.Linear(n, num_classes))
        net = nn.Sequential(*layers)
    return _init(net, seed)


def lenet5(*, in_channels: int = 1, image_size: int = 28, num_classes: int = 10,
           batch_norm: bool = True, seed: int = 0) -> nn.Module:
    """LeNet-5: C6@5, MP2, C16@5, MP2, FC120, FC84, FC (ReLU after each hidden product)."""
    side = ((image_size - 4) // 2 - 4) // 2
    if side < 1:
        raise ValueError(f"lenet5 needs images of at least 16x16 pixels, got {image_size}")

    def block(product: nn.Module, n: int, bn: type[nn.Module]) -> list[nn.Module]:
        return [product, *([bn(n)] if batch_norm else []), nn.ReLU()]

    with torch.device("meta"):
        net = nn.Sequential(
            *block(nn.Conv2d(in_channels, 6, 5), 6, nn.BatchNorm2d),
            nn.MaxPool2d(2),
            *block(nn.Conv2d(6, 16, 5), 16, nn.BatchNorm2d),
            nn.MaxPool2d(2),
            nn.Flatten(),
            *block(nn.Linear(16 * side * side, 120), 120, nn.BatchNorm1d),
            *block(nn.Linear(120, 84), 84, nn.BatchNorm1d),
            nn.Linear(84, num_classes),
        )
    return _init(net, seed)


def _mlp_for(shape: tuple[int, ...], classes: int, **kw) -> nn.Module:
    return mlp(in_features=math.prod(shape), num_classes=classes, **kw)


def _lenet_for(shape: tuple[int, ...], classes: int, **kw) -> nn.Module:
    if len(shape) != 3 or shape[1] != shape[2]:
        raise ValueError(f"lenet5 takes square images (C x H x W); the data has samples of shape {shape}")
    return lenet5(in_channels=shape[0], image_size=shape[1], num_classes=classes, **kw)


# name -> factory(sample_shape, num_classes, seed=..., **model_kwargs)
NETS: dict[str, Callable[..., nn.Module]] = {"mlp": _mlp_for, "lenet5": _lenet_for}
