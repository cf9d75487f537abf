"""Adversarial training (Madry et al., ICLR 2018) as the paper's Section 4 uses it.

Every minibatch (32 in the paper) is half natural, half adversarial: its
second half is replaced by PGD examples made against the network's current
weights, and the network is trained on the whole batch with noiseless
training (sigma_train = 0). The attack runs with the network in eval mode
(batch norm on its running statistics, as Madry et al.'s ``robustness``
library does) and the network returns to training mode for the update.

The checkpoints are those of ``crossbar.training`` (same format, one file
written atomically after every epoch, exact resume), so
``crossbar.training.load_checkpoint`` reads them; their ``config`` holds an
``adversarial`` entry, so ``train()`` refuses to continue one as plain
training and this function refuses a plain-training checkpoint.

This is a second, smaller training loop: ``crossbar.training.train`` has no
per-batch hook for replacing half of a batch. With one (``batch_transform(net,
xb, yb, epoch, batch) -> (xb, yb)``) this module reduces to :func:`madry_batch`.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from crossbar.identity import code_identity, data_identity
from crossbar.nn import noise_layers, noise_rng_state, seed_noise, set_noise_rng_state
from crossbar.resolve import is_spec
from crossbar.seeds import Stream, derive
from crossbar.training import History, TrainingDivergedError, evaluate
from crossbar.training.checkpoint import (
    config_diff,
    jsonable,
    noise_summary,
    nonfinite_entries,
    read_checkpoint,
    write_checkpoint,
)
from crossbar.training.recipe import lr_at, make_optimizer, resolve_optimizer

from .pgd import AttackParams, pgd


def madry_batch(net: nn.Module, xb: torch.Tensor, yb: torch.Tensor, attack: AttackParams, *,
                seed: int) -> torch.Tensor:
    """``xb`` with its second half (``len(xb) // 2`` inputs) replaced by PGD examples
    against ``net`` (attacked in eval mode; the mode is restored)."""
    n_adv = len(xb) // 2
    if n_adv == 0:
        return xb
    was_training = net.training
    net.eval()
    try:
        adv = pgd(net, xb[-n_adv:], yb[-n_adv:], attack, seed=seed)
    finally:
        net.train(was_training)
    return torch.cat([xb[: len(xb) - n_adv], adv])


def _recipe(net: nn.Module, batch_size: int | None, lr: float | None) -> dict[str, Any]:
    """The network's recipe (the paper's for a bundled one, ``DEFAULT_RECIPE`` for a user's)."""
    from crossbar import models as zoo

    spec = getattr(net, "crossbar_model", None) or {}
    return resolve_optimizer(zoo.recipe_for(spec.get("name")), None, lr, batch_size)


def adversarial_train(
    net: nn.Module,
    train_data: Any,
    *,
    attack: AttackParams,
    epochs: int,
    seed: int = 0,
    test_data: Any = None,
    data_name: str = "custom",
    batch_size: int | None = None,
    lr: float | None = None,
    checkpoint: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> tuple[nn.Module, History]:
    """Train ``net`` (built with its initial weights, e.g. ``crossbar.models.build(name,
    seed=seed)``) on half-natural, half-adversarial minibatches; returns (net, history).

    ``train_data`` / ``test_data``: objects with tensors ``.x`` (pixels in
    [0, 1]) and ``.y``. Optimizer, lr schedule and batch size follow the
    network's recipe (``crossbar.models.recipe``), ``lr`` / ``batch_size``
    override them. Randomness: batch order from ``derive(seed,
    TRAIN_SHUFFLE)``, noise layers from ``derive(seed, TRAIN_NOISE)``, the
    attack on batch b of epoch e from ``derive(seed, ADV_TRAIN, e, b)``. The
    test accuracy after each epoch is on natural inputs. With ``checkpoint``
    an existing file of the same configuration is resumed; one of another
    configuration is refused and left alone.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be an int >= 0, got {epochs!r}")
    from crossbar import models as zoo

    dev = torch.device(device)
    rec = _recipe(net, batch_size, lr)
    spec = getattr(net, "crossbar_model", None) or {}
    name = spec.get("name")
    config = jsonable({
        "model": name or f"module:{type(net).__qualname__}",
        "model_kwargs": spec.get("kwargs", {}),
        **({"model_source": spec["source"]} if spec.get("source") is not None else {}),
        "noise": noise_summary(net),
        "data": data_name,
        "data_digest": data_identity(train_data)["digest"],
        "limit": len(train_data.y),
        "seed": seed,
        **rec,
        "adversarial": {"attack": attack.to_dict(), "fraction": 0.5},
    })
    seed_noise(net, derive(seed, Stream.TRAIN_NOISE))
    net.to(dev)
    opt = make_optimizer(net.parameters(), rec)
    shuffle = torch.Generator().manual_seed(derive(seed, Stream.TRAIN_SHUFFLE))
    history, start = History(), 0
    path = Path(checkpoint) if checkpoint is not None else None
    if path is not None and path.exists():
        ckpt = read_checkpoint(path)
        diff = config_diff(ckpt["config"], config)
        if diff:
            raise ValueError(f"checkpoint {path} was written by a different training run:\n"
                             + "\n".join(diff) + "\nuse another output folder")
        net.load_state_dict(ckpt["state_dict"])
        opt.load_state_dict(ckpt["optimizer"])
        shuffle.set_state(ckpt["rng"]["shuffle"])
        set_noise_rng_state(net, ckpt["rng"]["noise"])
        history, start = History.from_dict(ckpt["history"]), int(ckpt["epoch"])

    x_all, y_all = train_data.x.to(dev), train_data.y.to(dev)
    n, bs = len(y_all), rec["batch_size"]
    n_used = n - 1 if (n > 1 and n % bs == 1) else n  # a batch of one breaks batch norm
    n_batches = math.ceil(n_used / bs)
    for epoch in range(start, epochs):
        t0 = time.perf_counter()
        lr_now = lr_at(rec["lr"], epoch, epochs, rec["lr_milestones"], rec["lr_gamma"])
        for group in opt.param_groups:
            group["lr"] = lr_now
        net.train()
        perm = torch.randperm(n, generator=shuffle)[:n_used].to(dev)
        loss_sum, correct = 0.0, 0
        bar = _bar(progress, n_batches, f"adversarial training {epoch + 1}/{epochs}")
        for b in range(n_batches):
            idx = perm[b * bs : (b + 1) * bs]
            xb, yb = x_all[idx], y_all[idx]
            xb = madry_batch(net, xb, yb, attack, seed=derive(seed, Stream.ADV_TRAIN, epoch, b))
            logits = net(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(yb)
            correct += int((logits.detach().argmax(1) == yb).sum())
            bar.update(1)
        test_acc = evaluate(net, test_data, device=dev) if test_data is not None else float("nan")
        bar.set_postfix(loss=f"{loss_sum / n_used:.4f}", acc=f"{correct / n_used:.3f}",
                        test=f"{test_acc:.3f}")
        bar.close()
        history.append(epoch=epoch + 1, train_loss=loss_sum / n_used, train_acc=correct / n_used,
                       test_acc=test_acc, time=time.perf_counter() - t0, lr=lr_now)
        bad = nonfinite_entries(net.state_dict())
        if bad or not math.isfinite(loss_sum):
            raise TrainingDivergedError(
                f"adversarial training diverged in epoch {epoch + 1}: "
                f"{', '.join(bad[:3]) or 'the loss'} became NaN or infinite; nothing of this epoch "
                "was saved; lower the learning rate")
        if path is not None:
            write_checkpoint(path, {
                "model": name if zoo.is_bundled(name) or is_spec(name) else None,
                "model_kwargs": config["model_kwargs"],
                "model_input": list(train_data.x.shape[1:]),
                "build_noise": jsonable(spec.get("noise")),
                "noise": config["noise"],
                "noise_layers": [layer.config.to_dict() for layer in noise_layers(net)],
                "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
                "optimizer": opt.state_dict(),
                "epoch": epoch + 1,
                "history": history.to_dict(),
                "config": config,
                "data": {"name": data_name, "source": _source(train_data), "test_source": _source(test_data)},
                "rng": {"shuffle": shuffle.get_state(), "noise": noise_rng_state(net)},
                "torch_version": str(torch.__version__),
                "code": code_identity(),
            })
    net.eval()
    return net, history


def _source(ds: Any) -> str | None:
    src = getattr(ds, "source", None) if ds is not None else None
    return None if src is None else str(src)


def _bar(enabled: bool, total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="batch", disable=not enabled, dynamic_ncols=True)
