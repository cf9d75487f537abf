"""The files a noise budget keeps in its output folder: the folder claim and the resume cache.

``<out>/.crossbar-budget`` marks a folder as a budget's (or the demo's, or an exploration's): a
folder that holds other files and no marker is refused, so ``--out`` never
overwrites someone else's report. The resume cache
``<out>/cache/evaluations-<profile>-<key>.json`` holds, for every (s, K)
evaluated so far, the number of correct test inputs of each programmed chip
(``{"s", "k", "n", "correct": [c_0, c_1, ...]}``); ``key`` is a digest of
everything that decides an accuracy, by content (``BudgetConfig.evaluation_key``).
A cache file that cannot be read, has another key or holds a malformed entry is discarded with a
:class:`CacheDiscardedWarning` naming the file, and every accuracy is
computed again: never a crash, never a silent reuse.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from crossbar.atomic import atomic_write_json, atomic_write_text, safe_name

__all__ = ["MARKER", "CacheDiscardedWarning", "ForeignFolderError", "cache_path", "claim_folder",
           "read_cache", "write_cache"]

MARKER = ".crossbar-budget"
# What a budget, the demo or an exploration writes into its folder (a folder holding only these is ours).
_OWN = {MARKER, "cache", "model", "report.md", "report.json", "pareto.png", "latency.png",
        "accuracy_vs_noise.png", "points", "front.png", ".explore-lock"}


class ForeignFolderError(ValueError):
    """The output folder holds files that a budget did not write."""


class CacheDiscardedWarning(UserWarning):
    """A resume cache could not be trusted and was ignored (the message names the file)."""


def claim_folder(out: str | Path, allow: Iterable[str | Path] = ()) -> Path:
    """Create ``out`` (or accept it as a budget folder); refuse a file or a folder with other
    content. ``allow``: files that may be there too (the budget's own checkpoint)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"output folder {out} is a file; choose a folder (--out)")
    out.mkdir(parents=True, exist_ok=True)
    if (out / MARKER).exists():
        return out
    mine = set(_OWN)
    for path in allow:
        path = Path(path).resolve()
        if path.parent == out.resolve():
            mine.add(path.name)
    other = sorted(p.name for p in out.iterdir() if p.name not in mine)
    if other:
        shown = ", ".join(other[:5]) + (", ..." if len(other) > 5 else "")
        raise ForeignFolderError(
            f"output folder {out} holds other files ({shown}) and no {MARKER}; choose a new or "
            "empty folder (--out) so nothing there is overwritten")
    atomic_write_text(out / MARKER, "a crossbar-sim noise-budget folder (reports, caches, models)\n")
    return out


def cache_path(out: str | Path, profile_name: str, key: str) -> Path:
    """Where the accuracies of one (profile, key) are kept; the name cannot leave ``out``."""
    return Path(out) / "cache" / f"evaluations-{safe_name(profile_name)}-{safe_name(key)}.json"


def _entry_problem(name: Any, e: Any) -> str | None:
    if not isinstance(e, dict):
        return f"entry {name!r} is not an object"

    def count(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    s, k, n = e.get("s"), e.get("k"), e.get("n")
    if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s) or s < 0:
        return f"entry {name!r} has scale s = {s!r}"
    if not count(k) or k < 1:
        return f"entry {name!r} has vote count k = {k!r}"
    if name != f"{float(s)!r}|{k}":
        return f"entry {name!r} holds s = {s!r}, k = {k!r}"
    if not count(n) or n < 1:
        return f"entry {name!r} has {n!r} test inputs"
    correct = e.get("correct")
    if not isinstance(correct, list) or not correct or not all(count(c) and 0 <= c <= n for c in correct):
        return f"entry {name!r} has per-chip counts of correct inputs {correct!r} (0..{n} each)"
    return None


def read_cache(path: Path, key: str) -> dict[str, dict]:
    """The cached accuracies of ``key`` in ``path`` ({} if there are none or they cannot be trusted)."""
    if not path.exists():
        return {}
    problem = None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:  # unreadable, not UTF-8, not JSON
        problem = f"not a readable cache ({type(err).__name__})"
        data = None
    if problem is None:
        if not isinstance(data, dict) or not isinstance(data.get("evaluations"), dict):
            problem = "not a cache object with 'key' and 'evaluations'"
        elif data.get("key") != key:
            problem = f"its key {data.get('key')!r} is not this run's {key!r}"
        else:
            problem = next((p for n, e in data["evaluations"].items()
                            if (p := _entry_problem(n, e)) is not None), None)
    if problem is not None:
        warnings.warn(f"{path}: {problem[:200]}; the cache is discarded and every accuracy "
                      "computed again", CacheDiscardedWarning, stacklevel=2)
        return {}
    return {n: dict(e) for n, e in data["evaluations"].items()}


def write_cache(path: Path, key: str, evaluations: dict[str, dict]) -> None:
    """Write the cache atomically (a crash leaves the previous complete file)."""
    atomic_write_json(path, {"key": key, "evaluations": evaluations})
