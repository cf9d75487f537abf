"""Argument checks shared by the cost modules: clear ValueErrors, never silent NaNs."""

from __future__ import annotations

import math
import numbers


def positive_int(name: str, value, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum`` (bools and non-integral numbers refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def finite(name: str, value, minimum: float | None = None, strict: bool = False) -> float:
    """``value`` as a finite float, optionally >= (or > with ``strict``) ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    if minimum is not None:
        if strict and not v > minimum:
            raise ValueError(f"{name} must be > {minimum}, got {v}")
        if not strict and not v >= minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {v}")
    return v


def profile_number(profile, name: str, notes: list[str], default: float = 0.0) -> float:
    """A non-negative finite profile field; a missing/None field counts as ``default``, noted."""
    value = getattr(profile, name, None)
    if value is None:
        notes.append(f"profile has no {name}: taken as {default:g}")
        return default
    return finite(f"profile.{name}", value, minimum=0.0)


def profile_int(profile, name: str) -> int:
    """A required positive integer profile field (tile geometry, ADC sharing)."""
    value = getattr(profile, name, None)
    if value is None:
        raise ValueError(f"profile {getattr(profile, 'name', '?')!r} has no {name}")
    return positive_int(f"profile.{name}", value)
