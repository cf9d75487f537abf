"""Latency, energy and area of K-vote inference (Qin & Vucinic, Section 3.3).

Three ways to run K independent noisy inferences through L layers with
stage times T_1..T_L (s):

- sequential, one array set:  K * sum_l T_l          (paper: K L T)
- pipelined, one array set:   sum_l T_l + (K - 1) max_l T_l
                              (equal stages: (L + K - 1) T; the paper writes (L + K) T)
- parallel, K array sets:     sum_l T_l               (paper: L T), K times the area

Energy is K times one inference in all three. Derivation in ``docs/cost.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from crossbar.cost._checks import finite, positive_int
from crossbar.cost.network import NetworkCost
from crossbar.cost.table import format_si

VOTING_MODES = ("sequential", "pipelined", "parallel")


def _stages(stage_times: Sequence[float]) -> list[float]:
    times = [finite("stage time", t, minimum=0.0) for t in stage_times]
    if not times:
        raise ValueError("need at least one stage time")
    return times


def sequential_latency(stage_times: Sequence[float], k: int) -> float:
    """K inferences one after another on one array set: K * sum_l T_l."""
    return positive_int("K", k) * sum(_stages(stage_times))


def pipelined_latency(stage_times: Sequence[float], k: int) -> float:
    """Exact time until the K-th result leaves an L-stage pipeline: sum_l T_l + (K-1) max_l T_l.

    One array set, each layer a stage that takes the next input as soon as it
    has passed the previous one on (buffers between stages, not modelled).
    """
    times = _stages(stage_times)
    return sum(times) + (positive_int("K", k) - 1) * max(times)


def parallel_latency(stage_times: Sequence[float], k: int) -> float:
    """K copies of the network run at once: sum_l T_l (area and tiles x K)."""
    positive_int("K", k)
    return sum(_stages(stage_times))


def pipelined_latency_paper(n_layers: int, k: int, t: float) -> float:
    """(L + K) T, the pipelined latency exactly as Qin & Vucinic state it.

    For equal stages the exact value is (L + K - 1) T (see
    :func:`pipelined_latency`); the paper's form is one stage time T larger,
    an upper bound.
    """
    return (positive_int("L", n_layers) + positive_int("K", k)) * finite("T", t, minimum=0.0)


def sequential_latency_paper(n_layers: int, k: int, t: float) -> float:
    """K L T, the paper's sequential latency (exact for equal stages)."""
    return positive_int("K", k) * positive_int("L", n_layers) * finite("T", t, minimum=0.0)


def voting_cost(network: NetworkCost, k: int) -> dict[str, dict[str, float]]:
    """The three K-vote options of Section 3.3 for a network.

    Returns ``{mode: {"latency": s, "energy": J, "area": m^2, "tiles": n}}``
    for mode in ``"sequential"``, ``"pipelined"``, ``"parallel"``; the
    pipelined entry also carries ``"latency_paper"`` = (L + K) max_l T_l, the
    paper's formula applied with the slowest stage (an upper bound).
    """
    if not isinstance(network, NetworkCost):
        raise ValueError(f"voting_cost takes a NetworkCost, got {type(network).__name__}")
    k = positive_int("K", k)
    stages = network.stage_times
    energy = k * network.energy
    one_set = {"energy": energy, "area": network.area, "tiles": network.tiles}
    return {
        "sequential": {"latency": sequential_latency(stages, k), **one_set},
        "pipelined": {
            "latency": pipelined_latency(stages, k),
            "latency_paper": pipelined_latency_paper(len(stages), k, max(stages)),
            **one_set,
        },
        "parallel": {
            "latency": parallel_latency(stages, k),
            "energy": energy,
            "area": k * network.area,
            "tiles": k * network.tiles,
        },
    }


def read_spacing(network: NetworkCost, schedule: str) -> float:
    """Time (s) between two reads of the same array by consecutive votes: the ``dt`` of the
    read-noise time model (``crossbar.nn.vote_group``, docs/physics.md "Read noise in time").

    ``"pipelined"``: the initiation interval max_l T_l (every stage takes the next vote
    that often); ``"sequential"``: one inference latency sum_l T_l; ``"parallel"``:
    ``math.inf``, the K votes are read on K independent array sets, whose read noise shares
    nothing (and whose programming noise differs too: use ``crossbar.nn.reprogram`` per copy,
    not a vote group).
    """
    if not isinstance(network, NetworkCost):
        raise ValueError(f"read_spacing takes a NetworkCost, got {type(network).__name__}")
    stages = _stages(network.stage_times)
    if schedule == "pipelined":
        return max(stages)
    if schedule == "sequential":
        return sum(stages)
    if schedule == "parallel":
        return math.inf
    raise ValueError(f"schedule must be one of {', '.join(VOTING_MODES)}, got {schedule!r}")


def voting_markdown(network: NetworkCost, k: int) -> str:
    """:func:`voting_cost` as a Markdown table."""
    rows = voting_cost(network, k)
    lines = [
        f"| K = {k} | latency | energy | area | tiles |",
        "| --- | --- | --- | --- | --- |",
    ]
    for mode in VOTING_MODES:
        r = rows[mode]
        lines.append(
            f"| {mode} | {format_si(r['latency'], 's')} | {format_si(r['energy'], 'J')} "
            f"| {r['area'] * 1e6:.4g} mm² | {r['tiles']} |"
        )
    return "\n".join(lines) + "\n"
