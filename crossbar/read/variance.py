"""The read-noise variance product of the CPU read, sum_i u_i^2 s_ij^2: the bfloat16 product's
bits through a float32 product where that is faster.

The read multiplies the bfloat16 squares of its inputs with the bfloat16 cell variances
(:func:`crossbar.read.ops.variance_product`). torch runs that product in oneDNN; on a CPU
with AVX512-BF16 but no AMX its kernel (``avx512_core_bf16``) takes about 1.7 times a
float32 product of the same shape (docs/performance.md). Its arithmetic: each output is a
float32 sum, rounded at every step, of exact products (a bfloat16 times a bfloat16 fits a
float32), taken in the order 1, 0, 3, 2, ... of the inner index (VDPBF16PS adds a pair's odd
product first), values below 2^-126 flushed to zero, the sum rounded to bfloat16 (nearest
even). MKL's float32 product adds each output's products in the order of the inner index for
shapes of at least 32 rows and 16 columns and inner size 2-256 (the route takes those with
128-256 inner rows and at least 256 columns, where it is the faster), so the float32 product
of operands whose inner pairs are swapped, rounded to bfloat16, has the same bits, provided no
product or partial sum falls below 2^-126 (checked per product from the operands' smallest
positive values; the squares and variances are never negative).

Whether the two agree is a property of the machine's kernels, not of this code: a probe
(:func:`agrees`) compares them bit for bit once per process on shapes at the edges of the
routed region and on the read's own sizes; where any bit differs (another CPU or BLAS), every
product stays the bfloat16 one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from numba import njit

from crossbar.threads import run_split

# Shapes whose float32 product has the bfloat16 bits (checked): at least 32 rows and 16 columns
# (smaller products take other BLAS paths, GEMV, that add in other orders), inner sizes 2-256
# (longer ones are summed in blocks). Of those, the routed ones: where the float32 route is the
# faster (benchmarks/bench_variance.py --grid, caches cold as in a read: mostly 0.7-0.95 of the
# bfloat16 kernel's time from 128 inner rows and 256 columns, up to 2.5 times it for few inner
# rows or columns, where the product is cheap and widening and rounding are not).
MIN_ROWS, EXACT_COLS, EXACT_INNER, MAX_INNER = 32, 16, 2, 256
MIN_COLS, MIN_INNER = 256, 128
_TINY = 2.0**-126  # float32's smallest normal: DAZ/FTZ of the bfloat16 kernel below it
_PROBE: list[bool] = []  # the probe's verdict, once per process
_HELD: list[bool] = []  # non-empty inside bfloat16_only()
_FORCED: list[bool] = []  # non-empty inside routing()
# (batch, rows, inner, cols): the routed region's edges and the read's own sizes
PROBE_SHAPES = ((1, 32, 128, 256), (1, 33, 255, 257), (3, 1000, 256, 256), (1, 100, 129, 300),
                (4, 64, 256, 1024), (2, 500, 200, 256))
_EXP, _SIGN, _MAG = np.uint32(0x7F800000), np.uint32(0x80000000), np.uint32(0x7FFFFFFF)


@njit(inline="always")
def _widened(half, low, sign):
    """A bfloat16 bit pattern (in the high half of a uint32) as float32's, below 2^-126 flushed
    to a signed zero; the running smallest positive pattern and OR of all patterns (branch-free,
    so that the loops vectorise)."""
    w = half if (half & _EXP) != 0 else half & _SIGN
    m = w & _MAG
    return w, min(low, m if m != 0 else _EXP), sign | w


@njit(cache=True, nogil=True, error_model="numpy")
def widen_swapped(src: np.ndarray, groups: int, inner: int, block: int, out: np.ndarray) -> int:
    """out[g, j] = src[g, j ^ 1] as float32 (each viewed as groups x inner x block; the last
    index of an odd ``inner`` in place), ``src`` bfloat16 bit patterns (uint16, flat),
    ``out`` float32 (flat); values below 2^-126 become zero. Returns the float32 bit pattern
    of the smallest positive value (that of inf if none; -1 if any value has its sign set)."""
    ob = out.view(np.uint32)
    low, sign = _EXP, np.uint32(0)
    paired = inner - inner % 2
    if block == 1 and paired == inner:  # all pairs in one run: a pair's two patterns are one uint32
        pairs, wide = src.view(np.uint32), out.view(np.uint64)
        for p in range(pairs.size):
            hi, low, sign = _widened(pairs[p] & np.uint32(0xFFFF0000), low, sign)
            lo, low, sign = _widened(pairs[p] << np.uint32(16), low, sign)
            wide[p] = np.uint64(hi) | (np.uint64(lo) << np.uint64(32))
    elif block == 1:
        for g in range(groups):
            b = g * inner
            for j in range(inner):
                w, low, sign = _widened(np.uint32(src[b + (j ^ 1 if j < paired else j)]) << np.uint32(16),
                                        low, sign)
                ob[b + j] = w
    else:  # rows of ``block`` values: one contiguous run each
        for g in range(groups):
            base = g * inner * block
            for j in range(inner):
                row = src[base + (j ^ 1 if j < paired else j) * block:][:block]
                dst = ob[base + j * block:][:block]
                for i in range(block):
                    w, low, sign = _widened(np.uint32(row[i]) << np.uint32(16), low, sign)
                    dst[i] = w
    return -1 if sign & _SIGN else np.int64(low)


def routed(rows: int, inner: int, cols: int) -> bool:
    """Whether a product of this shape goes through float32 (the shape rule and the probe)."""
    min_cols, min_inner = (EXACT_COLS, EXACT_INNER) if _FORCED else (MIN_COLS, MIN_INNER)
    shape = rows >= MIN_ROWS and cols >= min_cols and min_inner <= inner <= MAX_INNER
    return shape and not _HELD and agrees()


@contextmanager
def routing() -> Iterator[None]:
    """Within it every product of a shape with the bfloat16 bits in float32 takes the route, fast
    or not (for ``benchmarks/bench_variance.py --grid`` and the tests; the probe covers only
    the routed shapes)."""
    _FORCED.append(True)
    try:
        yield
    finally:
        _FORCED.pop()


@contextmanager
def bfloat16_only() -> Iterator[None]:
    """Within it every variance product is torch's bfloat16 one (the reference of tests and
    benchmarks)."""
    _HELD.append(True)
    try:
        yield
    finally:
        _HELD.pop()


def product(u2: torch.Tensor, cells: torch.Tensor, out: torch.Tensor, scratch, operand=None,
            name: str = "variance operand"):
    """``out`` = ``u2 @ cells`` (bfloat16, 2-D or batched 3-D, contiguous ``u2`` and ``cells``),
    bit for bit torch's bfloat16 product, through float32 where :func:`routed` allows it.
    ``scratch(name, numel, dtype)`` gives reused buffers (``name``: the widened ``cells``'); pass
    the returned ``operand`` back for later products with the same ``cells`` (None: widened anew)."""
    rows, inner = u2.shape[-2], u2.shape[-1]
    if not routed(rows, inner, cells.shape[-1]):
        torch.matmul(u2, cells, out=out)
        return None
    if operand is None:
        operand = widen(cells, scratch(name, cells.numel()))
    w, w_low = operand
    a = scratch("squares float32", u2.numel()).view(u2.shape)
    a_low = _widen_rows(_bits(u2), u2.numel() // inner, inner, a.numpy().ravel())
    if w_low < 0 or a_low < 0 or a_low * w_low < _TINY:  # below 2^-126 the two kernels differ
        torch.matmul(u2, cells, out=out)
        return operand
    wide = scratch("variance float32", out.numel()).view(out.shape)
    torch.matmul(a, w, out=wide)
    out.copy_(wide)  # rounded to nearest even, as the bfloat16 kernel rounds its sums
    return operand


def widen(cells: torch.Tensor, buf: torch.Tensor) -> tuple[torch.Tensor, float]:
    """``cells`` (inner x cols, or bands x inner x cols; bfloat16, contiguous) as the float32
    operand of :func:`product` in ``buf``, and its smallest positive value (-1: a sign set)."""
    inner, cols = cells.shape[-2], cells.shape[-1]
    groups = cells.numel() // (inner * cols)
    low = widen_swapped(_bits(cells), groups, inner, cols, buf.numpy())
    return buf.view(cells.shape), _value(low)


def _widen_rows(src: np.ndarray, rows: int, inner: int, out: np.ndarray) -> float:
    """:func:`widen_swapped` of ``rows`` rows of ``inner`` squares, split over the compute threads;
    the smallest positive value of all (-1: a sign set)."""
    lows: list[int] = []

    def part(lo: int, hi: int) -> None:
        values = slice(lo * inner, hi * inner)
        lows.append(widen_swapped(src[values], hi - lo, inner, 1, out[values]))

    run_split(part, rows, max(2, (1 << 16) // inner))
    return -1.0 if min(lows) < 0 else _value(min(lows))


def _value(pattern: int) -> float:
    """A float32 bit pattern from :func:`widen_swapped` as a float (-1 stays -1)."""
    return -1.0 if pattern < 0 else float(np.uint32(pattern).view(np.float32))


def agrees() -> bool:
    """Whether this machine's float32 route gives the bfloat16 product's bits on every probe
    shape (decided once per process; fixed probe operands, no global random state)."""
    if not _PROBE:
        _PROBE.append(_probe())
    return _PROBE[0]


def bfloat16_kernel() -> str:
    """Which kind of oneDNN kernel torch's bfloat16 products get on this CPU, from its flags
    (Linux): "amx", "avx512_core_bf16", "other" or "unknown" (no /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next(line for line in f if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return "unknown"
    if "amx_bf16" in flags:
        return "amx"
    return "avx512_core_bf16" if "avx512_bf16" in flags else "other"


def _probe() -> bool:
    gen = torch.Generator().manual_seed(22)
    for batch, rows, inner, cols in PROBE_SHAPES:
        levels = torch.randint(0, 128, (batch, rows, inner), generator=gen).float() / 127
        u2 = (levels * levels).to(torch.bfloat16)
        cells = (torch.rand(batch, inner, cols, generator=gen) ** 4 * 1e-3).to(torch.bfloat16)
        want = torch.matmul(u2, cells)
        w, low = widen(cells, torch.empty(cells.numel()))
        a = torch.empty(u2.shape)
        widen_swapped(_bits(u2), batch * rows, inner, 1, a.numpy().ravel())
        if not torch.equal(torch.matmul(a, w).to(torch.bfloat16).view(torch.int16), want.view(torch.int16)):
            return False
    return True


def _bits(t: torch.Tensor) -> np.ndarray:
    return t.contiguous().view(torch.int16).numpy().view(np.uint16).ravel()
