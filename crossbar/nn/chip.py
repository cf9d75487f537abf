"""Operations on a converted model as one programmed chip: ADC range calibration, ageing
(time since programming, the chip's clock and sessions: :mod:`crossbar.nn.clock`), how
reads share 1/f noise in time (``read_noise_time``), vote groups of re-reads, and what the
reads did (clipping rates, bound-management re-reads).

    net = convert(model, "pcm", seed=0, calibration=x_train[:64])   # or calibrate(net, x)
    age(net, 30 * 86400, calibration=x_train[:64])                   # one month later
    with vote_group(net, derive(seed, Stream.VOTE_GROUP, k), dt=read_spacing(cost, "pipelined")):
        votes = net(x.repeat(K, 1, 1, 1))                             # K reads sharing 1/f noise
    clipping_rates(net), rereads(net)                                 # per layer, since reset_read_stats
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from crossbar.nn.analog import AnalogLayer, ReadSequence
from crossbar.nn.clock import check_mode, clock, new_session
from crossbar.read.array import RangeNotice
from crossbar.read.plan import ReadStats
from crossbar.read.timing import ReadGroup
from crossbar.seeds import Stream, derive

__all__ = ["CALIBRATION_IMAGES", "age", "calibrate", "clipping_rates", "clock", "new_session",
           "read_noise_time", "read_stats", "reread_counts", "reset_read_stats", "share_range_notice",
           "stacked_copies", "vote_group"]

CALIBRATION_IMAGES = 64
"""The recommended calibration batch: the first 64 examples of the training set (never test
data), one pass; every analog layer sees thousands of vectors (a convolution one per output
position), enough for the 99.9th percentile of the bundled profiles."""


def _layers(model: nn.Module) -> list[tuple[str, AnalogLayer]]:
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, AnalogLayer)]
    if not layers:
        raise ValueError("model has no crossbar layers; call crossbar.convert(model, profile) first")
    return layers


def share_range_notice(model: nn.Module) -> None:
    """Give the chip's arrays one :class:`~crossbar.read.array.RangeNotice`: one event (programming
    or ageing) left them all with the fixed ADC range, so a read warns about it once, not per array."""
    notice = RangeNotice()
    for _, layer in _layers(model):
        layer.array.range_notice = notice


@torch.no_grad()
def calibrate(model: nn.Module, x, seed: int = 0) -> dict[str, int]:
    """Calibrate the ADC range of every analog layer in the ``calibrated`` range mode on the
    inputs ``x`` (a batch the model accepts, or a tuple of arguments), once per programmed chip.

    One forward pass in order: each layer calibrates on the vectors of its first call
    (so a layer sees the outputs of already calibrated layers before it); a layer called
    several times in the pass (an LSTM's gates at every step) is then calibrated again on
    the vectors of all its calls. Calibration reads use their own noise streams
    (``derive(seed, Stream.CALIBRATION_READ, layer index)``); the layers' read sequences
    and read statistics are left as they were. Call again after :func:`age` (drift) and
    after ``reprogram``. Returns, per layer, how many tiles saw only zeros and kept the
    fixed full scale.
    """
    layers = _layers(model)
    readers = [m for m in model.modules() if isinstance(m, ReadSequence)]
    sequences = [(m.read_seed, m.reads) for m in readers]
    stats = [ReadStats(**vars(layer.array.stats)) for _, layer in layers]
    timer = getattr(model, "crossbar_clock", None)  # calibration reads are not calls of the chip
    kept_clock = None if timer is None else dict(vars(timer))
    for i, (_, layer) in enumerate(layers):
        layer.calibration = {"key": derive(seed, Stream.CALIBRATION_READ, i), "vectors": []}
    was_training = model.training
    model.eval()
    try:
        model(*x) if isinstance(x, (tuple, list)) else model(x)
        left = {}
        for name, layer in layers:
            seen = layer.calibration["vectors"]
            if len(seen) > 1:
                layer.array.calibrate(torch.cat(seen), layer.calibration["key"])
            state = layer.array.range_state
            left[name] = sum(not t.calibrated for t in layer.array.tiles) if state == "calibrated" else 0
    finally:
        model.train(was_training)
        for (_, layer), kept in zip(layers, stats, strict=True):
            layer.calibration = None
            layer.array.stats = kept
        for m, (seed_, reads) in zip(readers, sequences, strict=True):
            m.read_seed, m.reads = seed_, reads
        if timer is not None:
            vars(timer).update(kept_clock)
    return left


def age(model: nn.Module, t: float, compensate: bool = True, calibration=None, seed: int = 0) -> None:
    """Set every array's time since programming to ``t`` seconds: drift and 1/f read noise
    both follow it (one time for the whole chip); the chip's clock is set to ``t`` and a new
    session starts (:func:`crossbar.nn.new_session`). ``compensate``: global drift
    compensation (AIHWKit's default). Calibrated ADC ranges are measured again on
    ``calibration`` (inputs as :func:`calibrate` takes them); without it they fall back to
    the fixed range, which the next read warns about (once for the chip)."""
    for _, layer in _layers(model):
        if not layer.array.is_abstract:
            layer.array.age(t, compensate)
    share_range_notice(model)
    if getattr(model, "crossbar_clock", None) is not None:
        new_session(model, t)
    if calibration is not None:
        calibrate(model, calibration, seed)


@contextmanager
def vote_group(model: nn.Module, seed: int, dt: float) -> Iterator[None]:
    """Inside the block every read of the model belongs to one vote group: reads spaced ``dt``
    seconds apart (:func:`crossbar.cost.read_spacing`) that share the part of the 1/f read
    noise below 1/dt, drawn once per layer from ``derive(seed, Stream.VOTE_GROUP, layer index)``;
    the rest of the noise stays fresh on every read (every forward, and every row of a batch).
    A new ``seed`` is a new group. White read noise is unaffected."""
    layers = _layers(model)
    before = [layer.read_group for _, layer in layers]
    for i, (_, layer) in enumerate(layers):
        layer.read_group = ReadGroup(derive(seed, Stream.VOTE_GROUP, i), dt)
    try:
        yield
    finally:
        for (_, layer), group in zip(layers, before, strict=True):
            layer.read_group = group


@contextmanager
def stacked_copies(model: nn.Module, copies: int) -> Iterator[None]:
    """Inside the block the model's inputs are ``copies`` stacked copies of one batch (the draws
    of a vote pass, ``x.repeat(copies, ...)``): a layer whose input still is (the first; after it
    the read noise makes the copies differ) converts and multiplies it once and draws only the
    noise per copy, the same bits as reading every row (:func:`crossbar.read.cpu.read_cpu`).
    A model without crossbar layers is left alone."""
    layers = [m for m in model.modules() if isinstance(m, AnalogLayer)]
    before = [layer.copies for layer in layers]
    for layer in layers:
        layer.copies = int(copies)
    try:
        yield
    finally:
        for layer, n in zip(layers, before, strict=True):
            layer.copies = n


def read_noise_time(model: nn.Module, mode: str) -> None:
    """How the chip's reads share their 1/f read noise from the next call on: ``"time"`` (by
    the clock: a session, a call, fresh above each call's read spacing), ``"fresh"`` (every
    read independent) or ``"frozen"`` (one draw per time point, AIHWKit's convention);
    docs/physics.md, "Read noise in time". Profiles without 1/f noise read the same in all."""
    clock(model).mode = check_mode(mode)


def read_stats(model: nn.Module) -> dict[str, ReadStats]:
    """Per analog layer (by name): conversions, clipped conversions and bound-management tile
    re-reads of its reads since the last :func:`reset_read_stats` (copies)."""
    return {name: ReadStats(**vars(layer.array.stats)) for name, layer in _layers(model)}


def clipping_rates(model: nn.Module) -> dict[str, float]:
    """Per analog layer: clipped conversions / conversions (after bound management) of its reads
    since the last :func:`reset_read_stats`; NaN for a layer not read since (or abstract)."""
    return {name: s.clipping_rate for name, s in read_stats(model).items()}


def reread_counts(model: nn.Module) -> dict[str, int]:
    """Per analog layer: tile re-reads made by bound management since :func:`reset_read_stats`
    (what ``crossbar.cost.layer_cost(..., rereads=)`` charges, per inference once divided by the
    examples read)."""
    return {name: s.rereads for name, s in read_stats(model).items()}


def reset_read_stats(model: nn.Module) -> None:
    """Start counting conversions, clips and re-reads afresh in every analog layer."""
    for _, layer in _layers(model):
        layer.array.stats.reset()
