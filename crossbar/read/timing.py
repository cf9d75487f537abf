"""Read noise in time: K reads spaced dt apart share the low-frequency part of 1/f noise.

A profile's read noise is a white part, fresh on every read, and (PCM) a 1/f part
whose variance is the power spectrum A/f integrated over the band from 1/(t + t_read)
to 1/(2 t_read), t the time since programming (docs/physics.md, "Read noise in
time"). K reads spaced dt apart form a *vote group*: the band is split at 1/dt
(:meth:`crossbar.devices.NoiseFunction.split`); the part below is one per-cell
perturbation of the conductances drawn once for the group from its own stream
(:data:`crossbar.seeds.Stream.VOTE_GROUP`), the part above stays fresh on each read.
Treating everything below 1/dt as fully shared and everything above as independent
overstates the shared variance (reads dt apart decorrelate gradually below 1/dt), so
the model never makes voting look better than the 1/f law allows.

A :class:`ReadGroup` names the group (``key``, from ``crossbar.seeds.derive``) and
its read spacing ``dt`` (s; :func:`crossbar.cost.read_spacing` gives dt for a voting
schedule). Reads without a group draw all their noise afresh, the single-read law.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import torch

from crossbar.seeds import kernel_key

from . import kernels


@dataclass(frozen=True)
class ReadGroup:
    """K reads spaced ``dt`` seconds apart that share their low-frequency (below 1/dt) read noise.

    ``key``: the group's seed (``derive(seed, Stream.VOTE_GROUP, ...)``); two groups with
    the same key and dt on the same array share the same common part. ``dt=math.inf``:
    reads too far apart to share anything (the same as no group)."""

    key: int
    dt: float

    def __post_init__(self) -> None:
        if isinstance(self.key, bool) or not isinstance(self.key, numbers.Integral) or not (
                0 <= int(self.key) < 2**64):
            raise ValueError(f"a read group's key must be an integer within 0..2**64-1, got {self.key!r}")
        dt = self.dt
        if isinstance(dt, bool) or not isinstance(dt, numbers.Real) or math.isnan(dt) or dt <= 0:
            raise ValueError(f"a read group's spacing dt must be a number of seconds > 0 (inf allowed), "
                             f"got {dt!r}")


def _hk2(f: np.ndarray, k: int, dt: float) -> np.ndarray:
    """|H_K(f)|^2, the power response of the mean of k samples dt apart."""
    s = np.sin(np.pi * f * dt)
    small = np.abs(s) < 1e-12
    return np.where(small, 1.0, (np.sin(k * np.pi * f * dt) / (k * np.where(small, 1.0, s))) ** 2)


def exact_mean_variance(k: int, dt: float, t: float, t_read: float) -> float:
    """The exact variance of the mean of ``k`` samples ``dt`` apart of 1/f noise A/f on the band
    [1/(t + t_read), 1/(2 t_read)], in units of A: the integral of |H_K(f)|^2 / f (a log grid
    below 1/dt, Gauss-Legendre on each period of |H_K|^2 above). What the split at 1/dt
    (A [ln(f_c / f_lo) + ln(f_hi / f_c) / k]) approximates from above."""
    f_lo, f_hi = 1 / (t + t_read), 1 / (2 * t_read)
    f_c = min(max(1 / dt, f_lo), f_hi)
    log_f = np.linspace(np.log(f_lo), np.log(f_c), 20001)
    low = float(np.trapezoid(_hk2(np.exp(log_f), k, dt), log_f))
    nodes, w = np.polynomial.legendre.leggauss(16 * k)
    high = 0.0
    for n in np.arange(np.floor(f_c * dt), np.ceil(f_hi * dt)):
        a, b = max(n / dt, f_c), min((n + 1) / dt, f_hi)
        if b > a:
            f = 0.5 * (b - a) * nodes + 0.5 * (b + a)
            high += 0.5 * (b - a) * float(np.sum(w * _hk2(f, k, dt) / f))
    return low + high


def shares_noise(profile, group: ReadGroup) -> bool:
    """Whether reads of ``profile`` inside ``group`` share any noise: a 1/f law and a finite
    spacing. Otherwise the group's buffers are the array's own, bit for bit."""
    return profile.read_noise.spectrum == "1/f" and not math.isinf(group.dt)


def group_state(tiles, bands: tuple[tuple[int, int], ...], n_out: int, height: int,
                group: ReadGroup) -> tuple[np.ndarray, np.ndarray]:
    """The conductance and fresh-variance buffers (bands x height x outputs, float32) of ``tiles``
    read inside ``group``: each cell's common 1/f part drawn once from the group's stream
    (tile i, half h: ``kernel_key(group.key, i, h)``), added to (G+ - G-) / (g_max - g_min),
    and the variance of the part that stays fresh on every read. The tiles' conductances are
    regenerated once per tile (:meth:`crossbar.read.tile.Tile.conductances`)."""
    g = np.zeros((len(bands), height, n_out), dtype=np.float32)
    var = np.zeros_like(g)
    starts = [r0 for r0, _ in bands]
    dt = None if math.isinf(group.dt) else float(group.dt)
    for tile in tiles:
        i = starts.index(tile.row_slice.start)
        g_plus, g_minus = tile.conductances()
        gains = tile.wire_gains(g_plus, g_minus)
        common, fresh = tile.read_variance_split(dt, g_plus, g_minus, gains)
        delta = np.zeros(g_plus.shape)
        for half, sign in ((0, 1.0), (1, -1.0)):
            if common[half].any():
                z = kernels.standard_normal(kernel_key(group.key, tile.index, half), common[half].size)
                delta += sign * common[half] * z.reshape(common[half].shape)
        g[i, : tile.rows, tile.col_slice] = tile.normalised(g_plus, g_minus, gains) + delta
        var[i, : tile.rows, tile.col_slice] = fresh
    return g, var


def as_buffers(g: np.ndarray, var: np.ndarray, device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The group's buffers as the read path takes them: float32 conductance, bfloat16 variance."""
    return (torch.from_numpy(g).to(device),
            torch.from_numpy(var).to(device, torch.bfloat16) if var.any() else None)
