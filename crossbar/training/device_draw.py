"""One row band's weights through the device in the hardware-aware training forward, in three Numba passes.

Each weight w (normalised: wn = w / w_max in [-1, 1], w_max the largest |w| of its column
in the band) is a pair of cells: the *active*
one (G+ for wn >= 0, G- otherwise) at the target T = g_min + (g_max - g_min) |wn| and
the *idle* one at g_min (both rounded to the device's levels where it has them). The
profile's laws (``DeviceProfile.programming_std``, ``Drift.nu_mean`` / ``nu_std``,
``DeviceProfile.read_std`` at the training time) are evaluated by the profile on a grid
of conductances (:mod:`.law_tables`) and interpolated linearly in the kernels: a law
evaluated per cell in NumPy float64 cost as much as the rest of the draw. The idle
target's values are exact; a read conductance beyond the grid (above 2 g_max) gets the
exact law. The kernels do the per-cell arithmetic:

* write: G = T + sigma(T) z, and while |G - T| > tolerance a new write of that cell
  only (up to ``verify.max_iterations`` writes; draw m of cell c is draw c M + m of the
  redraw stream, so no other cell's numbers move), stuck-at faults, clipped at 0 S;
* drift: G (t / t0)^-nu, nu = |nu_mean(T) + nu_std(T) z|, and per tile the sums of
  |G+ - G-| before and after, whose ratio is the global drift compensation's gain;
* read: G+ - G- times the gain plus sqrt(sigma_r(G+)^2 + sigma_r(G-)^2) z (one normal per
  weight: the two cells' independent read noises sigma_r(G+) z+ - sigma_r(G-) z- have this
  distribution), over g_max - g_min: g, the normalised weight the device reads (as the
  float32 sum of wn and the device's error g - wn), and g w_max, the weight it applied;
  and per column the sum of the conductances (the thermal part of the noise floor).

A first pass finds w_max and wn. The second takes a chunk of whole rows at a time (of a
column-major band, a transposed matrix's, whole columns: each band is drawn in its memory
order, cells and normals alike):
the table lookups and first writes in one loop, the rare rewrites and faults in a second,
the drift in a third that vectorises (its exponential is a polynomial, :func:`_exp_neg`,
not a library call), the read std lookups in a fourth; the third applies the gains.
Lookups stay scalar (Numba cannot tell LLVM that the tables do not alias the outputs).
Normals come from the read's block Box-Muller stream (:mod:`crossbar.read.adc_kernels`),
five per weight. The large temporaries are per-thread buffers reused from band to band
(:func:`_scratch`).
Arrays are float32 (weights, normals, results) and the arithmetic of one cell float64,
serial and without the GIL, so the numbers are the same at any thread count.
"""

from __future__ import annotations

import math
import threading

import numpy as np
from numba import njit

from crossbar.devices import DeviceProfile
from crossbar.read import adc_kernels, kernels
from crossbar.read.tile import noise_floor
from crossbar.seeds import Stream, derive, extend
from crossbar.threads import run_split

from .dac_chain import largest
from .law_tables import TABLE_INTERVALS, LawTables, _at, _cell, _levels, law_tables

__all__ = ["TABLE_INTERVALS", "Draws", "LawTables", "band", "law_tables"]


class Draws:
    """The random numbers of a hardware-aware run: draw j of forward pass n is stream
    ``derive(seed, Stream.TRAIN_HARDWARE, n, j)`` (counter-based, the same at any thread
    count); ``forward`` is the whole state a checkpoint keeps."""

    def __init__(self, seed: int, forward: int = 0) -> None:
        self.seed, self.forward, self.calls = int(seed), int(forward), 0
        self._prefix = (-1, 0)  # (forward, derive(seed, Stream.TRAIN_HARDWARE, forward))

    def next_forward(self) -> None:
        """Start the next forward pass's draws."""
        self.forward += 1
        self.calls = 0

    def key(self) -> np.uint64:
        if self._prefix[0] != self.forward:  # derived once per forward pass
            self._prefix = (self.forward, derive(self.seed, Stream.TRAIN_HARDWARE, self.forward))
        self.calls += 1
        return np.uint64(extend(self._prefix[1], self.calls))

    def normal(self, shape: tuple[int, ...], out: np.ndarray | None = None) -> np.ndarray:
        """Standard normals (float32) of the next draw: :func:`crossbar.read.adc_kernels.normals`'
        stream, its blocks split over the torch threads (the same bits at any count); into
        ``out`` where given (flat float32 of that many elements)."""
        key = self.key()
        out = np.empty(math.prod(shape), np.float32) if out is None else out
        run_split(lambda t0, t1: adc_kernels.normals_tasks(key, out, t0, t1),
                  adc_kernels.task_count(out.size), min_part=16)
        return out.reshape(shape)

    def uniform(self, shape: tuple[int, ...]) -> np.ndarray:
        """Uniforms in (0, 1] of the next draw."""
        return kernels.uniform(self.key(), math.prod(shape)).reshape(shape)


_EXP_STEPS = 32  # exp's reduction: ln 2 / 32 steps, 2^(-j/32) from a table
_POW2 = np.ldexp(1.0, -np.arange(1080))  # 2^-i (0 from 2^-1075)
_FRAC = np.array([2.0 ** (-j / _EXP_STEPS) for j in range(_EXP_STEPS)])
_STEP_HI, _STEP_LO = 0.021660848520696163, 8.718021277417983e-10  # ln 2 / 32: HI (25 bits, m HI exact) + LO
_C2, _C3, _C4, _C5, _C6, _C7 = (1.0 / math.factorial(i) for i in range(2, 8))


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def _exp_neg(x):
    """exp(x) for x <= 0 without a library call, so that a loop of it vectorises: x = -m ln2/32 + r
    (ln 2 / 32 in two parts: Cody & Waite's reduction), |r| <= ln2 / 64, exp(r) by its Taylor
    series to r^7 (truncation < 1e-19), times 2^(-m mod 32 / 32) and 2^-(m div 32) from tables:
    within 3 ulp of exp (0 from -746, where exp is 0)."""
    x = max(x, -746.0)
    m = np.floor(0.5 - x * (_EXP_STEPS / math.log(2.0)))
    r = (x + m * _STEP_HI) + m * _STEP_LO
    p = 1.0 + r * (1.0 + r * (_C2 + r * (_C3 + r * (_C4 + r * (_C5 + r * (_C6 + r * _C7))))))
    mi = np.uint64(m)
    return p * _FRAC[mi & np.uint64(_EXP_STEPS - 1)] * _POW2[mi >> np.uint64(5)]


@njit(inline="always")
def _written(target, sd, z, key, first, tol, max_iter):
    """A cell written to ``target`` with std ``sd``: first draw ``z``, then while it misses by
    more than ``tol`` draw ``first`` + m of the redraw stream ``key`` (m = 1 .. max_iter - 1)."""
    g = target + sd * z
    m = 1
    while m < max_iter and abs(g - target) > tol:
        g = target + sd * kernels.normal_at(key, first + m)
        m += 1
    return g


@njit(inline="always")
def _stuck(g, v, p_on, p_off, g_on, g_off):
    """``g``, or the stuck-on / stuck-off conductance where the uniform ``v`` falls in its rate."""
    if v <= p_on:
        return g_on
    if v > 1.0 - p_off:
        return g_off
    return g


@njit(inline="always")
def _target(wn, ta, k, g_min, g_range):
    """The active cell's target: ta[k], or where ``ta`` is empty g_min + g_range |wn[k]|."""
    return ta[k] if ta.size > 0 else g_min + g_range * abs(np.float64(wn[k]))


CHUNK = 512  # weights the kernel takes at a time (whole rows or columns; kept in L1 between its loops)


@njit(cache=True, nogil=True, error_model="numpy")
def _program_drift(wn, run, ta, g_min, g_range, laws, read, inv_step, idle, zw, zd, zr, key, tol,
                   max_iter, u, p_on, p_off, g_on, g_off, log_ratio, dg, rv, spill, before, after, colsum):
    """Per weight k (``wn`` flat: rows x columns, columns = colsum.size, where ``run`` is 0;
    columns x ``run`` rows where it is not; ``ta`` the active cells' targets, empty: g_min +
    g_range |wn|; ``laws``: :attr:`LawTables.active`, targets within
    its grid): the written and drifted active and idle cells, dg[k] G+ - G- after drift and
    rv[k] sigma_r(G+)^2 + sigma_r(G-)^2, their read noise's variance; per column j,
    ``before``/``after`` (+)= |G+ - G-| before and after drift and colsum[j] (+)= G+ + G-.
    Where a read conductance is beyond the read table, rv[k] is NaN and the next column of
    ``spill`` gets (k, G+, G-, sigma_r(G+), sigma_r(G-)), -1 for a std beyond the table.
    ``zw`` empty: no programming noise; ``u`` empty: no faults; ``zd`` empty: no drift; ``zr``
    empty: no read noise. ``idle``: the idle target, its programming std, nu_mean and nu_std.
    A chunk of whole rows (columns) at a time, in four loops: the table lookups and first writes
    (:func:`_write_chunk`); the rare rewrites and the faults; the drift (vectorised:
    :func:`_drift_chunk`); the read's lookups (:func:`_read_chunk`). Returns the number of
    spilled cells."""
    n, cols = wn.size, colsum.size
    faults, reading = u.shape[1] > 0, zr.size > 0
    t_idle, sd_idle, m_idle, s_idle = idle[0], idle[1], idle[2], idle[3]
    line = cols if run == 0 else run
    size = max(1, CHUNK // line) * line
    cells = np.empty((5, size))  # written active and idle cells, the active one's nu, G+, G-
    index, frac = np.empty(2 * size, np.uint64), np.empty(2 * size)  # grid cells of the lookups
    sums = np.zeros((3, size))  # before, after, colsum per position in the chunk
    spilled = 0
    for c0 in range(0, n, size):
        c = min(size, n - c0)
        part = slice(c0, c0 + c)
        wa, wi, nu, gp, gm = cells[0, :c], cells[1, :c], cells[2, :c], cells[3, :c], cells[4, :c]
        if run > 0:
            sums[:] = 0.0
        misses = _write_chunk(wn[part], ta[part], g_min, g_range, laws, inv_step, t_idle, sd_idle,
                              zw[0, part], zw[1, part], zd[0, part], tol, wa, wi, nu, index, frac)
        if misses > 0 or faults:
            for i in range(c):
                k = c0 + i
                ga, gi, target = cells[0, i], cells[1, i], _target(wn, ta, k, g_min, g_range)
                if abs(ga - target) > tol:
                    sd = _at(laws, inv_step, target)
                    ga = _written(target, sd, zw[0, k], key, k * max_iter, tol, max_iter)
                if abs(gi - t_idle) > tol:
                    gi = _written(t_idle, sd_idle, zw[1, k], key, (n + k) * max_iter, tol, max_iter)
                if faults:
                    ga = _stuck(ga, u[0, k], p_on, p_off, g_on, g_off)
                    gi = _stuck(gi, u[1, k], p_on, p_off, g_on, g_off)
                cells[0, i], cells[1, i] = ga, gi
        _drift_chunk(wn[part], wa, wi, nu, zd[1, part], m_idle, s_idle, log_ratio, gp, gm, dg[part],
                     sums[0, :c], sums[1, :c], sums[2, :c])
        if run > 0:
            _column_sums(sums[:, :c], run, c0 // run, before, after, colsum)
        if reading and _read_chunk(read, inv_step, gp, gm, rv[part], index, frac) > 0:
            for i in range(c):
                sp, sm = _at(read, inv_step, cells[3, i]), _at(read, inv_step, cells[4, i])
                if sp < 0 or sm < 0:
                    rv[c0 + i] = np.nan
                    spill[0, spilled], spill[1, spilled], spill[2, spilled] = c0 + i, cells[3, i], cells[4, i]
                    spill[3, spilled], spill[4, spilled] = sp, sm
                    spilled += 1
    for i in range(size if run == 0 else 0):
        before[i % cols] += sums[0, i]
        after[i % cols] += sums[1, i]
        colsum[i % cols] += sums[2, i]
    return spilled


@njit(cache=True, nogil=True, error_model="numpy")
def _write_chunk(wn, ta, g_min, g_range, laws, inv_step, t_idle, sd_idle, za, zi, znu, tol, active, idle, nu,
                 index, frac):
    """A chunk's first writes (``za`` empty: none): active[i] = T + sigma(T) za[i], idle[i] =
    t_idle + sd_idle zi[i]; nu[i] = nu_mean(T) + nu_std(T) znu[i] (``znu`` empty: none).
    Returns the number of cells off their target by more than ``tol``. Two loops: the targets,
    their grid cells (into ``index``, ``frac``) and the idle cells, which vectorises; then the
    table's values, whose loads stay scalar."""
    writing, drifting = za.size > 0, znu.size > 0
    misses = 0
    for i in range(wn.size):
        target = _target(wn, ta, i, g_min, g_range)
        index[i], frac[i], _ = _cell(laws.shape[0], inv_step, target)
        active[i] = target
        gi = t_idle + sd_idle * zi[i] if writing else t_idle
        idle[i] = gi
        misses += abs(gi - t_idle) > tol
    for i in range(wn.size):
        j, f, target = index[i], frac[i], active[i]
        if writing:
            ga = target + (laws[j, 0] + f * laws[j, 1]) * za[i]
            active[i] = ga
            misses += abs(ga - target) > tol
        if drifting:
            nu[i] = (laws[j, 2] + f * laws[j, 3]) + (laws[j, 4] + f * laws[j, 5]) * znu[i]
    return misses


@njit(cache=True, nogil=True, error_model="numpy")
def _read_chunk(read, inv_step, gp, gm, rv, index, frac):
    """rv[i] = sigma_r(gp[i])^2 + sigma_r(gm[i])^2; returns how many conductances were beyond the
    table. The grid cells first (into ``index``, ``frac``: 2 gp.size each; vectorises), then
    the table's values."""
    n = gp.size
    beyond = 0
    for i in range(n):
        index[i], frac[i], inside_p = _cell(read.shape[0], inv_step, gp[i])
        index[n + i], frac[n + i], inside_m = _cell(read.shape[0], inv_step, gm[i])
        beyond += (not inside_p) + (not inside_m)
    for i in range(n):
        j, k = index[i], index[n + i]
        sp, sm = read[j, 0] + frac[i] * read[j, 1], read[k, 0] + frac[n + i] * read[k, 1]
        rv[i] = sp * sp + sm * sm
    return beyond


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _column_sums(sums, run, j0, before, after, colsum):
    """Columns j0, j0 + 1, ... (+)= the sums of ``sums``' three rows over their runs of ``run``."""
    for q in range(sums.shape[1] // run):
        s0 = s1 = s2 = 0.0
        for i in range(q * run, (q + 1) * run):
            s0 += sums[0, i]
            s1 += sums[1, i]
            s2 += sums[2, i]
        before[j0 + q] += s0
        after[j0 + q] += s1
        colsum[j0 + q] += s2


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def _drift_chunk(wn, active, idle, nu, zi, m_idle, s_idle, log_ratio, gp, gm, dg, before, after, colsum):
    """A chunk's written cells (clipped at 0 S) drifted by (t / t0)^-|nu| (log_ratio =
    ln(t / t0), 0: no drift; ``nu`` the active cells' exponents, the idle ones' m_idle +
    s_idle zi), into gp (G+), gm (G-) and dg (G+ - G-); per cell (+)= |G+ - G-| before and
    after drift and G+ + G-."""
    for i in range(wn.size):
        ga, gi = max(active[i], 0.0), max(idle[i], 0.0)
        before[i] += abs(ga - gi)
        if log_ratio > 0:
            ga *= _exp_neg(-abs(nu[i]) * log_ratio)
            gi *= _exp_neg(-abs(m_idle + s_idle * zi[i]) * log_ratio)
        after[i] += abs(ga - gi)
        pos = wn[i] >= 0
        p, m = (ga, gi) if pos else (gi, ga)
        gp[i], gm[i], dg[i] = p, m, p - m
        colsum[i] += p + m


@njit(cache=True, nogil=True, error_model="numpy")
def _normalise(w, fortran, wn, w_max):
    """w_max[j] = the largest |w| of column j (1 where that is 0), the DAC-side scale of the band's
    outputs, and ``wn`` (flat, in the band's memory order: row by row, or column by column where
    ``fortran``) = w / w_max, in float32 as torch divides. ``w`` (C-contiguous) is given in that
    order too (columns x rows where ``fortran``), so that every inner loop runs along memory."""
    lines, line = w.shape
    if fortran:  # a line is a column: its largest |w| as the DAC finds a vector's (vectorised lanes)
        for j in range(lines):
            m = largest(w[j])
            s = m if m != 0 else np.float32(1.0)
            w_max[j] = s
            for i in range(line):
                wn[j * line + i] = w[j, i] / s
        return
    w_max[:] = 0.0
    for i in range(lines):  # a line is a row
        for j in range(line):
            w_max[j] = max(w_max[j], abs(w[i, j]))
    for j in range(line):
        if w_max[j] == 0:
            w_max[j] = 1.0
    for i in range(lines):
        for j in range(line):
            wn[i * line + j] = w[i, j] / w_max[j]


@njit(cache=True, nogil=True, error_model="numpy")
def _read_out(wn, run, dg, before, after, tile_of_col, rv, zr, g_range, w_max, g, w_eff):
    """g[k] = wn[k] + (((G+ - G-) gain + sqrt(rv[k]) zr[k]) / g_range - wn[k]) in float32 (the
    device's error in the normalised weight added to it, as the float32 sum of the two) and
    w_eff (rows x columns, any strides) = g w_max, the weight the device applied (``dg``:
    G+ - G-; ``rv``: the read noise's variance, empty: none; the layout as
    :func:`_program_drift`'s), the gain of column j's tile t = tile_of_col[j] the sum of
    ``before`` over its columns over that of ``after`` (1 where that is 0; ``after`` empty: no
    drift, gain 1)."""
    cols = tile_of_col.size
    drifting = after.size > 0
    tiles = tile_of_col[cols - 1] + 1
    b, a = np.zeros(tiles), np.zeros(tiles)
    for j in range(cols if drifting else 0):
        b[tile_of_col[j]] += before[j]
        a[tile_of_col[j]] += after[j]
    gain = np.ones(cols)
    for j in range(cols):
        t = tile_of_col[j]
        if drifting and a[t] > 0:
            gain[j] = b[t] / a[t]
    line = cols if run == 0 else run
    for j in range(0, wn.size // line):  # row by row (gain per column) or column by column (one gain)
        part = slice(j * line, (j + 1) * line)
        one = run > 0
        _read_line(wn[part], dg[part], gain[j:j + 1] if one else gain, rv[part], zr[part], g_range, g[part])
        _scaled(g[part], w_max[j:j + 1] if one else w_max, w_eff[:, j] if one else w_eff[j])


@njit(inline="always", error_model="numpy")
def _read_line(wn, dg, gain, rv, zr, g_range, g):
    """One row (gain per column) or column (one gain) of :func:`_read_out`'s g."""
    one = gain.size == 1
    for i in range(wn.size):
        d = dg[i] * gain[0 if one else i]
        if rv.size > 0:
            d = d + math.sqrt(rv[i]) * zr[i]
        g[i] = wn[i] + np.float32(d / g_range - wn[i])


@njit(inline="always", error_model="numpy")
def _scaled(g, w_max, out):
    """out[i] = g[i] w_max[i] (one w_max: w_max[0])."""
    if w_max.size == 1:
        for i in range(g.size):
            out[i] = g[i] * w_max[0]
    else:
        for i in range(g.size):
            out[i] = g[i] * w_max[i]


_SCRATCH = threading.local()


def _scratch(name: str, size: int, dtype) -> np.ndarray:
    """A flat buffer of ``size`` elements that the calling thread reuses from one band and step
    to the next (contents undefined): the draw's large temporaries without a fresh allocation,
    and its page faults, each time."""
    bufs = _SCRATCH.__dict__.setdefault("bufs", {})
    buf = bufs.get(name)
    if buf is None or buf.size < size:
        buf = bufs[name] = np.empty(size, dtype)
    return buf[:size]


def band(p: DeviceProfile, effects: tuple[str, ...], t: float, w: np.ndarray, fortran: bool,
         tile_of_col: np.ndarray, gen: Draws, w_eff: np.ndarray | None = None
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """One row band ``w`` (rows x outputs, float32, any strides) drawn from ``gen`` on ``p`` with
    ``effects`` (``crossbar.training.hardware.EFFECTS``) at ``t`` s after programming: (g, the
    normalised conductance difference the device reads, float32 rows x outputs; w_max, the
    largest |w| per column (1 where 0), by which g is scaled back; the noise floor variance per
    column or None). Cells and normals follow the band's memory order, column by column where
    ``fortran`` (a transposed matrix's band). ``w_eff`` (rows x outputs, any strides), where
    given, receives g w_max: the weights the device applied."""
    n = w.size
    flat, w_max = _scratch("wn", n, np.float32), np.empty(w.shape[1], np.float32)
    _normalise(np.ascontiguousarray(w.T if fortran else w), fortran, flat, w_max)
    run = w.shape[0] if fortran else 0
    ta = np.empty(0) if p.levels is None else _levels(p, p.g_min + p.g_range * np.abs(flat, dtype=np.float64))
    d = p.drift
    drifting = d is not None and "drift" in effects and t > d.t0
    writing, reading = "programming" in effects, "read" in effects
    laws = law_tables(p, t if reading else None)
    rows = 2 * writing + 2 * drifting + reading  # normals: two per cell written, two drifted, one read
    z = gen.normal((rows * n,), out=_scratch("z", rows * n, np.float32)) if rows else np.empty(0, np.float32)
    none = np.empty((2, 0), np.float32)
    zw = z[: 2 * n].reshape(2, n) if writing else none
    zd = z[2 * n * writing: 2 * n * (writing + 1)].reshape(2, n) if drifting else none
    zr = z[(rows - 1) * n:] if reading else z[:0]
    verify = p.verify if writing else None
    key = gen.key() if verify is not None else np.uint64(0)
    faults = writing and bool(p.stuck_on_rate or p.stuck_off_rate)
    u = gen.uniform((2, n)) if faults else np.empty((2, 0))
    before, after, colsum = np.zeros((3, tile_of_col.size))
    dg = _scratch("dg", n, np.float64)
    rv = _scratch("rv", n if reading else 0, np.float64)
    spill = _scratch("spill", 5 * n if reading else 0, np.float64).reshape(5, -1)
    spilled = _program_drift(flat, run, ta, float(p.g_min), float(p.g_range), laws.active, laws.read,
                             1.0 / laws.step, np.array(laws.idle), zw, zd, zr, key,
                             verify.tolerance * p.g_range if verify is not None else math.inf,
                             int(verify.max_iterations) if verify is not None else 1, u,
                             float(p.stuck_on_rate), float(p.stuck_off_rate), float(p.g_max), float(p.g_min),
                             math.log(t / d.t0) if drifting else 0.0, dg, rv, spill, before, after, colsum)
    if spilled:  # read conductances beyond the table: the exact law
        k, cells, s = spill[0, :spilled].astype(np.int64), spill[1:3, :spilled], spill[3:, :spilled]
        s = np.where(s < 0, p.read_std(cells, t), s)
        rv[k] = s[0] * s[0] + s[1] * s[1]
    g = np.empty(n, np.float32)
    _read_out(flat, run, dg, before, after if drifting else after[:0], tile_of_col, rv, zr, p.g_range,
              w_max, g, np.empty(w.shape, np.float32) if w_eff is None else w_eff)
    floor = None
    if reading:
        floor = noise_floor(p, colsum)
        floor = floor if np.any(floor > 0) else None
    return (g.reshape(w.shape[::-1]).T if fortran else g.reshape(w.shape)), w_max, floor
