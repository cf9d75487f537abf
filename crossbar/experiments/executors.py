"""Where the units of work of an experiment run: here, in local processes, or on Dask.

Every executor has the same four methods (submit, wait_any, result, close)
and runs every task with one torch thread, so all of them compute with the
same kernels. Local worker processes die with the process that started them:
a sweep killed with SIGKILL leaves no orphaned workers behind. On Dask, a
worker lost while it runs a task is survived: the scheduler runs the task
again on another worker (its ``allowed-failures``, 3 by default), and as every
task is a pure function of its inputs the result is the same.
"""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from crossbar.threads import limit_threads, set_threads

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent(parent: int) -> None:
    """End this worker when ``parent`` dies: the kernel's parent-death signal on
    Linux, and everywhere a watchdog thread that notices being re-parented."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):  # pragma: no cover - no prctl in this libc
            pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
    threading.Thread(target=watch, name="crossbar-parent-watch", daemon=True).start()


def _worker_init(parent: int) -> None:
    _die_with_parent(parent)
    set_threads(1)


def _call_single_threaded(fn: Callable[[Any], Any], task: Any) -> Any:
    """Dask entry point: a Dask worker runs every task with one torch thread."""
    set_threads(1)
    return fn(task)


class _Serial:
    """Runs tasks in this process, one at a time, when they are waited for."""

    def __init__(self) -> None:
        self._queue: list[tuple[cf.Future, Callable, Any]] = []

    def submit(self, fn: Callable, task: Any) -> cf.Future:
        fut: cf.Future = cf.Future()
        self._queue.append((fut, fn, task))
        return fut

    def wait_any(self, pending: set) -> tuple[set, set]:
        for i, (fut, fn, task) in enumerate(self._queue):
            if fut in pending:
                del self._queue[i]
                with limit_threads(1):
                    try:
                        fut.set_result(fn(task))
                    except BaseException as err:  # noqa: BLE001 - re-raised by .result()
                        fut.set_exception(err)
                return {fut}, pending - {fut}
        raise RuntimeError("no pending task")

    def result(self, fut: cf.Future) -> Any:
        return fut.result()

    def close(self) -> None:
        self._queue.clear()


class _Processes:
    def __init__(self, workers: int) -> None:
        self._pool = cf.ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init,
            initargs=(os.getpid(),),
        )

    def submit(self, fn: Callable, task: Any) -> cf.Future:
        return self._pool.submit(fn, task)

    def wait_any(self, pending: set) -> tuple[set, set]:
        done, rest = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
        return set(done), set(rest)

    def result(self, fut: cf.Future) -> Any:
        return fut.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class SchedulerUnreachableError(ConnectionError):
    """The Dask scheduler given cannot be reached (the message names its address)."""


class _Dask:
    def __init__(self, scheduler: Any, timeout: float = 30.0) -> None:
        try:
            from distributed import Client
        except ImportError as err:  # pragma: no cover - optional dependency
            raise ImportError(
                "--scheduler needs dask.distributed: pip install 'crossbar-sim[dask]'"
            ) from err
        if isinstance(scheduler, Client):
            self._client, self._own = scheduler, False
            return
        try:
            self._client, self._own = Client(scheduler, timeout=timeout), True
        except (OSError, ValueError, TypeError) as err:
            detail = " ".join(str(err).split())[:160] or type(err).__name__
            raise SchedulerUnreachableError(
                f"cannot reach the Dask scheduler {str(scheduler)[:100]!r} within {timeout:g} s "
                f"({detail}); start it, or check the address (tcp://HOST:PORT)") from None

    def submit(self, fn: Callable, task: Any) -> Any:
        # keys name the unit of work (run_training-..., evaluate_cell-...) for dashboards and logs
        return self._client.submit(_call_single_threaded, fn, task, pure=False,
                                   key=f"{fn.__name__}-{uuid.uuid4().hex}")

    def wait_any(self, pending: set) -> tuple[set, set]:
        from distributed import wait

        done, rest = wait(list(pending), return_when="FIRST_COMPLETED")
        return set(done), set(rest)

    def result(self, fut: Any) -> Any:
        return fut.result()

    def close(self) -> None:
        if self._own:
            self._client.close()


def executor(workers: int, scheduler: Any, timeout: float = 30.0):
    """In this process (1 worker), a local process pool (> 1) or a Dask cluster (a scheduler,
    reached within ``timeout`` seconds or :class:`SchedulerUnreachableError`)."""
    if scheduler is not None:
        return _Dask(scheduler, timeout)
    if workers > 1:
        return _Processes(workers)
    return _Serial()


