"""The report of one noise budget: report.md (tables, intervals, optimum, figures) and report.json."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

from crossbar.atomic import atomic_write_json, atomic_write_text
from crossbar.cost import format_si

from .figures import budget_figures
from .text import drop_text, field, iv_text, mm2, pct, range_text, scale_text, verdict_text

__all__ = ["budget_markdown", "budget_table", "optimum_lines", "resolution_text", "write_budget_report"]


def resolution_text(res) -> str:
    """What the budget can tell apart at its target, and what it would need (one paragraph)."""
    conf = f"{100 * field(res, 'confidence'):g} %"
    n, avail, chips = field(res, "n"), field(res, "n_available"), field(res, "chips")
    h_in, wanted, band = field(res, "input_half"), field(res, "wanted"), field(res, "band")
    text = (f"Every accuracy is measured on {n:,} test inputs (of {avail:,} available) with {chips} "
            f"programmed chip(s) and given with its {conf} interval: Wilson over the inputs, Student t "
            "over the chips (not measured with one chip), added in quadrature. ")
    need_n = field(res, "inputs_needed")
    if field(res, "inputs_resolve"):
        text += (f"At the target the inputs give ±{100 * h_in:.2g} points, within half the "
                 f"{drop_text(band)} band (±{100 * wanted:.2g}). ")
    else:
        more = f"about {need_n:,}" if need_n is not None else "more than 10^9"
        text += (f"At the target the inputs alone give ±{100 * h_in:.2g} points, more than half the "
                 f"{drop_text(band)} band (±{100 * wanted:.2g}): **the test set cannot resolve the band**; "
                 f"it would take {more} test inputs"
                 + (f" (the test set holds {avail:,})" if need_n is None or need_n > avail else "") + ". ")
    left = field(res, "undecided") or []
    if not left:
        return text + ("The search left no grid point undecided: the tolerable noise of every K is pinned "
                       "between neighbouring grid points (or an end of the range).")
    parts = []
    for u in left:
        need = u["chips_needed"]
        parts.append(f"K = {u['k']} at s = {u['s']:.3g} ({iv_text(u)})"
                     + (f": {need} chips would decide it" if need is not None else
                        ": its mean is within the inputs' interval of the target, no number of chips "
                        "decides it"))
    return text + ("Grid points left undecided (their interval straddles the target): " + "; ".join(parts)
                   + ".")


def _v_status(p) -> str:
    if p.status == "all":
        return "the lowest allowed voltage"
    return f"bracketed in ({p.excluded:.3g}, {p.voltage:.3g}] V"


def budget_table(r) -> str:
    """Per K: accuracy at s = 1, tolerable noise with its interval, then the lowest read voltage
    meeting the target (physical voltage law) with its energy, latency and area."""
    from crossbar.cost import voting_cost

    c = r.config
    lo_s, hi_s = c.noise_range
    lines = [
        "| K | accuracy at s = 1 | tolerable s | its interval | more than 1 read? | lowest read voltage "
        "meeting the target | energy / inference there | latency sequential | latency pipelined "
        "| latency parallel | area parallel |",
        "| ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    points = {p.k: p for p in r.points}
    vot = r.voting()
    for k, th in sorted(r.thresholds.items()):
        acc1 = iv_text(r.nominal.get(k))
        more = "–" if k == 1 else verdict_text(vot[k]["noise"], "yes", "fewer", "tie")
        tol_s = "none in range" if th.status == "none" else scale_text(th)
        p = points.get(k)
        if p is None or p.status == "none":
            volt = energy = "none up to the nominal voltage"
        elif p.status == "dominated":
            volt = "not searched: dearer than a smaller K at any voltage"
            energy = f"> {format_si(p.energy_low, 'J')}"
        else:
            volt = f"{p.voltage:.3g} V ({_v_status(p)})"
            energy = (format_si(p.energy, "J") if p.energy_low == p.energy else
                      f"{format_si(p.energy_low, 'J')}–{format_si(p.energy, 'J')}")
        v = voting_cost(r.network, k)
        lines.append(
            f"| {k} | {acc1} | {tol_s} | {range_text(th, lo_s, hi_s)} | {more} | {volt} | {energy} "
            f"| {format_si(v['sequential']['latency'], 's')} | {format_si(v['pipelined']['latency'], 's')} "
            f"| {format_si(v['parallel']['latency'], 's')} | {mm2(v['parallel']['area'])} |"
        )
    return "\n".join(lines) + "\n"


def optimum_lines(r) -> list[str]:
    """A bullet naming the energy-optimal (V, K) under the physical voltage law, and whether it
    is cheaper than the other K (their energy ranges over the voltage brackets separate) or a tie."""
    best = r.optimum
    if best is None:
        return [f"- No K meets the target at any read voltage up to the nominal {r.v0:g} V: no "
                "operating point."]
    ties = r.ties()
    verdict = ("cheaper than every other K: their energy ranges do not overlap" if not ties else
               "a tie with K = " + ", ".join(str(k) for k in ties) + " (the energy ranges overlap)")
    energy = (format_si(best.energy, "J") if best.energy_low == best.energy else
              f"{format_si(best.energy_low, 'J')}–{format_si(best.energy, 'J')}")
    return [f"- **Energy-optimal (V, K)** under the physical voltage law (cell read energy ∝ V², "
            f"DAC/ADC/digital fixed; the network evaluated at each voltage): **K = {best.k} at "
            f"V = {best.voltage:.3g} V** ({_v_status(best)}), {energy} per inference; {verdict}."]


def _age_text(c) -> str:
    t = c.age.t
    own = " (the profile's own time)" if c.time_since_programming is None else ""
    return (f"Reads {t:g} s after programming{own}: conductances drifted to that time "
            f"({'with' if c.drift_compensation else 'without'} global drift compensation), the "
            "1/f read noise at that time, and the K re-reads of one inference "
            f"{c.vote_schedule} (they share the read noise slower than their spacing); ADC ranges "
            "calibrated on training inputs.")


def budget_markdown(r, title: str | None = None, figures: Sequence[str] = ()) -> str:
    """report.md of one budget: accuracies with intervals, target, resolution, table per K, cost."""
    c = r.config
    net = r.network
    title = title or f"Noise budget: {r.profile}"
    what = ("read noise only (the part that depends on the read voltage)" if c.scale == "read"
            else "programming and read noise together (the profile's noise_scale)")
    ref = ("absolute" if c.target_accuracy is not None else
           f"{'the mapped' if c.reference == 'mapped' else 'the digital'} accuracy − {drop_text(c.max_drop)}")
    g = r.thresholds[1].step if r.thresholds else math.nan
    lines = [
        f"# {title}",
        "",
        f"Model `{r.model.get('name')}` ({r.model.get('checkpoint')}), test subset: first "
        f"{r.data['n_test']} images of {r.data['name']} ({r.data['source']}).",
        f"Noise scale s multiplies the {what}; s = 1 is the profile as published. {_age_text(c)} "
        "K votes are K re-reads of one chip, decided by the most frequent class (ties: larger summed "
        "softmax).",
        "",
        resolution_text(r.resolution),
        "",
        f"- digital (float) network: {iv_text(r.digital)}",
        f"- mapped onto {r.profile} with no {'read' if c.scale == 'read' else 'device'} noise: "
        f"{iv_text(r.noiseless)}",
        f"- target: **{pct(r.target)}** ({ref})",
        "- at the profile's nominal noise (s = 1): "
        + ", ".join(f"K = {k}: {iv_text(a)}" for k, a in r.nominal.items()),
        *optimum_lines(r),
        "",
        "## Tolerable noise and cost per K",
        "",
        f"The noise scales searched lie on the grid s = {g:g}^j within {c.noise_range[0]:g}–"
        f"{c.noise_range[1]:g}. *Tolerable s*: the largest grid scale whose mean accuracy meets the "
        "target; *its interval*: from the largest scale whose whole interval lies at or above the "
        "target to the smallest whose whole interval lies below it (\"< lo\" / \"> hi\": none in the "
        "range). K votes tolerate *more* than one read only when the two intervals do not overlap. "
        "The lowest read voltage is searched from the profile's v_read_min up to its nominal "
        f"{r.v0:g} V with the network evaluated at each voltage tried (its conductance noise "
        "unchanged, the circuit noise floor larger relative to the signal; docs/budget.md, "
        f"\"Read voltage\") to {c.voltage_tol:g} V; energy per inference counts all K votes.",
        "",
        budget_table(r),
        "## One inference at the nominal voltage",
        "",
        f"Latency {format_si(net.latency, 's')} (slowest stage {format_si(net.max_stage_time, 's')}), "
        f"energy {format_si(net.energy, 'J')} of which cell read energy "
        f"{format_si(net.energy_cell, 'J')} ({100 * net.energy_cell / net.energy:.1f} %), "
        f"{net.tops_per_watt:.3g} TOPS/W, {net.throughput / 1e12:.3g} TOPS for one inference at a time, "
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
