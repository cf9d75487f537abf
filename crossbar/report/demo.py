"""The demo's report: one model on several devices, compared (report.md, report.json, figures)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

from crossbar.atomic import atomic_write_json, atomic_write_text
from crossbar.cost import format_si, voting_cost

from .budget import budget_table, optimum_lines
from .figures import budget_figures
from .text import drop_text, mm2, pct, scale_text, share_text

__all__ = ["demo_markdown", "write_demo_report"]


def _meaning(demo) -> list[str]:
    """The "what this means" paragraphs, generated from the numbers."""
    res = demo.results
    if not res:
        return ["No device finished; see the errors above."]
    ks = demo.config.votes
    kv = max(ks)
    paras = []
    for name, r in res.items():
        t1, tv = r.thresholds.get(1), r.thresholds.get(kv)
        net = r.network
        cell = net.energy_cell / net.energy
        best, paper = r.optimum.get("fixed_periphery"), r.optimum.get("paper")
        s = [f"**{name}.** Mapped at its published noise the network scores "
             f"{pct(r.nominal_accuracy.get(1))} with one read "
             f"({pct(r.nominal_accuracy.get(kv))} with {kv} votes; without read noise "
             f"{pct(r.noiseless_accuracy)}, digital {pct(r.digital_accuracy)})."]
        if r.noiseless_accuracy < r.target:
            s.append(f"Even without read noise it reaches only {pct(r.noiseless_accuracy)}, below the "
                     "target: the mapping itself (converters, conductance levels, programming noise) costs "
                     "more than the allowed drop, and no read voltage or number of votes can recover it.")
        one = r.nominal_accuracy.get(1)
        if one is not None and abs(one - r.noiseless_accuracy) < 0.5 / r.data["n_test"]:
            s.append("Its published read noise costs no measurable accuracy.")
        c = r.config
        if t1 is not None and tv is not None and t1.feasible:
            gain = (tv.scale / t1.scale) if tv.feasible and t1.scale > 0 else float("nan")
            text = (f"One read tolerates {scale_text(t1)} the published read noise, "
                    f"{kv} votes {scale_text(tv)}")
            if math.isfinite(gain) and gain >= 1.0 + c.rel_tol:
                text += f": voting buys {gain:.2g}× more read noise."
            elif math.isfinite(gain):
                text += (f": no gain measurable at this resolution ({r.data['n_test']} test digits, "
                         f"bisection to a factor {1 + c.rel_tol:g}); re-reads average read noise, "
                         "not the programming noise fixed in the chip.")
            else:
                text += "."
            s.append(text)
        conv = sum(layer.energy_dac + layer.energy_adc for layer in net.layers)
        fixed = 1.0 - cell
        text = (f"An inference costs {format_si(net.energy, 'J')} at {r.v0:g} V; only "
                f"{100 * cell:.0f} % of it is cell read energy, the part a lower read voltage saves, "
                f"while DAC and ADC conversions ({share_text(conv, net.energy)}) are paid again by "
                "every vote.")
        if t1 is not None and t1.feasible and t1.scale >= 1.0:  # one read at V <= V0 meets the target
            text += (f" K votes can only save energy when that fixed part is below 1/K of an inference; "
                     f"here it is {100 * fixed:.0f} %, so "
                     + ("even K = 2 costs more than one read at any voltage." if fixed > 0.5
                        else f"at most K = {max(1, math.floor(1 / fixed))} could pay off."))
        s.append(text)
        if best is not None:
            if best.k == 1:
                s.append(f"The cheapest way to meet the target is a single read at V = {best.voltage:.3g} V "
                         f"({format_si(best.energy, 'J')}, "
                         f"{share_text(net.energy - best.energy, net.energy)} below the nominal {r.v0:g} V).")
            else:
                s.append(f"The cheapest way to meet the target is K = {best.k} votes at V = "
                         f"{best.voltage:.3g} V ({format_si(best.energy, 'J')} per inference).")
        need = kv ** (c.alpha / 2)
        if t1 is not None and t1.feasible:
            measured = (f" (measured: {tv.scale / t1.scale:.2g}×)"
                        if tv is not None and tv.feasible and t1.scale > 0 else "")
            under = (f"; under that reading the optimum is K = {paper.k} at {paper.voltage:.3g} V "
                     f"({format_si(paper.energy_paper, 'J')})." if paper is not None else ".")
            s.append(f"Even if the whole inference energy scaled with V², as the paper's P ∝ V² has it, "
                     f"{kv} votes would have to tolerate {need:.2g}× the noise of one read to break even"
                     + measured + under)
        v = r.points and {p.k: p for p in r.points}.get(kv)
        vc = v.voting if v else None
        if vc:
            s.append(f"Latency: {format_si(net.latency, 's')} for one inference; {kv} votes take "
                     f"{format_si(vc['pipelined']['latency'], 's')} pipelined, "
                     f"{format_si(vc['sequential']['latency'], 's')} sequentially, or "
                     f"{format_si(vc['parallel']['latency'], 's')} on {kv} parallel copies at "
                     f"{kv}× the area ({mm2(vc['parallel']['area'])}).")
        paras.append(" ".join(s))
    tol = {n: r.thresholds[1].scale for n, r in res.items() if 1 in r.thresholds and r.thresholds[1].feasible}
    if len(res) > 1:
        cheapest = min(res, key=lambda n: res[n].network.energy)
        fastest = min(res, key=lambda n: res[n].network.latency)
        text = (f"**Across devices.** Cheapest single inference: {cheapest} "
                f"({format_si(res[cheapest].network.energy, 'J')}); fastest: {fastest} "
                f"({format_si(res[fastest].network.latency, 's')}).")
        if tol:
            most = max(tol, key=tol.get)
            text += (f" Most headroom over its own published noise: {most} "
                     f"({scale_text(res[most].thresholds[1])} with one read). Headroom is relative to "
                     "each device's own noise, so it says how far a device can be pushed (lower V, "
                     "denser levels, older cells), not which device is better in absolute terms.")
        paras.append(text)
    return paras


def demo_markdown(demo, figures: Sequence[str] = ()) -> str:
    """report.md of the demo: devices side by side, what the numbers mean, details per device."""
    c = demo.config
    res = demo.results
    ks = c.votes
    kv = max(ks)
    m = demo.model
    first = next(iter(res.values()), None)
    t = c.train
    devices = ", ".join(c.devices)
    n_test = first.data["n_test"] if first else c.test_limit
    if t.limit is None:
        trained_on, tested_on = "all training digits", "all its test digits"
    else:
        trained_on, tested_on = f"the first {t.limit} training digits", f"its first {t.limit} test digits"
    lines = [
        f"# crossbar-sim demo: the 6-layer CNN of Qin & Vucinic on {devices} crossbars",
        "",
        f"The CNN of Table 1 was trained for {m.get('epochs')} epoch(s) with {t.noise} noise injection "
        f"(σ_train = {t.sigma_train:g}) on {trained_on} of `{c.data}` (real MNIST digits; digital "
        f"accuracy after training {pct(m.get('test_accuracy_after_training'))} on {tested_on}), then "
        "mapped onto each device's crossbar arrays: programming noise, read noise, DAC and ADC as in the "
        f"bundled profiles (docs/devices.md). Every accuracy below is simulated on the first {n_test} "
        f"test digits (one digit = {100 / n_test:.2g} points). The target is "
        + (f"each device's accuracy without read noise minus {drop_text(c.max_drop)}: the budget "
           "is for read noise, and what the mapping itself costs is the difference between the "
           "*digital* and *mapped, no read noise* columns."
           if c.reference == "mapped" else
           f"the digital accuracy on those digits minus {drop_text(c.max_drop)}."),
        "",
    ]
    if demo.errors:
        lines += ["**Failed devices:**", ""] + [f"- {d}: {e}" for d, e in demo.errors.items()] + [""]
    if res:
        head_k = " | ".join(f"K = {k}" for k in ks)
        lines += [
            "## Accuracy and noise budget",
            "",
            "Accuracy at each device's published noise with K votes (K re-reads, most frequent class), "
            "and the largest read-noise scale s (× published) that still meets the target.",
            "",
            f"| device | digital | mapped, no read noise | {head_k} | tolerable s, K = 1 "
            f"| tolerable s, K = {kv} | energy-optimal (V, K) |",
            "| --- | ---: | ---: | " + " | ".join("---:" for _ in ks) + " | ---: | ---: | --- |",
        ]
        for name, r in res.items():
            accs = " | ".join(pct(r.nominal_accuracy.get(k)) for k in ks)
            best = r.optimum.get("fixed_periphery")
            opt = ("none" if best is None else
                   f"K = {best.k}, V = {best.voltage:.3g} V: {format_si(best.energy, 'J')}")
            lines.append(
                f"| {name} | {pct(r.digital_accuracy)} | {pct(r.noiseless_accuracy)} | {accs} "
                f"| {scale_text(r.thresholds[1])} | {scale_text(r.thresholds[kv])} | {opt} |"
            )
        lines += [
            "",
            "## Latency, energy and area per inference",
            "",
            f"At the nominal read voltage. One inference, and {kv} votes under the three schedules of "
            "Section 3.3 (energy is K× one inference in all three; parallel copies cost K× the area).",
            "",
            f"| device | tiles | area | latency K = 1 | K = {kv} pipelined | K = {kv} sequential "
            f"| K = {kv} parallel | energy K = 1 | energy K = {kv} | cell share | area K = {kv} parallel |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for name, r in res.items():
            net = r.network
            v = voting_cost(net, kv)
            lines.append(
                f"| {name} | {net.tiles} | {mm2(net.area)} | {format_si(net.latency, 's')} "
                f"| {format_si(v['pipelined']['latency'], 's')} "
                f"| {format_si(v['sequential']['latency'], 's')} "
                f"| {format_si(v['parallel']['latency'], 's')} | {format_si(net.energy, 'J')} "
                f"| {format_si(v['pipelined']['energy'], 'J')} | {share_text(net.energy_cell, net.energy)} "
                f"| {mm2(v['parallel']['area'])} |"
            )
        lines += ["", "## What this means", ""]
        for p in _meaning(demo):
            lines += [p, ""]
    if figures:
        captions = {
            "pareto": "Accuracy vs energy per inference over read voltage V and votes K (each point: one "
                      "evaluated noise scale s, run at V = V0/s; line: Pareto front; star: the optimum). "
                      "Top: only the cell read energy scales with V²; bottom: the whole inference does "
                      "(the paper's P ∝ V²).",
            "latency": "Latency of K-vote inference: sequential, pipelined (exact and the paper's (L+K)T), "
                       "and K parallel copies.",
            "accuracy_vs_noise": "Accuracy vs read-noise scale for each K (the points the bisection "
                                 "evaluated); dashed verticals: tolerable scale per K.",
        }
        lines += ["## Figures", ""]
        for f in figures:
            stem = Path(f).stem
            lines += [f"![{stem}]({Path(f).name})", "", f"*{captions.get(stem, stem)}*", ""]
    for name, r in res.items():
        lines += [
            f"## {name}: details",
            "",
            f"Profile `{r.profile}` (V0 = {r.v0:g} V); layer overrides: "
            + (", ".join(f"`{k}`: {v}" for k, v in r.config.layer_overrides.items()) or "none") + ".",
            "",
            budget_table(r),
            *optimum_lines(r),
            "",
            r.network.to_markdown(),
        ]
    lines += [
        "## How this was computed",
        "",
        f"- Noise budget: for each K, bisection on log2 s over [{c.noise_range[0]:g}, {c.noise_range[1]:g}] "
        f"until the bracket is within a factor {1 + c.rel_tol:g}; accuracy(s, K) is deterministic "
        f"(seed {c.seed}; {c.repeats} programmed chip(s); the K votes of one input are K re-reads stacked "
        "into one forward pass, each with fresh read noise).",
        "- Read voltage: read noise relative to the signal is taken to grow as (V0/V)^α "
        f"(α = {c.alpha:g}), so scale s is reached at V = V0 / s^(1/α); only the cell read energy scales "
        "with V² (DAC, ADC and digital energy fixed); the table also gives the paper's P ∝ V² reading.",
        "- Latency and energy: crossbar.cost (docs/cost.md) from the programmed tiles, with the input "
        "activity measured on 32 test digits; conv layers run one MVM per output position, no replication.",
        "- Votes re-read one programmed chip, so they average read noise, not programming noise; K parallel "
        "copies would also average programming noise (not simulated here).",
    ]
    if c.layer_overrides:
        shown = ", ".join(f"`{k}`: {v}" for k, v in c.layer_overrides.items())
        lines.append(f"- Layer overrides: {shown}. The first convolution uses 9 of a tile's rows; "
                     "the bundled ADC range (a fraction of a column's largest current, sized for full "
                     "tiles) clips it, so it gets a full-range ADC.")
    lines += [
        f"- Wall time: {demo.elapsed_s:.0f} s. Reproduce: `crossbar-sim demo --out {c.out}`; details of the "
        "method in docs/budget.md.",
        "",
    ]
    return "\n".join(lines)


def write_demo_report(demo, out: str | os.PathLike | None = None, plots: bool | None = None) -> list[Path]:
    """Write report.md, report.json and (with ``plots``) the three PNGs of a demo run.

    ``demo``: a ``crossbar.experiments.DemoResult``; ``out``: the folder
    (default: ``config.out``); ``plots``: default ``config.plots``. Returns the
    files written.
    """
    out = Path(demo.config.out if out is None else out)
    plots = demo.config.plots if plots is None else plots
    figs = []
    if plots and demo.results:
        figs = budget_figures(demo.results, out, max(20, max(demo.config.votes)))
    data = {
        "config": demo.config.to_dict(),
        "model": demo.model,
        "elapsed_s": demo.elapsed_s,
        "errors": demo.errors,
        "devices": {name: r.to_dict() for name, r in demo.results.items()},
    }
    files = [atomic_write_json(out / "report.json", data)]
    text = demo_markdown(demo, figures=[str(f) for f in figs])
    files.append(atomic_write_text(out / "report.md", text))
    return files + figs
