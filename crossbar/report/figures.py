"""Figures of noise budgets (matplotlib, Agg backend): accuracy vs energy, latency vs K, accuracy vs noise.

Each function takes results by label (duck-typed ``crossbar.experiments.BudgetResult``)
and writes one PNG atomically.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from crossbar.atomic import atomic_write
from crossbar.cost import VOTING_MODES, pareto_front, voting_cost

from .text import pct, scale_text

__all__ = ["budget_figures", "plot_accuracy_vs_noise", "plot_latency", "plot_pareto"]

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
_MODE_STYLE = {"sequential": ("#d62728", "-"), "pipelined": ("#1f77b4", "-"), "parallel": ("#2ca02c", "-")}


def _save(fig, path: Path) -> Path:
    """Write the figure atomically and close it."""
    import matplotlib.pyplot as plt

    atomic_write(path, lambda fh: fig.savefig(fh, format=path.suffix.lstrip("."), dpi=120,
                                              bbox_inches="tight"))
    plt.close(fig)
    return path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _subplots(n: int, width: float = 4.6, height: float = 3.6):
    plt = _plt()
    fig, axes = plt.subplots(1, n, figsize=(width * n + 0.4, height), squeeze=False)
    return plt, fig, list(axes[0])


def _accuracy_at(r, k: int, s: float) -> float | None:
    for e in r.evaluations:
        if e["k"] == k and abs(e["s"] - s) <= 1e-9 * max(1.0, s):
            return e["accuracy"]
    return None


def plot_pareto(results: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Accuracy vs energy per inference over (V, K): one column per device, two energy models.

    Each evaluated (noise scale s, K) is a point at energy K x E(V(s)),
    V = V0 / s^(1/alpha). Top row: only the cell read energy scales with V^2
    (DAC, ADC, digital fixed); bottom row: the whole inference energy scales
    with V^2 (the paper's P ~ V^2). Line: Pareto front; star: the cheapest
    (V, K) meeting the target.
    """
    plt = _plt()
    n = len(results)
    fig, axes = plt.subplots(2, n, figsize=(4.8 * n + 0.4, 7.4), squeeze=False)
    rows = ((False, "fixed_periphery", "energy", "cell energy ∝ V², DAC/ADC fixed"),
            (True, "paper", "energy_paper", "whole inference ∝ V² (paper)"))
    for col, (label, r) in enumerate(results.items()):
        ks = sorted({e["k"] for e in r.evaluations})
        for row, (paper, key, attr, what) in enumerate(rows):
            ax = axes[row][col]
            pts = r.pareto(paper=paper)
            for i, k in enumerate(ks):
                sel = [p for p in pts if p["k"] == k]
                if sel:
                    ax.scatter([p["energy"] * 1e9 for p in sel], [100 * p["accuracy"] for p in sel], s=20,
                               color=_COLORS[i % len(_COLORS)], label=f"K = {k}", alpha=0.85, zorder=3)
            front = pareto_front((p["energy"], p["accuracy"]) for p in pts)
            if front:
                ax.step([e * 1e9 for e, _ in front], [100 * a for _, a in front], where="post",
                        color="black", lw=1.1, label="Pareto front", zorder=2)
            ax.axhline(100 * r.target, color="darkorange", lw=1, ls=":", label=f"target {pct(r.target)}")
            best = r.optimum.get(key)
            if best is not None:
                acc = _accuracy_at(r, best.k, best.scale)
                ax.scatter([getattr(best, attr) * 1e9], [100 * (acc if acc is not None else r.target)],
                           marker="*", s=200, color="gold", edgecolor="black", zorder=4,
                           label=f"optimum: K = {best.k}, V = {best.voltage:.3g} V")
            ax.set_xscale("log")
            lo = max(0.0, min(100 * r.target, 100 * r.noiseless_accuracy) - 10)
            ax.set_ylim(lo, 100.5)
            shown = [p["energy"] * 1e9 for p in pts if 100 * p["accuracy"] >= lo]
            if shown:
                ax.set_xlim(min(shown) / 1.6, max(shown) * 1.6)
            ax.set_xlabel("energy per inference, all K votes (nJ)")
            ax.set_ylabel("test accuracy (%)")
            ax.set_title(f"{label}: {what}", fontsize=9.5)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7, loc="lower right")
    alpha = next(iter(results.values())).config.alpha
    law = "V0 / s" if alpha == 1 else f"V0 / s^(1/{alpha:g})"
    fig.suptitle(f"Accuracy vs energy over read voltage V and votes K (V = {law} for noise scale s)",
                 fontsize=11)
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_latency(results: Mapping[str, Any], path: str | os.PathLike, k_max: int = 20) -> Path:
    """Latency of K-vote inference vs K for the three schedules, one panel per device."""
    plt, fig, axes = _subplots(len(results))
    ks = list(range(1, max(k_max, 2) + 1))
    for ax, (label, r) in zip(axes, results.items(), strict=True):
        costs = [voting_cost(r.network, k) for k in ks]
        for mode in VOTING_MODES:
            color, ls = _MODE_STYLE[mode]
            name = {"sequential": "sequential (K·ΣT)", "pipelined": "pipelined (ΣT + (K−1)·max T)",
                    "parallel": "K parallel copies (ΣT, K× area)"}[mode]
            ax.plot(ks, [c[mode]["latency"] * 1e6 for c in costs], color=color, ls=ls, lw=1.6, label=name)
        ax.plot(ks, [c["pipelined"]["latency_paper"] * 1e6 for c in costs], color="#1f77b4", ls=":",
                lw=1.2, label="pipelined, paper's (L+K)·max T")
        for k in r.config.votes:
            if k <= ks[-1]:
                ax.axvline(k, color="grey", lw=0.5, alpha=0.4)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("votes K")
        ax.set_ylabel("latency per voted inference (µs)")
        ax.set_title(f"{label}: latency vs K (L = {len(r.network.layers)} stages)", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_accuracy_vs_noise(results: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Accuracy vs noise scale for every K (the points the bisection evaluated)."""
    plt, fig, axes = _subplots(len(results))
    for ax, (label, r) in zip(axes, results.items(), strict=True):
        ks = sorted(r.thresholds)
        for i, k in enumerate(ks):
            pts = sorted((e["s"], e["accuracy"]) for e in r.evaluations if e["k"] == k and e["s"] > 0)
            if not pts:
                continue
            color = _COLORS[i % len(_COLORS)]
            ax.plot([s for s, _ in pts], [100 * a for _, a in pts], marker="o", ms=3, lw=1.2,
                    color=color, label=f"K = {k}: tolerates {scale_text(r.thresholds[k])}")
            th = r.thresholds[k]
            if th.feasible:
                ax.axvline(th.scale, color=color, lw=0.8, ls="--", alpha=0.7)
        ax.axhline(100 * r.target, color="darkorange", lw=1, ls=":", label=f"target {pct(r.target)}")
        ax.axvline(1.0, color="black", lw=0.6, alpha=0.5)
        ax.set_xscale("log", base=2)
        ax.set_ylim(max(0.0, 100 * min(r.target, r.noiseless_accuracy) - 15), 100.5)
        what = "read noise" if r.config.scale == "read" else "programming + read noise"
        ax.set_xlabel(f"noise scale s (× nominal {what}; 1 = profile)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{label}: accuracy vs noise (zoomed on the target)", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return _save(fig, Path(path))


def budget_figures(results: Mapping[str, Any], out: Path, k_max: int) -> list[Path]:
    """pareto.png, latency.png and accuracy_vs_noise.png of ``results`` in ``out``."""
    return [
        plot_pareto(results, out / "pareto.png"),
        plot_latency(results, out / "latency.png", k_max=k_max),
        plot_accuracy_vs_noise(results, out / "accuracy_vs_noise.png"),
    ]

