"""The cost model in one import: tile usage, circuit numbers, tile, layer and network cost.

The parts live in :mod:`.usage` (what a tile and its inputs use), :mod:`.circuit` (one
MVM on one tile), :mod:`.layer`, :mod:`.network` and :mod:`.table` (Markdown); equations in docs/cost.md. This
module keeps ``crossbar.cost.model`` the single place the mapping and voltage modules
import from.
"""

from crossbar.cost.circuit import CircuitParameters, TileCost, sequential_conversions, tile_cost
from crossbar.cost.layer import OPS_PER_MAC, LayerCost, layer_cost
from crossbar.cost.network import NetworkCost, network_cost
from crossbar.cost.table import format_si
from crossbar.cost.usage import CELLS_PER_PAIR, TileUsage, input_activity, tile_usage

__all__ = [
    "CELLS_PER_PAIR",
    "OPS_PER_MAC",
    "CircuitParameters",
    "LayerCost",
    "NetworkCost",
    "TileCost",
    "TileUsage",
    "format_si",
    "input_activity",
    "layer_cost",
    "network_cost",
    "sequential_conversions",
    "tile_cost",
    "tile_usage",
]
