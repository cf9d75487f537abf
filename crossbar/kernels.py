"""Numba kernels for the per-element work of a crossbar tile.

Plain functions on NumPy arrays: no classes, no torch. Every random number is
drawn from a counter-based generator: the value for element ``i`` of stream
``key`` is a pure function of ``(key, i)``. Results therefore do not depend on
the number of threads, the order in which ``prange`` visits elements, or on
how often other streams were used.

The generator hashes with the SplitMix64 finaliser (Steele, Lea & Flood,
OOPSLA 2014); one 64-bit hash gives two normals by Marsaglia and Tsang's
ziggurat method (J. Stat. Softw. 2000).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_ONE = np.uint64(1)
_TWO_M53 = 1.0 / 9007199254740992.0  # 2**-53


@njit(inline="always")
def _mix(z):
    """SplitMix64 finaliser: a bijective avalanche hash of a uint64."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(inline="always")
def _uniform(key, counter):
    """Uniform in (0, 1] for element ``counter`` of stream ``key``."""
    h = _mix(key + _GOLDEN * (counter + _ONE))
    return ((h >> _S11) + _ONE) * _TWO_M53


def _ziggurat_tables(layers: int = 128, r: float = 3.442619855899, v: float = 9.91256303526217e-3):
    """Marsaglia & Tsang (J. Stat. Softw. 5(8), 2000) ziggurat tables for N(0, 1).

    Returns k (acceptance thresholds on the 24-bit magnitude), w (layer
    widths per unit of that magnitude) and f (the density at layer edges).
    """
    m = float(1 << 24)
    k = np.zeros(layers, dtype=np.int64)
    w = np.zeros(layers)
    f = np.zeros(layers)
    d = t = r
    q = v / np.exp(-0.5 * d * d)
    k[0] = int(d / q * m)
    k[1] = 0
    w[0] = q / m
    w[layers - 1] = d / m
    f[0] = 1.0
    f[layers - 1] = np.exp(-0.5 * d * d)
    for i in range(layers - 2, 0, -1):
        d = np.sqrt(-2.0 * np.log(v / d + np.exp(-0.5 * d * d)))
        k[i + 1] = int(d / t * m)
        t = d
        f[i] = np.exp(-0.5 * d * d)
        w[i] = d / m
    return k, w, f


_ZK, _ZW, _ZF = _ziggurat_tables()
_ZR = 3.442619855899
_MASK7 = np.uint64(127)
_MASK32 = np.uint64(0xFFFFFFFF)
_S7 = np.uint64(7)
_S32 = np.uint64(32)
_SALT = np.uint64(0xD1B54A32D192ED03)


@njit(inline="always")
def _zig_fast(bits):
    """Try one 32-bit word: layer from the low 7 bits, signed 25-bit position from the rest.

    Returns (value, accepted, layer, signed position).
    """
    layer = np.int64(bits & _MASK7)
    hz = np.int64(bits >> _S7) - (1 << 24)
    if abs(hz) < _ZK[layer]:
        return hz * _ZW[layer], True, layer, hz
    return 0.0, False, layer, hz


@njit
def _zig_slow(key, slot, layer, hz):
    """The ziggurat's rare path (about 1 % of draws): tail or wedge, with extra uniforms.

    Extra uniforms come from a salted sub-stream of (key, slot), so the result
    still depends only on (key, slot).
    """
    sub = _mix(key ^ _SALT) + slot * np.uint64(1 << 20)
    n = np.uint64(0)
    while True:
        x = hz * _ZW[layer]
        if layer == 0:
            while True:
                xt = -np.log(_uniform(sub, n)) / _ZR
                yt = -np.log(_uniform(sub, n + _ONE))
                n += np.uint64(2)
                if yt + yt >= xt * xt:
                    break
            return _ZR + xt if hz > 0 else -_ZR - xt
        if _ZF[layer] + _uniform(sub, n) * (_ZF[layer - 1] - _ZF[layer]) < np.exp(-0.5 * x * x):
            return x
        bits = _mix(sub + _GOLDEN * (n + _ONE)) & _MASK32
        n += np.uint64(2)
        value, ok, layer, hz = _zig_fast(bits)
        if ok:
            return value


@njit(inline="always")
def _normal_pair(key, pair):
    """Two independent standard normals for pair index ``pair``: one 64-bit hash, two ziggurat draws."""
    h = _mix(key + _GOLDEN * (pair + _ONE))
    z0, ok0, l0, h0 = _zig_fast(h & _MASK32)
    if not ok0:
        z0 = _zig_slow(key, np.uint64(2) * pair, l0, h0)
    z1, ok1, l1, h1 = _zig_fast(h >> _S32)
    if not ok1:
        z1 = _zig_slow(key, np.uint64(2) * pair + _ONE, l1, h1)
    return z0, z1


@njit(parallel=True, cache=True)
def standard_normal(key: np.uint64, n: int) -> np.ndarray:
    """``n`` standard normals of stream ``key`` (float64)."""
    out = np.empty(n)
    npairs = (n + 1) // 2
    for p in prange(npairs):
        z0, z1 = _normal_pair(key, np.uint64(p))
        out[2 * p] = z0
        if 2 * p + 1 < n:
            out[2 * p + 1] = z1
    return out


@njit(cache=True, nogil=True)
def normal_float32_into(key: np.uint64, out: np.ndarray, first: int, mean: float, std: float) -> None:
    """out[i] = draw ``first + i`` of N(mean, std^2) of stream ``key`` as float32 (``first`` even).

    Serial and without the GIL: it runs between torch operations, where a
    second OpenMP pool would compete with torch's for the cores; callers split
    a large draw over plain threads (:func:`crossbar.threads.run_split`).
    """
    n = out.size
    p0 = first // 2
    for p in range((n + 1) // 2):
        z0, z1 = _normal_pair(key, np.uint64(p0 + p))
        out[2 * p] = mean + std * z0
        if 2 * p + 1 < n:
            out[2 * p + 1] = mean + std * z1


@njit(cache=True)
def normal_float32(key: np.uint64, n: int, mean: float, std: float) -> np.ndarray:
    """``n`` draws of N(mean, std^2) of stream ``key`` as float32 (noise-injection layers)."""
    out = np.empty(n, dtype=np.float32)
    normal_float32_into(key, out, 0, mean, std)
    return out


@njit(parallel=True, cache=True)
def uniform(key: np.uint64, n: int) -> np.ndarray:
    """``n`` uniforms in (0, 1] of stream ``key`` (float64)."""
    out = np.empty(n)
    for i in prange(n):
        out[i] = _uniform(key, np.uint64(i))
    return out


@njit(parallel=True, cache=True)
def quantise_levels(g: np.ndarray, g_min: float, g_max: float, levels: int) -> np.ndarray:
    """Round conductances to the nearest of ``levels`` equally spaced values in [g_min, g_max]."""
    flat_in = np.ascontiguousarray(g).ravel()
    flat_out = np.empty(flat_in.size)
    step = (g_max - g_min) / (levels - 1)
    for i in prange(flat_in.size):
        k = np.rint((flat_in[i] - g_min) / step)
        k = min(max(k, 0.0), levels - 1.0)
        flat_out[i] = g_min + k * step
    return flat_out.reshape(g.shape)


@njit(parallel=True, cache=True)
def program_cells(
    target: np.ndarray,
    std: np.ndarray,
    key: np.uint64,
    tolerance: float,
    max_iterations: int,
    p_stuck_on: float,
    p_stuck_off: float,
    g_on: float,
    g_off: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Programme every cell once: faults, then write (and verify) with Gaussian error.

    A cell is stuck at ``g_on`` with probability ``p_stuck_on`` or at ``g_off``
    with probability ``p_stuck_off``; otherwise each write lands at
    ``target + std * z``. With ``max_iterations > 1`` a write is repeated until
    it lands within ``tolerance`` (Siemens) of the target or the cap is reached
    (a stuck cell outside tolerance uses the whole cap). Conductances are
    clipped at 0. Returns the programmed conductances and the write count.
    """
    n = target.size
    t = np.ascontiguousarray(target).ravel()
    s = np.ascontiguousarray(std).ravel()
    g = np.empty(n)
    iters = np.empty(n, dtype=np.int32)
    for i in prange(n):
        fault = _uniform(key, np.uint64(i))
        if fault <= p_stuck_on or fault > 1.0 - p_stuck_off:
            stuck = g_on if fault <= p_stuck_on else g_off
            g[i] = stuck
            ok = abs(stuck - t[i]) <= tolerance
            iters[i] = 1 if (ok or max_iterations == 1) else max_iterations
            continue
        value = t[i]
        k = 0
        while k < max_iterations:
            # Stream slots: element i, write k -> one normal; offset past the
            # fault uniforms by using pair indices above n.
            z0, _ = _normal_pair(key, np.uint64(n + i * max_iterations + k))
            value = t[i] + s[i] * z0
            k += 1
            if abs(value - t[i]) <= tolerance:
                break
        g[i] = max(value, 0.0)
        iters[i] = k
    return g.reshape(target.shape), iters.reshape(target.shape)


@njit(parallel=True, cache=True)
def drift_conductance(g0: np.ndarray, nu: np.ndarray, t: float, t0: float) -> np.ndarray:
    """Power-law drift G(t) = G0 (t / t0)^-nu, no change for t <= t0."""
    a = np.ascontiguousarray(g0).ravel()
    b = np.ascontiguousarray(nu).ravel()
    o = np.empty(a.size)
    ratio = max(t / t0, 1.0)
    lr = np.log(ratio)
    for i in prange(a.size):
        o[i] = a[i] * np.exp(-b[i] * lr)
    return o.reshape(g0.shape)


_ABS32 = np.int32(0x7FFFFFFF)
_INF32_BITS = np.int32(0x7F800000)
DAC_ROWS_PER_TASK = 32  # rows one thread converts with one set of scratch buffers
_DAC = {"parallel": True, "cache": True, "error_model": "numpy", "fastmath": {"contract"}}


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def _dac_row(x, x_bits, off, n, b, batch, bits, starts, u, u2, scale, sq, sq_bits, peak, peak_f) -> None:
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
    for band in range(starts.size - 1):
        r0 = starts[band]
        width = np.uint64(starts[band + 1] - r0)
        lo = np.uint64(batch * r0 + b * (starts[band + 1] - r0))
        src = np.uint64(off + r0)
        if bits > 0:
            for i in range(width):
                u[lo + i] = np.rint(x[src + i] * f) * inv_levels
        else:
            for i in range(width):
                u[lo + i] = x[src + i] * f
        if u2.size > 0:
            for i in range(width):
                sq[i] = u[lo + i] * u[lo + i]
            for i in range(width):  # round to nearest even in the upper 16 bits (u^2 >= 0)
                w = sq_bits[i]
                w = w + np.int32(0x7FFF) + ((w >> np.int32(16)) & np.int32(1))
                u2[lo + i] = np.uint16(w >> np.int32(16))


@njit(**_DAC)
def dac(x: np.ndarray, bits: int, starts: np.ndarray, u: np.ndarray, u2: np.ndarray,
        scale: np.ndarray) -> None:
    """Digital-to-analog conversion of each input row, written band by band.

    Each row of ``x`` (rows x inputs, float32, C order) is scaled by its
    largest magnitude (a digital scale per input vector, written to
    ``scale``; NaN for a row holding NaN or infinity, for the caller to
    report) and, for ``bits > 0``, rounded to the signed grid
    k / (2^(bits-1) - 1). The normalised voltages go to the flat float32
    buffer ``u`` band-major: the inputs ``starts[i]:starts[i+1]`` of every row
    form one contiguous (rows x band inputs) block at offset ``rows *
    starts[i]``, ready for one dense product per row band of tiles. Unless
    ``u2`` is empty, the squared voltages go to it in the same layout as
    bfloat16 bit patterns (uint16, rounded to nearest even, as torch rounds),
    the operand of the read-noise variance product.

    The largest magnitude is an integer maximum of the float bit patterns
    (vectorises without fast-math, and NaN or infinity show as bits >= those
    of inf); ``error_model="numpy"`` drops the zero checks on divisions, which
    would keep the loops from vectorising.
    """
    batch, n = x.shape
    flat = x.reshape(-1)
    flat_bits = flat.view(np.int32)
    tasks = (batch + DAC_ROWS_PER_TASK - 1) // DAC_ROWS_PER_TASK
    for task in prange(tasks):
        sq = np.empty(n, np.float32)
        peak = np.empty(1, np.int32)
        sq_bits, peak_f = sq.view(np.int32), peak.view(np.float32)
        for b in range(task * DAC_ROWS_PER_TASK, min(batch, (task + 1) * DAC_ROWS_PER_TASK)):
            _dac_row(flat, flat_bits, b * n, n, b, batch, bits, starts, u, u2, scale, sq, sq_bits,
                     peak, peak_f)


@njit(**_DAC)
def dac_patches(x: np.ndarray, kernel: np.ndarray, stride: np.ndarray, padding: np.ndarray,
                dilation: np.ndarray, out_hw: np.ndarray, bits: int, starts: np.ndarray,
                u: np.ndarray, u2: np.ndarray, scale: np.ndarray) -> None:
    """:func:`dac` of the im2col patches of the images ``x`` (N x C x H x W, float32), without
    writing the patch matrix: row n * H_out * W_out + oh * W_out + ow is the patch of output
    position (oh, ow) of image n, entries ordered (channel, kernel row, kernel column) as in
    :func:`crossbar.nn.analog.im2col` (zeros where the kernel reaches into the padding)."""
    n_img, channels, height, width = x.shape
    kh, kw = kernel[0], kernel[1]
    h_out, w_out = out_hw[0], out_hw[1]
    positions = h_out * w_out
    batch = n_img * positions
    n = channels * kh * kw
    padded = padding[0] > 0 or padding[1] > 0
    images = x.reshape(-1)
    plane = height * width
    for task in prange(n_img * h_out):  # one output row of one image: w_out patches
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
            _dac_row(block, block_bits, ow * n, n, first + ow, batch, bits, starts, u, u2, scale, sq, sq_bits,
                     peak, peak_f)
