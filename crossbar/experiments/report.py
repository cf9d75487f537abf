"""Tables (Markdown, CSV, JSON) of a finished sweep, in the paper's formats.

* Tables 2, 3, 5, 6: for each sigma_val the accuracy of the noiselessly
  trained model (sigma_train = 0), the best accuracy over sigma_train and the
  sigma_train that gave it.
* Tables 7-9: the best accuracy without voting, the best with K votes and the
  sigma_train that gave it (one block per vote meaning).

Accuracies in the report files are percentages (the raw records in
``results.jsonl`` hold fractions). Ties for "best" go to the smallest
sigma_train.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from crossbar.atomic import atomic_write_text

from .cells import snr_db
from .config import SweepConfig
from .plots import write_figures
from .records import by_cell, vote_meanings, voted_accuracy

TABLE_FILES = ("tables.md", "tables.csv", "tables.json", "grid.csv", "grid.json", "votes.csv")


def _pct(v: float | None) -> float | None:
    return None if v is None else round(100.0 * v, 4)


def _best(values: list[tuple[float, float]]) -> tuple[float | None, float | None]:
    """(best value, its sigma_train) from (sigma_train, value) pairs, smallest sigma_train on ties."""
    best_v, best_st = None, None
    for st, v in sorted(values):
        if best_v is None or v > best_v:
            best_v, best_st = v, st
    return best_v, best_st


def summary(config: SweepConfig, records: list[dict[str, Any]]) -> dict[str, Any]:
    """The paper-format tables as one JSON-able dict."""
    grid = by_cell(records)
    sts, svs = config.sigma_train, config.sigma_val
    single: dict[str, list] = {"noiseless_trained": [], "best": [], "best_sigma_train": []}
    for sv in svs:
        noiseless = grid[(0.0, sv)]["accuracy_mean"] if 0.0 in sts else None
        best, best_st = _best([(st, grid[(st, sv)]["accuracy_mean"]) for st in sts])
        single["noiseless_trained"].append(_pct(noiseless))
        single["best"].append(_pct(best))
        single["best_sigma_train"].append(best_st)
    out: dict[str, Any] = {
        "model": config.model,
        "data": config.data,
        "source": config.source,
        "runs": config.runs,
        "sigma_val": list(svs),
        "snr_db": [_json_float(snr_db(sv, config.source)) for sv in svs],
        "single": single,
        "voting": {},
    }
    if config.votes:
        for m in vote_meanings(records):
            block: dict[str, Any] = {
                "rule": config.vote_rule,
                "votes": config.votes,
                "no_voting": list(single["best"]),
                "best_voting": [],
                "best_sigma_train": [],
            }
            for sv in svs:
                best, best_st = _best([
                    (st, voted_accuracy(grid[(st, sv)], m, config.vote_rule, config.votes))
                    for st in sts
                ])
                block["best_voting"].append(_pct(best))
                block["best_sigma_train"].append(best_st)
            out["voting"][m] = block
    return out


def _json_float(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else round(v, 3)


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    return f"{v:.2f}%" if isinstance(v, float) else str(v)


def markdown(config: SweepConfig, tables: dict[str, Any]) -> str:
    svs = tables["sigma_val"]
    head = "| sigma_val | " + " | ".join(f"{v:g}" for v in svs) + " |"
    rule = "| --- |" + " --- |" * len(svs)
    lines = [
        f"# Sweep: {config.model} on {config.data}, noise source {config.source}",
        "",
        f"Accuracy (%) on {'the whole test set' if config.limit_test is None else f'the first {config.limit_test} test inputs'}, "  # noqa: E501
        f"mean of {config.runs} noisy runs per cell. Best: the highest over "
        f"sigma_train in {list(config.sigma_train)}.",
        "",
        head,
        rule,
    ]
    if any(v is not None for v in tables["snr_db"]):
        lines.append("| SNR (dB) | " + " | ".join(
            "inf" if v is None else f"{v:.2f}" for v in tables["snr_db"]) + " |")
    s = tables["single"]
    lines += [
        "| noiseless training | " + " | ".join(_fmt(v) for v in s["noiseless_trained"]) + " |",
        "| best noise-injected training | " + " | ".join(_fmt(v) for v in s["best"]) + " |",
        "| sigma_train of best | " + " | ".join(f"{v:g}" for v in s["best_sigma_train"]) + " |",
    ]
    for m, block in tables["voting"].items():
        lines += [
            "",
            f"## Voting ({block['votes']} votes, {block['rule']} rule, vote meaning: {m})",
            "",
            head,
            rule,
            "| no voting | " + " | ".join(_fmt(v) for v in block["no_voting"]) + " |",
            "| best voting | " + " | ".join(_fmt(v) for v in block["best_voting"]) + " |",
            "| sigma_train of best | "
            + " | ".join(f"{v:g}" for v in block["best_sigma_train"]) + " |",
        ]
    return "\n".join(lines) + "\n"


def _csv(rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    return buf.getvalue()


def tables_csv(tables: dict[str, Any]) -> str:
    rows: list[list[Any]] = [["table", "row", *tables["sigma_val"]]]
    rows.append(["single", "snr_db", *tables["snr_db"]])
    for name in ("noiseless_trained", "best", "best_sigma_train"):
        rows.append(["single", name, *tables["single"][name]])
    for m, block in tables["voting"].items():
        for name in ("no_voting", "best_voting", "best_sigma_train"):
            rows.append([f"voting:{m}:{block['rule']}:{block['votes']}", name, *block[name]])
    return _csv(rows)


def grid_files(config: SweepConfig, records: list[dict[str, Any]]) -> tuple[str, str, str]:
    """(grid.csv, grid.json, votes.csv) texts: every cell, and every vote curve."""
    grid = by_cell(records)
    meanings = vote_meanings(records)
    rules = ("hard", "soft")
    head = ["sigma_train", "sigma_val", "snr_db", "accuracy_mean_pct", "accuracy_std_pct", "runs"]
    head += [f"vote_{m}_{r}_pct" for m in meanings for r in rules]
    rows: list[list[Any]] = [head]
    k = config.votes
    for st in config.sigma_train:
        for sv in config.sigma_val:
            r = grid[(st, sv)]
            rows.append([
                st, sv, _json_float(snr_db(sv, config.source)),
                _pct(r["accuracy_mean"]), _pct(r["accuracy_std"]), r["runs"],
                *[_pct(voted_accuracy(r, m, ru, k)) for m in meanings for ru in rules],
            ])
    mat = lambda f: [[f(grid[(st, sv)]) for sv in config.sigma_val]  # noqa: E731
                     for st in config.sigma_train]
    gj: dict[str, Any] = {
        "sigma_train": list(config.sigma_train),
        "sigma_val": list(config.sigma_val),
        "snr_db": [_json_float(snr_db(sv, config.source)) for sv in config.sigma_val],
        "accuracy_mean_pct": mat(lambda r: _pct(r["accuracy_mean"])),
        "accuracy_std_pct": mat(lambda r: _pct(r["accuracy_std"])),
        "votes": k,
        "vote_pct": {m: {ru: mat(lambda r, m=m, ru=ru: _pct(voted_accuracy(r, m, ru, k)))
                         for ru in rules} for m in meanings},
    }
    vrows: list[list[Any]] = [["sigma_train", "sigma_val", "meaning", "rule", "k",
                               "accuracy_mean_pct", "accuracy_std_pct", "groups"]]
    for st in config.sigma_train:
        for sv in config.sigma_val:
            r = grid[(st, sv)]
            for m in meanings:
                v = r["votes"][m]
                for ru in rules:
                    for i, kk in enumerate(v["k"]):
                        vrows.append([st, sv, m, ru, kk, _pct(v[ru]["mean"][i]),
                                      _pct(v[ru]["std"][i]), v[ru]["groups"][i]])
    return _csv(rows), json.dumps(gj, indent=1) + "\n", _csv(vrows)


def write_report(config: SweepConfig, records, out: str | Path, *, plots: bool = True) -> list[Path]:
    """Write tables, grids and (with ``plots``) figures of a complete sweep into ``out``."""
    records = list(records)
    out = Path(out)
    grid = by_cell(records)
    missing = [(st, sv) for st in config.sigma_train for sv in config.sigma_val
               if (st, sv) not in grid]
    if missing:
        raise ValueError(f"the sweep in {out} is not complete: {len(missing)} cells missing")
    tables = summary(config, records)
    grid_csv, grid_json, votes_csv = grid_files(config, records)
    texts = {
        "tables.md": markdown(config, tables),
        "tables.csv": tables_csv(tables),
        "tables.json": json.dumps(tables, indent=1) + "\n",
        "grid.csv": grid_csv,
        "grid.json": grid_json,
        "votes.csv": votes_csv,
    }
    files = []
    for name, text in texts.items():
        files.append(atomic_write_text(out / name, text))
    if plots:
        files += write_figures(config, records, out / "figures")
    return files
