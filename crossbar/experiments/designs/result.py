"""What an exploration found: every design point at every vote count K, and the Pareto front.

A point's record (what :mod:`.run` keeps under ``<out>/points/<key>.json``)
holds its accuracy per K with the interval (``crossbar.experiments.stats``)
and its cost per K under the config's vote schedule (``crossbar.cost.voting_cost``:
energy K x E, latency of the schedule, area, tiles; TOPS/W = operations / energy).
:class:`ExploreResult` turns records into rows, one per (point, K), and finds
the front: among the rows that meet the target (``admit``), those no other
row beats on both energy and area (``crossbar.cost.pareto_indices``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from crossbar.cost import pareto_indices, voting_cost

from ..stats import Interval
from .config import ExploreConfig

__all__ = ["ExploreResult", "interval_of", "point_record", "record_problem"]

_COSTS = ("energy", "latency", "area", "tiles", "tops_per_watt")


def point_record(key: str, result: Any, schedule: str) -> dict:
    """The stored form of one evaluated point (a ``PointsResult`` at s = 1)."""
    net = result.network
    costs = {}
    for (_, k), _iv in result.accuracies.items():
        c = voting_cost(net, k)[schedule]
        costs[str(k)] = {"energy": c["energy"], "latency": c["latency"], "area": c["area"],
                         "tiles": c["tiles"], "tops_per_watt": net.ops / c["energy"] / 1e12}
    summary = {k: v for k, v in net.to_dict().items() if k not in ("layers", "digital")}
    return {"key": key, "profile": result.profile, "target": result.target,
            "accuracy": {str(k): iv.to_dict() for (_, k), iv in result.accuracies.items()},
            "costs": costs, "network": summary, "elapsed_s": result.elapsed_s,
            "forward_rows": result.forward_rows}


def interval_of(d: Mapping) -> Interval:
    """An :class:`Interval` back from its ``to_dict()`` form."""
    return Interval(**{**d, "chip_sd": math.nan if d.get("chip_sd") is None else d["chip_sd"]})


def record_problem(rec: Any, key: str, votes: Sequence[int]) -> str | None:
    """Why a stored record cannot be used for ``key`` at ``votes`` (None: it can)."""
    if not isinstance(rec, dict) or rec.get("key") != key:
        return "not a record of this point"
    acc, costs = rec.get("accuracy"), rec.get("costs")
    if not isinstance(acc, dict) or not isinstance(costs, dict) or \
            not isinstance(rec.get("target"), (int, float)):
        return "no accuracy, cost or target"
    for k in votes:
        a, c = acc.get(str(k)), costs.get(str(k))
        if not isinstance(a, dict) or not isinstance(c, dict) or any(
                not isinstance(c.get(n), (int, float)) for n in _COSTS):
            return f"no entry for K = {k}"
        try:
            iv = interval_of(a)
        except TypeError:
            return f"a malformed accuracy for K = {k}"
        if not (0.0 <= iv.lo <= iv.mean <= iv.hi <= 1.0):
            return f"an accuracy outside [0, 1] for K = {k}"
    return None


@dataclass(frozen=True)
class ExploreResult:
    """Every (design point, K) with accuracy, cost and whether it meets the target; the front.

    ``points``: the design points (settings as given); ``records``: {key: record}; ``keys``:
    each point's record key; ``evaluated``: points computed by this run (the others were
    read back); ``errors``: {point index: message} of points that failed."""

    config: ExploreConfig
    model: dict
    data: dict
    points: tuple[dict, ...]
    keys: tuple[str, ...]
    records: dict[str, dict]
    evaluated: int
    errors: dict[int, str]
    elapsed_s: float
    forward_rows: int

    @property
    def target(self) -> float | None:
        """The accuracy every point is judged against (the same for all of them)."""
        targets = {self.records[k]["target"] for k in self.keys if k in self.records}
        if len(targets) > 1:
            raise RuntimeError(f"the points were judged against different targets {sorted(targets)}")
        return targets.pop() if targets else None

    def rows(self) -> list[dict]:
        """One row per evaluated (point, K): ``point`` (index), ``settings``, ``profile``, ``k``,
        ``accuracy`` (Interval), ``relation`` to the target, ``admitted`` and the costs."""
        target, rule = self.target, self.config.admit
        out = []
        for i, (point, key) in enumerate(zip(self.points, self.keys, strict=True)):
            rec = self.records.get(key)
            if rec is None:
                continue
            for k in self.config.budget.votes:
                iv = interval_of(rec["accuracy"][str(k)])
                ok = iv.lo >= target if rule == "interval" else iv.mean >= target
                out.append({"point": i, "settings": dict(point), "profile": rec["profile"], "k": k,
                            "accuracy": iv, "relation": iv.relation(target), "admitted": bool(ok),
                            **rec["costs"][str(k)]})
        return out

    def front(self) -> list[int]:
        """Indices into :meth:`rows` of the Pareto front: admitted rows that no other admitted
        row beats on both energy and area (in order of energy)."""
        rows = self.rows()
        admitted = [i for i, r in enumerate(rows) if r["admitted"]]
        return [admitted[j] for j in pareto_indices((rows[i]["energy"], -rows[i]["area"])
                                                    for i in admitted)]

    def to_dict(self) -> dict:
        """The report.json content (``crossbar.report.write_explore_report`` formats it)."""
        rows, front = self.rows(), self.front()
        return {
            "config": self.config.to_dict(),
            "model": self.model,
            "data": self.data,
            "target": self.target,
            "admit": self.config.admit,
            "vote_schedule": self.config.budget.vote_schedule,
            "votes": list(self.config.budget.votes),
            "settings": list(dict.fromkeys(n for p in self.points for n in p)),
            "points": [dict(p) for p in self.points],
            "rows": [{**r, "accuracy": r["accuracy"].to_dict(), "front": i in front}
                     for i, r in enumerate(rows)],
            "front": front,
            "networks": {k: self.records[k]["network"] for k in dict.fromkeys(self.keys)
                         if k in self.records},
            "errors": {str(i): e for i, e in self.errors.items()},
            "evaluated": self.evaluated,
            "elapsed_s": self.elapsed_s,
            "forward_rows": self.forward_rows,
        }
