"""crossbar-sim: analog in-memory computing on resistive crossbar arrays.

Map trained weights onto conductance arrays of real device profiles, compute
MVMs with programming and read noise, run the Qin & Vucinic networks and
voting on top, and report accuracy, latency, energy and noise budgets.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

from crossbar import _layout

_layout.install(Path(__file__).resolve().parent)  # devices/, models/ of a checkout (see _layout)

from crossbar import devices  # noqa: E402
from crossbar.read.array import CrossbarArray  # noqa: E402

__version__ = "0.1.0"

# Heavier entry points are imported on first use.
_LAZY = {
    "train": "crossbar.training",
    "convert": "crossbar.nn",
    "summary": "crossbar.nn",
}

__all__ = ["CrossbarArray", "devices", "train", "convert", "summary", "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'crossbar' has no attribute {name!r}")
