"""A small vision transformer (Dosovitskiy et al., ICLR 2021) for 28 x 28 images.

Patches of 7 x 7 pixels (16 tokens) embedded by a strided convolution, a
learned class token and position embedding, pre-norm encoder layers of
``torch.nn.TransformerEncoderLayer`` and a linear head on the class token.
Mapped onto arrays: the patch embedding, every attention projection, both
feed-forward products and the head; digital: the class token and position
embedding (added), the layer norms, and attention's own products and softmax.
The paper's noise (Qin & Vucinic Eq. 2/3) goes after every product, placed by
``crossbar.nn.placement.place_noise``.
"""

from __future__ import annotations

import torch
from torch import nn

from crossbar.nn import NO_NOISE, NoiseConfig, seed_noise
from crossbar.nn.placement import place_noise

from ._build import materialize, torch_default


class ViT(nn.Module):
    """Input N x C x H x W; classifies from the class token."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28, patch: int = 7,
                 dim: int = 64, depth: int = 2, heads: int = 4, mlp: int = 128) -> None:
        super().__init__()
        if image_size % patch:
            raise ValueError(f"vit needs an image size divisible by the patch size {patch}, got {image_size}")
        self.crossbar_input = (in_channels, image_size, image_size)
        tokens = (image_size // patch) ** 2
        self.patch = nn.Conv2d(in_channels, dim, patch, stride=patch)
        self.cls = nn.Parameter(torch.empty(1, 1, dim))
        self.pos = nn.Parameter(torch.empty(1, tokens + 1, dim))
        layer = nn.TransformerEncoderLayer(dim, heads, mlp, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.patch(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.cls.expand(len(t), -1, -1), t], dim=1) + self.pos
        return self.head(self.norm(self.encoder(t))[:, 0])


def _vit_init(model: nn.Module, gen: torch.Generator) -> set[int]:
    """Convolution and linear layers as torch's defaults; attention's packed projection
    Xavier-uniform with zero bias (as ``nn.MultiheadAttention``); tokens N(0, 0.02^2)
    (Dosovitskiy et al.); layer norms ones and zeros."""
    done = torch_default(model, gen)
    for m in model.modules():
        if isinstance(m, nn.MultiheadAttention):
            nn.init.xavier_uniform_(m.in_proj_weight, generator=gen)
            nn.init.zeros_(m.in_proj_bias)
            done.update((id(m.in_proj_weight), id(m.in_proj_bias)))
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
            done.update((id(m.weight), id(m.bias)))
    for p in (model.cls, model.pos):
        nn.init.normal_(p, 0.0, 0.02, generator=gen)
        done.add(id(p))
    return done


def vit(noise: NoiseConfig = NO_NOISE, in_channels: int = 1, num_classes: int = 10, image_size: int = 28,
        *, seed: int = 0) -> ViT:
    """The small ViT, weights from ``seed``, the paper's noise after every product."""
    model = materialize(lambda: ViT(in_channels, num_classes, image_size), seed, _vit_init)
    place_noise(model, noise, example=model.crossbar_input)
    seed_noise(model, seed)
    return model
