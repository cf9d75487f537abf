"""``explore``: evaluate every design point of an :class:`ExploreConfig`, resumably, on workers.

Each design point is a device profile (the config's, with the point's settings
as overrides) evaluated as a budget evaluates a device at its own noise
(``crossbar.experiments.budget.run_points`` at s = 1: the same test set,
chips, calibration and intervals) and priced by the cost model at that
profile. A point is kept under ``<out>/points/<key>.json``, ``key`` a digest
of everything that decides its numbers, by content (``crossbar.identity``):
the network's weights, the test and calibration data, the profile's values,
the evaluation settings and the code. A rerun reads every point it finds
and computes only the others, so a grid may grow and an interrupted run
resumes; a changed setting makes new keys, never a silent reuse. A record that
cannot be read is warned about and computed again. Points run here, on local
processes or on Dask (``crossbar.experiments.executors``), one torch thread
each; results do not depend on where they ran. See docs/explore.md.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crossbar.atomic import atomic_write_json, lock_folder
from crossbar.identity import code_identity, data_identity, digest_json, profile_digest, tensor_digest

from ..budget.cache import CacheDiscardedWarning, claim_folder
from ..budget.run import CALIBRATION_INPUTS, obtain_model, run_points
from ..checks import fail
from ..executors import executor
from ..sweep import _bar
from .config import ExploreConfig
from .result import ExploreResult, point_record, record_problem

__all__ = ["ExploreLockedError", "explore", "point_keys"]

POINTS_DIR = "points"
LOCK_FILE = ".explore-lock"
# The settings that decide a point's numbers besides its profile, network, data and code.
_DECIDING = ("test_limit", "scale", "max_drop", "target_accuracy", "votes", "repeats", "confidence",
             "vote_schedule", "activity", "replication", "seed", "batch_rows", "layer_overrides")


class ExploreLockedError(RuntimeError):
    """Another exploration is writing to the same folder."""


def _data_key(config: ExploreConfig, data: Any) -> dict:
    """The identity of the data every point sees: the test split and the calibration inputs."""
    from crossbar.data import load_split, resolve

    b = config.budget
    if data is None:
        train, test = (load_split(b.data, s, root=b.data_root) for s in ("train", "test"))
    else:
        train, test = resolve(data)
    return {"test": data_identity(test), "test_limit": b.test_limit,
            "calibration": tensor_digest(train.subset(CALIBRATION_INPUTS).x)}


def point_keys(config: ExploreConfig, model_digest: str, data_key: dict) -> list[str]:
    """The record key of every design point (in ``design_points()`` order)."""
    settings = {k: v for k, v in config.budget.to_dict().items() if k in _DECIDING}
    code = code_identity()
    keys = []
    for p in config.design_points():
        cfg = config.point_config(p)
        keys.append(digest_json({"model": model_digest, "data": data_key, "settings": settings,
                                 "profile": profile_digest(cfg.base_profile()), "age": cfg.age.to_dict(),
                                 "code": code}, 24))
    return keys


def _read(path: Path, key: str, votes) -> dict | None:
    """The stored record of ``key`` (None if there is none or it cannot be trusted)."""
    if not path.exists():
        return None
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
        problem = record_problem(rec, key, votes)
    except (OSError, ValueError) as err:
        problem = f"not readable ({type(err).__name__})"
    if problem is None:
        return rec
    warnings.warn(f"{path}: {problem}; the point is computed again", CacheDiscardedWarning, stacklevel=2)
    return None


def _evaluate(task: tuple) -> Any:
    """One design point on a worker: its accuracy per K at s = 1 and its cost."""
    config, model, info, data = task
    return run_points(config, (1.0,), model=model, model_info=info, data=data)


def explore(config: ExploreConfig, *, model: Any = None, data: Any = None, out: str | None = None,
            workers: int | None = None, scheduler: Any = None, scheduler_timeout: float = 30.0,
            progress: bool = True, on_point: Callable[[int, dict], None] | None = None) -> ExploreResult:
    """Evaluate every design point not yet in ``out`` and return them all with the front.

    ``model``: an ``nn.Module`` used as it is instead of the config's checkpoint or training;
    ``data``: data instead of the config's (anything ``crossbar.data.resolve`` takes). ``out``
    / ``workers`` override the config's; ``scheduler``: a Dask scheduler address or client.
    ``on_point(index, record)`` is called after each point is stored. The report is written by
    ``crossbar.report.write_explore_report(result)``.
    """
    from crossbar.training import model_digest

    t0 = time.perf_counter()
    changes = {k: v for k, v in (("out", out), ("workers", workers)) if v is not None}
    cfg = config.replace(**changes) if changes else config
    if model is None and cfg.passed_model():
        fail("checkpoint", "a checkpoint path or a 'train' block (or a network passed as model=)", None)
    base = cfg.budget
    info = None
    if model is None and base.train is None:  # a bad checkpoint fails before the folder exists
        model, info = obtain_model(base, progress=progress)
    folder = claim_folder(cfg.out, allow=[] if cfg.passed_model() else [base.checkpoint_path()])
    lock = lock_folder(folder / LOCK_FILE, ExploreLockedError, f"another exploration is writing to {folder}")
    try:
        if model is None:
            model, info = obtain_model(base, progress=progress)
        elif info is None:
            info = {"name": (getattr(model, "crossbar_model", None) or {}).get("name")
                    or type(model).__qualname__}
        info = {**info, "digest": model_digest(model)}
        data_key = _data_key(cfg, data)
        points, keys = cfg.design_points(), point_keys(cfg, info["digest"], data_key)
        store = folder / POINTS_DIR
        records = {k: r for k in dict.fromkeys(keys) if (r := _read(store / f"{k}.json", k, base.votes))}
        # the first point of each key not read back
        todo = {k: i for i, k in reversed(list(enumerate(keys))) if k not in records}
        errors: dict[int, str] = {}
        rows = 0
        pool = executor(cfg.workers, scheduler, scheduler_timeout)
        bar = _bar(progress and bool(todo), len(todo), "design points", "point")
        try:
            pending = {pool.submit(_evaluate, (cfg.point_config(points[i]), model, info, data)): (k, i)
                       for k, i in sorted(todo.items(), key=lambda kv: kv[1])}
            while pending:
                done, _ = pool.wait_any(set(pending))
                for fut in done:
                    key, i = pending.pop(fut)
                    bar.update(1)
                    try:
                        r = pool.result(fut)
                    except (ValueError, RuntimeError, FloatingPointError) as err:
                        errors[i] = f"{type(err).__name__}: {err}"
                        continue
                    rec = point_record(key, r, base.vote_schedule)
                    atomic_write_json(store / f"{key}.json", rec)
                    records[key], rows = rec, rows + r.forward_rows
                    if on_point is not None:
                        on_point(i, rec)
        finally:
            bar.close()
            pool.close()
    finally:
        if lock is not None:
            lock.close()
    return ExploreResult(
        config=cfg, model=info, data={"spec": base.data if data is None else "(passed in Python)",
                                      **data_key},
        points=tuple(points), keys=tuple(keys), records=records, evaluated=len(todo) - len(errors),
        errors=errors, elapsed_s=time.perf_counter() - t0, forward_rows=rows)
