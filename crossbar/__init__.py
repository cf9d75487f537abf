"""crossbar-sim: analog in-memory computing on resistive crossbar arrays.

Map trained weights onto conductance arrays of real device profiles, compute
MVMs with programming and read noise, run the Qin & Vucinic networks and
voting on top, and report accuracy, latency, energy and noise budgets.
"""

from __future__ import annotations

import os
import sys
from importlib import import_module
from pathlib import Path

if "torch" not in sys.modules and "OMP_WAIT_POLICY" not in os.environ:  # libgomp reads it when torch
    os.environ.setdefault("GOMP_SPINCOUNT", "1000")  # loads it; see SPIN_NOTE

from crossbar import _layout  # noqa: E402

_layout.install(Path(__file__).resolve().parent)  # devices/, models/ of a checkout (see _layout)

from crossbar import devices  # noqa: E402
from crossbar.read.array import CrossbarArray  # noqa: E402

__version__ = "0.1.0"

SPIN_NOTE = """Torch's OpenMP workers spin about 300,000 rounds after each parallel region before
they sleep, on the cores the read kernels' plain threads and other processes need; on a
shared 2-core machine that cost the noisy read and the training step several times their
work (docs/performance.md, "Two threads"). Imported before torch, crossbar-sim lets them spin
1,000 rounds unless GOMP_SPINCOUNT (or OMP_WAIT_POLICY) is set already. No result depends on it."""

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
