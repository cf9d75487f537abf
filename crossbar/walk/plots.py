"""Figures of the walk and hardening reports (matplotlib, Agg backend).

Legends sit outside the axes and colour bars replace legends for many lines,
so no data is hidden; every mean over repeats has its 95 % interval as error bars.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import colors as mcolors  # noqa: E402

from crossbar.atomic import atomic_write  # noqa: E402

__all__ = ["harden_figures", "walk_figures"]

MODE_COLOURS = {"inference": "tab:blue", "training": "tab:orange"}


def _save(fig, path: Path) -> Path:
    try:
        atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=100))
    finally:
        plt.close(fig)
    return path


def _nan(v):
    return math.nan if v is None else v


def _panels(n: int, width: float = 3.1, height: float = 2.4):
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False,
                             constrained_layout=True)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def _label(a: dict[str, Any], p: int) -> str:
    pos = next(x for x in a["positions"] if x["index"] == p)
    return f"{p}: {pos['op']}" if pos["name"] == "input" else f"{p}: {pos['op']} ({pos['name']})"


def _curve_figures(a: dict[str, Any], folder: Path) -> list[Path]:
    files = []
    mids = {(m["mode"], m["kind"], m["position"]): m for m in a["midpoints"]}
    for kind in dict.fromkeys(c["kind"] for c in a["curves"]):
        curves = [c for c in a["curves"] if c["kind"] == kind]
        positions = list(dict.fromkeys(c["position"] for c in curves))
        fig, axes = _panels(len(positions))
        for ax, p in zip(axes, positions, strict=True):
            for c in (c for c in curves if c["position"] == p):
                col = MODE_COLOURS[c["mode"]]
                ax.errorbar(c["sigma"], [100 * _nan(m) for m in c["mean"]],
                            yerr=[100 * _nan(h) for h in c["ci"]], color=col, marker=".", ms=3, lw=1,
                            capsize=2, label=f"{c['mode']} (grid mean ± 95 % CI)")
                if c["points"]:
                    ax.plot([q[0] for q in c["points"]], [100 * q[1] for q in c["points"]], "x", ms=3,
                            color=col, alpha=0.6, label=f"{c['mode']} bisection points (per repeat)")
                m = mids.get((c["mode"], kind, p), {})
                if m.get("status") == "ok":
                    ax.axvline(m["value"], color=col, ls=":", lw=1, label=f"{c['mode']} midpoint (± CI)")
                    if m["ci"][0] is not None:
                        ax.axvspan(m["ci"][0], m["ci"][1], color=col, alpha=0.12)
            ax.axhline(100 * a["half_level"]["mean"], color="grey", ls="--", lw=0.8, label="half level")
            ax.axhline(100 * a["chance"], color="grey", ls=":", lw=0.8, label="chance")
            ax.set_xscale("log")
            ax.set_ylim(0, 100)
            ax.set_title(_label(a, p), fontsize=8)
            ax.tick_params(labelsize=7)
        for ax in axes:
            ax.set_xlabel(f"{kind} noise sigma", fontsize=7)
            ax.set_ylabel("test accuracy (%)", fontsize=7)
        uniq: dict[str, Any] = {}
        for ax in axes:
            for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
                uniq.setdefault(lab, h)
        fig.legend(uniq.values(), uniq.keys(), loc="outside lower center", ncol=4, fontsize=7)
        fig.suptitle(f"Walking Noise, {kind} noise: accuracy vs noise at one position", fontsize=9)
        files.append(_save(fig, folder / f"curves_{kind}.png"))
    return files


def _midpoint_figure(a: dict[str, Any], folder: Path) -> Path:
    fig, ax = plt.subplots(figsize=(9, 4), constrained_layout=True)
    series = list(dict.fromkeys((m["kind"], m["mode"]) for m in a["midpoints"]))
    markers = {"add": "o", "mult": "s", "combined": "D"}
    for i, (kind, mode) in enumerate(series):
        rows = [m for m in a["midpoints"] if m["kind"] == kind and m["mode"] == mode]
        dx = (i - (len(series) - 1) / 2) * 0.1
        ok = [m for m in rows if m["status"] == "ok"]
        col = MODE_COLOURS[mode]
        face = col if mode == "training" else "white"
        if ok:
            lo = [m["value"] - (m["ci"][0] if m["ci"][0] is not None else m["value"]) for m in ok]
            hi = [(m["ci"][1] if m["ci"][1] is not None else m["value"]) - m["value"] for m in ok]
            ax.errorbar([m["position"] + dx for m in ok], [m["value"] for m in ok], yerr=[lo, hi],
                        fmt=markers[kind], color=col, mfc=face, ms=5, capsize=2, lw=1,
                        label=f"{kind}, {mode}")
        for side, mk in (("above", "^"), ("below", "v")):
            cen = [m for m in rows if m["status"] == side]
            if cen:
                ax.plot([m["position"] + dx for m in cen], [m["bound"] for m in cen], mk, color=col,
                        mfc="none",
                        ms=7, label=f"{kind}, {mode}: {side} the grid (bound)")
    ax.set_yscale("log")
    ax.set_xlabel("noise position")
    ax.set_ylabel("midpoint noise level sigma")
    positions = sorted({m["position"] for m in a["midpoints"]})
    ax.set_xticks(positions, [_label(a, p) for p in positions], rotation=60, ha="right", fontsize=7)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    ax.set_title("Midpoint per position (geometric mean over repeats, 95 % CI)", fontsize=9)
    return _save(fig, folder / "midpoints.png")


def _dynamics_figures(a: dict[str, Any], folder: Path) -> list[Path]:
    files = []
    cmap = plt.get_cmap("viridis")
    for kind in dict.fromkeys(d["kind"] for d in a["dynamics"]):
        rows = [d for d in a["dynamics"] if d["kind"] == kind]
        sig = [d["sigma"] for d in rows]
        norm = mcolors.LogNorm(min(sig), max(sig) if max(sig) > min(sig) else min(sig) * 10)
        positions = list(dict.fromkeys(d["position"] for d in rows))
        for metric, ylabel in (("growth", "largest weight growth (x initial)"),
                               ("binarisation", "largest binarisation B")):
            fig, axes = _panels(len(positions))
            for ax, p in zip(axes, positions, strict=True):
                ref = a["clean_dynamics"][metric]
                ax.plot(range(len(ref["mean"])), [_nan(v) for v in ref["mean"]], "k--", lw=1)
                for d in (d for d in rows if d["position"] == p):
                    s = d[metric]
                    ax.errorbar(range(len(s["mean"])), [_nan(v) for v in s["mean"]],
                                yerr=[_nan(v) for v in s["ci"]], color=cmap(norm(d["sigma"])), lw=1,
                                capsize=1.5, elinewidth=0.6)
                ax.set_title(_label(a, p), fontsize=8)
                ax.set_xlabel("epoch", fontsize=7)
                ax.set_ylabel(ylabel, fontsize=7)
                ax.tick_params(labelsize=7)
            bar = fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=axes, shrink=0.8)
            bar.set_label(f"training {kind} noise sigma (dashed black: clean training)", fontsize=8)
            fig.suptitle(f"Noisy training with {kind} noise at one position: {ylabel} over epochs "
                         "(mean ± 95 % CI over repeats)", fontsize=9)
            files.append(_save(fig, folder / f"dynamics_{kind}_{metric}.png"))
    return files


def walk_figures(a: dict[str, Any], folder: Path) -> list[Path]:
    """Accuracy curves per kind, midpoints per position, dynamics per kind and measure."""
    files = _curve_figures(a, folder)
    if a["midpoints"]:
        files.append(_midpoint_figure(a, folder))
    if a["dynamics"]:
        files += _dynamics_figures(a, folder)
    return files


def harden_figures(a: dict[str, Any], folder: Path) -> list[Path]:
    """Accuracy vs global inference noise per network, one line per method."""
    files = []
    for net in a["networks"]:
        fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
        n = len(net["rows"])
        for i, row in enumerate(net["rows"]):
            dodge = 10 ** ((i - (n - 1) / 2) * 0.012)  # side by side, so no error bar hides another
            ax.errorbar([s * dodge for s in row["sigma"]], [100 * _nan(v) for v in row["mean"]],
                        yerr=[100 * _nan(v) for v in row["ci"]], marker="os^vD<>p"[i % 8], ms=4, lw=1,
                        ls="--" if "noisy" in row["key"][0] else "-", capsize=2, label=row["method"])
        ax.axhline(100 * a["chance"], color="grey", ls=":", lw=0.8, label="chance")
        ax.set_xscale("log")
        ax.set_ylim(0, 100)
        ax.set_xlabel(f"global {a['kind']} noise sigma (points offset slightly)")
        ax.set_ylabel("test accuracy (%), mean ± 95 % CI")
        ax.set_title(f"{net['label']}: QAT vs noisy training (trained at the tested sigma)", fontsize=9)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
        files.append(_save(fig, folder / f"harden_{net['label']}.png"))
    return files
