"""The midpoint noise level of an accuracy curve, and the uncertainty of accuracies.

Definition used here (the papers' own definition could not be read; see
docs/walking_noise.md): for one trained network, with clean accuracy ``a0``
and chance level ``c``, the *midpoint* is the noise std at which the accuracy
first falls below the half level ``(a0 + c) / 2``. It is found on a
log-spaced grid (the curve), then refined by ``steps`` bisections in
log(sigma) inside the first bracketing grid interval, and read off by linear
interpolation in log(sigma) between the last bracket's ends. Repeats
(independent seeds) give independent midpoints; their spread in log10 gives
the confidence interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["Crossing", "compare", "find_midpoint", "interval", "log_grid", "mean_ci", "midpoint_interval",
           "summarize_midpoints"]

CONFIDENCE = 0.95


def log_grid(lo: float, hi: float, per_decade: int) -> tuple[float, ...]:
    """``per_decade`` log-spaced points per decade from ``lo`` to ``hi`` (both included;
    12 significant digits so the values are stable keys)."""
    if not (0 < lo < hi) or per_decade < 1:
        raise ValueError(f"need 0 < lo < hi and per_decade >= 1, got {lo}, {hi}, {per_decade}")
    n = max(2, int(round((math.log10(hi) - math.log10(lo)) * per_decade)) + 1)
    return tuple(float(f"{v:.12g}") for v in np.logspace(math.log10(lo), math.log10(hi), n))


@dataclass(frozen=True)
class Crossing:
    """Where one curve crosses ``level``: ``value`` (nan when censored), the final
    bracket ``lo`` < ``hi``, ``censored`` ("" | "below" the grid | "above" it) and
    every point evaluated (sigma, accuracy), sorted."""

    value: float
    lo: float
    hi: float
    censored: str
    points: tuple[tuple[float, float], ...]


def _interpolate(lo: float, a_lo: float, hi: float, a_hi: float, level: float) -> float:
    x0, x1 = math.log10(lo), math.log10(hi)
    if a_lo == a_hi:
        return 10 ** ((x0 + x1) / 2)
    t = min(1.0, max(0.0, (a_lo - level) / (a_lo - a_hi)))
    return 10 ** (x0 + t * (x1 - x0))


def find_midpoint(acc: Callable[[float], float], grid: Sequence[float], level: float,
                  steps: int) -> Crossing:
    """The first crossing of ``acc(sigma)`` below ``level`` (see module doc).

    ``acc`` is called for every grid point (ascending), then for ``steps``
    bisection points; each sigma is evaluated once.
    """
    grid = sorted(float(s) for s in grid)
    seen: dict[float, float] = {}

    def f(s: float) -> float:
        if s not in seen:
            seen[s] = float(acc(s))
        return seen[s]

    below = [i for i, s in enumerate(grid) if f(s) < level]
    points = lambda: tuple(sorted(seen.items()))  # noqa: E731
    if not below:
        return Crossing(math.nan, grid[-1], math.inf, "above", points())
    i = below[0]
    if i == 0:
        return Crossing(math.nan, 0.0, grid[0], "below", points())
    lo, hi = grid[i - 1], grid[i]
    for _ in range(steps):
        mid = float(f"{math.sqrt(lo * hi):.12g}")
        if not lo < mid < hi:
            break
        if f(mid) >= level:
            lo = mid
        else:
            hi = mid
    return Crossing(_interpolate(lo, f(lo), hi, f(hi), level), lo, hi, "", points())


def _t(n: int) -> float:
    return float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1))


def mean_ci(values: Sequence[float], n_test: int | None = None) -> tuple[float, float]:
    """Mean and the half-width of its 95 % confidence interval.

    Two or more values (independent repeats): Student's t on their spread.
    One value: the binomial test-set error ``1.96 sqrt(p (1 - p) / n_test)``
    (a normal approximation; nan without ``n_test``).
    """
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return math.nan, math.nan
    if v.size == 1:
        p = float(v[0])
        if not n_test:
            return p, math.nan
        return p, float(stats.norm.ppf(0.5 + CONFIDENCE / 2) * math.sqrt(max(p * (1 - p), 0.0) / n_test))
    return float(v.mean()), _t(v.size) * float(v.std(ddof=1)) / math.sqrt(v.size)


def summarize_midpoints(crossings: Sequence[Crossing]) -> dict:
    """Across repeats: geometric mean and 95 % interval (t on log10), or a bound when censored.

    ``status``: "ok" (every repeat crossed inside the grid), "above" / "below"
    (every repeat censored on that side: ``bound`` is the grid end), "mixed".
    """
    n = len(crossings)
    above = sum(c.censored == "above" for c in crossings)
    below = sum(c.censored == "below" for c in crossings)
    out = {"repeats": n, "censored_above": above, "censored_below": below,
           "values": [None if math.isnan(c.value) else c.value for c in crossings],
           "value": None, "ci": [None, None], "log10_sd": None, "bound": None}
    if above or below:
        out["status"] = "above" if above == n else "below" if below == n else "mixed"
        if above == n:
            out["bound"] = min(c.lo for c in crossings)
        elif below == n:
            out["bound"] = max(c.hi for c in crossings)
        return out
    logs = np.log10([c.value for c in crossings])
    out["status"] = "ok"
    m = float(logs.mean())
    out["value"] = 10**m
    if n > 1:
        sd = float(logs.std(ddof=1))
        half = _t(n) * sd / math.sqrt(n)
        out.update(ci=[10 ** (m - half), 10 ** (m + half)], log10_sd=sd)
    return out


def interval(m: float | None, h: float | None) -> tuple[float, float] | None:
    """``m`` +- ``h`` as a (low, high) pair; None when either is missing (nothing to compare)."""
    if m is None or h is None or math.isnan(m) or math.isnan(h):
        return None
    return m - h, m + h


def midpoint_interval(mp: dict[str, Any]) -> tuple[float, float] | None:
    """The interval of a :func:`summarize_midpoints` result: its CI, [bound, inf) when censored
    above, (0, bound] below; None for one repeat (no interval) or a mix."""
    st = mp.get("status")
    if st == "ok":
        lo, hi = mp["ci"]
        return None if lo is None else (lo, hi)  # one repeat: no interval, no comparison
    if st == "above":
        return mp["bound"], math.inf
    if st == "below":
        return 0.0, mp["bound"]
    return None


def compare(a: tuple[float, float] | None, b: tuple[float, float] | None) -> str:
    """'>' when interval a lies above b, '<' below, '~' when they overlap, '?' when one is missing."""
    if a is None or b is None:
        return "?"
    if a[0] > b[1]:
        return ">"
    if a[1] < b[0]:
        return "<"
    return "~"
