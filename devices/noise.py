"""Conductance-dependent noise and drift laws, written in YAML, evaluated on arrays.

A noise law is a small frozen object with ``std(g)``: conductances in siemens
in, standard deviations in siemens out (same shape, never negative). The forms
are the ones the published device models use:

``constant``                 σ = sigma_S
``relative``                 σ = fraction · G
``polynomial``               σ = Σ c_i x^i µS, x = G in µS or ĝ = G/g_max, optionally
                             with x clipped to [lo, hi] and the result scaled by
                             g_max / reference_g_max_uS (AIHWKit's convention)
``saturating_exponential``   σ = a_S · (1 − exp(−G / b_S))   (SONOS, Agrawal 2022)
``pcm_1f``                   σ = G · min(c / ĝ^p, cap) · sqrt(ln((t + t_read) / (2 t_read)))
                             (PCM accumulated 1/f read noise, AIHWKit PCMLikeNoiseModel)

``null`` in YAML means no noise (form ``none``). Every form but ``pcm_1f`` is white
(independent on every read); ``pcm_1f`` is 1/f noise: its variance is a power
spectrum A/f integrated from f_lo = 1/(t + t_read) (t: time since programming) to
f_hi = 1/(2 t_read), and :meth:`NoiseFunction.split` divides that band at 1/dt
for reads dt apart (docs/physics.md, "Read noise in time").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._checks import (
    FrozenMap,
    ProfileError,
    check_keys,
    choice,
    join,
    mapping,
    real,
    real_pair,
    suggest,
)

# AIHWKit clamps ĝ^p from below at 1e-3 in the 1/f noise (avoids 0/0 at G = 0).
_PCM_DENOMINATOR_FLOOR = 1e-3


def _bound_g_max(file: str, g_max: Any) -> float:
    """The g_max a law is bound to (S): ĝ = G / g_max."""
    return real(file, "g_max_S", g_max, lo=0.0, lo_open=True)


def _as_array(g: Any) -> np.ndarray:
    return np.asarray(g, dtype=np.float64)


# --------------------------------------------------------------------------- forms
# Each form: parse(file, key, spec) -> normalised params (YAML units),
# evaluate(g, params, g_max) -> std in S, describe(params) -> formula text.


@dataclass(frozen=True)
class _Form:
    name: str
    keys: tuple[str, ...]
    optional: tuple[str, ...]
    parse: Callable[[str, str, Mapping], dict]
    evaluate: Callable[[np.ndarray, Mapping, float], np.ndarray]
    describe: Callable[[Mapping], str]


def _parse_constant(file: str, key: str, spec: Mapping) -> dict:
    return {"sigma_S": real(file, join(key, "sigma_S"), spec["sigma_S"], lo=0.0, hi=1.0,
                            hi_open=True)}


def _eval_constant(g: np.ndarray, p: Mapping, g_max: float) -> np.ndarray:
    return np.full(g.shape, p["sigma_S"])


def _parse_relative(file: str, key: str, spec: Mapping) -> dict:
    return {"fraction": real(file, join(key, "fraction"), spec["fraction"], lo=0.0, hi=10.0)}


def _eval_relative(g: np.ndarray, p: Mapping, g_max: float) -> np.ndarray:
    return p["fraction"] * np.abs(g)


_POLY_VARIABLES = ("G_uS", "g_norm")


def _parse_polynomial(file: str, key: str, spec: Mapping) -> dict:
    out: dict[str, Any] = {
        "variable": choice(file, join(key, "variable"), spec["variable"], _POLY_VARIABLES)
    }
    coeffs = spec["coefficients_uS"]
    ckey = join(key, "coefficients_uS")
    if not isinstance(coeffs, (list, tuple)) or not 1 <= len(coeffs) <= 12:
        raise ProfileError(file, ckey, "must be a list of 1 to 12 numbers (ascending powers)",
                           coeffs)
    out["coefficients_uS"] = tuple(real(file, f"{ckey}[{i}]", c) for i, c in enumerate(coeffs))
    if spec.get("clip") is not None:
        out["clip"] = real_pair(file, join(key, "clip"), spec["clip"])
    if spec.get("reference_g_max_uS") is not None:
        out["reference_g_max_uS"] = real(file, join(key, "reference_g_max_uS"),
                                         spec["reference_g_max_uS"], lo=0.0, lo_open=True)
    return out


def _eval_polynomial(g: np.ndarray, p: Mapping, g_max: float) -> np.ndarray:
    x = g * 1e6 if p["variable"] == "G_uS" else g / g_max
    if "clip" in p:
        x = np.clip(x, *p["clip"])
    sigma_us = np.zeros(g.shape)
    for c in reversed(p["coefficients_uS"]):  # Horner
        sigma_us = sigma_us * x + c
    if "reference_g_max_uS" in p:
        sigma_us = sigma_us * (g_max * 1e6 / p["reference_g_max_uS"])
    return sigma_us * 1e-6


def _parse_saturating(file: str, key: str, spec: Mapping) -> dict:
    return {
        "a_S": real(file, join(key, "a_S"), spec["a_S"], lo=0.0, hi=1.0, hi_open=True),
        "b_S": real(file, join(key, "b_S"), spec["b_S"], lo=0.0, hi=1.0, lo_open=True,
                    hi_open=True),
    }


def _eval_saturating(g: np.ndarray, p: Mapping, g_max: float) -> np.ndarray:
    return -p["a_S"] * np.expm1(-np.maximum(g, 0.0) / p["b_S"])


def _parse_pcm_1f(file: str, key: str, spec: Mapping) -> dict:
    return {
        "c": real(file, join(key, "c"), spec["c"], lo=0.0),
        "p": real(file, join(key, "p"), spec["p"], lo=0.0, hi=10.0),
        "cap": real(file, join(key, "cap"), spec["cap"], lo=0.0, lo_open=True),
        "t_read_s": real(file, join(key, "t_read_s"), spec["t_read_s"], lo=0.0, lo_open=True),
    }


def _eval_pcm_1f(g: np.ndarray, p: Mapping, g_max: float) -> np.ndarray:
    """The 1/f amplitude G · Q_s (S): the std accumulated per unit of ln(f_hi / f_lo)."""
    g_abs = np.abs(g)
    denominator = np.maximum((g_abs / g_max) ** p["p"], _PCM_DENOMINATOR_FLOOR)
    return g_abs * np.minimum(p["c"] / denominator, p["cap"])


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _describe_polynomial(p: Mapping) -> str:
    var = "G[µS]" if p["variable"] == "G_uS" else "ĝ"
    terms = []
    for i, c in enumerate(p["coefficients_uS"]):
        terms.append(_fmt(c) if i == 0 else f"{_fmt(c)}·{var}" + (f"^{i}" if i > 1 else ""))
    text = "σ = (" + " + ".join(terms).replace("+ -", "− ") + ") µS"
    if "clip" in p:
        lo, hi = p["clip"]
        text += f", {var} clipped to [{_fmt(lo)}, {_fmt(hi)}]"
    if "reference_g_max_uS" in p:
        text += f", × g_max / {_fmt(p['reference_g_max_uS'])} µS"
    return text


_FORMS: dict[str, _Form] = {
    f.name: f
    for f in (
        _Form("none", (), (), lambda file, key, spec: {},
              lambda g, p, g_max: np.zeros(g.shape), lambda p: "σ = 0"),
        _Form("constant", ("sigma_S",), (), _parse_constant, _eval_constant,
              lambda p: f"σ = {_fmt(p['sigma_S'])} S"),
        _Form("relative", ("fraction",), (), _parse_relative, _eval_relative,
              lambda p: f"σ = {_fmt(p['fraction'])} · G"),
        _Form("polynomial", ("variable", "coefficients_uS"), ("clip", "reference_g_max_uS"),
              _parse_polynomial, _eval_polynomial, _describe_polynomial),
        _Form("saturating_exponential", ("a_S", "b_S"), (), _parse_saturating,
              _eval_saturating,
              lambda p: f"σ = {_fmt(p['a_S'])} S · (1 − exp(−G / {_fmt(p['b_S'])} S))"),
        _Form("pcm_1f", ("c", "p", "cap", "t_read_s"), (), _parse_pcm_1f, _eval_pcm_1f,
              lambda p: (f"σ = G · min({_fmt(p['c'])} / ĝ^{_fmt(p['p'])}, {_fmt(p['cap'])})"
                         f" · sqrt(ln((t + t_read)/(2 t_read))), t = time since programming,"
                         f" t_read = {_fmt(p['t_read_s'])} s")),
    )
}

#: Names of the noise forms a profile may use (``none`` is written ``null`` in YAML).
NOISE_FORMS: tuple[str, ...] = tuple(_FORMS)


def _freeze(value: Any) -> Any:
    return tuple(value) if isinstance(value, (list, tuple)) else value


@dataclass(frozen=True)
class NoiseFunction:
    """A conductance-dependent noise standard deviation.

    ``form`` is one of :data:`NOISE_FORMS`; ``params`` holds the form's
    parameters in the units their names carry (as in the YAML); ``g_max`` (S)
    is the profile's maximum conductance, used by forms written on ĝ = G/g_max.

    ``std(g, t)`` is the published (unscaled) law: the profile's ``noise_scale``
    is *not* applied here (see ``DeviceProfile.programming_std`` / ``read_std``).
    ``time`` (s) is the time since programming a 1/f law uses when ``t`` is not
    given: the profile binds its ``time_since_programming``.
    """

    form: str
    params: FrozenMap
    g_max: float
    time: float | None = None

    @classmethod
    def from_spec(cls, spec: Mapping | None, *, g_max: float, file: str = "<spec>",
                  key: str = "noise", time: float | None = None) -> NoiseFunction:
        """Build from the YAML form (``None`` = no noise); raise ProfileError if invalid."""
        g_max = _bound_g_max(file, g_max)
        if spec is None:
            return cls("none", FrozenMap(), g_max, time)
        spec = mapping(file, key, spec)
        if "form" not in spec:
            raise ProfileError(file, join(key, "form"), "required key is missing",
                               allowed=" | ".join(NOISE_FORMS))
        name = spec["form"]
        if not isinstance(name, str) or name not in _FORMS:
            hint = suggest(name, NOISE_FORMS) if isinstance(name, str) else ""
            raise ProfileError(file, join(key, "form"), "unknown noise form" + hint, name,
                               " | ".join(NOISE_FORMS))
        form = _FORMS[name]
        check_keys(file, key, spec, ("form",) + form.keys, form.optional)
        params = form.parse(file, key, spec)
        return cls(name, FrozenMap((k, _freeze(v)) for k, v in params.items()), g_max, time)

    @classmethod
    def zero(cls, g_max: float = 1.0) -> NoiseFunction:
        return cls("none", FrozenMap(), g_max)

    @property
    def spectrum(self) -> str:
        """``"1/f"`` for the accumulated 1/f law (``pcm_1f``), else ``"white"``."""
        return "1/f" if self.form == "pcm_1f" else "white"

    def std(self, g: Any, t: float | None = None) -> np.ndarray:
        """Noise standard deviation (S) of one read at conductances ``g`` (S), ``t`` seconds
        after programming (1/f laws; default: the bound ``time``); same shape, >= 0: the fresh
        part of a single read, which holds all of it (``split`` with ``dt=None``)."""
        return self.split(g, t)[1]

    def split(self, g: Any, t: float | None = None, dt: float | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
        """(common, fresh) standard deviations (S) of reads spaced ``dt`` seconds apart.

        White laws: (0, σ). The 1/f law's variance A ln(f_hi / f_lo) is split at
        f_c = 1/dt, clipped to [f_lo, f_hi]: the band below f_c, A ln((t + t_read)
        / d), is common to the reads, the band above, A ln(d / (2 t_read)), fresh
        on each, d = clip(dt, 2 t_read, t + t_read). ``dt=None`` (a single read, or
        reads far apart) puts all of it in the fresh part. The two add up to
        ``std(g, t)`` squared.
        """
        g = _as_array(g)
        amplitude = np.maximum(_FORMS[self.form].evaluate(g, self.params, self.g_max), 0.0)
        if self.spectrum == "white":
            return np.zeros(g.shape), amplitude
        lo, hi = 2.0 * self.params["t_read_s"], self.check_time(t) + self.params["t_read_s"]
        d = hi if dt is None else min(max(float(dt), lo), hi)
        return amplitude * math.sqrt(math.log(hi / d)), amplitude * math.sqrt(math.log(d / lo))

    def check_time(self, t: float | None = None) -> float:
        """``t`` (default: the bound ``time``) checked for a 1/f law: it must exceed t_read."""
        t = self.time if t is None else t
        if t is None:
            raise ValueError("a 1/f read-noise law needs the time since programming: pass t")
        if not (isinstance(t, (int, float)) and math.isfinite(t) and t > self.params["t_read_s"]):
            raise ValueError(f"the time since programming must be a finite number of seconds above "
                             f"t_read = {self.params['t_read_s']:g} s (ln((t + t_read)/(2 t_read)) > 0), "
                             f"got {t!r}")
        return float(t)

    @property
    def is_zero(self) -> bool:
        """True when the law is identically zero."""
        p = self.params
        return (
            self.form == "none"
            or (self.form == "constant" and p["sigma_S"] == 0.0)
            or (self.form == "relative" and p["fraction"] == 0.0)
            or (self.form == "saturating_exponential" and p["a_S"] == 0.0)
            or (self.form == "pcm_1f" and p["c"] == 0.0)
            or (self.form == "polynomial" and not any(p["coefficients_uS"]))
        )

    def describe(self) -> str:
        """The law as a formula with its numbers, for reports."""
        return _FORMS[self.form].describe(self.params)

    def to_dict(self) -> dict | None:
        """The YAML form (``None`` for no noise)."""
        if self.form == "none":
            return None
        out: dict[str, Any] = {"form": self.form}
        for k, v in self.params.items():
            out[k] = list(v) if isinstance(v, tuple) else v
        return out

    def with_params(self, **params: Any) -> NoiseFunction:
        """A copy with some parameters replaced, validated again.

        E.g. ``read_noise.with_params(c=0.0176)`` for twice the PCM 1/f amplitude.
        """
        spec = self.to_dict() or {"form": "none"}
        spec.update(params)
        if spec["form"] == "none":
            if params:
                raise ProfileError("<with_params>", next(iter(params)),
                                   "the 'none' noise form takes no parameters")
            return self
        return NoiseFunction.from_spec(spec, g_max=self.g_max, file="<with_params>",
                                       key=self.form, time=self.time)

    def bound_to(self, g_max: float, time: float | None = None) -> NoiseFunction:
        """The same law for a profile with another g_max and time since programming."""
        return NoiseFunction(self.form, self.params, g_max, self.time if time is None else time)


__all__ = ["NOISE_FORMS", "NoiseFunction"]
