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
    """The ziggurat's rare path (about 3 % of draws): tail or wedge, with extra uniforms.

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


@njit(inline="always")
def normal_at(key, index):
    """Draw ``index`` of stream ``key``: the value :func:`standard_normal` puts at ``index``."""
    z0, z1 = _normal_pair(key, np.uint64(index // 2))
    return z0 if index % 2 == 0 else z1


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


_ZK32 = _ZK.astype(np.int32)  # the thresholds (< 2^24) as int32, so the fast path vectorises
_MASK7_32 = np.uint32(127)
_S7_32 = np.uint32(7)
ZIGGURAT_BLOCK = 1024  # pairs per block of normal_float32_into (its scratch stays in L1)


@njit(cache=True, nogil=True, error_model="numpy")
def normal_float32_into(key: np.uint64, out: np.ndarray, first: int, mean: float, std: float) -> None:
    """out[i] = draw ``first + i`` of N(mean, std^2) of stream ``key`` as float32 (``first`` even):
    the numbers of :func:`_normal_pair`.

    Per block of pairs, the fast path of every draw (hash, layer, acceptance
    and value) runs in loops the compiler vectorises; the rejected draws (about
    3 %) are then listed and redone by :func:`_zig_slow`. Serial and without
    the GIL: it runs between torch operations, where a second OpenMP pool
    would compete with torch's for the cores; callers split a large draw over
    plain threads (:func:`crossbar.threads.run_split`).
    """
    n = out.size
    p0 = first // 2
    npairs = (n + 1) // 2
    words = np.empty(2 * ZIGGURAT_BLOCK, np.uint32)
    value = np.empty(2 * ZIGGURAT_BLOCK, np.float32)
    accepted = np.empty(2 * ZIGGURAT_BLOCK, np.uint8)
    redo = np.empty(2 * ZIGGURAT_BLOCK, np.int64)
    for b0 in range(0, npairs, ZIGGURAT_BLOCK):
        count = min(ZIGGURAT_BLOCK, npairs - b0)
        for p in range(count):  # draw 2p from the low word of pair p's hash, 2p + 1 from the high word
            h = _mix(key + _GOLDEN * (np.uint64(p0 + b0 + p) + _ONE))
            words[2 * p] = np.uint32(h & _MASK32)
            words[2 * p + 1] = np.uint32(h >> _S32)
        for k in range(2 * count):  # _zig_fast on every word
            w = words[k]
            layer = w & _MASK7_32
            hz = np.int32(w >> _S7_32) - np.int32(1 << 24)
            accepted[k] = abs(hz) < _ZK32[layer]
            value[k] = mean + std * (np.float64(hz) * _ZW[layer])
        rejected = 0
        for k in range(2 * count):
            redo[rejected] = k
            rejected += 1 - accepted[k]
        for i in range(rejected):
            k = redo[i]
            w = np.uint64(words[k])
            slot = np.uint64(2 * (p0 + b0) + k)
            value[k] = mean + std * _zig_slow(key, slot, np.int64(w & _MASK7), np.int64(w >> _S7) - (1 << 24))
        m = min(2 * count, n - 2 * b0)
        out[2 * b0 : 2 * b0 + m] = value[:m]


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
