"""Latency, energy and area of crossbar inference, voting, and the V-noise trade-off.

Equations, assumptions and the validation against ISAAC, NeuRRAM and HERMES are in
``docs/cost.md``.

    usages = [tile_usage(t) for t in array.tiles]
    layer = layer_cost(profile, usages, passes=positions, replication=R, activity=a)
    net = network_cost([layer, ...])
    net.tops_per_watt, net.throughput   # one MAC = 2 operations
    voting_cost(net, K)          # sequential / pipelined / parallel
    read_spacing(net, "pipelined")   # dt between the reads of K votes (time model)
    voltage_optimum(net, profile, accuracy, ks, target)   # cheapest (V, K) under the voltage law
"""

from crossbar.cost import chips
from crossbar.cost.model import (
    CELLS_PER_PAIR,
    OPS_PER_MAC,
    CircuitParameters,
    LayerCost,
    NetworkCost,
    TileCost,
    TileUsage,
    format_si,
    input_activity,
    layer_cost,
    network_cost,
    sequential_conversions,
    tile_cost,
    tile_usage,
)
from crossbar.cost.optimum import (
    VoltagePoint,
    pareto_front,
    pareto_indices,
    voltage_optimum,
)
from crossbar.cost.search import ThresholdResult, find_threshold
from crossbar.cost.voltage import (
    at_voltage,
    energy_at_voltage,
    noise_floor,
    read_energy_at_voltage,
    relative_read_noise,
    voltage_range,
)
from crossbar.cost.voting import (
    VOTING_MODES,
    parallel_latency,
    pipelined_latency,
    pipelined_latency_paper,
    read_spacing,
    sequential_latency,
    sequential_latency_paper,
    voting_cost,
    voting_markdown,
)

__all__ = [
    "chips",
    "CELLS_PER_PAIR",
    "OPS_PER_MAC",
    "VOTING_MODES",
    "CircuitParameters",
    "LayerCost",
    "NetworkCost",
    "ThresholdResult",
    "TileCost",
    "TileUsage",
    "find_threshold",
    "format_si",
    "input_activity",
    "layer_cost",
    "network_cost",
    "parallel_latency",
    "pareto_front",
    "pareto_indices",
    "pipelined_latency",
    "pipelined_latency_paper",
    "read_energy_at_voltage",
    "sequential_conversions",
    "sequential_latency",
    "sequential_latency_paper",
    "tile_cost",
    "tile_usage",
    "voting_cost",
    "voting_markdown",
    "VoltagePoint",
    "at_voltage",
    "energy_at_voltage",
    "noise_floor",
    "read_spacing",
    "relative_read_noise",
    "voltage_optimum",
    "voltage_range",
]
