"""What the reads after each write of program-and-verify (``attempt`` >= 1) tell a fit.

Every write lands at target + σ_p(target)·z afresh (crossbar/kernels.py,
``program_cells``); whether another write follows depends on the one before, never
on the value of the next. So each write's read is an unbiased draw of the
programming law, untruncated by the verify loop, where the reads after the last
write are not. The loop itself: a write is accepted within tolerance ·
(g_max − g_min) of the target, at most ``max_iterations`` writes. The cap is the
most writes any cell took. The tolerance T is a maximum-likelihood fit: a write's
read d is its deviation e ~ N(0, σ_p²) plus read noise N(0, σ_r²), so
P(|e| <= T | d) is a normal probability; the last write of a cell that stopped
before the cap was accepted (|e| <= T), every earlier write rejected.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from .measurements import MeasurementError, Measurements

__all__ = ["Writes", "tolerance", "writes"]


@dataclass(frozen=True)
class Writes:
    """The writes of the usable cells: cell index, write number, conductance read (S)."""

    cell: np.ndarray
    attempt: np.ndarray
    value: np.ndarray
    max_iterations: int
    accepted: np.ndarray  # True: accepted; False: rejected; the cap's last writes are neither
    decided: np.ndarray

    def source(self, provenance: str) -> dict[str, str]:
        return {
            "verify.tolerance": (f"{provenance}: maximum likelihood over {int(self.decided.sum())} "
                                 f"writes accepted or rejected by the loop, read noise taken out"),
            "verify.max_iterations": f"{provenance}: the most writes any cell took",
        }


def writes(m: Measurements, ok_cell: np.ndarray, g_range: float) -> Writes | None:
    """The writes of cells not stuck (one read per write: repeated reads are averaged)."""
    rows = (m.attempt > 0) & ok_cell[m.cell]
    if not rows.any():
        return None
    key = m.cell[rows] * (int(m.attempt.max()) + 1) + m.attempt[rows]
    keys, inverse = np.unique(key, return_inverse=True)
    value = np.bincount(inverse, m.conductance[rows]) / np.bincount(inverse)
    cell, attempt = keys // (int(m.attempt.max()) + 1), keys % (int(m.attempt.max()) + 1)
    last = np.zeros(m.n_cells, dtype=np.int64)
    np.maximum.at(last, cell, attempt)
    have = np.flatnonzero(last > 0)
    gaps = np.flatnonzero(np.bincount(cell, minlength=m.n_cells)[have] != last[have])
    if gaps.size:
        raise MeasurementError(m.file, "column attempt", f"cell {m.ids[have[gaps[0]]]} lacks a "
                               "write between 1 and its last", int(last[have[gaps[0]]]),
                               "every write 1..k of a cell read")
    cap = int(last.max())
    final = attempt == last[cell]
    stopped = final & (attempt < cap)
    if not stopped.any():
        raise MeasurementError(m.file, "column attempt", "every cell took the most writes: the "
                               "verify tolerance cannot be told", cap,
                               "some cells accepted before the cap")
    return Writes(cell, attempt, value, cap, stopped, stopped | ~final)


def tolerance(w: Writes, deviation: np.ndarray, sigma_p: np.ndarray, sigma_r: np.ndarray,
              g_range: float) -> float:
    """The verify tolerance (fraction of ``g_range``) by maximum likelihood (module docstring);
    deviation, sigma_p, sigma_r in S per write."""
    d, sp2, sr2 = deviation[w.decided], sigma_p[w.decided] ** 2, sigma_r[w.decided] ** 2
    mu, s = d * sp2 / (sp2 + sr2), np.sqrt(np.maximum(sp2 * sr2 / (sp2 + sr2), 1e-40))
    acc = w.accepted[w.decided]

    def nll(fraction: float) -> float:
        t = fraction * g_range
        inside = stats.norm.cdf((t - mu) / s) - stats.norm.cdf((-t - mu) / s)
        p = np.clip(np.where(acc, inside, 1 - inside), 1e-300, 1.0)
        return float(-np.sum(np.log(p)))

    hi = min(float(np.abs(d).max()) / g_range, 1.0)
    return float(optimize.minimize_scalar(nll, bounds=(1e-9, hi), method="bounded",
                                          options={"xatol": 1e-7}).x)
