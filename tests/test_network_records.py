"""docs/results/networks: every configured record is present and made by its config, and the
README's tables are the records' (written by summary.py from their JSON)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from crossbar.yamlio import read_yaml

FOLDER = Path(__file__).resolve().parents[1] / "docs" / "results" / "networks"


def test_every_configured_record_is_there_and_made_by_its_config():
    configs = sorted(FOLDER.glob("*.yaml"))
    readme = (FOLDER / "README.md").read_text()
    not_run = readme.partition("Configured, not run:")[2].split("\n\n", 1)[0]
    assert configs
    for path in configs:
        cfg = read_yaml(path)
        record = FOLDER / path.stem
        if not record.exists():  # allowed only where the README says so
            assert f"({path.name})" in not_run, f"{path.name} has no record and is not listed as not run"
            continue
        if path.stem.endswith("-sweep"):
            t = json.loads((record / "tables.json").read_text())
            assert (t["model"], t["data"], t["source"]) == (cfg["model"], cfg["data"], cfg["noise"])
            assert t["sigma_val"] == cfg["sigma_val"] and t["runs"] == cfg["runs"]
        elif path.stem.endswith("-budget"):
            d = json.loads((record / "report.json").read_text())
            assert d["profile"] == cfg["profile"] and d["model"]["name"] == cfg["train"]["model"]
            assert sorted(map(int, d["thresholds"])) == sorted(cfg["votes"])
        else:
            w = json.loads((record / "walk.json").read_text())
            assert w["model"]["name"] == cfg["model"] and w["complete"]
            assert {m["kind"] for m in w["midpoints"]} == set(cfg["kinds"])


def test_the_readme_tables_are_written_from_the_records():
    done = subprocess.run([sys.executable, str(FOLDER / "summary.py"), "--check"], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout + done.stderr
