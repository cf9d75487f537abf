"""The report of a device fit (``crossbar.devices.fit``): Markdown and one PNG.

The page lists each fitted law with its parameters, their 95 % intervals, the
laws it was chosen over (BIC) and a Kolmogorov-Smirnov test of its standardised
residuals against N(0, 1); the stuck-at rates with Clopper-Pearson intervals; and
what was not fitted and why. The figure has QQ plots, residuals against
conductance, and the drift exponents and a few cells' drift lines.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy import stats

from crossbar.atomic import atomic_write_text

from .figures import _plt, _save

__all__ = ["fit_markdown", "plot_fit", "write_fit_report"]

_KS_NOTE = ("KS p: Kolmogorov-Smirnov test of the standardised residuals against N(0, 1); "
            "a small p (< 0.01) says the law does not describe the data. The parameters are "
            "estimated from the same data, so p is conservative (too large).")


def write_fit_report(result, path: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``path`` (Markdown) and the PNG beside it (same stem, ``.png``)."""
    path = Path(path)
    png = plot_fit(result, path.with_suffix(".png"))
    atomic_write_text(path, fit_markdown(result, png.name))
    return path, png


def _estimates(rows) -> str:
    return "<br>".join(f"{e.name} = {e.value:.4g} [{e.lo:.4g}, {e.hi:.4g}]" for e in rows)


def fit_markdown(result, figure: str | None = None) -> str:
    """The report page of a ``FitResult``."""
    m, p = result.measurements, result.profile
    lines = [f"# Device fit: {p.name}", "",
             f"Measurements: `{m.name}`, {m.n_cells} cells, {m.conductance.size} reads, "
             f"sha256 `{m.sha256}`. Fields not fitted are the `{result.base}` profile's, with its "
             f"sources (`crossbar-sim devices PROFILE.yaml` lists them).", "",
             f"Conductance range: g_min = {p.g_min:.4g} S, g_max = {p.g_max:.4g} S.", "",
             "| law | form | parameters [95 % CI] | n | KS p | BIC of the laws tried |",
             "| --- | --- | --- | --- | --- | --- |"]
    for label, f in (("programming noise", result.programming), ("read noise", result.read)):
        if f is None:
            continue
        tried = ", ".join(f"{k} {v:.1f}" for k, v in sorted(f.candidates.items(), key=lambda kv: kv[1]))
        lines.append(f"| {label} | {f.family} | {_estimates(f.estimates)} | {f.n} | {f.ks_p:.3g} | "
                     f"{tried} |")
    d = result.drift
    if d is not None:
        tried = ", ".join(f"{k} {v:.1f}" for k, v in d.chosen["bic"].items())
        lines.append(f"| drift exponent (t0 = {d.spec['t0_s']:.4g} s) | nu_mean {d.chosen['nu_mean']}, "
                     f"nu_std {d.chosen['nu_std']} | {_estimates(d.estimates)} | {d.nu.size} | "
                     f"{d.ks_p:.3g} | {tried} |")
    lines += ["", _KS_NOTE, "", "| stuck at | cells | of eligible | rate [Clopper-Pearson 95 %] |",
              "| --- | --- | --- | --- |"]
    for s in result.stuck:
        e = s.estimate
        lines.append(f"| {'g_max (on)' if s.rail == 'on' else 'g_min (off)'} | {s.count} | "
                     f"{s.eligible} | {e.value:.3g} [{e.lo:.3g}, {e.hi:.3g}] |")
    lines += ["", "Eligible: cells whose target is far enough from the rail (10 robust σ) that a "
              "stuck cell there is told apart from programming noise.", ""]
    if p.verify is not None and p.sources.get("verify.tolerance", "").startswith("fitted"):
        lines += [f"Program-and-verify: tolerance {p.verify.tolerance:.4g} of g_max − g_min, at most "
                  f"{p.verify.max_iterations} writes ({p.sources['verify.tolerance']}).", ""]
    if result.not_fitted:
        lines += ["## Not fitted", ""] + [f"- `{k}`: {v}" for k, v in result.not_fitted.items()] + [""]
    if figure:
        lines += ["## Figures", "", f"![QQ plots, residuals, drift]({figure})", "",
                  "Top: QQ plots of the standardised residuals (programming: deviation from the "
                  "target over the law's σ; read: each group of repeated reads' sum of squares as "
                  "a normal quantile; drift: each cell's exponent about the fitted mean). Bottom: "
                  "the same residuals against conductance, and the drift exponents against ĝ with "
                  "the fitted mean ± σ, or a few cells' conductance against time.", ""]
    return "\n".join(lines)


def plot_fit(result, path: str | os.PathLike) -> Path:
    """QQ plots (top), residuals against conductance and drift (bottom), one PNG."""
    plt = _plt()
    laws = [(name, f) for name, f in (("programming", result.programming), ("read", result.read))
            if f is not None]
    d = result.drift
    cols = len(laws) + (1 if d is not None else 0) + (1 if d is not None else 0)
    fig, axes = plt.subplots(2, max(cols, 1), figsize=(4.2 * max(cols, 1), 7.2), squeeze=False)
    panels = [(name, f.z, f.x, "conductance (µS)") for name, f in laws]
    if d is not None:
        panels.append(("drift exponent", d.z, d.g_norm, "ĝ = target / g_max"))
    for i, (name, z, x, xlabel) in enumerate(panels):
        ax = axes[0][i]
        q = stats.norm.ppf((np.arange(z.size) + 0.5) / z.size)
        ax.plot(q, np.sort(z), ".", ms=2)
        ax.plot(q, q, "k-", lw=0.8)
        ax.set(title=f"{name}: QQ", xlabel="N(0, 1) quantile", ylabel="standardised residual")
        ax = axes[1][i]
        ax.plot(x, z, ".", ms=2, alpha=0.5)
        ax.axhline(0, color="k", lw=0.8)
        ax.set(title=f"{name}: residuals", xlabel=xlabel, ylabel="standardised residual")
    if d is not None:
        ax = axes[0][len(panels)]
        order = np.argsort(d.g_norm)
        ax.plot(d.g_norm, d.nu, ".", ms=2, alpha=0.5, label="cells")
        from crossbar.devices import Drift

        law = Drift.from_spec(d.spec, g_max=1.0)
        g = d.g_norm[order]
        mu, sd = law.nu_mean(g), law.nu_std(g)
        ax.plot(g, mu, "k-", label="fitted mean")
        ax.fill_between(g, mu - sd, mu + sd, color="k", alpha=0.15, label="± σ")
        ax.set(xscale="log", title="drift exponent ν", xlabel="ĝ", ylabel="ν")
        ax.legend(fontsize=7)
        ax = axes[1][len(panels)]
        for t, g_t, g0, nu in d.lines:
            line = ax.plot(t, g_t * 1e6, "o", ms=3)[0]
            tt = np.geomspace(t.min(), t.max(), 30)
            ax.plot(tt, g0 * 1e6 * (tt / d.spec["t0_s"]) ** -nu, "-", color=line.get_color(), lw=0.8)
        ax.set(xscale="log", yscale="log", title="drift lines (a few cells)",
               xlabel="time since programming (s)", ylabel="G (µS)")
    fig.tight_layout()
    return _save(fig, Path(path))
