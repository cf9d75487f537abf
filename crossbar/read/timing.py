"""Read noise in time: reads share the slow part of 1/f noise, as far as they are close in time.

A profile's read noise is a white part, fresh on every read, and (PCM) a 1/f part
whose variance is the power spectrum A/f integrated over the band from 1/(t + t_read)
to 1/(2 t_read), t the time since programming (docs/physics.md, "Read noise in
time"). The band is split by the spans reads share (:func:`shared_fraction`):

- a :class:`Session` (an evaluation of a chip): the band below 1/span, one per-cell
  perturbation of the conductances folded into the array's read state
  (:func:`fold_session`) and shared by every read of the session;
- a *call* (:class:`ReadGroup`: the reads of one forward call, or of one vote group):
  the band from 1/span to 1/dt, dt the spacing of the call's reads, one per-cell
  perturbation drawn from the call's key and shared by every read of the call
  (:func:`call_buffers`);
- the band above 1/dt, fresh on each read.

Treating everything below an edge as fully shared and everything above as independent
overstates the shared variance (reads decorrelate gradually), so the model never makes
read noise look more benign than the 1/f law allows. Reads without a call draw all but
the session part afresh; without a session, all of it (the single-read law).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import torch

from crossbar.devices.converters import adc_time_at
from crossbar.seeds import kernel_key

from . import adc_kernels, kernels
from .cpu import bits


@dataclass(frozen=True)
class ReadGroup:
    """A call: reads spaced ``dt`` seconds apart (or more) that share their 1/f read noise
    below 1/dt (the part above the array's session, if it has one, :class:`Session`).

    ``key``: the call's seed (a chip's forward call: ``derive(read_seed, Stream.READ_CALL,
    session, call)``; a vote group: ``derive(seed, Stream.VOTE_GROUP, ...)``); two calls
    with the same key and dt on the same array share the same part. ``dt=math.inf``:
    reads too far apart to share anything (the same as no call)."""

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


@dataclass(frozen=True)
class Session:
    """The reads of one evaluation of a chip: they share the 1/f band below 1/``span``,
    drawn once from ``key`` and folded into the array's read state.

    ``span`` (s): the shortest time between two reads of the session that should not share
    more (one call's duration); None: the duration of the array's first read of the session
    (its rows times :func:`vector_time`), fixed then; 0: everything shared, one draw per
    time point (AIHWKit's convention, ``read_noise_time="frozen"``)."""

    key: int
    span: float | None = None

    def __post_init__(self) -> None:
        ReadGroup(self.key, 1.0)  # the key's check
        s = self.span
        if s is not None and (isinstance(s, bool) or not isinstance(s, numbers.Real) or not math.isfinite(s)
                              or s < 0):
            raise ValueError(f"a session's span must be None or a finite number of seconds >= 0, got {s!r}")


def vector_time(array) -> float:
    """Seconds one input vector's read of ``array`` takes at least: per read (slice, phase)
    the longer of the read window t_read and the conversions of one ADC in sequence
    (ceil(tile_cols / cols_per_adc) x the conversion time). A lower bound of the cost
    model's tile time (crossbar/cost/circuit.py; the read package cannot import the cost
    model): reads look closer in time than they are, so they share more, never less."""
    p = array.profile
    n_seq = math.ceil(min(p.tile_cols, array.shape[1]) / p.cols_per_adc)
    return array.plan.reads * max(p.t_read, n_seq * adc_time_at(p))


def shared_fraction(profile, t: float, dt: float) -> float:
    """The share of a cell's read-noise variance at ``t`` s after programming that reads
    ``dt`` s apart share: the 1/f band below 1/dt (:meth:`NoiseFunction.split`; the same
    share for every conductance); 0 for white noise and dt = inf, 1 for dt = 0."""
    law = profile.read_noise
    if law.spectrum != "1/f" or math.isinf(dt):
        return 0.0
    common, fresh = law.split(np.array([law.g_max]), t, dt)
    total = float(common[0] ** 2 + fresh[0] ** 2)
    return float(common[0] ** 2) / total if total > 0 else 0.0


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


def session_state(array, session: Session | None, t: float, rows: int = 0, span: float | None = None
                  ) -> tuple[Session, float, float] | None:
    """(session, span, share of the 1/f variance below 1/span at ``t``) of ``session`` on
    ``array``: its span, else ``span``, else that of a first read of ``rows`` vectors."""
    if session is None:
        return None
    if span is None:
        span = session.span if session.span is not None else rows * vector_time(array)
    return session, span, shared_fraction(array.profile, t, span)


def shares_noise(profile, group: ReadGroup) -> bool:
    """Whether reads of ``profile`` inside ``group`` share any noise: a 1/f law and a finite
    spacing. Otherwise a call's buffers are the array's own, bit for bit."""
    return profile.read_noise.spectrum == "1/f" and not math.isinf(group.dt)


def fold_session(state, tile, key: int, share: float):
    """A tile's read state (:class:`crossbar.read.tile.ReadState`) with its session part
    folded in: each pair's shared std sqrt(share x variance) times one normal per pair of
    stream ``kernel_key(key, tile index)`` added to (G+ - G-) / (g_max - g_min), the variance
    left to the reads (1 - share) of it."""
    if state.variance is None or share <= 0:
        return state
    shape = state.variance.shape
    z = kernels.standard_normal(kernel_key(key, tile.index), state.variance.size).reshape(shape)
    g = (state.g_diff + np.sqrt(share * state.variance.astype(np.float64)) * z).astype(np.float32)
    left = (state.variance * (1.0 - share)).astype(np.float32)
    return type(state)(g, left if np.any(left > 0) else None)


def call_buffers(array, group: ReadGroup, session_share: float, reuse: tuple | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The conductance and variance buffers of a call on ``array`` (whose read state holds a
    session part of ``session_share`` of the 1/f variance, 0 without one): the band between
    the session's edge and 1/dt as one perturbation per pair, sqrt(share x variance) times a
    normal of stream ``group.key`` (one per buffer entry, float32 Box-Muller), added to the
    conductance; the variance scaled to the band above 1/dt (rounded to bfloat16 again).
    ``reuse``: the previous call's buffers, written over when they are the array's shape
    (a call's buffers are dropped when the next call starts)."""
    if array.variance is None or not shares_noise(array.profile, group) or session_share >= 1.0:
        return array.conductance, array.variance
    left = 1.0 - session_share
    shared = max(shared_fraction(array.profile, array.time, group.dt) - session_share, 0.0) / left
    if array.variance.device.type == "cpu":  # one fused pass
        g, fresh = torch.empty_like(array.conductance), torch.empty_like(array.variance)
        if reuse and reuse[0] is not array.conductance and reuse[0].shape == g.shape:
            g = reuse[0]
        if reuse and reuse[1] is not None and reuse[1] is not array.variance and \
                reuse[1].shape == fresh.shape:
            fresh = reuse[1]
        adc_kernels.call_part(array.conductance.numpy().ravel(), bits(array.variance).ravel(),
                              np.uint64(group.key), shared, 1.0 - shared, g.numpy().ravel(),
                              bits(fresh).ravel())
    else:  # the same numbers in torch operations
        var = array.variance.float()
        z = torch.from_numpy(adc_kernels.normals(np.uint64(group.key), var.numel(), 0.0, 1.0)).view(var.shape)
        g = array.conductance + var.mul(shared).sqrt_().mul_(z.to(var.device))
        fresh = var.mul_(1.0 - shared).to(torch.bfloat16)
    return g, fresh if shared < 1.0 else None
