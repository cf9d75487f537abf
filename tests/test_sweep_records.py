"""The published sweep records (docs/results/mnist5k-mult, fashion-mnist-mult) are current: each
comparison.md is what compare.py makes from the record's tables.json and the published figures,
and docs/results/README.md shows those tables. Nothing here compares our accuracies with the
paper's."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

RESULTS = Path(__file__).parent.parent / "docs" / "results"
records = pytest.mark.parametrize("name", ["mnist5k-mult", "fashion-mnist-mult"])


def _compare():
    spec = importlib.util.spec_from_file_location("compare", RESULTS / "compare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@records
def test_comparison_md_is_made_from_the_records_tables(name):
    ours = json.loads((RESULTS / name / "tables.json").read_text(encoding="utf-8"))
    paper = yaml.safe_load((RESULTS / "qin2018_published.yaml").read_text(encoding="utf-8"))
    written = (RESULTS / name / "comparison.md").read_text(encoding="utf-8")
    assert written == _compare().comparison(ours, paper)


@records
def test_the_results_readme_shows_the_records_tables(name):
    table = [line for line in (RESULTS / name / "comparison.md").read_text(encoding="utf-8").splitlines()
             if line.startswith("| ")]
    readme = (RESULTS / "README.md").read_text(encoding="utf-8")
    assert "\n".join(table) in readme, f"docs/results/README.md lacks the current table of {name}"
