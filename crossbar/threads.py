"""One place that decides how the Numba kernels share the machine with torch.

Numba's OpenMP threading layer shares the cores with torch's own OpenMP
runtime, and each parallel Numba launch resets that runtime's thread count
to Numba's: torch's BLAS then silently runs with a different number of
threads than ``torch.get_num_threads()`` says, and float results change with
the thread count. Every parallel kernel in crossbar-sim therefore runs inside
:func:`torch_threads`, which gives Numba torch's thread count and restores
torch's setting afterwards, one launch at a time per process (Dask workers
may be threads of one process). Kernels that run between torch operations in
training (the noise-injection generator) are serial and need none of this.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numba
import torch

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


def set_threads(n: int) -> None:
    """Run torch, and through :func:`torch_threads` the Numba kernels, on ``n`` threads."""
    torch.set_num_threads(max(1, int(n)))


@contextmanager
def limit_threads(n: int | None) -> Iterator[None]:
    """Compute on ``n`` threads inside the block (None: leave the setting alone).

    Torch's and Numba's OpenMP pools wait for every thread at the end of each
    parallel region; when other processes share the cores, a descheduled
    thread stalls both pools (measured on a shared 2-core machine, one forward
    of 200 digits through the analog CNN: 7 s with 2 threads, 0.9 s with 1).
    Results do not depend on the thread count (counter-based random numbers).
    """
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    set_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
