"""Walking Noise and hardening configurations: frozen dataclasses, strictly validated.

Every value is checked when the object is built. A bad one raises
:class:`ConfigError` naming the key, the value and what is allowed; read
from YAML (:func:`load_walk_config`, :func:`load_harden_config`) the message
starts with the file. See docs/walking_noise.md for every key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crossbar.checks import CheckError, check_keys, choice, integer, mapping, real, text
from crossbar.training.hardware import HardwareConfig
from crossbar.yamlio import read_yaml

from .midpoint import log_grid
from .noise import WALK_KINDS

__all__ = ["ConfigError", "CrossbarSpec", "Grid", "HardenConfig", "ModelSpec", "QatSpec", "WalkConfig",
           "load_harden_config", "load_walk_config"]

MODES = ("inference", "training")
METHODS = ("float", "qat", "noisy", "qat+noisy")
OPTIMIZERS = ("adam", "sgd")
# Fields that decide where and how a run executes, never what it computes (left out of the hash).
RUN_ONLY = ("out", "threads", "keep_models")
_FITTED = ("in_features", "in_channels", "image_size", "num_classes", "seed")  # set from the data


class ConfigError(CheckError):
    """An invalid configuration value (the message names file, key, value and what is allowed)."""

    def __init__(self, key: str | None, problem: str, *value_allowed: Any) -> None:
        super().__init__(None, key, problem, *value_allowed)


def _fail(key: str, value: Any, allowed: str) -> None:
    raise ConfigError(key, "not allowed", value, allowed)


def _int(key: str, v: Any, lo: int, optional: bool = False) -> None:
    if not (v is None and optional):
        integer(None, key, v, lo=lo, hi=None)


def _real(key: str, v: Any, lo: float, hi: float | None = None, lo_open: bool = False,
          optional: bool = False) -> float | None:
    return None if v is None and optional else real(None, key, v, lo=lo, hi=hi, lo_open=lo_open)


def _str(key: str, v: Any, choices: tuple[str, ...] | None = None, optional: bool = False) -> None:
    if not (v is None and optional):
        choice(None, key, v, choices) if choices is not None else text(None, key, v)


def _subset(key: str, v: Any, choices: tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, (list, tuple)) or not v or any(x not in choices for x in v) or len(set(v)) != len(v):
        _fail(key, v, "a non-empty list of distinct values from " + ", ".join(choices))
    return tuple(x for x in choices if x in v)  # canonical order


def _keys(key: str, d: Any, allowed: list[str]) -> dict:
    check_keys(None, key, mapping(None, key, d), (), allowed)
    return dict(d)


def _model(key: str, model: Any, kwargs_key: str, kwargs: Any) -> dict:
    """Check a network as a sweep takes it, or one of this package's nets; returns its arguments."""
    from crossbar.experiments import checks

    from . import nets

    if model in nets.NETS:  # the data fixes sizes and classes; the seed is the run's
        takes = [n for n in inspect.signature(getattr(nets, model)).parameters if n not in _FITTED]
        if not isinstance(kwargs, dict) or any(k not in takes for k in kwargs):
            _fail(kwargs_key, kwargs, f"a mapping of keyword arguments of {model}: {', '.join(takes)}")
        return dict(kwargs)
    names = ", ".join(nets.NETS)
    if isinstance(model, str) and model.startswith(checks.OBJECT):
        _fail(key, model, f"{names}, a crossbar.models name or an import path package.module:factory")
    try:
        checks.model_spec(key, model)
        return checks.model_kwargs(kwargs_key, model, kwargs)
    except checks.ConfigError as err:
        raise ConfigError(None, str(err).replace("allowed: one of ", f"allowed: one of {names}, ")) from None


def _data(key: str, data: Any) -> None:
    """Check the data as a sweep takes it: a bundled name, an ``.npz`` file or a loader's import path."""
    from crossbar.experiments import checks

    try:
        checks.data_spec(key, data)
    except checks.ConfigError as err:
        raise ConfigError(None, str(err)) from None


@dataclass(frozen=True)
class Grid:
    """Log-spaced noise levels: ``per_decade`` points per decade from ``min`` to ``max``."""

    min: float
    max: float
    per_decade: int = 4
    key: str = field(default="grid", compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "min", _real(f"{self.key}.min", self.min, 0.0, lo_open=True))
        object.__setattr__(self, "max", _real(f"{self.key}.max", self.max, 0.0, lo_open=True))
        if self.max <= self.min:
            _fail(f"{self.key}.max", self.max, f"a number > {self.key}.min ({self.min:g})")
        _int(f"{self.key}.per_decade", self.per_decade, 1)

    @property
    def values(self) -> tuple[float, ...]:
        return log_grid(float(self.min), float(self.max), int(self.per_decade))

    @classmethod
    def parse(cls, key: str, d: Any) -> Grid:
        if isinstance(d, Grid):
            return cls(d.min, d.max, d.per_decade, key)
        d = _keys(key, d, ["min", "max", "per_decade"])
        for k in ("min", "max"):
            if k not in d:
                _fail(f"{key}.{k}", None, "a number > 0 (required)")
        return cls(d["min"], d["max"], d.get("per_decade", 4), key)

    def to_dict(self) -> dict[str, Any]:
        return {"min": float(self.min), "max": float(self.max), "per_decade": int(self.per_decade)}


_DEFAULT_GRIDS = {"add": Grid(1e-2, 1e4, 4), "mult": Grid(1e-2, 1e2, 4), "combined": Grid(1e-2, 1e4, 4)}


def _grids(key: str, v: Any, kinds: tuple[str, ...]) -> dict[str, Grid]:
    v = _keys(key, v or {}, list(WALK_KINDS))
    return {k: Grid.parse(f"{key}.{k}", v[k]) if k in v else _DEFAULT_GRIDS[k] for k in kinds}


@dataclass(frozen=True)
class _Common:
    """Keys shared by both experiments: data, training recipe, repeats, seed, output."""

    data: str = "mnist5k"
    data_root: str | None = None
    limit_train: int | None = None
    limit_test: int | None = None
    repeats: int = 3
    eval_draws: int = 1
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: str = "adam"
    seed: int = 0
    torch_device: str = "cpu"
    out: str = "runs/walk"
    threads: int = 1
    keep_models: bool = False

    def _check_common(self) -> None:
        _data("data", self.data)
        _str("data_root", self.data_root, optional=True)
        _int("limit_train", self.limit_train, 1, optional=True)
        _int("limit_test", self.limit_test, 1, optional=True)
        _int("repeats", self.repeats, 1)
        _int("eval_draws", self.eval_draws, 1)
        _int("epochs", self.epochs, 1)
        _int("batch_size", self.batch_size, 2)
        object.__setattr__(self, "lr", _real("lr", self.lr, 0.0, lo_open=True))
        _str("optimizer", self.optimizer, OPTIMIZERS)
        _int("seed", self.seed, 0)
        _str("torch_device", self.torch_device)
        _str("out", self.out)
        _int("threads", self.threads, 1)
        if not isinstance(self.keep_models, bool):
            _fail("keep_models", self.keep_models, "true or false")

    def to_dict(self) -> dict[str, Any]:
        d = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "hardware" and v is None:
                continue  # absent, not null: the identities of records made without it stay as they were
            if isinstance(v, Grid):
                v = v.to_dict()
            elif isinstance(v, dict):
                v = {k: (g.to_dict() if isinstance(g, Grid) else g) for k, g in v.items()}
            elif isinstance(v, (CrossbarSpec, HardwareConfig)):
                v = v.to_dict()
            elif isinstance(v, tuple):
                v = [x.to_dict() if isinstance(x, (ModelSpec, QatSpec)) else x for x in v]
            d[f.name] = v
        return d

    def identity(self) -> dict[str, Any]:
        """The configuration without the run-only keys (what decides the results)."""
        return {k: v for k, v in self.to_dict().items() if k not in RUN_ONLY}

    def hash(self) -> str:
        text = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def replace(self, **changes: Any):
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class WalkConfig(_Common):
    """Noise at one position at a time (Walking Noise); every key in docs/walking_noise.md."""

    model: str = "mlp"
    model_kwargs: dict = field(default_factory=dict, hash=False)
    kinds: tuple[str, ...] = WALK_KINDS
    ratio: float = 0.5
    modes: tuple[str, ...] = MODES
    positions: tuple[int, ...] | None = None
    grid: dict = field(default_factory=dict, hash=False)
    training_grid: dict = field(default_factory=dict, hash=False)
    bisect: int = 3
    chance: float | None = None
    hardware: Any = None
    out: str = "runs/walk"

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        self._check_common()
        set_("model_kwargs", _model("model", self.model, "model_kwargs", self.model_kwargs))
        set_("kinds", _subset("kinds", self.kinds, WALK_KINDS))
        set_("ratio", _real("ratio", self.ratio, 0.0, 1.0))
        set_("modes", _subset("modes", self.modes, MODES))
        if self.positions is not None and self.positions != "all":
            p = self.positions
            if not isinstance(p, (list, tuple)) or not p or any(
                isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in p
            ) or len(set(p)) != len(p):
                _fail("positions", p, "'all' or a non-empty list of distinct integers >= 0")
            set_("positions", tuple(sorted(p)))
        else:
            set_("positions", None)
        set_("grid", _grids("grid", self.grid, self.kinds))
        set_("training_grid", _grids("training_grid", self.training_grid or {
            k: g for k, g in self.grid.items()}, self.kinds))
        _int("bisect", self.bisect, 0)
        set_("chance", _real("chance", self.chance, 0.0, 1.0, lo_open=True, optional=True))
        if self.hardware is not None:  # the networks trained against a device (docs/training.md)
            set_("hardware", HardwareConfig.parse(self.hardware))
            if "training" in self.modes:
                _fail("hardware", self.hardware.profile.name, "null with modes [training] (noise injected "
                      "in training and hardware-aware training cannot be combined), or modes: [inference]")

    def grid_for(self, mode: str, kind: str) -> tuple[float, ...]:
        return (self.training_grid if mode == "training" else self.grid)[kind].values


@dataclass(frozen=True)
class CrossbarSpec:
    """QAT and float models mapped onto crossbar arrays whose levels match the bit width."""

    profiles: tuple[str, ...] = ("ideal", "reram")
    limit_test: int | None = 500
    tile_rows: dict = field(default_factory=lambda: {"ideal": "fan-in"}, hash=False)

    def __post_init__(self) -> None:
        p = self.profiles
        if isinstance(p, str):
            p = (p,)
        if not isinstance(p, (list, tuple)) or not p or not all(isinstance(x, str) and x for x in p):
            _fail("crossbar.profiles", self.profiles, "a non-empty list of device profile names or paths")
        object.__setattr__(self, "profiles", tuple(p))
        _int("crossbar.limit_test", self.limit_test, 1, optional=True)
        rows = _keys("crossbar.tile_rows", self.tile_rows if self.tile_rows is not None else {},
                     list(self.profiles))
        for name, v in rows.items():
            if v != "fan-in":
                _int(f"crossbar.tile_rows.{name}", v, 1)
        object.__setattr__(self, "tile_rows", rows)

    def rows_for(self, profile: str) -> int | str | None:
        """Tile height for ``profile``: an int, "fan-in", or None (the profile's own)."""
        return self.tile_rows.get(profile)

    def to_dict(self) -> dict[str, Any]:
        return {"profiles": list(self.profiles), "limit_test": self.limit_test,
                "tile_rows": dict(self.tile_rows)}


@dataclass(frozen=True)
class ModelSpec:
    """One network of a hardening run: ``model`` name, a unique ``label``, factory ``kwargs``."""

    model: str
    label: str = ""
    kwargs: dict = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        kwargs = _model("models[].model", self.model, "models[].kwargs", self.kwargs)
        object.__setattr__(self, "kwargs", kwargs)
        if not self.label:
            object.__setattr__(self, "label", self.model)
        _str("models[].label", self.label)

    @classmethod
    def parse(cls, v: Any) -> ModelSpec:
        if isinstance(v, ModelSpec):
            return v
        if isinstance(v, str):
            return cls(v)
        d = _keys("models[]", v, ["model", "label", "kwargs"])
        if "model" not in d:
            _fail("models[].model", None, "a model name or import path package.module:factory (required)")
        return cls(d["model"], d.get("label") or "", d.get("kwargs") or {})

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "label": self.label, "kwargs": dict(self.kwargs)}


@dataclass(frozen=True)
class QatSpec:
    """One QAT setting: ``bits`` for weights and activations, constant activation step ``act_step``."""

    bits: int
    act_step: float

    def __post_init__(self) -> None:
        if isinstance(self.bits, bool) or not isinstance(self.bits, int) or not 2 <= self.bits <= 16:
            _fail("qat[].bits", self.bits, "an integer 2..16")
        object.__setattr__(self, "act_step", _real("qat[].act_step", self.act_step, 0.0, lo_open=True))

    @property
    def name(self) -> str:
        return f"QAT {self.bits}-bit, step {self.act_step:g}"

    @classmethod
    def parse(cls, v: Any) -> QatSpec:
        if isinstance(v, QatSpec):
            return v
        d = _keys("qat[]", v, ["bits", "act_step"])
        for k in ("bits", "act_step"):
            if k not in d:
                _fail(f"qat[].{k}", None, "required")
        return cls(d["bits"], d["act_step"])

    def to_dict(self) -> dict[str, Any]:
        return {"bits": self.bits, "act_step": self.act_step}


@dataclass(frozen=True)
class HardenConfig(_Common):
    """QAT vs noisy training vs both under global noise; every key in docs/walking_noise.md."""

    models: tuple = ("mlp", "lenet5")
    methods: tuple[str, ...] = METHODS
    qat: tuple = ({"bits": 4, "act_step": 0.25}, {"bits": 8, "act_step": 1.0})
    kind: str = "add"
    ratio: float = 0.5
    grid: Grid = Grid(1e-2, 1e1, 2)
    crossbar: CrossbarSpec | None = CrossbarSpec()
    out: str = "runs/harden"

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        self._check_common()
        m = self.models
        if isinstance(m, (str, dict)):
            m = (m,)
        if not isinstance(m, (list, tuple)) or not m:
            _fail("models", self.models, "a non-empty list of model names or {model, label, kwargs} mappings")
        specs = tuple(ModelSpec.parse(x) for x in m)
        labels = [x.label for x in specs]
        if len(set(labels)) != len(labels):
            _fail("models", labels, "distinct labels (give each entry its own 'label')")
        set_("models", specs)
        set_("methods", _subset("methods", self.methods, METHODS))
        q = self.qat
        if not isinstance(q, (list, tuple)) or not q:
            _fail("qat", q, "a non-empty list of {bits, act_step} mappings")
        specs = tuple(QatSpec.parse(x) for x in q)
        if len(set(specs)) != len(specs):
            _fail("qat", [x.to_dict() for x in specs], "distinct settings")
        set_("qat", specs)
        _str("kind", self.kind, WALK_KINDS)
        set_("ratio", _real("ratio", self.ratio, 0.0, 1.0))
        set_("grid", Grid.parse("grid", self.grid))
        if self.crossbar is not None and not isinstance(self.crossbar, CrossbarSpec):
            c = _keys("crossbar", self.crossbar, ["profiles", "limit_test", "tile_rows"])
            set_("crossbar", CrossbarSpec(**c))


def _from_dict(cls, d: Any):
    if not isinstance(d, dict):
        raise ConfigError(None, f"a configuration must be a mapping of keys, got {type(d).__name__}")
    _keys("", d, [f.name for f in dataclasses.fields(cls)])
    kw = {k: v for k, v in d.items() if not (v is None and k in ("model_kwargs", "grid", "training_grid"))}
    try:
        return cls(**kw)
    except TypeError as err:  # a wrong-typed value that slipped past the checks
        raise ConfigError(None, str(err)) from None


def _load(path: str | Path, cls):
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"config file {path} does not exist")
    data = read_yaml(path)
    if data is None:
        raise ConfigError(None, f"{path}: empty configuration")
    try:
        return _from_dict(cls, data)
    except CheckError as err:
        raise err.in_file(str(path)) from None


def walk_from_dict(d: Any) -> WalkConfig:
    """A config from its mapping; a stored identity's ``hardware`` (the device by name and
    digest, which only the original spec can load again) is left out."""
    if isinstance(d, dict) and isinstance(d.get("hardware"), dict) and "profile_digest" in d["hardware"]:
        d = {k: v for k, v in d.items() if k != "hardware"}
    return _from_dict(WalkConfig, d)


def harden_from_dict(d: Any) -> HardenConfig:
    return _from_dict(HardenConfig, d)


def load_walk_config(path: str | Path) -> WalkConfig:
    """Read and validate a Walking Noise config (YAML)."""
    return _load(path, WalkConfig)


def load_harden_config(path: str | Path) -> HardenConfig:
    """Read and validate a hardening (QAT vs noisy training) config (YAML)."""
    return _load(path, HardenConfig)
