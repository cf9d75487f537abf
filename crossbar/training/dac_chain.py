"""The DAC in the hardware-aware training forward, fused: each input vector's scale and rounding in Numba.

Each vector of x (a row of a linear layer's input, an image of a convolution's) is
divided by its largest magnitude s (1 where it is 0), scaled to the DAC's L =
2^(bits-1) - 1 levels, rounded (half to even) and scaled back. As torch operations
that is a dozen passes over the activations forward and backward; here it is one
Numba pass each way, with the same float32 operations in the same order, so the
results are the bits of the unfused chain (``crossbar.training.hardware.dac``):
``y = (x / s) * L``, ``out = (y + (rint(y) - y)) * (s / L)``; the gradient passes
straight through: ``((g * (s / L)) * L) / s``.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit

__all__ = ["dac"]


@njit(cache=True, nogil=True)
def _forward(x, levels, out, scale):
    """out: x rounded per row to ``levels``; scale: each row's largest |x| (1 where 0)."""
    rows, size = x.shape
    zero = np.float32(0.0)
    for n in range(rows):
        top = zero
        for i in range(size):
            top = max(top, abs(x[n, i]))
        s = top if top != zero else np.float32(1.0)
        scale[n] = s
        b = s / levels
        for i in range(size):
            y = x[n, i] / s
            y = y * levels
            y = y + (np.float32(np.rint(y)) - y)
            out[n, i] = y * b


@njit(cache=True, nogil=True)
def _backward(g, scale, levels, out):
    rows, size = g.shape
    for n in range(rows):
        s = scale[n]
        b = s / levels
        for i in range(size):
            out[n, i] = ((g[n, i] * b) * levels) / s


class _Dac(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, levels):
        flat = x.detach().contiguous().reshape(x.shape[0], -1)
        out = torch.empty_like(flat)
        scale = torch.empty(x.shape[0], dtype=x.dtype)
        lv = np.float32(levels)
        _forward(flat.numpy(), lv, out.numpy(), scale.numpy())
        ctx.save_for_backward(scale)
        ctx.levels = lv
        kept = scale.view(-1, *(1,) * (x.dim() - 1))
        ctx.mark_non_differentiable(kept)
        return out.view(x.shape), kept

    @staticmethod
    def backward(ctx, g, _):
        (scale,) = ctx.saved_tensors
        flat = g.contiguous().reshape(g.shape[0], -1)
        out = torch.empty_like(flat)
        _backward(flat.numpy(), scale.numpy(), ctx.levels, out.numpy())
        return out.view(g.shape), None


def dac(x: torch.Tensor, levels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(``x`` (a float32 CPU tensor, one vector per index of dim 0) as the DAC applies it:
    each vector over its largest magnitude, rounded to ``levels``, scaled back; each vector's
    scale, broadcastable to x)."""
    return _Dac.apply(x, levels)
