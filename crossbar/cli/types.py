"""Argument types of the command line: bounded integers and finite numbers (argparse ``type=``)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from crossbar.checks import MAX_INT

__all__ = ["count", "finite"]


def count(lo: int = 1, hi: int = MAX_INT) -> Callable[[str], int]:
    """An integer in [lo, hi] (unbounded integers overflow in torch and NumPy)."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text[:40]!r}") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"expected an integer {lo}..{hi}, got {text[:40]}")
        return v

    return parse


def finite(lo: float | None = None, lo_open: bool = False) -> Callable[[str], float]:
    """A finite number >= lo (> lo with ``lo_open``)."""

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text[:40]!r}") from None
        if not math.isfinite(v) or (lo is not None and (v < lo or (lo_open and v == lo))):
            bound = "" if lo is None else f" {'>' if lo_open else '>='} {lo:g}"
            raise argparse.ArgumentTypeError(f"expected a finite number{bound}, got {text[:40]}")
        return v

    return parse
