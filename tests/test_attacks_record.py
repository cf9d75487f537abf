"""The published attack record (docs/results/attacks-mnist5k/) is current: it was made by the
config next to it, its report.md is what the code writes from its report.json, and its
README.md is what attacks_compare.py makes from them. Nothing here compares our accuracies
with the paper's."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import yaml

from crossbar.attacks import load_config
from crossbar.attacks.report import markdown

RESULTS = Path(__file__).parent.parent / "docs" / "results"
RECORD = RESULTS / "attacks-mnist5k"


def _report() -> dict:
    return json.loads((RECORD / "report.json").read_text())


def test_the_record_was_made_by_the_config_beside_it():
    cfg = load_config(RESULTS / "attacks-mnist5k.yaml")
    rep = _report()
    assert rep["config_hash"] == cfg.hash()
    assert rep["config"] == cfg.to_dict() | {"out": None, "threads": None}


def test_the_records_report_md_is_what_the_code_writes_from_its_json():
    cfg = load_config(RESULTS / "attacks-mnist5k.yaml")
    summary = {k: v for k, v in _report().items() if k not in ("config", "config_hash", "paper")}
    assert (RECORD / "report.md").read_text() == markdown(cfg, summary)


def test_the_results_page_is_generated_from_the_report():
    spec = importlib.util.spec_from_file_location("attacks_compare", RESULTS / "attacks_compare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    paper = yaml.safe_load((RESULTS / "qin2018_published.yaml").read_text())
    expected = module.page(_report(), paper, "attacks-mnist5k.yaml")
    assert (RECORD / "README.md").read_text() == expected


def test_every_accuracy_of_the_record_carries_its_interval():
    rep = _report()
    rows = rep["blackbox"] + rep["natural"] + rep.get("whitebox", [])
    assert len(rep["blackbox"]) == len(rep["config"]["sigma_val"])
    for r in rows:
        lo, hi = r["wilson"]
        assert 0.0 <= lo <= r["mean"] <= hi <= 1.0
        assert len(r["accuracy"]) == rep["config"]["runs"]
    for r in rep["blackbox"][1:]:
        g = r["gain"]
        assert g["low"] <= g["mean"] <= g["high"]
    assert 0.0 < rep["linf_max"] <= rep["config"]["attack"]["eps"]
