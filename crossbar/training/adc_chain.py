"""One row band's converted values in the hardware-aware training forward, fused.

The band's column values c (rows x columns x positions) go through, per value: the
division by the input vector's scale s, the circuit noise floor (sqrt(floor) z), the
ADC's clip at +-full scale, its rounding to the levels and the rescale by the band's
w_max; the bands' values are summed, and the last band multiplies the sum by s and adds
the digital bias. As separate torch operations that chain is a dozen passes over the
activations (docs/performance.md); here it is one Numba pass per band (and a sample of
at most 2^16 values per tile first, for a calibrated full scale), with the same float32
operations in the same order, so the results are the bits of the unfused chain
(``crossbar.training.hardware._band``): ``x = c / s + z * sqrt(floor)``,
``y = rint(max(min(x, fs), -fs) * (L / fs)) * (fs / L) * w_max``, ``out = (sum y) * s + bias``.
The chain runs without a graph: the training gradient is the ideal product's
(``crossbar.training.hardware.straight``).
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit

__all__ = ["RUN", "convert", "sample_size", "sampled"]


RUN = 16  # consecutive values per sampled run: one 64-byte cache line of float32


@njit(cache=True, error_model="numpy")
def _sampled(c, scale, z, sd, c0, c1, step, out):
    """out: |c / scale + z sd| of columns c0:c1 in their own (rows, columns, positions)
    order, in runs of RUN consecutive values, every step-th run; ``sd`` empty: no noise."""
    pos, width = c.shape[2], c1 - c0
    total = c.shape[0] * width * pos
    add = sd.size > 0
    k = 0
    for start in range(0, total, RUN * step):
        n, rest = divmod(start, width * pos)
        j, p = divmod(rest, pos)
        for _ in range(min(RUN, total - start)):
            v = c[n, c0 + j, p] / scale[n, p]
            if add:
                v = v + z[n, c0 + j, p] * sd[c0 + j]
            out[k] = abs(v)
            k += 1
            p += 1
            if p == pos:
                p = 0
                j += 1
                if j == width:
                    j = 0
                    n += 1


def sample_size(total: int, step: int) -> int:
    """The values a sample of ``total`` takes: runs of RUN, every ``step``-th run."""
    runs = -(-total // (RUN * step))
    return (runs - 1) * RUN + min(RUN, total - (runs - 1) * RUN * step)


@njit(cache=True, error_model="numpy")
def _convert(c, scale, z, sd, fs, a, b, w, levels, acc, first, last, bias):
    """acc (+)= the ADC's value of c / scale + z sd, times w, per column; the last band then
    times scale and plus ``bias`` (empty: none)."""
    rows, cols, pos = c.shape
    add, biased = sd.size > 0, bias.size > 0
    for n in range(rows):
        for j in range(cols):
            top, aj, bj, wj = fs[j], a[j], b[j], w[j]
            for p in range(pos):
                v = c[n, j, p] / scale[n, p]
                if add:
                    v = v + z[n, j, p] * sd[j]
                y = max(min(v, top), -top)
                if levels:
                    y = np.float32(np.rint(y * aj)) * bj
                y = y * wj
                if not first:
                    y = acc[n, j, p] + y
                if last:
                    y = y * scale[n, p]
                    if biased:
                        y = y + bias[j]
                acc[n, j, p] = y


def _view3(t: torch.Tensor) -> np.ndarray:
    """rows x columns x positions of a contiguous float32 CPU tensor (a view)."""
    return t.contiguous().reshape(t.shape[0], t.shape[1], -1).numpy()


def _operands(c: torch.Tensor, scale: torch.Tensor, z: np.ndarray | None, floor: torch.Tensor | None):
    """(c, scale per row and position, z, sqrt(floor) per column) as the kernels take them."""
    s = scale.expand(c.shape[0], 1, *c.shape[2:]).contiguous().reshape(c.shape[0], -1).numpy()
    zz = z.reshape(c.shape[0], c.shape[1], -1) if z is not None else np.empty((0, 0, 0), np.float32)
    sd = floor.sqrt().numpy() if floor is not None else np.empty(0, np.float32)
    return _view3(c), s, zz, sd


def sampled(c: torch.Tensor, scale: torch.Tensor, z: np.ndarray | None, floor: torch.Tensor | None,
            c0: int, c1: int, step: int) -> np.ndarray:
    """|c / scale + z sqrt(floor)| (columns on dim 1; ``scale`` the per-vector scale,
    broadcastable to ``c`` with one column) of columns ``c0:c1`` in their (rows, columns,
    positions) order, in runs of RUN values, every ``step``-th run (one cache line in
    ``step`` is read): the values a calibrated range is taken from."""
    out = np.empty(sample_size(c.shape[0] * (c1 - c0) * c[0, 0].numel(), step), np.float32)
    _sampled(*_operands(c, scale, z, floor), c0, c1, step, out)
    return out


def convert(c: torch.Tensor, scale: torch.Tensor, z: np.ndarray | None, floor: torch.Tensor | None,
            fs: torch.Tensor, w: torch.Tensor, levels: int, acc: torch.Tensor | None, last: bool,
            bias: torch.Tensor | None) -> torch.Tensor:
    """``acc`` plus the band's converted values of ``c`` (None: written over ``c`` itself; else
    added to ``acc`` in place): c / scale + z sqrt(floor) clipped at +-``fs`` per column,
    rounded to ``levels`` (0: not rounded), times ``w`` per column; with ``last``, the sum
    times ``scale`` plus ``bias`` (None: none)."""
    lv = float(levels)
    a = (lv / fs).contiguous() if levels else fs
    b = (fs / lv).contiguous() if levels else fs
    out = c.contiguous() if acc is None else acc
    bias_v = bias.detach().contiguous().numpy() if bias is not None and last else np.empty(0, np.float32)
    _convert(*_operands(c, scale, z, floor), fs.contiguous().numpy(), a.numpy(), b.numpy(),
             w.contiguous().numpy(), bool(levels), _view3(out), acc is None, last, bias_v)
    return out
