"""Bisection for thresholds of monotone (possibly noisy) functions, e.g. noise budgets."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from crossbar.cost._checks import finite, positive_int


@dataclass(frozen=True)
class ThresholdResult:
    """Outcome of :func:`find_threshold`.

    ``x``: the threshold (NaN when ``status`` is ``"none"``); ``status``:
    ``"bracketed"`` (found between ``good`` and ``bad``), ``"all"`` (the whole
    interval meets the target; x is the far end) or ``"none"`` (not even the
    near end does); ``good``/``bad``: the final bracket, f(good) >= target >
    f(bad); ``evaluations``: every (x, f(x)) in call order.
    """

    x: float
    status: str
    good: float
    bad: float
    evaluations: tuple[tuple[float, float], ...]

    def __float__(self) -> float:
        return self.x


def find_threshold(
    f: Callable[[float], float],
    lo: float,
    hi: float,
    target: float,
    tol: float = 1e-3,
    increasing: bool = False,
    integer: bool = False,
    max_evaluations: int = 100,
) -> ThresholdResult:
    """Bisect for where a monotone ``f`` crosses ``target`` on [lo, hi].

    Decreasing ``f`` (default; e.g. accuracy vs noise sigma): the largest x
    with f(x) >= target. Increasing ``f`` (e.g. accuracy vs read voltage or
    votes): the smallest x with f(x) >= target. The answer is the last x that
    met the target, within ``tol`` of the crossing (``integer``: exact over
    integers, tol unused). For a noisy f the bisection trusts each single
    evaluation: average inside ``f`` if one draw is not enough.
    """
    lo = finite("lo", lo)
    hi = finite("hi", hi)
    target = finite("target", target)
    if not lo < hi:
        raise ValueError(f"need lo < hi, got lo={lo}, hi={hi}")
    tol = finite("tol", tol, minimum=0.0, strict=True)
    budget = positive_int("max_evaluations", max_evaluations, 2)
    if integer:
        if lo != math.floor(lo) or hi != math.floor(hi):
            raise ValueError(f"integer search needs integral lo and hi, got {lo}, {hi}")
        lo, hi = int(lo), int(hi)
    evals: list[tuple[float, float]] = []

    def ok(x) -> bool:
        if len(evals) >= budget:
            raise ValueError(f"find_threshold used its {budget} evaluations before converging")
        y = f(x)
        try:
            y = float(y)
        except (TypeError, ValueError):
            raise ValueError(f"f({x}) returned {y!r}, not a number") from None
        if not math.isfinite(y):
            raise ValueError(f"f({x}) returned {y}, not a finite number")
        evals.append((float(x), y))
        return y >= target

    good, bad = (hi, lo) if increasing else (lo, hi)
    if not ok(good):
        return ThresholdResult(math.nan, "none", good, bad, tuple(evals))
    if ok(bad):
        return ThresholdResult(float(bad), "all", bad, bad, tuple(evals))
    while abs(bad - good) > (1 if integer else tol):
        mid = (good + bad) // 2 if integer else 0.5 * (good + bad)
        if ok(mid):
            good = mid
        else:
            bad = mid
    return ThresholdResult(float(good), "bracketed", float(good), float(bad), tuple(evals))
