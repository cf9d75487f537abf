"""The search of a noise budget: for each vote count K, where on a grid of noise scales the
K-vote accuracy stops meeting the target, with the interval that the measurements allow.

The noise scales searched lie on one geometric grid through s = 1 (the
profile as published): s_j = g^j, g = 1 + rel_tol, within [lo, hi]. Every K
is evaluated on the same grid points, so evaluations are shared (the draws of
K votes contain those of fewer). For each K three monotone properties of
accuracy(s, K) are searched, each by galloping from a start point and then
bisecting on the grid index:

* the **point estimate**: the largest s whose mean accuracy meets the target;
* **confirmed**: the largest s whose whole confidence interval lies at or above
  the target (the noise the network is shown to tolerate);
* **excluded**: the smallest s whose whole interval lies below the target (the
  noise it is shown not to tolerate).

The tolerable noise lies between confirmed and excluded; when they are one grid
step apart it is resolved to the grid. See docs/budget.md, "Statistics".
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..noise_scale import scale_key
from ..stats import Interval

__all__ = ["Threshold", "grid_range", "noise_budget", "tolerates_more"]


def grid_range(lo: float, hi: float, rel_tol: float) -> tuple[float, int, int]:
    """(g, j_lo, j_hi): the grid s_j = g^j, g = 1 + rel_tol, of the scales within [lo, hi]."""
    if not (0 < lo < hi):
        raise ValueError(f"need 0 < lo < hi, got {lo}, {hi}")
    if not rel_tol > 0:
        raise ValueError(f"rel_tol must be > 0, got {rel_tol!r}")
    g = 1.0 + rel_tol
    j_lo = math.ceil(math.log(lo) / math.log(g) - 1e-9)
    j_hi = math.floor(math.log(hi) / math.log(g) + 1e-9)
    if j_hi <= j_lo:
        raise ValueError(f"the range [{lo:g}, {hi:g}] holds fewer than two grid points g^j, "
                         f"g = {g:g}; widen it or lower rel_tol")
    return g, j_lo, j_hi


def _nan(v: float | None) -> float:
    return math.nan if v is None else v


@dataclass(frozen=True)
class Threshold:
    """The tolerable noise scale of K votes, with its interval.

    ``scale``: the largest grid s whose mean accuracy meets ``target`` (NaN
    if none); ``status``: ``"bracketed"`` (between ``good`` = scale and
    ``bad``, the next grid point), ``"all"`` (even the top of the range meets
    the target: a lower bound) or ``"none"`` (not even the bottom does);
    ``evaluations``: (s, mean, lo, hi) in the order they were made;
    ``confirmed``: the largest s found whose interval lies wholly at or above
    the target (NaN: none in the range); ``excluded``: the smallest s found
    whose interval lies wholly below it (NaN: none in the range); ``step``:
    the grid factor.
    """

    k: int
    scale: float
    status: str
    good: float
    bad: float
    target: float
    evaluations: tuple[tuple[float, ...], ...]
    confirmed: float = math.nan
    excluded: float = math.nan
    step: float = math.nan

    @property
    def feasible(self) -> bool:
        return self.status != "none"

    @property
    def resolved(self) -> bool:
        """Confirmed and excluded are adjacent grid points: the interval is one grid step."""
        if math.isnan(self.confirmed) or math.isnan(self.excluded) or math.isnan(self.step):
            return False
        return self.excluded / self.confirmed <= self.step * (1 + 1e-9)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["evaluations"] = [list(e) for e in self.evaluations]
        d["resolved"] = self.resolved
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}


def _as_interval(v) -> Interval:
    if isinstance(v, Interval):
        return v
    v = float(v)
    if not math.isfinite(v):
        raise ValueError(f"accuracy {v!r} is not a finite number")
    return Interval.exact(v)


def _gallop(test: Callable[[int], bool], start: int, lo: int, hi: int) -> tuple[int | None, int | None]:
    """For a property that holds up to some index and fails above it: (last index in [lo, hi]
    where it holds, first where it fails; None if not found), galloping from ``start`` (up
    if it holds there, else down) in steps 1, 2, 4, ..., then bisecting."""
    if test(start):
        good, bad, step = start, None, 1
        while good < hi:
            nxt = min(good + step, hi)
            if not test(nxt):
                bad = nxt
                break
            good, step = nxt, 2 * step
    else:
        good, bad, step = None, start, 1
        while bad > lo:
            nxt = max(bad - step, lo)
            if test(nxt):
                good = nxt
                break
            bad, step = nxt, 2 * step
    if good is not None and bad is not None:
        while bad - good > 1:
            mid = (good + bad) // 2
            if test(mid):
                good = mid
            else:
                bad = mid
    return good, bad


def _search_k(measure: Callable[[int], Interval], target: float, j_lo: int, j_hi: int,
              j0: int) -> tuple[int | None, int | None, int | None, int | None]:
    """(good, bad, confirmed, excluded) grid indices of one K (None where none exists)."""
    good, bad = _gallop(lambda j: measure(j).mean >= target, min(max(j0, j_lo), j_hi), j_lo, j_hi)
    confirmed = excluded = None
    if good is not None:  # from the point estimate down to the first interval wholly above
        confirmed, _ = _gallop(lambda j: measure(j).lo >= target, good, j_lo, good)
    if bad is not None:  # from the first mean failure up to the first interval wholly below
        below = lambda j: measure(j).hi < target  # noqa: E731
        excluded = bad if below(bad) else _gallop(lambda j: not below(j), bad, bad, j_hi)[1]
    return good, bad, confirmed, excluded


def noise_budget(accuracy: Callable[[float, int], Interval | float], votes: Iterable[int],
                 target: float, lo: float, hi: float, rel_tol: float = 0.1,
                 max_evaluations: int = 40,
                 on_step: Callable[[int, float, Interval], None] | None = None,
                 ) -> dict[int, Threshold]:
    """The tolerable noise scale of each K on the grid g^j in [lo, hi], g = 1 + rel_tol.

    ``accuracy(s, K)`` is deterministic and returns an :class:`~.stats.Interval`
    (or a plain number, taken as exact). K = 1 starts at s = 1 (clipped to
    the range); each further K starts where the previous one stopped meeting
    the target. ``on_step(K, s, interval)`` is called after every new evaluation.
    """
    g, j_lo, j_hi = grid_range(lo, hi, rel_tol)
    out: dict[int, Threshold] = {}
    start = 0
    for k in sorted(set(int(v) for v in votes)):
        seen: dict[int, Interval] = {}
        order: list[int] = []

        def measure(j: int, k: int = k, seen=seen, order=order) -> Interval:
            if j not in seen:
                if len(seen) >= max_evaluations:
                    raise ValueError(f"the search for K = {k} used its {max_evaluations} "
                                     "evaluations (max_evaluations) before it converged")
                s = scale_key(g**j)
                seen[j] = _as_interval(accuracy(s, k))
                order.append(j)
                if on_step is not None:
                    on_step(k, s, seen[j])
            return seen[j]

        good, bad, confirmed, excluded = _search_k(measure, target, j_lo, j_hi, start)
        status = "none" if good is None else ("all" if bad is None else "bracketed")
        s_of = lambda j: None if j is None else scale_key(g**j)  # noqa: E731
        out[k] = Threshold(
            k=k, scale=_nan(s_of(good)), status=status, good=_nan(s_of(good)), bad=_nan(s_of(bad)),
            target=float(target),
            evaluations=tuple((scale_key(g**j), seen[j].mean, seen[j].lo, seen[j].hi) for j in order),
            confirmed=_nan(s_of(confirmed)), excluded=_nan(s_of(excluded)), step=g,
        )
        start = good if good is not None else j_lo
    return out


def tolerates_more(more: Threshold, less: Threshold) -> str:
    """Whether ``more`` is shown to tolerate more noise than ``less``: ``">"`` when some noise
    level is confirmed for ``more`` and excluded for ``less``, ``"<"`` the other way round,
    else ``"tie"`` (their tolerable-noise intervals overlap, or one is unknown)."""
    def shown(a: Threshold, b: Threshold) -> bool:
        return not (math.isnan(a.confirmed) or math.isnan(b.excluded)) and b.excluded <= a.confirmed

    if shown(more, less):
        return ">"
    if shown(less, more):
        return "<"
    return "tie"
