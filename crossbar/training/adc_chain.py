"""One row band's converted values in the hardware-aware training forward, fused.

The band's column values c (rows x columns x positions) go through, per value: the
division by the input vector's scale s, the circuit noise floor (sqrt(floor) z), the
ADC's clip at +-full scale, its rounding to the levels and the rescale by the band's
w_max; the bands' values are summed, and the last band multiplies the sum by s and adds
the digital bias. As separate torch operations that chain is a dozen passes over the
activations (docs/performance.md); here it is two Numba passes per band, in place: the
noise (its normals drawn block by block as they are used, never stored), then the ADC
(after a calibrated full scale is known: a sample of runs of the noisy values), with the
same float32 operations in the same order, so the results are the bits of the unfused
chain (``crossbar.training.hardware._band``): ``x = c / s + z * sqrt(floor)``,
``y = rint(max(min(x, fs), -fs) * (L / fs)) * (fs / L) * w_max``, ``out = (sum y) * s + bias``.
The chain runs without a graph: the training gradient is the ideal product's
(``crossbar.training.hardware.straight``).
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit

from crossbar.read import adc_kernels
from crossbar.threads import run_rows, run_split

__all__ = ["RUN", "convert", "noisy", "sample_size", "sampled"]

RUN = 16  # consecutive values per sampled run: one 64-byte cache line of float32 (a block holds whole runs)


@njit(cache=True, nogil=True, error_model="numpy")
def _noise_tasks(key, c, scale, sd, t0, t1, step, sample):
    """c = c / scale (+ z sd[j], z element i of the normals of stream ``key`` for flat element
    i; ``sd`` empty: no noise) over the flat elements of normal blocks t0 .. t1 - 1, in place;
    ``sample`` (not empty) gets |c| of the runs of RUN values every ``step``-th run of them
    (:func:`_sampled` of all the columns; a block holds whole runs)."""
    _, cols, pos = c.shape
    flat = c.reshape(-1)
    per_row = cols * pos
    add = sd.size > 0
    block = 2 * adc_kernels.PAIRS_PER_TASK
    z = np.empty(0, np.float32)
    for task in range(t0, t1):
        if add:
            i0, z = adc_kernels.normal_block(key, task, flat.size)
            end = i0 + z.size
        else:
            i0, end = task * block, min(flat.size, (task + 1) * block)
        i = i0
        while i < end:  # runs within one row: positions of one column, or columns (pos == 1)
            n, rest = divmod(i, per_row)
            j, p = divmod(rest, pos)
            run = min(per_row - rest if pos == 1 else pos - p, end - i)
            dst = flat[i:i + run]  # slices: the loops below vectorise
            s = scale[n, 0:1] if pos == 1 else scale[n, p:p + run]
            if add:
                zz = z[i - i0:i - i0 + run]
                if pos == 1:
                    for k in range(run):
                        dst[k] = dst[k] / s[0] + zz[k] * sd[j + k]
                else:
                    sj = sd[j]
                    for k in range(run):
                        dst[k] = dst[k] / s[k] + zz[k] * sj
            elif pos == 1:
                for k in range(run):
                    dst[k] = dst[k] / s[0]
            else:
                for k in range(run):
                    dst[k] = dst[k] / s[k]
            i += run
        if sample.size > 0:
            every = RUN * step
            for start in range(-(-i0 // every) * every, end, every):
                k0 = start // every * RUN
                for k in range(min(RUN, flat.size - start)):
                    sample[k0 + k] = abs(flat[start + k])


@njit(cache=True, error_model="numpy")
def _sampled(x, c0, c1, step, out):
    """out: |x| of columns c0:c1 in their own (rows, columns, positions) order, in runs of RUN
    consecutive values, every step-th run."""
    pos, width = x.shape[2], c1 - c0
    total = x.shape[0] * width * pos
    k = 0
    for start in range(0, total, RUN * step):
        n, rest = divmod(start, width * pos)
        j, p = divmod(rest, pos)
        for _ in range(min(RUN, total - start)):
            out[k] = abs(x[n, c0 + j, p])
            k += 1
            p += 1
            if p == pos:
                p = 0
                j += 1
                if j == width:
                    j = 0
                    n += 1


@njit(inline="always", error_model="numpy")
def _adc(v, top, a, b, w, levels, prev, first, sn, last, bias):
    """One value of :func:`_convert`: ``v`` clipped at +-``top``, rounded (``levels``: rint(y a)
    b), times ``w``; plus ``prev`` unless ``first``; for the ``last`` band times ``sn`` plus
    ``bias``."""
    y = max(min(v, top), -top)
    if levels:
        y = np.float32(np.rint(y * a)) * b
    y = y * w
    if not first:
        y = prev + y
    if last:
        y = y * sn + bias if bias is not None else y * sn
    return y


@njit(cache=True, nogil=True, error_model="numpy")
def _convert(x, fs, a, b, w, levels, acc, first, scale, bias):
    """acc (+)= the ADC's value of x times w, per column; ``scale`` not empty (the last band):
    then times scale and plus ``bias`` (empty: none)."""
    rows, cols, pos = x.shape
    last, biased = scale.size > 0, bias.size > 0
    for n in range(rows):
        for j in range(cols):
            top, aj, bj, wj = fs[j], a[j], b[j], w[j]
            for p in range(pos):
                sn = scale[n, p] if last else np.float32(1.0)
                acc[n, j, p] = _adc(x[n, j, p], top, aj, bj, wj, levels, acc[n, j, p], first, sn, last,
                                    bias[j] if biased else None)


@njit(cache=True, nogil=True, error_model="numpy")
def _convert_rows(x, fs, a, b, w, levels, acc, first, scale, bias):
    """:func:`_convert` of values without positions (rows x columns: a linear layer's), the
    columns in the inner loop so that it vectorises (with one position in the inner loop it
    ran 10-30x slower); the same operations per value."""
    rows, cols = x.shape
    last, biased = scale.size > 0, bias.size > 0
    for n in range(rows):
        xr, out = x[n], acc[n]
        sn = scale[n, 0] if last else np.float32(1.0)
        for j in range(cols):
            out[j] = _adc(xr[j], fs[j], a[j], b[j], w[j], levels, out[j], first, sn, last,
                          bias[j] if biased else None)


def _view3(t: torch.Tensor) -> np.ndarray:
    """rows x columns x positions of a contiguous float32 CPU tensor (a view)."""
    return t.reshape(t.shape[0], t.shape[1], -1).numpy()


def _per_row(scale: torch.Tensor, like: torch.Tensor) -> np.ndarray:
    """The per-vector scale (broadcastable to ``like`` with one column) as rows x positions."""
    return scale.expand(like.shape[0], 1, *like.shape[2:]).contiguous().reshape(like.shape[0], -1).numpy()


def noisy(c: torch.Tensor, scale: torch.Tensor, key: np.uint64 | None, floor: torch.Tensor | None,
          step: int = 0) -> tuple[torch.Tensor, np.ndarray | None]:
    """``c`` (a contiguous float32 CPU tensor, columns on dim 1) made, in place, the values the
    ADC sees: c / scale + z sqrt(floor), z the standard normals of stream ``key`` in c's order
    (those of ``Draws.normal`` with that key; ``floor`` None: no noise), split over the torch
    threads (the same bits at any count); and with ``step`` > 0 the sample of all its columns
    (:func:`sampled` ``(c, 0, columns, step)``) taken on the way, else None."""
    x = _view3(c)
    s = _per_row(scale, c)
    sd = floor.sqrt().numpy() if floor is not None else np.empty(0, np.float32)
    k = key if floor is not None else np.uint64(0)
    sample = np.empty(sample_size(c.numel(), step) if step else 0, np.float32)
    run_split(lambda t0, t1: _noise_tasks(k, x, s, sd, t0, t1, max(step, 1), sample),
              adc_kernels.task_count(c.numel()), min_part=16)
    return c, (sample if step else None)


def sample_size(total: int, step: int) -> int:
    """The values a sample of ``total`` takes: runs of RUN, every ``step``-th run."""
    runs = -(-total // (RUN * step))
    return (runs - 1) * RUN + min(RUN, total - (runs - 1) * RUN * step)


def sampled(x: torch.Tensor, c0: int, c1: int, step: int) -> np.ndarray:
    """|x| of columns ``c0:c1`` (dim 1 of a contiguous float32 CPU tensor) in their (rows,
    columns, positions) order, in runs of RUN values, every ``step``-th run (one cache line in
    ``step`` is read): the values a calibrated range is taken from."""
    out = np.empty(sample_size(x.shape[0] * (c1 - c0) * x[0, 0].numel(), step), np.float32)
    _sampled(_view3(x), c0, c1, step, out)
    return out


def convert(x: torch.Tensor, fs: torch.Tensor, w: torch.Tensor, levels: int, acc: torch.Tensor | None,
            scale: torch.Tensor | None, bias: torch.Tensor | None) -> torch.Tensor:
    """``acc`` plus the band's converted values of ``x`` (:func:`noisy`; None: written over ``x``
    itself, else added to ``acc`` in place): clipped at +-``fs`` per column, rounded to
    ``levels`` (0: not rounded), times ``w`` per column; for the last band (``scale`` given)
    the sum times ``scale`` plus ``bias`` (None: none)."""
    lv = float(levels)
    a = (lv / fs).contiguous() if levels else fs
    b = (fs / lv).contiguous() if levels else fs
    out = x if acc is None else acc
    s = _per_row(scale, x) if scale is not None else np.empty((0, 0), np.float32)
    biased = bias is not None and scale is not None
    bias_v = bias.detach().contiguous().numpy() if biased else np.empty(0, np.float32)
    x3, out3, fs_v, w_v = _view3(x), _view3(out), fs.contiguous().numpy(), w.contiguous().numpy()
    a_v, b_v, first = a.numpy(), b.numpy(), acc is None

    kernel = _convert
    if x3.shape[2] == 1:  # no positions: rows x columns
        kernel, x3, out3 = _convert_rows, x3[:, :, 0], out3[:, :, 0]

    def rows(n0: int, n1: int) -> None:
        kernel(x3[n0:n1], fs_v, a_v, b_v, w_v, bool(levels), out3[n0:n1], first, s[n0:n1], bias_v)

    run_rows(rows, x3.shape[0], x3[0].size)
    return out
