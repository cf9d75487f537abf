"""The tensor operations of a read that do not need the Numba kernels.

Shared by the CPU read (:mod:`crossbar.read.array` with :mod:`crossbar.read.adc_kernels`),
the plain-torch read on accelerators (:func:`read_torch`), the torch layers
and the cost model: the patch layout of a convolution (:func:`im2col`), the one
recurrence of RNN, GRU and LSTM layers (:func:`recurrence`), the
bfloat16 variance product of the exact read noise with its error bound,
keyed normal draws, and the one sampler of Qin & Vucinic's Eq. 2/3 output
noise (:func:`qin_noise`), used by abstract profiles and noise-injection layers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.nn import functional as F

from crossbar.seeds import derive
from crossbar.threads import torch_threads

from . import adc_kernels
from .layout import cell_variances


def im2col(x: torch.Tensor, kernel_size, stride, padding, dilation) -> torch.Tensor:
    """The patches of a convolution with any number of spatial dimensions, one row per output
    position: (N * prod(out)) x (C * prod(kernel)).

    Rows run over images, then output positions (first spatial axis slowest); a
    row's entries are ordered (channel, kernel offsets) like
    ``conv.weight.reshape(out, -1)``. One strided view and one copy (torch's
    ``unfold`` makes two, and has no 3-D form).
    """
    dims = len(kernel_size)
    if any(padding):
        x = F.pad(x, [p for p in reversed(padding) for _ in (0, 1)])
    x = x.contiguous()
    n, c, *size = x.shape
    out = [(size[i] - dilation[i] * (kernel_size[i] - 1) - 1) // stride[i] + 1 for i in range(dims)]
    s = x.stride()
    windows = x.as_strided((n, *out, c, *kernel_size),
                           (s[0], *(s[2 + i] * stride[i] for i in range(dims)), s[1],
                            *(s[2 + i] * dilation[i] for i in range(dims))))
    return windows.reshape(n * math.prod(out), c * math.prod(kernel_size))


def _lstm_step(pre: torch.Tensor, h: torch.Tensor, c: torch.Tensor | None):
    i, f, g, o = pre.chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def _gru_step(pre: torch.Tensor, h: torch.Tensor, c: None):
    r, z, n_x, n_h = pre.chunk(4, dim=1)
    r, z = torch.sigmoid(r), torch.sigmoid(z)
    n = torch.tanh(n_x + r * n_h)
    return (1 - z) * n + z * h, None


# The cells: pre-activation widths in hidden sizes, and one step (pre, h, c) -> (h, c).
CELLS: dict[str, tuple[int, Callable]] = {
    "LSTM": (4, _lstm_step),  # i, f, g, o (torch's order)
    "GRU": (4, _gru_step),  # r, z, W_in x + b_in, W_hn h + b_hn (r multiplies the last only)
    "RNN_TANH": (1, lambda pre, h, c: (torch.tanh(pre), None)),
    "RNN_RELU": (1, lambda pre, h, c: (torch.relu(pre), None)),
}


Gate = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def recurrence(mode: str, x: torch.Tensor, hx, gates: Sequence[Gate], *, directions: int, hidden: int,
               batch_first: bool):
    """Stacked (bidirectional) RNN, GRU or LSTM layers over ``x``, as ``nn.RNN`` / ``nn.GRU`` /
    ``nn.LSTM`` compute them: the one recurrence of the analog layers and of the layers with
    placed noise.

    ``mode``: a key of :data:`CELLS`; ``gates[k * directions + d](x_t, h)`` gives layer k,
    direction d's pre-activations at one step (the cell's layout, e.g. ``W [x, h] + b``);
    ``x``: (steps, batch, features), (batch, steps, features) with ``batch_first``, or an
    unbatched (steps, features); ``hx``: the initial state (``(h0, c0)`` for an LSTM, else
    ``h0``; None: zeros). The reverse direction runs from the last step to the first and
    the two directions' outputs are concatenated on the feature axis. Returns
    ``(outputs, h_n)`` or, for an LSTM, ``(outputs, (h_n, c_n))``.
    """
    _, step = CELLS[mode]
    batched = x.dim() == 3
    if not batched:
        x = x.unsqueeze(1)
    elif batch_first:
        x = x.transpose(0, 1)
    lstm = mode == "LSTM"
    if hx is None:
        zeros = x.new_zeros(len(gates), x.shape[1], hidden)
        h0, c0 = (zeros, zeros) if lstm else (zeros, None)
    else:
        h0, c0 = hx if lstm else (hx, None)
        if not batched:
            h0, c0 = h0.unsqueeze(1), None if c0 is None else c0.unsqueeze(1)
    seq, hs, cs = x, [], []
    for k in range(len(gates) // directions):
        outs_dir = []
        for d in range(directions):
            i = k * directions + d
            h, c = h0[i], None if c0 is None else c0[i]
            outs = []
            for t in range(seq.shape[0]) if d == 0 else range(seq.shape[0] - 1, -1, -1):
                h, c = step(gates[i](seq[t], h), h, c)
                outs.append(h)
            outs_dir.append(torch.stack(outs if d == 0 else outs[::-1]))
            hs.append(h)
            cs.append(c)
        seq = outs_dir[0] if directions == 1 else torch.cat(outs_dir, dim=2)
    h_n = torch.stack(hs)
    c_n = torch.stack(cs) if lstm else None
    if not batched:
        seq, h_n, c_n = seq.squeeze(1), h_n.squeeze(1), None if c_n is None else c_n.squeeze(1)
    elif batch_first:
        seq = seq.transpose(0, 1)
    return (seq, (h_n, c_n)) if lstm else (seq, h_n)


def keyed_normal(like: torch.Tensor, key: int, mean: float, std: float) -> torch.Tensor:
    """A tensor like ``like`` (shape, dtype, device) of N(mean, std^2) draws of stream ``key``.

    On the CPU the draws are the counter-based block stream of
    :func:`crossbar.read.adc_kernels.normals` (independent of the thread count);
    elsewhere a ``torch.Generator`` on the tensor's device seeded with ``key``
    (other numbers, the same distribution).
    """
    if like.device.type == "cpu":
        with torch_threads():
            z = adc_kernels.normals(np.uint64(key), like.numel(), float(mean), float(std))
        return torch.from_numpy(z).view(like.shape).to(like.dtype)
    gen = torch.Generator(device=like.device)
    gen.manual_seed(int(key))
    return torch.empty_like(like).normal_(mean, std, generator=gen)


def qin_noise(y: torch.Tensor, kind: str, sigma: float,
              normal: Callable[[torch.Tensor, float, float], torch.Tensor],
              inplace: bool = False) -> torch.Tensor:
    """Qin & Vucinic's output noise: Eq. 3 ``y * z``, z ~ N(1, sigma^2) (``kind="mult"``),
    or Eq. 2 ``y + z``, z ~ N(0, sigma^2) (``kind="add"``); ``y`` itself for ``"none"`` or sigma 0.

    ``normal(like, mean, std)`` draws the z: the noise-injection layers pass
    their draw counter's source, abstract device profiles a keyed stream
    (:func:`keyed_normal`). Gradients flow through: d(out)/dy = z (mult) or 1
    (add). ``inplace``: overwrite ``y`` (a read's own output, no gradient).
    """
    if kind == "none" or sigma == 0.0:
        return y
    if kind == "mult":
        z = normal(y, 1.0, sigma)
        return y.mul_(z) if inplace else y * z
    if kind == "add":
        z = normal(y, 0.0, sigma)
        return y.add_(z) if inplace else z.add_(y)
    raise ValueError(f"output noise kind must be 'mult', 'add' or 'none', got {kind!r}")


def variance_product(u: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
    """The read-noise variance of every column current, sum_i u_i^2 s_ij^2, for every row of ``u``.

    bfloat16 operands (``variance`` is stored so; the CPU read gets u^2 so
    rounded from the DAC kernel), float32 accumulation, a bfloat16 result:
    every term is >= 0, so the relative error is at most
    ``variance_error_bound(rows)`` (see :meth:`crossbar.read.array.CrossbarArray.mvm`).
    """
    return torch.matmul(u.square().to(torch.bfloat16), variance)


def variance_error_bound(rows: int) -> float:
    """Largest relative error of :func:`variance_product` against exact arithmetic, for
    ``rows`` terms: u^2, the stored variances and the result each rounded once to
    bfloat16 (unit roundoff 2^-8), a float32 sum of non-negative terms (rows * 2^-24)."""
    return (1 + 2.0**-8) ** 3 * (1 + rows * 2.0**-24) - 1


def read_torch(array, x: torch.Tensor, key: int | None) -> torch.Tensor:
    """The physical read of a :class:`~crossbar.read.array.CrossbarArray` in plain torch operations,
    for tensors on an accelerator.

    Same model as the CPU kernels (DAC, one product per row band, exact read
    noise through the bfloat16 variance product, ADC, digital sum); its
    normals come from a ``torch.Generator`` per band seeded with
    ``derive(key, band)``, so the numbers differ from the CPU stream, their
    distribution does not. Runs on CPU tensors too (that is how it is tested).
    """
    p = array.profile
    scale = x.abs().amax(dim=1, keepdim=True)
    scale = torch.where(scale == 0, torch.ones_like(scale), scale)
    u = x / scale
    if p.dac_bits:
        levels = float(2 ** (p.dac_bits - 1) - 1)
        u = torch.round(u * levels) / levels
    out = torch.zeros(x.shape[0], array.shape[1], device=x.device)
    for i, (r0, r1) in enumerate(array.bands):
        ub = u[:, r0:r1]
        v = ub @ array.conductance[i, : r1 - r0].float()
        if array.variance is not None:
            var = variance_product(ub, cell_variances(array.conductance, array.variance, i, r1 - r0)).float()
            gen = torch.Generator(device=x.device)
            gen.manual_seed(derive(key, i))
            v = v + var.sqrt() * torch.randn(v.shape, generator=gen, device=x.device)
        fs = array.full_scale[i].to(torch.float32)
        v = torch.clamp(v, -fs, fs)
        if p.adc_bits:
            levels = float(2 ** (p.adc_bits - 1) - 1)
            v = torch.round(v * (levels / fs)) * (fs / levels)
        out += v * array.col_scale[i].to(torch.float32) * scale
    return out
