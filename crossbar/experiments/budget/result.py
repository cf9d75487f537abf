"""What a noise budget found (:class:`BudgetResult`) and what point evaluations found
(:class:`PointsResult`): accuracies with their intervals, tolerable noise, costs, optima.

``to_dict()`` of each is its report.json content; ``crossbar.report`` formats them.
"""

from __future__ import annotations

from dataclasses import dataclass

from crossbar.cost import NetworkCost
from crossbar.cost.optimum import VoltagePoint, pareto_front

from ..stats import Interval, compare
from .config import BudgetConfig
from .plan import Resolution
from .search import Threshold, tolerates_more

__all__ = ["BudgetResult", "PointsResult"]


@dataclass(frozen=True)
class BudgetResult:
    """Everything a budget run found; ``to_dict()`` is the report.json content.

    Accuracies come as :class:`~crossbar.experiments.stats.Interval` (``digital``,
    ``noiseless``, ``nominal``) and, for compatibility, as their means
    (``digital_accuracy``, ...). ``points``: per K, the lowest read voltage meeting the
    target under the physical voltage law and its energy (``crossbar.cost.voltage_optimum``);
    ``optimum``: the cheapest of them; ``voltage_accuracy``: every (V, K) evaluated on the
    way, with its interval.
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
    points: tuple[VoltagePoint, ...]
    optimum: VoltagePoint | None
    voltage_accuracy: dict[tuple[float, int], Interval]
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

    def pareto(self) -> list[dict]:
        """Every evaluated (V, K): energy per voted inference at V, accuracy with its interval."""
        from crossbar.cost import energy_at_voltage

        return [{"k": k, "voltage": v, "energy": k * float(energy_at_voltage(self.network, v, self.v0)),
                 "accuracy": iv.mean, "lo": iv.lo, "hi": iv.hi}
                for (v, k), iv in sorted(self.voltage_accuracy.items())]

    def ties(self) -> list[int]:
        """The K whose energy range (over its voltage bracket) overlaps the optimum's: the
        optimum is called cheaper only than the others."""
        best = self.optimum
        if best is None:
            return []
        return [p.k for p in self.points if p.k != best.k and p.status != "none"
                and p.energy_low <= best.energy and best.energy_low <= p.energy]

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
            "optimum": None if self.optimum is None else self.optimum.to_dict(),
            "optimum_ties": self.ties(),
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
    "misses"} against ``target``; ``voting``: {(s, K): comparison with K = 1 at the same s};
    ``network``: the cost of one inference at the profile's v_read (as a budget prices it).
    """

    config: BudgetConfig
    profile: str
    target: float
    accuracies: dict[tuple[float, int], Interval]
    elapsed_s: float
    forward_rows: int
    network: NetworkCost | None = None

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
