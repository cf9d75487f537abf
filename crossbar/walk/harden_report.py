"""The hardening report: the comparison table, midpoints, crossbar levels, the papers' claims checked.

Computed from the stored records alone. A comparison is called only when
the two 95 % intervals do not overlap; otherwise it reads "not separated".
Written files: ``harden.json``, ``harden.md`` and (``plots``) one figure per network.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from .config import QatSpec, harden_from_dict
from .fit import clean_json
from .midpoint import compare, find_midpoint, interval, mean_ci, midpoint_interval, summarize_midpoints
from .report import fmt_acc, fmt_sigma, midpoint_cell, write_report_files
from .store import qat_key, task_key

__all__ = ["analyse_harden", "write_harden_report"]


def _name(method: str, q: QatSpec | None) -> str:
    return {"float": "float", "qat": q.name if q else "", "noisy": "noisy training",
            "qat+noisy": f"{q.name if q else ''} + noisy training"}[method]


def _row(records: dict, cfg, label: str, method: str, q: QatSpec | None, level: dict[int, float],
         n_test: int) -> dict[str, Any] | None:
    grid = cfg.grid.values
    clean_trained = "noisy" not in method

    def rec(s_train: float, r: int) -> dict | None:
        return records.get(task_key("model", label, method, qat_key(q), s_train, r))

    def acc(s: float, r: int) -> float:
        found = rec(0.0 if clean_trained else s, r)
        if found is None:
            raise KeyError(s)
        return found["noisy"][repr(s)]

    row: dict[str, Any] = {"method": _name(method, q), "key": [method, qat_key(q)], "sigma": list(grid),
                           "mean": [], "ci": [], "n": []}
    for s in grid:
        vals = []
        for r in range(cfg.repeats):
            try:
                vals.append(acc(s, r))
            except KeyError:
                pass
        m, h = mean_ci(vals, n_test)
        row["mean"].append(m)
        row["ci"].append(h)
        row["n"].append(len(vals))
    if not any(row["n"]):
        return None
    cleans = [rec(0.0, r)["clean"] for r in range(cfg.repeats) if clean_trained and rec(0.0, r)]
    row["clean"] = dict(zip(("mean", "ci"), mean_ci(cleans, n_test), strict=True)) if cleans else None
    crossings = []
    for r in range(cfg.repeats):
        try:
            crossings.append(find_midpoint(lambda s, r=r: acc(s, r), grid, level[r], 0))
        except KeyError:
            pass
    row["midpoint"] = summarize_midpoints(crossings) if crossings else {"status": "missing"}
    row["midpoint_values"] = [None if math.isnan(c.value) else c.value for c in crossings]
    if clean_trained:
        cb: dict[tuple[str, int | None], list[float]] = {}
        rows: dict[str, int] = {}
        for r in range(cfg.repeats):
            for e in (rec(0.0, r) or {}).get("crossbar", []):
                cb.setdefault((e["profile"], e["levels"]), []).append(e["accuracy"])
                rows[e["profile"]] = e["tile_rows"]
        n_cb = min(n_test, cfg.crossbar.limit_test or n_test) if cfg.crossbar else n_test
        row["crossbar"] = [{"profile": p, "levels": lv, "tile_rows": rows[p],
                            **dict(zip(("mean", "ci"), mean_ci(v, n_cb), strict=True))}
                           for (p, lv), v in cb.items()]
    return row


def _paired_ratio(a: dict, b: dict) -> dict[str, Any]:
    """Per-repeat midpoint ratio a/b (same seeds), geometric mean and t interval on log10."""
    pairs = [(x, y) for x, y in zip(a["midpoint_values"], b["midpoint_values"], strict=False)
             if x is not None and y is not None]
    if len(pairs) < 2 or len(pairs) < len(a["midpoint_values"]):
        return {"status": "censored or too few repeats", "value": None, "ci": [None, None]}
    logs = np.log10([x / y for x, y in pairs])
    m, h = mean_ci(logs.tolist())
    return {"status": "ok", "value": 10**m, "ci": [10 ** (m - h), 10 ** (m + h)]}


def analyse_harden(identity: dict[str, Any], records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    cfg = harden_from_dict(identity["config"])
    n_test, chance = identity["data"]["test"]["n"], identity["chance"]
    order = [(m, q) for m in cfg.methods for q in (cfg.qat if "qat" in m else (None,))]
    nets = []
    for spec in cfg.models:
        # the half level comes from each repeat's float network (its own clean accuracy if no float row)
        level = {}
        for r in range(cfg.repeats):
            ref = records.get(task_key("model", spec.label, "float", None, 0.0, r)) or records.get(
                task_key("model", spec.label, "qat", qat_key(cfg.qat[0]), 0.0, r))
            level[r] = ((ref["clean"] if ref else math.nan) + chance) / 2
        rows = [x for m, b in order if (x := _row(records, cfg, spec.label, m, b, level, n_test))]
        nets.append({"label": spec.label, "model": spec.model, "kwargs": spec.kwargs, "rows": rows,
                     "half_level": dict(zip(("mean", "ci"), mean_ci(list(level.values())), strict=True))})
    a = {"config": identity["config"], "data": identity["data"], "chance": chance, "kind": cfg.kind,
         "networks": nets, "complete": all(r["n"] == [cfg.repeats] * len(r["sigma"]) for n in nets
                                           for r in n["rows"])}
    a["claims"] = _claims(a, cfg)
    return clean_json(a)


def _by(net: dict, method: str, q: QatSpec | None = None) -> dict | None:
    return next((r for r in net["rows"] if r["key"] == [method, qat_key(q)]), None)


def _claims(a: dict, cfg) -> list[dict[str, Any]]:
    """The papers' conclusions, each checked per network on midpoints and per noise level."""
    out = []
    for net in a["networks"]:
        flt, noisy = _by(net, "float"), _by(net, "noisy")
        for q in cfg.qat:
            qat, both = _by(net, "qat", q), _by(net, "qat+noisy", q)
            for name, x, y in ((f"{q.name} more robust than float", qat, flt),
                               (f"noisy training more robust than {q.name}", noisy, qat),
                               (f"{q.name} + noisy training more robust than noisy training",
                                both, noisy)):
                if x is None or y is None:
                    continue
                per_sigma = [compare(interval(mx, hx), interval(my, hy))
                             for mx, hx, my, hy in zip(x["mean"], x["ci"], y["mean"], y["ci"], strict=True)]
                out.append({"network": net["label"], "claim": name,
                            "midpoint": compare(midpoint_interval(x["midpoint"]),
                                                midpoint_interval(y["midpoint"])),
                            "paired": _paired_verdict(_paired_ratio(x, y)),
                            "wins": per_sigma.count(">"), "losses": per_sigma.count("<"),
                            "not_separated": per_sigma.count("~") + per_sigma.count("?"),
                            "ratio": _paired_ratio(x, y)})
    return out


def _paired_verdict(r: dict) -> str:
    """'>' / '<' when the interval of the paired ratio lies above / below 1, '~' when it holds 1."""
    if r["status"] != "ok":
        return "?"
    return compare(tuple(r["ci"]), (1.0, 1.0))


_WORDS = {">": "yes", "<": "no, the opposite", "~": "not separated", "?": "cannot tell"}


def _verdict(c: dict) -> str:
    r = c["ratio"]
    paired = (f"paired midpoint ratio {r['value']:.3g} [{r['ci'][0]:.3g}, {r['ci'][1]:.3g}]: "
              f"{_WORDS[c['paired']]}" if r["status"] == "ok" else f"paired midpoint ratio: {r['status']}")
    return (f"{c['network']}: {paired}; unpaired midpoint intervals: {_WORDS[c['midpoint']]}; per noise "
            f"level higher at {c['wins']}, lower at {c['losses']}, not separated at {c['not_separated']}")


def _own_rows(profile: str) -> str:
    from crossbar.devices import load

    return f"{load(profile).tile_rows} (the profile's own)"


def _across(same: list[dict]) -> str:
    """Compare the paired midpoint ratios of one claim between networks (intervals separate or not)."""
    parts = []
    for i, x in enumerate(same):
        for y in same[i + 1:]:
            rx, ry = x["ratio"], y["ratio"]
            if rx["status"] != "ok" or ry["status"] != "ok":
                parts.append(f"{x['network']} vs {y['network']}: cannot tell (censored midpoints)")
                continue
            verdict = compare(tuple(rx["ci"]), tuple(ry["ci"]))
            parts.append(f"{x['network']} vs {y['network']}: " + {
                ">": f"larger on {x['network']}", "<": f"larger on {y['network']}",
                "~": "not separated", "?": "cannot tell"}[verdict])
    return "; ".join(parts)


def _markdown(a: dict, figures: list[str]) -> str:
    cfg = harden_from_dict(a["config"])
    grid = cfg.grid.values
    lines = [f"# Hardening: QAT vs noisy training on {a['data']['name']}", "",
             f"- {a['data']['train']['n']} training, {a['data']['test']['n']} test samples; "
             f"{cfg.repeats} repeats "
             f"(seeds); {cfg.epochs} epochs, {cfg.optimizer} lr {cfg.lr:g}, batch {cfg.batch_size}",
             f"- global {cfg.kind} noise at every position; noisy training uses the evaluation sigma; "
             "QAT: weights signed b-bit (max-abs scale per channel), activations unsigned b-bit with a "
             "constant step: " + ", ".join(q.name for q in cfg.qat),
             "- accuracies in %: mean ± half-width of the 95 % interval over repeats; a comparison is called "
             "only when the intervals do not overlap"]
    if not a["complete"]:
        lines += ["", "**Incomplete run**: rerun the same command to finish it."]
    for net in a["networks"]:
        lines += ["", f"## {net['label']}: accuracy under global {cfg.kind} noise", "",
                  "| method | clean | " + " | ".join(f"sigma {fmt_sigma(s)}" for s in grid) + " | midpoint |",
                  "|---|---|" + "---|" * len(grid) + "---|"]
        for row in net["rows"]:
            clean = fmt_acc(row["clean"]["mean"], row["clean"]["ci"]) if row["clean"] else "-"
            cells = [fmt_acc(m, h) for m, h in zip(row["mean"], row["ci"], strict=True)]
            lines.append(f"| {row['method']} | {clean} | " + " | ".join(cells)
                         + f" | {midpoint_cell(row['midpoint'])} |")
    cb_rows = [(n["label"], r) for n in a["networks"] for r in n["rows"] if r.get("crossbar")]
    if cb_rows:
        keys = list(dict.fromkeys((e["profile"], e["levels"]) for _, r in cb_rows for e in r["crossbar"]))
        lines += ["", "## On crossbar arrays (no Gaussian noise): continuous vs 2^(b-1) levels per device",
                  "",
                  "| network | method | " + " | ".join(
                      f"{p}, {'continuous' if lv is None else f'{lv} levels'}" for p, lv in keys) + " |",
                  "|---|---|" + "---|" * len(keys)]
        heights = {}
        for label, row in cb_rows:
            by = {(e["profile"], e["levels"]): e for e in row["crossbar"]}
            lines.append(f"| {label} | {row['method']} | " + " | ".join(
                fmt_acc(by[k]["mean"], by[k]["ci"]) if k in by else "-" for k in keys) + " |")
            for e in row["crossbar"]:
                heights.setdefault(label, {})[e["profile"]] = e["tile_rows"]
        lines += ["", "Tile heights (rows): " + "; ".join(
            f"{label}: " + ", ".join(f"{p} {_own_rows(p) if h is None else h}" for p, h in hs.items())
            for label, hs in heights.items())
            + f". Test images: the first {cfg.crossbar.limit_test or a['data']['test']['n']}."]
    lines += ["", "## The papers' conclusions, checked", ""]
    for claim in dict.fromkeys(c["claim"] for c in a["claims"]):
        same = [c for c in a["claims"] if c["claim"] == claim]
        lines.append(f"- **{claim}?** " + "; ".join(_verdict(c) for c in same))
        if claim.startswith("noisy training") and len(same) > 1:
            lines.append("  - **advantage larger on one network?** " + _across(same))
    if figures:
        lines += ["", "## Figures", ""] + [f"- [{f}]({f})" for f in figures]
    return "\n".join(lines) + "\n"


def write_harden_report(out: str | Path, *, plots: bool = True) -> list[Path]:
    """Write harden.json, harden.md and (``plots``) the figures of a results folder."""
    from .plots import harden_figures

    return write_report_files(out, "harden", analyse_harden, _markdown, harden_figures, plots)
