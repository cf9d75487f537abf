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


@njit(inline="always", error_model="numpy")
def _grid(bits, widths):
    """The DAC's constants of a launch (computed once, not per row): K, 1 / K, and each slice's
    digit mask and 1 / D (see :func:`dac`)."""
    levels = np.float32(2 ** (bits - 1) - 1) if bits > 0 else np.float32(1.0)
    masks, inv_ds = np.empty(widths.size, np.int64), np.empty(widths.size, np.float32)
    for s in range(widths.size):
        masks[s] = np.int64(2 ** widths[s] - 1) if bits > 0 else np.int64(0)
        inv_ds[s] = np.float32(1.0) / np.float32(masks[s]) if bits > 0 else np.float32(1.0)
    return levels, np.float32(1.0) / levels, masks, inv_ds


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def _dac_rows(x, x_bits, b0, rows, n, batch, bits, grid, widths, phases, written, starts, u, u2, scale, sq,
              sq_bits, peak, peak_f, codes) -> None:
    """Convert input rows b0 .. b0 + rows - 1, row b0 + i the ``n`` entries of the flat float32
    ``x`` at i * n (``x_bits``: its int32 view), as :func:`dac` describes (``grid``:
    :func:`_grid`). ``sq``/``sq_bits`` (n entries) and ``peak``/``peak_f`` (1 entry) are scratch
    and their views; ``codes`` (a :func:`_code_scratch`) holds the rows' codes when a row makes
    several reads: each input is coded once, then each read of a band is written for all the
    rows in sequence (one store stream at a time; row by row, a row's reads x bands scatter
    its stores over as many places). Flat indices, no slices, and one call for many rows: a
    slice, and each call of an inlined function, costs reference counting of its arrays."""
    levels, inv_levels, masks, inv_ds = grid
    reads = widths.size * phases
    mags, negs, values, skip = codes
    for row in range(rows):
        b = b0 + row
        off = row * n
        m = np.int32(0)
        start = np.uint64(off)
        for i in range(np.uint64(n)):
            m = max(m, x_bits[start + i] & _ABS32)
        skip[row] = m >= _INF32_BITS
        if skip[row]:
            scale[b] = np.nan
            continue
        peak[0] = m
        mf = peak_f[0] if m > 0 else np.float32(1.0)
        scale[b] = mf
        f = levels / mf
        if reads > 1:
            for i in range(np.uint64(n)):
                k = x[start + i] * f
                if bits > 0:
                    k = np.rint(k)
                    mags[start + i] = np.int64(abs(k))
                negs[start + i] = not k >= 0
                values[start + i] = k
            continue
        for band in range(starts.size - 1):  # one-shot, one phase: the voltage is the rounded code k / K
            r0 = starts[band]
            width = np.uint64(starts[band + 1] - r0)
            src = np.uint64(off + r0)
            lo = np.uint64(batch * r0) + np.uint64(b) * width
            if bits > 0:
                for i in range(width):
                    u[lo + i] = np.rint(x[src + i] * f) * inv_levels
            else:
                for i in range(width):
                    u[lo + i] = x[src + i] * f
            if u2.size > 0:
                _bf16_squares(u, lo, width, u2, sq, sq_bits)
    if reads == 1:
        return
    for band in range(starts.size - 1):
        r0 = starts[band]
        width = np.uint64(starts[band + 1] - r0)
        block = np.uint64(batch * reads * r0)  # this band's reads: reads x batch x width
        shift = 0
        for s in range(widths.size):
            mask, inv_d = masks[s], inv_ds[s]
            for ph in range(written):  # phase 1 only where the caller reads it
                r = s * phases + ph
                for row in range(rows):
                    if skip[row]:
                        continue
                    src = np.uint64(row * n + r0)
                    lo = block + np.uint64(r * batch + b0 + row) * width
                    for i in range(width):
                        if bits > 0:
                            d = np.float32((mags[src + i] >> shift) & mask) * inv_d
                            v = -d if negs[src + i] else d
                        else:
                            v = values[src + i]
                        if phases == 2:
                            v = max(v, np.float32(0.0)) if ph == 0 else max(-v, np.float32(0.0))
                        u[lo + i] = v
                    if u2.size > 0:
                        _bf16_squares(u, lo, width, u2, sq, sq_bits)
            shift += widths[s]


@njit(inline="always")
def _code_scratch(rows, n):
    """Scratch of :func:`_dac_rows` for ``rows`` rows of ``n`` inputs: each input's code
    magnitude and sign, its unrounded code (no DAC bits) and each row's skip mark."""
    size = rows * n
    return (np.empty(size, np.int64), np.empty(size, np.bool_), np.empty(size, np.float32),
            np.empty(rows, np.bool_))


def dac(x: np.ndarray, bits: int, widths: np.ndarray, phases: int, starts: np.ndarray, u: np.ndarray,
        u2: np.ndarray, scale: np.ndarray, negative: bool = True) -> None:
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
    variance product. ``negative=False``: the caller knows that no input is negative, so
    the negative phase's reads are zero, and does not read them: they are not written.

    The largest magnitude is an integer maximum of the float bit patterns
    (vectorises without fast-math, and NaN or infinity show as bits >= those
    of inf). Tasks of DAC_ROWS_PER_TASK rows, split over plain threads.
    """
    tasks = (x.shape[0] + DAC_ROWS_PER_TASK - 1) // DAC_ROWS_PER_TASK
    written = phases if negative else 1
    run_split(lambda t0, t1: _dac_tasks(x, bits, widths, phases, written, starts, u, u2, scale, t0, t1),
              tasks, 1)


@njit(**_DAC)
def _dac_tasks(x, bits, widths, phases, written, starts, u, u2, scale, t0, t1) -> None:
    """Tasks t0 .. t1 of :func:`dac` (rows task * DAC_ROWS_PER_TASK ...)."""
    batch, n = x.shape
    grid = _grid(bits, widths)
    sq, peak = np.empty(n, np.float32), np.empty(1, np.int32)
    codes = _code_scratch(DAC_ROWS_PER_TASK, n)
    for task in range(t0, t1):
        b0, b1 = task * DAC_ROWS_PER_TASK, min(batch, (task + 1) * DAC_ROWS_PER_TASK)
        flat = x.reshape(-1)[b0 * n : b1 * n]
        _dac_rows(flat, flat.view(np.int32), b0, b1 - b0, n, batch, bits, grid, widths, phases, written,
                  starts, u, u2, scale, sq, sq.view(np.int32), peak, peak.view(np.float32), codes)


def dac_patches(x: np.ndarray, kernel: np.ndarray, stride: np.ndarray, padding: np.ndarray,
                dilation: np.ndarray, out_hw: np.ndarray, bits: int, widths: np.ndarray, phases: int,
                starts: np.ndarray, u: np.ndarray, u2: np.ndarray, scale: np.ndarray,
                negative: bool = True) -> None:
    """:func:`dac` of the im2col patches of the images ``x`` (N x C x H x W, float32, any strides,
    so a slice of a batch's channels is read in place), without writing the patch matrix: row
    n * H_out * W_out + oh * W_out + ow is the patch of output position (oh, ow) of image n,
    entries ordered (channel, kernel row, kernel column) as in :func:`crossbar.read.ops.im2col`
    (zeros where the kernel reaches into the padding); ``negative`` as :func:`dac` takes it. One
    task per output row of an image, split over plain threads."""
    if min(x.strides) < 0:
        x = np.ascontiguousarray(x)
    steps = np.array(x.strides, np.int64) // x.itemsize
    extent = 1 + int(np.sum((np.array(x.shape) - 1) * steps)) if x.size else 0
    flat = np.lib.stride_tricks.as_strided(x, shape=(extent,), strides=(x.itemsize,))  # every element x spans
    shape = np.array(x.shape, np.int64)
    written = phases if negative else 1
    run_split(lambda t0, t1: _patch_tasks(flat, shape, steps, kernel, stride, padding, dilation, out_hw, bits,
                                          widths, phases, written, starts, u, u2, scale, t0, t1),
              x.shape[0] * int(out_hw[0]), 1)


@njit(**_DAC)
def _patch_tasks(images, shape, steps, kernel, stride, padding, dilation, out_hw, bits, widths, phases,
                 written, starts, u, u2, scale, t0, t1) -> None:
    """Tasks t0 .. t1 of :func:`dac_patches` (``images``: the elements the images span, ``steps``
    their strides in elements): each patch gathered into one small buffer through a table of its
    entries' offsets (a vectorised gather; zeros where the kernel reaches into the padding), the
    patches of one output row then converted in one call."""
    n_img, channels, height, width = shape[0], shape[1], shape[2], shape[3]
    kh, kw = kernel[0], kernel[1]
    h_out, w_out = out_hw[0], out_hw[1]
    positions = h_out * w_out
    batch = n_img * positions
    n = channels * kh * kw
    last = np.int64(images.size - 1)
    # entry k = (c * kh + i) * kw + j: its input row and column from the patch's corner, and its offset
    di, dj, off = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64)
    for c in range(channels):
        for i in range(kh):
            for j in range(kw):
                k = (c * kh + i) * kw + j
                di[k], dj[k] = i * dilation[0], j * dilation[1]
                off[k] = c * steps[1] + di[k] * steps[2] + dj[k] * steps[3]
    reach_h, reach_w = (kh - 1) * dilation[0], (kw - 1) * dilation[1]
    grid = _grid(bits, widths)
    block = np.empty(w_out * n, np.float32)  # the patches of one output row
    sq, peak = np.empty(n, np.float32), np.empty(1, np.int32)
    codes = _code_scratch(w_out, n)
    block_bits, sq_bits, peak_f = block.view(np.int32), sq.view(np.int32), peak.view(np.float32)
    for task in range(t0, t1):  # one output row of one image: w_out patches
        img = np.int64(task) // h_out
        oh = np.int64(task) - img * h_out
        ih0 = oh * stride[0] - padding[0]
        rows_inside = ih0 >= 0 and ih0 + reach_h < height
        for ow in range(w_out):
            iw0 = ow * stride[1] - padding[1]
            corner = img * steps[0] + ih0 * steps[2] + iw0 * steps[3]
            at = np.uint64(ow * n)
            if rows_inside and iw0 >= 0 and iw0 + reach_w < width:
                for k in range(np.uint64(n)):
                    block[at + k] = images[np.uint64(corner + off[k])]
            else:
                for k in range(np.uint64(n)):
                    ih, iw = ih0 + di[k], iw0 + dj[k]
                    inside = (ih >= 0) & (ih < height) & (iw >= 0) & (iw < width)
                    value = images[np.uint64(min(max(corner + off[k], np.int64(0)), last))]
                    block[at + k] = value if inside else np.float32(0.0)
        _dac_rows(block, block_bits, img * positions + oh * w_out, w_out, n, batch, bits, grid, widths,
                  phases, written, starts, u, u2, scale, sq, sq_bits, peak, peak_f, codes)
