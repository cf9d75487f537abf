"""The demo's summary tables and the README excerpt, made from report.json alone.

Both report.md and the README excerpt are built by these functions from the
same report.json content, so they cannot disagree; ``tests/test_readme.py``
checks that the README holds :func:`readme_excerpt` of the report.json kept in
``docs/results/demo/``.
"""

from __future__ import annotations

from crossbar.cost import format_si

from .text import iv_text, pct, range_text, scale_text, verdict_text

__all__ = ["EXCERPT_BEGIN", "EXCERPT_END", "TABLES_BEGIN", "TABLES_END", "aging_table", "cost_table",
           "device_table", "docs_tables", "readme_excerpt", "replace_excerpt"]

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


def replace_excerpt(text: str, block: str, begin: str = EXCERPT_BEGIN, end: str = EXCERPT_END) -> str:
    """``text`` with the part between the markers ``begin`` and ``end`` replaced by ``block``
    (which carries them); a text without the markers is refused."""
    if begin not in text or end not in text:
        raise ValueError(f"the file has no demo excerpt markers; add the two marker lines {begin!r} and "
                         f"{end!r}")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return head + block + tail
