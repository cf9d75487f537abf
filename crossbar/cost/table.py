"""Markdown tables and SI formatting for cost results (layers and networks alike).

Works on any object with the attributes of :class:`~crossbar.cost.layer.LayerCost` and
:class:`~crossbar.cost.network.NetworkCost`, so that neither module imports the other's
formatting.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

_PREFIXES = ((1e-15, "f"), (1e-12, "p"), (1e-9, "n"), (1e-6, "µ"), (1e-3, "m"), (1.0, ""),
             (1e3, "k"), (1e6, "M"), (1e9, "G"), (1e12, "T"))


def format_si(value: float | None, unit: str) -> str:
    """``value`` with an SI prefix, e.g. 1.067e-7 s -> '106.7 ns'; None -> 'n/a'."""
    if value is None:
        return "n/a"
    if value == 0:
        return f"0 {unit}"
    if not math.isfinite(value):
        return f"{value} {unit}"
    scale, prefix = _PREFIXES[0]
    for s, p in _PREFIXES:
        if abs(value) >= s:
            scale, prefix = s, p
    return f"{value / scale:.4g} {prefix}{unit}"


def _area(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1e6:.4g} mm²"


def _clipped(c) -> str:
    rate = getattr(c, "clipping_rate", math.nan)
    return "" if rate is None or math.isnan(rate) else f"{100 * rate:.2g} %"


def _row(label: str, c, tiles, mvms: str, passes: str, sums: dict) -> str:
    return (f"| {label} | {tiles} | {mvms} | {passes} | {_clipped(c)} | {format_si(sums['time'], 's')} "
            f"| {format_si(sums['energy'], 'J')} | {format_si(sums['energy_cell'], 'J')} "
            f"| {format_si(sums['energy_dac'], 'J')} | {format_si(sums['energy_adc'], 'J')} "
            f"| {format_si(sums['rest'], 'J')} | {c.tops_per_watt:.3g} "
            f"| {format_si(c.throughput, 'OP/s')} | {_area(c.area)} "
            f"| {format_si(c.program_time, 's')} | {format_si(c.program_energy, 'J')} |")


def markdown_table(layers: Sequence, total=None) -> str:
    """Per-layer rows (and a total): time, energy split, TOPS/W, throughput, area."""
    head = ("| layer | tiles | MVMs | passes | ADC outputs clipped | T_l | E_l | E_cell | E_DAC "
            "| E_ADC | E_sense+digital+buffer | TOPS/W | throughput | area | program time "
            "| program energy |")
    lines = [head, "|" + " --- |" * 16]

    digital = getattr(total, "digital", None)

    def sums(items: Sequence) -> dict:
        out = {k: sum(getattr(c, k) for c in items)
               for k in ("time", "energy", "energy_cell", "energy_dac", "energy_adc")}
        out["rest"] = sum(c.energy_sense + c.energy_digital + c.energy_buffer for c in items)
        if items is layers and digital is not None:  # the total includes the digital work
            out["energy"] += digital.energy
            out["rest"] += digital.energy
        return out

    for i, c in enumerate(layers):
        lines.append(_row(c.name or str(i), c, f"{c.tiles} (R={c.replication})", str(c.mvms),
                          str(c.passes), sums([c])))
    if digital is not None and digital.energy > 0:
        lines.append(f"| digital work off the arrays | | | | | | {format_si(digital.energy, 'J')} | | | "
                     f"| {format_si(digital.energy, 'J')} | | | | | |")
    if total is not None:
        lines.append(_row("**total**", total, total.tiles, "", "", sums(layers)))
    notes = total.notes if total is not None else (layers[0].notes if layers else ())
    lines += [f"\n- {n}" if k == 0 else f"- {n}" for k, n in enumerate(notes)]
    lines.append("\n- one MAC = 2 operations (OP); throughput of one inference at a time")
    return "\n".join(lines) + "\n"
