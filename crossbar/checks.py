"""The generic value checks of every input crossbar-sim reads, with one error format.

Each checker validates one value and either returns it as a plain Python
type or raises :class:`CheckError`, whose message is one line::

    FILE: key 'KEY': PROBLEM (got VALUE); allowed: ALLOWED

(``FILE`` when known; the value shown is a bounded ``repr``, never a whole
document). The pieces are kept as attributes (``file``, ``key``, ``value``,
``allowed``) so a caller can add the file later (:meth:`CheckError.in_file`).

This module imports nothing from crossbar: device profiles (``devices/``),
the cost model and the experiment configs can all build on it.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "MAX_INT",
    "CheckError",
    "check_keys",
    "choice",
    "integer",
    "join",
    "mapping",
    "one_line",
    "real",
    "shown",
    "suggest",
    "text",
]

MAX_INT = 10**9
"""Default upper bound of integer settings: larger counts are typing errors, and
unbounded integers overflow in NumPy, torch and C (OverflowError)."""

_MISSING = object()
_SHOWN_CHARS = 60


def shown(value: Any, limit: int = _SHOWN_CHARS) -> str:
    """``repr(value)`` cut to about ``limit`` characters (an error quotes a value, not a file)."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not hide the error itself
        return f"<{type(value).__name__}>"
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text):,} characters)"


class CheckError(ValueError):
    """An invalid input value; the message names file, key, value and what is allowed."""

    def __init__(self, file: str | None, key: str | None, problem: str, value: Any = _MISSING,
                 allowed: str | None = None) -> None:
        self.file = file
        self.key = key
        self.problem = problem
        self.has_value = value is not _MISSING
        self.value = value if self.has_value else None
        self.allowed = allowed
        super().__init__(self._message())

    def _message(self) -> str:
        parts = [f"{self.file}: " if self.file else ""]
        if self.key is not None:
            parts.append(f"key {shown(str(self.key))}: ")
        parts.append(self.problem)
        if self.has_value:
            parts.append(f" (got {shown(self.value)})")
        if self.allowed:
            parts.append(f"; allowed: {self.allowed}")
        return "".join(parts)

    def in_file(self, file: str) -> CheckError:
        """This error with ``file`` named (when it names none yet)."""
        if not self.file:
            self.file = str(file)
            self.args = (self._message(),)
        return self


def suggest(word: Any, valid: Iterable[str]) -> str:
    """' (did you mean X?)' for the closest valid word, or ''."""
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(valid), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def join(prefix: str, key: Any) -> str:
    """The dotted key ``prefix.key`` (``key`` alone at the top level)."""
    return f"{prefix}.{key}" if prefix else str(key)


def _range_text(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    if lo is None and hi is None:
        return "any finite number"
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_open else '>='} {lo:g}")
    if hi is not None:
        parts.append(f"{'<' if hi_open else '<='} {hi:g}")
    return " and ".join(parts)


def real(file: str | None, key: str, value: Any, *, lo: float | None = None,
         hi: float | None = None, lo_open: bool = False, hi_open: bool = False) -> float:
    """A finite real number (not a bool) within [lo, hi] (open ends where asked), as float."""
    allowed = "a finite number" + ("" if lo is None and hi is None
                                    else " " + _range_text(lo, hi, lo_open, hi_open))
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise CheckError(file, key, "must be a number", value, allowed)
    try:
        x = float(value)
    except OverflowError:  # an int beyond the float range
        raise CheckError(file, key, "out of range", value, allowed) from None
    if not math.isfinite(x):
        raise CheckError(file, key, "must be finite (NaN and infinity are refused)", value, allowed)
    too_low = lo is not None and (x <= lo if lo_open else x < lo)
    too_high = hi is not None and (x >= hi if hi_open else x > hi)
    if too_low or too_high:
        raise CheckError(file, key, "out of range", value, allowed)
    return x


def integer(file: str | None, key: str, value: Any, *, lo: int | None = None,
            hi: int | None = MAX_INT) -> int:
    """An integer (not a bool, not a float) within [lo, hi], as int."""
    allowed = ("any integer" if lo is None and hi is None
               else f"an integer >= {lo}" if hi is None
               else f"an integer <= {hi}" if lo is None
               else f"an integer {lo}..{hi}")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise CheckError(file, key, "must be an integer", value, allowed)
    n = int(value)
    if (lo is not None and n < lo) or (hi is not None and n > hi):
        raise CheckError(file, key, "out of range", value, allowed)
    return n


def choice(file: str | None, key: str, value: Any, options: Iterable[str]) -> str:
    """One of ``options`` (a string)."""
    options = tuple(options)
    if not isinstance(value, str) or value not in options:
        raise CheckError(file, key, "not a valid choice" + suggest(value, options), value,
                         "one of " + ", ".join(options))
    return value


def text(file: str | None, key: str, value: Any, *, max_length: int = 4096) -> str:
    """A non-empty string (not only blanks), at most ``max_length`` characters."""
    if not isinstance(value, str) or not value.strip():
        raise CheckError(file, key, "must be a non-empty string", value)
    if len(value) > max_length or "\x00" in value:
        raise CheckError(file, key, "not a usable string", value,
                         f"at most {max_length:,} characters, no NUL")
    return value


def mapping(file: str | None, key: str, value: Any) -> Mapping:
    """A mapping with string keys."""
    if not isinstance(value, Mapping):
        raise CheckError(file, key or None, "must be a mapping of keys to values", value)
    for k in value:
        if not isinstance(k, str):
            raise CheckError(file, key or None, "keys must be strings", k)
    return value


def check_keys(file: str | None, prefix: str, data: Mapping, required: Iterable[str],
               optional: Iterable[str] = ()) -> None:
    """Refuse unknown keys (suggesting the closest valid one) and missing required keys."""
    required = tuple(required)
    valid = required + tuple(optional)
    for k in data:
        if k not in valid:
            raise CheckError(file, join(prefix, k), "unknown key" + suggest(k, valid),
                             allowed=", ".join(valid))
    for k in required:
        if k not in data:
            raise CheckError(file, join(prefix, k), "required key is missing")


def one_line(err: BaseException, limit: int = 400) -> str:
    """``str(err)`` as one line of at most about ``limit`` characters, a long quoted value
    (``err.value``, as the errors of devices/ carry) shortened: an error quotes a value,
    never a whole file."""
    msg = str(err)
    value = getattr(err, "value", None)
    if isinstance(value, (str, bytes, list, dict, tuple)):
        full = repr(value)
        if len(full) > 80 and full in msg:
            msg = msg.replace(full, shown(value))
    msg = " ".join(msg.split())
    return msg if len(msg) <= limit else f"{msg[: limit - 30]}... ({len(msg):,} characters)"
