"""Latency, energy and area of tiles, layers and networks from a device profile.

Equations and assumptions are in ``docs/cost.md``; symbols used below:

    tile MVM time     t_tile = dac_time + t_read + n_seq * adc_time,
                      n_seq  = min(cols, cols_per_adc)   (busiest ADC of the tile)
    tile MVM energy   e_tile = a * v_read^2 * t_read * g_sum       (cells, both halves)
                             + rows * dac_energy + cols * adc_energy
    layer pass        T_pass = max_tiles t_tile + ceil(log2 n_row_tiles) * digital_add_time
                      E_pass = sum_tiles e_tile + n_adds * digital_add_energy
    layer/inference   T_l = ceil(mvms / R) * T_pass,   E_l = mvms * E_pass
    network           T = sum_l T_l,                    E = sum_l E_l

A tile holds ``tile_rows x tile_cols`` differential pairs (two cells each), as
in :mod:`crossbar.tile`; each pair column is sensed differentially and needs
one ADC conversion.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from crossbar.cost._checks import finite, positive_int, profile_int, profile_number

CELLS_PER_PAIR = 2
"""Cells per stored weight: a differential pair (G+, G-)."""


# ---------------------------------------------------------------------------
# tile usage: what the cost model reads from a programmed tile


@dataclass(frozen=True)
class TileUsage:
    """The part of one programmed tile the cost model needs.

    ``rows`` x ``cols`` used differential pairs; ``g_sum`` (S) the sum of all
    programmed conductances of both halves; ``verify_iterations_total`` the
    write pulses spent programming it (None = unknown); ``cells`` the used
    cells (default 2 * rows * cols); ``row_offset``/``col_offset`` where the
    tile sits in the layer's weight matrix (None = 0): tiles sharing output
    columns are row tiles whose partial sums are added digitally.
    """

    rows: int
    cols: int
    g_sum: float
    verify_iterations_total: int | None = None
    cells: int | None = None
    row_offset: int | None = None
    col_offset: int | None = None

    def __post_init__(self) -> None:
        positive_int("TileUsage.rows", self.rows)
        positive_int("TileUsage.cols", self.cols)
        finite("TileUsage.g_sum", self.g_sum, minimum=0.0)
        if self.verify_iterations_total is not None:
            positive_int("TileUsage.verify_iterations_total", self.verify_iterations_total, 0)
        if self.cells is None:
            object.__setattr__(self, "cells", CELLS_PER_PAIR * self.rows * self.cols)
        positive_int("TileUsage.cells", self.cells, 0)
        for name in ("row_offset", "col_offset"):
            if getattr(self, name) is not None:
                positive_int(f"TileUsage.{name}", getattr(self, name), 0)


def _extent(tile, attr: str, slice_attr: str, axis: int, g: np.ndarray) -> int:
    value = getattr(tile, attr, None)
    if value is not None:
        return int(value)
    s = getattr(tile, slice_attr, None)
    if isinstance(s, slice) and s.stop is not None:
        return int(s.stop - (s.start or 0))
    return int(g.shape[axis])


def tile_usage(tile) -> TileUsage:
    """Read a :class:`TileUsage` off a programmed tile.

    Uses ``rows``/``cols`` (else ``row_slice``/``col_slice``, else the
    conductance shape), ``g_plus``, ``g_minus`` (S; only the used
    ``rows x cols`` corner is summed if the arrays are larger),
    ``verify_iterations`` (write counts per cell, both halves; None allowed)
    and the slice starts as offsets.
    """
    g_plus = np.asarray(tile.g_plus, dtype=np.float64)
    g_minus = np.asarray(tile.g_minus, dtype=np.float64)
    if g_plus.ndim != 2 or g_minus.ndim != 2:
        raise ValueError(f"tile conductances must be 2-D, got shapes {g_plus.shape} and {g_minus.shape}")
    rows = _extent(tile, "rows", "row_slice", 0, g_plus)
    cols = _extent(tile, "cols", "col_slice", 1, g_plus)
    used_plus = g_plus[:rows, :cols]
    used_minus = g_minus[:rows, :cols]
    if used_plus.shape != (rows, cols) or used_minus.shape != (rows, cols):
        raise ValueError(
            f"tile reports {rows} x {cols} used pairs but its conductances have shapes "
            f"{g_plus.shape} and {g_minus.shape}"
        )
    g_sum = float(used_plus.sum() + used_minus.sum())
    if not math.isfinite(g_sum):
        raise ValueError("tile conductances contain NaN or infinite values")
    iters = getattr(tile, "verify_iterations", None)
    total = None
    if iters is not None:
        arr = np.asarray(iters)
        if arr.size and (not np.all(np.isfinite(arr)) or arr.min() < 0):
            raise ValueError("tile verify_iterations must be finite and >= 0")
        total = int(arr.sum())
    row_slice = getattr(tile, "row_slice", None)
    col_slice = getattr(tile, "col_slice", None)
    return TileUsage(
        rows=rows,
        cols=cols,
        g_sum=g_sum,
        verify_iterations_total=total,
        cells=used_plus.size + used_minus.size,
        row_offset=row_slice.start if isinstance(row_slice, slice) else None,
        col_offset=col_slice.start if isinstance(col_slice, slice) else None,
    )


# ---------------------------------------------------------------------------
# input activity


def input_activity(x, full_scale: float | None = None) -> float:
    """Mean of (V_i / V_read)^2 over all inputs of ``x`` (batch x inputs, or one vector).

    With ``full_scale`` None each input vector is scaled by its own largest
    magnitude, as :func:`crossbar.kernels.dac` does; otherwise V_i / V_read =
    min(|x_i| / full_scale, 1) (the DAC clips). DAC rounding is ignored.
    Returns a value in [0, 1]; 1 is the worst case (every input at full scale).
    """
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().numpy()
    a = np.asarray(x, dtype=np.float64)
    if a.size == 0:
        raise ValueError("input_activity needs at least one input value")
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise ValueError(f"x must be 1-D or 2-D (batch x inputs), got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("x contains NaN or infinite values")
    mag = np.abs(a)
    if full_scale is None:
        peak = mag.max(axis=1, keepdims=True)
        u = np.divide(mag, peak, out=np.zeros_like(mag), where=peak > 0)
    else:
        fs = finite("full_scale", full_scale, minimum=0.0, strict=True)
        u = np.minimum(mag / fs, 1.0)
    return float(np.mean(u * u))


def _check_activity(activity) -> float:
    a = finite("activity", activity, minimum=0.0)
    if a > 1.0:
        raise ValueError(
            f"activity is the mean of (V_i/V_read)^2 and must lie in [0, 1], got {a}; "
            "raise v_read in the profile to model larger read voltages"
        )
    return a


# ---------------------------------------------------------------------------
# profile numbers


@dataclass(frozen=True)
class CircuitParameters:
    """The profile numbers the cost model uses (SI units), read once and checked."""

    v_read: float
    t_read: float
    dac_time: float
    dac_energy: float
    adc_time: float
    adc_energy: float
    cols_per_adc: int
    tile_rows: int
    tile_cols: int
    digital_add_time: float
    digital_add_energy: float
    cell_area: float
    adc_area: float | None = None
    pulse_time: float | None = None
    pulse_energy: float | None = None
    notes: tuple[str, ...] = ()

    @property
    def adcs_per_tile(self) -> int:
        """ADCs per tile: ceil(tile_cols / cols_per_adc)."""
        return -(-self.tile_cols // self.cols_per_adc)

    @classmethod
    def from_profile(cls, profile) -> CircuitParameters:
        """Extract and validate; missing optional numbers become 0 (or None) with a note."""
        if isinstance(profile, cls):
            return profile
        notes: list[str] = []
        num = {
            name: profile_number(profile, name, notes)
            for name in (
                "v_read",
                "t_read",
                "dac_time",
                "dac_energy",
                "adc_time",
                "adc_energy",
                "digital_add_time",
                "digital_add_energy",
                "cell_area",
            )
        }
        adc_area = getattr(profile, "adc_area", None)
        if adc_area is None:
            notes.append("profile has no adc_area: periphery (ADC) area not included")
        else:
            adc_area = finite("profile.adc_area", adc_area, minimum=0.0)
        verify = getattr(profile, "verify", None)
        pulse_time = pulse_energy = None
        if verify is None:
            notes.append("profile has no verify model: programming time/energy not modelled")
        else:
            pulse_time = finite("profile.verify.pulse_time", verify.pulse_time, minimum=0.0)
            pulse_energy = finite("profile.verify.pulse_energy", verify.pulse_energy, minimum=0.0)
        return cls(
            **num,
            cols_per_adc=profile_int(profile, "cols_per_adc"),
            tile_rows=profile_int(profile, "tile_rows"),
            tile_cols=profile_int(profile, "tile_cols"),
            adc_area=adc_area,
            pulse_time=pulse_time,
            pulse_energy=pulse_energy,
            notes=tuple(notes),
        )


# ---------------------------------------------------------------------------
# one tile, one MVM


@dataclass(frozen=True)
class TileCost:
    """Time (s) and energy (J) of one MVM on one tile, with their parts."""

    time: float
    time_dac: float
    time_read: float
    time_adc: float
    conversions_sequential: int
    conversions: int
    energy: float
    energy_cell: float
    energy_dac: float
    energy_adc: float


def sequential_conversions(cols: int, cols_per_adc: int) -> int:
    """Conversions the busiest ADC makes for ``cols`` used columns: min(cols, cols_per_adc).

    Columns are grouped contiguously (columns k*c .. k*c + c - 1 share ADC k,
    c = cols_per_adc) and the mapper fills a tile from column 0, so the first
    ADC converts min(cols, c) columns one after another while the others run
    in parallel.
    """
    positive_int("cols", cols)
    positive_int("cols_per_adc", cols_per_adc)
    return min(cols, cols_per_adc)


def tile_cost(profile, usage: TileUsage, activity: float = 1.0) -> TileCost:
    """Time and energy of one MVM (one input vector) on one tile."""
    p = CircuitParameters.from_profile(profile)
    a = _check_activity(activity)
    _check_fits(p, usage)
    n_seq = sequential_conversions(usage.cols, p.cols_per_adc)
    time_adc = n_seq * p.adc_time
    e_cell = a * p.v_read**2 * p.t_read * usage.g_sum
    e_dac = usage.rows * p.dac_energy
    e_adc = usage.cols * p.adc_energy
    return TileCost(
        time=p.dac_time + p.t_read + time_adc,
        time_dac=p.dac_time,
        time_read=p.t_read,
        time_adc=time_adc,
        conversions_sequential=n_seq,
        conversions=usage.cols,
        energy=e_cell + e_dac + e_adc,
        energy_cell=e_cell,
        energy_dac=e_dac,
        energy_adc=e_adc,
    )


def _check_fits(p: CircuitParameters, usage: TileUsage) -> None:
    if usage.rows > p.tile_rows or usage.cols > p.tile_cols:
        raise ValueError(
            f"tile uses {usage.rows} x {usage.cols} pairs but the profile's tiles are "
            f"{p.tile_rows} x {p.tile_cols}"
        )


# ---------------------------------------------------------------------------
# layer


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

    ``mvms`` MVMs per inference (a conv layer: one per output position) run
    as ``passes = ceil(mvms / replication)`` sequential passes of ``pass_time``.
    ``tiles``, ``cells`` and areas include the replicas. Programming cost is
    one-off and kept apart from the per-inference numbers (None = not modelled).
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
    energy_adc: float
    energy_digital: float
    digital_adds: int
    cells: int
    area: float
    area_array: float
    area_adc: float | None
    activity: float
    program_time: float | None = None
    program_energy: float | None = None
    tile_costs: tuple[TileCost, ...] = field(default=(), repr=False)
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """Plain-data form (JSON-serialisable); per-tile costs left out."""
        d = asdict(self)
        d.pop("tile_costs")
        d["notes"] = list(self.notes)
        return d

    def to_markdown(self) -> str:
        """A one-layer Markdown table."""
        return _markdown([self], total=None)


def layer_cost(
    profile,
    tiles: Iterable[TileUsage],
    passes: int = 1,
    replication: int = 1,
    activity: float = 1.0,
    name: str = "",
) -> LayerCost:
    """Latency, energy and area of one layer per inference.

    ``tiles``: the layer's :class:`TileUsage` (one copy; tile objects are
    converted with :func:`tile_usage`). ``passes``: MVMs per inference on one
    copy (1 for a dense layer, the number of output positions for a conv
    layer). ``replication`` R copies work on different positions in parallel:
    sequential passes = ceil(passes / R), tiles and area x R, energy unchanged.
    ``activity``: mean (V_i/V_read)^2 of the inputs (1 = worst case).
    """
    p = CircuitParameters.from_profile(profile)
    usages = [t if isinstance(t, TileUsage) else tile_usage(t) for t in tiles]
    if not usages:
        raise ValueError("layer_cost needs at least one tile")
    mvms = positive_int("passes", passes)
    r = positive_int("replication", replication)
    a = _check_activity(activity)
    costs = tuple(tile_cost(p, u, a) for u in usages)
    adds, depth = _reduction(usages)
    pass_time = max(c.time for c in costs) + depth * p.digital_add_time
    seq = -(-mvms // r)
    e_cell = mvms * sum(c.energy_cell for c in costs)
    e_dac = mvms * sum(c.energy_dac for c in costs)
    e_adc = mvms * sum(c.energy_adc for c in costs)
    e_dig = mvms * adds * p.digital_add_energy
    n_tiles = r * len(usages)
    area_array = n_tiles * CELLS_PER_PAIR * p.tile_rows * p.tile_cols * p.cell_area
    area_adc = None if p.adc_area is None else n_tiles * p.adcs_per_tile * p.adc_area
    notes = list(p.notes)
    program_time = program_energy = None
    iters = [u.verify_iterations_total for u in usages]
    if p.pulse_time is not None and all(i is not None for i in iters):
        # cells of a tile written one after another, tiles (and replicas) in parallel
        program_time = max(iters) * p.pulse_time
        program_energy = r * sum(iters) * p.pulse_energy
        if r > 1:
            notes.append("replicas assumed to need the same write pulses as the mapped copy")
    elif p.pulse_time is not None:
        notes.append("tiles without verify_iterations: programming cost not modelled")
    return LayerCost(
        name=str(name),
        tiles=n_tiles,
        replication=r,
        mvms=mvms,
        passes=seq,
        pass_time=pass_time,
        time=seq * pass_time,
        energy=e_cell + e_dac + e_adc + e_dig,
        energy_cell=e_cell,
        energy_dac=e_dac,
        energy_adc=e_adc,
        energy_digital=e_dig,
        digital_adds=mvms * adds,
        cells=r * sum(u.cells for u in usages),
        area=area_array + (area_adc or 0.0),
        area_array=area_array,
        area_adc=area_adc,
        activity=a,
        program_time=program_time,
        program_energy=program_energy,
        tile_costs=costs,
        notes=tuple(dict.fromkeys(notes)),
    )


# ---------------------------------------------------------------------------
# network


@dataclass(frozen=True)
class NetworkCost:
    """Cost of one inference through L layers executed one after another."""

    layers: tuple[LayerCost, ...]

    def __post_init__(self) -> None:
        if not self.layers:
            raise ValueError("a network needs at least one layer")

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
        """One inference: sum_l E_l (J)."""
        return float(sum(layer.energy for layer in self.layers))

    @property
    def energy_cell(self) -> float:
        """Cell read energy of one inference (J): the part that scales with V^2."""
        return float(sum(layer.energy_cell for layer in self.layers))

    @property
    def area(self) -> float:
        """Array (+ ADC where known) area of all layers (m^2)."""
        return float(sum(layer.area for layer in self.layers))

    @property
    def tiles(self) -> int:
        """Physical tiles of all layers, replicas included."""
        return sum(layer.tiles for layer in self.layers)

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
            "max_stage_time": self.max_stage_time,
            "program_time": self.program_time,
            "program_energy": self.program_energy,
            "notes": list(self.notes),
            "layers": [layer.to_dict() for layer in self.layers],
        }

    def to_markdown(self) -> str:
        """Markdown table, one row per layer and a total row."""
        return _markdown(self.layers, total=self)


def network_cost(layers: Iterable[LayerCost]) -> NetworkCost:
    """Combine per-layer costs into a network (layers run one after another)."""
    layers = tuple(layers)
    for layer in layers:
        if not isinstance(layer, LayerCost):
            raise ValueError(f"network_cost takes LayerCost objects, got {type(layer).__name__}")
    return NetworkCost(layers)


# ---------------------------------------------------------------------------
# formatting

_PREFIXES = ((1e-15, "f"), (1e-12, "p"), (1e-9, "n"), (1e-6, "µ"), (1e-3, "m"), (1.0, ""))


def format_si(value: float | None, unit: str) -> str:
    """``value`` with an SI prefix, e.g. 1.067e-7 s -> '106.7 ns'; None -> 'n/a'."""
    if value is None:
        return "n/a"
    if value == 0:
        return f"0 {unit}"
    scale, prefix = _PREFIXES[0]
    for s, p in _PREFIXES:
        if abs(value) >= s:
            scale, prefix = s, p
    return f"{value / scale:.4g} {prefix}{unit}"


def _area(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1e6:.4g} mm²"


def _markdown(layers: Sequence[LayerCost], total: NetworkCost | None) -> str:
    head = (
        "| layer | tiles | R | MVMs | passes | T_l | E_l | E_cell | E_DAC | E_ADC | E_digital "
        "| area | program time | program energy |"
    )
    lines = [head, "|" + " --- |" * 14]
    for i, c in enumerate(layers):
        lines.append(
            f"| {c.name or i} | {c.tiles} | {c.replication} | {c.mvms} | {c.passes} "
            f"| {format_si(c.time, 's')} | {format_si(c.energy, 'J')} "
            f"| {format_si(c.energy_cell, 'J')} | {format_si(c.energy_dac, 'J')} "
            f"| {format_si(c.energy_adc, 'J')} | {format_si(c.energy_digital, 'J')} "
            f"| {_area(c.area)} | {format_si(c.program_time, 's')} "
            f"| {format_si(c.program_energy, 'J')} |"
        )
    if total is not None:
        lines.append(
            f"| **total** | {total.tiles} | | | | {format_si(total.latency, 's')} "
            f"| {format_si(total.energy, 'J')} | {format_si(total.energy_cell, 'J')} "
            f"| {format_si(sum(c.energy_dac for c in layers), 'J')} "
            f"| {format_si(sum(c.energy_adc for c in layers), 'J')} "
            f"| {format_si(sum(c.energy_digital for c in layers), 'J')} "
            f"| {_area(total.area)} | {format_si(total.program_time, 's')} "
            f"| {format_si(total.program_energy, 'J')} |"
        )
    notes = total.notes if total is not None else (layers[0].notes if layers else ())
    lines += [f"\n- {n}" if k == 0 else f"- {n}" for k, n in enumerate(notes)]
    return "\n".join(lines) + "\n"
