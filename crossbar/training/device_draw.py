"""One row band's weights through the device in the hardware-aware training forward, in two Numba passes.

Each weight w (normalised: wn = w / w_max in [-1, 1]) is a pair of cells: the *active*
one (G+ for wn >= 0, G- otherwise) at the target T = g_min + (g_max - g_min) |wn| and
the *idle* one at g_min (both rounded to the device's levels where it has them). The
profile's laws are evaluated where they are written (``DeviceProfile.programming_std``,
``Drift.exponents``, ``DeviceProfile.read_std``), in NumPy, on the active targets only
(the idle target is one value); the kernels do the per-cell arithmetic:

* write: G = T + sigma(T) z, and while |G - T| > tolerance a new write of that cell
  only (up to ``verify.max_iterations`` writes; draw m of cell c is draw c M + m of the
  redraw stream, so no other cell's numbers move), stuck-at faults, clipped at 0 S;
* drift: G (t / t0)^-nu, and per tile the sums of |G+ - G-| before and after, whose
  ratio is the global drift compensation's gain;
* read: G+ - G- times the gain plus sigma_r(G+) z+ - sigma_r(G-) z-, over g_max - g_min,
  minus wn: the device's error in the normalised weight; and per column the sum of the
  conductances (the thermal part of the noise floor).

Arrays are float32 (weights, normals, results) and the arithmetic of one cell float64,
serial and without the GIL, so the numbers are the same at any thread count.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from crossbar.devices import DeviceProfile
from crossbar.read import kernels
from crossbar.read.tile import noise_floor
from crossbar.seeds import Stream, derive

__all__ = ["Draws", "band_delta"]


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
        """Standard normals (float32) of the next draw."""
        return kernels.normal_float32(self.key(), math.prod(shape), 0.0, 1.0).reshape(shape)

    def uniform(self, shape: tuple[int, ...]) -> np.ndarray:
        """Uniforms in (0, 1] of the next draw."""
        return kernels.uniform(self.key(), math.prod(shape)).reshape(shape)


@njit(cache=True, nogil=True)
def _program_drift(wn, ta, sa, t_idle, s_idle, zw, key, tol, max_iter, u, p_on, p_off, g_on, g_off,
                   nu_a, nu_i, log_ratio, tile_of_col, gd, before, after):
    """Per weight k: the written (and drifted) active and idle cells; gd[0] G+, gd[1] G- after
    drift; ``before``/``after`` (+)= per tile |G+ - G-| before and after drift. ``zw`` empty:
    no programming noise; ``u`` empty: no faults; ``nu_a`` empty: no drift."""
    n = wn.size
    cols = tile_of_col.size
    writing, faults, drifting = zw.shape[1] > 0, u.shape[1] > 0, nu_a.size > 0
    g0 = np.empty(2)
    g1 = np.empty(2)
    for k in range(n):
        for role in range(2):
            target = ta[k] if role == 0 else t_idle
            g = target
            if writing:
                sd = sa[k] if role == 0 else s_idle
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
                g = g * math.exp(-(nu_a[k] if role == 0 else nu_i[k]) * log_ratio)
            g1[role] = g
        plus = 0 if wn[k] >= 0 else 1
        t = tile_of_col[k % cols]
        before[t] += abs(g0[plus] - g0[1 - plus])
        after[t] += abs(g1[plus] - g1[1 - plus])
        gd[0, k] = g1[plus]
        gd[1, k] = g1[1 - plus]


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
    t_idle = float(_levels(p, np.array([p.g_min]))[0])
    d = p.drift
    drifting = d is not None and "drift" in effects and t > d.t0
    writing, reading = "programming" in effects, "read" in effects
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
    sa = np.asarray(p.programming_std(ta), dtype=np.float64) if writing else np.empty(0)
    s_idle = float(np.asarray(p.programming_std(np.array([t_idle])))[0]) if writing else 0.0
    nu_a = d.exponents(ta, zd[0]) if drifting else np.empty(0)
    nu_i = d.exponents(np.array(t_idle), zd[1]) if drifting else np.empty(0)
    tiles = int(tile_of_col[-1]) + 1
    gd, before, after = np.empty((2, n)), np.zeros(tiles), np.zeros(tiles)
    _program_drift(flat, ta, sa, t_idle, s_idle, zw, key,
                   verify.tolerance * p.g_range if verify is not None else math.inf,
                   int(verify.max_iterations) if verify is not None else 1, u,
                   float(p.stuck_on_rate), float(p.stuck_off_rate), float(p.g_max), float(p.g_min),
                   nu_a, nu_i, math.log(t / d.t0) if drifting else 0.0, tile_of_col, gd, before, after)
    gain = np.where(after > 0, before / np.where(after > 0, after, 1.0), 1.0) if drifting else np.ones(tiles)
    rs = np.asarray(p.read_std(gd, t), dtype=np.float64) if reading else np.empty((2, 0))
    out, colsum = np.empty(n, np.float32), np.zeros(tile_of_col.size)
    _read_out(flat, gd, gain, tile_of_col, rs, zr, float(p.g_range), out, colsum)
    floor = None
    if reading:
        floor = noise_floor(p, colsum)
        floor = floor if np.any(floor > 0) else None
    return out.reshape(wn.shape), floor
