"""Noise budgets: the largest device noise a trained network tolerates, with and without voting.

For a trained model, a test subset, a device profile and a target accuracy
(by default 1 point below the digital network's accuracy),
:func:`run_budget` finds by bisection, for K = 1 and every K of ``votes``, the
largest noise scale s at which the K-vote accuracy still meets the target
(Qin & Vucinic, Section 3.3). It then prices every K with the cost model:
latency of the three voting schedules, energy and area per inference, and the
energy-optimal pair (read voltage V, votes K) under the assumption that the
read noise relative to the signal grows as (V0 / V)^alpha, i.e. a noise scale
s is reached at V = V0 / s^(1/alpha). See docs/budget.md.

``run_demo`` is ``crossbar-sim demo``: train the 6-layer CNN briefly on real
MNIST digits, map it onto ReRAM, PCM and NAND, and write the report.

Determinism: accuracy(s, K) is a pure function of the configuration. Repeat r
is one programmed chip (programming seed from (seed, r)); its K votes are K
re-reads of that chip with fresh read noise, stacked into one forward pass per
block of images. Read seeds come from (seed, r, draw block, image block), not
from s: the same standard normals are scaled by every noise level (common
random numbers), which makes the measured accuracy nearly monotone in s, as
bisection needs, and makes vote counts comparable at equal s.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import fnmatch
import hashlib
import json
import math
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crossbar.cost import (
    NetworkCost,
    ThresholdResult,
    energy_at_sigma,
    find_threshold,
    voltage_for_sigma,
    voting_cost,
)
from crossbar.seeds import Stream, derive
from crossbar.threads import limit_threads

from .config import ConfigError, load_yaml_config
from .voting import vote

__all__ = [
    "REFERENCES",
    "SCALE_MODES",
    "AccuracyEvaluator",
    "BudgetConfig",
    "BudgetResult",
    "DemoConfig",
    "DemoResult",
    "OperatingPoint",
    "Threshold",
    "TrainSpec",
    "energy_optimum",
    "load_budget_config",
    "noise_budget",
    "pareto_front",
    "run_budget",
    "run_demo",
    "scale_noise",
]

REFERENCES = ("mapped", "digital")
"""What the target is measured from: the mapped network at s = 0 (no read noise with
``scale: read``; no device noise with ``scale: all``), or the float network."""

SCALE_MODES = ("read", "all")
"""What a noise scale s multiplies: the read noise only (the part that depends on the
read voltage; default) or the profile's ``noise_scale`` (programming and read noise)."""

# Parameters of each read-noise law that are proportional to its standard deviation.
_READ_LAW_SCALE = {
    "none": (),
    "constant": ("sigma_S",),
    "relative": ("fraction",),
    "polynomial": ("coefficients_uS",),
    "saturating_exponential": ("a_S",),
    "pcm_1f": ("c", "cap"),
}


# =====================================================================================
# noise scaling


def scale_noise(profile, s: float, mode: str = "read"):
    """``profile`` with its noise multiplied by ``s``.

    ``mode="read"``: only the read-noise law (its std at every conductance
    times s; programming noise, faults and drift unchanged), the part a lower
    read voltage makes larger relative to the signal. ``mode="all"``: the
    profile's ``noise_scale`` (programming and read noise together). An
    abstract profile (Qin's Gaussian output noise, ``gaussian-mult`` /
    ``gaussian-add``) has one noise, its output sigma: both modes scale it
    (sigma = s x the profile's sigma).
    """
    if mode not in SCALE_MODES:
        raise ValueError(f"mode must be one of {', '.join(SCALE_MODES)}, got {mode!r}")
    s = float(s)
    if not (math.isfinite(s) and s >= 0):
        raise ValueError(f"noise scale must be a finite number >= 0, got {s!r}")
    if mode == "all" or profile.output_noise is not None:
        return profile.with_overrides(noise_scale=profile.noise_scale * s)
    law = profile.read_noise
    if law.form not in _READ_LAW_SCALE:
        raise ValueError(
            f"profile {profile.name!r}: cannot scale read noise of form {law.form!r}; "
            "use scale: all (the profile's noise_scale)"
        )
    if law.form == "none" or s == 1.0:
        return profile
    if s == 0.0:
        return profile.with_overrides(read_noise=None)
    params = {}
    for key in _READ_LAW_SCALE[law.form]:
        v = law.params[key]
        params[key] = [c * s for c in v] if isinstance(v, (tuple, list)) else v * s
    return profile.with_overrides(read_noise=params)


def _s_key(s: float) -> float:
    return float(f"{float(s):.10g}")


# =====================================================================================
# configuration


def _fail(key: str, allowed: str, got: Any) -> None:
    raise ConfigError(f"config key '{key}': expected {allowed}, got {got!r}")


def _int(key: str, v: Any, lo: int, optional: bool = False) -> int | None:
    if v is None and optional:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        _fail(key, f"an integer >= {lo}" + (" or null" if optional else ""), v)
    return int(v)


def _num(key: str, v: Any, lo: float | None = None, hi: float | None = None,
         lo_open: bool = False, optional: bool = False) -> float | None:
    if v is None and optional:
        return None
    rng = ""
    if lo is not None:
        rng += f" {'>' if lo_open else '>='} {lo:g}"
    if hi is not None:
        rng += (" and" if lo is not None else "") + f" <= {hi:g}"
    what = "a number" + rng + (" or null" if optional else "")
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        _fail(key, what, v)
    v = float(v)
    if lo is not None and (v < lo or (lo_open and v == lo)):
        _fail(key, what, v)
    if hi is not None and v > hi:
        _fail(key, what, v)
    return v


def _str(key: str, v: Any, choices: Sequence[str] | None = None, optional: bool = False):
    if v is None and optional:
        return None
    if not isinstance(v, str) or not v:
        _fail(key, "a non-empty string" + (" or null" if optional else ""), v)
    if choices is not None and v not in choices:
        _fail(key, "one of " + ", ".join(choices), v)
    return v


def _keys(key: str, d: Any, cls) -> dict:
    allowed = [f.name for f in dataclasses.fields(cls)]
    if not isinstance(d, Mapping):
        _fail(key or "(top level)", "a mapping with keys " + ", ".join(allowed), d)
    for k in d:
        if k not in allowed:
            where = f"{key}.{k}" if key else str(k)
            _fail(where, "no such key; allowed: " + ", ".join(allowed), k)
    return dict(d)


def _votes(key: str, v: Any) -> tuple[int, ...]:
    if isinstance(v, int) and not isinstance(v, bool):
        v = [v]
    if not isinstance(v, (list, tuple)) or not v:
        _fail(key, "a non-empty list of distinct integers >= 1 (1 is always added)", v)
    out = []
    for k in v:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1 or k > 1000:
            _fail(key, "a list of distinct integers in 1..1000", v)
        out.append(int(k))
    if len(set(out)) != len(out):
        _fail(key, "distinct values", v)
    return tuple(sorted(set(out) | {1}))


def _range(key: str, v: Any) -> tuple[float, float]:
    if not isinstance(v, (list, tuple)) or len(v) != 2:
        _fail(key, "[lo, hi] with 0 < lo < hi", v)
    lo = _num(f"{key}[0]", v[0], 0.0, lo_open=True)
    hi = _num(f"{key}[1]", v[1], 0.0, lo_open=True)
    if not lo < hi:
        _fail(key, "[lo, hi] with 0 < lo < hi", v)
    return lo, hi


def _overrides(key: str, v: Any) -> dict:
    if v is None:
        return {}
    if not isinstance(v, Mapping) or not all(isinstance(k, str) for k in v):
        _fail(key, "a mapping of profile field names to values", v)
    return dict(v)


def _frozen_json(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=str)


@dataclass(frozen=True)
class TrainSpec:
    """How to train the model when the checkpoint does not exist yet (``crossbar.training.train``)."""

    model: str = "cnn6"
    data: str | None = None  # default: the budget's data
    noise: str = "mult"
    sigma_train: float = 0.3
    epochs: int = 6
    lr: float | None = 1e-3
    batch_size: int | None = None
    seed: int = 0
    limit: int | None = None  # first N training (and per-epoch test) examples

    def __post_init__(self) -> None:
        from crossbar.models import available

        _str("train.model", self.model, available())
        _str("train.data", self.data, optional=True)
        _str("train.noise", self.noise, ("none", "mult", "add"))
        object.__setattr__(self, "sigma_train", _num("train.sigma_train", self.sigma_train, 0.0, 10.0))
        _int("train.epochs", self.epochs, 1)
        object.__setattr__(self, "lr", _num("train.lr", self.lr, 0.0, 10.0, lo_open=True, optional=True))
        _int("train.batch_size", self.batch_size, 1, optional=True)
        _int("train.seed", self.seed, 0)
        _int("train.limit", self.limit, 1, optional=True)

    @classmethod
    def from_dict(cls, d: Any) -> TrainSpec:
        return cls(**_keys("train", d, cls))

    def checkpoint_name(self, data: str) -> str:
        """A file name that changes whenever a setting that changes the weights does."""
        text = _frozen_json({**dataclasses.asdict(self), "data": self.data or data})
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        return f"{self.model}-{self.noise}{self.sigma_train:g}-{digest}.pt"


@dataclass(frozen=True)
class BudgetConfig:
    """A noise-budget run (``crossbar-sim budget CONFIG.yaml``); every key in docs/budget.md."""

    checkpoint: str | None = None
    train: TrainSpec | None = None
    data: str = "mnist5k"
    data_root: str | None = None
    test_limit: int = 200
    profile: str = "reram"
    profile_overrides: dict = field(default_factory=dict, hash=False)
    layer_overrides: dict = field(default_factory=dict, hash=False)
    scale: str = "read"
    reference: str = "mapped"
    max_drop: float = 0.01
    target_accuracy: float | None = None
    votes: tuple[int, ...] = (1, 3, 5, 10, 20)
    repeats: int = 2
    noise_range: tuple[float, float] = (0.125, 128.0)
    rel_tol: float = 0.1
    alpha: float = 1.0
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
        _str("checkpoint", self.checkpoint, optional=True)
        if self.train is not None and not isinstance(self.train, TrainSpec):
            set_("train", TrainSpec.from_dict(self.train))
        if self.checkpoint is None and self.train is None:
            _fail("checkpoint", "a checkpoint path, or a 'train' block to train one", None)
        from crossbar.data import available as datasets

        _str("data", self.data, datasets())
        _str("data_root", self.data_root, optional=True)
        _int("test_limit", self.test_limit, 1)
        _str("profile", self.profile)
        set_("profile_overrides", _overrides("profile_overrides", self.profile_overrides))
        lo = self.layer_overrides if self.layer_overrides is not None else {}
        if not isinstance(lo, Mapping) or not all(isinstance(k, str) for k in lo):
            _fail("layer_overrides", "a mapping of layer-name patterns to profile overrides", lo)
        set_("layer_overrides", {k: _overrides(f"layer_overrides.{k}", v) for k, v in lo.items()})
        _str("scale", self.scale, SCALE_MODES)
        _str("reference", self.reference, REFERENCES)
        set_("max_drop", _num("max_drop", self.max_drop, 0.0, 1.0))
        set_("target_accuracy", _num("target_accuracy", self.target_accuracy, 0.0, 1.0, optional=True))
        set_("votes", _votes("votes", self.votes))
        _int("repeats", self.repeats, 1)
        set_("noise_range", _range("noise_range", self.noise_range))
        set_("rel_tol", _num("rel_tol", self.rel_tol, 0.0, 10.0, lo_open=True))
        set_("alpha", _num("alpha", self.alpha, 0.0, 10.0, lo_open=True))
        if self.activity != "measured":
            set_("activity", _num("activity", self.activity, 0.0, 1.0))
        _int("replication", self.replication, 1)
        _int("seed", self.seed, 0)
        _int("batch_rows", self.batch_rows, 1)
        _int("threads", self.threads, 1, optional=True)
        _int("max_evaluations", self.max_evaluations, 4)
        _str("out", self.out)
        if not isinstance(self.plots, bool):
            _fail("plots", "true or false", self.plots)
        self.base_profile()  # profile name and overrides are valid

    # -- derived ---------------------------------------------------------------------
    def base_profile(self):
        """The device profile with ``profile_overrides`` applied (validated)."""
        from crossbar.devices import available, load

        try:
            p = load(self.profile)
        except (ValueError, FileNotFoundError) as err:
            raise ConfigError(
                f"config key 'profile': expected one of {', '.join(available())} or a profile YAML "
                f"path, got {self.profile!r} ({err})"
            ) from None
        try:
            p = p.with_overrides(**self.profile_overrides)
            for ov in self.layer_overrides.values():
                p.with_overrides(**ov)
        except ValueError as err:
            raise ConfigError(f"config key 'profile_overrides' / 'layer_overrides': {err}") from None
        return p

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["votes"] = list(self.votes)
        d["noise_range"] = list(self.noise_range)
        return d

    @classmethod
    def from_dict(cls, d: Any) -> BudgetConfig:
        kw = _keys("", d, cls)
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

    def evaluation_key(self, model_digest: str) -> str:
        """Hash of everything that decides accuracy(s, K) (for the resume cache)."""
        keys = ("data", "data_root", "test_limit", "profile", "profile_overrides", "layer_overrides",
                "scale", "votes", "repeats", "seed", "batch_rows")
        d = {k: self.to_dict()[k] for k in keys}
        d["model"] = model_digest
        return hashlib.sha256(_frozen_json(d).encode()).hexdigest()[:16]


def load_budget_config(path: str | os.PathLike) -> BudgetConfig:
    """Read and validate a budget configuration from YAML (errors name the key)."""
    return load_yaml_config(path, BudgetConfig.from_dict, "budget")


# =====================================================================================
# accuracy of K-vote inference at noise scale s


class AccuracyEvaluator:
    """accuracy(s, K): K-vote accuracy at noise scale s, averaged over R programmed chips.

    ``model`` is the trained digital network (copied; its Gaussian noise
    layers are switched off so that only the device adds noise). For repeat r
    the network is mapped with :func:`crossbar.nn.convert.convert` onto arrays
    of ``scale_noise(profile, s, scale)`` (programming seed from (seed, r));
    vote j of an input is its j-th re-read. Draws are produced in blocks whose
    edges are the vote counts ``votes`` (1, 3, 5, ... -> draws [0,1), [1,3),
    [3,5), ...): each block is one forward pass per group of images, with the
    images repeated block-size times (``batch_rows`` rows at most). So
    accuracy(s, K) uses the first K draws and does not depend on which
    evaluations ran before. ``cache`` (mapping "s|K" -> accuracy) is filled as
    results arrive; ``on_result(s, k, acc, per_repeat)`` is called for each new one.
    """

    def __init__(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, profile, *,
                 scale: str = "read", votes: Sequence[int] = (1,), repeats: int = 1, seed: int = 0,
                 batch_rows: int = 256, layer_overrides: Mapping[str, Mapping] | None = None,
                 threads: int | None = 1,
                 cache: Mapping[str, Any] | None = None,
                 on_result: Callable[[float, int, float, list[float]], None] | None = None) -> None:
        from crossbar.nn import set_noise

        if scale not in SCALE_MODES:
            raise ValueError(f"scale must be one of {', '.join(SCALE_MODES)}, got {scale!r}")
        self.model = copy.deepcopy(model).eval()
        set_noise(self.model, sigma_val=0.0)
        self.x = x
        self.y = np.asarray(y)
        self.profile = profile
        self.scale = scale
        self.edges = (0, *sorted(set(int(k) for k in votes) | {1}))
        self.repeats = int(repeats)
        self.seed = int(seed)
        self.batch_rows = int(batch_rows)
        self.threads = threads
        self.layer_overrides = {k: dict(v) for k, v in (layer_overrides or {}).items()}
        self.cache: dict[str, dict] = {k: dict(v) for k, v in (cache or {}).items()}
        self.on_result = on_result
        self._draws: OrderedDict[tuple[float, int], np.ndarray] = OrderedDict()
        self._chips: OrderedDict[tuple[float, int], torch.nn.Module] = OrderedDict()
        self.forward_rows = 0  # rows (images x votes) run through the analog network
        self._check_overrides()

    @property
    def k_max(self) -> int:
        return self.edges[-1]

    def _check_overrides(self) -> None:
        if not self.layer_overrides:
            return
        kinds = (torch.nn.Linear, torch.nn.Conv2d, torch.nn.LSTM)
        names = [n for n, m in self.model.named_modules() if isinstance(m, kinds)]
        for pattern in self.layer_overrides:
            if not any(fnmatch.fnmatchcase(n, pattern) for n in names):
                raise ConfigError(
                    f"config key 'layer_overrides.{pattern}': matches no analog layer; "
                    f"layers: {', '.join(names)}"
                )

    # -- the digital reference ------------------------------------------------------
    @torch.no_grad()
    def digital_accuracy(self) -> float:
        """Accuracy of the float network (no device, no noise) on the subset."""
        correct = 0
        for i in range(0, len(self.y), 500):
            correct += int((self.model(self.x[i : i + 500]).argmax(1).numpy() == self.y[i : i + 500]).sum())
        return correct / len(self.y)

    # -- chips and draws -------------------------------------------------------------
    def profile_at(self, s: float):
        return scale_noise(self.profile, s, self.scale)

    def chip(self, s: float, r: int) -> torch.nn.Module:
        """Repeat r's network mapped at noise scale s (programming seed from (seed, r))."""
        from crossbar.nn.convert import convert

        key = (_s_key(s), r)
        if key in self._chips:
            self._chips.move_to_end(key)
            return self._chips[key]
        p = self.profile_at(s)
        layer_profiles = {pat: scale_noise(self.profile.with_overrides(**ov), s, self.scale)
                          for pat, ov in self.layer_overrides.items()}
        net = convert(self.model, p, seed=derive(self.seed, Stream.BUDGET_PROGRAM, r),
                      overrides=layer_profiles or None).eval()
        self._chips[key] = net
        while len(self._chips) > max(self.repeats, 1):
            self._chips.popitem(last=False)
        return net

    @torch.no_grad()
    def draws(self, s: float, r: int, k: int) -> np.ndarray:
        """Softmax outputs (k, N, C) of the first k re-reads of repeat r at noise scale s."""
        if not 1 <= k <= self.k_max:
            raise ValueError(f"k must be within 1..{self.k_max} (the largest vote count), got {k}")
        key = (_s_key(s), r)
        have = self._draws.get(key)
        if have is None or have.shape[0] < k:
            with limit_threads(self.threads):
                have = self._extend(s, r, k, have)
            self._draws[key] = have
        self._draws.move_to_end(key)
        while len(self._draws) > 64:
            self._draws.popitem(last=False)
        return have[:k]

    @torch.no_grad()
    def _extend(self, s: float, r: int, k: int, have: np.ndarray | None) -> np.ndarray:
        """Add the draw blocks [edges[b], edges[b+1]) needed to reach k draws."""
        from crossbar.nn.convert import reseed

        done = 0 if have is None else have.shape[0]
        parts = [] if have is None else [have]
        net = self.chip(s, r)
        for b, (d0, d1) in enumerate(zip(self.edges[:-1], self.edges[1:], strict=True)):
            if d1 <= done:
                continue
            if d0 >= k:
                break
            g = d1 - d0
            per = max(1, self.batch_rows // g)  # images per forward; each repeated g times
            block = []
            for j, i0 in enumerate(range(0, len(self.y), per)):
                xb = self.x[i0 : i0 + per]
                reseed(net, derive(self.seed, Stream.BUDGET_READ, r, b, j))
                out = net(xb.repeat(g, *([1] * (xb.dim() - 1))))
                self.forward_rows += out.shape[0]
                block.append(torch.softmax(out.float(), -1).view(g, len(xb), -1).numpy())
            parts.append(np.concatenate(block, axis=1))
        return np.concatenate(parts, axis=0)

    def accuracy(self, s: float, k: int) -> float:
        """Mean over the R repeats of the K-vote accuracy (hard vote, summed-softmax tie-break)."""
        ck = f"{_s_key(s)!r}|{int(k)}"
        hit = self.cache.get(ck)
        if hit is not None:
            return float(hit["accuracy"])
        per = [float((vote(self.draws(s, r, k), "hard") == self.y).mean()) for r in range(self.repeats)]
        acc = float(np.mean(per))
        self.cache[ck] = {"s": _s_key(s), "k": int(k), "accuracy": acc, "per_repeat": per}
        if self.on_result is not None:
            self.on_result(_s_key(s), int(k), acc, per)
        return acc

    def evaluated(self) -> list[dict]:
        """Every (s, K, accuracy) computed or loaded so far, sorted by K then s."""
        return sorted(self.cache.values(), key=lambda e: (e["k"], e["s"]))


# =====================================================================================
# bisection per K, and the (V, K) optimum


@dataclass(frozen=True)
class Threshold:
    """The largest tolerable noise scale for K votes.

    ``scale``: largest s found with accuracy >= target (NaN if none);
    ``status``: ``"bracketed"`` (between ``good`` and ``bad``, within the
    tolerance), ``"all"`` (even the top of the range meets the target: a lower
    bound) or ``"none"`` (not even the bottom does); ``evaluations``: (s, accuracy).
    """

    k: int
    scale: float
    status: str
    good: float
    bad: float
    target: float
    evaluations: tuple[tuple[float, float], ...]

    @classmethod
    def from_log2(cls, k: int, res: ThresholdResult, target: float) -> Threshold:
        def ex(t: float) -> float:
            return float("nan") if math.isnan(t) else _s_key(2.0**t)

        return cls(k=k, scale=ex(res.x), status=res.status, good=ex(res.good), bad=ex(res.bad),
                   target=target, evaluations=tuple((ex(t), a) for t, a in res.evaluations))

    @property
    def feasible(self) -> bool:
        return self.status != "none"

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["evaluations"] = [list(e) for e in self.evaluations]
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}


def noise_budget(accuracy: Callable[[float, int], float], votes: Iterable[int], target: float,
                 lo: float, hi: float, rel_tol: float = 0.1, max_evaluations: int = 40,
                 on_step: Callable[[int, float, float], None] | None = None) -> dict[int, Threshold]:
    """Largest noise scale with ``accuracy(s, K) >= target`` for each K, by bisection on log2 s.

    ``accuracy`` is any deterministic function (e.g. :meth:`AccuracyEvaluator.accuracy`);
    [lo, hi] the range of s searched; the search stops when the bracket is
    within a factor (1 + rel_tol). ``on_step(K, s, acc)`` is called after
    every evaluation (progress bars).
    """
    if not (0 < lo < hi):
        raise ValueError(f"need 0 < lo < hi, got {lo}, {hi}")
    out: dict[int, Threshold] = {}
    for k in sorted(set(int(v) for v in votes)):
        def f(t: float, k: int = k) -> float:
            s = _s_key(2.0**t)
            acc = accuracy(s, k)
            if on_step is not None:
                on_step(k, s, acc)
            return acc

        res = find_threshold(f, math.log2(lo), math.log2(hi), target, tol=math.log2(1.0 + rel_tol),
                             max_evaluations=max_evaluations)
        out[k] = Threshold.from_log2(k, res, target)
    return out


@dataclass(frozen=True)
class OperatingPoint:
    """One K at its largest tolerable noise scale s, run at read voltage V = V0 / s^(1/alpha).

    ``energy``: per (voted) inference = K x energy of one read-out at V;
    ``energy_paper``: the same with the whole inference energy scaling as V^2
    (the paper's P ~ V^2; DAC/ADC/digital included); ``bound``: True when s is
    only a lower bound (status "all": V could go lower still, energy is an
    upper bound); latencies of the three schedules, area and tiles of the
    parallel option are in ``voting``.
    """

    k: int
    scale: float
    status: str
    voltage: float
    energy: float
    energy_paper: float
    energy_one: float
    bound: bool
    voting: dict

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def energy_optimum(net: NetworkCost, thresholds: Mapping[int, Threshold], v0: float,
                   alpha: float = 1.0) -> tuple[list[OperatingPoint], dict[str, OperatingPoint | None]]:
    """Price every feasible K at its tolerable noise; the cheapest under each energy model.

    Returns (points, {"fixed_periphery": best, "paper": best}); "fixed_periphery"
    scales only the cell read energy with V^2 (DAC, ADC, digital fixed; the
    physical reading), "paper" the whole inference energy (P ~ V^2).
    """
    points = []
    for k, th in sorted(thresholds.items()):
        if not th.feasible:
            continue
        s = th.scale
        e_one = float(energy_at_sigma(net, s, 1.0, alpha))
        e_paper = float(energy_at_sigma(net, s, 1.0, alpha, periphery_scales=True))
        points.append(OperatingPoint(
            k=k, scale=s, status=th.status, voltage=float(voltage_for_sigma(s, 1.0, v0, alpha)),
            energy=k * e_one, energy_paper=k * e_paper, energy_one=e_one, bound=th.status == "all",
            voting=voting_cost(net, k),
        ))
    best = {
        "fixed_periphery": min(points, key=lambda p: (p.energy, p.k), default=None),
        "paper": min(points, key=lambda p: (p.energy_paper, p.k), default=None),
    }
    return points, best


def pareto_front(points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Non-dominated (energy, accuracy) pairs: lower energy and higher accuracy are better.

    Returned sorted by energy; accuracy strictly increases along the front.
    """
    front: list[tuple[float, float]] = []
    for e, a in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or a > front[-1][1]:
            front.append((float(e), float(a)))
    return front


# =====================================================================================
# one budget run


@dataclass(frozen=True)
class BudgetResult:
    """Everything a budget run found; ``to_dict()`` is the report.json content."""

    config: BudgetConfig
    profile: str
    model: dict
    data: dict
    digital_accuracy: float
    reference_accuracy: float
    target: float
    noiseless_accuracy: float
    nominal_accuracy: dict[int, float]
    thresholds: dict[int, Threshold]
    network: NetworkCost
    points: tuple[OperatingPoint, ...]
    optimum: dict[str, OperatingPoint | None]
    evaluations: tuple[dict, ...]
    v0: float
    elapsed_s: float
    forward_rows: int

    def pareto(self, paper: bool = False) -> list[dict]:
        """Every evaluated (s, K) as an operating point: energy per inference at V(s), accuracy."""
        out = []
        for e in self.evaluations:
            s, k = e["s"], e["k"]
            if s <= 0:
                continue
            energy = k * float(energy_at_sigma(self.network, s, 1.0, self.config.alpha,
                                               periphery_scales=paper))
            out.append({"k": k, "s": s, "voltage": float(voltage_for_sigma(s, 1.0, self.v0,
                                                                           self.config.alpha)),
                        "energy": energy, "accuracy": e["accuracy"]})
        return out

    def to_dict(self) -> dict:
        front = pareto_front((p["energy"], p["accuracy"]) for p in self.pareto())
        return {
            "config": self.config.to_dict(),
            "profile": self.profile,
            "model": self.model,
            "data": self.data,
            "digital_accuracy": self.digital_accuracy,
            "reference": self.config.reference,
            "reference_accuracy": self.reference_accuracy,
            "target": self.target,
            "noiseless_accuracy": self.noiseless_accuracy,
            "nominal_accuracy": {str(k): v for k, v in self.nominal_accuracy.items()},
            "thresholds": {str(k): t.to_dict() for k, t in self.thresholds.items()},
            "network": self.network.to_dict(),
            "voltage_nominal": self.v0,
            "operating_points": [p.to_dict() for p in self.points],
            "optimum": {k: (None if p is None else p.to_dict()) for k, p in self.optimum.items()},
            "pareto_points": self.pareto(),
            "pareto_front": [{"energy": e, "accuracy": a} for e, a in front],
            "evaluations": list(self.evaluations),
            "elapsed_s": self.elapsed_s,
            "forward_rows": self.forward_rows,
        }


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def obtain_model(config: BudgetConfig, progress: bool = True) -> tuple[torch.nn.Module, dict]:
    """Load the checkpoint, training it first (``config.train``) if it does not exist."""
    from crossbar.nn import NoiseConfig
    from crossbar.training import load_checkpoint, train

    path = config.checkpoint_path()
    if not path.exists():
        if config.train is None:
            raise FileNotFoundError(
                f"checkpoint {path} does not exist; give an existing file or a 'train' block"
            )
        t = config.train
        path.parent.mkdir(parents=True, exist_ok=True)
        with limit_threads(config.threads):
            train(t.model, t.data or config.data, noise=NoiseConfig(t.noise, t.sigma_train, 0.0),
                  epochs=t.epochs, lr=t.lr, batch_size=t.batch_size, seed=t.seed, checkpoint=path,
                  data_root=config.data_root, limit=t.limit, progress=progress, device="cpu")
    model, info = load_checkpoint(path)
    history = info.get("history")
    return model, {
        "checkpoint": str(path),
        "digest": _digest(path),
        "name": info.get("model"),
        "epochs": info.get("epoch"),
        "train_config": info.get("config"),
        "test_accuracy_after_training": (history.test_acc[-1] if history is not None and len(history)
                                         else None),
    }


def _write_json_atomic(path: Path, obj: Any) -> None:
    from crossbar.report import write_json

    write_json(path, obj)


def run_budget(config: BudgetConfig, *, progress: bool = True, write: bool = True,
               model: torch.nn.Module | None = None, model_info: dict | None = None) -> BudgetResult:
    """Run a noise budget: reference, bisection per K, costs, (V, K) optimum; write the report.

    ``model`` / ``model_info``: an already loaded network (``run_demo`` shares
    one between devices); otherwise :func:`obtain_model`. Every accuracy is
    saved to ``<out>/cache/evaluations-<key>.json`` as soon as it is known, so
    an interrupted run resumes where it stopped. ``write``: also write
    report.md, report.json and the plots to ``config.out``.
    """
    from crossbar.cost.mapping import network_cost_of
    from crossbar.data import load

    t0 = time.perf_counter()
    if model is None:
        model, model_info = obtain_model(config, progress=progress)
    model_info = dict(model_info or {})
    ds = load(config.data, "test", root=config.data_root, limit=config.test_limit)
    profile = config.base_profile()
    out = Path(config.out)
    key = config.evaluation_key(model_info.get("digest") or "in-memory")
    cache_path = out / "cache" / f"evaluations-{profile.name}-{key}.json"
    cache = {}
    if cache_path.exists():
        try:
            cache = json.loads(cache_path.read_text()).get("evaluations", {})
        except (json.JSONDecodeError, AttributeError):
            cache = {}

    bar = None
    if progress:
        from tqdm.auto import tqdm

        lo, hi = config.noise_range
        per_k = 2 + math.ceil(math.log2(max(math.log2(hi / lo) / math.log2(1 + config.rel_tol), 1.0)))
        bar = tqdm(total=2 + len(config.votes) * (per_k + 1), desc=f"budget {profile.name}",
                   unit="eval", dynamic_ncols=True)

    def saved(s, k, acc, per):
        _write_json_atomic(cache_path, {"key": key, "evaluations": evaluator.cache})

    evaluator = AccuracyEvaluator(
        model, ds.x, ds.y, profile, scale=config.scale, votes=config.votes, repeats=config.repeats,
        seed=config.seed, batch_rows=config.batch_rows, layer_overrides=config.layer_overrides,
        threads=config.threads, cache=cache, on_result=saved,
    )

    def step(k=None, s=None, acc=None):
        if bar is not None:
            bar.update(1)
            if k is not None:
                bar.set_postfix(K=k, s=f"{s:.3g}", acc=f"{acc:.3f}")

    with contextlib.ExitStack() as stack:
        stack.callback(lambda: bar is not None and bar.close())
        stack.enter_context(limit_threads(config.threads))
        digital = evaluator.digital_accuracy()
        noiseless = evaluator.accuracy(0.0, 1)
        reference = noiseless if config.reference == "mapped" else digital
        target = config.target_accuracy if config.target_accuracy is not None else reference - config.max_drop
        step()
        nominal = {}
        for k in reversed(config.votes):  # the largest K computes every draw at s = 1 once
            nominal[k] = evaluator.accuracy(1.0, k)
        nominal = dict(sorted(nominal.items()))
        step()
        lo, hi = config.noise_range
        thresholds = noise_budget(evaluator.accuracy, config.votes, target, lo, hi, config.rel_tol,
                                  config.max_evaluations, on_step=step)
        # cost at the nominal profile (V0 = v_read), input activity measured on up to 32 test images
        activity = None if config.activity == "measured" else config.activity
        net = network_cost_of(evaluator.chip(1.0, 0), ds.x[: min(len(ds.y), 32)], activity=activity,
                              replication=config.replication)
    points, optimum = energy_optimum(net, thresholds, profile.v_read, config.alpha)
    result = BudgetResult(
        config=config, profile=profile.name, model=model_info,
        data={"name": ds.name, "source": ds.source, "n_test": len(ds.y)},
        digital_accuracy=digital, reference_accuracy=reference, target=float(target),
        noiseless_accuracy=noiseless,
        nominal_accuracy=nominal, thresholds=thresholds, network=net, points=tuple(points),
        optimum=optimum, evaluations=tuple(evaluator.evaluated()), v0=profile.v_read,
        elapsed_s=time.perf_counter() - t0, forward_rows=evaluator.forward_rows,
    )
    if write:
        from crossbar.report import write_budget_report

        write_budget_report(result, out)
    return result


# =====================================================================================
# the demo


@dataclass(frozen=True)
class DemoConfig:
    """``crossbar-sim demo``: bundled defaults (see docs/budget.md, "The demo")."""

    out: str = "demo-report"
    devices: tuple[str, ...] = ("reram", "pcm", "nand")
    train: TrainSpec = field(default_factory=TrainSpec)
    data: str = "mnist5k"
    test_limit: int = 200
    votes: tuple[int, ...] = (1, 5, 10)
    repeats: int = 1
    noise_range: tuple[float, float] = (0.5, 128.0)
    rel_tol: float = 0.25
    reference: str = "mapped"
    max_drop: float = 0.01
    alpha: float = 1.0
    scale: str = "read"
    seed: int = 0
    layer_overrides: dict = field(default_factory=dict, hash=False)
    plots: bool = True

    def __post_init__(self) -> None:
        if not self.devices:
            _fail("devices", "at least one device profile", self.devices)
        object.__setattr__(self, "devices", tuple(self.devices))
        object.__setattr__(self, "votes", _votes("votes", self.votes))
        if not isinstance(self.train, TrainSpec):
            object.__setattr__(self, "train", TrainSpec.from_dict(self.train))
        for device in self.devices:  # validates every setting (and each profile name) up front
            self.budget_config(device, Path("model.pt"))

    def budget_config(self, device: str, checkpoint: Path) -> BudgetConfig:
        return BudgetConfig(
            checkpoint=str(checkpoint), data=self.data, test_limit=self.test_limit, profile=device,
            layer_overrides=self.layer_overrides, scale=self.scale, reference=self.reference,
            max_drop=self.max_drop,
            votes=self.votes, repeats=self.repeats, noise_range=self.noise_range, rel_tol=self.rel_tol,
            alpha=self.alpha, seed=self.seed, out=self.out, plots=self.plots,
        )

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["devices"] = list(self.devices)
        d["votes"] = list(self.votes)
        d["noise_range"] = list(self.noise_range)
        return d


@dataclass(frozen=True)
class DemoResult:
    config: DemoConfig
    model: dict
    results: dict[str, BudgetResult]
    errors: dict[str, str]
    elapsed_s: float
    files: tuple[str, ...] = ()


def run_demo(config: DemoConfig = DemoConfig(), *, progress: bool = True) -> DemoResult:
    """Train (or reuse) the CNN, run a noise budget per device, write report.md/json and plots."""
    from crossbar.report import write_demo_report

    t0 = time.perf_counter()
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "model" / config.train.checkpoint_name(config.data)
    model, info = obtain_model(config.budget_config(config.devices[0], ckpt).replace(train=config.train),
                               progress=progress)
    results: dict[str, BudgetResult] = {}
    errors: dict[str, str] = {}
    for device in config.devices:
        try:
            bc = config.budget_config(device, ckpt)
            results[device] = run_budget(bc, progress=progress, write=False, model=model, model_info=info)
        except (ValueError, RuntimeError, FloatingPointError) as err:
            errors[device] = f"{type(err).__name__}: {err}"
        elapsed = time.perf_counter() - t0
        partial = DemoResult(config, info, dict(results), dict(errors), elapsed)
        write_demo_report(partial, out, plots=False)  # finished devices are on disk as we go
    result = DemoResult(config, info, results, errors, time.perf_counter() - t0)
    files = write_demo_report(result, out, plots=config.plots)
    return dataclasses.replace(result, files=tuple(str(f) for f in files))
