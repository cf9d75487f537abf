"""One inference through L layers run one after another, and its Markdown report.

    T = sum_l T_l,  E = sum_l E_l + E_digital,  A = sum_l A_l,  ops = sum_l ops_l + ops_digital
    (one MAC = 2 operations; the digital work off the arrays: crossbar.cost.digital)
    TOPS/W = ops / E / 1e12,  throughput = ops / T,  pipelined throughput = ops / max_l T_l
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from crossbar.cost.digital import NO_DIGITAL_WORK, DigitalWork
from crossbar.cost.layer import LayerCost
from crossbar.cost.table import markdown_table


@dataclass(frozen=True)
class NetworkCost:
    """Cost of one inference through L layers executed one after another."""

    layers: tuple[LayerCost, ...]
    digital: DigitalWork = NO_DIGITAL_WORK

    def __post_init__(self) -> None:
        if not self.layers:
            raise ValueError("a network needs at least one layer")

    def _sum(self, attr: str) -> float:
        return float(sum(getattr(layer, attr) for layer in self.layers))

    @property
    def stage_times(self) -> tuple[float, ...]:
        """T_l of every layer (s): the pipeline stages used by voting."""
        return tuple(layer.time for layer in self.layers)

    @property
    def latency(self) -> float:
        """One inference: sum_l T_l (s)."""
        return float(sum(self.stage_times))

    @property
    def max_stage_time(self) -> float:
        """max_l T_l (s): the pipeline's initiation interval."""
        return float(max(self.stage_times))

    @property
    def energy(self) -> float:
        """One inference: sum_l E_l plus the digital work off the arrays (J)."""
        return self._sum("energy") + self.digital.energy

    @property
    def energy_cell(self) -> float:
        """Cell read energy of one inference (J): the part that scales with V^2."""
        return self._sum("energy_cell")

    @property
    def area(self) -> float:
        """Array, ADC and periphery area of all layers (m^2)."""
        return self._sum("area")

    @property
    def tiles(self) -> int:
        """Physical tiles of all layers, replicas included."""
        return sum(layer.tiles for layer in self.layers)

    @property
    def ops(self) -> int:
        """Operations of one inference (one MAC = 2 operations), digital work included."""
        return sum(layer.ops for layer in self.layers) + round(self.digital.ops)

    @property
    def tops_per_watt(self) -> float:
        """Energy efficiency: operations per joule / 1e12 (TOPS/W)."""
        return self.ops / self.energy / 1e12 if self.energy > 0 else math.inf

    @property
    def throughput(self) -> float:
        """Operations per second for one inference at a time: ops / latency."""
        return self.ops / self.latency if self.latency > 0 else math.inf

    @property
    def pipelined_throughput(self) -> float:
        """Operations per second with one inference per stage in flight: ops / max_l T_l."""
        return self.ops / self.max_stage_time if self.max_stage_time > 0 else math.inf

    @property
    def program_time(self) -> float | None:
        """One-off programming time (s), all layers in parallel; None if any layer lacks it."""
        times = [layer.program_time for layer in self.layers]
        return None if any(t is None for t in times) else float(max(times))

    @property
    def program_energy(self) -> float | None:
        """One-off programming energy (J); None if any layer lacks it."""
        es = [layer.program_energy for layer in self.layers]
        return None if any(e is None for e in es) else float(sum(es))

    @property
    def notes(self) -> tuple[str, ...]:
        """The layers' notes, each once."""
        return tuple(dict.fromkeys(n for layer in self.layers for n in layer.notes))

    def to_dict(self) -> dict:
        """Plain-data form: totals plus one dict per layer."""
        return {
            "latency": self.latency,
            "energy": self.energy,
            "energy_cell": self.energy_cell,
            "area": self.area,
            "tiles": self.tiles,
            "ops": self.ops,
            "tops_per_watt": self.tops_per_watt,
            "throughput": self.throughput,
            "pipelined_throughput": self.pipelined_throughput,
            "max_stage_time": self.max_stage_time,
            "program_time": self.program_time,
            "program_energy": self.program_energy,
            "digital": self.digital.to_dict(),
            "notes": list(self.notes),
            "layers": [layer.to_dict() for layer in self.layers],
        }

    def to_markdown(self) -> str:
        """Markdown table, one row per layer and a total row."""
        return markdown_table(self.layers, total=self)


def network_cost(layers: Iterable[LayerCost], digital: DigitalWork = NO_DIGITAL_WORK) -> NetworkCost:
    """Combine per-layer costs into a network (layers run one after another), with the
    digital work off the arrays (``crossbar.cost.digital``)."""
    layers = tuple(layers)
    for layer in layers:
        if not isinstance(layer, LayerCost):
            raise ValueError(f"network_cost takes LayerCost objects, got {type(layer).__name__}")
    return NetworkCost(layers, digital)
