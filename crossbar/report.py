"""Markdown, JSON and figures of noise budgets and of the demo (matplotlib, Agg backend).

Every file is written atomically (a temporary file in the same folder, then
``os.replace``), so an interrupted run never leaves a half-written report.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from crossbar.atomic import atomic_write, atomic_write_text
from crossbar.cost import VOTING_MODES, format_si

__all__ = [
    "plot_accuracy_vs_noise",
    "plot_latency",
    "plot_pareto",
    "write_budget_report",
    "write_demo_report",
    "write_json",
    "write_text",
]

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
_MODE_STYLE = {"sequential": ("#d62728", "-"), "pipelined": ("#1f77b4", "-"), "parallel": ("#2ca02c", "-")}


# ------------------------------------------------------------------------------ files


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (parent folders created)."""
    return atomic_write_text(path, text)


def _clean(obj: Any) -> Any:
    """JSON-safe: NaN/inf -> None, tuples -> lists, numpy scalars -> Python."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):
        return _clean(obj.item())
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically (NaN written as null)."""
    return write_text(path, json.dumps(_clean(obj), indent=2, allow_nan=False) + "\n")


def _save(fig, path: Path) -> Path:
    """Write the figure atomically and close it."""
    import matplotlib.pyplot as plt

    atomic_write(path, lambda fh: fig.savefig(fh, format=path.suffix.lstrip("."), dpi=120,
                                              bbox_inches="tight"))
    plt.close(fig)
    return path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# ------------------------------------------------------------------------------ formatting


def pct(v: float | None, digits: int = 1) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.{digits}f} %"


def _scale(th) -> str:
    if th.status == "none":
        return "none"
    text = f"{th.scale:.3g}×"
    return f"≥ {text}" if th.status == "all" else text


def _mm2(v: float) -> str:
    return f"{v * 1e6:.4g} mm²"


def _subplots(n: int, width: float = 4.6, height: float = 3.6):
    plt = _plt()
    fig, axes = plt.subplots(1, n, figsize=(width * n + 0.4, height), squeeze=False)
    return plt, fig, list(axes[0])


# ------------------------------------------------------------------------------ plots


def _accuracy_at(r, k: int, s: float) -> float | None:
    for e in r.evaluations:
        if e["k"] == k and abs(e["s"] - s) <= 1e-9 * max(1.0, s):
            return e["accuracy"]
    return None


def plot_pareto(results: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Accuracy vs energy per inference over (V, K): one column per device, two energy models.

    Each evaluated (noise scale s, K) is a point at energy K x E(V(s)),
    V = V0 / s^(1/alpha). Top row: only the cell read energy scales with V^2
    (DAC, ADC, digital fixed); bottom row: the whole inference energy scales
    with V^2 (the paper's P ~ V^2). Line: Pareto front; star: the cheapest
    (V, K) meeting the target.
    """
    from crossbar.experiments.budget import pareto_front

    plt = _plt()
    n = len(results)
    fig, axes = plt.subplots(2, n, figsize=(4.8 * n + 0.4, 7.4), squeeze=False)
    rows = ((False, "fixed_periphery", "energy", "cell energy ∝ V², DAC/ADC fixed"),
            (True, "paper", "energy_paper", "whole inference ∝ V² (paper)"))
    for col, (label, r) in enumerate(results.items()):
        ks = sorted({e["k"] for e in r.evaluations})
        for row, (paper, key, attr, what) in enumerate(rows):
            ax = axes[row][col]
            pts = r.pareto(paper=paper)
            for i, k in enumerate(ks):
                sel = [p for p in pts if p["k"] == k]
                if sel:
                    ax.scatter([p["energy"] * 1e9 for p in sel], [100 * p["accuracy"] for p in sel], s=20,
                               color=_COLORS[i % len(_COLORS)], label=f"K = {k}", alpha=0.85, zorder=3)
            front = pareto_front((p["energy"], p["accuracy"]) for p in pts)
            if front:
                ax.step([e * 1e9 for e, _ in front], [100 * a for _, a in front], where="post",
                        color="black", lw=1.1, label="Pareto front", zorder=2)
            ax.axhline(100 * r.target, color="darkorange", lw=1, ls=":", label=f"target {pct(r.target)}")
            best = r.optimum.get(key)
            if best is not None:
                acc = _accuracy_at(r, best.k, best.scale)
                ax.scatter([getattr(best, attr) * 1e9], [100 * (acc if acc is not None else r.target)],
                           marker="*", s=200, color="gold", edgecolor="black", zorder=4,
                           label=f"optimum: K = {best.k}, V = {best.voltage:.3g} V")
            ax.set_xscale("log")
            lo = max(0.0, min(100 * r.target, 100 * r.noiseless_accuracy) - 10)
            ax.set_ylim(lo, 100.5)
            shown = [p["energy"] * 1e9 for p in pts if 100 * p["accuracy"] >= lo]
            if shown:
                ax.set_xlim(min(shown) / 1.6, max(shown) * 1.6)
            ax.set_xlabel("energy per inference, all K votes (nJ)")
            ax.set_ylabel("test accuracy (%)")
            ax.set_title(f"{label}: {what}", fontsize=9.5)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7, loc="lower right")
    alpha = next(iter(results.values())).config.alpha
    law = "V0 / s" if alpha == 1 else f"V0 / s^(1/{alpha:g})"
    fig.suptitle(f"Accuracy vs energy over read voltage V and votes K (V = {law} for noise scale s)",
                 fontsize=11)
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_latency(results: Mapping[str, Any], path: str | os.PathLike, k_max: int = 20) -> Path:
    """Latency of K-vote inference vs K for the three schedules, one panel per device."""
    from crossbar.cost import voting_cost

    plt, fig, axes = _subplots(len(results))
    ks = list(range(1, max(k_max, 2) + 1))
    for ax, (label, r) in zip(axes, results.items(), strict=True):
        costs = [voting_cost(r.network, k) for k in ks]
        for mode in VOTING_MODES:
            color, ls = _MODE_STYLE[mode]
            name = {"sequential": "sequential (K·ΣT)", "pipelined": "pipelined (ΣT + (K−1)·max T)",
                    "parallel": "K parallel copies (ΣT, K× area)"}[mode]
            ax.plot(ks, [c[mode]["latency"] * 1e6 for c in costs], color=color, ls=ls, lw=1.6, label=name)
        ax.plot(ks, [c["pipelined"]["latency_paper"] * 1e6 for c in costs], color="#1f77b4", ls=":",
                lw=1.2, label="pipelined, paper's (L+K)·max T")
        for k in r.config.votes:
            if k <= ks[-1]:
                ax.axvline(k, color="grey", lw=0.5, alpha=0.4)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("votes K")
        ax.set_ylabel("latency per voted inference (µs)")
        ax.set_title(f"{label}: latency vs K (L = {len(r.network.layers)} stages)", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_accuracy_vs_noise(results: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Accuracy vs noise scale for every K (the points the bisection evaluated)."""
    plt, fig, axes = _subplots(len(results))
    for ax, (label, r) in zip(axes, results.items(), strict=True):
        ks = sorted(r.thresholds)
        for i, k in enumerate(ks):
            pts = sorted((e["s"], e["accuracy"]) for e in r.evaluations if e["k"] == k and e["s"] > 0)
            if not pts:
                continue
            color = _COLORS[i % len(_COLORS)]
            ax.plot([s for s, _ in pts], [100 * a for _, a in pts], marker="o", ms=3, lw=1.2,
                    color=color, label=f"K = {k}: tolerates {_scale(r.thresholds[k])}")
            th = r.thresholds[k]
            if th.feasible:
                ax.axvline(th.scale, color=color, lw=0.8, ls="--", alpha=0.7)
        ax.axhline(100 * r.target, color="darkorange", lw=1, ls=":", label=f"target {pct(r.target)}")
        ax.axvline(1.0, color="black", lw=0.6, alpha=0.5)
        ax.set_xscale("log", base=2)
        ax.set_ylim(max(0.0, 100 * min(r.target, r.noiseless_accuracy) - 15), 100.5)
        what = "read noise" if r.config.scale == "read" else "programming + read noise"
        ax.set_xlabel(f"noise scale s (× nominal {what}; 1 = profile)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{label}: accuracy vs noise (zoomed on the target)", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return _save(fig, Path(path))


# ------------------------------------------------------------------------------ budget report


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
            f"| {k} | {_scale(th)} | {acc1} | {'≤ ' if p.bound else ''}{p.voltage:.3g} V "
            f"| {le}{format_si(p.energy, 'J')} | {le}{format_si(p.energy_paper, 'J')} "
            f"| {format_si(v['sequential']['latency'], 's')} | {format_si(v['pipelined']['latency'], 's')} "
            f"| {format_si(v['parallel']['latency'], 's')} | {_mm2(v['parallel']['area'])} |"
        )
    return "\n".join(lines) + "\n"


def _optimum_lines(r) -> list[str]:
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
           f"{_points(c.max_drop)})"),
        "- at the profile's nominal noise (s = 1): "
        + ", ".join(f"K = {k}: {pct(a)}" for k, a in r.nominal_accuracy.items()),
        *_optimum_lines(r),
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
        f"{net.tiles} tiles, {_mm2(net.area)}.",
        "",
        net.to_markdown(),
    ]
    if figures:
        lines += ["## Figures", ""] + [f"![{Path(f).stem}]({Path(f).name})" for f in figures] + [""]
    return "\n".join(lines)


def _figures(results: Mapping[str, Any], out: Path, k_max: int) -> list[Path]:
    return [
        plot_pareto(results, out / "pareto.png"),
        plot_latency(results, out / "latency.png", k_max=k_max),
        plot_accuracy_vs_noise(results, out / "accuracy_vs_noise.png"),
    ]


def write_budget_report(result, out: str | os.PathLike) -> list[Path]:
    """report.md, report.json and (if ``config.plots``) pareto/latency/accuracy PNGs in ``out``."""
    out = Path(out)
    figs = _figures({result.profile: result}, out, max(20, max(result.config.votes))) \
        if result.config.plots else []
    files = [write_json(out / "report.json", result.to_dict())]
    files.append(write_text(out / "report.md", budget_markdown(result, figures=[str(f) for f in figs])))
    return files + figs


# ------------------------------------------------------------------------------ demo report


def _points(drop: float) -> str:
    v = 100 * drop
    return f"{v:g} point" + ("" if v == 1 else "s")


def _share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "n/a"


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
            text = f"One read tolerates {_scale(t1)} the published read noise, {kv} votes {_scale(tv)}"
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
                f"while DAC and ADC conversions ({_share(conv, net.energy)}) are paid again by every vote.")
        if t1 is not None and t1.feasible and t1.scale >= 1.0:  # one read at V <= V0 meets the target
            text += (f" K votes can only save energy when that fixed part is below 1/K of an inference; "
                     f"here it is {100 * fixed:.0f} %, so "
                     + ("even K = 2 costs more than one read at any voltage." if fixed > 0.5
                        else f"at most K = {max(1, math.floor(1 / fixed))} could pay off."))
        s.append(text)
        if best is not None:
            if best.k == 1:
                s.append(f"The cheapest way to meet the target is a single read at V = {best.voltage:.3g} V "
                         f"({format_si(best.energy, 'J')}, {_share(net.energy - best.energy, net.energy)} "
                         f"below the nominal {r.v0:g} V).")
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
                     f"{kv}× the area ({_mm2(vc['parallel']['area'])}).")
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
                     f"({_scale(res[most].thresholds[1])} with one read). Headroom is relative to "
                     "each device's own noise, so it says how far a device can be pushed (lower V, "
                     "denser levels, older cells), not which device is better in absolute terms.")
        paras.append(text)
    return paras


def demo_markdown(demo, figures: Sequence[str] = ()) -> str:
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
        + (f"each device's accuracy without read noise minus {_points(c.max_drop)}: the budget "
           "is for read noise, and what the mapping itself costs is the difference between the "
           "*digital* and *mapped, no read noise* columns."
           if c.reference == "mapped" else
           f"the digital accuracy on those digits minus {_points(c.max_drop)}."),
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
                f"| {_scale(r.thresholds[1])} | {_scale(r.thresholds[kv])} | {opt} |"
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
        from crossbar.cost import voting_cost

        for name, r in res.items():
            net = r.network
            v = voting_cost(net, kv)
            lines.append(
                f"| {name} | {net.tiles} | {_mm2(net.area)} | {format_si(net.latency, 's')} "
                f"| {format_si(v['pipelined']['latency'], 's')} "
                f"| {format_si(v['sequential']['latency'], 's')} "
                f"| {format_si(v['parallel']['latency'], 's')} | {format_si(net.energy, 'J')} "
                f"| {format_si(v['pipelined']['energy'], 'J')} | {_share(net.energy_cell, net.energy)} "
                f"| {_mm2(v['parallel']['area'])} |"
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
            *_optimum_lines(r),
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


def write_demo_report(demo, out: str | os.PathLike, plots: bool = True) -> list[Path]:
    """report.md, report.json and (with ``plots``) the three PNGs of a demo run."""
    out = Path(out)
    figs = []
    if plots and demo.results:
        figs = _figures(demo.results, out, max(20, max(demo.config.votes)))
    data = {
        "config": demo.config.to_dict(),
        "model": demo.model,
        "elapsed_s": demo.elapsed_s,
        "errors": demo.errors,
        "devices": {name: r.to_dict() for name, r in demo.results.items()},
    }
    files = [write_json(out / "report.json", data)]
    files.append(write_text(out / "report.md", demo_markdown(demo, figures=[str(f) for f in figs])))
    return files + figs
