"""The published attack records (docs/results/attacks-*/) are current: each was made by the
config next to it, its report.md is what the code writes from its report.json, and its
README.md is what attacks_compare.py makes from them. Nothing here compares our accuracies
with the paper's."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from crossbar.attacks import load_config
from crossbar.attacks.report import markdown

RESULTS = Path(__file__).parent.parent / "docs" / "results"
RECORDS = ["attacks-mnist5k", "attacks-fashion-mnist"]
records = pytest.mark.parametrize("name", RECORDS)


def _report(name: str) -> dict:
    return json.loads((RESULTS / name / "report.json").read_text())


@records
def test_the_record_was_made_by_the_config_beside_it(name):
    cfg = load_config(RESULTS / f"{name}.yaml")
    rep = _report(name)
    assert rep["config_hash"] == cfg.hash()
    assert rep["config"] == cfg.to_dict() | {"out": None, "threads": None}


@records
def test_the_records_report_md_is_what_the_code_writes_from_its_json(name):
    cfg = load_config(RESULTS / f"{name}.yaml")
    summary = {k: v for k, v in _report(name).items() if k not in ("config", "config_hash", "paper")}
    assert (RESULTS / name / "report.md").read_text() == markdown(cfg, summary)


@records
def test_the_results_page_is_generated_from_the_report(name):
    spec = importlib.util.spec_from_file_location("attacks_compare", RESULTS / "attacks_compare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    paper = yaml.safe_load((RESULTS / "qin2018_published.yaml").read_text())
    expected = module.page(_report(name), paper, f"{name}.yaml")
    assert (RESULTS / name / "README.md").read_text() == expected


@records
def test_every_accuracy_of_the_record_carries_its_interval(name):
    rep = _report(name)
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
