"""The DAC in the hardware-aware training forward, fused: each input vector's scale and rounding in Numba.

Each vector of x (a row of a linear layer's input, an image of a convolution's) is
divided by its largest magnitude s (1 where it is 0), scaled to the DAC's L =
2^(bits-1) - 1 levels, rounded (half to even) and scaled back. As torch operations
that is a dozen passes over the activations; here it is one Numba pass with the same
float32 operations in the same order, so the results are the bits of the unfused
chain (``crossbar.training.hardware.dac``): ``out = rint((x / s) * L) * (s / L)``. It
runs without a graph: the training gradient is the ideal product's
(``crossbar.training.hardware.straight``).
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit

from crossbar.threads import run_rows

__all__ = ["channel_max", "dac", "largest"]


LANES = 16  # independent running maxima: a reduction the compiler vectorises (one lane: 4x slower)


@njit(inline="always")
def largest(row):
    """max |row| (0 for an empty or all-zero row), exactly: a maximum does not depend on order.
    Also the hardware-aware draw's scale of a weight column (``device_draw._normalise``)."""
    acc = np.zeros(LANES, np.float32)
    body = row.size // LANES * LANES
    for i in range(0, body, LANES):
        for lane in range(LANES):
            v = abs(row[i + lane])
            acc[lane] = v if v > acc[lane] else acc[lane]
    top = np.float32(0.0)
    for i in range(body, row.size):
        v = abs(row[i])
        top = v if v > top else top
    for lane in range(LANES):
        top = acc[lane] if acc[lane] > top else top
    return top


@njit(cache=True, nogil=True, error_model="numpy")
def _forward(x, levels, out, scale):
    """out: x rounded per row to ``levels``; scale: each row's largest |x| (1 where 0)."""
    rows, size = x.shape
    for n in range(rows):
        top = largest(x[n])
        s = top if top != np.float32(0.0) else np.float32(1.0)
        scale[n] = s
        b = s / levels
        for i in range(size):
            out[n, i] = np.float32(np.rint((x[n, i] / s) * levels)) * b


@njit(cache=True, nogil=True, error_model="numpy")
def _channel_max(x, mag):
    """mag[n, p] = max over channels c of |x[n, c, p]| (rows x channels x positions)."""
    rows, channels, pos = x.shape
    for n in range(rows):
        m = mag[n]
        m[:] = np.float32(0.0)
        for c in range(channels):
            src = x[n, c]
            for p in range(pos):
                v = abs(src[p])
                m[p] = v if v > m[p] else m[p]


def channel_max(x: torch.Tensor) -> torch.Tensor:
    """The largest |x| over dim 1 (kept) of a float32 CPU tensor with positions after it: a
    convolution's input magnitude per position, exactly (a maximum does not depend on order)."""
    x3 = x.detach().contiguous().reshape(x.shape[0], x.shape[1], -1).numpy()
    mag = torch.empty(x.shape[0], 1, *x.shape[2:], dtype=x.dtype)
    m = mag.view(x.shape[0], -1).numpy()
    run_rows(lambda n0, n1: _channel_max(x3[n0:n1], m[n0:n1]), x3.shape[0], x3[0].size)
    return mag


def dac(x: torch.Tensor, levels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(``x`` (a float32 CPU tensor, one vector per index of dim 0) as the DAC applies it:
    each vector over its largest magnitude, rounded to ``levels``, scaled back; each vector's
    scale, broadcastable to x)."""
    flat = x.detach().contiguous().reshape(x.shape[0], -1)
    out = torch.empty_like(flat)
    scale = torch.empty(x.shape[0], dtype=x.dtype)
    f, o, s, lv = flat.numpy(), out.numpy(), scale.numpy(), np.float32(levels)
    run_rows(lambda n0, n1: _forward(f[n0:n1], lv, o[n0:n1], s[n0:n1]), f.shape[0], f.shape[1])
    return out.view(x.shape), scale.view(-1, *(1,) * (x.dim() - 1))
