"""Figures of a sweep (matplotlib, Agg backend): the paper's Figs. 2, 4/5, 8-10, 11.

Accuracies carry 95 % intervals as error bars (Wilson over the test inputs and
Student t over the noisy runs or vote groups, in quadrature: stats.Interval),
vote counts have integer ticks, an error rate of 0 is drawn (hollow) at half
a test input so the log axis loses no point, and legends sit outside the axes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from crossbar.atomic import atomic_write

from .cells import snr_db
from .config import SweepConfig
from .records import by_cell, vote_meanings, voted_accuracy
from .stats import chip_half_width, wilson


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path, dpi: int) -> Path:
    """Write the figure atomically (legends outside the axes included) and close it."""
    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=dpi, bbox_inches="tight"))
    _plt().close(fig)
    return path


def interval(mean: float, sd: float, reps: int, n: int) -> tuple[float, float]:
    """95 % interval of an accuracy: Wilson over ``n`` test inputs and the t interval of a mean
    over ``reps`` repetitions with spread ``sd`` (runs or vote groups; left out for one),
    in quadrature."""
    lo, hi = wilson(mean * n, n)
    c = chip_half_width(sd, reps) if reps > 1 else 0.0
    return max(0.0, mean - float(np.hypot(mean - lo, c))), min(1.0, mean + float(np.hypot(hi - mean, c)))


def _error_bars(ax, xs, means, sds, reps, n: int, **kw) -> None:
    """Error rates (%, log axis) with their intervals; a zero error rate drawn hollow at half an input."""
    floor = 100 * 0.5 / n
    ivs = [interval(m, sd, r, n) for m, sd, r in zip(means, sds, reps, strict=True)]
    ys = [max(100 * (1 - m), floor) for m in means]
    lower = [y - max(100 * (1 - hi), floor) for y, (_, hi) in zip(ys, ivs, strict=True)]
    upper = [max(100 * (1 - lo), floor) - y for y, (lo, _) in zip(ys, ivs, strict=True)]
    line = ax.errorbar(xs, ys, yerr=[lower, upper], capsize=2, ms=3.5, **kw)
    zero = [(x, y) for x, y, m in zip(xs, ys, means, strict=True) if m >= 1.0]
    if zero:
        ax.plot([x for x, _ in zero], [y for _, y in zero], ls="none", marker="o", ms=6, mfc="white",
                color=line[0].get_color())


def sigma_label(source: str) -> str:
    """x-axis label for sigma_val, with its unit."""
    if source == "mult":
        return "σ_val: std of multiplicative noise z ~ N(1, σ²) (dimensionless)"
    if source == "add":
        return "σ_val: std of additive noise z ~ N(0, σ²) (units of the layer output)"
    return f"noise scale (× programming and read noise of {source.split(':', 1)[1]})"


def snr_note(source: str) -> str:
    if source == "mult":
        return "SNR = 1/σ_val² (dB on the top axis)"
    if source == "add":
        return "additive noise: the SNR depends on the signal power of each layer"
    return "device noise: SNR set by the profile's conductances"


def _snr_text(sv: float, source: str) -> str:
    v = snr_db(sv, source)
    if v is None:
        return ""
    return "∞ dB" if not np.isfinite(v) else f"{v:.1f} dB"


def _add_snr_axis(ax, svs, source: str) -> None:
    if source != "mult":
        return
    top = ax.secondary_xaxis("top")
    top.set_xticks(list(svs))
    top.set_xticklabels([_snr_text(sv, source).replace(" dB", "") for sv in svs], fontsize=7)
    top.set_xlabel("SNR (dB) = 10·log10(1/σ_val²)")


def fig_error_rate(config: SweepConfig, records, path: Path) -> Path:
    """Fig. 2: error rate (log axis) vs sigma_val, one line per sigma_train, with 95 % intervals."""
    plt = _plt()
    grid = by_cell(records)
    n = max(r["n_test"] for r in records)
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    svs = list(config.sigma_val)
    sts = list(config.sigma_train)
    colors = plt.cm.viridis(np.linspace(0.0, 0.9, len(sts)))  # one distinct colour per sigma_train
    step = (max(svs) - min(svs)) / max(len(svs), 1) if len(svs) > 1 else 0.0
    for i, (st, color) in enumerate(zip(sts, colors, strict=True)):
        cells = [grid[(st, sv)] for sv in svs]
        dx = 0.04 * step * (i - (len(sts) - 1) / 2)  # side by side, not on top of each other
        _error_bars(ax, [sv + dx for sv in svs], [c["accuracy_mean"] for c in cells],
                    [c["accuracy_std"] for c in cells], [c["runs"] for c in cells], n, marker="o",
                    color=color, label=f"σ_train = {st:g}")
    ax.set_yscale("log")
    ax.set_ylim(top=100 * 1.3)
    ax.set_xlabel(sigma_label(config.source))
    ax.set_ylabel(f"error rate (%), mean of {config.runs} runs, 95 % interval")
    _add_snr_axis(ax, svs, config.source)
    ax.set_title(f"{config.model} / {config.data}: {snr_note(config.source)}; hollow: no error "
                 f"(drawn at half of {n} inputs)", fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.14), frameon=False)
    fig.tight_layout()
    return _save(fig, path, 120)


def fig_heatmap(config: SweepConfig, values: np.ndarray, title: str, path: Path) -> Path:
    """Figs. 8-10: accuracy (%) over the sigma_train x sigma_val grid."""
    plt = _plt()
    svs, sts = config.sigma_val, config.sigma_train
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * len(svs), 1.2 + 0.5 * len(sts)))
    im = ax.imshow(values, origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(svs)))
    ax.set_xticklabels([f"{v:g}\n{_snr_text(v, config.source)}" for v in svs], fontsize=7)
    ax.set_yticks(range(len(sts)))
    ax.set_yticklabels([f"{v:g}" for v in sts], fontsize=7)
    ax.set_xlabel(sigma_label(config.source) + ("\n(SNR below)" if config.source == "mult" else ""),
                  fontsize=8)
    ax.set_ylabel("σ_train (training noise std)")
    lo, hi = np.nanmin(values), np.nanmax(values)
    for i in range(len(sts)):
        for j in range(len(svs)):
            v = values[i, j]
            ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=6,
                    color="white" if v < (lo + hi) / 2 else "black")
    fig.colorbar(im, ax=ax, label="accuracy (%)")
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return _save(fig, path, 120)


def fig_votes(config: SweepConfig, records, meaning: str, path: Path) -> Path:
    """Fig. 11: accuracy vs number of votes at the chosen sigma_vals (each at the sigma_train
    that is best with the full number of votes), with 95 % intervals over inputs and vote groups."""
    from matplotlib.ticker import MaxNLocator

    plt = _plt()
    grid = by_cell(records)
    k, rule = config.votes, config.vote_rule
    n = max(r["n_test"] for r in records)
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    curves = list(config.vote_curves_at)
    for i, sv in enumerate(curves):
        st = max(sorted(config.sigma_train),
                 key=lambda s: voted_accuracy(grid[(s, sv)], meaning, rule, k))
        v = grid[(st, sv)]["votes"][meaning]
        ivs = [interval(m, sd, g, n) for m, sd, g in zip(v[rule]["mean"], v[rule]["std"], v[rule]["groups"],
                                                        strict=True)]
        mean = 100 * np.asarray(v[rule]["mean"])
        snr = _snr_text(sv, config.source)
        dx = 0.08 * (i - (len(curves) - 1) / 2)
        ax.errorbar(np.asarray(v["k"]) + dx, mean,
                    yerr=[mean - [100 * lo for lo, _ in ivs], [100 * hi for _, hi in ivs] - mean],
                    marker="o", ms=3, capsize=2,
                    label=f"σ_val = {sv:g}{f' ({snr})' if snr else ''}, σ_train = {st:g}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("number of votes K (independent noisy inferences per input)")
    ax.set_ylabel(f"accuracy (%), {rule} vote, 95 % interval")
    ax.set_title(f"{config.model} / {config.data}: accuracy vs votes ({meaning})", fontsize=8)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), frameon=False)
    fig.tight_layout()
    return _save(fig, path, 120)


def fig_softmax(config: SweepConfig, records, sigma_train: float, path: Path) -> Path:
    """Figs. 4/5: for one test image, the distribution of each of the softmax
    outputs over many noisy runs, one panel per sigma_val (complementary CDF:
    fraction of runs whose output is at least x)."""
    plt = _plt()
    grid = by_cell(records)
    svs = list(config.sigma_val)
    cols = min(3, len(svs))
    rows = -(-len(svs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.8 * rows), squeeze=False)
    label = None
    for ax, sv in zip(axes.flat, svs, strict=False):
        sm = grid[(sigma_train, sv)]["softmax"]
        label = sm["label"]
        p = np.asarray(sm["probs"])
        frac = 1.0 - np.arange(len(p)) / len(p)
        for c in range(p.shape[1]):
            ax.plot(np.sort(p[:, c]), frac, lw=1.6 if c == label else 0.9, label=str(c))
        snr = _snr_text(sv, config.source)
        ax.set_title(f"σ_val = {sv:g}{f' ({snr})' if snr else ''}", fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("softmax output", fontsize=7)
        ax.set_ylabel("fraction of runs ≥ x", fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(svs):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, title="class", fontsize=6, title_fontsize=6, loc="center left",
               bbox_to_anchor=(1.0, 0.5), frameon=False)  # outside the panels: hides no curve
    fig.suptitle(
        f"softmax outputs of test image {config.softmax.image} (label {label}) over "
        f"{config.softmax.runs} noisy runs, σ_train = {sigma_train:g}", fontsize=9)
    fig.tight_layout()
    return _save(fig, path, 110)


def write_figures(config: SweepConfig, records: list[dict[str, Any]], folder: Path) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    grid = by_cell(records)
    files = [fig_error_rate(config, records, folder / "error_rate_vs_sigma_val.png")]
    acc = np.array([[100 * grid[(st, sv)]["accuracy_mean"] for sv in config.sigma_val]
                    for st in config.sigma_train])
    files.append(fig_heatmap(config, acc, f"accuracy (%), single inference, mean of "
                             f"{config.runs} runs", folder / "heatmap_single.png"))
    if config.votes:
        for m in vote_meanings(records):
            v = np.array([[100 * voted_accuracy(grid[(st, sv)], m, config.vote_rule, config.votes)
                           for sv in config.sigma_val] for st in config.sigma_train])
            files.append(fig_heatmap(
                config, v, f"accuracy (%), {config.votes} votes ({config.vote_rule} rule, {m})",
                folder / f"heatmap_votes_{m}.png"))
            files.append(fig_votes(config, records, m, folder / f"accuracy_vs_votes_{m}.png"))
    for st in config.softmax_sigma_train:
        files.append(fig_softmax(config, records, st, folder / f"softmax_sigma_train_{st:g}.png"))
    return files
