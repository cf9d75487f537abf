"""Quantization-aware training with a constant activation scale and a straight-through estimator.

After Wang, Borras, Klein & Fröning, "On Hardening DNNs against Noisy
Computations" (arXiv 2501.14531), whose code (Brevitas) quantises

* **activations**: every ReLU becomes :class:`QuantReLU`, an unsigned
  b-bit fixed-point number with a *constant* step ``s`` (the constant
  scaling factor): ``q(x) = s * clamp(round(x / s), 0, 2^b - 1)``, exactly
  ``2^b`` levels ``0, s, ..., (2^b - 1) s``;
* **weights**: every Linear/Conv2d weight, signed b-bit, narrow range and
  one max-abs scale per output channel (Brevitas ``Int8WeightPerTensorFloat``
  with ``narrow_range``): ``w_q = s_c * clamp(round(w / s_c), -K, K)``,
  ``K = 2^(b-1) - 1``, ``s_c = max|w_c| / K``: ``2^b - 1`` levels, symmetric
  about 0, so that a differential pair of devices with ``2^(b-1)`` conductance
  levels each holds every weight exactly (see :func:`device_levels`).

Gradients pass straight through the rounding (STE): the derivative is 1
inside the quantiser's range and 0 where an activation is clipped. The
latent float weights are what the optimiser updates; ``module.weight``
returns the quantised ones (a ``torch.nn.utils.parametrize``
parametrization), so ``crossbar.nn.convert`` maps the quantised weights.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import parametrize

__all__ = ["QuantReLU", "WeightQuant", "device_levels", "quantize", "quantize_activation",
           "quantize_weight"]


def _check_bits(bits: int) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 16:
        raise ValueError(f"bit width must be an integer 2..16, got {bits!r}")
    return bits


def quantize_activation(x: torch.Tensor, bits: int, step: float) -> torch.Tensor:
    """Unsigned fixed point with constant step ``step`` and ``2^bits`` levels; STE gradient
    1 on [0, (2^bits - 1) step], 0 outside."""
    top = 2**bits - 1
    clipped = x.clamp(0.0, step * top)
    q = torch.round(clipped / step).clamp_(0, top) * step
    return clipped + (q - clipped).detach()


def quantize_weight(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Signed narrow-range fixed point, one max-abs scale per output channel (dim 0);
    STE gradient 1 everywhere (no weight is outside its channel's range)."""
    k = 2 ** (bits - 1) - 1
    flat = w.detach().reshape(w.shape[0], -1)
    scale = flat.abs().amax(dim=1).clamp_min(torch.finfo(w.dtype).tiny) / k
    scale = scale.reshape(-1, *([1] * (w.dim() - 1)))
    q = torch.round(w.detach() / scale).clamp_(-k, k) * scale
    return w + (q - w).detach()


class QuantReLU(nn.Module):
    """ReLU followed by the constant-scale activation quantiser."""

    def __init__(self, bits: int, step: float) -> None:
        super().__init__()
        self.bits = _check_bits(bits)
        ok = isinstance(step, (int, float)) and not isinstance(step, bool) and math.isfinite(step)
        if not ok or step <= 0:
            raise ValueError(f"activation step must be a number > 0, got {step!r}")
        self.step = float(step)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return quantize_activation(x, self.bits, self.step)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, step={self.step:g}, max={self.step * (2**self.bits - 1):g}"


class WeightQuant(nn.Module):
    """Parametrization: the weight as the forward pass (and ``module.weight``) sees it."""

    def __init__(self, bits: int) -> None:
        super().__init__()
        self.bits = _check_bits(bits)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return quantize_weight(w, self.bits)


def quantize(model: nn.Module, bits: int, step: float) -> nn.Module:
    """Make ``model`` quantization-aware in place: quantised Linear/Conv2d weights and
    every ``nn.ReLU`` module replaced by :class:`QuantReLU`. Returns ``model``."""
    _check_bits(bits)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.ReLU:
                setattr(parent, name, QuantReLU(bits, step))
    for m in list(model.modules()):
        if isinstance(m, (nn.Linear, nn.Conv2d)) and not parametrize.is_parametrized(m, "weight"):
            parametrize.register_parametrization(m, "weight", WeightQuant(bits))
    return model


def device_levels(bits: int) -> int:
    """Conductance levels per device that hold a b-bit narrow-range weight exactly on a
    differential pair (G+ for positive, G- for negative values): ``2^(b-1)``."""
    return 2 ** (_check_bits(bits) - 1)
