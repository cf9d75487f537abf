"""Optimizer and learning-rate schedule of a training run, from a model's recipe and overrides."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

__all__ = ["lr_at", "make_optimizer", "resolve_optimizer"]


def lr_at(base: float, epoch: int, epochs: int, milestones: Any, gamma: float) -> float:
    """Learning rate of epoch ``epoch`` (from 0): ``base`` x gamma per milestone passed."""
    # milestone fraction m of an E-epoch run: epochs floor(m * E), ... (never the first one)
    drops = sum(1 for m in milestones if epoch >= max(1, math.floor(float(m) * epochs + 1e-9)))
    return base * gamma**drops


def make_optimizer(params: Any, opt: Mapping[str, Any]) -> torch.optim.Optimizer:
    """Adam or SGD (momentum, Nesterov) as the resolved recipe ``opt`` says."""
    if opt["optimizer"] == "adam":
        return torch.optim.Adam(params, lr=opt["lr"], weight_decay=opt["weight_decay"])
    return torch.optim.SGD(
        params,
        lr=opt["lr"],
        momentum=opt["momentum"] or 0.0,
        nesterov=bool(opt["nesterov"]),
        weight_decay=opt["weight_decay"],
    )


def resolve_optimizer(
    rec: Mapping[str, Any], optimizer: str | None, lr: float | None, batch_size: int | None
) -> dict[str, Any]:
    """The model's recipe ``rec`` with the run's optimizer, lr and batch size applied (validated)."""
    opt = dict(rec)
    if optimizer is not None:
        name = {"momentum": "sgd"}.get(optimizer.lower(), optimizer.lower())
        if name not in ("adam", "sgd"):
            raise ValueError(f"unknown optimizer {optimizer!r}; use 'adam', 'sgd' or 'momentum'")
        if name != rec["optimizer"]:
            opt.update(optimizer=name, weight_decay=0.0, nesterov=False, lr_milestones=())
            opt["momentum"] = 0.9 if name == "sgd" else None
            opt["lr_gamma"] = 1.0
    if lr is not None:
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"lr must be > 0, got {lr!r}")
        opt["lr"] = float(lr)
    if batch_size is not None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        opt["batch_size"] = batch_size
    opt.pop("epochs", None)
    opt["lr_milestones"] = list(opt.get("lr_milestones", ()))
    return opt
