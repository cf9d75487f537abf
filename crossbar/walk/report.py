"""The Walking Noise report: curves, midpoints and learning dynamics from a results folder.

Everything here is computed from the stored records alone (``run.json`` and
``results.jsonl``), so the report of an interrupted-and-resumed run equals that
of an uninterrupted one. Written files: ``walk.json`` (every number),
``walk.md`` (tables) and, with ``plots``, the figures under ``figures/``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from crossbar.atomic import atomic_write_text

from .config import walk_from_dict
from .fit import clean_json
from .midpoint import compare, find_midpoint, interval, mean_ci, midpoint_interval, summarize_midpoints
from .store import IDENTITY_FILE, RESULTS_FILE, task_key

__all__ = ["analyse_walk", "fmt_acc", "fmt_sigma", "load_run", "midpoint_cell", "write_report_files",
           "write_walk_report"]


def load_run(out: str | Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(identity, records by key) of a results folder, read without locking it."""
    out = Path(out)
    path = out / IDENTITY_FILE
    if not path.exists():
        raise FileNotFoundError(f"{out} is not a results folder (no {IDENTITY_FILE})")
    saved = json.loads(path.read_text())
    records: dict[str, dict[str, Any]] = {}
    results = out / RESULTS_FILE
    if results.exists():
        for line in results.read_text().splitlines():
            if line.strip():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a torn last line: cut off when the run resumes
                if rec.get("run") == saved["hash"]:
                    records[rec["key"]] = rec
    return saved["identity"], records


def fmt_sigma(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3g}"


def fmt_acc(mean: float, half: float) -> str:
    """An accuracy in % with the half-width of its 95 % interval."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "n/a"
    if half is None or math.isnan(half):
        return f"{100 * mean:.1f}"
    return f"{100 * mean:.1f} ± {100 * half:.1f}"


def _per_epoch(series: list[list[float]], n: int | None = None) -> dict[str, list]:
    arr = np.array([[np.nan if v is None else v for v in s] for s in series], dtype=float)
    stats = [mean_ci(col[~np.isnan(col)].tolist(), n) for col in arr.T]
    return {"mean": [m for m, _ in stats], "ci": [h for _, h in stats]}


def analyse_walk(identity: dict[str, Any], records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Every number of the report (see module doc)."""
    cfg = walk_from_dict(identity["config"])
    n_test = identity["data"]["test"]["n"]
    chance = identity["chance"]
    positions = identity["positions"]
    pos_idx = list(cfg.positions or range(len(positions)))
    clean = {r: records[task_key("clean", r)] for r in range(cfg.repeats) if task_key("clean", r) in records}
    clean_acc = [clean[r]["accuracy"] for r in sorted(clean)]
    levels = {r: (clean[r]["accuracy"] + chance) / 2 for r in clean}
    out: dict[str, Any] = {
        "config": identity["config"], "model": identity["model"], "data": identity["data"],
        "positions": positions, "chance": chance,
        "clean": dict(zip(("mean", "ci"), mean_ci(clean_acc, n_test), strict=True)) | {"values": clean_acc},
        "half_level": dict(zip(("mean", "ci"), mean_ci(list(levels.values()), n_test), strict=True)),
        "curves": [], "midpoints": [], "dynamics": [], "complete": True,
    }
    for mode in cfg.modes:
        for kind in cfg.kinds:
            grid = cfg.grid_for(mode, kind)
            for p in pos_idx:
                def acc(s: float, r: int, m=mode, k=kind, p=p) -> float:
                    return records[task_key("point", m, k, p, s, r)]["accuracy"]
                curve = {"mode": mode, "kind": kind, "position": p, "sigma": list(grid), "mean": [], "ci": [],
                         "n": [], "points": []}
                for s in grid:
                    vals = [acc(s, r) for r in range(cfg.repeats)
                            if task_key("point", mode, kind, p, s, r) in records]
                    m, h = mean_ci(vals, n_test)
                    curve["mean"].append(m)
                    curve["ci"].append(h)
                    curve["n"].append(len(vals))
                crossings = []
                for r in range(cfg.repeats):
                    try:
                        c = find_midpoint(lambda s, r=r: acc(s, r), grid, levels[r], cfg.bisect)
                    except KeyError:
                        out["complete"] = False
                        continue
                    crossings.append(c)
                    curve["points"] += [[s, a, r] for s, a in c.points if s not in grid]
                out["curves"].append(curve)
                summary = summarize_midpoints(crossings) if crossings else {"status": "missing"}
                out["midpoints"].append({"mode": mode, "kind": kind, "position": p, **summary})
                if mode == "training":
                    out["dynamics"] += _dynamics(records, kind, p, grid, cfg.repeats)
    if clean:
        runs = [clean[r]["summary"] for r in sorted(clean)]
        out["clean_dynamics"] = {
            key: _per_epoch([s[key] for s in runs]) for key in ("growth", "binarisation")
        } | {"test_acc": _per_epoch([clean[r]["history"]["test_acc"] for r in sorted(clean)])}
    out["claims"] = _claims(out, cfg)
    return clean_json(out)


def _claims(a: dict[str, Any], cfg) -> list[dict[str, Any]]:
    """Walking Noise's conclusions, per noise kind, counted over positions (intervals must separate).

    * noisy training raises robustness: training-mode midpoint above the inference-mode one;
    * additive noise raises weight magnitudes / multiplicative noise binarises the weights:
      after the last epoch, the growth / B of some training sigma lies above clean training's.
    """
    out = []
    mids = {(m["mode"], m["kind"], m["position"]): m for m in a["midpoints"]}
    positions = sorted({m["position"] for m in a["midpoints"]})
    if set(cfg.modes) == {"inference", "training"}:
        for kind in cfg.kinds:
            verdicts = [compare(midpoint_interval(mids[("training", kind, p)]),
                                midpoint_interval(mids[("inference", kind, p)])) for p in positions]
            out.append({"claim": "noisy training raises the midpoint", "kind": kind,
                        "positions": len(positions),
                        **{w: verdicts.count(c) for w, c in (("higher", ">"), ("lower", "<"),
                                                              ("not_separated", "~"), ("cannot_tell", "?"))}})
    clean = a.get("clean_dynamics")
    if a["dynamics"] and clean:
        for measure in ("growth", "binarisation"):
            ref = interval(clean[measure]["mean"][-1], clean[measure]["ci"][-1])
            for kind in cfg.kinds:
                rows = [d for d in a["dynamics"] if d["kind"] == kind]
                final = {id(d): interval(d[measure]["mean"][-1], d[measure]["ci"][-1]) for d in rows}
                above = sorted({d["position"] for d in rows if compare(final[id(d)], ref) == ">"})
                best = max(rows, key=lambda d: d[measure]["mean"][-1], default=None)
                name = {"growth": "weight magnitude (largest growth)", "binarisation": "weight binarisation"}
                out.append({"claim": f"noisy training raises the {name[measure]}", "kind": kind,
                            "positions": len({d["position"] for d in rows}), "higher_at": above,
                            "largest": None if best is None else {
                                "position": best["position"], "sigma": best["sigma"],
                                "mean": best[measure]["mean"][-1], "ci": best[measure]["ci"][-1]},
                            "clean": {"mean": clean[measure]["mean"][-1], "ci": clean[measure]["ci"][-1]}})
    return out


def _claims_markdown(claims: list[dict[str, Any]]) -> list[str]:
    lines = ["", "## The paper's conclusions, checked", "",
             "Counted over positions; a difference counts only when the 95 % intervals separate.", ""]
    for c in claims:
        if "higher" in c:
            lines.append(f"- **{c['claim']}**, {c['kind']} noise: higher at {c['higher']} of "
                         f"{c['positions']} positions, lower at {c['lower']}, not separated at "
                         f"{c['not_separated']}, not comparable (mixed censoring) at {c['cannot_tell']}")
        else:
            big = c["largest"]
            where = "" if big is None else (f"; largest {big['mean']:.3g} ± {big['ci']:.2g} at position "
                                            f"{big['position']}, sigma {fmt_sigma(big['sigma'])}")
            lines.append(f"- **{c['claim']}** above clean training ({c['clean']['mean']:.3g} ± "
                         f"{c['clean']['ci']:.2g}), {c['kind']} noise: at {len(c['higher_at'])} of "
                         f"{c['positions']} positions {c['higher_at']}{where}")
    return lines


def _dynamics(records: dict, kind: str, p: int, grid: tuple[float, ...], repeats: int) -> list[dict]:
    rows = []
    for s in grid:
        recs = [records[k] for r in range(repeats)
                if (k := task_key("point", "training", kind, p, s, r)) in records]
        if not recs:
            continue
        rows.append({
            "kind": kind, "position": p, "sigma": s, "n": len(recs),
            "growth": _per_epoch([r["summary"]["growth"] for r in recs]),
            "binarisation": _per_epoch([r["summary"]["binarisation"] for r in recs]),
            "test_acc": _per_epoch([r["history"]["test_acc"] for r in recs]),
        })
    return rows


def midpoint_cell(m: dict[str, Any]) -> str:
    status = m.get("status")
    if status == "ok":
        lo, hi = m["ci"]
        return fmt_sigma(m["value"]) + ("" if lo is None else f" [{fmt_sigma(lo)}, {fmt_sigma(hi)}]")
    if status == "above":
        return f"> {fmt_sigma(m['bound'])}"
    if status == "below":
        return f"< {fmt_sigma(m['bound'])}"
    if status == "mixed":
        return f"mixed ({m['censored_above']} above, {m['censored_below']} below of {m['repeats']})"
    return "missing"


def _markdown(a: dict[str, Any], figures: list[str]) -> str:
    cfg = walk_from_dict(a["config"])
    labels = {p["index"]: (p["op"] if p["name"] == "input" else f"{p['op']} `{p['name']}`")
              for p in a["positions"]}
    lines = [
        f"# Walking Noise: {cfg.model} on {a['data']['name']}", "",
        f"- data: {a['data']['train']['n']} training, {a['data']['test']['n']} test samples; "
        f"chance level {100 * a['chance']:.1f} %",
        f"- clean accuracy {fmt_acc(a['clean']['mean'], a['clean']['ci'])} % "
        f"(mean ± 95 % interval over {cfg.repeats} repeats); half level "
        f"{fmt_acc(a['half_level']['mean'], a['half_level']['ci'])} %",
        f"- training: {cfg.epochs} epochs, {cfg.optimizer} lr {cfg.lr:g}, batch {cfg.batch_size}"
        + (f", against `{hw['profile']}` (hardware-aware: {', '.join(hw['effects'])})"
           if (hw := a["config"].get("hardware")) else "") + "; "
        f"combined noise ratio r = {cfg.ratio:g} (sigma_add = r sigma, sigma_mult = (1 - r) sigma)",
        f"- midpoint: first crossing of the half level on the log grid, {cfg.bisect} bisection steps, "
        "log-linear interpolation; geometric mean over repeats [95 % interval, t on log10]",
    ]
    for mode in cfg.modes:
        for kind in cfg.kinds:
            g = (cfg.training_grid if mode == "training" else cfg.grid)[kind]
            lines.append(f"- grid {mode}/{kind}: {g.min:g} .. {g.max:g}, {g.per_decade} per decade")
    if not a["complete"]:
        lines += ["", "**Incomplete run**: some points are missing; rerun the same command to finish it."]
    cols = [(m, k) for k in cfg.kinds for m in cfg.modes]
    lines += ["", "## Midpoint noise level per position", "",
              "| position | " + " | ".join(f"{k}, {m}" for m, k in cols) + " |",
              "|---|" + "---|" * len(cols)]
    mids = {(m["mode"], m["kind"], m["position"]): m for m in a["midpoints"]}
    for p in sorted({m["position"] for m in a["midpoints"]}):
        cells = " | ".join(midpoint_cell(mids[(m, k, p)]) for m, k in cols)
        lines.append(f"| {p} {labels[p]} | {cells} |")
    if a["dynamics"]:
        lines += ["", "## Learning dynamics (noisy training, after the last epoch)", "",
                  "Largest weight growth over tensors (mean|w| relative to the initial weights) and largest "
                  "binarisation B = (mean|w|)^2 / mean(w^2) over Conv/Linear tensors (1: all weights +-c; "
                  "0.75 at initialisation), mean ± 95 % interval over repeats. Clean training ends at growth "
                  f"{_fmt(a['clean_dynamics']['growth'])}, "
                  f"B {_fmt(a['clean_dynamics']['binarisation'])}.", ""]
        for kind in cfg.kinds:
            rows = [d for d in a["dynamics"] if d["kind"] == kind]
            sigmas = sorted({d["sigma"] for d in rows})
            shown = [s for s in sigmas if abs(math.log10(s) - round(math.log10(s))) < 1e-9] or sigmas
            lines += [f"**{kind}** (growth / B)", "",
                      "| position | " + " | ".join(f"sigma {fmt_sigma(s)}" for s in shown) + " |",
                      "|---|" + "---|" * len(shown)]
            by = {(d["position"], d["sigma"]): d for d in rows}
            for p in sorted({d["position"] for d in rows}):
                cells = [f"{_fmt(by[(p, s)]['growth'], 2)} / {_fmt(by[(p, s)]['binarisation'], 2)}"
                         if (p, s) in by else "n/a" for s in shown]
                lines.append(f"| {p} {labels[p]} | " + " | ".join(cells) + " |")
            lines.append("")
    if a.get("claims"):
        lines += _claims_markdown(a["claims"])
    if figures:
        lines += ["", "## Figures", ""] + [f"- [{f}]({f})" for f in figures]
    return "\n".join(lines) + "\n"


def _fmt(series: dict[str, list], digits: int = 3) -> str:
    m, h = series["mean"][-1], series["ci"][-1]
    if m is None:
        return "n/a"
    return f"{m:.{digits}g}" + ("" if h is None else f" ± {h:.{digits}g}")


def write_report_files(out: str | Path, stem: str, analyse, markdown, figures, plots: bool) -> list[Path]:
    """``<stem>.json`` (compact, 6 significant digits), ``<stem>.md`` and (``plots``) the
    figures of a results folder: ``analyse(identity, records)`` gives the analysis,
    ``markdown(analysis, figure paths)`` the page, ``figures(analysis, folder)`` the PNGs."""
    out = Path(out)
    a = analyse(*load_run(out))
    files = figures(a, out / "figures") if plots else []
    rel = [str(f.relative_to(out)) for f in files]
    rounded = clean_json(a, 6)  # the page shows what the JSON holds (rounded once, not twice)
    text = json.dumps(rounded, separators=(",", ":"), allow_nan=False)
    files.insert(0, atomic_write_text(out / f"{stem}.json", text + "\n"))
    files.insert(1, atomic_write_text(out / f"{stem}.md", markdown(rounded, rel)))
    return files


def write_walk_report(out: str | Path, *, plots: bool = True) -> list[Path]:
    """Write walk.json, walk.md and (``plots``) the figures of a results folder."""
    from .plots import walk_figures

    return write_report_files(out, "walk", analyse_walk, _markdown, walk_figures, plots)
