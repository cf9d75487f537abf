"""Latency, energy, area, operations and programming cost of one layer per inference.

    T_pass = max_tiles t_tile + ceil(log2 m) * digital_add_time     (m row tiles per column)
    T_l    = ceil(mvms / R) * T_pass + rereads * max_tiles t_tile
    E_l    = mvms * (sum_tiles e_tile + n_adds * digital_add_energy) + rereads * mean_tiles e_tile
    ops_l  = 2 * mvms * sum_tiles rows * cols                     (one MAC = 2 operations; only the
             real weights where tiles hold structural zeros: block-diagonal groups, GRU gates)
    A_l    = R * n * (2 tile_rows tile_cols cell_area + n_ADC A_ADC + periphery per tile)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

from crossbar.cost._checks import finite, positive_int
from crossbar.cost.circuit import CircuitParameters, TileCost, tile_cost
from crossbar.cost.table import markdown_table
from crossbar.cost.usage import CELLS_PER_PAIR, TileUsage, check_activity, tile_usage

OPS_PER_MAC = 2
"""Operations counted per multiply-accumulate (the convention of the chips' TOPS figures)."""


def _reduction(usages: Sequence[TileUsage]) -> tuple[int, int]:
    """(digital adds per pass, adder-tree depth) to combine row-tile partial sums.

    Per output column j covered by n_j tiles: n_j - 1 adds, so
    adds = sum_t cols_t - |covered columns|; depth = ceil(log2 max_j n_j).
    """
    cover: dict[int, int] = {}
    for u in usages:
        c0 = u.col_offset or 0
        for j in range(c0, c0 + u.cols):
            cover[j] = cover.get(j, 0) + 1
    adds = sum(u.cols for u in usages) - len(cover)
    depth = math.ceil(math.log2(max(cover.values()))) if cover else 0
    return adds, depth


@dataclass(frozen=True)
class LayerCost:
    """Cost of one layer per inference (times s, energies J, areas m^2).

    ``mvms`` MVMs per inference (a conv layer: one per output position) run as
    ``passes = ceil(mvms / replication)`` sequential passes of ``pass_time``;
    ``rereads`` extra tile reads (bound management) are added. ``ops`` counts one
    MAC as two operations; ``tops_per_watt`` and ``throughput`` (operations per
    second of this layer alone) follow from it. ``tiles``, ``cells`` and areas
    include the replicas. Programming cost is one-off (None = not modelled).
    """

    name: str
    tiles: int
    replication: int
    mvms: int
    passes: int
    pass_time: float
    time: float
    energy: float
    energy_cell: float
    energy_dac: float
    energy_sense: float
    energy_adc: float
    energy_digital: float
    energy_buffer: float
    digital_adds: int
    shift_adds: int
    conversions: int
    rereads: float
    clipping_rate: float
    ops: int
    cells: int
    area: float
    area_array: float
    area_adc: float | None
    area_periphery: float | None
    activity: float
    program_time: float | None = None
    program_energy: float | None = None
    tile_costs: tuple[TileCost, ...] = field(default=(), repr=False)
    notes: tuple[str, ...] = ()

    @property
    def tops_per_watt(self) -> float:
        """Operations per joule / 1e12 (= TOPS/W)."""
        return self.ops / self.energy / 1e12 if self.energy > 0 else math.inf

    @property
    def throughput(self) -> float:
        """Operations per second of this layer on its tiles."""
        return self.ops / self.time if self.time > 0 else math.inf

    def to_dict(self) -> dict:
        """Plain-data form (JSON-serialisable); per-tile costs left out."""
        d = asdict(self)
        d.pop("tile_costs")
        d["notes"] = list(self.notes)
        d["tops_per_watt"] = self.tops_per_watt
        d["throughput"] = self.throughput
        return d

    def to_markdown(self) -> str:
        """A one-layer Markdown table."""
        return markdown_table([self], total=None)


def _programming(p: CircuitParameters, usages: Sequence[TileUsage], r: int,
                 notes: list[str]) -> tuple[float | None, float | None]:
    iters = [u.verify_iterations_total for u in usages]
    if p.pulse_time is not None and all(i is not None for i in iters):
        # cells of a tile written one after another, tiles (and replicas) in parallel
        if r > 1:
            notes.append("replicas assumed to need the same write pulses as the mapped copy")
        return max(iters) * p.pulse_time, r * sum(iters) * p.pulse_energy
    if p.pulse_time is not None:
        notes.append("tiles without verify_iterations: programming cost not modelled")
    return None, None


def layer_cost(
    profile,
    tiles: Iterable[TileUsage],
    passes: int = 1,
    replication: int = 1,
    activity: float = 1.0,
    name: str = "",
    rereads: float = 0,
    clipping_rate: float = math.nan,
    macs: int | None = None,
) -> LayerCost:
    """Latency, energy, operations and area of one layer per inference.

    ``tiles``: the layer's :class:`TileUsage` (one copy; tile objects are
    converted with :func:`tile_usage`). ``passes``: MVMs per inference on one
    copy (1 for a dense layer, the number of output positions for a conv
    layer). ``replication`` R copies work on different positions in parallel:
    sequential passes = ceil(passes / R), tiles and area x R, energy unchanged.
    ``activity``: conduction energy of the inputs per full drive
    (:func:`input_activity`; 1 = worst case). ``rereads``: extra tile reads per
    inference from bound management (a mean over the examples read may be
    fractional; ``crossbar.nn.reread_counts`` counts them, ``network_cost_of``
    measures them); each costs the mean tile energy and, conservatively, the
    slowest tile's time. ``clipping_rate``: the share of the layer's ADC conversions that
    clipped where it was measured (``network_cost_of``), shown in the tables; NaN unknown.
    ``macs``: the useful multiply-accumulates of one MVM, where the tiles also hold structural
    zeros (block-diagonal groups, a GRU's gate layout); default every programmed cell pair.
    """
    p = CircuitParameters.from_profile(profile)
    usages = [t if isinstance(t, TileUsage) else tile_usage(t) for t in tiles]
    if not usages:
        raise ValueError("layer_cost needs at least one tile")
    mvms = positive_int("passes", passes)
    useful = sum(u.macs for u in usages) if macs is None else positive_int("macs", macs)
    r = positive_int("replication", replication)
    extra = finite("rereads", rereads, minimum=0.0)
    a = check_activity(activity)
    costs = tuple(tile_cost(p, u, a) for u in usages)
    adds, depth = _reduction(usages)
    slowest = max(c.time for c in costs)
    pass_time = slowest + depth * p.digital_add_time
    seq = -(-mvms // r)
    mean = extra / len(costs)  # a re-read costs the mean tile's energy

    def total(part: str) -> float:
        return (mvms + mean) * sum(getattr(c, part) for c in costs)

    e_dig = total("energy_digital") + mvms * adds * p.digital_add_energy
    parts = {k: total(f"energy_{k}") for k in ("cell", "dac", "sense", "adc", "buffer")}
    n_tiles = r * len(usages)
    area_array = n_tiles * CELLS_PER_PAIR * p.tile_rows * p.tile_cols * p.cell_area
    area_adc = None if p.adc_area is None else n_tiles * p.adcs_per_tile * p.adc_area
    per_tile = p.periphery_area_per_tile
    area_periphery = None if per_tile is None else n_tiles * per_tile
    notes = list(p.notes)
    program_time, program_energy = _programming(p, usages, r, notes)
    return LayerCost(
        name=str(name),
        tiles=n_tiles,
        replication=r,
        mvms=mvms,
        passes=seq,
        pass_time=pass_time,
        time=seq * pass_time + extra * slowest,
        energy=sum(parts.values()) + e_dig,
        energy_cell=parts["cell"],
        energy_dac=parts["dac"],
        energy_sense=parts["sense"],
        energy_adc=parts["adc"],
        energy_digital=e_dig,
        energy_buffer=parts["buffer"],
        digital_adds=mvms * adds,
        shift_adds=round((mvms + mean) * sum(c.shift_adds for c in costs)),
        conversions=round((mvms + mean) * sum(c.conversions for c in costs)),
        rereads=extra,
        clipping_rate=float(clipping_rate),
        ops=OPS_PER_MAC * mvms * useful,
        cells=r * sum(u.cells for u in usages),
        area=area_array + (area_adc or 0.0) + (area_periphery or 0.0),
        area_array=area_array,
        area_adc=area_adc,
        area_periphery=area_periphery,
        activity=a,
        program_time=program_time,
        program_energy=program_energy,
        tile_costs=costs,
        notes=tuple(dict.fromkeys(notes)),
    )
