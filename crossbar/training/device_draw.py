"""One row band's weights through the device in the hardware-aware training forward, in two Numba passes.

Each weight w (normalised: wn = w / w_max in [-1, 1]) is a pair of cells: the *active*
one (G+ for wn >= 0, G- otherwise) at the target T = g_min + (g_max - g_min) |wn| and
the *idle* one at g_min (both rounded to the device's levels where it has them). The
profile's laws (``DeviceProfile.programming_std``, ``Drift.nu_mean`` / ``nu_std``,
``DeviceProfile.read_std`` at the training time) are evaluated by the profile on a grid
of conductances (:class:`LawTables`) and interpolated linearly in the kernels: a law
evaluated per cell in NumPy float64 cost as much as the rest of the draw. The idle
target's values are exact; a read conductance beyond the grid (above 2 g_max) gets the
exact law. The kernels do the per-cell arithmetic:

* write: G = T + sigma(T) z, and while |G - T| > tolerance a new write of that cell
  only (up to ``verify.max_iterations`` writes; draw m of cell c is draw c M + m of the
  redraw stream, so no other cell's numbers move), stuck-at faults, clipped at 0 S;
* drift: G (t / t0)^-nu, nu = |nu_mean(T) + nu_std(T) z|, and per tile the sums of
  |G+ - G-| before and after, whose ratio is the global drift compensation's gain;
* read: G+ - G- times the gain plus sigma_r(G+) z+ - sigma_r(G-) z-, over g_max - g_min,
  minus wn: the device's error in the normalised weight; and per column the sum of the
  conductances (the thermal part of the noise floor).

Normals come from the read's block Box-Muller stream (:mod:`crossbar.read.adc_kernels`).
Arrays are float32 (weights, normals, results) and the arithmetic of one cell float64,
serial and without the GIL, so the numbers are the same at any thread count.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from crossbar.devices import DeviceProfile
from crossbar.read import adc_kernels, kernels
from crossbar.read.tile import noise_floor
from crossbar.seeds import Stream, derive
from crossbar.threads import run_split

__all__ = ["TABLE_INTERVALS", "Draws", "LawTables", "band_delta", "law_tables"]

TABLE_INTERVALS = 4096  # grid intervals of a law table on [0, 2 g_max] (docs/training.md: its error)


class Draws:
    """The random numbers of a hardware-aware run: draw j of forward pass n is stream
    ``derive(seed, Stream.TRAIN_HARDWARE, n, j)`` (counter-based, the same at any thread
    count); ``forward`` is the whole state a checkpoint keeps."""

    def __init__(self, seed: int, forward: int = 0) -> None:
        self.seed, self.forward, self.calls = int(seed), int(forward), 0

    def next_forward(self) -> None:
        """Start the next forward pass's draws."""
        self.forward += 1
        self.calls = 0

    def key(self) -> np.uint64:
        self.calls += 1
        return np.uint64(derive(self.seed, Stream.TRAIN_HARDWARE, self.forward, self.calls))

    def normal(self, shape: tuple[int, ...]) -> np.ndarray:
        """Standard normals (float32) of the next draw: :func:`crossbar.read.adc_kernels.normals`'
        stream, its blocks split over the torch threads (the same bits at any count)."""
        key, out = self.key(), np.empty(math.prod(shape), np.float32)
        run_split(lambda t0, t1: adc_kernels.normals_tasks(key, out, t0, t1),
                  adc_kernels.task_count(out.size), min_part=16)
        return out.reshape(shape)

    def uniform(self, shape: tuple[int, ...]) -> np.ndarray:
        """Uniforms in (0, 1] of the next draw."""
        return kernels.uniform(self.key(), math.prod(shape)).reshape(shape)


@dataclass(frozen=True, eq=False)
class LawTables:
    """A profile's laws at one time since programming, at the conductances k * ``step``,
    k = 0 .. TABLE_INTERVALS (S): the programming std, the drift exponent's mean and spread
    at a target (zeros without drift), the read std of a cell; and the idle cell's target
    with its exact programming std, nu_mean and nu_std."""

    step: float
    programming: np.ndarray
    nu_mean: np.ndarray
    nu_std: np.ndarray
    read: np.ndarray
    idle: tuple[float, float, float, float]


@functools.lru_cache(maxsize=16)
def law_tables(p: DeviceProfile, t: float | None) -> LawTables:
    """The tables of ``p``'s laws, the read noise's at ``t`` s after programming (None: no
    read table; kept: a profile's tables are the same for every band and step)."""
    step = 2.0 * p.g_max / TABLE_INTERVALS
    g = np.arange(TABLE_INTERVALS + 1) * step
    t_idle = float(_levels(p, np.array([p.g_min]))[0])
    d = p.drift
    nu = (d.nu_mean(g), d.nu_std(g)) if d is not None else (np.zeros(g.size), np.zeros(g.size))
    idle_nu = (float(d.nu_mean(t_idle)), float(d.nu_std(t_idle))) if d is not None else (0.0, 0.0)
    return LawTables(step, np.asarray(p.programming_std(g), np.float64), *nu,
                     np.asarray(p.read_std(g, t), np.float64) if t is not None else np.zeros(0),
                     (t_idle, float(np.asarray(p.programming_std(np.array([t_idle])))[0]), *idle_nu))


@njit(inline="always")
def _at(table, inv_step, g):
    """``table`` interpolated linearly at conductance ``g`` >= 0; -1 beyond its grid."""
    x = g * inv_step
    i = int(x)
    if i >= table.size - 1:
        return -1.0
    return table[i] + (x - i) * (table[i + 1] - table[i])


@njit(cache=True, nogil=True)
def _program_drift(wn, ta, prog, nu_m, nu_s, read, inv_step, idle, zw, zd, key, tol, max_iter, u, p_on, p_off,
                   g_on, g_off, log_ratio, tile_of_col, gd, rs, before, after):
    """Per weight k: the written (and drifted) active and idle cells; gd[0] G+, gd[1] G- after
    drift, rs their read std (-1 beyond the table); ``before``/``after`` (+)= per tile
    |G+ - G-| before and after drift. ``zw`` empty: no programming noise; ``u`` empty: no
    faults; ``zd`` empty: no drift; ``rs`` empty: no read noise. ``idle``: the idle
    target, its programming std, nu_mean and nu_std."""
    n = wn.size
    cols = tile_of_col.size
    writing, faults, drifting, reading = zw.shape[1] > 0, u.shape[1] > 0, zd.shape[1] > 0, rs.shape[1] > 0
    g0 = np.empty(2)
    g1 = np.empty(2)
    for k in range(n):
        for role in range(2):
            target = ta[k] if role == 0 else idle[0]
            g = target
            if writing:
                sd = _at(prog, inv_step, target) if role == 0 else idle[1]
                g = target + sd * zw[role, k]
                m = 1
                while m < max_iter and abs(g - target) > tol:
                    g = target + sd * kernels.normal_at(key, (role * n + k) * max_iter + m)
                    m += 1
                if faults:
                    v = u[role, k]
                    if v <= p_on:
                        g = g_on
                    elif v > 1.0 - p_off:
                        g = g_off
                g = max(g, 0.0)
            g0[role] = g
            if drifting:
                if role == 0:
                    nu = _at(nu_m, inv_step, target) + _at(nu_s, inv_step, target) * zd[0, k]
                else:
                    nu = idle[2] + idle[3] * zd[1, k]
                g = g * math.exp(-abs(nu) * log_ratio)
            g1[role] = g
        plus = 0 if wn[k] >= 0 else 1
        t = tile_of_col[k % cols]
        before[t] += abs(g0[plus] - g0[1 - plus])
        after[t] += abs(g1[plus] - g1[1 - plus])
        gd[0, k] = g1[plus]
        gd[1, k] = g1[1 - plus]
        if reading:
            rs[0, k] = _at(read, inv_step, g1[plus])
            rs[1, k] = _at(read, inv_step, g1[1 - plus])


@njit(cache=True, nogil=True)
def _read_out(wn, gd, gain, tile_of_col, rs, zr, g_range, out, colsum):
    """out[k] = ((G+ - G-) gain + sigma_r(G+) z+ - sigma_r(G-) z-) / g_range - wn[k] (``rs``
    empty: no read noise); colsum[j] += G+ + G- over the rows."""
    cols = tile_of_col.size
    reading = rs.shape[1] > 0
    for k in range(wn.size):
        j = k % cols
        d = (gd[0, k] - gd[1, k]) * gain[tile_of_col[j]]
        if reading:
            d = d + rs[0, k] * zr[0, k] - rs[1, k] * zr[1, k]
        out[k] = d / g_range - wn[k]
        colsum[j] += gd[0, k] + gd[1, k]


def _levels(p: DeviceProfile, g: np.ndarray) -> np.ndarray:
    return g if p.levels is None else kernels.quantise_levels(g, p.g_min, p.g_max, int(p.levels))


def band_delta(p: DeviceProfile, effects: tuple[str, ...], t: float, wn: np.ndarray, tile_of_col: np.ndarray,
               gen: Draws) -> tuple[np.ndarray, np.ndarray | None]:
    """(the device's error in the normalised weights ``wn`` (rows x outputs, float32), the noise
    floor variance per column or None) of one band's draw from ``gen`` on ``p`` with ``effects``
    (``crossbar.training.hardware.EFFECTS``) at ``t`` s after programming."""
    n = wn.size
    flat = np.ascontiguousarray(wn, dtype=np.float32).reshape(-1)
    ta = _levels(p, p.g_min + p.g_range * np.abs(flat, dtype=np.float64))
    d = p.drift
    drifting = d is not None and "drift" in effects and t > d.t0
    writing, reading = "programming" in effects, "read" in effects
    laws = law_tables(p, t if reading else None)
    blocks = writing + drifting + reading
    z = gen.normal((blocks, 2, n)) if blocks else np.empty((0, 2, 0), np.float32)
    none = np.empty((2, 0), np.float32)
    zw = z[0] if writing else none
    zd = z[int(writing)] if drifting else none
    zr = z[blocks - 1] if reading else none
    verify = p.verify if writing else None
    key = gen.key() if verify is not None else np.uint64(0)
    faults = writing and bool(p.stuck_on_rate or p.stuck_off_rate)
    u = gen.uniform((2, n)) if faults else np.empty((2, 0))
    tiles = int(tile_of_col[-1]) + 1
    gd, before, after = np.empty((2, n)), np.zeros(tiles), np.zeros(tiles)
    rs = np.empty((2, n)) if reading else np.empty((2, 0))
    _program_drift(flat, ta, laws.programming, laws.nu_mean, laws.nu_std, laws.read, 1.0 / laws.step,
                   np.array(laws.idle), zw, zd, key,
                   verify.tolerance * p.g_range if verify is not None else math.inf,
                   int(verify.max_iterations) if verify is not None else 1, u,
                   float(p.stuck_on_rate), float(p.stuck_off_rate), float(p.g_max), float(p.g_min),
                   math.log(t / d.t0) if drifting else 0.0, tile_of_col, gd, rs, before, after)
    gain = np.where(after > 0, before / np.where(after > 0, after, 1.0), 1.0) if drifting else np.ones(tiles)
    beyond = np.flatnonzero(rs < 0) if reading else ()
    if len(beyond):
        rs.reshape(-1)[beyond] = p.read_std(gd.reshape(-1)[beyond], t)
    out, colsum = np.empty(n, np.float32), np.zeros(tile_of_col.size)
    _read_out(flat, gd, gain, tile_of_col, rs, zr, float(p.g_range), out, colsum)
    floor = None
    if reading:
        floor = noise_floor(p, colsum)
        floor = floor if np.any(floor > 0) else None
    return out.reshape(wn.shape), floor
