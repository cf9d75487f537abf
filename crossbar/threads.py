"""One place that decides how the Numba kernels share the machine with torch.

Numba's default OpenMP layer loads the system libgomp next to torch's own,
and two OpenMP runtimes whose idle threads spin stall each other on a small
machine; a Numba launch also resets torch's libgomp thread count, so torch's
BLAS silently changes its thread count (and its float rounding). crossbar-sim
therefore asks Numba for its ``workqueue`` layer (idle threads sleep), runs
every parallel kernel inside :func:`torch_threads` with torch's thread count,
and serialises launches, since that layer allows one launch at a time per
process (Dask workers may be threads of one process).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numba
import torch

# Takes effect if no parallel Numba kernel has run in this process yet.
numba.config.THREADING_LAYER = "workqueue"

_LAUNCH = threading.RLock()


@contextmanager
def torch_threads() -> Iterator[None]:
    """Run Numba kernels one launch at a time with torch's thread count."""
    with _LAUNCH:
        n = torch.get_num_threads()
        numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
        try:
            yield
        finally:
            torch.set_num_threads(n)
