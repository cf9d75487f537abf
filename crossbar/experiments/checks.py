"""Validation of configuration values for sweeps, budgets and the demo.

Each helper checks one value and raises :class:`ConfigError` with one line
naming the key, what is allowed and what was given; numbers come back as
Python ``int`` / ``float``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "ConfigError",
    "fail",
    "integer",
    "interval",
    "mapping_keys",
    "number",
    "overrides",
    "string",
    "vote_counts",
]


class ConfigError(ValueError):
    """An invalid configuration (the message names the key)."""


def fail(key: str, allowed: str, got: Any) -> None:
    raise ConfigError(f"config key '{key}': expected {allowed}, got {got!r}")


def integer(key: str, v: Any, lo: int, optional: bool = False) -> int | None:
    """An integer >= lo (not a bool); None passes with ``optional``."""
    if v is None and optional:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        fail(key, f"an integer >= {lo}" + (" or null" if optional else ""), v)
    return int(v)


def number(key: str, v: Any, lo: float | None = None, hi: float | None = None,
           lo_open: bool = False, optional: bool = False) -> float | None:
    """A finite number in [lo, hi] ((lo, hi] with ``lo_open``); None passes with ``optional``."""
    if v is None and optional:
        return None
    rng = ""
    if lo is not None:
        rng += f" {'>' if lo_open else '>='} {lo:g}"
    if hi is not None:
        rng += (" and" if lo is not None else "") + f" <= {hi:g}"
    what = "a number" + rng + (" or null" if optional else "")
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        fail(key, what, v)
    v = float(v)
    if lo is not None and (v < lo or (lo_open and v == lo)):
        fail(key, what, v)
    if hi is not None and v > hi:
        fail(key, what, v)
    return v


def string(key: str, v: Any, choices: Sequence[str] | None = None, optional: bool = False) -> str | None:
    """A non-empty string, one of ``choices`` if given; None passes with ``optional``."""
    if v is None and optional:
        return None
    if not isinstance(v, str) or not v:
        fail(key, "a non-empty string" + (" or null" if optional else ""), v)
    if choices is not None and v not in choices:
        fail(key, "one of " + ", ".join(choices), v)
    return v


def mapping_keys(key: str, d: Any, cls) -> dict:
    """``d`` as a dict whose keys are all fields of the dataclass ``cls`` (key "" = top level)."""
    allowed = [f.name for f in dataclasses.fields(cls)]
    if not isinstance(d, Mapping):
        fail(key or "(top level)", "a mapping with keys " + ", ".join(allowed), d)
    for k in d:
        if k not in allowed:
            where = f"{key}.{k}" if key else str(k)
            fail(where, "no such key; allowed: " + ", ".join(allowed), k)
    return dict(d)


def vote_counts(key: str, v: Any) -> tuple[int, ...]:
    """Distinct vote counts K in 1..1000 (a single int allowed), sorted, with 1 added."""
    if isinstance(v, int) and not isinstance(v, bool):
        v = [v]
    if not isinstance(v, (list, tuple)) or not v:
        fail(key, "a non-empty list of distinct integers >= 1 (1 is always added)", v)
    out = []
    for k in v:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1 or k > 1000:
            fail(key, "a list of distinct integers in 1..1000", v)
        out.append(int(k))
    if len(set(out)) != len(out):
        fail(key, "distinct values", v)
    return tuple(sorted(set(out) | {1}))


def interval(key: str, v: Any) -> tuple[float, float]:
    """[lo, hi] with 0 < lo < hi."""
    if not isinstance(v, (list, tuple)) or len(v) != 2:
        fail(key, "[lo, hi] with 0 < lo < hi", v)
    lo = number(f"{key}[0]", v[0], 0.0, lo_open=True)
    hi = number(f"{key}[1]", v[1], 0.0, lo_open=True)
    if not lo < hi:
        fail(key, "[lo, hi] with 0 < lo < hi", v)
    return lo, hi


def overrides(key: str, v: Any) -> dict:
    """A mapping of device-profile field names to values (None: no overrides)."""
    if v is None:
        return {}
    if not isinstance(v, Mapping) or not all(isinstance(k, str) for k in v):
        fail(key, "a mapping of profile field names to values", v)
    return dict(v)
