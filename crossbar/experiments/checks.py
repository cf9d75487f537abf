"""Validation of the sweep, budget and demo configurations, on the generic checks of ``crossbar.checks``.

The values are checked by :mod:`crossbar.checks` (one error format: file,
key, value, allowed); this module adds the key-first signatures the config
dataclasses use (the file is named by the loader, :func:`in_file`) and the
few shapes only experiments have (vote counts, noise ranges, sigma grids,
profile overrides, model arguments). Numbers come back as Python ``int`` /
``float``; every integer is bounded (:data:`crossbar.checks.MAX_INT` unless
the key has its own bound), so no huge value reaches NumPy or torch.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from crossbar import checks as generic
from crossbar.checks import MAX_INT, CheckError

__all__ = [
    "MAX_INT",
    "MAX_SIGMA",
    "OBJECT",
    "ConfigError",
    "fail",
    "integer",
    "interval",
    "data_spec",
    "mapping_keys",
    "model_kwargs",
    "model_spec",
    "number",
    "overrides",
    "sigmas",
    "string",
    "torch_device",
    "vote_counts",
]

ConfigError = CheckError
"""An invalid configuration value (the message names key, value and what is allowed;
the loader adds the file). The same class as :class:`crossbar.checks.CheckError`."""

MAX_SIGMA = 100.0
"""Largest noise std (Gaussian layers) or noise scale (device profiles) of a sweep grid:
sigma = 100 is an SNR of -40 dB, far below any usable network; larger values only
overflow (inf and NaN outputs)."""


def fail(key: str, allowed: str, got: Any) -> None:
    """Raise ConfigError for ``key``: ``got`` is not ``allowed``."""
    raise ConfigError(None, key or "(top level)", "invalid value", got, allowed)


def integer(key: str, v: Any, lo: int, optional: bool = False, hi: int = MAX_INT) -> int | None:
    """An integer in [lo, hi] (not a bool); None passes with ``optional``."""
    if v is None and optional:
        return None
    try:
        return generic.integer(None, key, v, lo=lo, hi=hi)
    except CheckError as err:
        if optional:
            err.allowed = f"{err.allowed} or null"
            err.args = (err._message(),)
        raise


def number(key: str, v: Any, lo: float | None = None, hi: float | None = None,
           lo_open: bool = False, optional: bool = False) -> float | None:
    """A finite number in [lo, hi] ((lo, hi] with ``lo_open``); None passes with ``optional``."""
    if v is None and optional:
        return None
    try:
        return generic.real(None, key, v, lo=lo, hi=hi, lo_open=lo_open)
    except CheckError as err:
        if optional:
            err.allowed = f"{err.allowed} or null"
            err.args = (err._message(),)
        raise


def string(key: str, v: Any, choices: Sequence[str] | None = None, optional: bool = False) -> str | None:
    """A non-empty string, one of ``choices`` if given; None passes with ``optional``."""
    if v is None and optional:
        return None
    if choices is not None:
        return generic.choice(None, key, v, choices)
    return generic.text(None, key, v)


def mapping_keys(key: str, d: Any, cls) -> dict:
    """``d`` as a dict whose keys are all fields of the dataclass ``cls`` (key "" = top level)."""
    allowed = [f.name for f in dataclasses.fields(cls)]
    if not isinstance(d, Mapping):
        raise ConfigError(None, key or "(top level)", "must be a mapping of keys to values", d,
                          "keys " + ", ".join(allowed))
    generic.check_keys(None, key, generic.mapping(None, key, d), (), allowed)
    return dict(d)


def vote_counts(key: str, v: Any) -> tuple[int, ...]:
    """Distinct vote counts K in 1..1000 (a single int allowed), sorted, with 1 added."""
    allowed = "a non-empty list of distinct integers in 1..1000 (1 is always added)"
    if isinstance(v, int) and not isinstance(v, bool):
        v = [v]
    if not isinstance(v, (list, tuple)) or not v or len(v) > 1000:
        fail(key, allowed, v)
    out = []
    for k in v:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1 or k > 1000:
            fail(key, allowed, v)
        out.append(int(k))
    if len(set(out)) != len(out):
        fail(key, "distinct values", v)
    return tuple(sorted(set(out) | {1}))


def interval(key: str, v: Any, hi: float = 1e6) -> tuple[float, float]:
    """[lo, hi] with 0 < lo < hi <= ``hi``."""
    if not isinstance(v, (list, tuple)) or len(v) != 2:
        fail(key, f"[lo, hi] with 0 < lo < hi <= {hi:g}", v)
    lo_v = number(f"{key}[0]", v[0], 0.0, hi, lo_open=True)
    hi_v = number(f"{key}[1]", v[1], 0.0, hi, lo_open=True)
    if not lo_v < hi_v:
        fail(key, f"[lo, hi] with 0 < lo < hi <= {hi:g}", v)
    return lo_v, hi_v


def sigmas(key: str, value: Any) -> tuple[float, ...]:
    """A non-empty list of at most 1000 distinct finite numbers in [0, MAX_SIGMA], sorted."""
    allowed = f"a non-empty list of distinct numbers in [0, {MAX_SIGMA:g}]"
    if not isinstance(value, (list, tuple)) or not value or len(value) > 1000:
        fail(key, allowed, value)
    out = []
    for v in value:
        if (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or v > MAX_SIGMA
                or not math.isfinite(v)):
            fail(key, allowed, value)
        out.append(float(v))
    if len(set(out)) != len(out):
        fail(key, "distinct values", value)
    return tuple(sorted(out))


def overrides(key: str, v: Any) -> dict:
    """A mapping of device-profile field names to values (None: no overrides)."""
    if v is None:
        return {}
    if not isinstance(v, Mapping) or not all(isinstance(k, str) for k in v):
        fail(key, "a mapping of profile field names to values", v)
    return dict(v)


OBJECT = "object:"
"""Prefix of the ``model`` / ``data`` of a config whose network or data was passed in Python
(``run_sweep(config, model=..., data=...)``); set by the runner, never written by hand."""


def model_spec(key: str, v: Any) -> str:
    """A bundled network name, or an import path ``package.module:factory`` that imports here
    (the error quotes why not); ``object:...`` as the runner sets it for a module passed in Python."""
    from crossbar import models
    from crossbar.resolve import ImportSpecError, import_object, is_spec

    string(key, v)
    if models.is_bundled(v) or v.startswith(OBJECT):
        return v
    allowed = f"one of {', '.join(models.available())}, or an import path package.module:factory"
    if not is_spec(v):
        raise ConfigError(None, key, "not a network", v, allowed)
    try:
        import_object(v, "model factory")
    except ImportSpecError as err:
        raise ConfigError(None, key, generic.one_line(err), allowed=allowed) from None
    return v


def data_spec(key: str, v: Any) -> str:
    """A bundled dataset name, a path to an existing ``.npz`` file, or an import path
    ``package.module:loader`` that imports here (``object:...``: data passed in Python)."""
    from crossbar.data import available
    from crossbar.resolve import ImportSpecError, import_object, is_spec

    string(key, v)
    allowed = (f"one of {', '.join(available())}, a path to an .npz file (x_train, y_train, x_test, "
               "y_test), or an import path package.module:loader")
    if v in available() or v.startswith(OBJECT):
        return v
    if is_spec(v):
        try:
            import_object(v, "data loader")
        except ImportSpecError as err:
            raise ConfigError(None, key, generic.one_line(err), allowed=allowed) from None
        return v
    if v.endswith(".npz"):
        import os

        if not os.path.isfile(v):
            raise ConfigError(None, key, "no such file", v, allowed)
        return v
    raise ConfigError(None, key, "not a dataset" + generic.suggest(v, available()), v, allowed)


def model_kwargs(key: str, model: str, v: Any) -> dict:
    """Extra keyword arguments of the network's factory: names it takes (not noise or seed;
    any name where it takes ``**kwargs``). Values: for a bundled network a bool, a string, an
    integer in 1..65536 or a finite number; for a user's factory also any integer within
    ±10^6 and lists of at most 64 such values. None for a module passed in Python."""
    from crossbar import models

    if v is None:
        return {}
    if not isinstance(v, Mapping) or not all(isinstance(k, str) for k in v):
        fail(key, "a mapping of argument names to values", v)
    if model.startswith(OBJECT):
        if v:
            fail(key, "nothing: a module passed in Python is used as it is", v)
        return {}
    bundled = models.is_bundled(model)
    params = models.factory_parameters(model)
    if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
        generic.check_keys(None, key, v, (), [n for n, p in params.items() if p.kind != p.VAR_KEYWORD])
    for name, value in v.items():
        items = value if isinstance(value, list) and not bundled else [value]
        if len(items) > 64:
            fail(generic.join(key, name), "a list of at most 64 values", value)
        for item in items:
            _argument(generic.join(key, name), item, bundled)
    return dict(v)


def _argument(where: str, value: Any, bundled: bool) -> None:
    if isinstance(value, bool) or isinstance(value, str) and len(value) <= 256:
        return
    if isinstance(value, int):
        generic.integer(None, where, value, lo=1 if bundled else -10**6, hi=65536 if bundled else 10**6)
    else:
        generic.real(None, where, value, lo=-1e6, hi=1e6)


TORCH_DEVICE_TYPES = ("cpu", "cuda", "mps")


def torch_device(key: str, v: Any) -> str:
    """A torch device string of a type that computes (``cpu``, ``cuda``, ``cuda:1``, ``mps``)."""
    import torch

    string(key, v)
    allowed = "a torch device such as cpu, cuda, cuda:1 or mps"
    try:
        d = torch.device(v)
    except (RuntimeError, ValueError, TypeError):
        fail(key, allowed, v)
    if d.type not in TORCH_DEVICE_TYPES:
        fail(key, allowed, v)
    return v
