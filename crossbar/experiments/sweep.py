"""Run a sigma_train x sigma_val sweep: train what is missing, evaluate every
cell not yet in the results, write tables and figures.

Cells run in this process (``workers=1``), on local worker processes
(``workers>1``, spawn start method, one torch thread each) or on a Dask
cluster (``scheduler="tcp://host:port"``). A cell's random numbers depend on
the config seed and the cell only, so the results are the same for any of
these, any worker count and any order of completion.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
from .executors import executor
from .store import ResultsStore


@dataclass(frozen=True)
class SweepResult:
    """What a finished sweep returns: its folder, config, cells (grid order)
    and the report files written."""

    out: Path
    config: SweepConfig
    records: tuple[dict[str, Any], ...]
    files: tuple[Path, ...]


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
    with ResultsStore(cfg.out, cfg) as store:
        todo = pending_cells(cfg, set(store.records()))
        _run_pending(cfg, store, todo, scheduler, progress, on_record)
        records = store.records()
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
    ex = executor(cfg.workers, scheduler)
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
