"""Where a walk or hardening run gets its network and data, and their identities.

Networks and data are named exactly as a sweep names them: the model is one of
this package's nets (``mlp``, ``lenet5``), a bundled ``crossbar.models`` name,
or an import path ``package.module:factory`` to a user's own network, built by
``crossbar.models.resolve``; the data is anything ``crossbar.data.load_split``
takes (a bundled name, an ``.npz`` file, an import path to a loader). The
identities (the network's name, arguments, source digest and structure, and a
digest of the data tensors) are part of a results folder's identity: a changed
model or dataset is refused on resume, never silently mixed.
"""

from __future__ import annotations

import hashlib
import inspect
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn

from .nets import NETS

__all__ = ["data_identity", "load_data", "make_model", "model_identity"]


def load_data(cfg: Any) -> tuple[Any, Any]:
    """(train, test) datasets (``.x``, ``.y``, ``.classes``) named by ``cfg.data``."""
    from crossbar.data import load_split

    train = load_split(cfg.data, "train", root=cfg.data_root, limit=cfg.limit_train)
    test = load_split(cfg.data, "test", root=cfg.data_root, limit=cfg.limit_test)
    return train, test


def make_model(name: str, kwargs: dict, data: Any, classes: int, seed: int) -> nn.Module:
    """A fresh network ``name`` for the samples of ``data`` (a Dataset), weights drawn from ``seed``.

    ``name``: one of this package's nets, a ``crossbar.models`` name (fitted to the data's
    shape and classes) or an import path to a user's factory (called with ``kwargs``; its
    output is checked against the data). Noise layers of the paper that the resolver puts
    in stay switched off: a walk places its own noise (``crossbar.walk.noise``).
    """
    shape = tuple(int(s) for s in data.x.shape[1:])
    if name in NETS:
        return NETS[name](shape, classes, seed=seed, **kwargs)
    from crossbar import models
    from crossbar.training.inputs import check_outputs

    if models.is_bundled(name):
        fitted = {**models.kwargs_for_data(name, shape, classes), **kwargs}
        models.input_spec(name, **fitted).check(shape, name, "the data")
        return models.resolve(name, seed=seed, **fitted)
    net = models.resolve(name, seed=seed, example=data.x[:2], **kwargs)
    check_outputs(net, SimpleNamespace(x=data.x[:2], y=data.y, classes=classes), name,
                  getattr(data, "name", "data"))
    return net


def model_identity(name: str, kwargs: dict, net: nn.Module) -> dict[str, Any]:
    """Name, arguments, and SHA-256 of the defining source and of the structure: for a user's
    network the digest of its factory's source files as ``crossbar.models.resolve`` records it."""
    built = next((m.crossbar_model for m in net.modules() if hasattr(m, "crossbar_model")), None)
    if built is not None and built.get("source"):
        source = str(built["source"])
    else:
        module = inspect.getmodule(NETS[name]) if name in NETS else inspect.getmodule(type(net.net))
        source = hashlib.sha256(inspect.getsource(module).encode()).hexdigest()
    shapes = [(k, tuple(v.shape)) for k, v in net.state_dict().items()]
    return {
        "name": name,
        "kwargs": kwargs,
        "source_sha256": source,
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
