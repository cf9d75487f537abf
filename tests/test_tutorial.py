"""docs/tutorial.md: the page shows the tutorial's files as they are, and its commands run (tiny settings)."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from crossbar.yamlio import read_yaml

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "examples" / "tutorial"
DOC = ROOT / "docs" / "tutorial.md"


def _regenerate():
    spec = importlib.util.spec_from_file_location("regenerate_docs", FOLDER / "regenerate_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _block(doc: str, kind: str, name: str) -> str:
    m = re.search(rf"<!-- {kind}: {re.escape(name)} -->\n```\w+\n(.*?)```", doc, re.S)
    assert m, f"docs/tutorial.md has no {kind} block {name}"
    return m.group(1)


def test_the_page_shows_the_tutorial_files_as_they_are():
    doc = DOC.read_text()
    for name in _regenerate().FILES:
        assert _block(doc, "file", name) == (FOLDER / name).read_text().rstrip() + "\n", name


def _tiny(folder: Path) -> None:
    """The tutorial's configs on tiny settings (same keys, less data, fewer epochs and draws)."""
    sweep = read_yaml(folder / "sweep.yaml")
    sweep.update(epochs=1, limit_train=200, limit_test=40, runs=2, votes=2, sigma_val=[0.0, 1.0])
    (folder / "sweep.yaml").write_text(json.dumps(sweep))  # JSON is YAML
    budget = read_yaml(folder / "budget.yaml")
    budget["train"].update(epochs=1, limit=200)
    budget.update(test_limit=20, votes=[1], noise_range=[1.0, 8.0], rel_tol=1.0, max_evaluations=4,
                  plots=False)
    (folder / "budget.yaml").write_text(json.dumps(budget))


def test_the_tutorial_commands_run(tmp_path):
    regen = _regenerate()
    doc = DOC.read_text()
    todo = regen.commands(doc)
    assert set(todo) == {"placement", "placement.kind", "sweep", "sweep.kind", "budget", "budget.kind",
                         "measure", "measure.kind", "fit-device", "fit-device.kind", "compare",
                         "compare.kind"}
    for name in regen.FILES:
        shutil.copy(FOLDER / name, tmp_path / name)
    _tiny(tmp_path)
    # the Python snippet prints exactly what the page shows (it trains nothing)
    out, _ = regen.run(todo["placement.kind"], todo["placement"], tmp_path)
    assert out == _block(doc, "output", "placement")
    # the commands, as the page writes them, run from the folder (my_net imports from there)
    exe = str(Path(sys.executable).parent / "crossbar-sim")
    for name, expected in [("sweep", [r"^\d cells in runs/tutorial-sweep/results.jsonl$",
                                      r"^\| best noise-injected training \|", r"^wrote: tables.md"]),
                           ("budget", [r"^reram: digital accuracy [\d.]+ %",
                                       r"^  K =   1: accuracy at s = 1 .*tolerable noise scale",
                                       r"^report: runs/tutorial-budget/report.md$"])]:
        command = todo[name]
        assert command == f"crossbar-sim {name} {name}.yaml"
        done = subprocess.run([exe, *command.split()[1:]], cwd=tmp_path, capture_output=True, text=True,
                              timeout=900)
        assert done.returncode == 0, done.stderr[-2000:]
        for pattern in expected:
            assert re.search(pattern, done.stdout, re.M), (pattern, done.stdout)
            assert re.search(pattern, _block(doc, "output", name), re.M), pattern  # the page, too


def test_your_device_section_runs_as_the_page_shows(tmp_path):
    """Section 6: the measurement file the page writes, fit-device on it, the comparison."""
    regen = _regenerate()
    doc = DOC.read_text()
    todo = regen.commands(doc)
    out, _ = regen.run(todo["measure.kind"], todo["measure"], tmp_path)
    assert out == _block(doc, "output", "measure")
    assert todo["fit-device"] == "crossbar-sim fit-device measurements.csv --out my_device.yaml --base pcm"
    out, _ = regen.run(todo["fit-device.kind"], todo["fit-device"], tmp_path)
    assert out == _block(doc, "output", "fit-device")
    assert (tmp_path / "my_device_fit.md").is_file() and (tmp_path / "my_device_fit.png").is_file()
    out, _ = regen.run(todo["compare.kind"], todo["compare"], tmp_path)
    assert out == _block(doc, "output", "compare")
