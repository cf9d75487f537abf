"""Numba kernels of the digital-to-analog conversion: input rows (or a convolution's
patches, taken straight from the images) to the row voltages of every read.

Plain functions on NumPy arrays, no classes, no torch (like :mod:`crossbar.read.kernels`).
One read per input slice and phase (docs/physics.md, "Converters"): each input vector
x is scaled by s = max|x| and coded k = rint(u K), u = x / s, K = 2^(bits-1) - 1; read
r = slice * phases + phase drives sign(k) d / D of slice digit d (D = 2^w - 1), or,
with two phases, only its positive (phase 0) or negative (phase 1) part as a positive
voltage. One slice of one phase (one-shot bipolar) is u rounded to k / K.

``error_model="numpy"`` drops the zero checks on divisions, which would keep the loops
from vectorising; unsigned flat indices avoid negative-index checks for the same reason.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from crossbar.threads import run_split

_ABS32 = np.int32(0x7FFFFFFF)
_INF32_BITS = np.int32(0x7F800000)
DAC_ROWS_PER_TASK = 32  # rows one thread converts with one set of scratch buffers
# serial and GIL-free: the tasks are split over plain threads (crossbar.threads.run_split)
_DAC = {"nogil": True, "cache": True, "error_model": "numpy", "fastmath": {"contract"}}


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def _bf16_squares(u, lo, width, u2, sq, sq_bits) -> None:
    """u2[lo + i] = u[lo + i]^2 as bfloat16 bit patterns (round to nearest even; u^2 >= 0)."""
    for i in range(width):
        sq[i] = u[lo + i] * u[lo + i]
    for i in range(width):
        w = sq_bits[i]
        w = w + np.int32(0x7FFF) + ((w >> np.int32(16)) & np.int32(1))
        u2[lo + i] = np.uint16(w >> np.int32(16))


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def _dac_row(x, x_bits, off, n, b, batch, bits, widths, phases, starts, u, u2, scale, sq, sq_bits,
             peak, peak_f) -> None:
    """Convert input row ``b``, the ``n`` entries of the flat float32 ``x`` at ``off`` (``x_bits``:
    its int32 view), as :func:`dac` describes. ``sq``/``sq_bits`` (n entries) and ``peak``/
    ``peak_f`` (1 entry) are scratch and their views. Flat indices, no slices: a slice costs
    reference counting per row."""
    m = np.int32(0)
    start = np.uint64(off)
    for i in range(np.uint64(n)):
        m = max(m, x_bits[start + i] & _ABS32)
    if m >= _INF32_BITS:
        scale[b] = np.nan
        return
    peak[0] = m
    mf = peak_f[0] if m > 0 else np.float32(1.0)
    scale[b] = mf
    levels = np.float32(2 ** (bits - 1) - 1) if bits > 0 else np.float32(1.0)
    inv_levels = np.float32(1.0) / levels
    f = levels / mf
    reads = widths.size * phases
    for band in range(starts.size - 1):
        r0 = starts[band]
        width = np.uint64(starts[band + 1] - r0)
        src = np.uint64(off + r0)
        block = np.uint64(batch * reads * r0)  # this band's reads: reads x batch x width
        if reads == 1:  # one-shot, one phase: the voltage is the rounded code k / K
            lo = block + np.uint64(b) * width
            if bits > 0:
                for i in range(width):
                    u[lo + i] = np.rint(x[src + i] * f) * inv_levels
            else:
                for i in range(width):
                    u[lo + i] = x[src + i] * f
            if u2.size > 0:
                _bf16_squares(u, lo, width, u2, sq, sq_bits)
            continue
        shift = 0
        for s in range(widths.size):
            w = widths[s]
            mask = np.int64(2**w - 1) if bits > 0 else np.int64(0)
            inv_d = np.float32(1.0) / np.float32(mask) if bits > 0 else np.float32(1.0)
            for ph in range(phases):
                r = s * phases + ph
                lo = block + np.uint64(r * batch + b) * width
                for i in range(width):
                    k = x[src + i] * f
                    if bits > 0:
                        k = np.rint(k)
                        d = np.float32((np.int64(abs(k)) >> shift) & mask) * inv_d
                        v = d if k >= 0 else -d
                    else:
                        v = k
                    if phases == 2:
                        v = max(v, np.float32(0.0)) if ph == 0 else max(-v, np.float32(0.0))
                    u[lo + i] = v
                if u2.size > 0:
                    _bf16_squares(u, lo, width, u2, sq, sq_bits)
            shift += w


def dac(x: np.ndarray, bits: int, widths: np.ndarray, phases: int, starts: np.ndarray, u: np.ndarray,
        u2: np.ndarray, scale: np.ndarray) -> None:
    """Digital-to-analog conversion of each input row into the voltages of every read, band by band.

    Each row of ``x`` (rows x inputs, float32, C order) is scaled by its
    largest magnitude (a digital scale per input vector, written to
    ``scale``; NaN for a row holding NaN or infinity, for the caller to
    report) and, for ``bits > 0``, coded on the signed grid k / (2^(bits-1) - 1)
    and cut into the slices of ``widths`` (magnitude bits, LSB first) and
    ``phases`` (1, or 2 for separately converted positive and negative
    inputs): R = len(widths) * phases reads. The normalised voltages go to
    the flat float32 buffer ``u`` band-major: the inputs ``starts[i]:starts[i+1]``
    of every read and row form one contiguous (R x rows x band inputs) block
    at offset ``R * rows * starts[i]``, read r's rows first, ready for one
    dense product per row band of tiles. Unless ``u2`` is empty, the squared
    voltages go to it in the same layout as bfloat16 bit patterns (uint16,
    rounded to nearest even, as torch rounds), the operand of the read-noise
    variance product.

    The largest magnitude is an integer maximum of the float bit patterns
    (vectorises without fast-math, and NaN or infinity show as bits >= those
    of inf). Tasks of DAC_ROWS_PER_TASK rows, split over plain threads.
    """
    tasks = (x.shape[0] + DAC_ROWS_PER_TASK - 1) // DAC_ROWS_PER_TASK
    run_split(lambda t0, t1: _dac_tasks(x, bits, widths, phases, starts, u, u2, scale, t0, t1), tasks, 1)


@njit(**_DAC)
def _dac_tasks(x, bits, widths, phases, starts, u, u2, scale, t0, t1) -> None:
    """Tasks t0 .. t1 of :func:`dac` (rows task * DAC_ROWS_PER_TASK ...)."""
    batch, n = x.shape
    flat = x.reshape(-1)
    flat_bits = flat.view(np.int32)
    for task in range(t0, t1):
        sq = np.empty(n, np.float32)
        peak = np.empty(1, np.int32)
        sq_bits, peak_f = sq.view(np.int32), peak.view(np.float32)
        for b in range(task * DAC_ROWS_PER_TASK, min(batch, (task + 1) * DAC_ROWS_PER_TASK)):
            _dac_row(flat, flat_bits, b * n, n, b, batch, bits, widths, phases, starts, u, u2, scale,
                     sq, sq_bits, peak, peak_f)


def dac_patches(x: np.ndarray, kernel: np.ndarray, stride: np.ndarray, padding: np.ndarray,
                dilation: np.ndarray, out_hw: np.ndarray, bits: int, widths: np.ndarray, phases: int,
                starts: np.ndarray, u: np.ndarray, u2: np.ndarray, scale: np.ndarray) -> None:
    """:func:`dac` of the im2col patches of the images ``x`` (N x C x H x W, float32), without
    writing the patch matrix: row n * H_out * W_out + oh * W_out + ow is the patch of output
    position (oh, ow) of image n, entries ordered (channel, kernel row, kernel column) as in
    :func:`crossbar.read.ops.im2col` (zeros where the kernel reaches into the padding). One task
    per output row of an image, split over plain threads."""
    run_split(lambda t0, t1: _patch_tasks(x, kernel, stride, padding, dilation, out_hw, bits, widths, phases,
                                          starts, u, u2, scale, t0, t1), x.shape[0] * int(out_hw[0]), 1)


@njit(**_DAC)
def _patch_tasks(x, kernel, stride, padding, dilation, out_hw, bits, widths, phases, starts, u, u2, scale,
                 t0, t1) -> None:
    """Tasks t0 .. t1 of :func:`dac_patches`."""
    n_img, channels, height, width = x.shape
    kh, kw = kernel[0], kernel[1]
    h_out, w_out = out_hw[0], out_hw[1]
    positions = h_out * w_out
    batch = n_img * positions
    n = channels * kh * kw
    padded = padding[0] > 0 or padding[1] > 0
    images = x.reshape(-1)
    plane = height * width
    for task in range(t0, t1):  # one output row of one image: w_out patches
        img = np.int64(task) // h_out
        oh = np.int64(task) - img * h_out
        block = np.zeros(w_out * n, np.float32) if padded else np.empty(w_out * n, np.float32)
        peak = np.empty(1, np.int32)
        sq = np.empty(n, np.float32)
        block_bits, sq_bits, peak_f = block.view(np.int32), sq.view(np.int32), peak.view(np.float32)
        for i in range(kh):
            ih = oh * stride[0] - padding[0] + i * dilation[0]
            if ih < 0 or ih >= height:
                continue  # padding: the zeros stay
            for j in range(kw):
                shift = j * dilation[1] - padding[1]  # iw = ow * stride + shift
                lo = max(0, (-shift + stride[1] - 1) // stride[1])
                hi = min(w_out, (width - 1 - shift) // stride[1] + 1)
                for c in range(channels):
                    k = np.uint64((c * kh + i) * kw + j)
                    src = np.uint64((img * channels + c) * plane + ih * width + shift)
                    for ow in range(np.uint64(lo), np.uint64(hi)):
                        block[ow * np.uint64(n) + k] = images[src + ow * np.uint64(stride[1])]
        first = img * positions + oh * w_out
        for ow in range(w_out):
            _dac_row(block, block_bits, ow * n, n, first + ow, batch, bits, widths, phases, starts, u, u2,
                     scale, sq, sq_bits, peak, peak_f)
