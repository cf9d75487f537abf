"""The configuration of a noise budget (``crossbar-sim budget CONFIG.yaml``): every key in docs/budget.md.

:class:`BudgetConfig` is validated once, when it is built; a wrong key, type
or range raises :class:`ConfigError` naming the key and what is allowed.
:class:`TrainSpec` says how to train the model when its checkpoint does not
exist yet.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crossbar.atomic import safe_name
from crossbar.checks import one_line
from crossbar.cost.voting import VOTING_MODES
from crossbar.identity import code_identity, digest_json, profile_digest

from ..checks import (
    MAX_INT,
    ConfigError,
    data_spec,
    fail,
    integer,
    interval,
    mapping_keys,
    model_kwargs,
    model_spec,
    number,
    overrides,
    string,
    vote_counts,
)
from ..config import load_yaml_config
from ..noise_scale import SCALE_MODES, Age
from ..profiles import load_profile

__all__ = ["REFERENCES", "BudgetConfig", "TrainSpec", "load_budget_config"]

REFERENCES = ("mapped", "digital")
"""What the target is measured from: the mapped network at s = 0 (no read noise with
``scale: read``; no device noise with ``scale: all``), or the float network."""


def _frozen_json(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=str)


@dataclass(frozen=True)
class TrainSpec:
    """How to train the model when the checkpoint does not exist yet (``crossbar.training.train``)."""

    model: str = "cnn6"
    data: str | None = None  # default: the budget's data
    noise: str | None = None  # default: "mult", or "none" with hardware
    sigma_train: float | None = None  # default: 0.3, or 0 with hardware
    epochs: int = 6
    lr: float | None = 1e-3
    batch_size: int | None = None
    seed: int = 0
    limit: int | None = None  # first N training (and per-epoch test) examples
    model_kwargs: dict = field(default_factory=dict, hash=False)
    hardware: Any = field(default=None, hash=False)  # hardware-aware training (docs/training.md)

    def __post_init__(self) -> None:
        hw = self.hardware_config()
        if self.noise is None:
            object.__setattr__(self, "noise", "none" if hw else "mult")
        if self.sigma_train is None:
            object.__setattr__(self, "sigma_train", 0.0 if hw else 0.3)
        if hw is not None and (self.noise != "none" or self.sigma_train):
            raise ConfigError(None, "train.hardware", "hardware-aware training and noise injection cannot "
                              f"be combined (train.noise {self.noise!r}, train.sigma_train "
                              f"{self.sigma_train!r}); leave out train.noise and train.sigma_train",
                              hw.profile.name)
        model_spec("train.model", self.model)
        object.__setattr__(self, "model_kwargs",
                           model_kwargs("train.model_kwargs", self.model, self.model_kwargs))
        if self.data is not None:
            data_spec("train.data", self.data)
        string("train.noise", self.noise, ("none", "mult", "add"))
        object.__setattr__(self, "sigma_train", number("train.sigma_train", self.sigma_train, 0.0, 10.0))
        integer("train.epochs", self.epochs, 1, hi=100_000)
        object.__setattr__(self, "lr", number("train.lr", self.lr, 0.0, 10.0, lo_open=True, optional=True))
        integer("train.batch_size", self.batch_size, 1, optional=True, hi=1_000_000)
        integer("train.seed", self.seed, 0, hi=2**64 - 1)
        integer("train.limit", self.limit, 1, optional=True, hi=MAX_INT)

    @classmethod
    def from_dict(cls, d: Any) -> TrainSpec:
        return cls(**mapping_keys("train", d, cls))

    def hardware_config(self):
        """The ``hardware`` setting as a ``crossbar.training.hardware.HardwareConfig`` (None: none)."""
        from crossbar.training.hardware import HardwareConfig

        return None if self.hardware is None else HardwareConfig.parse(self.hardware, key="train.hardware")

    def checkpoint_name(self, data: str) -> str:
        """A file name that changes whenever a setting that changes the weights does."""
        d = {**dataclasses.asdict(self), "data": self.data or data}
        if not self.model_kwargs:
            del d["model_kwargs"]  # the names of budgets without model arguments stay as they were
        hw = self.hardware_config()
        del d["hardware"]
        if hw is not None:  # by the profile's values, not its name
            d["hardware"] = hw.to_dict()
        digest = hashlib.sha256(_frozen_json(d).encode()).hexdigest()[:8]
        trained = f"hw-{safe_name(hw.profile.name, 24)}" if hw else f"{self.noise}{self.sigma_train:g}"
        return f"{safe_name(self.model)}-{trained}-{digest}.pt"


@dataclass(frozen=True)
class BudgetConfig:
    """A noise-budget run (``crossbar-sim budget CONFIG.yaml``); every key in docs/budget.md."""

    checkpoint: str | None = None
    train: TrainSpec | None = None
    data: str = "mnist5k"
    data_root: str | None = None
    test_limit: Any = "auto"
    profile: str = "reram"
    profile_overrides: dict = field(default_factory=dict, hash=False)
    layer_overrides: dict = field(default_factory=dict, hash=False)
    scale: str = "read"
    reference: str = "mapped"
    max_drop: float = 0.01
    target_accuracy: float | None = None
    votes: tuple[int, ...] = (1, 3, 5, 10, 20)
    repeats: int = 3
    max_repeats: int = 8
    confidence: float = 0.95
    time_since_programming: float | None = None
    drift_compensation: bool = True
    vote_schedule: str = "pipelined"
    noise_range: tuple[float, float] = (0.125, 128.0)
    rel_tol: float = 0.1
    voltage_tol: float = 0.02
    activity: Any = "measured"
    replication: int = 1
    seed: int = 0
    batch_rows: int = 256
    threads: int | None = 1
    max_evaluations: int = 40
    out: str = "runs/budget"
    plots: bool = True

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        string("checkpoint", self.checkpoint, optional=True)
        if self.train is not None and not isinstance(self.train, TrainSpec):
            set_("train", TrainSpec.from_dict(self.train))
        if self.checkpoint is None and self.train is None:
            fail("checkpoint", "a checkpoint path, or a 'train' block to train one", None)
        data_spec("data", self.data)
        string("data_root", self.data_root, optional=True)
        if self.test_limit != "auto":
            try:
                integer("test_limit", self.test_limit, 1)
            except ConfigError:
                fail("test_limit", "'auto' or an integer in 1..1000000000", self.test_limit)
        string("profile", self.profile)
        set_("profile_overrides", overrides("profile_overrides", self.profile_overrides))
        lo = self.layer_overrides if self.layer_overrides is not None else {}
        if not isinstance(lo, Mapping) or not all(isinstance(k, str) for k in lo):
            fail("layer_overrides", "a mapping of layer-name patterns to profile overrides", lo)
        set_("layer_overrides", {k: overrides(f"layer_overrides.{k}", v) for k, v in lo.items()})
        string("scale", self.scale, SCALE_MODES)
        string("reference", self.reference, REFERENCES)
        set_("max_drop", number("max_drop", self.max_drop, 0.0, 1.0))
        set_("target_accuracy", number("target_accuracy", self.target_accuracy, 0.0, 1.0, optional=True))
        set_("votes", vote_counts("votes", self.votes))
        integer("repeats", self.repeats, 1, hi=10_000)
        integer("max_repeats", self.max_repeats, 1, hi=10_000)
        if self.max_repeats < self.repeats:
            fail("max_repeats", f">= repeats ({self.repeats})", self.max_repeats)
        set_("confidence", number("confidence", self.confidence, 0.5, 0.999))
        set_("time_since_programming", number("time_since_programming", self.time_since_programming,
                                              1e-9, 1e10, optional=True))
        if not isinstance(self.drift_compensation, bool):
            fail("drift_compensation", "true or false", self.drift_compensation)
        string("vote_schedule", self.vote_schedule, VOTING_MODES)
        set_("noise_range", interval("noise_range", self.noise_range))
        set_("rel_tol", number("rel_tol", self.rel_tol, 0.0, 10.0, lo_open=True))
        set_("voltage_tol", number("voltage_tol", self.voltage_tol, 1e-4, 1.0))
        if self.activity != "measured":
            set_("activity", number("activity", self.activity, 0.0, 1.0))
        integer("replication", self.replication, 1, hi=10_000)
        integer("seed", self.seed, 0, hi=2**64 - 1)
        integer("batch_rows", self.batch_rows, 1, hi=1_000_000)
        integer("threads", self.threads, 1, optional=True, hi=1024)
        integer("max_evaluations", self.max_evaluations, 4, hi=10_000)
        string("out", self.out)
        if not isinstance(self.plots, bool):
            fail("plots", "true or false", self.plots)
        self.base_profile()  # profile name and overrides are valid

    # -- derived ---------------------------------------------------------------------
    @property
    def age(self) -> Age:
        """Time since programming (default: the profile's own) and drift compensation."""
        t = self.time_since_programming
        return Age(self.base_profile().time_since_programming if t is None else t,
                   self.drift_compensation)

    def base_profile(self):
        """The device profile with ``profile_overrides`` applied (validated; errors name the key)."""
        p = load_profile(self.profile, "profile")
        try:
            p = p.with_overrides(**self.profile_overrides)
            for ov in self.layer_overrides.values():
                p.with_overrides(**ov)
        except (ValueError, TypeError) as err:
            raise ConfigError(None, "profile_overrides / layer_overrides",
                              one_line(err)) from None
        return p

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["votes"] = list(self.votes)
        d["noise_range"] = list(self.noise_range)
        return d

    @classmethod
    def from_dict(cls, d: Any) -> BudgetConfig:
        kw = mapping_keys("", d, cls)
        if kw.get("train") is not None:
            kw["train"] = TrainSpec.from_dict(kw["train"])
        return cls(**kw)

    def replace(self, **changes: Any) -> BudgetConfig:
        return dataclasses.replace(self, **changes)

    def checkpoint_path(self) -> Path:
        if self.checkpoint is not None:
            return Path(self.checkpoint)
        assert self.train is not None
        return Path(self.out) / "model" / self.train.checkpoint_name(self.data)

    def evaluation_key(self, model_digest: str, data_digest: str, profile) -> str:
        """Digest of everything that decides accuracy(s, K), by content (the resume cache's key):
        the model's weights, the test data used, the profile's values (``profile``: the
        base profile, overrides applied), the settings of the evaluation and the code.
        Not the number of chips: chip r's count does not depend on it (the cache keeps
        counts per chip)."""
        keys = ("scale", "votes", "seed", "batch_rows", "layer_overrides", "vote_schedule")
        d = {k: self.to_dict()[k] for k in keys}
        d["age"] = self.age.to_dict()
        d.update(model=model_digest, data=data_digest, profile=profile_digest(profile),
                 code=code_identity())
        return digest_json(d, 16)


def load_budget_config(path: str | os.PathLike) -> BudgetConfig:
    """Read and validate a budget configuration from YAML (errors name the key)."""
    return load_yaml_config(path, BudgetConfig.from_dict, "budget")

