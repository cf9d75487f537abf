"""Maximum-likelihood fit of the drift exponents' distribution (``Drift``: clipped logs of ĝ).

Each cell's exponent ν̂_i, measured with variance v_i, is modelled as
N(m(ĝ_i), s(ĝ_i)² + v_i), m and s each clip(a ln ĝ + b, lo, hi) as in
devices/drift.py; which clips are free (none, lo, hi, both) is chosen by BIC.
The engine and the intervals are :mod:`.fit_laws`'s. The Wald intervals of a and
b undercover when few cells lie on a clipped law's sloped part (docs/devices.md).
"""

from __future__ import annotations

import numpy as np

from .fit_laws import Estimate, _covariance, _estimates, _ks, _minimise, _nll

__all__ = ["DRIFT_VARIANTS", "fit_drift"]

_DRIFT_FLOOR = 1e-7  # AIHWKit's floor of ĝ before ln ĝ (devices/drift.py)


#: Clipped-log variants of a drift moment clip(a ln ĝ + b, lo, hi): which clips are fitted.
DRIFT_VARIANTS = ("linear", "lo", "hi", "both")


def _clipped(variant: str, th: np.ndarray, x: np.ndarray) -> np.ndarray:
    y = th[0] * x + th[1]
    if variant in ("lo", "both"):
        y = np.maximum(y, th[2])
    if variant == "hi":
        y = np.minimum(y, th[2])
    if variant == "both":
        y = np.minimum(y, th[3])
    return y


def _variant_params(variant: str) -> tuple[str, ...]:
    return {"linear": ("a", "b"), "lo": ("a", "b", "lo"), "hi": ("a", "b", "hi"),
            "both": ("a", "b", "lo", "hi")}[variant]


def _variant_starts(variant: str, xb: np.ndarray, yb: np.ndarray) -> list[np.ndarray]:
    """Starting points from binned values (xb, yb): the line, and for clipped variants the
    best few hinges c + a·min(x − x*, 0) or c + a·max(x − x*, 0) over breakpoints x* at the
    bins (least squares; the clip value is c, b = c − a x*)."""
    a, b = np.polyfit(xb, yb, 1)
    if variant == "linear":
        return [np.array([a, b])]
    hinges = []
    for xs in xb[1:-1]:
        for side in (np.minimum, np.maximum):
            design = np.stack([np.ones_like(xb), side(xb - xs, 0.0)], axis=1)
            (c, slope), *_ = np.linalg.lstsq(design, yb, rcond=None)
            # a lower clip holds where the line is below it: left hinge a < 0, right hinge a > 0
            lower = (side is np.minimum) == (slope < 0)
            sse = float(np.sum((design @ np.array([c, slope]) - yb) ** 2))
            hinges.append((sse, lower, np.array([slope, c - slope * xs, c])))
    hinges.sort(key=lambda h: h[0])
    lo_h = [h[2] for h in hinges if h[1]][:3] or [np.array([a, b, np.min(yb)])]
    hi_h = [h[2] for h in hinges if not h[1]][:3] or [np.array([a, b, np.max(yb)])]
    if variant == "lo":
        return lo_h
    if variant == "hi":
        return hi_h
    return [np.append(h, max(np.max(yb), h[2]) + 1e-3) for h in lo_h] + [
        np.array([h[0], h[1], min(np.min(yb), h[2]) - 1e-3, h[2]]) for h in hi_h]


def _binned_moments(x: np.ndarray, nu: np.ndarray, nu_var: np.ndarray, bins: int = 12):
    """Per quantile bin of x: mean x, mean ν and the spread of ν less its estimation error."""
    edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, max(edges.size - 2, 0))
    rows = [(x[m].mean(), nu[m].mean(), np.sqrt(max(nu[m].var() - nu_var[m].mean(), 1e-10)))
            for m in (which == k for k in np.unique(which)) if m.sum() >= 3]
    return tuple(np.array(c) for c in zip(*rows, strict=True))


def _clipped_spec(variant: str, th: np.ndarray, x: np.ndarray, floor: float | None) -> dict:
    """The YAML ``{a, b, clip}``: an unfitted clip side at the law's value at the data's edge."""
    y = _clipped(variant, th, x)
    lo = th[2] if variant in ("lo", "both") else float(np.min(y))
    hi = th[3] if variant == "both" else th[2] if variant == "hi" else float(np.max(y))
    if floor is not None:
        lo = max(lo, floor)
    return {"a": float(th[0]), "b": float(th[1]), "clip": [float(lo), float(max(hi, lo))]}


def fit_drift(nu: np.ndarray, nu_var: np.ndarray, g_norm: np.ndarray,
              variants: tuple[str | None, str | None] = (None, None)
              ) -> tuple[dict, tuple[Estimate, ...], dict, np.ndarray, float]:
    """Fit ν̂_i ~ N(m(ĝ_i), s(ĝ_i)² + nu_var_i) with m, s clipped logs (variants by BIC).

    Returns (the YAML ``nu_mean``/``nu_std`` blocks, estimates named ``nu_mean.a`` ...,
    {"nu_mean": variant, "nu_std": variant, "bic": ...}, standardised residuals, KS p).
    """
    x = np.log(np.maximum(g_norm, _DRIFT_FLOOR))
    xb, mb, sb = _binned_moments(x, nu, nu_var)

    def run(mv: str, sv: str) -> tuple[np.ndarray, float]:
        km = len(_variant_params(mv))

        def mean(th):
            return _clipped(mv, th[:km], x)

        def var(th):  # the written law clips the spread at 0 (clip lo >= 0): so does the fit
            return np.maximum(_clipped(sv, th[km:], x), 0.0) ** 2 + nu_var

        m_starts, s_starts = _variant_starts(mv, xb, mb), _variant_starts(sv, xb, sb)
        starts = [np.concatenate([m0, s_starts[0]]) for m0 in m_starts] + [
            np.concatenate([m_starts[0], s0]) for s0 in s_starts[1:]]
        nll = lambda th: _nll(th, mean, var, nu, 0.0, 1.0)  # noqa: E731
        theta = _minimise(starts, nll)
        return theta, nll(theta)

    mean_variant, spread_variant = variants
    bics = {}
    if mean_variant is None:
        for v in DRIFT_VARIANTS:
            theta, nll = run(v, "linear")
            bics[f"nu_mean {v}"] = theta.size * np.log(x.size) + 2 * nll
        mean_variant = min(DRIFT_VARIANTS, key=lambda v: bics[f"nu_mean {v}"])
    results = {}
    for v in DRIFT_VARIANTS if spread_variant is None else (spread_variant,):
        results[v] = run(mean_variant, v)
        bics[f"nu_std {v}"] = results[v][0].size * np.log(x.size) + 2 * results[v][1]
    spread_variant = min(results, key=lambda v: bics[f"nu_std {v}"])
    theta, _ = results[spread_variant]
    km = len(_variant_params(mean_variant))

    def mean(th):
        return _clipped(mean_variant, th[:km], x)

    def var(th):
        return np.maximum(_clipped(spread_variant, th[km:], x), 0.0) ** 2 + nu_var

    cov = _covariance(theta, mean, var, np.ones(x.size))
    names = [f"nu_mean.{p}" for p in _variant_params(mean_variant)] + [
        f"nu_std.{p}" for p in _variant_params(spread_variant)]
    estimates = _estimates(names, (1.0,) * len(names), theta, cov)
    z = (nu - mean(theta)) / np.sqrt(var(theta))
    blocks = {"nu_mean": _clipped_spec(mean_variant, theta[:km], x, None),
              "nu_std": _clipped_spec(spread_variant, theta[km:], x, 0.0)}
    chosen = {"nu_mean": mean_variant, "nu_std": spread_variant,
              "bic": {k: round(v, 2) for k, v in bics.items()}}
    return blocks, estimates, chosen, z, _ks(z)
