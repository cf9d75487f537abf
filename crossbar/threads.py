"""One place that decides how the Numba kernels share the machine with torch.

Numba's OpenMP threading layer shares the cores with torch's own OpenMP
runtime, and each parallel Numba launch resets that runtime's thread count
to Numba's: torch's BLAS then silently runs with a different number of
threads than ``torch.get_num_threads()`` says, and float results change with
the thread count. Every parallel kernel in crossbar-sim therefore runs inside
:func:`torch_threads`, which gives Numba torch's thread count and restores
torch's setting afterwards, one launch at a time per process (Dask workers
may be threads of one process). The kernels of a read (DAC, noise + ADC) and
those that run between torch operations in training (the noise-injection
generator) are serial and GIL-free, their tasks split over plain threads by
:func:`run_split`: idle plain threads sleep, where Numba's OpenMP workers spin
on the cores torch's next product needs (docs/performance.md, "Two threads").
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numba
import torch

_LAUNCH = threading.RLock()
_POOL: ThreadPoolExecutor | None = None
_POOL_SIZE = 0
_POOL_LOCK = threading.Lock()


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


def run_split(fn: Callable[[int, int], None], n: int, min_part: int = 1 << 16) -> None:
    """Run ``fn(lo, hi)`` over [0, n) in parts on plain threads, one per torch thread.

    For serial GIL-free kernels (``nogil=True``) between torch operations,
    e.g. the noise-injection draws: plain threads sleep when idle, where a
    second OpenMP pool would spin against torch's. Part boundaries are even,
    so a kernel that draws normals in pairs gives the same bits however
    ``n`` is split. ``fn`` must write disjoint outputs per part.
    """
    global _POOL, _POOL_SIZE
    parts = min(torch.get_num_threads(), max(1, n // min_part))
    if parts <= 1:
        fn(0, n)
        return
    with _POOL_LOCK:
        if _POOL_SIZE < parts:
            _POOL = ThreadPoolExecutor(max_workers=parts, thread_name_prefix="crossbar-split")
            _POOL_SIZE = parts
        pool = _POOL
    step = -(-n // parts)
    step += step % 2
    bounds = [(lo, min(n, lo + step)) for lo in range(step, n, step)]
    futures = [pool.submit(fn, lo, hi) for lo, hi in bounds]
    fn(0, min(n, step))
    for f in futures:
        f.result()


def run_rows(fn: Callable[[int, int], None], rows: int, row_size: int, part_values: int = 1 << 16) -> None:
    """:func:`run_split` over ``rows`` rows of ``row_size`` values each, a part at least
    ``part_values`` values: for kernels that compute each row alone (the same bits at any split)."""
    run_split(fn, rows, min_part=max(1, part_values // max(1, row_size)))
