"""A converted model's clock: the time since programming, sessions and forward calls, and where
each read sits in time (docs/physics.md, "Read noise in time").

A chip (a model returned by ``convert``) keeps a :class:`Clock` (``model.crossbar_clock``):
the time since programming, the evaluation session and the forward calls made in it.
``convert`` installs it with two forward hooks on the model. Before a call every array
of a profile with 1/f read noise is given the session
(:class:`crossbar.read.timing.Session`, key ``derive(program_seed, Stream.READ_SESSION,
session)``: the band below one call's span, shared by every read of the session; ``reseed``
restarts the reads, not the session, so only a new session or programming draws it anew)
and its
layer the call (:class:`crossbar.read.timing.ReadGroup`, key ``derive(read_seed,
Stream.READ_CALL, session, call)``, spacing the array's vector read time: the band up to
1/dt, shared by every read of the call, positions, steps and inputs alike); a vote group
(``crossbar.nn.vote_group``) takes the call's place. After the call the clock advances by
the time the batch takes in the pipeline, sum_l T_l + (B - 1) max_l T_l, T_l the time layer
l spends per input (the vectors it read per input times
:func:`crossbar.read.timing.vector_time`, a lower bound of the cost model's tile time: nn
cannot import crossbar.cost), B the first dimension of the first argument; the call's
read times are kept (:meth:`Clock.read_time`).

``read_noise_time`` (a mode per chip): ``"time"`` (the default), ``"fresh"`` (every read
draws all its noise, the single-read law: crossbar-sim's convention before issue 31) and
``"frozen"`` (one draw per time point for the whole session: AIHWKit's convention, "weights
at time t"). Profiles without 1/f read noise read the same in every mode, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from crossbar.read.timing import ReadGroup, Session, vector_time
from crossbar.seeds import Stream, derive

MODES = ("time", "fresh", "frozen")


@dataclass
class Clock:
    """A chip's time (s since programming), session number, calls in the session and the mode;
    ``last``: per layer name (offset of its first read in an inference, s between its vectors,
    vectors per input) of the last call, ``start`` and ``interval`` its start time and the
    pipeline's initiation interval (the spacing of successive inputs)."""

    mode: str
    time: float
    session: int = 0
    calls: int = 0
    start: float = 0.0
    interval: float = 0.0
    last: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict, repr=False)  # conversions before the call

    def read_time(self, layer: str, item: int, vector: int = 0) -> float:
        """Seconds since programming of the last call's read of ``vector`` (a position, a step)
        of input ``item`` of the batch by layer ``layer``."""
        offset, per_vector, _ = self.last[layer]
        return self.start + item * self.interval + offset + vector * per_vector


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"read_noise_time must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


def _layers(model: nn.Module):
    from crossbar.nn.layer import AnalogLayer

    return [(n, m) for n, m in model.named_modules()
            if isinstance(m, AnalogLayer) and not m.array.is_abstract]


def install(model: nn.Module, mode: str = "time") -> Clock:
    """Give ``model`` (converted) a clock at its arrays' time since programming and the hooks
    that keep it; returns the clock."""
    layers = _layers(model)
    t = max((layer.array.time for _, layer in layers), default=0.0)
    model.crossbar_clock = Clock(check_mode(mode), t)
    if not getattr(model, "crossbar_clock_hooks", False):
        model.register_forward_pre_hook(_before)
        model.register_forward_hook(_after)
        model.crossbar_clock_hooks = True
    return model.crossbar_clock


def clock(model: nn.Module) -> Clock:
    """The model's clock (a model from ``crossbar.convert``)."""
    c = getattr(model, "crossbar_clock", None)
    if c is None:
        raise ValueError("model has no chip clock; call crossbar.convert(model, profile) first")
    return c


def new_session(model: nn.Module, t: float | None = None) -> None:
    """Start a new evaluation session (a new draw of the session's shared noise), at time ``t``
    if given (the clock is set; the arrays' drift time is :func:`crossbar.nn.age`'s)."""
    c = clock(model)
    c.session, c.calls = c.session + 1, 0
    if t is not None:
        c.time = float(t)


def _one_over_f(layer) -> bool:
    return layer.array.profile.read_noise.spectrum == "1/f"


def _before(model: nn.Module, args) -> None:
    c = model.crossbar_clock
    counts = {}
    for name, layer in _layers(model):
        array = layer.array
        counts[name] = array.stats.conversions
        layer.read_call = None
        if c.mode == "fresh" or not _one_over_f(layer):
            array.set_session(None)
            continue
        key = derive(layer.program_seed, Stream.READ_SESSION, c.session)
        array.set_session(Session(key, 0.0 if c.mode == "frozen" else None))
        if c.mode == "time":
            layer.read_call = ReadGroup(derive(layer.read_seed, Stream.READ_CALL, c.session, c.calls),
                                        vector_time(array))
    c.counts = counts


def _after(model: nn.Module, args, output) -> None:
    c = model.crossbar_clock
    first = args[0] if args else None
    batch = int(first.shape[0]) if getattr(first, "dim", lambda: 0)() > 0 else 1
    layout, offset, slowest = {}, 0.0, 0.0
    for name, layer in _layers(model):
        array = layer.array
        per_read = array.plan.reads * len(array.bands) * array.shape[1]
        vectors = (array.stats.conversions - c.counts.get(name, 0)) / per_read / batch
        per_vector = vector_time(array)
        layout[name] = (offset, per_vector, vectors)
        offset += vectors * per_vector
        slowest = max(slowest, vectors * per_vector)
        layer.read_call = None
    c.start, c.interval, c.last = c.time, slowest, layout
    c.time += offset + (batch - 1) * slowest
    c.calls += 1
