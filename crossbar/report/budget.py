"""The report of one noise budget: report.md (tables, optimum, figures) and report.json."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from crossbar.atomic import atomic_write_json, atomic_write_text
from crossbar.cost import format_si

from .figures import budget_figures
from .text import drop_text, mm2, pct, scale_text

__all__ = ["budget_markdown", "budget_table", "optimum_lines", "write_budget_report"]


def budget_table(r) -> str:
    """Per K: tolerable noise, voltage, energy, latency of the three schedules, parallel area."""
    lines = [
        "| K | tolerable noise scale s | accuracy at s = 1 | read voltage V | energy / inference at V "
        "| same if P ∝ V² | latency sequential | latency pipelined | latency parallel | area parallel |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    points = {p.k: p for p in r.points}
    for k, th in sorted(r.thresholds.items()):
        p = points.get(k)
        acc1 = pct(r.nominal_accuracy.get(k))
        if p is None:
            lines.append(f"| {k} | none in range | {acc1} | – | – | – | – | – | – | – |")
            continue
        v = p.voting
        le = "≤ " if p.bound else ""
        lines.append(
            f"| {k} | {scale_text(th)} | {acc1} | {'≤ ' if p.bound else ''}{p.voltage:.3g} V "
            f"| {le}{format_si(p.energy, 'J')} | {le}{format_si(p.energy_paper, 'J')} "
            f"| {format_si(v['sequential']['latency'], 's')} | {format_si(v['pipelined']['latency'], 's')} "
            f"| {format_si(v['parallel']['latency'], 's')} | {mm2(v['parallel']['area'])} |"
        )
    return "\n".join(lines) + "\n"


def optimum_lines(r) -> list[str]:
    """Bullet lines naming the energy-optimal (V, K) under both energy models."""
    out = []
    best = r.optimum.get("fixed_periphery")
    paper = r.optimum.get("paper")
    if best is None:
        out.append("- No K in the range meets the target: no operating point.")
        return out
    out.append(
        f"- **Energy-optimal (V, K)** (cell read energy ∝ V², DAC/ADC/digital fixed): **K = {best.k} at "
        f"V = {best.voltage:.3g} V** (s = {best.scale:.3g}), {format_si(best.energy, 'J')} per inference."
    )
    if paper is not None:
        out.append(
            f"- If the whole inference energy scaled as V² (the paper's P ∝ V²): K = {paper.k} at "
            f"V = {paper.voltage:.3g} V, {format_si(paper.energy_paper, 'J')} per inference."
        )
    return out


def budget_markdown(r, title: str | None = None, figures: Sequence[str] = ()) -> str:
    """report.md of one budget: accuracies, target, optimum, table per K, cost of one inference."""
    c = r.config
    net = r.network
    title = title or f"Noise budget: {r.profile}"
    what = ("read noise only (the part that depends on the read voltage)" if c.scale == "read"
            else "programming and read noise together (the profile's noise_scale)")
    lines = [
        f"# {title}",
        "",
        f"Model `{r.model.get('name')}` ({r.model.get('checkpoint')}), test subset: first "
        f"{r.data['n_test']} images of {r.data['name']} ({r.data['source']}).",
        f"Noise scale s multiplies the {what}; s = 1 is the profile as published. "
        f"Accuracies are the mean over {c.repeats} programmed chip(s); K votes are K re-reads of one "
        f"chip, decided by the most frequent class (ties: larger summed softmax).",
        "",
        f"- digital (float) network: {pct(r.digital_accuracy)}",
        f"- mapped onto {r.profile} with no {'read' if c.scale == 'read' else 'device'} noise: "
        f"{pct(r.noiseless_accuracy)}",
        f"- target: **{pct(r.target)}**"
        + (" (absolute)" if c.target_accuracy is not None else
           f" ({'the mapped' if c.reference == 'mapped' else 'the digital'} accuracy − "
           f"{drop_text(c.max_drop)})"),
        "- at the profile's nominal noise (s = 1): "
        + ", ".join(f"K = {k}: {pct(a)}" for k, a in r.nominal_accuracy.items()),
        *optimum_lines(r),
        "",
        "## Tolerable noise and cost per K",
        "",
        f"Energy per inference counts all K votes; V = V0 / s^(1/α) with V0 = {r.v0:g} V, α = {c.alpha:g}. "
        "Latency does not depend on V in this model. \"≥ s\": even the top of the searched range "
        f"({c.noise_range[0]:g}–{c.noise_range[1]:g}) meets the target, so V and the energy are bounds.",
        "",
        budget_table(r),
        "## One inference at the nominal voltage",
        "",
        f"Latency {format_si(net.latency, 's')} (slowest stage {format_si(net.max_stage_time, 's')}), "
        f"energy {format_si(net.energy, 'J')} of which cell read energy "
        f"{format_si(net.energy_cell, 'J')} ({100 * net.energy_cell / net.energy:.1f} %), "
        f"{net.tiles} tiles, {mm2(net.area)}.",
        "",
        net.to_markdown(),
    ]
    if figures:
        lines += ["## Figures", ""] + [f"![{Path(f).stem}]({Path(f).name})" for f in figures] + [""]
    return "\n".join(lines)


def write_budget_report(result, out: str | os.PathLike | None = None) -> list[Path]:
    """Write report.md, report.json and (if ``config.plots``) the three PNGs of a budget.

    ``result``: a ``crossbar.experiments.BudgetResult``; ``out``: the folder
    (default: the run's ``config.out``). Returns the files written.
    """
    out = Path(result.config.out if out is None else out)
    figs = budget_figures({result.profile: result}, out, max(20, max(result.config.votes))) \
        if result.config.plots else []
    files = [atomic_write_json(out / "report.json", result.to_dict())]
    text = budget_markdown(result, figures=[str(f) for f in figs])
    files.append(atomic_write_text(out / "report.md", text))
    return files + figs

