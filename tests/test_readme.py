"""The README's demo excerpt is the published demo report (docs/results/demo), not a stale copy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crossbar.report import readme_excerpt, replace_excerpt
from crossbar.report.demo_tables import (
    EXCERPT_BEGIN,
    EXCERPT_END,
    TABLES_BEGIN,
    TABLES_END,
    aging_table,
    cost_table,
    device_table,
    docs_tables,
)

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "docs" / "results" / "demo"


def _published() -> tuple[dict, dict | None]:
    data = json.loads((DEMO / "report.json").read_text(encoding="utf-8"))
    timing = DEMO / "timing.json"
    return data, (json.loads(timing.read_text(encoding="utf-8")) if timing.exists() else None)


def test_the_readme_excerpt_is_generated_from_the_published_report():
    data, timing = _published()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start, end = readme.index(EXCERPT_BEGIN), readme.index(EXCERPT_END) + len(EXCERPT_END)
    assert readme[start:end] == readme_excerpt(data, timing), (
        "README.md's demo excerpt differs from docs/results/demo/report.json: run "
        "`.venv/bin/python tools/publish_demo.py` (or tools/time_demo.sh)")
    assert (DEMO / "excerpt.md").read_text(encoding="utf-8").startswith(EXCERPT_BEGIN)
    doc = (ROOT / "docs" / "budget.md").read_text(encoding="utf-8")
    start, end = doc.index(TABLES_BEGIN), doc.index(TABLES_END) + len(TABLES_END)
    assert doc[start:end] == docs_tables(data), "stale tables in docs/budget.md: tools/publish_demo.py"


def test_the_published_report_holds_the_tables_of_its_json():
    data, _ = _published()
    report = (DEMO / "report.md").read_text(encoding="utf-8")
    for table in (device_table(data), aging_table(data), cost_table(data)):
        assert table and table in report
    for name in ("accuracy_vs_noise.png", "pareto.png", "latency.png", "aging.png"):
        assert (DEMO / name).stat().st_size > 0 and f"]({name})" in report


def test_replacing_the_excerpt_keeps_the_rest_and_needs_the_markers():
    text = f"head\n{EXCERPT_BEGIN}\nold\n{EXCERPT_END}\ntail\n"
    assert replace_excerpt(text, f"{EXCERPT_BEGIN}\nnew\n{EXCERPT_END}") == \
        f"head\n{EXCERPT_BEGIN}\nnew\n{EXCERPT_END}\ntail\n"
    with pytest.raises(ValueError, match="no demo excerpt markers"):
        replace_excerpt("no markers", "x")
