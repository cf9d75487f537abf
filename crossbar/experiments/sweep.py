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
    Inputs,
    TrainTask,
    build_model,
    checkpoint_path,
    evaluate_cell,
    run_training,
    sweep_identity,
)
from .checks import fail
from .config import SweepConfig
from .executors import executor
from .profiles import load_profile
from .store import ConfigChangedError, ResultsStore


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
    model: Any = None,
    data: Any = None,
    out: str | Path | None = None,
    workers: int | None = None,
    scheduler: Any = None,
    scheduler_timeout: float = 30.0,
    progress: bool = True,
    report: bool = True,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> SweepResult:
    """Run (or finish) the sweep ``config`` and write its report.

    ``model``: an ``nn.Module`` to use instead of the config's ``model`` (its weights
    are every training's start); ``data``: data to use instead of the config's
    (anything ``crossbar.data.resolve`` takes: tensors, Datasets). Both travel with
    every task, and their identity (class source and weights, data digests) is part of
    the results'. ``out`` / ``workers`` override the config's. ``scheduler``: a Dask
    scheduler address (``"tcp://host:port"``, reached within
    ``scheduler_timeout`` seconds) or a ``distributed.Client``; workers must
    see the same files (output folder, data) as this process.
    Each finished cell is appended to ``out/results.jsonl`` at once and then
    passed to ``on_record``. Cells already there are skipped; a folder that
    holds results of another configuration, profile contents, test data or code
    is refused with the difference, and so is a model that is not the one the
    finished cells used. ``report=False``
    skips tables and figures (``write_report`` makes them later).
    """
    changes = {}
    if out is not None:
        changes["out"] = str(out)
    if workers is not None:
        changes["workers"] = workers
    inputs = None
    if model is not None or data is not None:
        inputs, passed = passed_inputs(config, model, data)
        changes.update(passed)
    cfg = config.replace(**changes) if changes else config
    # everything that can be checked here is checked before the output folder exists
    profile = load_profile(cfg.profile) if cfg.profile else None
    if scheduler is None:
        _check_device(cfg.torch_device)
    net = build_model(cfg, inputs)  # a user's network: imported, built, checked on the test data
    identity = sweep_identity(cfg, profile, inputs, net)
    ex = executor(cfg.workers, scheduler, scheduler_timeout)
    try:
        with ResultsStore(cfg.out, cfg, identity=identity) as store:
            done = store.records()
            todo = pending_cells(cfg, set(done))
            _run_pending(cfg, store, todo, ex, progress, on_record, done, inputs)
            records = store.records()
    finally:
        ex.close()
    ordered = tuple(records[k] for k in sorted(records))
    files: tuple[Path, ...] = ()
    if report:
        from .report import write_report

        files = tuple(write_report(cfg, ordered, store.out))
    return SweepResult(out=store.out, config=cfg, records=ordered, files=files)


def passed_inputs(config: SweepConfig, model: Any, data: Any) -> tuple[Inputs, dict[str, Any]]:
    """The network and data passed in Python, prepared, and the config changes that name them."""
    from torch import nn

    from crossbar.data import resolve
    from crossbar.models import resolve as resolve_model
    from crossbar.nn import NoiseConfig

    from .checks import OBJECT

    changes: dict[str, Any] = {}
    pair = None
    if data is not None:
        pair = resolve(data)
        changes["data"] = f"{OBJECT}data"
    prepared = None
    if model is not None:
        if not isinstance(model, nn.Module):
            raise TypeError("model= takes an nn.Module; name a factory in the config's 'model' "
                            "(package.module:factory) instead")
        if config.model_kwargs:
            fail("model_kwargs", "nothing: a module passed in Python is used as it is",
                 config.model_kwargs)
        example = pair[1].x[:2] if pair is not None else None
        if example is None and not config.data.startswith(OBJECT):
            from crossbar.data import load_split

            example = load_split(config.data, "test", root=config.data_root, limit=2).x
        prepared = resolve_model(model, noise=NoiseConfig(kind=config.noise), example=example)
        changes["model"] = prepared.crossbar_model["name"]
    return Inputs(prepared, pair), changes


def _check_device(device: str) -> None:
    """A CUDA device that this machine does not have is a config error (before any work)."""
    import torch

    d = torch.device(device)
    if d.type == "cuda" and (not torch.cuda.is_available()
                             or (d.index or 0) >= torch.cuda.device_count()):
        fail("torch_device", "a device this machine has (CUDA is not available here)"
             if not torch.cuda.is_available() else
             f"cuda:0..cuda:{torch.cuda.device_count() - 1}", device)


def _check_model(store: ResultsStore, st: float, digest: str, finished: dict) -> None:
    """Finished cells of ``st`` must come from the weights the new cells will use."""
    old = {r.get("model_digest") for (s_t, _), r in finished.items() if s_t == st}
    if old and old != {digest}:
        raise ConfigChangedError(
            f"{checkpoint_path(store.out, st)} holds other weights (digest {digest}) than the "
            f"finished cells of sigma_train {st:g} were computed with ({', '.join(map(str, old))}); "
            "restore that model, or use another output folder (--out)")


def _run_pending(cfg, store, todo, ex, progress, on_record, finished, inputs) -> None:
    if not todo:
        return
    need = sorted({st for st, _ in todo})
    ckpt = {st: str(checkpoint_path(store.out, st)) for st in need}
    pending: dict[Any, tuple[str, float, float | None]] = {}

    def submit_cells(st: float, digest: str) -> None:
        _check_model(store, st, digest, finished)
        for s_t, sv in todo:
            if s_t == st:
                task = CellTask(cfg, st, sv, ckpt[st], store.hash, store.identity, digest, inputs)
                pending[ex.submit(evaluate_cell, task)] = ("cell", st, sv)

    # every model is trained, finished or checked against the config (never reused unseen)
    for st in need:
        task = TrainTask(cfg, st, ckpt[st], store.identity, inputs)
        pending[ex.submit(run_training, task)] = ("train", st, None)
    train_bar = _bar(progress, len(need), "models", "model")
    cell_bar = _bar(progress, len(todo), "sweep cells", "cell")
    try:
        while pending:
            done, _ = ex.wait_any(set(pending))
            for fut in sorted(done, key=lambda f: (pending[f][1], pending[f][2] or -1.0)):
                kind, st, _sv = pending.pop(fut)
                result = ex.result(fut)
                if kind == "train":
                    train_bar.update(1)
                    submit_cells(st, result["model_digest"])
                else:
                    store.append(result)
                    cell_bar.update(1)
                    if on_record is not None:
                        on_record(result)
    finally:
        train_bar.close()
        cell_bar.close()
