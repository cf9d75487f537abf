"""Price tolerable noise levels: operating points, the energy-optimal (V, K) and the Pareto front.

A noise budget (``crossbar.experiments.budget``) finds, for each vote count K,
the largest noise scale s the network tolerates. Here each (s, K) becomes an
operating point: read voltage V = V0 / s^(1/alpha) and energy K x E(V) per
voted inference (``crossbar.cost.voltage.energy_at_sigma``), under two energy
models: only the cell read energy scales with V^2 ("fixed_periphery", the
physical reading) or the whole inference does ("paper", P ~ V^2). See
docs/budget.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from crossbar.cost.voltage import energy_at_sigma, voltage_for_sigma
from crossbar.cost.voting import voting_cost

if TYPE_CHECKING:
    from crossbar.cost.model import NetworkCost

__all__ = ["OperatingPoint", "Tolerance", "energy_optimum", "pareto_front", "price_evaluations"]


class Tolerance(Protocol):
    """The largest tolerable noise scale of one K (e.g. ``crossbar.experiments.Threshold``)."""

    scale: float
    status: str  # "bracketed", "all" (s is a lower bound) or "none" (no s meets the target)

    @property
    def feasible(self) -> bool: ...


@dataclass(frozen=True)
class OperatingPoint:
    """One K at its largest tolerable noise scale s, run at read voltage V = V0 / s^(1/alpha).

    ``energy``: per (voted) inference = K x energy of one read-out at V;
    ``energy_paper``: the same with the whole inference energy scaling as V^2
    (the paper's P ~ V^2; DAC/ADC/digital included); ``bound``: True when s is
    only a lower bound (status "all": V could go lower still, energy is an
    upper bound); latencies of the three schedules, area and tiles of the
    parallel option are in ``voting``.
    """

    k: int
    scale: float
    status: str
    voltage: float
    energy: float
    energy_paper: float
    energy_one: float
    bound: bool
    voting: dict

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def energy_optimum(net: NetworkCost, thresholds: Mapping[int, Tolerance], v0: float,
                   alpha: float = 1.0) -> tuple[list[OperatingPoint], dict[str, OperatingPoint | None]]:
    """Price every feasible K at its tolerable noise; the cheapest under each energy model.

    Returns (points, {"fixed_periphery": best, "paper": best}); "fixed_periphery"
    scales only the cell read energy with V^2 (DAC, ADC, digital fixed; the
    physical reading), "paper" the whole inference energy (P ~ V^2).
    """
    points = []
    for k, th in sorted(thresholds.items()):
        if not th.feasible:
            continue
        s = th.scale
        e_one = float(energy_at_sigma(net, s, 1.0, alpha))
        e_paper = float(energy_at_sigma(net, s, 1.0, alpha, periphery_scales=True))
        points.append(OperatingPoint(
            k=k, scale=s, status=th.status, voltage=float(voltage_for_sigma(s, 1.0, v0, alpha)),
            energy=k * e_one, energy_paper=k * e_paper, energy_one=e_one, bound=th.status == "all",
            voting=voting_cost(net, k),
        ))
    best = {
        "fixed_periphery": min(points, key=lambda p: (p.energy, p.k), default=None),
        "paper": min(points, key=lambda p: (p.energy_paper, p.k), default=None),
    }
    return points, best


def price_evaluations(net: NetworkCost, evaluations: Iterable[Mapping], v0: float, alpha: float = 1.0,
                      paper: bool = False) -> list[dict]:
    """Every evaluated (s, K, accuracy) with s > 0 as an operating point.

    Returns dicts {k, s, voltage, energy, accuracy}: voltage V(s), energy per
    voted inference K x E(V(s)) (``paper``: the whole inference scales as V^2).
    """
    out = []
    for e in evaluations:
        s, k = e["s"], e["k"]
        if s <= 0:
            continue
        energy = k * float(energy_at_sigma(net, s, 1.0, alpha, periphery_scales=paper))
        out.append({"k": k, "s": s, "voltage": float(voltage_for_sigma(s, 1.0, v0, alpha)),
                    "energy": energy, "accuracy": e["accuracy"]})
    return out


def pareto_front(points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Non-dominated (energy, accuracy) pairs: lower energy and higher accuracy are better.

    Returned sorted by energy; accuracy strictly increases along the front.
    """
    front: list[tuple[float, float]] = []
    for e, a in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or a > front[-1][1]:
            front.append((float(e), float(a)))
    return front
