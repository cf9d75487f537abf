"""One physical crossbar tile: programme target conductances, age them, derive what a read needs.

A tile holds ``rows x cols`` differential pairs (G+, G-). Programming turns
target conductances into programmed ones (levels, write noise, faults,
verify, drift exponents). The tile's time since programming drives both drift
and the 1/f read noise (:meth:`Tile.age`); from the conductances at that time
the tile derives what a read needs: the normalised conductance difference
(G+ - G-) / (g_max - g_min), the per-cell read-noise variance in the same unit
(whole, or split into the part common to reads dt apart and the fresh part),
the circuit noise floor of each column, and the ADC full scale of each column
(fixed, or calibrated on data by :mod:`crossbar.calibration`). The read itself
is in :mod:`crossbar.array`, which reads all tiles of a row block with one dense
product.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from crossbar import kernels
from crossbar.seeds import Stream, kernel_key

BOLTZMANN = 1.380649e-23  # J/K (SI, exact)
TEMPERATURE = 300.0  # K: room temperature, the condition of the device data used (docs/physics.md)


@dataclass
class Tile:
    """A programmed tile: conductances, drift exponents and the read calibration."""

    index: int
    row_slice: slice
    col_slice: slice
    profile: object
    g_plus: np.ndarray
    g_minus: np.ndarray
    verify_iterations: np.ndarray
    nu_plus: np.ndarray | None = None
    nu_minus: np.ndarray | None = None
    g0_plus: np.ndarray = field(init=False, repr=False)
    g0_minus: np.ndarray = field(init=False, repr=False)
    drift_gain: float = 1.0
    time: float = field(init=False)
    compensated: bool = field(init=False, default=True)
    calibrated: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.g0_plus = self.g_plus
        self.g0_minus = self.g_minus
        self.age(self.profile.time_since_programming, True)

    @property
    def rows(self) -> int:
        return self.g_plus.shape[0]

    @property
    def cols(self) -> int:
        return self.g_plus.shape[1]

    @classmethod
    def program(
        cls,
        index: int,
        row_slice: slice,
        col_slice: slice,
        target_plus: np.ndarray,
        target_minus: np.ndarray,
        profile,
        seed: int,
    ) -> Tile:
        """Quantise targets to the device levels and write them once (noise, faults, verify)."""
        p = profile
        verify = p.verify
        tolerance = np.inf if verify is None else verify.tolerance * (p.g_max - p.g_min)
        max_iterations = 1 if verify is None else int(verify.max_iterations)
        halves = []
        for target, stream in ((target_plus, Stream.PROGRAM_PLUS), (target_minus, Stream.PROGRAM_MINUS)):
            if p.levels is not None:
                target = kernels.quantise_levels(target, p.g_min, p.g_max, int(p.levels))
            std = np.asarray(p.programming_std(target), dtype=np.float64)
            key = kernel_key(seed, stream, index)
            halves.append(
                kernels.program_cells(
                    target, std, key, tolerance, max_iterations,
                    p.stuck_on_rate, p.stuck_off_rate, p.g_max, p.g_min,
                )
            )
        (g_plus, it_plus), (g_minus, it_minus) = halves
        nu_plus = nu_minus = None
        if p.drift is not None:
            nu_plus = _drift_exponents(p.drift, g_plus, seed, Stream.DRIFT_PLUS, index)
            nu_minus = _drift_exponents(p.drift, g_minus, seed, Stream.DRIFT_MINUS, index)
        return cls(
            index=index,
            row_slice=row_slice,
            col_slice=col_slice,
            profile=profile,
            g_plus=g_plus,
            g_minus=g_minus,
            verify_iterations=np.stack([it_plus, it_minus]),
            nu_plus=nu_plus,
            nu_minus=nu_minus,
        )

    def age(self, t: float, compensate: bool) -> None:
        """The tile ``t`` seconds after programming: drift (profiles with drift; none before
        t0) and the 1/f read noise at ``t``; optional global drift compensation.

        Compensation multiplies the tile's output by sum|G0+ - G0-| / sum|G(t)+ - G(t)-|,
        the single gain a periphery calibration read would measure. The ADC range goes
        back to the fixed full scale: a calibrated range must be measured again.
        """
        d = self.profile.drift
        self.time, self.compensated = float(t), bool(compensate)
        if d is not None:
            self.g_plus = kernels.drift_conductance(self.g0_plus, self.nu_plus, t, d.t0)
            self.g_minus = kernels.drift_conductance(self.g0_minus, self.nu_minus, t, d.t0)
        self.drift_gain = 1.0
        if compensate and d is not None:
            before = np.abs(self.g0_plus - self.g0_minus).sum()
            after = np.abs(self.g_plus - self.g_minus).sum()
            self.drift_gain = float(before / after) if after > 0 else 1.0
        self._derive()

    def _derive(self) -> None:
        """Normalised conductance difference, read-noise variance, noise floor, fixed full scale."""
        p = self.profile
        g_range = p.g_max - p.g_min
        self.g_diff = ((self.g_plus - self.g_minus) / g_range).astype(np.float32)
        var = self.read_variance_split(None)[1]
        self.read_variance = var.astype(np.float32) if np.any(var > 0) else None
        self.floor = self._noise_floor()
        # ADC full scale: adc_range times the largest current a column of a full tile could
        # carry (every one of tile_rows rows at full input and full weight), in normalised
        # units. The ADC is designed for the tile, whatever part of it a layer uses. An ideal
        # ADC neither clips nor quantises.
        fixed = math.inf if p.adc_bits is None else p.adc_range * p.tile_rows
        self.full_scale = np.full(self.cols, fixed, dtype=np.float64)
        self.calibrated = False

    def read_variance_split(self, dt: float | None) -> tuple[np.ndarray, np.ndarray]:
        """Per pair, in normalised units: (common std of G+, common std of G-) stacked, and the
        fresh variance, for reads ``dt`` seconds apart (None: one read, all of it fresh)."""
        p = self.profile
        g_range = p.g_max - p.g_min
        c_plus, f_plus = p.read_split(self.g_plus, self.time, dt)
        c_minus, f_minus = p.read_split(self.g_minus, self.time, dt)
        return np.stack([c_plus, c_minus]) / g_range, (f_plus**2 + f_minus**2) / g_range**2

    def _noise_floor(self) -> np.ndarray:
        """Circuit noise variance per column and conversion in normalised units (:func:`noise_floor`)."""
        return noise_floor(self.profile, (self.g_plus + self.g_minus).sum(axis=0))

    def set_full_scale(self, full_scale: np.ndarray, calibrated: bool) -> None:
        """Set the ADC full scale of each column (from a range calibration)."""
        self.full_scale = np.asarray(full_scale, dtype=np.float64)
        self.calibrated = bool(calibrated)


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


def _drift_exponents(drift, g: np.ndarray, seed: int, stream: int, index: int) -> np.ndarray:
    """Per-cell drift exponents nu ~ N(nu_mean(g), nu_std(g)), clipped at 0."""
    z = kernels.standard_normal(kernel_key(seed, stream, index), g.size).reshape(g.shape)
    nu = np.asarray(drift.nu_mean(g)) + np.asarray(drift.nu_std(g)) * z
    return np.maximum(nu, 0.0)
