"""The demo's report: one model on several devices and one aged device (report.md, report.json,
figures, and the README excerpt)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

from crossbar.atomic import atomic_write_json, atomic_write_text
from crossbar.cost import format_si

from .budget import budget_table, optimum_lines, resolution_text
from .demo_tables import (
    aging_table,
    collapse_text,
    cost_table,
    device_table,
    drift_table,
    gain_text,
    readme_excerpt,
)
from .figures import budget_figures, plot_aging
from .text import drop_text, iv_text, pct, range_text, share_text

__all__ = ["demo_data", "demo_markdown", "write_demo_report"]


def _device_meaning(name: str, r, kv: int) -> str:
    """What one device's numbers say, generated from them (comparisons only where intervals separate)."""
    c = r.config
    lo_s, hi_s = c.noise_range
    t1, tv = r.thresholds.get(1), r.thresholds.get(kv)
    one, many = r.nominal.get(1), r.nominal.get(kv)
    s = [f"**{name}.** At its published noise the network scores {iv_text(one)} with one read and "
         f"{iv_text(many)} with {kv} votes (mapped without read noise {iv_text(r.noiseless)}, digital "
         f"{iv_text(r.digital)})."]
    if one is not None and one.lo >= r.target:
        s.append("Its published read noise costs no accuracy that these measurements can show.")
    if r.noiseless.hi < r.target:
        s.append("Even without read noise it misses the target: the mapping itself (converters, levels, "
                 "programming noise) costs more than the allowed drop, which no voltage or vote recovers.")
    if t1 is not None and t1.feasible:
        s.append(f"Its read noise can grow to {range_text(t1, lo_s, hi_s)} the published level before it "
                 "matters: below that range one read is shown to meet the target, above it shown to "
                 "miss it.")
    if t1 is not None and tv is not None:
        rel = r.voting()[kv]["noise"]
        if rel == ">":
            s.append(f"{kv} votes are shown to tolerate more read noise ({range_text(tv, lo_s, hi_s)}).")
        elif rel == "tie":
            at = ("" if math.isnan(t1.bad) else
                  f" at {t1.bad:.3g}× one read gives {_at(t1, t1.bad)} and {kv} votes {_at(tv, t1.bad)};")
            s.append(f"{kv} votes tolerate {range_text(tv, lo_s, hi_s)}: a tie with one read (the intervals "
                     f"overlap);{at} votes remove only the part of the error that changes from read to read.")
        else:
            s.append(f"{kv} votes are shown to tolerate less read noise ({range_text(tv, lo_s, hi_s)}).")
    s.append(_energy_text(r, kv))
    s.append(optimum_lines(r)[0].removeprefix("- ").replace("**", ""))
    return " ".join(s)


def _energy_text(r, kv: int) -> str:
    """The energy answer: what a vote repeats, the least K votes can cost against one read at the
    nominal voltage (cell energy ~ V^2 down to v_read_min, the rest fixed), and what K votes cost
    at the lowest voltage the search found them to meet the target."""
    from crossbar.cost import voltage_range

    net = r.network
    v_min = voltage_range(r.config.base_profile())[0]
    cell = net.energy_cell / net.energy
    floor = kv * (1 - cell * (1 - (v_min / r.v0) ** 2))
    conversions = share_text(sum(x.energy_dac + x.energy_adc for x in net.layers), net.energy)
    cells = share_text(net.energy_cell, net.energy)
    text = (f"One inference costs {format_si(net.energy, 'J')} at {r.v0:g} V ({net.tops_per_watt:.3g} "
            f"TOPS/W). Every vote repeats all of it: the cell reads ({cells}), the DAC and ADC conversions "
            f"({conversions}) and the digital work; only the cell reads get cheaper at a lower voltage "
            f"(∝ V²), so {kv} votes cost at least {floor:.3g}× one read at {r.v0:g} V"
            + (f" even at the lowest allowed {v_min:g} V" if v_min < r.v0 else
               " (the profile is read at that voltage only)"))
    p = next((p for p in r.points if p.k == kv), None)
    if p is None or p.status == "none":
        return text + f"; {kv} votes meet the target at no voltage up to {r.v0:g} V."
    if p.status == "dominated":
        return text + (f"; the search did not evaluate {kv} votes at any voltage: that floor already costs "
                       "more than fewer votes that meet the target.")
    return text + (f"; the search found {kv} votes meeting the target down to {p.voltage:.3g} V, where they "
                   f"cost {p.energy / net.energy:.3g}× one read at {r.v0:g} V.")


def _at(th, s: float) -> str:
    for e in th.evaluations:
        if e[0] == s:
            return f"{100 * e[1]:.1f} % ({100 * e[2]:.1f}–{100 * e[3]:.1f})"
    return "not evaluated"


def _meaning(demo, data: dict) -> list[str]:
    """The "what this means" paragraphs, generated from the numbers."""
    devs = demo.devices()
    if not devs:
        return ["No device finished; see the errors above."]
    kv = max(demo.config.votes)
    paras = [_device_meaning(n, r, kv) for n, r in devs.items()]
    comp = data["comparisons"]
    for figure, word in (("energy", "Cheapest single inference"), ("latency", "Fastest single inference")):
        best = [n for n, v in comp[figure].items() if v == "best"]
        ties = [n for n, v in comp[figure].items() if v == "tie"]
        if best:
            text = f"**{word}:** {best[0]}" + (f", in a tie with {', '.join(ties)} (within the cost model's "
                                                "±15 %)" if ties else " (outside the cost model's ±15 % of "
                                                "every other device)") + "."
            paras.append(text)
    aged = demo.config.aged_device
    rows = data.get("aging") or []
    if aged and rows:
        unc = [r for r in rows if r["compensate"] is False and r["k"] == 1]
        com = [r for r in rows if r["compensate"] is True and r["k"] == 1]
        text = f"**{aged}, aged.** "
        if unc:
            text += ("Without drift compensation one read gives "
                     + ", ".join(f"{iv_text(r)} after {r['label']}" for r in unc) + "; ")
        if com:
            text += ("with global drift compensation "
                     + ", ".join(f"{iv_text(r)} after {r['label']}" for r in com) + ". ")
        target = devs[aged].target if aged in devs else None
        lost = {r["label"] for r in rows if r["compensate"] is False and r["k"] == 1
                and target is not None and r["hi"] < target}
        if any(r["label"] in lost and r["compensate"] is False and r["k"] == kv and r["hi"] < target
               for r in rows):
            text += (f"{kv} votes do not rescue the uncompensated chip: drift moves every read the same "
                     "way, and re-reads average only what changes between reads. ")
        old = [r for n, r in demo.results.items() if n.startswith(f"{aged}, ")]
        if old and aged in devs:
            a, b = devs[aged].thresholds[1], old[0].thresholds[1]
            lo_s, hi_s = old[0].config.noise_range
            t_old = old[0].config.time_since_programming
            label = next((r["label"] for r in rows if r["age"] == t_old), f"{t_old:g} s")
            text += (f"The read-noise headroom of one read after {label} with compensation is "
                     f"{range_text(b, lo_s, hi_s)} the published level, against {range_text(a, lo_s, hi_s)} "
                     "as published.")
        paras.append(text)
    return paras


def demo_data(demo) -> dict:
    """report.json of the demo: every result, the aged rows and the cost comparisons."""
    return {
        "config": demo.config.to_dict(),
        "model": demo.model,
        "elapsed_s": demo.elapsed_s,
        "cpu_s": demo.cpu_s,
        "errors": demo.errors,
        "devices": {name: r.to_dict() for name, r in demo.results.items()},
        "points": {name: p.to_dict() for name, p in demo.points.items()},
        "diagnoses": {name: d.to_dict() for name, d in demo.diagnoses.items()},
        "aging": demo.aging_rows(),
        "comparisons": {"energy": demo.cost_comparison("energy"),
                        "latency": demo.cost_comparison("latency")},
    }


def demo_markdown(demo, data: dict | None = None, figures: Sequence[str] = ()) -> str:
    """report.md of the demo: tables (from report.json), what the numbers mean, details per budget."""
    data = demo_data(demo) if data is None else data
    c = demo.config
    devs = demo.devices()
    kv = max(c.votes)
    m, t = demo.model, c.train
    first = next(iter(devs.values()), None)
    trained_on = "all training digits" if t.limit is None else f"the first {t.limit} training digits"
    lines = [
        f"# crossbar-sim demo: the 6-layer CNN of Qin & Vucinic on {', '.join(c.devices)} crossbars"
        + (f", and an aged {c.aged_device} chip" if c.aged_device else ""),
        "",
        f"The CNN of Table 1 was trained for {m.get('epochs')} epoch(s) with {t.noise} noise injection "
        f"(σ_train = {t.sigma_train:g}) on {trained_on} of `{c.data}` (real MNIST digits), then mapped "
        "onto each device's crossbar arrays: programming noise, read noise, DAC and ADC as in the bundled "
        "profiles (docs/devices.md). The target is "
        + (f"the digital accuracy minus {drop_text(c.max_drop)}, the same for every device and age."
           if c.reference == "digital" else
           f"each device's accuracy without read noise minus {drop_text(c.max_drop)}."),
        "",
    ]
    if first is not None:
        lines += [resolution_text(first.resolution) + " (figures for the first device; each device's "
                  "own are in its details below.)", ""]
    if demo.errors:
        lines += ["**Failed:**", ""] + [f"- {d}: {e}" for d, e in demo.errors.items()] + [""]
    if devs:
        lines += ["## Accuracy and where read noise starts to matter", "",
                  "Accuracy at each device's published noise with 1 read and with K votes (K re-reads of "
                  "one chip, most frequent class), with 95 % intervals in brackets, and the read-noise "
                  "scale (× published; a lower read voltage raises it) that the network tolerates: the "
                  "largest grid scale whose mean meets the target, and in brackets the interval from the "
                  "largest scale shown to meet the target to the smallest shown to miss it.", "",
                  device_table(data),
                  f"Where voting pays: the factor by which {kv} votes raise the tolerable read noise over "
                  "one read, from the table's point estimates, and in brackets the range its intervals "
                  "allow. Votes average only what changes from read to read: independent read noise (the "
                  "paper's Eq. 3 profile, gaussian-mult, and the white part of a device's read noise), not "
                  "the 1/f noise that re-reads share, not drift, which moves every read alike, and not "
                  "programming noise, fixed per chip.", "",
                  *[f"- {t}" for t in gain_text(data)], ""]
    aged = aging_table(data)
    if aged:
        lines += [f"## Aged {c.aged_device}: drift and 1/f read noise in time", "",
                  "The same chips read at their published read-noise scale some time after programming: "
                  "conductances drifted to that time (the profile's drift law), with or without global "
                  "drift compensation (one gain per tile from a calibration read), and the 1/f read noise "
                  "taken at that time.", "", aged]
        for name, d in data["diagnoses"].items():
            lines += [f"### {name}: why", "",
                      f"Chip 0 on the first {d['n']} test digits, each layer against the same chip read "
                      f"{d['t0']:g} s after programming (the drift law's first read, before any drift); "
                      "both chips' ADC ranges calibrated after ageing as in the budgets, each network fed "
                      "its own activations.", "", drift_table(d), collapse_text(name, d), ""]
    if devs:
        lines += ["## Latency, energy and throughput per inference", "",
                  f"At the nominal read voltage; {kv} votes pipelined take ΣT + ({kv} − 1)·max T and {kv}× "
                  "the energy. A device is called lowest only when its figure stays lowest with every "
                  "figure taken ±15 % (the cost model's validated tolerance, docs/cost.md section 8).", "",
                  cost_table(data), "## What this means", ""]
        for p in _meaning(demo, data):
            lines += [p, ""]
    captions = {
        "accuracy_vs_noise": "Error rate (log) vs read-noise scale for each K with 95 % intervals; the "
                             "square at 0 is the chip without read noise; dashed: the target.",
        "pareto": "Error rate vs energy per inference over the read voltages V the search evaluated "
                  "and votes K, with 95 % intervals; the network is evaluated at each V (physical "
                  "voltage law); the cell read energy scales with V², DAC/ADC/digital do not.",
        "latency": "Latency of K-vote inference: sequential, pipelined (exact and the paper's (L+K)T), "
                   "and K parallel copies.",
        "aging": "The aged chip at its published read noise, with and without drift compensation.",
    }
    if figures:
        lines += ["## Figures", ""]
        for f in figures:
            stem = Path(f).stem
            lines += [f"![{stem}]({Path(f).name})", "", f"*{captions.get(stem, stem)}*", ""]
    for name, r in demo.results.items():
        lines += [f"## {name}: details", "",
                  f"Profile `{r.profile}` (V0 = {r.v0:g} V); target {pct(r.target)}.", "",
                  resolution_text(r.resolution), "", budget_table(r), *optimum_lines(r), "",
                  r.network.to_markdown()]
    lines += [
        "## How this was computed",
        "",
        f"- Search: noise scales on the grid {1 + c.rel_tol:g}^j within [{c.noise_range[0]:g}, "
        f"{c.noise_range[1]:g}], galloping from s = 1 and bisecting, for the mean and for each end of the "
        f"interval; seed {c.seed}; {c.repeats} programmed chips; the K votes of one input are K re-reads "
        "that share the read noise slower than their pipelined spacing; ADC ranges calibrated on 32 "
        "training digits; accuracy(s, K) is deterministic (docs/budget.md).",
        "- Read voltage: the network is evaluated at each voltage tried, down to the profile's "
        "v_read_min; the conductance noise does not change with V, the circuit noise floor (sense "
        "amplifier and the cells' thermal noise) grows relative to the signal as V drops "
        f"(docs/physics.md, \"Read voltage\"); bisected to {c.voltage_tol:g} V; only the cell read "
        "energy scales with V².",
        "- Latency, energy, TOPS/W: crossbar.cost (docs/cost.md), input activity measured on 32 test digits.",
        f"- Wall time {demo.elapsed_s:.0f} s on {c.workers} worker process(es), {demo.cpu_s:.0f} CPU-seconds "
        f"(this machine, set-up not included). Reproduce: `crossbar-sim demo --out {c.out}`.",
        "",
    ]
    return "\n".join(lines)


def write_demo_report(demo, out: str | os.PathLike | None = None, plots: bool | None = None) -> list[Path]:
    """Write report.md, report.json, excerpt.md (the README block) and (with ``plots``) the figures.

    ``demo``: a ``crossbar.experiments.DemoResult``; ``out``: the folder (default:
    ``config.out``); ``plots``: default ``config.plots``. Returns the files written.
    """
    out = Path(demo.config.out if out is None else out)
    plots = demo.config.plots if plots is None else plots
    data = demo_data(demo)
    figs = []
    if plots and demo.results:
        figs = budget_figures(demo.devices() or demo.results, out, max(20, max(demo.config.votes)),
                              noise=demo.results)
        if data["aging"]:
            target = next(iter(demo.results.values())).target
            n = next(iter(demo.results.values())).data["n_test"]
            figs.append(plot_aging([{**r, "accuracy": r["mean"]} for r in data["aging"]], n, target,
                                   out / "aging.png"))
    files = [atomic_write_json(out / "report.json", data)]
    files.append(atomic_write_text(out / "report.md", demo_markdown(demo, data, [str(f) for f in figs])))
    if demo.devices():
        files.append(atomic_write_text(out / "excerpt.md", readme_excerpt(data) + "\n"))
    return files + figs
