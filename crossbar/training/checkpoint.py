"""Training checkpoints: one file per run, rewritten atomically after every epoch.

A checkpoint holds the weights, the optimizer state, both generators' states,
the history, the run configuration (with a digest of the training data) and
the code identity, so that a run resumes exactly where it stopped and a
different configuration is refused (:func:`config_diff`). A file that is not
a readable checkpoint (empty, truncated, random bytes) and weights that are
NaN or infinite are refused naming the file. A trained network is identified
by :func:`model_digest` (architecture and weights), not by the file's bytes,
which change with every save (timings, optimizer state).
"""

from __future__ import annotations

import json
import os
import pickle
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from crossbar.atomic import atomic_write
from crossbar.identity import digest_json, state_digest
from crossbar.nn import NO_NOISE, NoiseConfig, noise_layers, set_noise_rng_state

from .history import History

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "TrainingDivergedError",
    "config_diff",
    "jsonable",
    "load_checkpoint",
    "model_digest",
    "noise_summary",
    "nonfinite_entries",
    "read_checkpoint",
    "write_checkpoint",
]

CHECKPOINT_FORMAT = "crossbar-sim/checkpoint"
CHECKPOINT_VERSION = 1
# Entries every checkpoint has (written by train(); read by resume and load_checkpoint).
_REQUIRED = ("state_dict", "optimizer", "epoch", "config", "history", "rng", "noise", "noise_layers",
             "model_kwargs")


class TrainingDivergedError(ValueError):
    """The loss or the weights of a training run became NaN or infinite."""


def nonfinite_entries(state: Mapping[str, Any]) -> list[str]:
    """Names of the floating-point tensors of ``state`` that hold NaN or infinity."""
    return [name for name, t in state.items()
            if isinstance(t, torch.Tensor) and t.is_floating_point() and not torch.isfinite(t).all()]


def model_digest(model: nn.Module) -> str:
    """Identity of a trained network: its architecture (name and arguments, where it was
    built by ``crossbar.models``; for a user's network the digest of its source files)
    and the digest of its weights and buffers."""
    spec = getattr(model, "crossbar_model", None) or {}
    ident = {"model": spec.get("name") or f"module:{type(model).__qualname__}",
             "kwargs": spec.get("kwargs"), "state": state_digest(model.state_dict())}
    if spec.get("source") is not None:  # a user's network: the source of its factory or class too
        ident["source"] = spec["source"]
    return digest_json(ident, 16)


def jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON types (what a checkpoint stores and compares)."""
    return json.loads(json.dumps(obj))


def noise_summary(model: nn.Module) -> Any:
    """The model's noise configuration: one dict if all noise layers agree, else one per layer."""
    cfgs = [layer.config.to_dict() for layer in noise_layers(model)]
    if not cfgs:
        return NO_NOISE.to_dict()
    return cfgs[0] if all(c == cfgs[0] for c in cfgs) else cfgs


def write_checkpoint(path: Path, content: Mapping[str, Any]) -> None:
    """Write one checkpoint (``content`` plus format and version) atomically."""
    obj = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **content}
    atomic_write(path, lambda fh: torch.save(obj, fh))


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint's content; refuses unreadable files and files of another format or version."""
    if Path(path).is_dir():
        raise ValueError(f"{path}: is a folder, expected a checkpoint file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as err:
        if err.filename is not None:  # missing, no permission: the error names the file
            raise
        raise ValueError(f"{path}: not a readable crossbar-sim checkpoint (empty, truncated or "
                         f"corrupt: {type(err).__name__}: {err.strerror or err})") from None
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, KeyError, ValueError,
            UnicodeDecodeError, TypeError, AttributeError, IndexError, MemoryError) as err:
        detail = " ".join(str(err).split())[:120] or type(err).__name__
        raise ValueError(
            f"{path}: not a readable crossbar-sim checkpoint (empty, truncated or corrupt: "
            f"{type(err).__name__}: {detail})"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a crossbar-sim training checkpoint")
    if ckpt.get("version") != CHECKPOINT_VERSION:
        raise ValueError(
            f"{path}: checkpoint version {ckpt.get('version')} is not supported "
            f"(this crossbar-sim reads version {CHECKPOINT_VERSION})"
        )
    missing = [k for k in _REQUIRED if k not in ckpt]
    if missing or not isinstance(ckpt["state_dict"], Mapping):
        raise ValueError(f"{path}: incomplete checkpoint (no {', '.join(missing) or 'weights'})")
    return ckpt


def config_diff(saved: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """One line per setting in which a checkpoint's run differs from the run asked for."""
    keys = sorted(set(saved) | set(wanted))
    return [
        f"  {k}: checkpoint has {saved.get(k)!r}, this run asks for {wanted.get(k)!r}"
        for k in keys
        if saved.get(k) != wanted.get(k)
    ]


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
    ``rng``. A bundled network, or a user's network named by an import path
    ``package.module:factory``, is rebuilt (``crossbar.models.resolve``; a factory
    whose source changed since training is rebuilt with a warning naming it); any
    other module needs ``model=``, a module of the same architecture to load the
    weights into.
    """
    from crossbar import models as zoo

    path = Path(path)
    ckpt = read_checkpoint(path)
    if model is None:
        if not ckpt.get("model"):
            raise ValueError(
                f"{path} holds a custom module ({ckpt['config']['model']}); "
                "pass model= with the same architecture"
            )
        build_noise = ckpt.get("build_noise")
        noise = NoiseConfig.from_dict(build_noise) if build_noise else NO_NOISE
        model = zoo.resolve(ckpt["model"], noise=noise, example=ckpt.get("model_input"),
                            **ckpt["model_kwargs"])
        trained = ckpt["config"].get("model_source")
        now = model.crossbar_model.get("source")
        if trained is not None and now != trained:
            warnings.warn(f"{path}: the source of {ckpt['model']} changed since it was trained "
                          f"(digest {trained}, now {now})", stacklevel=2)
    state = ckpt["state_dict"]
    bad = nonfinite_entries(state)
    if bad:
        raise ValueError(f"{path}: the weights {', '.join(bad[:3])} hold NaN or infinity "
                         "(a diverged training run); retrain with a lower learning rate or noise")
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0][:200]
        raise ValueError(f"{path}: the weights do not fit the network ({first})") from None
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
    info["model_digest"] = model_digest(model)
    return model, info

