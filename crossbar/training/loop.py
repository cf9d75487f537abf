"""The training loop: ``train()`` with per-epoch checkpoints and exact resume, and ``evaluate()``."""

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
from crossbar.models import GlobalRandomError
from crossbar.nn import (
    NO_NOISE,
    NoiseConfig,
    noise_layers,
    noise_rng_state,
    seed_noise,
    set_noise_rng_state,
)
from crossbar.nn.placement import place_noise
from crossbar.seeds import Stream, derive
from crossbar.threads import limit_threads

from .checkpoint import (
    TrainingDivergedError,
    config_diff,
    jsonable,
    noise_summary,
    nonfinite_entries,
    read_checkpoint,
    write_checkpoint,
)
from .hardware import Draws, HardwareConfig, HardwareError
from .history import History
from .inputs import (
    check_data,
    check_outputs,
    data_pair,
    limited,
    load_dataset,
    num_classes,
    resolve_device,
)
from .mapped import clip_weights, device_forward, mapped_layers
from .recipe import lr_at, make_optimizer, resolve_optimizer

__all__ = ["evaluate", "train"]


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
    check_data(data, "data")
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
    threads: int | None = 1,
    hardware: Any = None,
) -> tuple[nn.Module, History]:
    """Train ``model`` on ``data`` for ``epochs`` epochs; returns (model, history).

    ``model``: a name from ``crossbar.models.available()`` (built with
    ``noise``, ``seed`` and ``model_kwargs``; number of classes, and for cnn6
    / the LSTM the input shape, are taken from the data unless given), an
    import path ``package.module:factory`` or a factory callable (built by
    ``crossbar.models.resolve`` with ``model_kwargs``, weights from ``seed``,
    noise layers placed where the paper puts them), or an ``nn.Module`` (its own
    noise configs are kept unless ``noise`` is not the default ``NoiseConfig()``,
    which is then set on every noise layer, placed first if it has none).
    ``data``: a dataset name, an ``.npz`` path or ``package.module:loader``
    (train split for training, test split for the per-epoch test accuracy,
    both cut to ``limit`` samples), an object with tensors ``.x`` / ``.y``
    (then ``test_data`` is the test set, if any), or tensors / Datasets as
    ``crossbar.data.resolve`` takes them. ``batch_size`` / ``lr`` /
    ``optimizer`` ("adam", "sgd") default to the model's recipe
    (``crossbar.models.recipe_for``: the paper's, or Adam at 1e-3 for a user's
    network). ``checkpoint``: file written after every epoch; with ``resume``
    an existing one is continued (it must come from the same configuration;
    ``epochs`` may grow). ``device``: default CUDA when available.
    ``threads``: torch and Numba threads while training (default 1: the same
    bits on every machine, and the fastest on a small shared one; None leaves
    the setting alone). ``hardware``: train against a device (docs/training.md,
    "Hardware-aware training"): a profile name, path or ``DeviceProfile``, a
    ``HardwareConfig``, or a mapping ``{profile, effects, noise_scale, time, clip_sigma,
    overrides}``; every layer ``convert`` maps then sees its weights through the profile
    in each training forward (not with ``noise``).
    """
    with limit_threads(threads):
        return _train(model, data, noise=noise, epochs=epochs, batch_size=batch_size, lr=lr,
                      optimizer=optimizer, seed=seed, checkpoint=checkpoint, resume=resume,
                      device=device, data_root=data_root, limit=limit, progress=progress,
                      model_kwargs=model_kwargs, test_data=test_data, hardware=hardware)


def _train(model, data, *, noise, epochs, batch_size, lr, optimizer, seed, checkpoint, resume, device,
           data_root, limit, progress, model_kwargs, test_data, hardware) -> tuple[nn.Module, History]:
    from crossbar import models as zoo
    from crossbar.resolve import is_spec

    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be an int >= 0, got {epochs!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive int, got {limit!r}")
    if not isinstance(noise, NoiseConfig):
        raise TypeError(f"noise must be a NoiseConfig, got {type(noise)!r}")
    hw = None if hardware is None else HardwareConfig.parse(hardware)
    if hw is not None and noise != NO_NOISE:
        raise HardwareError(None, "hardware", "hardware-aware training and noise injection cannot be "
                            f"combined (noise={noise.to_dict()}); give one of them", hw.profile.name)
    dev = resolve_device(device)

    # data
    if isinstance(data, str):
        train_ds = load_dataset(data, "train", data_root, limit)
        test_ds = (
            limited(test_data, limit)
            if test_data is not None
            else load_dataset(data, "test", data_root, limit)
        )
        data_name = getattr(train_ds, "name", None) or data
    else:
        train_ds, test_ds, data_name = data_pair(data, test_data, limit)
    check_data(train_ds, f"training data {data_name!r}")
    if test_ds is not None:
        check_data(test_ds, f"test data {data_name!r}")
    sample_shape = tuple(train_ds.x.shape[1:])

    # model
    init_seed = seed
    noise_seed, shuffle_seed = derive(seed, Stream.TRAIN_NOISE), derive(seed, Stream.TRAIN_SHUFFLE)
    if zoo.is_bundled(model):
        name = zoo.canonical_name(model)
        kwargs = {
            **zoo.kwargs_for_data(name, sample_shape, num_classes(train_ds)),
            **(model_kwargs or {}),
        }
        kwargs.pop("seed", None)
        zoo.input_spec(name, **kwargs).check(sample_shape, name, data_name)
        net = zoo.build(name, noise, seed=init_seed, **kwargs)
        rec = zoo.recipe(name)
    elif isinstance(model, nn.Module):
        if model_kwargs:
            raise ValueError("model_kwargs only apply when the model is given by name or factory")
        net = model
        spec = getattr(net, "crossbar_model", None)
        name = spec["name"] if spec else None
        kwargs = dict(spec["kwargs"]) if spec else {}
        if zoo.is_bundled(name):
            zoo.input_spec(name, **kwargs).check(sample_shape, name, data_name)
        rec = zoo.recipe_for(name)
        if noise != NO_NOISE:
            if not noise_layers(net):
                place_noise(net, noise, example=train_ds.x[:2])
            for layer in noise_layers(net):
                layer.config = noise
    elif isinstance(model, str) or callable(model):
        kwargs = dict(model_kwargs or {})
        net = zoo.resolve(model, noise=noise, seed=init_seed, example=train_ds.x[:2], **kwargs)
        name = net.crossbar_model["name"]
        check_outputs(net, train_ds, name, data_name)
        rec = zoo.recipe_for(model)
    else:
        raise TypeError(f"model must be a model name, an import path, a factory or an nn.Module, "
                        f"got {type(model)!r}")
    seed_noise(net, noise_seed)
    mapped = mapped_layers(net, train_ds.x[:2].to(dev)) if hw is not None else None
    draws = Draws(derive(seed, Stream.TRAIN_HARDWARE)) if hw is not None else None
    source = (getattr(net, "crossbar_model", None) or {}).get("source")
    rebuild = name if zoo.is_bundled(name) or is_spec(name) else None  # what load_checkpoint rebuilds
    opt_cfg = resolve_optimizer(rec, optimizer, lr, batch_size)

    config = jsonable(
        {
            "model": name if name else f"module:{type(net).__qualname__}",
            "model_kwargs": kwargs,
            **({"model_source": source} if source is not None else {}),
            "noise": noise_summary(net),
            "data": data_name,
            "data_digest": data_identity(train_ds)["digest"],
            "limit": limit,
            "seed": seed,
            **opt_cfg,
            **({"hardware": hw.to_dict()} if hw is not None else {}),
        }
    )
    code = code_identity()

    net.to(dev)
    opt = make_optimizer(net.parameters(), opt_cfg)
    shuffle_gen = torch.Generator().manual_seed(shuffle_seed)
    history = History()
    start = 0

    path = Path(checkpoint) if checkpoint is not None else None
    if path is not None and path.exists() and resume:
        ckpt = read_checkpoint(path)
        diff = config_diff(ckpt["config"], config)
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
        if draws is not None:
            draws.forward = int(ckpt["rng"]["hardware"])
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
        lr_now = lr_at(opt_cfg["lr"], epoch, epochs, opt_cfg["lr_milestones"], opt_cfg["lr_gamma"])
        for group in opt.param_groups:
            group["lr"] = lr_now
        net.train()
        global_rng = torch.random.get_rng_state()
        perm = torch.randperm(n, generator=shuffle_gen)[:n_used].to(dev)
        loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
        correct = torch.zeros((), dtype=torch.long, device=dev)
        seen = 0
        bar = _progress_bar(progress, n_batches, f"epoch {epoch + 1}/{epochs}")
        for b in range(n_batches):
            idx = perm[b * bs : (b + 1) * bs]
            xb, yb = x_all[idx], y_all[idx]
            if mapped is None:
                logits = net(xb)
            else:
                with device_forward(mapped, hw, draws):
                    logits = net(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if mapped is not None and hw.clip_sigma is not None:
                clip_weights(mapped, hw.clip_sigma)
            loss_sum += loss.detach() * len(yb)
            correct += (logits.detach().argmax(1) == yb).sum()
            seen += len(yb)
            if bar is not None:
                bar.update(1)
                if b % 10 == 9 or b == n_batches - 1:
                    bar.set_postfix(loss=f"{loss_sum.item() / seen:.4f}", acc=f"{correct.item() / seen:.3f}")
        train_loss = loss_sum.item() / seen
        train_acc = correct.item() / seen
        bad = [] if math.isfinite(train_loss) else ["the loss"]
        bad += nonfinite_entries(net.state_dict())
        if not torch.equal(global_rng, torch.random.get_rng_state()):
            torch.random.set_rng_state(global_rng)
            if bar is not None:
                bar.close()
            raise GlobalRandomError(
                f"the network drew from torch's global random generator while training (e.g. an "
                f"nn.Dropout layer), so the run would not follow its seed; nothing of epoch {epoch + 1} "
                "was saved; remove the layer (the injected noise regularises already)")
        if bad:
            if bar is not None:
                bar.close()
            raise TrainingDivergedError(
                f"training diverged in epoch {epoch + 1}: {', '.join(bad[:3])}"
                f"{' and more' if len(bad) > 3 else ''} became NaN or infinite (mean loss "
                f"{train_loss:g}; lr {opt_cfg['lr']:g}, noise {noise_summary(net)}); nothing of this "
                "epoch was saved; lower the learning rate or the training noise"
            )
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
            write_checkpoint(
                path,
                {
                    "model": rebuild,
                    "model_kwargs": jsonable(kwargs),
                    "model_input": list(sample_shape),
                    "build_noise": jsonable(getattr(net, "crossbar_model", {}).get("noise")),
                    "noise": jsonable(noise_summary(net)),
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
                    "rng": {"shuffle": shuffle_gen.get_state(), "noise": noise_rng_state(net),
                            **({"hardware": draws.forward} if draws is not None else {})},
                    "torch_version": str(torch.__version__),
                    "code": code,
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


