"""Validation helpers shared by the profile parser: one error class, small typed checkers.

Every checker takes the file being read and the dotted key being checked, so a
failure can say where it happened, what was found and what is allowed.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

_MISSING = object()


class ProfileError(ValueError):
    """A device profile (file, dictionary or override) is invalid.

    The message names the file, the dotted key, the offending value and what is
    allowed; the same pieces are kept as attributes (``file``, ``key``,
    ``value``, ``allowed``) for programs that want them.
    """

    def __init__(
        self,
        file: str,
        key: str | None,
        problem: str,
        value: Any = _MISSING,
        allowed: str | None = None,
    ) -> None:
        self.file = file
        self.key = key
        self.value = None if value is _MISSING else value
        self.allowed = allowed
        where = f"{file}: {key}" if key else file
        message = f"{where}: {problem}"
        if value is not _MISSING:
            message += f" (got {value!r})"
        if allowed:
            message += f"; allowed: {allowed}"
        super().__init__(message)


class FrozenMap(Mapping):
    """A read-only, hashable mapping (keeps frozen dataclasses hashable)."""

    __slots__ = ("_data", "_hash")

    def __init__(self, data: Mapping | Iterable[tuple[Any, Any]] = ()) -> None:
        self._data = dict(data)
        self._hash: int | None = None

    def __getitem__(self, key: Any) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._data == dict(other.items())
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


def suggest(word: str, valid: Iterable[str]) -> str:
    """' (did you mean X?)' for the closest valid word, or ''."""
    close = difflib.get_close_matches(word, list(valid), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def mapping(file: str, key: str, value: Any) -> Mapping:
    if not isinstance(value, Mapping):
        raise ProfileError(file, key, "must be a mapping of keys to values", value)
    for k in value:
        if not isinstance(k, str):
            raise ProfileError(file, key, "keys must be strings", k)
    return value


def check_keys(
    file: str,
    prefix: str,
    data: Mapping,
    required: Iterable[str],
    optional: Iterable[str] = (),
) -> None:
    """Reject unknown keys (suggesting the closest valid one) and missing required keys."""
    required = tuple(required)
    valid = required + tuple(optional)
    for k in data:
        if k not in valid:
            raise ProfileError(
                file,
                join(prefix, k),
                "unknown key" + suggest(k, valid),
                allowed=", ".join(valid),
            )
    for k in required:
        if k not in data:
            raise ProfileError(file, join(prefix, k), "required key is missing")


def join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def real(
    file: str,
    key: str,
    value: Any,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    """A finite real number within [lo, hi] (open ends where asked)."""
    allowed = _interval(lo, hi, lo_open, hi_open)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ProfileError(file, key, "must be a number", value, allowed)
    x = float(value)
    if not math.isfinite(x):
        raise ProfileError(file, key, "must be finite (NaN and infinity are rejected)", value,
                           allowed)
    too_low = lo is not None and (x <= lo if lo_open else x < lo)
    too_high = hi is not None and (x >= hi if hi_open else x > hi)
    if too_low or too_high:
        raise ProfileError(file, key, "out of range", value, allowed)
    return x


def integer(file: str, key: str, value: Any, *, lo: int | None = None,
            hi: int | None = None) -> int:
    """An integer (not a bool, not a float) within [lo, hi]."""
    allowed = ("any integer" if lo is None and hi is None
               else f"an integer >= {lo}" if hi is None
               else f"an integer <= {hi}" if lo is None
               else f"an integer {lo}..{hi}")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ProfileError(file, key, "must be an integer", value, allowed)
    n = int(value)
    if (lo is not None and n < lo) or (hi is not None and n > hi):
        raise ProfileError(file, key, "out of range", value, allowed)
    return n


def choice(file: str, key: str, value: Any, options: Iterable[str]) -> str:
    options = tuple(options)
    if not isinstance(value, str) or value not in options:
        hint = suggest(value, options) if isinstance(value, str) else ""
        raise ProfileError(file, key, "not a valid choice" + hint, value,
                           " | ".join(options))
    return value


def text(file: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ProfileError(file, key, "must be a non-empty string", value)
    return value


def real_pair(file: str, key: str, value: Any, *, lo: float | None = None) -> tuple[float, float]:
    """A two-element list [low, high] of finite numbers with low <= high."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ProfileError(file, key, "must be a list of two numbers [low, high]", value)
    a = real(file, f"{key}[0]", value[0], lo=lo)
    b = real(file, f"{key}[1]", value[1], lo=lo)
    if a > b:
        raise ProfileError(file, key, "low must not exceed high", value, "[low, high], low <= high")
    return a, b


def _interval(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    if lo is None and hi is None:
        return "any finite value"
    left = "(" if lo_open else "["
    right = ")" if hi_open else "]"
    a = "-inf" if lo is None else f"{lo:g}"
    b = "inf" if hi is None else f"{hi:g}"
    if lo is None:
        left = "("
    if hi is None:
        right = ")"
    return f"{left}{a}, {b}{right}"
