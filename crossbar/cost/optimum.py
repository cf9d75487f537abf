"""The energy-optimal (V, K) under the physical voltage law, and the Pareto front.

For each vote count K, :func:`voltage_optimum` finds the lowest read voltage at
which K votes still meet an accuracy target, with the network evaluated at that
voltage (``crossbar.cost.at_voltage``: the conductance noise is unchanged, the
circuit noise floor grows relative to the signal as V drops, and no read goes
below the profile's ``v_read_min``), and prices K x E(V) per voted inference
(cell read energy ~ V^2, DAC/ADC/digital fixed). See docs/budget.md.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from crossbar.cost.search import find_threshold
from crossbar.cost.voltage import energy_at_voltage, voltage_range

if TYPE_CHECKING:
    from crossbar.cost.model import NetworkCost

__all__ = ["VoltagePoint", "pareto_front", "pareto_indices", "voltage_optimum"]


def pareto_indices(points: Iterable[tuple[float, float]]) -> list[int]:
    """Indices of the non-dominated (cost, benefit) pairs: lower cost and higher benefit are
    better (minimise two costs with benefit = -cost). In order of cost; the benefit strictly
    increases along them; of equal pairs the first is kept."""
    pts = [(float(c), float(b)) for c, b in points]
    front: list[int] = []
    for i in sorted(range(len(pts)), key=lambda i: (pts[i][0], -pts[i][1])):
        if not front or pts[i][1] > pts[front[-1]][1]:
            front.append(i)
    return front


def pareto_front(points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Non-dominated (energy, accuracy) pairs: lower energy and higher accuracy are better.

    Returned sorted by energy; accuracy strictly increases along the front.
    """
    pts = [(float(e), float(a)) for e, a in points]
    return [pts[i] for i in pareto_indices(pts)]


@dataclass(frozen=True)
class VoltagePoint:
    """The lowest read voltage at which K votes meet the target, and its energy.

    ``status``: "bracketed" (V found within ``tol``), "all" (the lowest allowed voltage
    already meets it: V = v_read_min), "none" (not even v_read; V is NaN) or "dominated"
    (not searched: K x the energy of one inference at v_read_min, ``energy_low``, already
    exceeds the energy of a smaller K that meets the target; V and energy are NaN).
    ``energy``: K x the energy of one inference at V (cell energy ~ V^2, the rest fixed);
    ``excluded``: the highest voltage seen to miss the target (NaN if none), so the true
    lowest voltage lies in (excluded, voltage] and the energy in [``energy_low``, energy];
    ``evaluations``: every (V, accuracy) the search measured."""

    k: int
    voltage: float
    status: str
    energy: float
    excluded: float
    energy_low: float
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
    A K whose energy at the lowest allowed voltage already exceeds the energy of a smaller
    K meeting the target is not evaluated ("dominated"): no voltage makes it the cheapest.
    Returns every K's point and the cheapest feasible one (ties: fewer votes).
    """
    v_min, v_max = voltage_range(profile)
    points = []
    cheapest = math.inf
    for k in sorted(ks):
        floor = k * float(energy_at_voltage(net, v_min, profile.v_read))
        if floor > cheapest:
            points.append(VoltagePoint(k, math.nan, "dominated", math.nan, math.nan, floor, ()))
            continue
        if v_min < v_max:
            result = find_threshold(lambda v, k=k: accuracy(v, k), v_min, v_max, target, tol=tol,
                                    increasing=True)
            v, status, evaluations = result.x, result.status, result.evaluations
            excluded = result.bad if status == "bracketed" else math.nan
        else:  # one allowed voltage (e.g. nand): meets the target there or nowhere
            a = float(accuracy(v_max, k))
            status = "all" if a >= target else "none"
            v, evaluations, excluded = (v_max if status == "all" else math.nan), ((v_max, a),), math.nan

        def energy(volts: float, k: int = k) -> float:
            return k * float(energy_at_voltage(net, volts, profile.v_read))

        e = math.nan if status == "none" else energy(v)
        e_low = e if math.isnan(excluded) else energy(excluded)
        points.append(VoltagePoint(k, float(v), status, e, float(excluded), e_low,
                                   tuple((float(x[0]), float(x[1])) for x in evaluations)))
        if status != "none":
            cheapest = min(cheapest, e)
    best = min((p for p in points if p.status not in ("none", "dominated")), key=lambda p: (p.energy, p.k),
               default=None)
    return points, best
