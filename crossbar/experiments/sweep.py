"""Run a sigma_train x sigma_val sweep: train what is missing, evaluate every
cell not yet in the results, write tables and figures.

Cells run in this process (``workers=1``), on local worker processes
(``workers>1``, spawn start method, one torch thread each) or on a Dask
cluster (``scheduler="tcp://host:port"``). A cell's random numbers depend on
the config seed and the cell only, so the results are the same for any of
these, any worker count and any order of completion.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crossbar.threads import limit_threads, set_threads

from .cells import (
    CellTask,
    TrainTask,
    check_profile,
    checkpoint_path,
    evaluate_cell,
    run_training,
    trained_epochs,
)
from .config import SweepConfig
from .store import ResultsStore


@dataclass(frozen=True)
class SweepResult:
    """What a finished sweep returns: its folder, config, cells (grid order)
    and the report files written."""

    out: Path
    config: SweepConfig
    records: tuple[dict[str, Any], ...]
    files: tuple[Path, ...]


# ------------------------------------------------------------------ executors


def _worker_init() -> None:
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


class _Dask:
    def __init__(self, scheduler: Any) -> None:
        try:
            from distributed import Client
        except ImportError as err:  # pragma: no cover - optional dependency
            raise ImportError(
                "--scheduler needs dask.distributed: pip install 'crossbar-sim[dask]'"
            ) from err
        if isinstance(scheduler, Client):
            self._client, self._own = scheduler, False
        else:
            self._client, self._own = Client(scheduler), True

    def submit(self, fn: Callable, task: Any) -> Any:
        return self._client.submit(_call_single_threaded, fn, task, pure=False)

    def wait_any(self, pending: set) -> tuple[set, set]:
        from distributed import wait

        done, rest = wait(list(pending), return_when="FIRST_COMPLETED")
        return set(done), set(rest)

    def result(self, fut: Any) -> Any:
        return fut.result()

    def close(self) -> None:
        if self._own:
            self._client.close()


def _executor(workers: int, scheduler: Any):
    if scheduler is not None:
        return _Dask(scheduler)
    if workers > 1:
        return _Processes(workers)
    return _Serial()


def _bar(enabled: bool, total: int, desc: str, unit: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, dynamic_ncols=True)


# ------------------------------------------------------------------ the sweep


def pending_cells(config: SweepConfig, done: set) -> list[tuple[float, float]]:
    """The (sigma_train, sigma_val) cells of the grid not in ``done``, in grid order."""
    return [
        (st, sv)
        for st in config.sigma_train
        for sv in config.sigma_val
        if (st, sv) not in done
    ]


def run_sweep(
    config: SweepConfig,
    *,
    out: str | Path | None = None,
    workers: int | None = None,
    scheduler: Any = None,
    progress: bool = True,
    report: bool = True,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> SweepResult:
    """Run (or finish) the sweep ``config`` and write its report.

    ``out`` / ``workers`` override the config's. ``scheduler``: a Dask
    scheduler address (``"tcp://host:port"``) or a ``distributed.Client``;
    workers must see the same files (output folder, data) as this process.
    Each finished cell is appended to ``out/results.jsonl`` at once and then
    passed to ``on_record``. Cells already there are skipped; a folder that
    holds results of another configuration is refused. ``report=False``
    skips tables and figures (``write_report`` makes them later).
    """
    changes = {}
    if out is not None:
        changes["out"] = str(out)
    if workers is not None:
        changes["workers"] = workers
    cfg = config.replace(**changes) if changes else config
    if cfg.profile:
        check_profile(cfg.profile)
    store = ResultsStore(cfg.out, cfg)
    store.lock()
    try:
        todo = pending_cells(cfg, set(store.records()))
        _run_pending(cfg, store, todo, scheduler, progress, on_record)
        records = store.records()
    finally:
        store.unlock()
    ordered = tuple(records[k] for k in sorted(records))
    files: tuple[Path, ...] = ()
    if report:
        from .report import write_report

        files = tuple(write_report(cfg, ordered, store.out))
    return SweepResult(out=store.out, config=cfg, records=ordered, files=files)


def _run_pending(cfg, store, todo, scheduler, progress, on_record) -> None:
    if not todo:
        return
    h = store.hash
    need = sorted({st for st, _ in todo})
    ckpt = {st: str(checkpoint_path(store.out, st)) for st in need}
    untrained = [st for st in need if trained_epochs(ckpt[st]) < cfg.epochs]
    ex = _executor(cfg.workers, scheduler)
    try:
        pending: dict[Any, tuple[str, float, float | None]] = {}

        def submit_cells(st: float) -> None:
            for s_t, sv in todo:
                if s_t == st:
                    task = CellTask(cfg, st, sv, ckpt[st], h)
                    pending[ex.submit(evaluate_cell, task)] = ("cell", st, sv)

        for st in need:
            if st in untrained:
                pending[ex.submit(run_training, TrainTask(cfg, st, ckpt[st]))] = ("train", st, None)
            else:
                submit_cells(st)
        train_bar = _bar(progress and bool(untrained), len(untrained), "training", "model")
        cell_bar = _bar(progress, len(todo), "sweep cells", "cell")
        try:
            while pending:
                done, _ = ex.wait_any(set(pending))
                for fut in sorted(done, key=lambda f: (pending[f][1], pending[f][2] or -1.0)):
                    kind, st, _sv = pending.pop(fut)
                    result = ex.result(fut)
                    if kind == "train":
                        train_bar.update(1)
                        submit_cells(st)
                    else:
                        store.append(result)
                        cell_bar.update(1)
                        if on_record is not None:
                            on_record(result)
        finally:
            train_bar.close()
            cell_bar.close()
    finally:
        ex.close()
