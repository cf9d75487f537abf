"""Power-law conductance drift, written in YAML, evaluated on arrays.

G(t) = G(t0) · (t / t0)^(−ν) with ν = |ν_mean(ĝ_T) + ν_std(ĝ_T) z|, z ~ N(0, 1) per cell:
the magnitude of a normal draw whose moments are taken at the cell's *target* conductance
ĝ_T (the value the write aims at), as in the published PCM model (Nandakumar et al.,
ICECS 2019; Joshi et al., Nat. Commun. 11, 2473 (2020); AIHWKit ``PCMLikeNoiseModel.
generate_drift_coefficients``). Both moments are clipped logarithms a · ln ĝ + b.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._checks import check_keys, join, mapping, real, real_pair
from .noise import _as_array, _bound_g_max, _fmt

# AIHWKit clamps ĝ from below at 1e-7 before taking its logarithm for drift.
_DRIFT_G_NORM_FLOOR = 1e-7

@dataclass(frozen=True)
class ClippedLog:
    """x(ĝ) = clip(a · ln ĝ + b, lo, hi), with ĝ floored at 1e-7 as in AIHWKit."""

    a: float
    b: float
    lo: float
    hi: float

    @classmethod
    def from_spec(cls, spec: Any, *, file: str, key: str, lo: float | None = None) -> ClippedLog:
        spec = mapping(file, key, spec)
        check_keys(file, key, spec, ("a", "b", "clip"))
        # Drift exponents are of order 0.1 (AIHWKit: |a|, |b| < 0.03); 10 bounds them far
        # above any device while keeping a ln(g) finite for every g >= 1e-7 g_max.
        a = real(file, join(key, "a"), spec["a"], lo=-10.0, hi=10.0)
        b = real(file, join(key, "b"), spec["b"], lo=-10.0, hi=10.0)
        clip_lo, clip_hi = real_pair(file, join(key, "clip"), spec["clip"], lo=lo)
        return cls(a, b, clip_lo, clip_hi)

    def __call__(self, g_norm: np.ndarray) -> np.ndarray:
        x = self.a * np.log(np.maximum(g_norm, _DRIFT_G_NORM_FLOOR)) + self.b
        return np.clip(x, self.lo, self.hi)

    def to_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "clip": [self.lo, self.hi]}

    def describe(self) -> str:
        sign = "−" if self.b < 0 else "+"
        return (f"clip({_fmt(self.a)}·ln ĝ {sign} {_fmt(abs(self.b))}, {_fmt(self.lo)}, "
                f"{_fmt(self.hi)})")


@dataclass(frozen=True)
class Drift:
    """Power-law conductance drift G(t) = G(t0) · (t / t0)^(−ν).

    ν = |nu_mean(G_T) + nu_std(G_T) z| per cell (:meth:`exponents`: the one rule, for
    the tiles and hardware-aware training). ``t0`` (s) is the first read after programming.
    """

    t0: float
    mean: ClippedLog
    spread: ClippedLog
    g_max: float

    @classmethod
    def from_spec(cls, spec: Mapping | None, *, g_max: float, file: str = "<spec>",
                  key: str = "drift") -> Drift | None:
        g_max = _bound_g_max(file, g_max)
        if spec is None:
            return None
        spec = mapping(file, key, spec)
        check_keys(file, key, spec, ("t0_s", "nu_mean", "nu_std"))
        t0 = real(file, join(key, "t0_s"), spec["t0_s"], lo=0.0, lo_open=True)
        mean = ClippedLog.from_spec(spec["nu_mean"], file=file, key=join(key, "nu_mean"))
        spread = ClippedLog.from_spec(spec["nu_std"], file=file, key=join(key, "nu_std"),
                                      lo=0.0)
        return cls(t0, mean, spread, g_max)

    def nu_mean(self, g: Any) -> np.ndarray:
        """Mean drift exponent at conductances ``g`` (S)."""
        return self.mean(np.abs(_as_array(g)) / self.g_max)

    def nu_std(self, g: Any) -> np.ndarray:
        """Cell-to-cell standard deviation of the drift exponent at ``g`` (S); >= 0."""
        return self.spread(np.abs(_as_array(g)) / self.g_max)

    def exponents(self, g_target: Any, z: Any) -> np.ndarray:
        """Per-cell drift exponents ν = |nu_mean(G_T) + nu_std(G_T) z| for target conductances
        ``g_target`` (S) and standard normals ``z`` (same shape): drawn at the target, a
        negative draw folded to its magnitude (not clipped to 0), as AIHWKit's
        ``PCMLikeNoiseModel``; so no cell drifts upwards."""
        g = _as_array(g_target)
        return np.abs(self.nu_mean(g) + self.nu_std(g) * np.asarray(z, dtype=np.float64))

    def to_dict(self) -> dict:
        return {"t0_s": self.t0, "nu_mean": self.mean.to_dict(), "nu_std": self.spread.to_dict()}

    def describe(self) -> str:
        return (f"G(t) = G(t0)·(t/t0)^−ν, t0 = {_fmt(self.t0)} s, ν ~ N(μ, σ), "
                f"μ = {self.mean.describe()}, σ = {self.spread.describe()}")

    def bound_to(self, g_max: float) -> Drift:
        return Drift(self.t0, self.mean, self.spread, g_max)


__all__ = ["ClippedLog", "Drift"]
