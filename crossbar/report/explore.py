"""The report of a design-space exploration: report.md (the front and every point), report.json,
front.png.

Everything is read from ``ExploreResult.to_dict()`` (the report.json form), so a report can be
made again from report.json alone; nothing here imports the experiments.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from crossbar.atomic import atomic_write_json, atomic_write_text
from crossbar.cost import format_si

from .figures import _panels, _save
from .text import iv_text, mm2, pct

__all__ = ["explore_markdown", "explore_table", "plot_front", "write_explore_report"]

_RELATION = {"meets": "meets", "straddles": "undecided", "misses": "misses"}


def _value(v: Any) -> str:
    return json.dumps(v) if isinstance(v, (dict, list)) else str(v)


def explore_table(d: dict, rows: list[dict]) -> str:
    """A Markdown table of ``rows`` (of ``d["rows"]``): settings, device, K, accuracy, costs."""
    names = [n for n in d["settings"] if n != "profile"]
    head = ["#", *names, "device", "K", "accuracy (interval)", "vs target", "energy / inference",
            "latency", "area", "TOPS/W", "front"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    index = {id(r): i for i, r in enumerate(d["rows"])}
    for r in rows:
        cells = [str(index[id(r)]), *(_value(r["settings"].get(n, "")) for n in names), r["profile"],
                 str(r["k"]), iv_text(r["accuracy"]), _RELATION[r["relation"]],
                 format_si(r["energy"], "J"), format_si(r["latency"], "s"), mm2(r["area"]),
                 f"{r['tops_per_watt']:.3g}", "**yes**" if r["front"] else ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def explore_markdown(d: dict, figures: tuple[str, ...] = ()) -> str:
    """report.md of an exploration (``d``: its report.json content)."""
    rows, front = d["rows"], [d["rows"][i] for i in d["front"]]
    conf = rows[0]["accuracy"]["confidence"] if rows else 0.95
    n = rows[0]["accuracy"]["n"] if rows else 0
    chips = rows[0]["accuracy"]["chips"] if rows else 0
    rule = ("its whole interval lies at or above the target" if d["admit"] == "interval"
            else "its estimate lies at or above the target")
    out = [
        "# Design-space exploration", "",
        f"Network {d['model'].get('name')} (weights {d['model'].get('digest')}) on {d['data']['spec']}: "
        f"{len(d['points'])} design point(s) x K in {', '.join(map(str, d['votes']))} "
        f"({d['evaluated']} computed by the last run, the others read back). Every accuracy is measured "
        f"on {n:,} test inputs with {chips} programmed chip(s), with its {100 * conf:g} % interval "
        "(Wilson over the inputs, Student t over the chips, added in quadrature). "
        f"Target: {pct(d['target'], 2)}; a point meets it when {rule}. Costs: one inference "
        f"(energy and TOPS/W per K-vote inference, latency of the {d['vote_schedule']} schedule) from "
        "the cost model (docs/cost.md), whose predictions of measured chips are within about ±15 %: "
        "front points closer than that are ties.", "",
    ]
    if d["errors"]:
        out += ["Failed points: " + "; ".join(f"#{i}: {e}" for i, e in d["errors"].items()), ""]
    out += ["## Pareto front", "",
            "The points that meet the target and that no other such point beats on both energy and "
            "area, in order of energy.", ""]
    out += [explore_table(d, front) if front else "No point meets the target.\n", ""]
    out += [f"![front]({f})" for f in figures] + ([""] if figures else [])
    out += ["## Every design point", "", explore_table(d, rows)]
    return "\n".join(out)


def plot_front(d: dict, path: str | os.PathLike) -> Path:
    """Energy against area (the front joined) and accuracy against energy (with intervals)."""
    from matplotlib.ticker import NullFormatter

    fig, (ax, bx) = _panels(2)
    rows, front = d["rows"], d["front"]
    for r in rows:
        style = dict(color="#1f77b4") if r["admitted"] else dict(color="#999999", mfc="none")
        ax.plot(r["energy"], r["area"] * 1e6, "o", ms=5, **style)
        a = r["accuracy"]
        bx.errorbar(r["energy"], 100 * a["mean"], fmt="o", ms=4, capsize=2, **style,
                    yerr=[[100 * (a["mean"] - a["lo"])], [100 * (a["hi"] - a["mean"])]])
    if front:
        fx = [rows[i]["energy"] for i in front]
        ax.plot(fx, [rows[i]["area"] * 1e6 for i in front], "-", color="#d62728", label="Pareto front")
        for i in front:
            ax.annotate(f"#{i}", (rows[i]["energy"], rows[i]["area"] * 1e6), fontsize=7,
                        xytext=(3, 3), textcoords="offset points", color="#d62728")
            bx.plot(rows[i]["energy"], 100 * rows[i]["accuracy"]["mean"], "o", ms=7, mfc="none",
                    color="#d62728")
    if d["target"] is not None:
        bx.axhline(100 * d["target"], ls="--", color="#555555", lw=1, label="target")
    ax.plot([], [], "o", color="#1f77b4", label="meets the target")
    ax.plot([], [], "o", color="#999999", mfc="none", label="does not (or undecided)")
    ax.set(xscale="log", yscale="log", xlabel="energy per inference (J)", ylabel="area (mm²)",
           title="energy and area")
    bx.set(xscale="log", xlabel="energy per inference (J)", ylabel="accuracy (%)",
           title="accuracy (interval) and energy")
    for axis in (ax.xaxis, bx.xaxis, ax.yaxis):  # decades only: minor labels overlap on a log axis
        axis.set_minor_formatter(NullFormatter())
    ax.legend(fontsize=7, loc="lower left")
    bx.legend(fontsize=7, loc="lower right")
    return _save(fig, Path(path))


def write_explore_report(result: Any, out: str | os.PathLike | None = None,
                         plots: bool | None = None) -> list[Path]:
    """Write report.md, report.json and (with ``plots``; default the config's) front.png into
    ``out`` (default the config's) from an ``ExploreResult`` or its report.json dict."""
    d = result if isinstance(result, dict) else result.to_dict()
    folder = Path(out if out is not None else d["config"]["out"])
    plots = d["config"]["plots"] if plots is None else plots
    files = [atomic_write_json(folder / "report.json", d)]
    figures = ()
    if plots and d["rows"]:
        files.append(plot_front(d, folder / "front.png"))
        figures = ("front.png",)
    files.insert(0, atomic_write_text(folder / "report.md", explore_markdown(d, figures)))
    return files
