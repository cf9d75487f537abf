"""Lookups on the finished-cell records of a sweep, shared by its tables and its figures."""

from __future__ import annotations

from typing import Any


def by_cell(records: list[dict[str, Any]]) -> dict[tuple[float, float], dict[str, Any]]:
    """Records keyed by their cell (sigma_train, sigma_val)."""
    return {(r["sigma_train"], r["sigma_val"]): r for r in records}


def vote_meanings(records: list[dict[str, Any]]) -> list[str]:
    """The vote meanings (fresh, reread, ...) present in the records, in order of appearance."""
    seen: list[str] = []
    for r in records:
        for m in r.get("votes", {}):
            if m not in seen:
                seen.append(m)
    return seen


def voted_accuracy(record: dict[str, Any], meaning: str, rule: str, k: int) -> float:
    """Mean accuracy of one cell with k votes of the given meaning and rule."""
    return record["votes"][meaning][rule]["mean"][k - 1]
