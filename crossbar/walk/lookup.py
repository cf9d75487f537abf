"""Where a walk or hardening run gets its network and data, and their identities.

One small function each for the model and the data, so that a later way of
naming a user's own model or dataset replaces them without touching the
runners. The identities (a digest of the network's source and structure,
and of the data tensors) are part of a results folder's identity: a changed
model or dataset is refused on resume, never silently mixed.
"""

from __future__ import annotations

import hashlib
import inspect
from typing import Any

import torch
from torch import nn

from .nets import NETS

__all__ = ["data_identity", "load_data", "make_model", "model_identity"]


def load_data(cfg: Any) -> tuple[Any, Any]:
    """(train, test) datasets (``.x``, ``.y``, ``.classes``) named by ``cfg.data``."""
    from crossbar.data import load

    train = load(cfg.data, split="train", root=cfg.data_root, limit=cfg.limit_train)
    test = load(cfg.data, split="test", root=cfg.data_root, limit=cfg.limit_test)
    return train, test


def make_model(name: str, kwargs: dict, sample_shape: tuple[int, ...], classes: int, seed: int) -> nn.Module:
    """A fresh network ``name`` for samples of ``sample_shape``, weights drawn from ``seed``.

    ``name``: one of this package's nets (``mlp``, ``lenet5``) or a
    ``crossbar.models`` name (built without its own noise layers switched on).
    """
    if name in NETS:
        return NETS[name](tuple(sample_shape), classes, seed=seed, **kwargs)
    from crossbar import models

    fitted = {**models.kwargs_for_data(name, sample_shape, classes), **kwargs}
    models.input_spec(name, **fitted).check(sample_shape, name, "the data")
    return models.build(name, seed=seed, **fitted)


def model_identity(name: str, kwargs: dict, net: nn.Module) -> dict[str, Any]:
    """Name, arguments, and SHA-256 of the defining module's source and of the structure."""
    module = inspect.getmodule(NETS[name]) if name in NETS else inspect.getmodule(type(net))
    source = inspect.getsource(module)
    shapes = [(k, tuple(v.shape)) for k, v in net.state_dict().items()]
    return {
        "name": name,
        "kwargs": kwargs,
        "source_sha256": hashlib.sha256(source.encode()).hexdigest(),
        "structure_sha256": hashlib.sha256(f"{net}\n{shapes}".encode()).hexdigest(),
    }


def _digest(t: torch.Tensor) -> str:
    return hashlib.sha256(t.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


def data_identity(train: Any, test: Any) -> dict[str, Any]:
    """Name, sizes and SHA-256 of the tensors of both splits."""
    return {
        "name": getattr(train, "name", "data"),
        "train": {"n": len(train.y), "x": _digest(train.x), "y": _digest(train.y)},
        "test": {"n": len(test.y), "x": _digest(test.x), "y": _digest(test.y)},
    }
