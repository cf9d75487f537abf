"""Training with noise injection, per-epoch checkpoints and exact resume.

``train(model, data, noise=..., epochs=...)`` trains one of the papers'
networks (or any ``nn.Module``) on a dataset from ``crossbar.data`` (or any
object with ``.x`` / ``.y`` tensors), evaluates the test split after every
epoch, and, given ``checkpoint=path``, writes one checkpoint file atomically
after every epoch. Running the same call again resumes at the next epoch and
ends with the same weights as an uninterrupted run (same device, same
thread count); a checkpoint written by a different run configuration is
refused, never overwritten.

Randomness: weights are drawn from ``seed`` (``crossbar.models.build(...,
seed=seed)`` gives the same initial weights), mini-batch order and noise
from two generators derived from ``seed``. Torch's global RNG is never used.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from crossbar.atomic import atomic_write
from crossbar.nn import (
    NO_NOISE,
    NoiseConfig,
    noise_layers,
    noise_rng_state,
    seed_noise,
    set_noise_rng_state,
)
from crossbar.seeds import Stream, derive

__all__ = ["History", "evaluate", "load_checkpoint", "train"]

CHECKPOINT_FORMAT = "crossbar-sim/checkpoint"
CHECKPOINT_VERSION = 1


@dataclass
class History:
    """Per-epoch record of a run (epochs counted from 1)."""

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)  # nan when there is no test set
    time: list[float] = field(default_factory=list)  # seconds, training + evaluation
    lr: list[float] = field(default_factory=list)

    def append(self, **row: float) -> None:
        for name in self._fields():
            getattr(self, name).append(row[name])

    def __len__(self) -> int:
        return len(self.epoch)

    @property
    def last(self) -> dict[str, float]:
        if not self.epoch:
            raise IndexError("empty history")
        return {name: getattr(self, name)[-1] for name in self._fields()}

    @classmethod
    def _fields(cls) -> tuple[str, ...]:
        return ("epoch", "train_loss", "train_acc", "test_acc", "time", "lr")

    def to_dict(self) -> dict[str, list]:
        return {name: list(getattr(self, name)) for name in self._fields()}

    @classmethod
    def from_dict(cls, data: Mapping[str, list]) -> History:
        return cls(**{name: list(data[name]) for name in cls._fields()})

    def table(self) -> str:
        lines = [f"{'epoch':>5}  {'loss':>8}  {'train acc':>9}  {'test acc':>8}  {'time s':>7}"]
        for e, lo, tr, te, t in zip(
            self.epoch, self.train_loss, self.train_acc, self.test_acc, self.time, strict=True
        ):
            lines.append(f"{e:>5}  {lo:>8.4f}  {tr:>9.2%}  {te:>8.2%}  {t:>7.1f}")
        return "\n".join(lines)


# ---------------------------------------------------------------- helpers


def _resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} requested but CUDA is not available")
    return device


def _num_classes(ds: Any) -> int:
    classes = getattr(ds, "classes", None)  # an int (crossbar.data) or a list of names
    if isinstance(classes, int) and not isinstance(classes, bool) and classes > 0:
        return classes
    if classes is not None and not isinstance(classes, (int, str)) and len(classes) > 0:
        return len(classes)
    return int(ds.y.max()) + 1


def _limited(ds: Any, limit: int | None) -> Any:
    if limit is None or len(ds.y) <= limit:
        return ds
    from types import SimpleNamespace

    return SimpleNamespace(
        x=ds.x[:limit],
        y=ds.y[:limit],
        classes=getattr(ds, "classes", None),
        name=getattr(ds, "name", "data"),
        source=getattr(ds, "source", None),
    )


def _load_dataset(name: str, split: str, root: Any, limit: int | None) -> Any:
    try:
        from crossbar.data import load
    except ImportError as err:  # pragma: no cover - depends on the data package
        raise ImportError("crossbar.data.load is not available; pass a dataset object") from err
    return load(name, split=split, root=root, limit=limit)


def _check_data(ds: Any, what: str) -> None:
    for attr in ("x", "y"):
        if not isinstance(getattr(ds, attr, None), torch.Tensor):
            raise TypeError(f"{what} must have tensors .x and .y (got {type(ds).__name__})")
    if len(ds.x) != len(ds.y) or len(ds.y) == 0:
        raise ValueError(f"{what}: .x and .y must be non-empty and of equal length")


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj))


def _noise_summary(model: nn.Module) -> Any:
    cfgs = [layer.config.to_dict() for layer in noise_layers(model)]
    if not cfgs:
        return NO_NOISE.to_dict()
    return cfgs[0] if all(c == cfgs[0] for c in cfgs) else cfgs


def _lr_at(base: float, epoch: int, epochs: int, milestones: Any, gamma: float) -> float:
    # milestone fraction m of an E-epoch run: epochs floor(m * E), ... (never the first one)
    drops = sum(1 for m in milestones if epoch >= max(1, math.floor(float(m) * epochs + 1e-9)))
    return base * gamma**drops


def _make_optimizer(params: Any, opt: Mapping[str, Any]) -> torch.optim.Optimizer:
    if opt["optimizer"] == "adam":
        return torch.optim.Adam(params, lr=opt["lr"], weight_decay=opt["weight_decay"])
    return torch.optim.SGD(
        params,
        lr=opt["lr"],
        momentum=opt["momentum"] or 0.0,
        nesterov=bool(opt["nesterov"]),
        weight_decay=opt["weight_decay"],
    )


def _resolve_optimizer(
    rec: Mapping[str, Any], optimizer: str | None, lr: float | None, batch_size: int | None
) -> dict[str, Any]:
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


def _write_atomic(path: Path, obj: Any) -> None:
    atomic_write(path, lambda fh: torch.save(obj, fh))


def _read_checkpoint(path: Path) -> dict[str, Any]:
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a crossbar-sim training checkpoint")
    if ckpt.get("version") != CHECKPOINT_VERSION:
        raise ValueError(
            f"{path}: checkpoint version {ckpt.get('version')} is not supported "
            f"(this crossbar-sim reads version {CHECKPOINT_VERSION})"
        )
    return ckpt


def _config_diff(saved: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    keys = sorted(set(saved) | set(wanted))
    return [
        f"  {k}: checkpoint has {saved.get(k)!r}, this run asks for {wanted.get(k)!r}"
        for k in keys
        if saved.get(k) != wanted.get(k)
    ]


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: Any,
    *,
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> float:
    """Accuracy of ``model`` in eval mode (noise at ``sigma_val``) on ``data`` (.x, .y).

    Runs on ``device`` (default: where the model's parameters are); the
    model's train/eval mode is restored afterwards.
    """
    _check_data(data, "data")
    if device is None:
        p = next(model.parameters(), None)
        device = p.device if p is not None else torch.device("cpu")
    device = torch.device(device)
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=device)
    try:
        for i in range(0, len(data.y), batch_size):
            xb = data.x[i : i + batch_size].to(device, non_blocking=True)
            yb = data.y[i : i + batch_size].to(device, non_blocking=True)
            correct += (model(xb).argmax(1) == yb).sum()
    finally:
        model.train(was_training)
    return correct.item() / len(data.y)


# ---------------------------------------------------------------- train


def train(
    model: str | nn.Module,
    data: str | Any = "mnist5k",
    *,
    noise: NoiseConfig = NO_NOISE,
    epochs: int = 1,
    batch_size: int | None = None,
    lr: float | None = None,
    optimizer: str | None = None,
    seed: int = 0,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = True,
    device: str | torch.device | None = None,
    data_root: str | os.PathLike | None = None,
    limit: int | None = None,
    progress: bool = True,
    model_kwargs: dict[str, Any] | None = None,
    test_data: Any = None,
) -> tuple[nn.Module, History]:
    """Train ``model`` on ``data`` for ``epochs`` epochs; returns (model, history).

    ``model``: a name from ``crossbar.models.available()`` (built with
    ``noise``, ``seed`` and ``model_kwargs``; number of classes, and for cnn6
    / the LSTM the input shape, are taken from the data unless given) or an
    ``nn.Module`` (its own noise configs are kept unless ``noise`` is not the
    default ``NoiseConfig()``, which is then set on every noise layer).
    ``data``: a ``crossbar.data`` name (train split for training, test split
    for the per-epoch test accuracy, both cut to ``limit`` samples) or an
    object with tensors ``.x`` / ``.y`` (then ``test_data`` is the test set,
    if any). ``batch_size`` / ``lr`` / ``optimizer`` ("adam", "sgd") default
    to ``crossbar.models.recipe(model)``. ``checkpoint``: file written after
    every epoch; with ``resume`` an existing one is continued (it must come
    from the same configuration; ``epochs`` may grow). ``device``: default
    CUDA when available.
    """
    from crossbar import models as zoo

    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be an int >= 0, got {epochs!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive int, got {limit!r}")
    if not isinstance(noise, NoiseConfig):
        raise TypeError(f"noise must be a NoiseConfig, got {type(noise)!r}")
    dev = _resolve_device(device)

    # data
    if isinstance(data, str):
        train_ds = _load_dataset(data, "train", data_root, limit)
        test_ds = (
            _limited(test_data, limit)
            if test_data is not None
            else _load_dataset(data, "test", data_root, limit)
        )
        data_name = getattr(train_ds, "name", None) or data
    else:
        train_ds = _limited(data, limit)
        test_ds = _limited(test_data, limit) if test_data is not None else None
        data_name = getattr(data, "name", None) or "custom"
    _check_data(train_ds, f"training data {data_name!r}")
    if test_ds is not None:
        _check_data(test_ds, f"test data {data_name!r}")
    sample_shape = tuple(train_ds.x.shape[1:])

    # model
    init_seed = seed
    noise_seed, shuffle_seed = derive(seed, Stream.TRAIN_NOISE), derive(seed, Stream.TRAIN_SHUFFLE)
    if isinstance(model, str):
        name = zoo.canonical_name(model)
        kwargs = {
            **zoo.kwargs_for_data(name, sample_shape, _num_classes(train_ds)),
            **(model_kwargs or {}),
        }
        kwargs.pop("seed", None)
        zoo.input_spec(name, **kwargs).check(sample_shape, name, data_name)
        net = zoo.build(name, noise, seed=init_seed, **kwargs)
        rec = zoo.recipe(name)
    elif isinstance(model, nn.Module):
        if model_kwargs:
            raise ValueError("model_kwargs only apply when the model is given by name")
        net = model
        spec = getattr(net, "crossbar_model", None)
        name = spec["name"] if spec else None
        kwargs = dict(spec["kwargs"]) if spec else {}
        if name is not None:
            zoo.input_spec(name, **kwargs).check(sample_shape, name, data_name)
        rec = zoo.recipe(name) if name else dict(zoo.DEFAULT_RECIPE)
        if noise != NO_NOISE:
            for layer in noise_layers(net):
                layer.config = noise
    else:
        raise TypeError(f"model must be a model name or an nn.Module, got {type(model)!r}")
    seed_noise(net, noise_seed)
    opt_cfg = _resolve_optimizer(rec, optimizer, lr, batch_size)

    config = _jsonable(
        {
            "model": name if name else f"module:{type(net).__qualname__}",
            "model_kwargs": kwargs,
            "noise": _noise_summary(net),
            "data": data_name,
            "limit": limit,
            "seed": seed,
            **opt_cfg,
        }
    )

    net.to(dev)
    opt = _make_optimizer(net.parameters(), opt_cfg)
    shuffle_gen = torch.Generator().manual_seed(shuffle_seed)
    history = History()
    start = 0

    path = Path(checkpoint) if checkpoint is not None else None
    if path is not None and path.exists() and resume:
        ckpt = _read_checkpoint(path)
        diff = _config_diff(ckpt["config"], config)
        if diff:
            raise ValueError(
                f"checkpoint {path} was written by a different run configuration:\n"
                + "\n".join(diff)
                + "\nuse another checkpoint path, or resume=False (CLI: --no-resume) "
                "to overwrite it"
            )
        net.load_state_dict(ckpt["state_dict"])
        opt.load_state_dict(ckpt["optimizer"])
        shuffle_gen.set_state(ckpt["rng"]["shuffle"])
        set_noise_rng_state(net, ckpt["rng"]["noise"])
        history = History.from_dict(ckpt["history"])
        start = int(ckpt["epoch"])

    x_all, y_all = train_ds.x.to(dev), train_ds.y.to(dev)
    n = len(y_all)
    bs = opt_cfg["batch_size"]
    # a last batch of one sample would break batch norm in training mode: skip it
    n_used = n - 1 if (n > 1 and n % bs == 1) else n
    n_batches = math.ceil(n_used / bs)

    for epoch in range(start, epochs):
        t0 = time.perf_counter()
        lr_now = _lr_at(opt_cfg["lr"], epoch, epochs, opt_cfg["lr_milestones"], opt_cfg["lr_gamma"])
        for group in opt.param_groups:
            group["lr"] = lr_now
        net.train()
        perm = torch.randperm(n, generator=shuffle_gen)[:n_used].to(dev)
        loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
        correct = torch.zeros((), dtype=torch.long, device=dev)
        seen = 0
        bar = _progress_bar(progress, n_batches, f"epoch {epoch + 1}/{epochs}")
        for b in range(n_batches):
            idx = perm[b * bs : (b + 1) * bs]
            xb, yb = x_all[idx], y_all[idx]
            logits = net(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach() * len(yb)
            correct += (logits.detach().argmax(1) == yb).sum()
            seen += len(yb)
            if bar is not None:
                bar.update(1)
                if b % 10 == 9 or b == n_batches - 1:
                    bar.set_postfix(loss=f"{loss_sum.item() / seen:.4f}", acc=f"{correct.item() / seen:.3f}")
        train_loss = loss_sum.item() / seen
        train_acc = correct.item() / seen
        test_acc = (
            evaluate(net, test_ds, batch_size=max(256, bs), device=dev)
            if test_ds is not None
            else float("nan")
        )
        if bar is not None:
            bar.set_postfix(loss=f"{train_loss:.4f}", acc=f"{train_acc:.3f}", test=f"{test_acc:.3f}")
            bar.close()
        history.append(
            epoch=epoch + 1,
            train_loss=train_loss,
            train_acc=train_acc,
            test_acc=test_acc,
            time=time.perf_counter() - t0,
            lr=lr_now,
        )
        if path is not None:
            _write_atomic(
                path,
                {
                    "format": CHECKPOINT_FORMAT,
                    "version": CHECKPOINT_VERSION,
                    "model": name,
                    "model_kwargs": _jsonable(kwargs),
                    "build_noise": _jsonable(getattr(net, "crossbar_model", {}).get("noise")),
                    "noise": _jsonable(_noise_summary(net)),
                    "noise_layers": [layer.config.to_dict() for layer in noise_layers(net)],
                    "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
                    "optimizer": opt.state_dict(),
                    "epoch": epoch + 1,
                    "history": history.to_dict(),
                    "config": config,
                    "data": {
                        "name": data_name,
                        "source": _source(train_ds),
                        "test_source": _source(test_ds),
                    },
                    "rng": {"shuffle": shuffle_gen.get_state(), "noise": noise_rng_state(net)},
                    "torch_version": str(torch.__version__),
                },
            )
    return net, history


def _source(ds: Any) -> str | None:
    src = getattr(ds, "source", None) if ds is not None else None
    return None if src is None else str(src)


def _progress_bar(enabled: bool, total: int, desc: str) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="batch", dynamic_ncols=True)


# ---------------------------------------------------------------- load


def load_checkpoint(
    path: str | os.PathLike,
    *,
    model: nn.Module | None = None,
    device: str | torch.device = "cpu",
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the trained network of a checkpoint; returns (model in eval mode, info).

    ``info`` holds everything else of the checkpoint: ``epoch``, ``history``
    (a ``History``), ``config`` (the run configuration), ``noise`` (the
    run's ``NoiseConfig``, or a list of per-layer dicts), ``data`` (name and
    source files), ``model`` / ``model_kwargs``, ``optimizer`` (state) and
    ``rng``. Networks not built from ``crossbar.models`` need ``model=``, a
    module of the same architecture to load the weights into.
    """
    from crossbar import models as zoo

    path = Path(path)
    ckpt = _read_checkpoint(path)
    if model is None:
        if not ckpt.get("model"):
            raise ValueError(
                f"{path} holds a custom module ({ckpt['config']['model']}); "
                "pass model= with the same architecture"
            )
        build_noise = ckpt.get("build_noise")
        noise = NoiseConfig.from_dict(build_noise) if build_noise else NO_NOISE
        model = zoo.build(ckpt["model"], noise, **ckpt["model_kwargs"])
    model.load_state_dict(ckpt["state_dict"])
    layers = noise_layers(model)
    if len(layers) == len(ckpt["noise_layers"]):
        for layer, cfg in zip(layers, ckpt["noise_layers"], strict=True):
            layer.config = NoiseConfig.from_dict(cfg)
    set_noise_rng_state(model, ckpt["rng"]["noise"])
    model.to(device).eval()
    info = {k: v for k, v in ckpt.items() if k != "state_dict"}
    info["history"] = History.from_dict(ckpt["history"])
    if isinstance(ckpt["noise"], dict):
        info["noise"] = NoiseConfig.from_dict(ckpt["noise"])
    info["path"] = str(path)
    return model, info
