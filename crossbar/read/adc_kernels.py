"""Numba kernels of one array read: read noise and ADC, written to vectorise (the DAC is
:func:`crossbar.read.dac_kernels.dac`).

Plain functions on NumPy arrays (no classes, no torch), like
:mod:`crossbar.read.kernels`, whose counter-based hash they share: every random
number is a pure function of (stream key, index), so results do not depend
on the thread count or on how a batch is split into launches.

The read draws one normal per row band, row and column, the bulk of a
read's random numbers. They come from a block Box-Muller transform (Box &
Muller, Ann. Math. Stat. 1958) in float32 whose logarithm, sine and cosine
are short polynomials the compiler turns into SIMD code, several times faster
per normal than the ziggurat of :mod:`crossbar.read.kernels`, whose branches do
not vectorise. Accuracy: the uniforms have 32 bits (|z| <= 6.66, the tail
beyond has probability 3e-11); the polynomials are accurate to float32
rounding (relative error < 1e-6 in each normal).

``error_model="numpy"``: float division without Python's zero check, which
would keep a loop from vectorising.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from crossbar.read.kernels import _GOLDEN, _MASK32, _ONE, _S32, _mix
from crossbar.threads import run_split

_f32 = np.float32
_LN2 = _f32(math.log(2.0))
_SQRT2 = _f32(math.sqrt(2.0))
_HALF_PI = _f32(math.pi / 2)
_MANT = np.int32(0x007FFFFF)
_EXP0 = np.int32(0x3F800000)
# log(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.172 for m in [1/sqrt2, sqrt2]: the series to s^9
_L3, _L5, _L7, _L9 = _f32(1 / 3), _f32(1 / 5), _f32(1 / 7), _f32(1 / 9)
# sin and cos on [-pi/4, pi/4] (Taylor to t^11 and t^12: truncation < 1e-9)
_S3, _S5, _S7, _S9, _S11 = _f32(-1 / 6), _f32(1 / 120), _f32(-1 / 5040), _f32(1 / 362880), _f32(-1 / 39916800)
_C2, _C4, _C6, _C8, _C10, _C12 = (_f32(-1 / 2), _f32(1 / 24), _f32(-1 / 720), _f32(1 / 40320),
                                  _f32(-1 / 3628800), _f32(1 / 479001600))
_ONE32 = _f32(1.0)
_ZERO32 = _f32(0.0)
_HALF32 = _f32(0.5)
_TWO32 = _f32(2.0)
_QUARTER_TURNS = _f32(2.0**-30)  # 32-bit integer -> [0, 4): quarter turns of the angle
TASK_VALUES = 2048  # outputs read per block, one fill of the scratch buffers (kept in L1)
READ_TASKS = 32  # parallel tasks of one read at most (each allocates its scratch once)
PAIRS_PER_TASK = 2048  # pairs of normals one thread draws with one set of scratch buffers


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def normals_into(key, first_pair, npairs, z, t, e, v) -> None:
    """Fill z[0 : 2 * npairs] with standard normals: pair p (index first_pair + p of stream
    ``key``) gives z[p] and z[npairs + p]. ``t``, ``e``, ``v`` (float32) are scratch of at
    least ``npairs`` entries; ``t`` must be contiguous (it is viewed as int32)."""
    ti = t.view(np.int32)
    for p in range(npairs):  # one 64-bit hash: two 32-bit uniforms, straight to float32
        h = _mix(key + _GOLDEN * (first_pair + np.uint64(p) + _ONE))
        t[p] = _f32(np.int64(h >> _S32) + 1)  # u1 = t * 2^-32 in (0, 1]
        v[p] = _f32(np.int64(h & _MASK32)) * _QUARTER_TURNS  # the angle in quarter turns, [0, 4)
    for p in range(npairs):  # u1 = m * 2^e, m in [1, 2)
        bits = ti[p]
        e[p] = _f32((bits >> 23) - 127)
        ti[p] = (bits & _MANT) | _EXP0
    for p in range(npairs):
        m = t[p]
        big = m > _SQRT2
        m = m * _HALF32 if big else m
        ex = e[p] + (_ONE32 if big else _ZERO32) - _f32(32.0)
        s = (m - _ONE32) / (m + _ONE32)
        s2 = s * s
        log_m = _TWO32 * s * (_ONE32 + s2 * (_L3 + s2 * (_L5 + s2 * (_L7 + s2 * _L9))))
        r = math.sqrt(_f32(-2.0) * (ex * _LN2 + log_m))
        q = np.int32(v[p])  # quadrant 0..3, then an angle in [-pi/4, pi/4)
        th = (v[p] - _f32(q) - _HALF32) * _HALF_PI
        t2 = th * th
        sn = th * (_ONE32 + t2 * (_S3 + t2 * (_S5 + t2 * (_S7 + t2 * (_S9 + t2 * _S11)))))
        cs = _ONE32 + t2 * (_C2 + t2 * (_C4 + t2 * (_C6 + t2 * (_C8 + t2 * (_C10 + t2 * _C12)))))
        # rotate by q quarter turns (the uniform angle's fixed offset of pi/4 does not matter)
        odd = (q & 1) == 1
        sign = _ONE32 - _TWO32 * _f32(q >> 1)
        z[p] = r * (-sn if odd else cs) * sign
        z[npairs + p] = r * (cs if odd else sn) * sign


@njit(inline="always")
def normal_scratch(npairs):
    """The buffers :func:`normals_into` draws ``npairs`` pairs with: (z, t, e, v)."""
    return (np.empty(2 * npairs, np.float32), np.empty(npairs, np.float32), np.empty(npairs, np.float32),
            np.empty(npairs, np.float32))


@njit(inline="always")
def task_normals(key, task, n):
    """Block ``task`` of the first ``n`` normals of stream ``key``: (its first element, its
    normals). Block k holds pairs k * PAIRS_PER_TASK ... (elements from 2 k PAIRS_PER_TASK)."""
    p0 = task * PAIRS_PER_TASK
    count = min(PAIRS_PER_TASK, (n + 1) // 2 - p0)
    z, t, e, v = normal_scratch(count)
    normals_into(key, np.uint64(p0), count, z, t, e, v)
    return 2 * p0, z[: min(2 * count, n - 2 * p0)]


@njit(parallel=True, cache=True, error_model="numpy", fastmath={"contract"})
def normals(key: np.uint64, n: int, mean: float, std: float) -> np.ndarray:
    """``n`` draws of N(mean, std^2) (float32) of stream ``key``, in parallel blocks of
    pairs (:func:`task_normals`; any thread count, same bits)."""
    out = np.empty(n, dtype=np.float32)
    for task in prange(((n + 1) // 2 + PAIRS_PER_TASK - 1) // PAIRS_PER_TASK):  # task_count(n)
        scaled_normals_tasks(key, out, task, task + 1, mean, std)
    return out


def task_count(n: int) -> int:
    """The blocks of pairs :func:`normals` draws ``n`` normals in."""
    return ((n + 1) // 2 + PAIRS_PER_TASK - 1) // PAIRS_PER_TASK


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def normals_tasks(key: np.uint64, out: np.ndarray, t0: int, t1: int) -> None:
    """Blocks ``t0 .. t1 - 1`` (:func:`task_count`) of the standard normals :func:`normals`
    draws for stream ``key`` into ``out`` (float32, the whole draw): serial and GIL-free,
    for :func:`crossbar.threads.run_split` between torch operations."""
    for task in range(t0, t1):
        i0, z = task_normals(key, task, out.size)
        out[i0 : i0 + z.size] = z


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def scaled_normals_tasks(key: np.uint64, out: np.ndarray, t0: int, t1: int, mean: float, std: float) -> None:
    """Blocks ``t0 .. t1 - 1`` of :func:`normals`' draw of N(mean, std^2) for stream ``key`` into
    ``out`` (float32, the whole draw; the same bits): serial and GIL-free, for
    :func:`crossbar.threads.run_split`."""
    m32, s32 = _f32(mean), _f32(std)
    for task in range(t0, t1):
        i0, z = task_normals(key, task, out.size)
        dst = out[i0 : i0 + z.size]
        for i in range(dst.size):
            dst[i] = m32 + s32 * z[i]


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def normal_block(key: np.uint64, task: int, n: int):
    """Block ``task`` of the first ``n`` standard normals of stream ``key``: (its first
    element, its normals), compiled on its own with :func:`normals_tasks`' flags (the same
    bits), for kernels that use each block as it is drawn instead of storing the draw."""
    return task_normals(key, task, n)


@njit(cache=True, nogil=True)
def look_up(index: np.ndarray, table: np.ndarray, out: np.ndarray) -> None:
    """out[i] = table[index[i] & 0x7FFF] (flat uint16 arrays): a stored variance table read with
    the float16 bit patterns of the conductance, sign cleared (:mod:`crossbar.read.layout`)."""
    for i in range(index.size):
        out[i] = table[index[i] & np.uint16(0x7FFF)]


@njit(parallel=True, cache=True, error_model="numpy", fastmath={"contract"})
def call_part(g: np.ndarray, var_bits: np.ndarray, key: np.uint64, shared: float, fresh: float,
              g_out: np.ndarray, var_out: np.ndarray) -> None:
    """A call's read buffers in one pass (:func:`crossbar.read.timing.call_buffers`; flat arrays):
    g_out[i] = g[i] + sqrt(shared var[i]) z_i, z_i element i of :func:`normals`' stream ``key``,
    and var_out[i] = fresh var[i] rounded to bfloat16 (nearest even), var and var_out as
    bfloat16 bit patterns (uint16)."""
    n = g.size
    sh, fr = _f32(shared), _f32(fresh)
    for task in prange(((n + 1) // 2 + PAIRS_PER_TASK - 1) // PAIRS_PER_TASK):
        i0, z = task_normals(key, task, n)
        wide = np.empty(z.size, dtype=np.uint32)
        for k in range(z.size):  # bfloat16 -> float32: the high bits
            wide[k] = np.uint32(var_bits[i0 + k]) << np.uint32(16)
        x = wide.view(np.float32)
        scaled = np.empty(z.size, dtype=np.float32)
        for k in range(z.size):
            g_out[i0 + k] = g[i0 + k] + math.sqrt(sh * x[k]) * z[k]
            scaled[k] = fr * x[k]
        w = scaled.view(np.int32)
        for k in range(z.size):  # round to nearest even (values >= 0, finite)
            r = w[k] + np.int32(0x7FFF) + ((w[k] >> np.int32(16)) & np.int32(1))
            var_out[i0 + k] = np.uint16(r >> np.int32(16))


@njit(parallel=True, cache=True, error_model="numpy", fastmath={"contract"})
def block_normals(key: np.uint64, rows: int, cols: int) -> np.ndarray:
    """``rows x cols`` standard normals (float32) as the read draws them for stream ``key``:
    row b uses pairs b * ceil(cols / 2) + p (a test and benchmark entry point)."""
    half = (cols + 1) // 2
    out = np.empty((rows, cols), dtype=np.float32)
    for b in prange(rows):
        z, t, e, v = normal_scratch(half)
        normals_into(key, np.uint64(b) * np.uint64(half), half, z, t, e, v)
        out[b] = z[:cols]
    return out


@njit(parallel=True, cache=True, error_model="numpy", fastmath={"contract"})
def row_normals(key: np.uint64, rows: np.ndarray, cols: int) -> np.ndarray:
    """The read noise :func:`read_bands` draws for stream ``key`` at the batch rows ``rows``
    (int64 indices): row b uses pairs b * ceil(cols / 2) + p (len(rows) x cols, float32)."""
    half = (cols + 1) // 2
    out = np.empty((rows.size, cols), dtype=np.float32)
    for k in prange(rows.size):
        z, t, e, v = normal_scratch(half)
        normals_into(key, np.uint64(rows[k]) * np.uint64(half), half, z, t, e, v)
        out[k] = z[:cols]
    return out


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def _convert(v, var, z, noisy, quantise, top, up, down):
    """One conversion: (ADC(v + sqrt(var) z), whether it clipped: |value| >= top)."""
    if noisy:
        v += math.sqrt(var) * z
    clipped = abs(v) >= top
    v = min(max(v, -top), top)
    if quantise:
        v = np.rint(v * up) * down
    return v, clipped


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def _adc(acc, cur, c0, var, floor, z, rows, cols, noisy, quantise, top, up, down, gain, rs, counted):
    """For each row of a block and column j (k = row * cols + j): acc[k] += ADC(cur[c0 + k] +
    sqrt(var[k] + floor[j]) z) * gain[j] * rs[row], z the row's normals (column j < h = ceil(cols
    / 2): z[row * h + j], else z[rows * h + row * h + j - h], the pairs' second normals);
    counted[row] += its clipped conversions. One call per block (each call of an inlined function
    costs reference counting of its arrays); unsigned flat indices, so no negative-index checks
    keep the loops over the columns from vectorising."""
    half = (cols + 1) // 2
    npairs = np.uint64(rows * half)
    j1 = np.uint64(half)
    for row in range(rows):
        k0, zr = np.uint64(row * cols), np.uint64(row * half)
        clipped = 0
        for j in range(j1):
            v, c = _convert(cur[c0 + k0 + j], var[k0 + j] + floor[j], z[zr + j], noisy, quantise, top[j],
                            up[j], down[j])
            clipped += c
            acc[k0 + j] += v * gain[j] * rs[row]
        for n in range(np.uint64(cols - half)):
            k, j = k0 + j1 + n, j1 + n
            v, c = _convert(cur[c0 + k], var[k] + floor[j], z[npairs + zr + n], noisy, quantise, top[j],
                            up[j], down[j])
            clipped += c
            acc[k] += v * gain[j] * rs[row]
        counted[row] += clipped


def read_bands(
    current: np.ndarray,
    variance: np.ndarray,
    floor: np.ndarray,
    keys: np.ndarray,
    weights: np.ndarray,
    full_scale: np.ndarray,
    bits: int,
    col_scale: np.ndarray,
    row_scale: np.ndarray,
    row0: int,
    out: np.ndarray,
    clips: np.ndarray,
) -> None:
    """Add read noise, digitise, rescale and sum the column currents of every row band and read.

    ``current`` (bands x reads x rows x cols, float32) and ``variance`` (the
    same shape, bfloat16 bit patterns as uint16, or size 0 for no cell noise);
    ``floor`` (bands x cols, float32, or size 0): the circuit noise variance
    of each column and conversion. For band i, read r, row b and column j:
    noisy = current + sqrt(variance + floor) * z, z drawn by :func:`normals_into`
    from stream ``keys[i, r]``: pair (row0 + b) * ceil(cols / 2) + p gives
    columns p and ceil(cols / 2) + p, so a row's noise depends on its index
    in the whole batch, not on how the batch was split into launches. The
    ADC clips to +-full_scale[i, j] (> 0; inf for an ideal ADC) and, for
    ``bits > 0``, rounds to steps of full_scale / (2^(bits-1) - 1). The
    results times weights[r] (the shift-and-add weight and phase sign of
    read r) * col_scale[i, j] * row_scale[b] are summed over reads and bands
    (the digital sum, in band and read order) and written to ``out`` (groups x
    rows per group x cols, any strides: row b is out[b // P, b % P], so a
    convolution can write its N x C x H x W output in place); clips[b] counts
    row b's clipped conversions. All in float32. At most READ_TASKS tasks, each reading blocks
    of rows strided over the batch, split over plain threads (GIL-free serial Numba, which
    sleep when idle where a second OpenMP pool would spin against torch's).
    """
    batch, cols = current.shape[2:]
    per_block = max(1, TASK_VALUES // cols)
    tasks = min((batch + per_block - 1) // per_block, READ_TASKS)
    run_split(lambda t0, t1: _read_tasks(current, variance, floor, keys, weights, full_scale, bits, col_scale,
                                         row_scale, row0, out, clips, tasks, t0, t1), tasks, 1)


@njit(nogil=True, cache=True, error_model="numpy", fastmath={"contract"})
def _read_tasks(current, variance, floor, keys, weights, full_scale, bits, col_scale, row_scale, row0, out,
                clips, tasks, t0, t1) -> None:
    """Tasks t0 .. t1 of the ``tasks`` of :func:`read_bands`."""
    bands, reads, batch, cols = current.shape
    per_group = out.shape[1]
    cell_noise = variance.size > 0
    noisy = cell_noise or floor.size > 0
    half = (cols + 1) // 2
    quantise = bits > 0
    levels = _f32(2 ** (bits - 1) - 1) if quantise else _ONE32
    fs = full_scale.astype(np.float32)
    inv_step = (levels / full_scale).astype(np.float32)
    step = (full_scale / levels).astype(np.float32)
    cs = col_scale.astype(np.float32)
    fl = floor.astype(np.float32) if floor.size > 0 else np.zeros((bands, cols), np.float32)
    w32 = weights.astype(np.float32)
    flat_current = current.reshape(-1)
    flat_variance = variance.reshape(-1)
    per_block = max(1, TASK_VALUES // cols)  # rows read with one fill of the scratch buffers
    blocks = (batch + per_block - 1) // per_block
    for task in range(t0, t1):  # scratch allocated once per task, its blocks strided over the batch
        z, t, e, v = normal_scratch(per_block * half)
        var_bits = np.zeros(per_block * cols, np.uint32)
        var = var_bits.view(np.float32)
        acc = np.empty(per_block * cols, np.float32)
        counted = np.empty(per_block, np.int64)
        rs = np.empty(per_block, np.float32)  # each row's scale times the read's weight
        for block in range(task, blocks, tasks):
            b0 = block * per_block
            rows = min(per_block, batch - b0)
            npairs = rows * half
            acc[:] = 0.0
            counted[:] = 0
            for i in range(bands):
                top, up, down, gain, fi = fs[i], inv_step[i], step[i], cs[i], fl[i]
                for r in range(reads):
                    base = np.uint64(((i * reads + r) * batch + b0) * cols)  # this block's rows, flat
                    if noisy:
                        normals_into(keys[i, r], np.uint64(row0 + b0) * np.uint64(half), npairs, z, t, e, v)
                    if cell_noise:
                        for k in range(np.uint64(rows * cols)):  # bfloat16 -> float32: the high bits
                            var_bits[k] = np.uint32(flat_variance[base + k]) << np.uint32(16)
                    for row in range(rows):
                        rs[row] = row_scale[b0 + row] * w32[r]
                    _adc(acc, flat_current, base, var, fi, z, rows, cols, noisy, quantise, top, up, down,
                         gain, rs, counted)
            for row in range(rows):
                g = (b0 + row) // per_group
                dst = out[g, b0 + row - g * per_group]
                for j in range(cols):
                    dst[j] = acc[row * cols + j]
                clips[b0 + row] = counted[row]


@njit(parallel=True, cache=True, error_model="numpy", fastmath={"contract"})
def noisy_values(current: np.ndarray, variance: np.ndarray, floor: np.ndarray, keys: np.ndarray,
                 row0: int, out: np.ndarray) -> None:
    """out = current + sqrt(variance + floor) * z: the pre-clip value every conversion of
    :func:`read_bands` sees with the same arguments (bands x reads x rows x cols, float32; the
    same normals), what a range calibration measures."""
    bands, reads, batch, cols = current.shape
    cell_noise = variance.size > 0
    noisy = cell_noise or floor.size > 0
    half = (cols + 1) // 2
    fl = floor.astype(np.float32) if floor.size > 0 else np.zeros((bands, cols), np.float32)
    per_task = max(1, TASK_VALUES // cols)
    tasks = (batch + per_task - 1) // per_task
    for task in prange(tasks):
        b0 = task * per_task
        rows = min(per_task, batch - b0)
        npairs = rows * half
        z, t, e, v = normal_scratch(npairs)
        var_bits = np.zeros(cols, np.uint32)
        var = var_bits.view(np.float32)
        for i in range(bands):
            for r in range(reads):
                if noisy:
                    normals_into(keys[i, r], np.uint64(row0 + b0) * np.uint64(half), npairs, z, t, e, v)
                for row in range(rows):
                    src = current[i, r, b0 + row]
                    dst = out[i, r, b0 + row]
                    if not noisy:
                        dst[:] = src
                        continue
                    if cell_noise:
                        bits16 = variance[i, r, b0 + row]
                        for j in range(cols):
                            var_bits[j] = np.uint32(bits16[j]) << np.uint32(16)
                    for j in range(half):
                        dst[j] = src[j] + math.sqrt(var[j] + fl[i, j]) * z[row * half + j]
                    for j in range(half, cols):
                        dst[j] = src[j] + math.sqrt(var[j] + fl[i, j]) * z[npairs + row * half + j - half]
