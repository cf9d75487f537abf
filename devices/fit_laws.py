"""Maximum-likelihood fits of the profiles' noise and drift laws, with Wald intervals.

Every fit here is one model: independent Gaussian groups, group i with ``dof_i``
degrees of freedom, a sum of squares ``ss_i`` about its own mean, and optionally
one observation ``y_i`` of a modelled mean ``m_i(θ)``; the variance is
``v_i(θ)``. The negative log-likelihood is

    Σ dof_i/2 · ln v_i + (ss_i + (y_i − m_i)²) / (2 v_i)

(programming residuals: dof 1, ss = r²; repeated reads: dof n − 1, ss = their sum
of squares; drift exponents: dof 1, y = ν̂). Intervals are 95 % Wald intervals
from the expected information Σ J_mᵀJ_m / v + dof/2 · J_vᵀJ_v / v² (Jacobians by
central differences). Conductances are in µS inside the fits; :class:`Estimate`
reports each parameter in the unit of its YAML key.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, stats

__all__ = ["NOISE_FAMILIES", "Estimate", "Groups", "LawFit", "fit_noise", "one_over_f_factor"]

Z95 = float(stats.norm.ppf(0.975))
_PCM_FLOOR = 1e-3  # AIHWKit's floor of ĝ^p in pcm_1f (devices/noise.py)
MIN_GROUPS_PER_PARAMETER = 10


@dataclass(frozen=True)
class Estimate:
    """One fitted parameter in the unit of its YAML key, with its 95 % interval."""

    name: str
    value: float
    lo: float
    hi: float

    def covers(self, truth: float) -> bool:
        return self.lo <= truth <= self.hi


@dataclass(frozen=True)
class Groups:
    """Independent Gaussian groups (module docstring): covariates g (µS), t (s) and data."""

    g: np.ndarray
    dof: np.ndarray
    ss: np.ndarray
    extra_var: np.ndarray  # known variance added to the law's (µS²)
    t: np.ndarray | None = None
    resid: np.ndarray | None = None  # signed residuals of dof-1 groups (ss = resid²), for QQ plots
    # a mixture for dof-1 groups: the law with weight 1 - sum(weights), else these densities
    # (the stuck-at cells no test can tell from the law's tail: read at a rail, near their target)
    other: np.ndarray | None = None
    other_weight: float = 0.0

    def __len__(self) -> int:
        return int(self.g.size)


@dataclass(frozen=True)
class LawFit:
    """The chosen law: its YAML form, parameters, likelihood and goodness of fit."""

    family: str
    spec: dict
    estimates: tuple[Estimate, ...]
    nll: float
    bic: float
    n: int
    ks_p: float
    z: np.ndarray = field(repr=False)  # standardised residuals (N(0, 1) when the law holds)
    x: np.ndarray = field(repr=False)  # the covariate of each residual
    candidates: dict = field(default_factory=dict)  # family -> BIC of each law tried


# --------------------------------------------------------------------------- the engine
def _nll(theta, mean, var, y, ss, dof) -> float:
    v = var(theta)
    if not np.all(np.isfinite(v)) or np.any(v <= 0):
        return np.inf
    r2 = ss if mean is None else ss + (y - mean(theta)) ** 2
    return float(np.sum(0.5 * dof * np.log(v) + r2 / (2.0 * v)))


def _mixture_nll(theta, var, groups: Groups) -> float:
    """-ln L of dof-1 groups under (1 - w) N(0, v) + w · other."""
    v = var(theta)
    if not np.all(np.isfinite(v)) or np.any(v <= 0):
        return np.inf
    law = np.exp(-groups.ss / (2 * v)) / np.sqrt(2 * np.pi * v)
    return float(-np.sum(np.log((1 - groups.other_weight) * law + groups.other + 1e-300)))


def _minimise(starts: Sequence[np.ndarray], nll: Callable[[np.ndarray], float]) -> np.ndarray:
    """The best optimum over the starts: BFGS on parameters scaled to order one, then a short
    Nelder-Mead polish (the clipped drift laws have kinks where gradients mislead)."""
    best, best_f = None, np.inf
    for start in starts:
        scale = np.where(np.abs(start) > 1e-12, np.abs(start), 1e-3)
        f = lambda u, s=scale: nll(u * s)  # noqa: E731
        u = np.where(start == 0, 0.0, np.sign(start))
        with np.errstate(all="ignore"):
            if not np.isfinite(f(u)):
                continue
            res = optimize.minimize(f, u, method="BFGS", options={"gtol": 1e-7, "maxiter": 400})
            if not np.isfinite(res.fun) or res.fun > f(u):
                res = optimize.minimize(f, u, method="Nelder-Mead")
            res = optimize.minimize(f, res.x, method="Nelder-Mead",
                                    options={"xatol": 1e-7, "fatol": 1e-9, "maxfev": 800 * u.size,
                                             "adaptive": True})
        if res.fun < best_f:
            best, best_f = res.x * scale, res.fun
    if best is None:
        raise ValueError("no starting point gives a finite likelihood")
    return best


def _jacobian(fn: Callable[[np.ndarray], np.ndarray], theta: np.ndarray) -> np.ndarray:
    cols = []
    for j in range(theta.size):
        h = 1e-6 * max(abs(theta[j]), 1e-4)
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        cols.append((fn(up) - fn(down)) / (2 * h))
    return np.stack(cols, axis=1)


def _covariance(theta, mean, var, dof) -> np.ndarray:
    v = var(theta)
    jv = _jacobian(var, theta)
    info = (jv * (dof / (2 * v**2))[:, None]).T @ jv
    if mean is not None:
        jm = _jacobian(mean, theta)
        info = info + (jm / v[:, None]).T @ jm
    try:
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return np.full(info.shape, np.inf)
    return cov if np.all(np.isfinite(np.diag(cov))) and np.all(np.diag(cov) >= 0) else \
        np.full(info.shape, np.inf)


def _ks(z: np.ndarray) -> float:
    return float(stats.kstest(z, "norm").pvalue) if z.size >= 2 else float("nan")


# --------------------------------------------------------------------------- noise laws
def one_over_f_factor(t: np.ndarray, t_read: float) -> np.ndarray:
    """sqrt(ln((t + t_read) / (2 t_read))), the time factor of ``pcm_1f`` (devices/noise.py)."""
    return np.sqrt(np.log((t + t_read) / (2 * t_read)))


@dataclass(frozen=True)
class _Family:
    """A noise form of devices/noise.py as a function of fitted parameters (µS units)."""

    name: str
    params: tuple[str, ...]
    units: tuple[float, ...]  # YAML value = fitted value x unit
    sigma: Callable  # (theta, g_uS, t, ctx) -> sigma in µS
    spec: Callable  # (theta, ctx) -> YAML form
    start: Callable  # (g_uS, sd_uS, ctx) -> theta0
    needs_time: bool = False


def _poly(k: int) -> _Family:
    def sigma(th, g, t, ctx):
        return np.polynomial.polynomial.polyval(g, th)

    def start(g, sd, ctx):
        return np.polynomial.polynomial.polyfit(g, sd, k)

    return _Family(f"polynomial{k}", tuple(f"coefficients_uS[{i}]" for i in range(k + 1)),
                   (1.0,) * (k + 1), sigma,
                   lambda th, ctx: {"form": "polynomial", "variable": "G_uS",
                                    "coefficients_uS": [float(c) for c in th]}, start)


def _pcm_sigma(th, g, t, ctx):
    ghat = np.maximum((np.abs(g) / ctx["g_max_uS"]) ** th[1], _PCM_FLOOR)
    return g * (th[0] / ghat) * one_over_f_factor(t, ctx["t_read"])


def _pcm_start(g, sd, ctx):
    ok = (g > 0) & (sd > 0)
    x = np.log(g[ok] / ctx["g_max_uS"])
    slope, intercept = np.polyfit(x, np.log(sd[ok] / g[ok] / ctx["factor"]), 1)
    return np.array([np.exp(intercept), max(-slope, 0.05)])


def _pcm_spec(th, ctx):
    # the cap is set where it does not bind over the measured range: c / ĝ_min^p
    cap = float(th[0] / max((ctx["g_lo_uS"] / ctx["g_max_uS"]) ** th[1], _PCM_FLOOR))
    return {"form": "pcm_1f", "c": float(th[0]), "p": float(th[1]), "cap": cap,
            "t_read_s": ctx["t_read"]}


#: The noise forms fitted, by name (polynomialK: degree K in G in µS).
NOISE_FAMILIES: dict[str, _Family] = {f.name: f for f in (
    _Family("constant", ("sigma_S",), (1e-6,), lambda th, g, t, c: np.full(g.shape, th[0]),
            lambda th, c: {"form": "constant", "sigma_S": float(th[0]) * 1e-6},
            lambda g, sd, c: np.array([np.median(sd)])),
    _Family("relative", ("fraction",), (1.0,), lambda th, g, t, c: th[0] * np.abs(g),
            lambda th, c: {"form": "relative", "fraction": float(th[0])},
            lambda g, sd, c: np.array([np.median(sd / np.maximum(g, 1e-12))])),
    _poly(1), _poly(2), _poly(3),
    _Family("saturating_exponential", ("a_S", "b_S"), (1e-6, 1e-6),
            lambda th, g, t, c: -th[0] * np.expm1(-np.maximum(g, 0) / th[1]),
            lambda th, c: {"form": "saturating_exponential", "a_S": float(th[0]) * 1e-6,
                           "b_S": float(th[1]) * 1e-6},
            lambda g, sd, c: np.array([np.max(sd), np.median(g)])),
    _Family("pcm_1f", ("c", "p"), (1.0, 1.0), _pcm_sigma, _pcm_spec, _pcm_start, needs_time=True),
)}


def _binned_sd(groups: Groups, bins: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Pooled standard deviation (µS) per quantile bin of g: the starting points' data."""
    edges = np.unique(np.quantile(groups.g, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, groups.g, side="right") - 1, 0, max(edges.size - 2, 0))
    g, sd = [], []
    for b in np.unique(which):
        m = which == b
        var = (groups.ss[m].sum() / groups.dof[m].sum()) - groups.extra_var[m].mean()
        g.append(groups.g[m].mean())
        sd.append(np.sqrt(max(var, 1e-12)))
    return np.array(g), np.array(sd)


def _noise_fit(groups: Groups, fam: _Family, ctx: dict) -> tuple[np.ndarray, float]:
    t = groups.t if groups.t is not None else np.zeros(groups.g.shape)

    def var(th):
        s = fam.sigma(th, groups.g, t, ctx)
        return np.where(s >= 0, s * s + groups.extra_var, -1.0)

    g_bin, sd_bin = _binned_sd(groups)
    if groups.t is not None:
        ctx = {**ctx, "factor": float(np.mean(one_over_f_factor(t, ctx["t_read"])))}
    th0 = np.asarray(fam.start(g_bin, sd_bin, ctx), dtype=np.float64)
    t_mid = np.full(g_bin.shape, ctx.get("t_mid", 1.0))
    with np.errstate(all="ignore"):  # trial parameters may overflow: they get an infinite cost
        try:
            res = optimize.least_squares(lambda th: fam.sigma(th, g_bin, t_mid, ctx) - sd_bin, th0)
            starts = [res.x, th0] if np.all(np.isfinite(res.x)) else [th0]
        except ValueError:
            starts = [th0]
        if groups.other is None:
            nll = lambda th: _nll(th, None, var, None, groups.ss, groups.dof)  # noqa: E731
        else:
            nll = lambda th: _mixture_nll(th, var, groups)  # noqa: E731
        theta = _minimise(starts, nll)
        return theta, nll(theta)


def fit_noise(groups: Groups, families: Sequence[str], ctx: dict, *, what: str,
              on_too_few: Callable[[str, int, int], Exception]) -> LawFit:
    """The family of ``families`` with the lowest BIC, its parameters and their intervals.

    ``ctx``: ``g_max_uS``, ``g_lo_uS`` (smallest measured conductance), ``t_read`` (s),
    ``t_mid`` (a typical read time, s). A family with fewer than 10 groups per parameter
    is skipped; ``on_too_few(family, have, need)`` is raised when none is left.
    """
    n = len(groups)
    tried: dict[str, tuple] = {}
    for name in families:
        fam = NOISE_FAMILIES[name]
        if fam.needs_time and groups.t is None:
            continue
        need = MIN_GROUPS_PER_PARAMETER * len(fam.params)
        if n < need:
            if len(families) == 1:
                raise on_too_few(name, n, need)
            continue
        try:
            theta, nll = _noise_fit(groups, fam, ctx)
        except ValueError:
            continue
        tried[name] = (theta, nll, len(theta) * np.log(n) + 2 * nll)
    if not tried:
        raise on_too_few(" | ".join(families), n, MIN_GROUPS_PER_PARAMETER)
    name = min(tried, key=lambda k: tried[k][2])
    theta, nll, bic = tried[name]
    fam = NOISE_FAMILIES[name]
    t = groups.t if groups.t is not None else np.zeros(groups.g.shape)

    def var(th):
        s = fam.sigma(th, groups.g, t, ctx)
        return s * s + groups.extra_var

    cov = _covariance(theta, None, var, groups.dof)
    v = var(theta)
    if groups.resid is not None:
        z = groups.resid / np.sqrt(v)
    else:  # group i's ss / v is chi-squared with dof_i degrees: its quantile as a standard normal
        z = stats.norm.ppf(np.clip(stats.chi2.cdf(groups.ss / v, groups.dof), 1e-300, 1 - 1e-16))
    estimates = _estimates(fam.params, fam.units, theta, cov)
    return LawFit(name, fam.spec(theta, ctx), estimates, nll, bic, n, _ks(z), z, groups.g,
                  {k: round(val[2], 2) for k, val in tried.items()})


def _estimates(names, units, theta, cov) -> tuple[Estimate, ...]:
    se = np.sqrt(np.diag(cov))
    return tuple(Estimate(n, float(th * u), float((th - Z95 * s) * u), float((th + Z95 * s) * u))
                 for n, u, th, s in zip(names, units, theta, se, strict=True))
