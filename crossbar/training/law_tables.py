"""A device profile's laws as tables for the hardware-aware draw's kernels (:mod:`.device_draw`).

The programming std, the drift exponent's mean and spread and the read std at the training
time are evaluated by the profile once per profile and time on a grid of conductances
(:class:`LawTables`, :func:`law_tables`) and interpolated linearly per cell in the kernels
(:func:`_at`; docs/training.md gives the accuracy, a test holds it): a law evaluated per cell
in NumPy float64 cost as much as the rest of the draw.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from numba import njit

from crossbar.devices import DeviceProfile
from crossbar.read import kernels

__all__ = ["TABLE_INTERVALS", "LawTables", "law_tables"]

TABLE_INTERVALS = 4096  # grid intervals of a law table on [0, 2 g_max] (docs/training.md: its error)


@dataclass(frozen=True, eq=False)
class LawTables:
    """A profile's laws at one time since programming, at the conductances k * ``step``,
    k = 0 .. TABLE_INTERVALS (S): the programming std, the drift exponent's mean and spread
    at a target (zeros without drift), the read std of a cell, each as rows (value at k, its
    difference to the value at k + 1; 0 in the last row); and the idle cell's target with its
    exact programming std, nu_mean and nu_std; ``active``: the first three side by side (rows
    of six), so that a target's three laws take one lookup."""

    step: float
    programming: np.ndarray
    nu_mean: np.ndarray
    nu_std: np.ndarray
    read: np.ndarray
    idle: tuple[float, float, float, float]

    @functools.cached_property
    def active(self) -> np.ndarray:
        return np.ascontiguousarray(np.hstack((self.programming, self.nu_mean, self.nu_std)))


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
    return LawTables(step, _slopes(p.programming_std(g)), _slopes(nu[0]), _slopes(nu[1]),
                     _slopes(p.read_std(g, t)) if t is not None else np.zeros((0, 2)),
                     (t_idle, float(np.asarray(p.programming_std(np.array([t_idle])))[0]), *idle_nu))


def _slopes(values) -> np.ndarray:
    """A law's table: rows (value, the next value minus it; 0 in the last row)."""
    v = np.asarray(values, np.float64)
    return np.ascontiguousarray(np.column_stack((v, np.append(v[1:] - v[:-1], 0.0))))


@njit(inline="always", error_model="numpy")
def _cell(rows, inv_step, g):
    """(grid row i, fraction x - i, whether inside the grid) of conductance ``g`` >= 0 on a
    table of ``rows`` rows; i clamped and unsigned: no branch, no negative-index check."""
    x = g * inv_step
    i = np.uint64(min(x, rows - 2.0))
    return i, x - i, x < rows - 1


@njit(inline="always", error_model="numpy")
def _at(table, inv_step, g):
    """A law's ``table`` (:class:`LawTables`) interpolated linearly at conductance ``g`` >= 0;
    -1 beyond its grid."""
    i, f, inside = _cell(table.shape[0], inv_step, g)
    v = table[i, 0] + f * table[i, 1]
    return v if inside else -1.0


def _levels(p: DeviceProfile, g: np.ndarray) -> np.ndarray:
    return g if p.levels is None else kernels.quantise_levels(g, p.g_min, p.g_max, int(p.levels))
