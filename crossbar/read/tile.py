"""One physical crossbar tile: programme target conductances, age them, derive what a read needs.

A tile holds ``rows x cols`` differential pairs (G+, G-). Programming turns
target conductances into programmed ones (levels, write noise, faults,
verify, drift exponents). The tile's time since programming drives both drift
and the 1/f read noise (:meth:`Tile.age`); from the conductances at that time
the tile derives what a read needs: the normalised conductance difference
(G+ - G-) / (g_max - g_min) (each cell times its wire gain, :mod:`crossbar.read.wires`,
where the profile has wire resistance), the per-cell read-noise variance in the same unit
(whole, or split into the part common to reads dt apart and the fresh part),
the circuit noise floor of each column, and the ADC full scale of each column
(fixed, or calibrated on data by :mod:`crossbar.read.calibration`).

A tile stores no per-cell array (docs/physics.md, "Stored state"). Its
programmed conductances, write counts and drift exponents are a pure function
of its targets (its block of the array's float32 ``weights`` and the per-column
``w_max``), the programming seed and the profile: every random number comes
from a counter-based stream keyed by (seed, stream, tile index), so
:meth:`Tile.programmed` regenerates them bit for bit whenever they are needed
(ageing, a session, inspection through ``g_plus``, ``nu_plus``, ...). What a
tile keeps is per tile or per column: the write-count histogram, the summed
conductance, the time, the drift-compensation gain, the noise floor and the ADC
full scale. The read state (normalised G+ - G-, cell variances) has its one
home in the array's buffers (:mod:`crossbar.read.array`), which :meth:`Tile.age`
returns it for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch

from crossbar.seeds import Stream, kernel_key
from crossbar.threads import torch_threads

from . import kernels, wires

BOLTZMANN = 1.380649e-23  # J/K (SI, exact)
TEMPERATURE = 300.0  # K: room temperature, the condition of the device data used (docs/physics.md)


class Programmed(NamedTuple):
    """A tile's programming, regenerated: conductances right after programming (S, float64),
    drift exponents (None without drift) and write counts per cell (2 x rows x cols, int32)."""

    g_plus: np.ndarray
    g_minus: np.ndarray
    nu_plus: np.ndarray | None
    nu_minus: np.ndarray | None
    iterations: np.ndarray


class ReadState(NamedTuple):
    """What a read needs of one tile at its time: (G+ - G-) / (g_max - g_min) and the per-cell
    read-noise variance in the same unit (float32; None without read noise)."""

    g_diff: np.ndarray
    variance: np.ndarray | None


@dataclass(eq=False)
class Tile:
    """A programmed tile: its place, its programming record (per tile) and read calibration (per column).

    ``weights`` is the array's weight tensor (not a copy; the array keeps it current across
    ``.to(device)``); the tile's targets are ``weights[row_slice, col_slice] / w_max``.
    """

    index: int
    row_slice: slice
    col_slice: slice
    profile: object
    seed: int
    w_max: np.ndarray
    weights: torch.Tensor = field(repr=False)
    verify_histogram: np.ndarray = field(init=False, repr=False)
    g_sum: float = field(init=False)
    drift_gain: float = field(init=False, default=1.0)
    time: float = field(init=False)
    compensated: bool = field(init=False, default=True)
    calibrated: bool = field(init=False, default=False)
    floor: np.ndarray = field(init=False, repr=False)
    full_scale: np.ndarray = field(init=False, repr=False)

    @property
    def rows(self) -> int:
        return self.row_slice.stop - self.row_slice.start

    @property
    def cols(self) -> int:
        return self.col_slice.stop - self.col_slice.start

    def first_write(self) -> ReadState:
        """Programme the tile (recording its write-count histogram) and age it to the profile's
        ``time_since_programming`` with compensation; returns its read state."""
        state = self.programmed()
        verify = self.profile.verify
        top = 1 if verify is None else int(verify.max_iterations)
        self.verify_histogram = np.bincount(state.iterations.ravel(), minlength=top + 1).astype(np.int64)
        return self.age(self.profile.time_since_programming, True, state)

    @property
    def verify_total(self) -> int:
        """Write pulses spent programming the tile (both halves): the cost model's programming count."""
        return int(np.arange(self.verify_histogram.size) @ self.verify_histogram)

    def targets(self) -> tuple[np.ndarray, np.ndarray]:
        """Target conductances (S, float64) of G+ and G-: g_min + (g_max - g_min) max(+-w, 0) / w_max."""
        p = self.profile
        block = self.weights[self.row_slice, self.col_slice].detach().cpu().numpy().astype(np.float64)
        g_range = p.g_max - p.g_min
        return (p.g_min + g_range * np.maximum(block, 0.0) / self.w_max,
                p.g_min + g_range * np.maximum(-block, 0.0) / self.w_max)

    def programmed(self) -> Programmed:
        """Quantise the targets to the device levels and write them once (noise, faults, verify),
        then draw the drift exponents (at the level-rounded targets): the same bits every call
        (keyed streams)."""
        p = self.profile
        verify = p.verify
        tolerance = np.inf if verify is None else verify.tolerance * (p.g_max - p.g_min)
        max_iterations = 1 if verify is None else int(verify.max_iterations)
        halves, targets = [], []
        with torch_threads():
            streams = (Stream.PROGRAM_PLUS, Stream.PROGRAM_MINUS)
            for target, stream in zip(self.targets(), streams, strict=True):
                if p.levels is not None:
                    target = kernels.quantise_levels(target, p.g_min, p.g_max, int(p.levels))
                targets.append(target)
                std = np.asarray(p.programming_std(target), dtype=np.float64)
                halves.append(kernels.program_cells(
                    target, std, kernel_key(self.seed, stream, self.index), tolerance, max_iterations,
                    p.stuck_on_rate, p.stuck_off_rate, p.g_max, p.g_min))
            (g_plus, it_plus), (g_minus, it_minus) = halves
            nu_plus = nu_minus = None
            if p.drift is not None:
                nu_plus = _drift_exponents(p.drift, targets[0], self.seed, Stream.DRIFT_PLUS, self.index)
                nu_minus = _drift_exponents(p.drift, targets[1], self.seed, Stream.DRIFT_MINUS, self.index)
        return Programmed(g_plus, g_minus, nu_plus, nu_minus, np.stack([it_plus, it_minus]))

    def conductances(self, state: Programmed | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(G+, G-) in S at the tile's time: the programmed conductances drifted (profiles with drift)."""
        s = self.programmed() if state is None else state
        d = self.profile.drift
        if d is None:
            return s.g_plus, s.g_minus
        with torch_threads():
            return (kernels.drift_conductance(s.g_plus, s.nu_plus, self.time, d.t0),
                    kernels.drift_conductance(s.g_minus, s.nu_minus, self.time, d.t0))

    def age(self, t: float, compensate: bool, state: Programmed | None = None) -> ReadState:
        """The tile ``t`` seconds after programming: drift (profiles with drift; none before
        t0) and the 1/f read noise at ``t``; optional global drift compensation. Returns the
        read state at ``t`` (``state``: the programming, if the caller has it already).

        Compensation multiplies the tile's output by sum|G0+ - G0-| / sum|G(t)+ - G(t)-|,
        the single gain a periphery calibration read would measure. The ADC range goes
        back to the fixed full scale: a calibrated range must be measured again.
        """
        p = self.profile
        s = self.programmed() if state is None else state
        self.time, self.compensated = float(t), bool(compensate)
        g_plus, g_minus = self.conductances(s)
        self.drift_gain = 1.0
        if compensate and p.drift is not None:
            before = np.abs(s.g_plus - s.g_minus).sum()
            after = np.abs(g_plus - g_minus).sum()
            self.drift_gain = float(before / after) if after > 0 else 1.0
        self.g_sum = float(g_plus.sum() + g_minus.sum())
        self.floor = noise_floor(p, (g_plus + g_minus).sum(axis=0))
        # ADC full scale: adc_range times the largest current a column of a full tile could
        # carry (every one of tile_rows rows at full input and full weight), in normalised
        # units. The ADC is designed for the tile, whatever part of it a layer uses. An ideal
        # ADC neither clips nor quantises.
        fixed = math.inf if p.adc_bits is None else p.adc_range * p.tile_rows
        self.full_scale = np.full(self.cols, fixed, dtype=np.float64)
        self.calibrated = False
        return self.read_state(g_plus, g_minus)

    def wire_gains(self, g_plus: np.ndarray, g_minus: np.ndarray) -> tuple:
        """Each cell's share of its current that reaches the amplifier through the tile's wires
        (a+, a-), by :func:`crossbar.read.wires.gains`; (1.0, 1.0) with ideal wiring, which
        leaves every product below bit for bit what it is without wires."""
        w = wires.of(self.profile)
        return (1.0, 1.0) if w is None else wires.gains(w, g_plus, g_minus)

    def normalised(self, g_plus: np.ndarray, g_minus: np.ndarray, gains: tuple | None = None
                   ) -> np.ndarray:
        """(G+ a+ - G- a-) / (g_max - g_min) as the read takes it (float32), a the wire gains
        (``gains``, if the caller has them)."""
        a_plus, a_minus = self.wire_gains(g_plus, g_minus) if gains is None else gains
        return ((g_plus * a_plus - g_minus * a_minus)
                / (self.profile.g_max - self.profile.g_min)).astype(np.float32)

    def read_state(self, g_plus: np.ndarray, g_minus: np.ndarray) -> ReadState:
        """The read state of conductances (G+, G-) (S) at the tile's time."""
        gains = self.wire_gains(g_plus, g_minus)
        var = self.pair_variance(g_plus, g_minus, gains)
        variance = var.astype(np.float32) if np.any(var > 0) else None
        return ReadState(self.normalised(g_plus, g_minus, gains), variance)

    def pair_variance(self, g_plus: np.ndarray, g_minus: np.ndarray, gains: tuple | None = None
                      ) -> np.ndarray:
        """Per pair of conductances (G+, G-) (S), the read-noise variance of one read in normalised
        units (how reads share it in time: :mod:`crossbar.read.timing`)."""
        p = self.profile
        g_range = p.g_max - p.g_min
        # a cell's noise current reaches the amplifier as its signal does (the wire gains)
        a_plus, a_minus = self.wire_gains(g_plus, g_minus) if gains is None else gains
        f_plus = p.read_split(g_plus, self.time)[1] * a_plus
        f_minus = p.read_split(g_minus, self.time)[1] * a_minus
        return (f_plus**2 + f_minus**2) / g_range**2

    def set_full_scale(self, full_scale: np.ndarray, calibrated: bool) -> None:
        """Set the ADC full scale of each column (from a range calibration)."""
        self.full_scale = np.asarray(full_scale, dtype=np.float64)
        self.calibrated = bool(calibrated)

    # Regenerated views of the programming record, for inspection and tests (each call programmes
    # the tile again in memory; the reads never use them).
    g_plus = property(lambda self: self.conductances()[0], doc="G+ (S) at the tile's time.")
    g_minus = property(lambda self: self.conductances()[1], doc="G- (S) at the tile's time.")
    g0_plus = property(lambda self: self.programmed().g_plus, doc="G+ (S) right after programming.")
    g0_minus = property(lambda self: self.programmed().g_minus, doc="G- (S) right after programming.")
    nu_plus = property(lambda self: self.programmed().nu_plus, doc="Drift exponents of G+ (or None).")
    nu_minus = property(lambda self: self.programmed().nu_minus, doc="Drift exponents of G- (or None).")
    verify_iterations = property(lambda self: self.programmed().iterations,
                                 doc="Write counts per cell (2 x rows x cols).")
    g_diff = property(lambda self: self.read_state(*self.conductances()).g_diff,
                      doc="(G+ - G-) / (g_max - g_min) at the tile's time (float32).")
    read_variance = property(lambda self: self.read_state(*self.conductances()).variance,
                             doc="Per-cell read-noise variance, normalised (float32, or None).")


def noise_floor(profile, g_column, v: float | None = None) -> np.ndarray:
    """Circuit noise variance per column and conversion, relative to I_0^2, I_0 = v (g_max - g_min)
    the current of one full-scale pair at read voltage ``v`` (default the profile's v_read):
    the sense noise current ``sense_noise`` and the thermal (Johnson-Nyquist) noise
    4 k T g_column / (2 t_read) of the column's cells (``g_column``: sum of G+ and G- over the
    column, S) over the read's bandwidth 1 / (2 t_read), times ``noise_scale``^2. Both are
    absolute currents, so the floor grows as 1 / v^2 relative to the signal. Abstract profiles: 0."""
    g_column = np.asarray(g_column, dtype=np.float64)
    if profile.kind != "physical":
        return np.zeros(g_column.shape)
    thermal = 4.0 * BOLTZMANN * TEMPERATURE * g_column / (2.0 * profile.t_read)
    i0 = (profile.v_read if v is None else v) * (profile.g_max - profile.g_min)
    return (profile.sense_noise**2 + thermal) / i0**2 * profile.noise_scale**2


def _drift_exponents(drift, g_target: np.ndarray, seed: int, stream: int, index: int) -> np.ndarray:
    """Per-cell drift exponents of target conductances ``g_target`` (S): the profile's rule,
    :meth:`crossbar.devices.drift.Drift.exponents` (|nu| of a draw at the target)."""
    z = kernels.standard_normal(kernel_key(seed, stream, index), g_target.size).reshape(g_target.shape)
    return drift.exponents(g_target, z)
