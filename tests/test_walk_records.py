"""The published Walking Noise and hardening records (docs/results/walk-*/, harden-*/) are current:
each was made by the config beside it, and its Markdown page is what the code writes from its
JSON. Nothing here compares our accuracies with the papers'."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from crossbar.walk.config import load_harden_config, load_walk_config
from crossbar.walk.harden_report import _markdown as harden_markdown
from crossbar.walk.report import _markdown as walk_markdown

RESULTS = Path(__file__).parent.parent / "docs" / "results"
KINDS = {"walk": (load_walk_config, walk_markdown), "harden": (load_harden_config, harden_markdown)}
RECORDS = sorted((p.parent.name, p.stem) for stem in KINDS for p in RESULTS.glob(f"*/{stem}.json"))
records = pytest.mark.parametrize(("name", "stem"), RECORDS)


def _analysis(name: str, stem: str) -> dict:
    return json.loads((RESULTS / name / f"{stem}.json").read_text())


def test_the_walk_and_harden_records_are_found():
    assert {stem for _, stem in RECORDS} == set(KINDS)


@records
def test_the_record_was_made_by_the_config_beside_it(name, stem):
    load, _ = KINDS[stem]
    expected = load(RESULTS / f"{name}.yaml").to_dict()
    for local in ("out", "threads", "keep_models"):  # where and how it ran, not what it computed
        expected.pop(local)
    assert _analysis(name, stem)["config"] == expected
    assert _analysis(name, stem)["complete"] is True


@records
def test_the_records_page_is_what_the_code_writes_from_its_json(name, stem):
    _, markdown = KINDS[stem]
    page = (RESULTS / name / f"{stem}.md").read_text()
    figures = re.findall(r"^- \[(figures/[^\]]+)\]", page, flags=re.M)
    assert sorted(figures) == sorted(f"figures/{p.name}" for p in (RESULTS / name / "figures").iterdir())
    assert page == markdown(_analysis(name, stem), figures)


# The summary page's midpoint tables (docs/results/walking-noise.md): record -> the methods of its columns.
SUMMARY = {"harden-mnist5k": ["float", "QAT 4-bit, step 0.25", "QAT 4-bit, step 1", "QAT 8-bit, step 1",
                              "noisy training", "QAT 4-bit, step 0.25 + noisy training"],
           "harden-fashion-mnist": ["float", "QAT 4-bit, step 0.25", "QAT 4-bit, step 1", "noisy training",
                                    "QAT 4-bit, step 0.25 + noisy training",
                                    "QAT 4-bit, step 1 + noisy training"]}
NETWORKS = {"mlp3": "MLP, 3 hidden", "mlp6": "MLP, 6 hidden", "lenet5": "LeNet-5"}


@pytest.mark.parametrize("name", sorted(SUMMARY))
def test_the_summary_page_holds_the_records_midpoints(name):
    page = (RESULTS / "walking-noise.md").read_text()
    for net in _analysis(name, "harden")["networks"]:
        by = {row["method"]: row["midpoint"] for row in net["rows"]}
        cells = [f"{by[m]['value']:.2f} [{by[m]['ci'][0]:.2f}, {by[m]['ci'][1]:.2f}]" for m in SUMMARY[name]]
        assert f"| {NETWORKS[net['label']]} | " + " | ".join(cells) + " |" in page
