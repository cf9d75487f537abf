"""Validation helpers of the profile parser: the generic checks of :mod:`crossbar.checks`
raising :class:`ProfileError`, plus what only profiles need (frozen maps, pairs, noise bounds).

Every checker takes the file being read and the dotted key being checked, so a
failure can say where it happened, what was found and what is allowed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from crossbar import checks as _generic
from crossbar.checks import CheckError, join, suggest

__all__ = ["FrozenMap", "ProfileError", "check_keys", "choice", "integer", "join", "mapping",
           "noise_is_bounded", "real", "real_pair", "suggest", "text"]


class ProfileError(CheckError):
    """A device profile (file, dictionary or override) is invalid.

    The one error format of :class:`crossbar.checks.CheckError`: the message
    names the file, the dotted key, the offending value (a bounded ``repr``,
    never a whole document) and what is allowed; the pieces are attributes
    (``file``, ``key``, ``value``, ``allowed``).
    """


def _profile_errors(check: Callable) -> Callable:
    """``check`` from :mod:`crossbar.checks`, raising :class:`ProfileError`."""

    @functools.wraps(check)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return check(*args, **kwargs)
        except ProfileError:
            raise
        except CheckError as err:
            value = (err.value,) if err.has_value else ()
            raise ProfileError(err.file, err.key, err.problem, *value, allowed=err.allowed) from None

    return wrapped


real = _profile_errors(_generic.real)
integer = _profile_errors(_generic.integer)
choice = _profile_errors(_generic.choice)
text = _profile_errors(_generic.text)
mapping = _profile_errors(_generic.mapping)
check_keys = _profile_errors(_generic.check_keys)


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


def real_pair(file: str, key: str, value: Any, *, lo: float | None = None) -> tuple[float, float]:
    """A two-element list [low, high] of finite numbers with low <= high."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ProfileError(file, key, "must be a list of two numbers [low, high]", value)
    a = real(file, f"{key}[0]", value[0], lo=lo)
    b = real(file, f"{key}[1]", value[1], lo=lo)
    if a > b:
        raise ProfileError(file, key, "low must not exceed high", value, "[low, high], low <= high")
    return a, b


# Largest standard deviation a noise law may give, in units of g_max: beyond it the
# normalised read variances overflow float32 in the products (1e3 g_max is already far
# outside any device; the bound exists to refuse coefficients such as 1e308).
NOISE_BOUND = 1e3


def noise_is_bounded(file: str, key: str, std: Callable[[np.ndarray], np.ndarray],
                     g_min: float, g_max: float) -> None:
    """Refuse a noise law whose std over [0, g_max] is not finite or exceeds NOISE_BOUND g_max."""
    g = np.concatenate([np.linspace(0.0, g_max, 65), [g_min]])
    with np.errstate(all="ignore"):
        sigma = np.asarray(std(g), dtype=np.float64)
    worst = float(np.max(sigma)) if np.all(np.isfinite(sigma)) else float("inf")
    if not worst <= NOISE_BOUND * g_max:
        raise ProfileError(file, key, "the noise law's standard deviation is not finite or "
                           f"exceeds {NOISE_BOUND:g} g_max over 0..g_max", worst,
                           f"at most {NOISE_BOUND * g_max:g} S")
