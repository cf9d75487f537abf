"""What the read-noise time model changes in the voting conclusion, per device (issue 15).

For one representative weight (half of full scale: G+ = g_min + (g_max - g_min) / 2, G- = g_min)
of each bundled physical profile, read at the profile's time since programming: how much of
the error variance is left after K votes, when the K reads are re-reads of one array (spaced
dt apart by the voting schedule of cnn6 mapped on that profile: the pipeline's initiation
interval, or one inference latency) and when they come from K replicated arrays (independent
programming and read noise). Read noise is split by the 1/f time model
(docs/physics.md, "Read noise in time"); programming noise is the published sigma of the
profile (the verify loop's trimming of > 3 sigma outliers is left out).

    .venv/bin/python docs/results/read_noise_in_time.py      # prints the tables of read-noise-in-time.md
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from crossbar import devices, models
from crossbar.cost import format_si, read_spacing
from crossbar.cost.mapping import network_cost_of
from crossbar.nn import convert
from crossbar.read.timing import exact_mean_variance

PROFILES = ("pcm", "hermes", "reram", "neurram", "nand")
VOTES = (5, 20)


def schedule_spacing(profile) -> dict[str, float]:
    """dt of the pipelined and sequential voting schedules of cnn6 (28 x 28) on ``profile``."""
    model = models.build("cnn6", **models.kwargs_for_data("cnn6", (1, 28, 28), 10)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # timing only: the ADC range does not matter
        net = network_cost_of(convert(model, profile, seed=0), torch.zeros(1, 1, 28, 28), activity=1.0)
    return {s: read_spacing(net, s) for s in ("pipelined", "sequential")}


def variances(profile, dt: float) -> tuple[float, float, float]:
    """(programming, common read, fresh read) variance of the representative weight, in S^2."""
    g = np.array([profile.g_min + 0.5 * profile.g_range, profile.g_min])
    prog = float((profile.programming_std(g) ** 2).sum())
    common, fresh = profile.read_split(g, None, dt)
    return prog, float((common**2).sum()), float((fresh**2).sum())


def rows() -> list[dict]:
    out = []
    for name in PROFILES:
        p = devices.load(name)
        spacing = schedule_spacing(p)
        for k in VOTES:
            row = {"profile": name, "spectrum": p.read_noise.spectrum, "k": k, **spacing}
            for schedule, dt in spacing.items():
                prog, common, fresh = variances(p, dt)
                read = common + fresh
                row[f"read_{schedule}"] = (common + fresh / k) / read
                row[f"total_{schedule}"] = (prog + common + fresh / k) / (prog + read)
                row["read_share"] = read / (prog + read)
            out.append(row)
    return out


def markdown(table: list[dict]) -> str:
    lines = ["| profile | read noise | K | dt pipelined | dt sequential | read-noise variance left: "
             "re-reads, pipelined / sequential | replicas | read share of the error | total error "
             "variance left: re-reads, pipelined / sequential | replicas |",
             "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | --- | ---: |"]
    for r in table:
        lines.append(
            f"| {r['profile']} | {r['spectrum']} | {r['k']} | {format_si(r['pipelined'], 's')} "
            f"| {format_si(r['sequential'], 's')} | {r['read_pipelined']:.1%} / {r['read_sequential']:.1%} "
            f"| {1 / r['k']:.1%} | {r['read_share']:.1%} | {r['total_pipelined']:.1%} / "
            f"{r['total_sequential']:.1%} | {1 / r['k']:.1%} |")
    return "\n".join(lines) + "\n"


def approximation_rows() -> str:
    """The split's shared 1/f variance against the exact one, PCM at one day (fractions of the
    one-read 1/f variance), K = 20, at PCM's pipelined dt and at 1 ms."""
    law = devices.load("pcm").read_noise
    t, t_read = 86400.0, law.params["t_read_s"]
    total = np.log((t + t_read) / (2 * t_read))
    lines = ["| dt | K | model (split at 1/dt) | exact 1/f integral |", "| --- | ---: | ---: | ---: |"]
    for dt in (schedule_spacing(devices.load("pcm"))["pipelined"], 1e-3):
        d = min(max(dt, 2 * t_read), t + t_read)
        model = (np.log((t + t_read) / d) + np.log(d / (2 * t_read)) / 20) / total
        exact = exact_mean_variance(20, dt, t, t_read) / total
        lines.append(f"| {format_si(dt, 's')} | 20 | {model:.1%} | {exact:.1%} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(rows()))
    print(approximation_rows(), end="")
