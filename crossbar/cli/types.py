"""Argument types of the command line: bounded integers and finite numbers (argparse ``type=``), and
the arguments of commands that run on workers."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from crossbar.checks import MAX_INT

__all__ = ["count", "executor_arguments", "finite"]


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


def executor_arguments(parser: argparse.ArgumentParser, units: str) -> None:
    """``--workers``, ``--scheduler`` and ``--scheduler-timeout`` of a command whose ``units`` (the
    sweep's cells, an exploration's design points) run on local processes or on Dask."""
    parser.add_argument("--workers", type=count(1, 1024),
                        help="local worker processes (default: the config's 'workers')")
    parser.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                        help=f"run the {units} on this Dask scheduler instead of local processes")
    parser.add_argument("--scheduler-timeout", type=finite(0.0, lo_open=True), default=30.0,
                        metavar="SECONDS", help="give up connecting to --scheduler after this long "
                        "(default 30)")
