"""What a sweep's tasks are made of, and the checks a worker makes before it computes.

A task (:class:`TrainTask`, :class:`CellTask`) carries its configuration, the
identity of its inputs (:func:`sweep_identity`: code, profile contents, test
data, a user's network) and, for a network or data passed in Python,
the objects themselves (:class:`Inputs`). A worker compares what it loads
with that identity and refuses anything else (:class:`IdentityMismatchError`);
a worker that cannot import a user's factory or loader by its path fails with
:class:`WorkerImportError` naming the worker (:func:`imported`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from crossbar.identity import code_identity, data_identity, profile_digest, state_digest
from crossbar.resolve import ImportSpecError, where

from .config import SweepConfig

__all__ = ["CellTask", "IdentityMismatchError", "Inputs", "TrainTask", "WorkerImportError", "build_model",
           "expect", "expect_model", "imported", "model_identity", "sweep_identity", "test_digest",
           "test_set"]


@dataclass(frozen=True)
class Inputs:
    """A network and data passed in Python (``run_sweep(config, model=..., data=...)``).

    ``model``: the network as ``crossbar.models.resolve`` prepared it (noise layers
    placed), copied before each use; ``data``: the (train, test) Datasets."""

    model: Any = None
    data: tuple | None = None


@dataclass(frozen=True)
class TrainTask:
    config: SweepConfig
    sigma_train: float
    checkpoint: str
    identity: dict | None = None
    inputs: Inputs | None = None


@dataclass(frozen=True)
class CellTask:
    """One cell to evaluate; ``identity`` (:func:`sweep_identity`) and ``model_digest``
    are what the worker must find, or it refuses the task."""

    config: SweepConfig
    sigma_train: float
    sigma_val: float
    checkpoint: str
    config_hash: str
    identity: dict
    model_digest: str
    inputs: Inputs | None = None


class IdentityMismatchError(RuntimeError):
    """A worker found other inputs (code, profile, data, weights) than the sweep was started with."""


class WorkerImportError(ImportSpecError):
    """A worker cannot import the network's factory or the data loader by its path."""


def imported(fn):
    """Run a task; a factory or loader that this worker cannot import is a WorkerImportError naming it."""

    @functools.wraps(fn)
    def run(task):
        try:
            return fn(task)
        except WorkerImportError:
            raise
        except ImportSpecError as err:
            raise WorkerImportError(
                f"worker {where()} cannot run {fn.__name__}: {err}; every worker must be able to import "
                "the network's factory and the data loader (same files, same PYTHONPATH)") from None

    return run


def expect(what: str, found: Any, wanted: Any) -> None:
    if found != wanted:
        raise IdentityMismatchError(
            f"{what} differs from the one this sweep was started with (found {found!r}, expected "
            f"{wanted!r}); a cell is never computed from other inputs: restart the sweep")


def test_digest(cfg: SweepConfig, inputs: Inputs | None = None) -> str:
    from crossbar.data import is_custom

    if (inputs is None or inputs.data is None) and not is_custom(cfg.data):
        return _bundled_digest(cfg.data, cfg.data_root, cfg.limit_test)
    x, y = test_set(cfg, inputs)
    return data_identity(SimpleNamespace(x=x, y=y))["digest"]


@functools.lru_cache(maxsize=4)
def _bundled_digest(data: str, root: str | None, limit: int | None) -> str:
    x, y = _test_split(data, root, limit)
    return data_identity(SimpleNamespace(x=x, y=y))["digest"]


def model_identity(model) -> dict[str, Any] | None:
    """What identifies a user's network besides its weights: its name (import path or
    ``object:module:Class``), factory arguments and source digest; None for a bundled one
    (the code identity covers its source)."""
    from crossbar.models import is_bundled

    spec = getattr(model, "crossbar_model", None) or {}
    if is_bundled(spec.get("name")):
        return None
    ident = {"name": spec.get("name"), "kwargs": spec.get("kwargs"), "source": spec.get("source")}
    if str(spec.get("name")).startswith("object:"):  # passed in Python: its weights as given, too
        ident["weights"] = state_digest(model.state_dict())
    return ident


def sweep_identity(cfg: SweepConfig, profile=None, inputs: Inputs | None = None,
                   model=None) -> dict[str, Any]:
    """What a sweep's results are made of besides its config: the code, the device
    profile's contents (``profile``: the loaded profile, if any), the test data used and,
    for a user's network (``model``: one built as the sweep builds it), its identity."""
    return {
        "code": code_identity(),
        "profile_contents": None if profile is None else profile_digest(profile),
        "test_data": test_digest(cfg, inputs),
        "model": None if model is None else model_identity(model),
    }


def build_model(cfg: SweepConfig, inputs: Inputs | None = None):
    """A user's network as the sweep's workers build it (untrained, noise placed), checked on
    the test data, for the identity taken before any work; None for a bundled network."""
    from crossbar.models import is_bundled, resolve
    from crossbar.nn import NoiseConfig
    from crossbar.training.inputs import check_outputs

    x, y = test_set(cfg, inputs)
    if inputs is not None and inputs.model is not None:
        model = inputs.model
    elif cfg.model.startswith("object:"):
        raise ValueError(f"model {cfg.model!r} was passed in Python: pass it again (model=...)")
    elif is_bundled(cfg.model):
        return None
    else:
        model = resolve(cfg.model, noise=NoiseConfig(kind=cfg.noise), seed=cfg.seed, example=x[:2],
                        **cfg.model_kwargs)
    check_outputs(model, SimpleNamespace(x=x, y=torch.from_numpy(y)), cfg.model, cfg.data)
    return model


# ------------------------------------------------------------------ training


def expect_model(model, wanted: dict | None) -> None:
    if wanted is not None:
        found = model_identity(model) or {}
        expect(f"the source of the network {wanted.get('name')!r}", found.get("source"),
                wanted.get("source"))


@functools.lru_cache(maxsize=4)
def _test_split(data: str, root: str | None, limit: int | None) -> tuple[torch.Tensor, np.ndarray]:
    from crossbar.data import load

    ds = load(data, split="test", root=root, limit=limit)
    return ds.x, ds.y.cpu().numpy()


def test_set(cfg: SweepConfig, inputs: Inputs | None = None) -> tuple[torch.Tensor, np.ndarray]:
    """The sweep's test inputs and labels (the first ``limit_test``), from the config's data or
    the data passed in Python."""
    from crossbar.data import is_custom, load_split

    if inputs is None or inputs.data is None:
        if cfg.data.startswith("object:"):
            raise ValueError(f"data {cfg.data!r} was passed in Python: pass it again (data=...)")
        if not is_custom(cfg.data):  # bundled files are read once per process
            return _test_split(cfg.data, cfg.data_root, cfg.limit_test)
        ds = load_split(cfg.data, "test", root=cfg.data_root, limit=cfg.limit_test)
        return ds.x, ds.y.cpu().numpy()
    ds = inputs.data[1]
    n = len(ds.y) if cfg.limit_test is None else cfg.limit_test
    return ds.x[:n], ds.y[:n].cpu().numpy()
