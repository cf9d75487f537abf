"""Run the tutorial and write its real output into docs/tutorial.md.

    python examples/tutorial/regenerate_docs.py

Copies this folder's files to a fresh temporary folder, runs every command the
tutorial shows there (the ``crossbar-sim`` lines of its ``bash`` blocks and its
``python`` snippet), and replaces the text between ``<!-- output: NAME -->``
and ``<!-- end -->`` with what they printed, and the text between
``<!-- file: NAME -->`` and ``<!-- end -->`` with the files themselves. The
run time of each command and the machine are written after its output.
``tests/test_tutorial.py`` runs the same commands on tiny settings and checks
that the page still shows these files.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOC = HERE.parents[1] / "docs" / "tutorial.md"
FILES = ("my_net.py", "sweep.yaml", "budget.yaml")
BLOCK = re.compile(r"(<!-- (output|file): ([\w.-]+) -->\n)(.*?)(<!-- end -->)", re.S)


def commands(doc: str) -> dict[str, str]:
    """Output name -> the command whose output goes there: the shell line or Python block just above."""
    found = {}
    for m in re.finditer(r"```(bash|python)\n((?:(?!```).)*)```\n+<!-- output: ([\w.-]+) -->", doc, re.S):
        kind, body, name = m.groups()
        found[name] = body.strip() if kind == "python" else next(
            line for line in body.splitlines() if line.startswith("crossbar-sim "))
        found[name + ".kind"] = kind
    return found


def run(kind: str, command: str, cwd: Path) -> tuple[str, float]:
    """(stdout, seconds) of one command run in ``cwd`` (the installed crossbar-sim, this Python)."""
    exe = Path(sys.executable).parent / "crossbar-sim"
    args = [sys.executable, "-c", command] if kind == "python" else [str(exe), *command.split()[1:]]
    t0 = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{command!r} failed:\n{done.stderr[-2000:]}")
    return done.stdout, time.perf_counter() - t0


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} CPU cores, {platform.machine()}, load average {load:.1f} at the start"


def main() -> None:
    doc = DOC.read_text()
    todo = commands(doc)
    outputs = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in FILES:
            shutil.copy(HERE / name, folder / name)
        where = machine()
        for name in [n for n in todo if not n.endswith(".kind")]:
            text, seconds = run(todo[name + ".kind"], todo[name], folder)
            note = "" if todo[name + ".kind"] == "python" else (
                f"\n(run time {seconds:.0f} s on {where})\n")
            outputs[name] = f"```text\n{text.rstrip()}\n```\n{note}"

    def fill(m: re.Match) -> str:
        head, kind, name, _, end = m.groups()
        if kind == "file":
            lang = "python" if name.endswith(".py") else "yaml"
            return f"{head}```{lang}\n{(HERE / name).read_text().rstrip()}\n```\n{end}"
        return f"{head}{outputs[name]}{end}" if name in outputs else m.group(0)

    DOC.write_text(BLOCK.sub(fill, doc))
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
