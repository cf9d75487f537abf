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
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from crossbar.cost.search import find_threshold
from crossbar.cost.voltage import energy_at_sigma, energy_at_voltage, voltage_for_sigma, voltage_range
from crossbar.cost.voting import voting_cost

if TYPE_CHECKING:
    from crossbar.cost.model import NetworkCost

__all__ = ["OperatingPoint", "Tolerance", "VoltagePoint", "energy_optimum", "pareto_front",
           "price_evaluations", "voltage_optimum"]


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


@dataclass(frozen=True)
class VoltagePoint:
    """The lowest read voltage at which K votes meet the target, and its energy.

    ``status``: "bracketed" (V found within ``tol``), "all" (the lowest allowed voltage
    already meets it: V = v_read_min) or "none" (not even v_read; V is NaN).
    ``energy``: K x the energy of one inference at V (cell energy ~ V^2, the rest fixed);
    ``evaluations``: every (V, accuracy) the search measured."""

    k: int
    voltage: float
    status: str
    energy: float
    evaluations: tuple[tuple[float, float], ...]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def voltage_optimum(net: NetworkCost, profile, accuracy, ks: Iterable[int], target: float,
                    tol: float = 0.01) -> tuple[list[VoltagePoint], VoltagePoint | None]:
    """The energy-optimal (V, K) under the physical voltage law.

    ``accuracy(v, k)``: the K-vote accuracy with the network read at ``v`` volts (the
    caller evaluates ``crossbar.cost.at_voltage(profile, v)``, whose reads carry the circuit
    noise floor of ``v``); assumed non-decreasing in v. For each K the lowest v in
    ``voltage_range(profile)`` meeting ``target`` is bisected to ``tol`` volts; its energy
    is K x :func:`energy_at_voltage`. ``net`` is the cost at the profile's v_read.
    Returns every K's point and the cheapest feasible one (ties: fewer votes).
    """
    v_min, v_max = voltage_range(profile)
    points = []
    for k in sorted(ks):
        if v_min < v_max:
            result = find_threshold(lambda v, k=k: accuracy(v, k), v_min, v_max, target, tol=tol,
                                    increasing=True)
            v, status, evaluations = result.x, result.status, result.evaluations
        else:  # one allowed voltage (e.g. nand): meets the target there or nowhere
            a = float(accuracy(v_max, k))
            status = "all" if a >= target else "none"
            v, evaluations = (v_max if status == "all" else math.nan), ((v_max, a),)
        energy = math.nan if status == "none" else k * float(energy_at_voltage(net, v, profile.v_read))
        points.append(VoltagePoint(k, float(v), status, energy,
                                   tuple((float(e[0]), float(e[1])) for e in evaluations)))
    best = min((p for p in points if p.status != "none"), key=lambda p: (p.energy, p.k), default=None)
    return points, best
