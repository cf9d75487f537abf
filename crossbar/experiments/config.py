"""Sweep configuration: a frozen, strictly validated dataclass and its YAML loader.

Every field is checked once, when the object is built; a wrong key, type or
range raises :class:`ConfigError` naming the key and what is allowed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crossbar import checks as generic
from crossbar.yamlio import YamlFileError, read_yaml

from . import checks
from .checks import ConfigError, fail

MODEL_NAMES = ("cnn6", "densenet40", "densenet100", "lstm_strokes", "madry_cnn4")
DATA_NAMES = (
    "mnist",
    "fashion-mnist",
    "mnist5k",
    "cifar10",
    "mnist-strokes",
    "mnist-strokes-generated",
)
NOISE_KINDS = ("mult", "add")
VOTE_RULES = ("hard", "soft")

# Fields that decide where and how fast a sweep runs, never what it computes;
# they are left out of the configuration hash.
RUN_ONLY_FIELDS = ("out", "workers")

MAX_ROWS = 1_000_000
"""At most this many rows (inputs x noisy copies) go through the network in one pass."""


@dataclass(frozen=True)
class SoftmaxSpec:
    """Softmax output distribution of one test image (Figs. 4/5).

    ``image`` indexes the test set; ``runs`` noisy inferences are drawn for
    every sigma_val, for each model trained with a sigma_train in
    ``sigma_train`` (empty: the smallest and the largest of the grid).
    """

    image: int = 0
    runs: int = 1000
    sigma_train: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        checks.integer("softmax.image", self.image, 0)
        checks.integer("softmax.runs", self.runs, 1, hi=1_000_000)
        if self.sigma_train:
            object.__setattr__(
                self, "sigma_train", checks.sigmas("softmax.sigma_train", self.sigma_train)
            )
        else:
            object.__setattr__(self, "sigma_train", ())

    @classmethod
    def from_dict(cls, d: Any) -> SoftmaxSpec:
        kw = checks.mapping_keys("softmax", d, cls)
        if "sigma_train" in kw:
            st = kw["sigma_train"]
            kw["sigma_train"] = () if not st else checks.sigmas("softmax.sigma_train", st)
        return cls(**kw)


@dataclass(frozen=True)
class SweepConfig:
    """A sigma_train x sigma_val sweep (see docs/experiments.md for every key)."""

    model: str = "cnn6"
    data: str = "mnist5k"
    sigma_train: tuple[float, ...] = (0.0,)
    sigma_val: tuple[float, ...] = (0.0,)
    noise: str = "mult"
    profile: str | None = None
    data_root: str | None = None
    limit_train: int | None = None
    limit_test: int | None = None
    epochs: int = 1
    batch_size: int | None = None
    lr: float | None = None
    model_kwargs: dict = field(default_factory=dict, hash=False)
    runs: int = 50
    votes: int = 20
    vote_sigma_val: tuple[float, ...] = ()
    vote_rule: str = "hard"
    softmax: SoftmaxSpec | None = None
    eval_batch_size: int = 25
    draws_per_pass: int = 10
    torch_device: str = "cpu"
    seed: int = 0
    out: str = "runs/sweep"
    workers: int = 1
    train: dict = field(default_factory=dict, hash=False)  # {hardware: ...}: hardware-aware training

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        checks.model_spec("model", self.model)
        checks.data_spec("data", self.data)
        checks.string("noise", self.noise, NOISE_KINDS)
        checks.string("profile", self.profile, optional=True)
        checks.string("data_root", self.data_root, optional=True)
        checks.integer("limit_train", self.limit_train, 1, optional=True)
        checks.integer("limit_test", self.limit_test, 1, optional=True)
        checks.integer("epochs", self.epochs, 1, hi=100_000)
        checks.integer("batch_size", self.batch_size, 1, optional=True, hi=1_000_000)
        set_("lr", checks.number("lr", self.lr, 0.0, 10.0, lo_open=True, optional=True))
        set_("model_kwargs", checks.model_kwargs("model_kwargs", self.model, self.model_kwargs))
        set_("sigma_train", checks.sigmas("sigma_train", self.sigma_train))
        set_("sigma_val", checks.sigmas("sigma_val", self.sigma_val))
        checks.integer("runs", self.runs, 1, hi=100_000)
        checks.integer("votes", self.votes, 0, hi=1000)
        if self.vote_sigma_val:
            vs = checks.sigmas("vote_sigma_val", self.vote_sigma_val)
            missing = [v for v in vs if v not in self.sigma_val]
            if missing:
                fail("vote_sigma_val", f"values from sigma_val {list(self.sigma_val)}", missing)
            set_("vote_sigma_val", vs)
        else:
            set_("vote_sigma_val", ())  # every sigma_val: see vote_curves_at
        checks.string("vote_rule", self.vote_rule, VOTE_RULES)
        if self.softmax is not None:
            if not isinstance(self.softmax, SoftmaxSpec):
                fail("softmax", "a SoftmaxSpec or null", self.softmax)
            missing = [v for v in self.softmax.sigma_train if v not in self.sigma_train]
            if missing:
                fail("softmax.sigma_train",
                      f"values from sigma_train {list(self.sigma_train)}", missing)
            if self.limit_test is not None and self.softmax.image >= self.limit_test:
                fail("softmax.image", f"an index < limit_test ({self.limit_test})",
                      self.softmax.image)
        checks.integer("eval_batch_size", self.eval_batch_size, 1, hi=MAX_ROWS)
        checks.integer("draws_per_pass", self.draws_per_pass, 1, hi=MAX_ROWS)
        if self.eval_batch_size * self.draws_per_pass > MAX_ROWS:
            fail("draws_per_pass", f"eval_batch_size x draws_per_pass <= {MAX_ROWS:,} rows per pass",
                 self.draws_per_pass)
        checks.torch_device("torch_device", self.torch_device)
        checks.integer("seed", self.seed, 0, hi=2**64 - 1)
        checks.string("out", self.out)
        checks.integer("workers", self.workers, 1, hi=1024)
        if not isinstance(self.train, dict):
            fail("train", "a mapping {hardware: PROFILE or {profile: ..., options}}", self.train)
        generic.check_keys(None, "train", self.train, (), ("hardware",))
        if self.hardware() is not None and self.sigma_train != (0.0,):
            fail("train.hardware", "sigma_train [0] (hardware-aware training injects no Eq. 2/3 noise)",
                 list(self.sigma_train))

    def hardware(self):
        """``train.hardware`` as a ``crossbar.training.hardware.HardwareConfig`` (None: not given)."""
        from crossbar.training.hardware import HardwareConfig

        spec = self.train.get("hardware")
        return None if spec is None else HardwareConfig.parse(spec, key="train.hardware")

    # -- derived -------------------------------------------------------------
    @property
    def draws(self) -> int:
        """Noisy inferences per test input in one cell: max(runs, votes)."""
        return max(self.runs, self.votes)

    @property
    def vote_curves_at(self) -> tuple[float, ...]:
        """The sigma_vals whose accuracy-vs-votes curves are plotted."""
        return self.vote_sigma_val or self.sigma_val

    @property
    def softmax_sigma_train(self) -> tuple[float, ...]:
        if self.softmax is None:
            return ()
        if self.softmax.sigma_train:
            return self.softmax.sigma_train
        return tuple(sorted({self.sigma_train[0], self.sigma_train[-1]}))

    @property
    def source(self) -> str:
        """The inference noise source: 'mult', 'add' or 'device:<profile>'."""
        return f"device:{self.profile}" if self.profile else self.noise

    # -- (de)serialisation ---------------------------------------------------
    @classmethod
    def from_dict(cls, d: Any) -> SweepConfig:
        kw = checks.mapping_keys("", d, cls)
        if "vote_sigma_val" in kw and not kw["vote_sigma_val"]:
            kw["vote_sigma_val"] = ()  # null or []: every sigma_val
        for key in ("sigma_train", "sigma_val", "vote_sigma_val"):
            if key in kw and kw[key] != ():
                kw[key] = checks.sigmas(key, kw[key])
        if "softmax" in kw and kw["softmax"] is not None:
            kw["softmax"] = SoftmaxSpec.from_dict(kw["softmax"])
        if "model_kwargs" in kw and kw["model_kwargs"] is None:
            kw["model_kwargs"] = {}
        if "train" in kw and kw["train"] is None:
            kw["train"] = {}
        return cls(**kw)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for key in ("sigma_train", "sigma_val", "vote_sigma_val"):
            d[key] = list(d[key])
        if d["softmax"] is not None:
            d["softmax"]["sigma_train"] = list(d["softmax"]["sigma_train"])
        if not d["train"]:
            del d["train"]  # sweeps without a train block keep their hash
        return d

    def replace(self, **changes: Any) -> SweepConfig:
        return dataclasses.replace(self, **changes)

    def hash(self) -> str:
        """SHA-256 of everything that decides the results (not out/workers)."""
        d = self.to_dict()
        for k in RUN_ONLY_FIELDS:
            d.pop(k)
        hw = self.hardware()
        if hw is not None:  # the device by its values
            d["train"] = {"hardware": hw.to_dict()}
        text = json.dumps(d, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def load_config(path: str | Path) -> SweepConfig:
    """Read and validate a sweep config from a YAML file."""
    return load_yaml_config(path, SweepConfig.from_dict, "sweep")


def load_yaml_config(path: str | Path, from_dict: Callable[[Any], Any], what: str):
    """Read a YAML config file and build it with ``from_dict``; every error names the file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} config {path} does not exist")
    try:
        data = read_yaml(path)
    except YamlFileError as err:
        raise ConfigError(str(path), None, str(err).removeprefix(f"{path}: ")) from None
    if data is None:
        raise ConfigError(str(path), None, f"empty {what} config")
    try:
        return from_dict(data)
    except ConfigError as err:
        raise err.in_file(str(path)) from None
