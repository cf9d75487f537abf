"""Training one network for a walk or hardening task, with per-epoch weight statistics.

``fit`` trains through :func:`crossbar.training.train` one epoch at a time on
the same checkpoint (train resumes exactly), records :func:`weight_stats`
after every epoch in a side file written atomically, and so resumes after an
interruption at the last finished epoch with the same weights and the same
statistics as an uninterrupted run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from torch import nn

from crossbar.atomic import atomic_write_text
from crossbar.nn import seed_noise
from crossbar.training import evaluate, train

from .dynamics import network_summary, weight_stats

__all__ = ["clean_json", "discard", "fit", "noisy_accuracy"]


def clean_json(obj: Any, digits: int | None = None) -> Any:
    """``obj`` with every non-finite float replaced by None (strict JSON), floats rounded to
    ``digits`` significant digits if given (for reports; records keep full precision)."""
    if isinstance(obj, float):
        if not math.isfinite(obj):
            return None
        return obj if digits is None else float(f"{obj:.{digits}g}")
    if isinstance(obj, dict):
        return {k: clean_json(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_json(v, digits) for v in obj]
    return obj


def fit(net: nn.Module, cfg: Any, train_ds: Any, test_ds: Any, *, seed: int, checkpoint: Path,
        dynamics: bool) -> tuple[nn.Module, dict[str, Any]]:
    """Train ``net`` for ``cfg.epochs`` epochs (resuming ``checkpoint``); returns the trained
    network and its record: per-epoch history and, with ``dynamics``, weight statistics
    (entry 0: before training) and their network summary."""
    side = checkpoint.with_suffix(".epochs.json")
    kw = dict(test_data=test_ds, batch_size=cfg.batch_size, lr=cfg.lr, optimizer=cfg.optimizer,
              seed=seed, checkpoint=checkpoint, device=cfg.torch_device, progress=False,
              hardware=getattr(cfg, "hardware", None))
    if not dynamics:
        net, history = train(net, train_ds, epochs=cfg.epochs, **kw)
        return net, {"history": clean_json(history.to_dict())}
    stats: list[dict] = []
    if side.exists() and checkpoint.exists():
        stats = json.loads(side.read_text())["stats"]
    if not stats:
        stats = [weight_stats(net)]
    history = None
    for epoch in range(len(stats), cfg.epochs + 1):
        net, history = train(net, train_ds, epochs=epoch, **kw)
        stats.append(weight_stats(net))
        atomic_write_text(side, json.dumps({"stats": clean_json(stats)}))
    if history is None or len(history) < cfg.epochs:  # every epoch's statistics were already there
        net, history = train(net, train_ds, epochs=cfg.epochs, **kw)
    return net, {
        "history": clean_json(history.to_dict()),
        "weights": clean_json(stats),
        "summary": clean_json(network_summary(stats)),
    }


def discard(checkpoint: Path) -> None:
    """Remove a task's checkpoint and statistics file once its record is stored."""
    checkpoint.unlink(missing_ok=True)
    checkpoint.with_suffix(".epochs.json").unlink(missing_ok=True)


def noisy_accuracy(net: nn.Module, test_ds: Any, seed: int, draws: int) -> float:
    """Mean accuracy of ``draws`` passes over ``test_ds`` in eval mode, noise seeded by ``seed``."""
    seed_noise(net, seed)
    return sum(evaluate(net, test_ds) for _ in range(draws)) / draws
