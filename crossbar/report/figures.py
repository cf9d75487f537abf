"""Figures of noise budgets and of the demo (matplotlib, Agg backend).

Every accuracy is drawn with its confidence interval as an error bar, as an
error rate (1 - accuracy) on a log axis, so that 2 % and 50 % errors are both
visible and nothing is cut off; the noiseless point s = 0 has its own place
left of the log-spaced noise axis; vote counts get integer ticks; legends sit
outside the axes. Each function takes results by label (duck-typed
``crossbar.experiments.BudgetResult``) and writes one PNG atomically.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from crossbar.atomic import atomic_write
from crossbar.cost import VOTING_MODES, voting_cost

from .text import pct, range_text

__all__ = ["budget_figures", "plot_accuracy_vs_noise", "plot_aging", "plot_latency", "plot_pareto"]

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
_MODE_STYLE = {"sequential": ("#d62728", "-"), "pipelined": ("#1f77b4", "-"), "parallel": ("#2ca02c", "-")}
_ERROR_AXIS = "test error rate, 1 − accuracy (%, log)"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    """Write the figure atomically (legends outside the axes included) and close it."""
    atomic_write(path, lambda fh: fig.savefig(fh, format=path.suffix.lstrip("."), dpi=110,
                                              bbox_inches="tight"))
    _plt().close(fig)
    return path


def _panels(n: int, width: float = 4.8, height: float = 3.8):
    plt = _plt()
    fig, axes = plt.subplots(1, n, figsize=(width * n + 0.4, height), squeeze=False)
    return fig, list(axes[0])


def _floor(n: int) -> float:
    """Where an error rate of 0 is drawn on the log axis: half an input, in %."""
    return 100 * 0.5 / max(n, 1)


def _err(acc: float, n: int) -> float:
    return max(100 * (1 - acc), _floor(n))


def _errbar(ax, x, entries, n: int, **kw) -> None:
    """Error rates with their intervals: entries hold accuracy mean, lo and hi."""
    ys = [_err(e["accuracy"], n) for e in entries]
    lower = [y - _err(e["hi"], n) for y, e in zip(ys, entries, strict=True)]
    upper = [_err(e["lo"], n) - y for y, e in zip(ys, entries, strict=True)]
    ax.errorbar(x, ys, yerr=[lower, upper], capsize=2.5, ms=4, **kw)


def _error_axis(ax, n: int, top: float = 100.0) -> None:
    ax.set_yscale("log")
    ax.set_ylim(_floor(n) / 1.5, top * 1.25)
    ax.set_ylabel(_ERROR_AXIS)
    ax.grid(True, which="both", alpha=0.3)


def _legend_below(fig, axes, ncol: int = 3) -> None:
    """One legend under the panels (labels gathered from every panel, each once)."""
    handles, labels = {}, []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in handles:
                handles[lab] = h
                labels.append(lab)
    fig.legend([handles[lab] for lab in labels], labels, loc="upper center", fontsize=7.5, ncol=ncol,
               bbox_to_anchor=(0.5, 0.0), frameon=False)


def _entries(r, k: int, positive: bool = True) -> list[dict]:
    return sorted((e for e in r.evaluations if e["k"] == k and (e["s"] > 0) == positive),
                  key=lambda e: e["s"])


def plot_accuracy_vs_noise(results: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Error rate vs noise scale for every K, with intervals; s = 0 (no read noise) on its own."""
    fig, axes = _panels(len(results))
    for ax, (label, r) in zip(axes, results.items(), strict=True):
        n = r.data["n_test"]
        pos = [e["s"] for e in r.evaluations if e["s"] > 0]
        u_lo = math.floor(math.log2(min(pos))) if pos else 0
        u_hi = math.ceil(math.log2(max(pos))) if pos else 1
        u0 = u_lo - 1.5  # where s = 0 is drawn, left of a break
        lo_s, hi_s = r.config.noise_range
        tolerable = []
        for i, k in enumerate(sorted(r.thresholds)):
            color = _COLORS[i % len(_COLORS)]
            dx = 0.06 * (i - (len(r.thresholds) - 1) / 2)  # side by side, not on top of each other
            sel = _entries(r, k)
            tolerable.append(f"K = {k}: {range_text(r.thresholds[k], lo_s, hi_s)}")
            _errbar(ax, [math.log2(e["s"]) + dx for e in sel], sel, n, color=color, marker="o", lw=1.1,
                    label=f"K = {k}")
            zero = _entries(r, k, positive=False)
            if zero:
                _errbar(ax, [u0 + dx] * len(zero), zero, n, color=color, marker="s", ls="none")
        ax.axvline(u0 + 0.75, color="grey", lw=0.8, ls=(0, (2, 2)))
        ax.axhline(100 * (1 - r.target), color="darkorange", lw=1.2, ls="--",
                   label="target (an error above the line misses it)")
        ax.axvline(0.0, color="black", lw=0.6, alpha=0.5)
        ticks = [u0] + list(range(u_lo, u_hi + 1))
        ax.set_xticks(ticks)
        ax.set_xticklabels(["0"] + [f"{2.0**u:g}" for u in range(u_lo, u_hi + 1)], fontsize=7)
        ax.set_xlim(u0 - 0.6, u_hi + 0.4)
        _error_axis(ax, n)
        what = "read noise" if r.config.scale == "read" else "programming + read noise"
        ax.set_xlabel(f"noise scale s (× published {what}; log₂ spacing; 0 = none)", fontsize=8)
        ax.set_title(f"{label}: target accuracy {pct(r.target)}\ntolerable s, {'; '.join(tolerable)}",
                     fontsize=8.5)
    _legend_below(fig, axes, ncol=4)
    fig.suptitle("Error rate vs read-noise scale, 95 % intervals (inputs and chips); "
                 "squares: no read noise", fontsize=9.5)
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_pareto(results: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Error rate vs energy per inference over (V, K), one column per device, two energy models.

    Each evaluated (s, K) is a point at energy K x E(V(s)), V = V0 / s^(1/alpha),
    with its interval. Top row: only the cell read energy scales with V^2; bottom:
    the whole inference energy does (the paper's P ~ V^2). Star: the cheapest
    (V, K) at the point estimates of the tolerable noise.
    """
    plt = _plt()
    n_dev = len(results)
    fig, axes = plt.subplots(2, n_dev, figsize=(4.8 * n_dev + 0.4, 7.6), squeeze=False)
    rows = ((False, "fixed_periphery", "energy", "cell energy ∝ V², DAC/ADC fixed"),
            (True, "paper", "energy_paper", "whole inference ∝ V² (paper)"))
    for col, (label, r) in enumerate(results.items()):
        n = r.data["n_test"]
        for row, (paper, key, attr, what) in enumerate(rows):
            ax = axes[row][col]
            pts = r.pareto(paper=paper)
            for i, k in enumerate(sorted({p["k"] for p in pts})):
                sel = sorted((p for p in pts if p["k"] == k), key=lambda p: p["energy"])
                _errbar(ax, [p["energy"] * 1e9 for p in sel], sel, n, color=_COLORS[i % len(_COLORS)],
                        marker="o", ls="none", label=f"K = {k}")
            ax.axhline(100 * (1 - r.target), color="darkorange", lw=1.2, ls="--", label="target")
            best = r.optimum.get(key)
            if best is not None:
                ax.scatter([getattr(best, attr) * 1e9], [_err(r.target, n)], marker="*", s=180,
                           color="gold", edgecolor="black", zorder=4,
                           label="cheapest (V, K) at the point estimate")
            ax.set_xscale("log")
            _error_axis(ax, n)
            ax.set_xlabel("energy per inference, all K votes (nJ, log)", fontsize=8)
            ax.set_title(f"{label}: {what}", fontsize=9)
    _legend_below(fig, list(axes.flat), ncol=4)
    alpha = next(iter(results.values())).config.alpha
    law = "V0 / s" if alpha == 1 else f"V0 / s^(1/{alpha:g})"
    fig.suptitle(f"Error rate vs energy over read voltage V and votes K (V = {law}), 95 % intervals",
                 fontsize=10)
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_latency(results: Mapping[str, Any], path: str | os.PathLike, k_max: int = 20) -> Path:
    """Latency of K-vote inference vs K for the three schedules, one panel per device."""
    from matplotlib.ticker import MaxNLocator

    fig, axes = _panels(len(results))
    ks = list(range(1, max(k_max, 2) + 1))
    names = {"sequential": "sequential (K·ΣT)", "pipelined": "pipelined (ΣT + (K−1)·max T)",
             "parallel": "K parallel copies (ΣT, K× area)"}
    for ax, (label, r) in zip(axes, results.items(), strict=True):
        costs = [voting_cost(r.network, k) for k in ks]
        for mode in VOTING_MODES:
            color, ls = _MODE_STYLE[mode]
            ax.plot(ks, [c[mode]["latency"] * 1e6 for c in costs], color=color, ls=ls, lw=1.6,
                    label=names[mode])
        ax.plot(ks, [c["pipelined"]["latency_paper"] * 1e6 for c in costs], color="#1f77b4", ls=":",
                lw=1.2, label="pipelined, paper's (L+K)·max T")
        for k in r.config.votes:
            if k <= ks[-1]:
                ax.axvline(k, color="grey", lw=0.5, alpha=0.4)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(0.5, ks[-1] + 0.5)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("votes K (grey: the K evaluated)")
        ax.set_ylabel("latency per voted inference (µs)")
        ax.set_title(f"{label}: L = {len(r.network.layers)} stages", fontsize=9)
        ax.grid(True, alpha=0.3)
    _legend_below(fig, axes, ncol=2)
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_aging(rows: list[dict], n: int, target: float, path: str | os.PathLike) -> Path:
    """Error rate of the aged device at its published read noise: one group per age, bars for
    uncompensated and compensated drift and each K, with intervals. ``rows``: {"age", "label",
    "compensate", "k", "accuracy", "lo", "hi"}."""
    fig, axes = _panels(1, width=6.4, height=3.8)
    ax = axes[0]
    ages = sorted({r["age"] for r in rows})
    series = sorted({(r["compensate"], r["k"]) for r in rows}, key=lambda t: (t[0] is not None, t))
    width = 0.8 / max(len(series), 1)
    for i, (comp, k) in enumerate(series):
        sel = {r["age"]: r for r in rows if r["compensate"] == comp and r["k"] == k}
        xs = [j + (i - (len(series) - 1) / 2) * width for j, a in enumerate(ages) if a in sel]
        what = "as published" if comp is None else ("compensated" if comp else "uncompensated")
        _errbar(ax, xs, [sel[a] for a in ages if a in sel], n, color=_COLORS[i % len(_COLORS)],
                marker="D" if comp else "o", ls="none", label=f"{what}, K = {k}")
    ax.axhline(100 * (1 - target), color="darkorange", lw=1.2, ls="--", label="target")
    ax.set_xticks(range(len(ages)))
    ax.set_xticklabels([next(r["label"] for r in rows if r["age"] == a) for a in ages])
    ax.set_xlim(-0.6, len(ages) - 0.4)
    ax.set_xlabel("time since programming (drift and 1/f read noise at that time)")
    _error_axis(ax, n)
    ax.set_title("Aged chip at its published read noise, 95 % intervals", fontsize=9)
    _legend_below(fig, axes, ncol=3)
    fig.tight_layout()
    return _save(fig, Path(path))


def budget_figures(results: Mapping[str, Any], out: Path, k_max: int,
                   noise: Mapping[str, Any] | None = None) -> list[Path]:
    """pareto.png, latency.png and accuracy_vs_noise.png of ``results`` in ``out`` (the last of
    ``noise`` if given: e.g. the devices and an aged chip)."""
    return [
        plot_pareto(results, out / "pareto.png"),
        plot_latency(results, out / "latency.png", k_max=k_max),
        plot_accuracy_vs_noise(noise if noise is not None else results, out / "accuracy_vs_noise.png"),
    ]
