"""One physical crossbar tile: programme target conductances, read column currents.

A tile holds ``rows x cols`` differential pairs (G+, G-). Programming turns
target conductances into programmed ones (levels, write noise, faults,
verify, drift exponents); calibration derives what a read needs: the
normalised conductance difference (G+ - G-) / (g_max - g_min), the per-cell
read-noise variance in the same unit, and the ADC full scale of each column.
The read itself is in :mod:`crossbar.array`, which reads all tiles of a row
block with one dense product.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from crossbar import kernels
from crossbar.seeds import Stream, kernel_key


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

    def __post_init__(self) -> None:
        self.g0_plus = self.g_plus
        self.g0_minus = self.g_minus
        self._calibrate()

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

    def drift(self, t: float, compensate: bool) -> None:
        """Conductances at time ``t`` (s) after programming; optional global drift compensation.

        Compensation multiplies the tile's output by sum|G0+ - G0-| / sum|G(t)+ - G(t)-|,
        the single gain a periphery calibration read would measure.
        """
        d = self.profile.drift
        if d is None:
            raise ValueError(f"device profile {self.profile.name!r} has no drift model")
        self.g_plus = kernels.drift_conductance(self.g0_plus, self.nu_plus, t, d.t0)
        self.g_minus = kernels.drift_conductance(self.g0_minus, self.nu_minus, t, d.t0)
        if compensate:
            before = np.abs(self.g0_plus - self.g0_minus).sum()
            after = np.abs(self.g_plus - self.g_minus).sum()
            self.drift_gain = float(before / after) if after > 0 else 1.0
        else:
            self.drift_gain = 1.0
        self._calibrate()

    def _calibrate(self) -> None:
        """Normalised conductance difference, read-noise variance and ADC full scale."""
        p = self.profile
        g_range = p.g_max - p.g_min
        self.g_diff = ((self.g_plus - self.g_minus) / g_range).astype(np.float32)
        s_plus = np.asarray(p.read_std(self.g_plus), dtype=np.float64)
        s_minus = np.asarray(p.read_std(self.g_minus), dtype=np.float64)
        var = (s_plus**2 + s_minus**2) / g_range**2
        self.read_variance = var.astype(np.float32) if np.any(var > 0) else None
        # ADC full scale: adc_range times the largest current a column of a full tile could
        # carry (every one of tile_rows rows at full input and full weight), in normalised
        # units. The ADC is designed for the tile, whatever part of it a layer uses.
        self.full_scale = np.full(self.cols, p.adc_range * p.tile_rows, dtype=np.float64)


def _drift_exponents(drift, g: np.ndarray, seed: int, stream: int, index: int) -> np.ndarray:
    """Per-cell drift exponents nu ~ N(nu_mean(g), nu_std(g)), clipped at 0."""
    z = kernels.standard_normal(kernel_key(seed, stream, index), g.size).reshape(g.shape)
    nu = np.asarray(drift.nu_mean(g)) + np.asarray(drift.nu_std(g)) * z
    return np.maximum(nu, 0.0)
