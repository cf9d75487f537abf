"""Argument checks of the cost modules, on the generic checks of :mod:`crossbar.checks`:
clear ValueErrors (``CheckError``), never silent NaNs."""

from __future__ import annotations

from crossbar import checks


def positive_int(name: str, value, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum`` (bools and non-integral numbers refused)."""
    return checks.integer(None, name, value, lo=minimum, hi=None)


def finite(name: str, value, minimum: float | None = None, strict: bool = False) -> float:
    """``value`` as a finite float, optionally >= (or > with ``strict``) ``minimum``."""
    return checks.real(None, name, value, lo=minimum, lo_open=strict)


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
