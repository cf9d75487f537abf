"""What a noise budget found (:class:`BudgetResult`) and what point evaluations found
(:class:`PointsResult`): accuracies with their intervals, tolerable noise, costs, optima.

``to_dict()`` of each is its report.json content; ``crossbar.report`` formats them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from crossbar.cost import NetworkCost
from crossbar.cost.optimum import OperatingPoint, pareto_front, price_evaluations

from .budget_config import BudgetConfig
from .budget_plan import Resolution
from .budget_search import Threshold, tolerates_more
from .stats import Interval, compare

__all__ = ["BudgetResult", "PointsResult", "at_ends"]


@dataclass(frozen=True)
class _At:
    """A tolerable noise scale seen as the cost model's ``Tolerance`` (one end of an interval)."""

    scale: float
    status: str

    @property
    def feasible(self) -> bool:
        return self.status != "none"


def at_ends(thresholds: dict[int, Threshold], end: str) -> dict[int, _At]:
    """The thresholds at their confirmed (or excluded) scale, for pricing the interval's ends."""
    out = {}
    for k, th in thresholds.items():
        s = getattr(th, end)
        bound = th.status == "all" and s == th.good  # the top of the range: a lower bound
        out[k] = _At(s, "none" if math.isnan(s) else ("all" if bound else "bracketed"))
    return out


@dataclass(frozen=True)
class BudgetResult:
    """Everything a budget run found; ``to_dict()`` is the report.json content.

    Accuracies come as :class:`~crossbar.experiments.stats.Interval` (``digital``,
    ``noiseless``, ``nominal``) and, for compatibility, as their means
    (``digital_accuracy``, ...). ``points`` are the operating points at each K's
    point estimate; ``points_confirmed`` / ``points_excluded`` at the ends of its
    interval (the energy there bounds the energy at the true tolerable noise).
    """

    config: BudgetConfig
    profile: str
    model: dict
    data: dict
    digital: Interval
    noiseless: Interval
    nominal: dict[int, Interval]
    reference_accuracy: float
    target: float
    thresholds: dict[int, Threshold]
    resolution: Resolution
    network: NetworkCost
    points: tuple[OperatingPoint, ...]
    points_confirmed: tuple[OperatingPoint, ...]
    points_excluded: tuple[OperatingPoint, ...]
    optimum: dict[str, OperatingPoint | None]
    evaluations: tuple[dict, ...]
    v0: float
    elapsed_s: float
    forward_rows: int

    @property
    def digital_accuracy(self) -> float:
        return self.digital.mean

    @property
    def noiseless_accuracy(self) -> float:
        return self.noiseless.mean

    @property
    def nominal_accuracy(self) -> dict[int, float]:
        return {k: v.mean for k, v in self.nominal.items()}

    def voting(self) -> dict[int, dict[str, str]]:
        """For each K > 1, against one read: ``"accuracy"`` at s = 1 and ``"noise"`` tolerated,
        each ``">"``, ``"<"`` or ``"tie"`` (called only when the intervals separate)."""
        one, th1 = self.nominal[1], self.thresholds[1]
        return {k: {"accuracy": compare(iv.lo, iv.hi, one.lo, one.hi),
                    "noise": tolerates_more(self.thresholds[k], th1)}
                for k, iv in self.nominal.items() if k != 1}

    def pareto(self, paper: bool = False) -> list[dict]:
        """Every evaluated (s, K) as an operating point: energy per inference at V(s), accuracy."""
        pts = price_evaluations(self.network, self.evaluations, self.v0, self.config.alpha, paper=paper)
        ivs = {(e["k"], e["s"]): e for e in self.evaluations}
        for p in pts:
            e = ivs[(p["k"], p["s"])]
            p["lo"], p["hi"] = e["lo"], e["hi"]
        return pts

    def to_dict(self) -> dict:
        front = pareto_front((p["energy"], p["accuracy"]) for p in self.pareto())
        return {
            "config": self.config.to_dict(),
            "profile": self.profile,
            "model": self.model,
            "data": self.data,
            "digital": self.digital.to_dict(),
            "digital_accuracy": self.digital.mean,
            "reference": self.config.reference,
            "reference_accuracy": self.reference_accuracy,
            "target": self.target,
            "noiseless": self.noiseless.to_dict(),
            "noiseless_accuracy": self.noiseless.mean,
            "nominal": {str(k): v.to_dict() for k, v in self.nominal.items()},
            "nominal_accuracy": {str(k): v.mean for k, v in self.nominal.items()},
            "thresholds": {str(k): t.to_dict() for k, t in self.thresholds.items()},
            "resolution": self.resolution.to_dict(),
            "voting": {str(k): v for k, v in self.voting().items()},
            "network": self.network.to_dict(),
            "tops_per_watt": self.network.tops_per_watt,
            "throughput": self.network.throughput,
            "voltage_nominal": self.v0,
            "operating_points": [p.to_dict() for p in self.points],
            "operating_points_confirmed": [p.to_dict() for p in self.points_confirmed],
            "operating_points_excluded": [p.to_dict() for p in self.points_excluded],
            "optimum": {k: (None if p is None else p.to_dict()) for k, p in self.optimum.items()},
            "pareto_points": self.pareto(),
            "pareto_front": [{"energy": e, "accuracy": a} for e, a in front],
            "evaluations": list(self.evaluations),
            "elapsed_s": self.elapsed_s,
            "forward_rows": self.forward_rows,
        }




@dataclass(frozen=True)
class PointsResult:
    """Accuracies at chosen (s, K) of one device and age, each with its interval, against a target.

    ``accuracies``: {(s, K): Interval}; ``relation``: {(s, K): "meets" / "straddles" /
    "misses"} against ``target``; ``voting``: {(s, K): comparison with K = 1 at the same s}.
    """

    config: BudgetConfig
    profile: str
    target: float
    accuracies: dict[tuple[float, int], Interval]
    elapsed_s: float
    forward_rows: int

    def relation(self) -> dict[tuple[float, int], str]:
        return {key: iv.relation(self.target) for key, iv in self.accuracies.items()}

    def voting(self) -> dict[tuple[float, int], str]:
        out = {}
        for (s, k), iv in self.accuracies.items():
            one = self.accuracies.get((s, 1))
            if k != 1 and one is not None:
                out[(s, k)] = compare(iv.lo, iv.hi, one.lo, one.hi)
        return out

    def to_dict(self) -> dict:
        rel, vot = self.relation(), self.voting()
        return {
            "profile": self.profile,
            "time_since_programming": self.config.time_since_programming,
            "drift_compensation": self.config.drift_compensation,
            "target": self.target,
            "points": [{"s": s, "k": k, **iv.to_dict(), "relation": rel[(s, k)],
                        "versus_one_read": vot.get((s, k))}
                       for (s, k), iv in self.accuracies.items()],
            "elapsed_s": self.elapsed_s,
            "forward_rows": self.forward_rows,
        }
