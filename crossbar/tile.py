"""One physical crossbar tile: programme target conductances, read column currents.

A tile holds ``rows x cols`` differential pairs (G+, G-). Reading applies the
normalised input voltages u (V = u * v_read) to the rows; by Ohm's and
Kirchhoff's laws column j carries I_j = v_read * sum_i u_i (G+_ij - G-_ij),
sensed differentially and digitised by the tile's ADC.

Internally currents are kept in units of ``v_read * (g_max - g_min)`` so that
float32 arithmetic stays well scaled; the physical current is that unit times
the normalised value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from crossbar import kernels

# Stream identifiers, so that programming, drift and reads never share random numbers.
STREAM_PROGRAM_PLUS = 1
STREAM_PROGRAM_MINUS = 2
STREAM_DRIFT_PLUS = 3
STREAM_DRIFT_MINUS = 4
STREAM_READ = 5


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
        for target, stream in ((target_plus, STREAM_PROGRAM_PLUS), (target_minus, STREAM_PROGRAM_MINUS)):
            if p.levels is not None:
                target = kernels.quantise_levels(target, p.g_min, p.g_max, int(p.levels))
            std = np.asarray(p.programming_std(target), dtype=np.float64)
            key = kernels.derive_key(seed, stream, index)
            halves.append(
                kernels.program_cells(
                    target, std, key, tolerance, max_iterations,
                    p.stuck_on_rate, p.stuck_off_rate, p.g_max, p.g_min,
                )
            )
        (g_plus, it_plus), (g_minus, it_minus) = halves
        nu_plus = nu_minus = None
        if p.drift is not None:
            nu_plus = _drift_exponents(p.drift, g_plus, seed, STREAM_DRIFT_PLUS, index)
            nu_minus = _drift_exponents(p.drift, g_minus, seed, STREAM_DRIFT_MINUS, index)
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
        # Largest |I_j| any input with |u_i| <= 1 can produce, times the ADC range fraction.
        self.full_scale = p.adc_range * np.abs(self.g_diff).sum(axis=0, dtype=np.float64)

    def read(
        self,
        u: np.ndarray,
        u2: np.ndarray,
        key: np.uint64,
        row_scale: np.ndarray,
        col_scale: np.ndarray,
        out: np.ndarray,
        col0: int,
    ) -> None:
        """Add this tile's digitised, rescaled column outputs into ``out[:, col0:]``.

        Read noise is exact for independent per-cell noise: given cell stds
        s_ij, column j's noise is Gaussian with variance sum_i u_i^2 s_ij^2,
        one product of squared inputs and squared stds.
        """
        current = dense_product(u, self.g_diff)
        if self.read_variance is not None:
            variance = dense_product(u2, self.read_variance)
        else:
            variance = np.empty((0, 0), dtype=np.float32)
        self._digitise(current, variance, key, row_scale, col_scale, out, col0)

    def read_per_cell(
        self,
        u: np.ndarray,
        rng: np.random.Generator,
        row_scale: np.ndarray,
        col_scale: np.ndarray,
        out: np.ndarray,
        col0: int,
    ) -> None:
        """Brute-force reference: an independent noisy conductance for every cell and read.

        Draws batch x rows x cols normals; kept only as a test oracle for :meth:`read`.
        """
        current = np.empty((u.shape[0], self.cols), dtype=np.float64)
        std = np.sqrt(self.read_variance if self.read_variance is not None else np.zeros_like(self.g_diff))
        for b in range(u.shape[0]):
            g = self.g_diff + std * rng.standard_normal(self.g_diff.shape)
            current[b] = u[b] @ g
        self._digitise(current, np.empty((0, 0)), np.uint64(0), row_scale, col_scale, out, col0)

    def _digitise(self, current, variance, key, row_scale, col_scale, out, col0) -> None:
        bits = self.profile.adc_bits or 0
        kernels.read_columns(
            current, variance, key, self.full_scale, bits,
            col_scale * self.drift_gain, row_scale, out, col0,
        )


def dense_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` in float32 through torch's BLAS.

    torch and the Numba kernels share one OpenMP thread pool; NumPy's OpenBLAS
    keeps its own spinning threads, which on a small machine stall the next
    parallel kernel by a scheduler time slice (measured: 8 ms on 2 cores).
    """
    return torch.matmul(torch.from_numpy(a), torch.from_numpy(b)).numpy()


def _drift_exponents(drift, g: np.ndarray, seed: int, stream: int, index: int) -> np.ndarray:
    """Per-cell drift exponents nu ~ N(nu_mean(g), nu_std(g)), clipped at 0."""
    z = kernels.standard_normal(kernels.derive_key(seed, stream, index), g.size).reshape(g.shape)
    nu = np.asarray(drift.nu_mean(g)) + np.asarray(drift.nu_std(g)) * z
    return np.maximum(nu, 0.0)
