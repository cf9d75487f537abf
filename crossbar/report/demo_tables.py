"""The demo's summary tables and the README excerpt, made from report.json alone.

Both report.md and the README excerpt are built by these functions from the
same report.json content, so they cannot disagree; ``tests/test_readme.py``
checks that the README holds :func:`readme_excerpt` of the report.json kept in
``docs/results/demo/``.
"""

from __future__ import annotations

from pathlib import Path

from crossbar.atomic import atomic_write_text
from crossbar.cost import format_si

from .text import iv_text, pct, range_text, scale_text, verdict_text

__all__ = ["EXCERPT_BEGIN", "EXCERPT_END", "TABLES_BEGIN", "TABLES_END", "aging_table", "collapse_text",
           "cost_table", "device_table", "docs_tables", "drift_table", "gain_text", "readme_excerpt",
           "replace_excerpt", "update_block"]

# report.json's "aging": rows {"age" (s; 0: as published), "label", "compensate" (None: as
# published), "k", "mean", "lo", "hi"} of the aged device at its published read noise (s = 1).

EXCERPT_BEGIN = "<!-- demo excerpt: generated from docs/results/demo/report.json; do not edit -->"
EXCERPT_END = "<!-- end of demo excerpt -->"
TABLES_BEGIN = "<!-- demo tables: generated from docs/results/demo/report.json; do not edit -->"
TABLES_END = "<!-- end of demo tables -->"


def _devices(data: dict) -> dict[str, dict]:
    names = data["config"]["devices"]
    return {n: d for n, d in data["devices"].items() if n in names}


def _kv(data: dict) -> int:
    return max(data["config"]["votes"])


def device_table(data: dict) -> str:
    """Per device at its published noise: accuracies with intervals, tolerable read noise with
    its interval for 1 read and K votes, and whether the votes are shown to help."""
    kv = _kv(data)
    lo, hi = data["config"]["noise_range"]
    lines = [f"| device | digital | mapped, no read noise | 1 read | {kv} votes | tolerable read noise, "
             f"1 read | {kv} votes | {kv} votes tolerate more? |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for name, d in _devices(data).items():
        th1, thv = d["thresholds"]["1"], d["thresholds"][str(kv)]
        more = verdict_text(d["voting"][str(kv)]["noise"], "yes", "no, fewer", "tie")
        lines.append(
            f"| {name} | {iv_text(d['digital'])} | {iv_text(d['noiseless'])} | {iv_text(d['nominal']['1'])} "
            f"| {iv_text(d['nominal'][str(kv)])} | {scale_text(th1)} ({range_text(th1, lo, hi)}) "
            f"| {scale_text(thv)} ({range_text(thv, lo, hi)}) | {more} |")
    return "\n".join(lines) + "\n"


def _gain(th1: dict, thk: dict) -> tuple[float | None, float | None, float | None]:
    """(point, lowest, highest) factor by which K votes raise the tolerable noise scale over one
    read: the ratio of the point estimates, and of the interval ends (confirmed of K over excluded
    of 1, excluded of K over confirmed of 1; None where an end lies outside the range)."""
    def ratio(a, b):
        return None if a is None or b is None else a / b

    both = thk["status"] == th1["status"] == "bracketed"
    point = ratio(thk.get("scale"), th1.get("scale")) if both else None
    return (point, ratio(thk.get("confirmed"), th1.get("excluded")),
            ratio(thk.get("excluded"), th1.get("confirmed")))


def gain_text(data: dict) -> list[str]:
    """One sentence per device: the measured voting gain in tolerable read noise, K = the largest
    vote count against one read, with its interval; votes are said to pay only when the
    tolerable-noise intervals separate (the table's verdict), and why where they cannot."""
    kv = _kv(data)
    lo_s, hi_s = data["config"]["noise_range"]
    out = []
    for name, d in _devices(data).items():
        th1, thk = d["thresholds"]["1"], d["thresholds"][str(kv)]
        point, lo, hi = _gain(th1, thk)
        if point is None and lo is None and hi is None:
            out.append(f"**{name}:** the tolerable read noise is not pinned in the range searched (1 read "
                       f"{range_text(th1, lo_s, hi_s)}, {kv} votes {range_text(thk, lo_s, hi_s)}): no voting "
                       "gain can be stated.")
            continue
        what = ("" if point is None else f"{point:.2g}× ") + (
            f"(between {'?' if lo is None else f'{lo:.2g}'}× and {'?' if hi is None else f'{hi:.2g}'}×)")
        verdict = d["voting"][str(kv)]["noise"]
        text = (f"**{name}:** {kv} votes tolerate {what} the read noise one read tolerates "
                f"(√{kv} = {kv ** 0.5:.2g}×, the gain of averaging {kv} independent reads); ")
        text += {">": "votes are shown to pay: the intervals separate.",
                 "<": "votes are shown to tolerate less: the intervals separate.",
                 }.get(verdict, "not shown to differ from one read: the intervals overlap.")
        out.append(text)
    return out


def aging_table(data: dict) -> str:
    """Accuracy of the aged device with 1 read and K votes, per age and drift compensation, against
    the target, and whether the votes are shown to help."""
    rows = data.get("aging") or []
    if not rows:
        return ""
    kv = _kv(data)
    target = next(iter(_devices(data).values()))["target"] if _devices(data) else None
    lines = [f"| time since programming | drift compensation | 1 read | {kv} votes | against the target "
             f"({pct(target)}) | {kv} votes better? |",
             "| --- | --- | ---: | ---: | --- | --- |"]
    groups: dict[tuple, dict[int, dict]] = {}
    for r in rows:
        groups.setdefault((r["age"], r["label"], r["compensate"]), {})[r["k"]] = r
    for (_, label, comp), by_k in sorted(groups.items(), key=lambda g: (g[0][0], g[0][2] is not None,
                                                                         bool(g[0][2]))):
        one, many = by_k.get(1), by_k.get(kv)
        rel = "n/a"
        if target is not None and one is not None:
            rel = ("meets" if one["lo"] >= target else "misses" if one["hi"] < target else "straddles")
        better = "n/a"
        if one is not None and many is not None:
            better = ("yes" if many["lo"] > one["hi"] else "no, worse" if many["hi"] < one["lo"] else "tie")
        what = "–" if comp is None else ("yes" if comp else "no")
        lines.append(f"| {label} | {what} | {iv_text(one)} | {iv_text(many)} | 1 read {rel} | {better} |")
    return "\n".join(lines) + "\n"


def _num(v, fmt: str = ".2f") -> str:
    return "–" if v is None else format(v, fmt)


def _share(v) -> str:
    return "–" if v is None else f"{100 * v:.2g} %"


def drift_table(diagnosis: dict) -> str:
    """Per analog layer of the uncompensated aged chip against the same chip as programmed: the
    conductance gain, the calibrated ADC full scale, clipping, and the batch norm and ReLU after it."""
    lines = ["| layer | conductances (aged / programmed) | ADC full scale (aged / programmed) | ADC outputs "
             "clipped, programmed → aged | batch norm after it: mean, programmed → aged | its spread (std) "
             "| zeros after the ReLU |",
             "| --- | ---: | ---: | ---: | --- | --- | --- |"]
    for r in diagnosis["layers"]:
        norm = ("–" if r["norm"] is None else
                f"{r['norm']}: {_num(r['norm_mean_programmed'])} → {_num(r['norm_mean'])}")
        lines.append(
            f"| {r['layer']} | {_num(r['gain'], '.3f')}× | {_num(r['full_scale'])}× "
            f"| {_share(r['clipped_programmed'])} → {_share(r['clipped'])} | {norm} "
            f"| {_num(r['norm_std_programmed'])} → {_num(r['norm_std'])} "
            f"| {_share(r['zeros_programmed'])} → {_share(r['zeros'])} |")
    return "\n".join(lines) + "\n"


def collapse_text(name: str, diagnosis: dict) -> str:
    """One paragraph from a diagnosis: how far the conductances fell, what the ADC saw, what the
    batch norms did, and which classes the chip predicts."""
    rows = diagnosis["layers"]
    gains = [r["gain"] for r in rows]
    clip = [r["clipped"] for r in rows if r["clipped"] is not None]
    clip0 = [r["clipped_programmed"] for r in rows if r["clipped_programmed"] is not None]
    normed = [r for r in rows if r["norm"] is not None and r["norm_std_programmed"]]
    n, counts = diagnosis["n"], diagnosis["classes"]
    top = max(range(len(counts)), key=counts.__getitem__)
    scales = [r["full_scale"] for r in rows]
    text = (f"**{name}: why.** Against the same chip read {diagnosis['t0']:g} s after programming, every "
            f"layer's differential conductances fell to {min(gains):.2f}–{max(gains):.2f} of their value "
            "(drift, uncompensated). The ADC ranges, recalibrated after ageing, followed the signal down "
            f"(full scale {min(scales):.2f}–{max(scales):.2f}× the programmed one), so a conversion step "
            "shrank with the signal and small outputs do not underflow"
            + (f"; at most {100 * max(clip):.2g} % of a layer's outputs clipped ({100 * max(clip0):.2g} % as "
               "programmed)" if clip and clip0 else "") + ". ")
    if normed:
        ratio = [(r["norm_std"] / r["norm_std_programmed"]) for r in normed]
        shift = max(abs(r["norm_mean"] - r["norm_mean_programmed"]) for r in normed)
        text += ("The digital batch norms keep the statistics they learned for the float network "
                 "(γ (z − μ) / σ + β with the float network's μ and σ): the spread of their outputs became "
                 f"{min(ratio):.2f}–{max(ratio):.2f}× the programmed chip's and their mean moved by up to "
                 f"{shift:.2f}, an offset that no longer matches the signal, compounding layer after layer. ")
    text += (f"The chip predicts class {top} for {counts[top]} of {n} test digits (as programmed: "
             f"{diagnosis['classes_programmed'][top]})")
    if counts[top] >= 0.9 * n:
        text += ": a collapse onto one class, which votes cannot undo because drift moves every read alike"
    return text + "."


def cost_table(data: dict) -> str:
    """Per device, one inference at the nominal read voltage: latency, energy, TOPS/W, throughput,
    and K votes pipelined; ranked only where the cost model's +-15 % intervals separate."""
    kv = _kv(data)
    comp = data.get("comparisons", {})
    lines = [f"| device | tiles | latency | energy | TOPS/W | TOPS (one at a time) | cell share of energy "
             f"| {kv} votes pipelined: latency | energy |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, d in _devices(data).items():
        net = d["network"]
        lat_v = format_si(_pipelined(d, kv), "s")
        e_v = format_si(kv * net["energy"], "J")

        def rank(figure: str, name: str = name) -> str:
            return {"best": " (lowest)", "tie": " (tie for lowest)"}.get(comp.get(figure, {}).get(name), "")

        lines.append(
            f"| {name} | {net['tiles']} | {format_si(net['latency'], 's')}{rank('latency')} "
            f"| {format_si(net['energy'], 'J')}{rank('energy')} | {d['tops_per_watt']:.3g} "
            f"| {d['throughput'] / 1e12:.3g} | {100 * net['energy_cell'] / net['energy']:.0f} % "
            f"| {lat_v} | {e_v} |")
    return "\n".join(lines) + "\n"


def _pipelined(d: dict, k: int) -> float:
    """Pipelined latency of k votes: sum of stage times + (k - 1) x the slowest stage."""
    times = [layer["time"] for layer in d["network"]["layers"]]
    return sum(times) + (k - 1) * max(times)


def readme_excerpt(data: dict, timing: dict | None = None) -> str:
    """The README's demo excerpt: the device table, the aged device and the run time (``timing``:
    tools/time_demo.sh's measurement of `make demo` from a clean checkout, set-up included)."""
    cfg = data["config"]
    first = next(iter(_devices(data).values()), None)
    n = first["data"]["n_test"] if first else 0
    chips = first["resolution"]["chips"] if first else 0
    lines = [
        EXCERPT_BEGIN,
        f"One run of `make demo` (tolerable read noise as × the published level, searched on the grid "
        f"{1 + cfg['rel_tol']:g}^j; every accuracy on {n:,} test digits and {chips} programmed chips, with "
        f"its 95 % interval in brackets; target: digital accuracy − {100 * cfg['max_drop']:g} points):",
        "",
        device_table(data),
    ]
    aged = aging_table(data)
    if aged:
        lines += [f"The {cfg['aged_device']} chip after drift (its 1/f read noise taken at the same time):",
                  "", aged]
    lines += [
        "Cost of one inference: " + "; ".join(
            f"{name} {format_si(d['network']['energy'], 'J')}, {d['tops_per_watt']:.3g} TOPS/W, "
            f"{format_si(d['network']['latency'], 's')}" for name, d in _devices(data).items()) + ".",
        "",
        f"The demo itself ran {data['elapsed_s'] / 60:.1f} min ({data.get('cpu_s', 0) / 60:.1f} CPU-min, "
        f"{cfg['workers']} worker processes)"
        + ("" if timing is None else
           f"; `make demo` from a clean checkout, set-up included, took {timing['wall_s'] / 60:.1f} min "
           f"({timing['cpu_s'] / 60:.1f} CPU-min) on {timing['cores']} cores with a load average of "
           f"{timing['load_average_before'].split()[0]} from other users when it started "
           f"(tools/time_demo.sh, commit {timing['commit']})")
        + ". Full report: [docs/results/demo/report.md](docs/results/demo/report.md).",
        EXCERPT_END,
    ]
    return "\n".join(lines)


def docs_tables(data: dict) -> str:
    """The block of docs/budget.md: the demo's three tables, between their markers."""
    return "\n".join([TABLES_BEGIN, "", device_table(data), aging_table(data), cost_table(data), TABLES_END])


def replace_excerpt(text: str, block: str, begin: str = EXCERPT_BEGIN, end: str = EXCERPT_END,
                    label: str = "demo excerpt") -> str:
    """``text`` with the part between the markers ``begin`` and ``end`` replaced by ``block``
    (which carries them); a text without the markers is refused."""
    if begin not in text or end not in text:
        raise ValueError(f"the file has no {label} markers; add the two marker lines {begin!r} and "
                         f"{end!r}")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return head + block + tail


def update_block(path: Path, block: str, begin: str, end: str, *, check: bool = False,
                 label: str = "generated block") -> bool:
    """Whether the file ``path`` already holds ``block`` between ``begin`` and ``end``; unless
    ``check``, the file is rewritten (atomically) with it. What the pages that docs scripts
    regenerate from records share."""
    text = path.read_text(encoding="utf-8")
    new = replace_excerpt(text, block, begin, end, label)
    if not check and new != text:
        atomic_write_text(path, new)
    return new == text
