"""A device profile fitted to a user's measured conductances (docs/devices.md, "Fitting").

``fit(measurements, base="reram")`` reads a measurement file
(:mod:`.measurements`), and fits, from what the file holds:

1. the conductance range: the targets' span [min, max], widened to where stuck cells read;
2. stuck-at cells: first reads more than 5 robust σ from their target and beyond the
   largest (on) or smallest (off) target less 5 σ, counted among the cells whose target is
   over 10 σ from that rail (where a stuck cell is seen); Clopper-Pearson 95 % intervals;
3. read noise per read, from repeated reads at one time (each group's sum of squares
   about its mean, against the cell's fitted drift curve at that time); with reads at
   several times the ``pcm_1f`` law's time factor competes with the white laws;
4. programming noise: the first reads' deviations from their targets, less the fitted
   read noise of their mean;
5. drift: per cell G0 (t / t0)^-ν fitted to its mean reads by weighted least squares, t0
   the first read; the exponents' mean and spread as clipped logs of ĝ = target / g_max,
   their estimation variance taken out.

Laws are the profiles' own forms (:data:`.fit_laws.NOISE_FAMILIES`), chosen by BIC, with
95 % Wald intervals. Every other field of the profile is the base profile's, with its
source. The result validates like any bundled profile and is written by
:meth:`FitResult.write`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from .fit_drift import fit_drift
from .fit_laws import NOISE_FAMILIES, Estimate, Groups, LawFit, fit_noise, one_over_f_factor
from .fit_verify import tolerance, writes
from .loader import as_profile
from .measurements import MeasurementError, Measurements, read_measurements
from .noise import NoiseFunction
from .profile import DeviceProfile

__all__ = ["DriftFit", "FitResult", "StuckFit", "fit"]

_OUTLIER_SIGMAS = 5.0
PROGRAMMING_FAMILIES = tuple(k for k, f in NOISE_FAMILIES.items() if not f.needs_time)
READ_FAMILIES = tuple(NOISE_FAMILIES)


@dataclass(frozen=True)
class StuckFit:
    """Stuck cells at one rail: ``count`` of ``eligible`` cells, rate and 95 % interval."""

    rail: str
    count: int
    eligible: int
    estimate: Estimate


@dataclass(frozen=True)
class DriftFit:
    """The fitted drift: the YAML block, estimates, chosen clip variants, per-cell slopes."""

    spec: dict
    estimates: tuple[Estimate, ...]
    chosen: dict
    ks_p: float
    z: np.ndarray = field(repr=False)
    nu: np.ndarray = field(repr=False)  # per-cell drift exponents ν̂
    nu_var: np.ndarray = field(repr=False)  # their estimation variance
    g_norm: np.ndarray = field(repr=False)  # per-cell target / g_max
    lines: tuple = field(repr=False)  # a few cells: (times s, mean G S, G0 S, ν̂)


@dataclass(frozen=True)
class FitResult:
    """A fitted profile and everything the fit report shows."""

    profile: DeviceProfile
    measurements: Measurements
    base: str
    programming: LawFit
    read: LawFit | None
    drift: DriftFit | None
    stuck: tuple[StuckFit, StuckFit]
    not_fitted: dict[str, str]

    def write(self, path: str | os.PathLike) -> Path:
        """Write the profile YAML atomically; ``crossbar.devices.load(path)`` reads it back."""
        from crossbar.atomic import atomic_write_text

        header = (f"# Fitted by crossbar-sim fit-device from {self.measurements.name} "
                  f"(sha256 {self.measurements.sha256}); docs/devices.md, 'Fitting'.\n")
        return atomic_write_text(path, header + self.profile.to_yaml())


def fit(measurements: str | os.PathLike | Measurements, *, base: Any = "reram",
        name: str | None = None, drift: bool | None = None,
        families: Mapping[str, Any] | None = None) -> FitResult:
    """Fit a profile to measured conductances (module docstring).

    ``base``: the profile (name, path or ``DeviceProfile``) whose converter, periphery,
    timing, levels and verify fields the result keeps. ``drift``: None fits drift when
    the file has reads at several times, True requires it, False fits none.
    ``families``: force a law, ``{"programming": "polynomial2", "read": "pcm_1f",
    "nu_mean": "lo", "nu_std": "linear"}`` (default: every candidate, by BIC).
    """
    m = measurements if isinstance(measurements, Measurements) else read_measurements(measurements)
    base_profile = as_profile(base)
    families = dict(families or {})
    reads = m.attempt == 0
    if not reads.any():
        raise MeasurementError(m.file, "column attempt", "no reads after programming (attempt 0)",
                               allowed="at least one row per cell with attempt 0")
    missing = np.setdiff1d(np.arange(m.n_cells), m.cell[reads])
    if missing.size:
        raise MeasurementError(m.file, "column cell", "a cell has no read after programming",
                               int(m.ids[missing[0]]), "every cell read at least once (attempt 0)")
    if drift and m.time is None:
        raise MeasurementError(m.file, "column time_s", "drift is asked for but the reads have no "
                               "times", allowed="a time_s column: seconds since programming")
    if not m.target.min() < m.target.max():
        raise MeasurementError(m.file, "column target_S", "every cell has the same target",
                               float(m.target[0]), "targets spanning the conductance range")
    grp = _groups(m, reads)
    first = _first_groups(grp, m.n_cells)
    stuck, stuck_cells, g_min, g_max = _stuck(m, grp, first)
    ok_cell = ~stuck_cells
    not_fitted: dict[str, str] = {}
    provenance = m.provenance()
    t_read = base_profile.t_read
    ctx = {"g_max_uS": g_max * 1e6, "t_read": t_read,
           "g_lo_uS": max(float(grp["mean"][grp["mean"] > 0].min()) * 1e6, 1e-9),
           "t_mid": float(np.median(grp["time"])) if m.time is not None else 1.0}

    def too_few(what: str, column: str):
        return lambda fam, have, need: MeasurementError(
            m.file, f"column {column}", f"too few cells for the {what} law {fam}", have,
            f">= {need} ({10} per parameter)")

    repeated = (grp["n"] >= 2) & ok_cell[grp["cell"]]
    read_fit = None
    if repeated.any():
        covariate = _curves(grp, repeated & (grp["mean"] > 0), None)["at_group"]
        repeated &= grp["mean"] > 0
        read_fit = fit_noise(
            Groups(covariate * 1e6, grp["n"][repeated] - 1.0, grp["ss"][repeated] * 1e12,
                   np.zeros(int(repeated.sum())),
                   grp["time"][repeated] if m.time is not None else None),
            _families(families, "read", READ_FAMILIES), ctx, what="read",
            on_too_few=too_few("read-noise", "cell"))
    else:
        not_fitted["read_noise"] = (f"{m.name} has one read per cell and time (no repeated reads): "
                                    "the programming law includes the noise of one read")
    read_law = _read_law(read_fit, g_max, base_profile)
    g1, n1, t1 = grp["mean"][first], grp["n"][first], grp["time"][first]
    read_var = _read_std(read_law, g1, t1) ** 2 / n1 if read_law is not None else 0 * g1
    cells = np.flatnonzero(ok_cell)
    resid = (g1 - m.target)[cells] * 1e6
    # cells stuck at a rail but near enough their target to pass as noise: a mixture term
    weight = stuck[0].estimate.value + stuck[1].estimate.value
    spread = np.sqrt(read_var[cells] + (1e-3 * g_max) ** 2) * 1e6
    other = sum(s.estimate.value * stats.norm.pdf((g1[cells] - rail) * 1e6, scale=spread)
                for s, rail in zip(stuck, (g_max, g_min), strict=True))
    prog_groups = Groups(m.target[cells] * 1e6, np.ones(cells.size), resid**2,
                         read_var[cells] * 1e12, resid=resid,
                         other=other if weight > 0 else None, other_weight=weight)
    w = writes(m, ok_cell, g_max - g_min)
    if w is not None:  # every write is an untruncated draw of the law (fit_verify.py)
        r_w = (w.value - m.target[w.cell]) * 1e6
        var_w = _read_std(read_law, w.value, np.full(w.value.size, t1.min())) ** 2 \
            if read_law is not None else 0 * r_w
        prog_groups = Groups(m.target[w.cell] * 1e6, np.ones(r_w.size), r_w**2, var_w * 1e12,
                             resid=r_w)
    elif base_profile.verify is not None:
        not_fitted["verify"] = f"{m.name} has no reads after each write (attempt column)"
    prog_fit = fit_noise(prog_groups, _families(families, "programming", PROGRAMMING_FAMILIES),
                         ctx, what="programming", on_too_few=too_few("programming-noise", "target_S"))
    drift_fit = None
    if drift is False:
        not_fitted["drift"] = "drift=False"
    elif m.time is None or np.unique(m.time[reads]).size < 2:
        if drift:
            raise MeasurementError(m.file, "column time_s", "drift is asked for but every read is "
                                   "at one time", allowed="reads at two or more times")
        not_fitted["drift"] = f"{m.name} has reads at one time only"
    else:
        drift_fit = _fit_drift(m, grp, ok_cell, read_law, g_max, families, bool(drift))
        if drift_fit is None:
            not_fitted["drift"] = "fewer than 20 cells read at two or more times"
    data = base_profile.to_dict()
    sources = data["sources"]
    fitted = {
        "g_min_S": (g_min, f"{provenance}: the smallest target, or the conductance stuck-off "
                           "cells read if lower"),
        "g_max_S": (g_max, f"{provenance}: the largest target, or the conductance stuck-on "
                           "cells read if higher"),
        "programming_noise": (prog_fit.spec, _law_source(provenance, prog_fit, "programming")),
        "read_noise": (None if read_fit is None else read_fit.spec,
                       _law_source(provenance, read_fit, "read") if read_fit is not None else
                       f"ASSUMPTION: none (not measured: {not_fitted.get('read_noise')})"),
        "stuck_on_rate": (stuck[0].estimate.value, _stuck_source(provenance, stuck[0])),
        "stuck_off_rate": (stuck[1].estimate.value, _stuck_source(provenance, stuck[1])),
    }
    if drift_fit is None:
        fitted["drift"] = (None, f"ASSUMPTION: none (not measured: {not_fitted.get('drift')})")
    else:
        fitted["drift"] = (drift_fit.spec, None)
    for key, (value, source) in fitted.items():
        data[key] = value
        for skey in [s for s in sources if s == key or s.startswith(key + ".")]:
            del sources[skey]
        if source is not None:
            sources[key] = source
    if drift_fit is not None:
        sources.update(_drift_sources(provenance, drift_fit))
    if w is not None and base_profile.verify is None:
        not_fitted["verify"] = (f"the {base_profile.name} profile has no verify block to take the "
                                "pulse time and energy from")
    elif w is not None:
        prog_law = NoiseFunction.from_spec(prog_fit.spec, g_max=g_max)
        sigma_r = np.sqrt(var_w) if read_law is not None else 0 * w.value
        tol = tolerance(w, w.value - m.target[w.cell], prog_law.std(m.target[w.cell]), sigma_r,
                        g_max - g_min)
        data["verify"] = {**data["verify"], "tolerance": min(tol, 1.0),
                          "max_iterations": w.max_iterations}
        sources.pop("verify", None)
        sources.update({"verify.pulse_time_s": base_profile.sources.get(
            "verify.pulse_time", base_profile.sources.get("verify", "")),
            "verify.pulse_energy_J": base_profile.sources.get(
                "verify.pulse_energy", base_profile.sources.get("verify", "")),
            **w.source(provenance)})
    data["name"] = name or f"fitted-{Path(m.name).stem}"
    data["description"] = (f"Fitted to {m.name} ({m.n_cells} cells) by crossbar-sim fit-device; "
                           f"other fields from the {base_profile.name} profile.")
    profile = DeviceProfile.from_dict(data, file=f"<fit of {m.name}>")
    return FitResult(profile, m, base_profile.name, prog_fit, read_fit, drift_fit, stuck,
                     not_fitted)


def _families(families: Mapping, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    chosen = families.get(key)
    if chosen is None:
        return default
    chosen = (chosen,) if isinstance(chosen, str) else tuple(chosen)
    for c in chosen:
        if c not in default:
            raise MeasurementError("<fit>", f"families.{key}", "unknown law", c, ", ".join(default))
    return chosen


def _read_law(fit_: LawFit | None, g_max: float, base: DeviceProfile) -> NoiseFunction | None:
    if fit_ is None:
        return None
    return NoiseFunction.from_spec(fit_.spec, g_max=g_max, key="read_noise",
                                   time=base.time_since_programming)


def _read_std(law: NoiseFunction, g: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The law's std (S) of one read of each g at its own time t (s)."""
    if law.spectrum == "white":
        return law.std(g)
    t_ref = law.time
    factor = one_over_f_factor(t, law.params["t_read_s"])
    return law.std(g, t_ref) / one_over_f_factor(np.array(t_ref), law.params["t_read_s"]) * factor


def _groups(m: Measurements, reads: np.ndarray) -> dict[str, np.ndarray]:
    """Reads grouped by (cell, time): count, mean, sum of squares, time (s; 0 without times)."""
    cell = m.cell[reads]
    g = m.conductance[reads]
    t = m.time[reads] if m.time is not None else np.zeros(g.size)
    times, t_index = np.unique(t, return_inverse=True)
    key = cell * times.size + t_index
    keys, inverse = np.unique(key, return_inverse=True)
    n = np.bincount(inverse).astype(np.float64)
    mean = np.bincount(inverse, g) / n
    ss = np.bincount(inverse, (g - mean[inverse]) ** 2)
    return {"cell": keys // times.size, "time": times[keys % times.size], "n": n, "mean": mean,
            "ss": ss}


def _first_groups(grp: dict, n_cells: int) -> np.ndarray:
    """Index of each cell's earliest group (groups are sorted by cell, then time)."""
    return np.searchsorted(grp["cell"], np.arange(n_cells))


def _stuck(m: Measurements, grp: dict, first: np.ndarray):
    """Stuck-at cells, rates and the range they widen: ((on, off), stuck mask, g_min, g_max)."""
    g1 = grp["mean"][first]
    resid = g1 - m.target
    lo_t, hi_t = float(m.target.min()), float(m.target.max())
    edges = np.unique(np.quantile(m.target, np.linspace(0, 1, 11)))
    which = np.clip(np.searchsorted(edges, m.target, side="right") - 1, 0, max(edges.size - 2, 0))
    scale = np.zeros(m.n_cells)
    for b in np.unique(which):
        r = resid[which == b]
        scale[which == b] = 1.4826 * np.median(np.abs(r - np.median(r)))
    limit = _OUTLIER_SIGMAS * np.maximum(scale, 1e-9 * hi_t)
    outlier = np.abs(resid) > limit
    on = outlier & (resid > 0) & (g1 >= hi_t - limit)
    off = outlier & (resid < 0) & (g1 <= lo_t + limit)
    g_max = max(hi_t, float(np.median(g1[on]))) if on.any() else hi_t
    g_min = min(lo_t, float(np.median(g1[off]))) if off.any() else lo_t
    out = []
    for rail, value, at_rail in (("on", g_max, on), ("off", g_min, off)):
        eligible = np.abs(m.target - value) > 2 * limit
        k, n = int((at_rail & eligible).sum()), int(eligible.sum())
        lo = float(stats.beta.ppf(0.025, k, n - k + 1)) if k > 0 else 0.0
        hi = float(stats.beta.ppf(0.975, k + 1, n - k)) if k < n else 1.0
        out.append(StuckFit(rail, k, n, Estimate(f"stuck_{rail}_rate", k / max(n, 1), lo, hi)))
    return tuple(out), on | off, g_min, g_max


def _curves(grp: dict, use: np.ndarray, read_law: NoiseFunction | None) -> dict:
    """Per cell, G0 exp(-ν ln(t / t0)) fitted to its group means by weighted least squares
    (Gauss-Newton on the conductance scale: a log would bias ν where the read noise is
    large), weights n / σ_r² from the law at the fitted curve (not the noisy means), or
    equal relative weights without a law. Also the curve at each group: the read-noise
    fit's covariate (a group's own mean would carry its read noise into the law's slope)."""
    t0 = float(grp["time"].min())
    cell, n, mean, t = grp["cell"][use], grp["n"][use], grp["mean"][use], grp["time"][use]
    x = np.log(t / t0) if t0 > 0 else np.zeros(t.size)
    cells, inverse, counts = np.unique(cell, return_inverse=True, return_counts=True)
    g0 = np.bincount(inverse, mean * n) / np.bincount(inverse, n)
    nu = np.zeros(cells.size)
    for _ in range(8 if np.any(x > 0) else 0):
        decay = np.exp(-nu[inverse] * x)
        fitted = g0[inverse] * decay
        w = n / (_read_std(read_law, fitted, t) ** 2 if read_law is not None else fitted**2)
        j0, j1, r = decay, -g0[inverse] * x * decay, mean - fitted
        a00, a01, a11 = (np.bincount(inverse, w * u * v) for u, v in ((j0, j0), (j0, j1), (j1, j1)))
        b0, b1 = np.bincount(inverse, w * j0 * r), np.bincount(inverse, w * j1 * r)
        det = a00 * a11 - a01**2
        ok = det > 0
        safe = np.where(ok, det, 1.0)
        g0 = g0 + np.where(ok, (a11 * b0 - a01 * b1) / safe, 0.0)
        nu = nu + np.where(ok, (a00 * b1 - a01 * b0) / safe, 0.0)
    if not np.any(x > 0):
        ok, safe, a00 = np.zeros(cells.size, dtype=bool), np.ones(cells.size), np.zeros(cells.size)
    good = (counts >= 2) & ok & (g0 > 0)
    at_group = np.where(good[inverse], g0[inverse] * np.exp(-nu[inverse] * x), mean)
    return {"t0": t0, "cells": cells, "good": good, "g0": g0, "nu": nu,
            "nu_var": a00 / safe, "at_group": at_group, "cell": cell, "t": t, "mean": mean}


def _fit_drift(m, grp, ok_cell, read_law, g_max, families, required) -> DriftFit | None:
    """The per-cell drift exponents (``_curves``) and their distribution (step 5)."""
    c = _curves(grp, ok_cell[grp["cell"]] & (grp["mean"] > 0), read_law)
    good, g0, nu, t0, cells = c["good"], c["g0"], c["nu"], c["t0"], c["cells"]
    cell, t, mean = c["cell"], c["t"], c["mean"]
    if good.sum() < 20:
        if required:
            raise MeasurementError(m.file, "column time_s", "too few cells for the drift law: "
                                   "cells read at two or more times", int(good.sum()), ">= 20")
        return None
    # the variance of ν̂ (inverse information); without a read law the spread includes it
    nu_var = c["nu_var"][good] if read_law is not None else np.zeros(int(good.sum()))
    nu, g0 = nu[good], g0[good]
    # ĝ from the cell's target: Ĝ0 would share the errors of ν̂ (one fit) and flatten the law;
    # the programmed conductance scatters about the target independently (a Berkson error)
    g_norm = m.target[cells[good]] / g_max
    variants = (families.get("nu_mean"), families.get("nu_std"))
    blocks, estimates, chosen, z, ks_p = fit_drift(nu, nu_var, g_norm, variants)
    spec = {"t0_s": t0, **blocks}
    lines = []
    for c in cells[good][:: max(1, int(good.sum()) // 6)][:6]:
        sel = cell == c
        i = int(np.flatnonzero(cells[good] == c)[0])
        lines.append((t[sel], mean[sel], float(g0[i]), float(nu[i])))
    return DriftFit(spec, estimates, chosen, ks_p, z, nu, nu_var, g_norm, tuple(lines))


def _fmt(e: Estimate) -> str:
    return f"{e.name} = {e.value:.4g} (95 % CI {e.lo:.4g} to {e.hi:.4g})"


def _law_source(provenance: str, f: LawFit, what: str) -> str:
    others = ", ".join(k for k in f.candidates if k != f.family) or "none"
    return (f"{provenance}: {what} noise, law {f.family} chosen by BIC (also tried: {others}); "
            + "; ".join(_fmt(e) for e in f.estimates) + f"; KS p = {f.ks_p:.3g} over {f.n} "
            + ("cells" if what == "programming" else "groups of repeated reads"))


def _stuck_source(provenance: str, s: StuckFit) -> str:
    return (f"{provenance}: {s.count} of {s.eligible} cells far from g_{'max' if s.rail == 'on' else 'min'}"
            f" read at it; Clopper-Pearson 95 % CI {s.estimate.lo:.3g} to {s.estimate.hi:.3g}")


def _drift_sources(provenance: str, d: DriftFit) -> dict[str, str]:
    out = {"drift.t0_s": f"{provenance}: the first read after programming"}
    for moment in ("nu_mean", "nu_std"):
        est = [e for e in d.estimates if e.name.startswith(moment)]
        out[f"drift.{moment}"] = (f"{provenance}: {len(d.nu)} cells' drift exponents, clip "
                                  f"variant {d.chosen[moment]} chosen by BIC; "
                                  + "; ".join(_fmt(e) for e in est) + f"; KS p = {d.ks_p:.3g}")
    return out
