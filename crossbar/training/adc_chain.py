"""One row band's converted values in the hardware-aware training forward, fused.

The band's column values c (rows x columns x positions) go through, per value: the
division by the input vector's scale, the circuit noise floor (sqrt(floor) z), the
ADC's clip at +-full scale, its rounding to the levels (straight-through) and the
rescale by the band's w_max. As separate torch operations that chain is a dozen
passes over the activations forward and as many backward, about two thirds of a
training step (docs/performance.md); here it is two Numba passes forward (noise, then
clip + round + rescale, after the full scale is known) and one backward, with the
same float32 operations in the same order, so the results are the bits of the
unfused chain: ``x = c / s + z * sqrt(floor)``, ``y = max(min(x, fs), -fs) * (L / fs)``,
``part = (y + (rint(y) - y)) * (fs / L) * w_max``; the gradient reaches c where the
clip passed it (half at a tie, as torch's ``minimum``/``maximum`` split it).
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit

__all__ = ["noisy", "quantised"]


@njit(cache=True)
def _noisy(c, scale, z, sd, out):
    """out[n, j, p] = c[n, j, p] / scale[n, p] (+ z[n, j, p] * sd[j] where sd is not empty)."""
    rows, cols, pos = c.shape
    add = sd.size > 0
    for n in range(rows):
        for j in range(cols):
            for p in range(pos):
                v = c[n, j, p] / scale[n, p]
                if add:
                    v = v + z[n, j, p] * sd[j]
                out[n, j, p] = v


@njit(cache=True)
def _quantised(x, fs, a, b, w, levels, acc, first, mask):
    """acc (+)= the ADC's value of x times w per column; mask: 2 passed, 1 tie, 0 clipped."""
    rows, cols, pos = x.shape
    for n in range(rows):
        for j in range(cols):
            top, aj, bj, wj = fs[j], a[j], b[j], w[j]
            for p in range(pos):
                v = x[n, j, p]
                m = np.uint8(2)
                if v > top or v < -top:
                    m = np.uint8(0)
                elif v == top or v == -top:
                    m = np.uint8(1)
                mask[n, j, p] = m
                y = max(min(v, top), -top)
                if levels:
                    y = y * aj
                    y = y + (np.float32(np.rint(y)) - y)
                    y = y * bj
                y = y * wj
                acc[n, j, p] = y if first else acc[n, j, p] + y


@njit(cache=True)
def _grad(g, scale, a, b, w, levels, mask, out):
    """out = ((g * w) * b) * a, halved at a tie and 0 where clipped, / scale (the chain's
    backward in the order torch's autograd takes it)."""
    rows, cols, pos = g.shape
    half = np.float32(0.5)
    for n in range(rows):
        for j in range(cols):
            aj, bj, wj = a[j], b[j], w[j]
            for p in range(pos):
                v = g[n, j, p] * wj
                if levels:
                    v = v * bj
                    v = v * aj
                m = mask[n, j, p]
                v = v if m == 2 else (v * half if m == 1 else np.float32(0.0))
                out[n, j, p] = v / scale[n, p]


def _view3(t: torch.Tensor) -> np.ndarray:
    """rows x columns x positions of a contiguous float32 CPU tensor (a view)."""
    return t.contiguous().reshape(t.shape[0], t.shape[1], -1).numpy()


def _scale2(scale: torch.Tensor, like: torch.Tensor) -> np.ndarray:
    """The per-vector scale (broadcastable to ``like`` with one column) as rows x positions."""
    shape = (like.shape[0], 1, *like.shape[2:])
    return scale.expand(shape).contiguous().reshape(like.shape[0], -1).numpy()


def noisy(c: torch.Tensor, scale: torch.Tensor, z: np.ndarray | None, floor: torch.Tensor | None
          ) -> torch.Tensor:
    """``c / scale + z * sqrt(floor)`` (columns on dim 1), without a graph: the values the
    ADC sees, from which a calibrated range is taken."""
    out = torch.empty_like(c)
    sd = floor.sqrt().numpy() if floor is not None else np.empty(0, np.float32)
    zz = z.reshape(c.shape[0], c.shape[1], -1) if z is not None else np.empty((0, 0, 0), np.float32)
    _noisy(_view3(c.detach()), _scale2(scale, c), zz, sd, _view3(out))
    return out


class _Quantised(torch.autograd.Function):
    @staticmethod
    def forward(ctx, c, x, scale, fs, w, levels, acc):
        lv = float(levels)
        a = (lv / fs).contiguous() if levels else fs
        b = (fs / lv).contiguous() if levels else fs
        out = torch.empty_like(x) if acc is None else acc.detach().clone()
        mask = np.empty(_view3(x).shape, np.uint8)
        _quantised(_view3(x), fs.contiguous().numpy(), a.numpy(), b.numpy(), w.contiguous().numpy(),
                   bool(levels), _view3(out), acc is None, mask)
        ctx.save_for_backward(scale, a, b, w)
        ctx.mask, ctx.levels, ctx.shape, ctx.acc = mask, bool(levels), c.shape, acc is not None
        return out

    @staticmethod
    def backward(ctx, g):
        scale, a, b, w = ctx.saved_tensors
        gc = torch.empty(ctx.shape, dtype=g.dtype)
        _grad(_view3(g), _scale2(scale, g), a.numpy(), b.numpy(), w.contiguous().numpy(), ctx.levels,
              ctx.mask, _view3(gc))
        return gc, None, None, None, None, None, g if ctx.acc else None


def quantised(c: torch.Tensor, x: torch.Tensor, scale: torch.Tensor, fs: torch.Tensor, w: torch.Tensor,
              levels: int, acc: torch.Tensor | None) -> torch.Tensor:
    """``acc`` plus the band's converted values: ``x`` (:func:`noisy` of ``c``) clipped at
    +-``fs`` per column, rounded to ``levels`` (0: not rounded) with a straight-through
    gradient, times ``w`` per column; the gradient goes to ``c`` (and ``acc``)."""
    return _Quantised.apply(c, x, scale, fs, w, levels, acc)
