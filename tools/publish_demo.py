"""Publish a demo run: copy its report into docs/results/demo/ and regenerate the README excerpt.

    .venv/bin/python tools/publish_demo.py [REPORT_DIR] [--timing TIMING.json]

REPORT_DIR (default demo-report) is the output folder of `crossbar-sim demo`
(`make demo`). report.md, report.json, excerpt.md and the figures are copied to
docs/results/demo/; the README block between the excerpt markers is replaced by
crossbar.report.readme_excerpt of that report.json (and of the timing of
`make demo` from a clean checkout, if given: tools/time_demo.sh writes it), and
the demo tables of docs/budget.md likewise. tests/test_readme.py fails when the
README or docs/budget.md and docs/results/demo disagree.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from crossbar.report import readme_excerpt, update_block
from crossbar.report.demo_tables import EXCERPT_BEGIN, EXCERPT_END, TABLES_BEGIN, TABLES_END, docs_tables

ROOT = Path(__file__).resolve().parent.parent
DEST = ROOT / "docs" / "results" / "demo"
FILES = ("report.md", "report.json", "excerpt.md", "accuracy_vs_noise.png", "pareto.png", "latency.png",
         "aging.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", nargs="?", default="demo-report")
    parser.add_argument("--timing", help="timing.json of `make demo` from a clean checkout")
    args = parser.parse_args(argv)
    src = Path(args.report)
    missing = [f for f in FILES if not (src / f).is_file()]
    if missing:
        print(f"publish_demo: {src} lacks {', '.join(missing)}; run `make demo` first", file=sys.stderr)
        return 2
    DEST.mkdir(parents=True, exist_ok=True)
    for f in FILES:
        shutil.copyfile(src / f, DEST / f)
    if args.timing:
        shutil.copyfile(args.timing, DEST / "timing.json")
    data = json.loads((DEST / "report.json").read_text(encoding="utf-8"))
    timing = DEST / "timing.json"
    excerpt = readme_excerpt(data, json.loads(timing.read_text()) if timing.exists() else None)
    update_block(ROOT / "README.md", excerpt, EXCERPT_BEGIN, EXCERPT_END, label="demo excerpt")
    update_block(ROOT / "docs" / "budget.md", docs_tables(data), TABLES_BEGIN, TABLES_END,
                 label="demo tables")
    print(f"published {src} to {DEST.relative_to(ROOT)}; regenerated the README excerpt and the tables "
          "of docs/budget.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
