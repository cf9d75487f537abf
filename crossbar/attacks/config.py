"""Configuration of an attack run (``crossbar-sim attack CONFIG.yaml``): frozen, validated.

Every key is checked when the object is built; a wrong key, type or value
raises :class:`ConfigError` naming the key, the value and what is allowed
(and, from :func:`load_config`, the file). See docs/attacks.md for the keys.

The two functions :func:`build_network` and :func:`load_split` are the only
places where a configuration's model and data names become a network and
tensors.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from crossbar.experiments import checks
from crossbar.experiments.checks import ConfigError
from crossbar.experiments.config import load_yaml_config

from .pgd import PRESETS, AttackParams

IMAGE_DATA = ("mnist", "fashion-mnist", "mnist5k", "cifar10")  # bundled data with pixels in [0, 1]
NOISE_KINDS = ("mult", "add")
VOTE_RULES = ("hard", "soft")
RUN_ONLY_FIELDS = ("out", "threads")  # where and how fast, never what: not hashed


def _fail(key: str, allowed: str, got: Any) -> None:
    checks.fail(key, allowed, got)


def _int(key: str, v: Any, low: int, optional: bool = False) -> None:
    if v is None and optional:
        return
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        _fail(key, f"an integer >= {low}" + (" or null" if optional else ""), v)


def _choice(key: str, v: Any, choices: tuple[str, ...] | list[str]) -> None:
    if v not in choices:
        _fail(key, "one of " + ", ".join(choices), v)


def _keys(key: str, d: Any, cls: type, extra: tuple[str, ...] = ()) -> dict:
    if not isinstance(d, dict):
        _fail(key, "a mapping", d)
    allowed = sorted({f.name for f in dataclasses.fields(cls)} | set(extra))
    for k in d:
        if k not in allowed:
            raise ConfigError(None, f"{key}.{k}" if key else str(k), "unknown key", k,
                              ", ".join(allowed))
    return dict(d)


def attack_params(key: str, value: Any, default: AttackParams | None = None) -> AttackParams:
    """A preset name (Table 10: ``mnist``, ``cifar10``), or a mapping of
    ``preset`` and/or ``eps``, ``step``, ``iterations``, ``restarts``,
    ``random_start`` (missing fields from the preset, else from ``default``)."""
    if isinstance(value, AttackParams):
        return value
    if isinstance(value, str):
        _choice(key, value, tuple(PRESETS))
        return PRESETS[value]
    d = _keys(key, value, AttackParams, extra=("preset",))
    base = default
    if "preset" in d:
        _choice(f"{key}.preset", d["preset"], tuple(PRESETS))
        base = PRESETS[d.pop("preset")]
    fields = base.to_dict() if base is not None else {}
    fields.update(d)
    missing = [f.name for f in dataclasses.fields(AttackParams) if f.name not in fields
               and f.default is dataclasses.MISSING]
    if missing:
        _fail(key, f"a preset or the keys {', '.join(missing)}", value)
    try:
        return AttackParams(**fields)
    except ValueError as err:
        raise ConfigError(None, key, str(err), value) from None


@dataclass(frozen=True)
class NetSpec:
    """One adversarially trained network: a bundled name or an import path
    ``package.module:factory`` (as sweeps take it), epochs, training recipe overrides."""

    model: str
    epochs: int = 1
    batch_size: int = 32  # the paper's minibatch (16 natural + 16 adversarial)
    lr: float | None = None  # null: the network's recipe
    model_kwargs: dict = field(default_factory=dict, hash=False)

    def check(self, key: str) -> None:
        checks.model_spec(f"{key}.model", self.model)
        if self.model.startswith(checks.OBJECT):
            _fail(f"{key}.model", "a bundled name or an import path package.module:factory", self.model)
        _int(f"{key}.epochs", self.epochs, 1)
        _int(f"{key}.batch_size", self.batch_size, 2)
        if self.lr is not None and (isinstance(self.lr, bool) or not isinstance(self.lr, (int, float))
                                    or not (math.isfinite(self.lr) and self.lr > 0)):
            _fail(f"{key}.lr", "a number > 0 or null", self.lr)
        object.__setattr__(self, "model_kwargs",
                           checks.model_kwargs(f"{key}.model_kwargs", self.model, self.model_kwargs))


@dataclass(frozen=True)
class WhiteboxSpec:
    """White-box PGD on the noisy NN_val, gradients averaged over ``eot_samples``
    noise draws (EOT), on the first ``limit`` attacked inputs (null: all)."""

    limit: int | None = None
    eot_samples: int = 8
    attack: AttackParams | None = None  # null: the black-box attack


@dataclass(frozen=True)
class AttackConfig:
    """A black-box transfer run with a white-box check (see docs/attacks.md)."""

    data: str = "mnist5k"
    data_root: str | None = None
    limit_train: int | None = None
    limit_test: int | None = None
    attack: AttackParams = PRESETS["mnist"]
    train_attack: AttackParams | None = None  # null: `attack` with one restart
    nn_adv: NetSpec = NetSpec("madry_cnn4")
    nn_val: NetSpec = NetSpec("cnn6")
    noise: str = "mult"
    profile: str | None = None
    sigma_val: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4)
    runs: int = 20
    votes: int = 0
    vote_rule: str = "hard"
    whitebox: WhiteboxSpec | None = WhiteboxSpec()
    attack_batch_size: int = 100
    eval_batch_size: int = 25
    draws_per_pass: int = 10
    torch_device: str = "cpu"
    seed: int = 0
    out: str = "runs/attack"
    threads: int = 1

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        checks.data_spec("data", self.data)
        if self.data.startswith(checks.OBJECT):
            _fail("data", "a dataset name, an .npz path or an import path package.module:loader", self.data)
        from crossbar.data import is_custom

        if not is_custom(self.data):
            _choice("data", self.data, IMAGE_DATA)
        if self.data_root is not None and (not isinstance(self.data_root, str) or not self.data_root):
            _fail("data_root", "a path or null", self.data_root)
        _int("limit_train", self.limit_train, 2, optional=True)
        _int("limit_test", self.limit_test, 1, optional=True)
        set_("attack", attack_params("attack", self.attack))
        if self.train_attack is None:
            set_("train_attack", dataclasses.replace(self.attack, restarts=1))
        set_("train_attack", attack_params("train_attack", self.train_attack, self.attack))
        for key in ("nn_adv", "nn_val"):
            if not isinstance(getattr(self, key), NetSpec):
                _fail(key, "a mapping with keys model, epochs, batch_size, lr, model_kwargs",
                      getattr(self, key))
            getattr(self, key).check(key)
        _choice("noise", self.noise, NOISE_KINDS)
        if self.profile is not None and (not isinstance(self.profile, str) or not self.profile):
            _fail("profile", "a device profile name or path, or null", self.profile)
        set_("sigma_val", _sigmas("sigma_val", self.sigma_val))
        _int("runs", self.runs, 1)
        _int("votes", self.votes, 0)
        _choice("vote_rule", self.vote_rule, VOTE_RULES)
        wb = self.whitebox
        if wb is not None:
            if not isinstance(wb, WhiteboxSpec):
                _fail("whitebox", "a mapping with keys limit, eot_samples, attack, or null", wb)
            if self.profile is not None:
                _fail("whitebox", "null with a device profile (white-box EOT needs the Gaussian "
                      "noise layers' gradients)", "a mapping")
            _int("whitebox.limit", wb.limit, 1, optional=True)
            _int("whitebox.eot_samples", wb.eot_samples, 1)
            set_("whitebox", dataclasses.replace(
                wb, attack=attack_params("whitebox.attack", wb.attack or self.attack, self.attack)))
        for key, low in (("attack_batch_size", 1), ("eval_batch_size", 1), ("draws_per_pass", 1),
                         ("seed", 0), ("threads", 1)):
            _int(key, getattr(self, key), low)
        for key in ("torch_device", "out"):
            if not isinstance(getattr(self, key), str) or not getattr(self, key):
                _fail(key, "a non-empty string", getattr(self, key))

    @classmethod
    def from_dict(cls, d: Any) -> AttackConfig:
        kw = _keys("", d, cls)
        for key in ("nn_adv", "nn_val"):
            if key in kw:
                spec = _keys(key, kw[key], NetSpec)
                if "model" not in spec:
                    _fail(f"{key}.model", "a model name", None)
                if spec.get("model_kwargs") is None:
                    spec["model_kwargs"] = {}
                kw[key] = NetSpec(**spec)
        if kw.get("whitebox") is not None:
            kw["whitebox"] = WhiteboxSpec(**_keys("whitebox", kw["whitebox"], WhiteboxSpec))
        return cls(**kw)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["sigma_val"] = list(self.sigma_val)
        return d

    def replace(self, **changes: Any) -> AttackConfig:
        return dataclasses.replace(self, **changes)

    def hash(self) -> str:
        """SHA-256 of everything that decides the results (not out / threads)."""
        d = {k: v for k, v in self.to_dict().items() if k not in RUN_ONLY_FIELDS}
        return hashlib.sha256(json.dumps(d, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _sigmas(key: str, value: Any) -> tuple[float, ...]:
    if not isinstance(value, (list, tuple)) or not value:
        _fail(key, "a non-empty list of distinct finite numbers >= 0", value)
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            _fail(key, "a non-empty list of distinct finite numbers >= 0", value)
        out.append(float(v))
    if len(set(out)) != len(out):
        _fail(key, "distinct values", value)
    return tuple(sorted(out))


def load_config(path: str | Path) -> AttackConfig:
    """Read and validate an attack config from a YAML file."""
    return load_yaml_config(path, AttackConfig.from_dict, "attack")


# ------------------------------------------------------------ model and data lookup


def load_split(config: AttackConfig, split: str, limit: int | None) -> Any:
    """The ``split`` of the configured data (first ``limit`` samples; ``crossbar.data.load_split``:
    a bundled name, an .npz file or a loader) with ``.x`` and ``.y``; the attacks clip to the
    pixel range [0, 1], so data outside it is refused naming the key."""
    from crossbar.data import load_split as load

    ds = load(config.data, split, root=config.data_root, limit=limit)
    lo, hi = float(ds.x.min()), float(ds.x.max())
    if lo < 0.0 or hi > 1.0:
        raise ConfigError(None, "data", f"{split} inputs span [{lo:g}, {hi:g}]", config.data,
                          "inputs scaled to the pixel range [0, 1] (the attacks' box)")
    return ds


def build_network(spec: NetSpec, example: torch.Tensor, classes: int, seed: int,
                  data_name: str) -> nn.Module:
    """The network ``spec`` names (``crossbar.models.resolve``), fitted to the data (``example``:
    a batch of its inputs), with initial weights from ``seed`` and no noise (adversarial
    training is noiseless; evaluation sets the noise). A user's network must take the
    inputs and give one logit per class."""
    from types import SimpleNamespace

    from crossbar import models as zoo
    from crossbar.training.inputs import check_outputs

    sample_shape = tuple(example.shape[1:])
    if zoo.is_bundled(spec.model):
        kwargs = {**zoo.kwargs_for_data(spec.model, sample_shape, classes), **spec.model_kwargs}
        zoo.input_spec(spec.model, **kwargs).check(sample_shape, spec.model, data_name)
        return zoo.build(spec.model, seed=seed, **kwargs)
    net = zoo.resolve(spec.model, seed=seed, example=example[:2], **spec.model_kwargs)
    check_outputs(net, SimpleNamespace(x=example[:2], y=torch.zeros(2, dtype=torch.long), classes=classes),
                  spec.model, data_name)
    return net


def model_identity(net: nn.Module) -> dict[str, Any] | None:
    """What identifies a user's network besides its weights (name, arguments, source digest;
    ``crossbar.experiments.tasks.model_identity``); None for a bundled one."""
    from crossbar.experiments.tasks import model_identity as identity

    return identity(net)
