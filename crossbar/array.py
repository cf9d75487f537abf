"""A weight matrix mapped onto crossbar tiles: the one read path every caller uses.

``W`` (inputs x outputs) is split into tiles of ``tile_rows x tile_cols`` (rows
= inputs, columns = outputs). Within a tile, column j of W is scaled by its
largest magnitude in that tile, w_max, and stored as a differential pair

    G+ = g_min + (g_max - g_min) * max(w, 0) / w_max
    G- = g_min + (g_max - g_min) * max(-w, 0) / w_max

so that G+ - G- is proportional to w. Each tile's columns are digitised by its
ADC, rescaled by w_max (a digital multiply per column) and the partial sums of
the row tiles are added digitally, as in hardware.

Abstract profiles (the Qin paper's Gaussian models) have no conductance
physics: their MVM is the exact product plus output noise (Eq. 2 or 3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from crossbar import kernels
from crossbar.seeds import Stream, derive, kernel_key
from crossbar.threads import torch_threads
from crossbar.tile import Tile

_NO_VARIANCE = np.empty((0, 0), dtype=np.float32)


def dense_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` in float32 through torch's BLAS.

    torch and the Numba kernels share one OpenMP thread pool; NumPy's OpenBLAS
    keeps its own spinning threads, which on a small machine stall the next
    parallel kernel by a scheduler time slice (measured: 8 ms on 2 cores).
    """
    return torch.matmul(torch.from_numpy(a), torch.from_numpy(b)).numpy()


@dataclass(frozen=True)
class _RowBlock:
    """The tiles sharing one band of input rows, side by side: read with one product."""

    rows: slice
    g_diff: np.ndarray  # rows x outputs, normalised G+ - G-
    variance: np.ndarray | None  # rows x outputs, normalised per-cell read variance
    full_scale: np.ndarray  # per output column, normalised ADC full scale
    col_scale: np.ndarray  # per output column, digital rescale (w_max x drift gain)


def _as_float_matrix(name: str, a, ndim: tuple[int, ...]) -> np.ndarray:
    """Validate a NumPy/torch input: dimensionality and finiteness."""
    if hasattr(a, "detach"):  # torch tensor
        a = a.detach().cpu().numpy()
    a = np.asarray(a)
    if a.ndim not in ndim:
        raise ValueError(f"{name} must have {' or '.join(map(str, ndim))} dimensions, got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
        raise ValueError(f"{name} must be real numbers, got dtype {a.dtype}")
    if not np.all(np.isfinite(a)):
        bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); only finite values are allowed")
    return a


class CrossbarArray:
    """A weight matrix programmed onto the tiles of one device profile.

    Create with :meth:`program`; read with :meth:`mvm`. Every read draws fresh
    read noise from a counter-based stream keyed by (seed, read number), so
    the same seed and the same sequence of calls give bit-identical outputs
    whatever the thread count.
    """

    def __init__(self, weights: np.ndarray, profile, seed: int, tiles: list[Tile],
                 col_scales: list[np.ndarray]) -> None:
        self.weights = weights
        self.profile = profile
        self.seed = seed
        self.tiles = tiles
        self._col_scales = col_scales
        self._read_seed = seed
        self.reads = 0
        self._assemble()

    def _assemble(self) -> None:
        """Group the tiles by row band (after programming and after drift)."""
        blocks = []
        n_out = self.shape[1]
        for r0 in sorted({t.row_slice.start for t in self.tiles}):
            band = [(t, s) for t, s in zip(self.tiles, self._col_scales, strict=True)
                    if t.row_slice.start == r0]
            rows = band[0][0].row_slice
            g = np.zeros((rows.stop - rows.start, n_out), dtype=np.float32)
            var = np.zeros_like(g)
            fs = np.zeros(n_out)
            cs = np.zeros(n_out)
            for tile, scale in band:
                g[:, tile.col_slice] = tile.g_diff
                if tile.read_variance is not None:
                    var[:, tile.col_slice] = tile.read_variance
                fs[tile.col_slice] = tile.full_scale
                cs[tile.col_slice] = scale * tile.drift_gain
            blocks.append(_RowBlock(rows, g, var if var.any() else None, fs, cs))
        self._blocks = blocks

    @property
    def shape(self) -> tuple[int, int]:
        return self.weights.shape

    @property
    def is_abstract(self) -> bool:
        return self.profile.output_noise is not None

    @classmethod
    def program(cls, W, profile, seed: int = 0) -> CrossbarArray:
        """Map ``W`` (inputs x outputs) onto differential pairs and programme every tile once."""
        W = np.ascontiguousarray(_as_float_matrix("W", W, (2,)), dtype=np.float64)
        if W.shape[0] == 0 or W.shape[1] == 0:
            raise ValueError(f"W must have at least one row and column, got shape {W.shape}")
        p = profile
        g_range = p.g_max - p.g_min
        tiles: list[Tile] = []
        scales: list[np.ndarray] = []
        n_in, n_out = W.shape
        for r0 in range(0, n_in, p.tile_rows):
            for c0 in range(0, n_out, p.tile_cols):
                rows = slice(r0, min(r0 + p.tile_rows, n_in))
                cols = slice(c0, min(c0 + p.tile_cols, n_out))
                block = W[rows, cols]
                w_max = np.abs(block).max(axis=0)
                w_max[w_max == 0] = 1.0
                target_plus = p.g_min + g_range * np.maximum(block, 0.0) / w_max
                target_minus = p.g_min + g_range * np.maximum(-block, 0.0) / w_max
                with torch_threads():
                    tiles.append(Tile.program(len(tiles), rows, cols, target_plus, target_minus, p, seed))
                scales.append(w_max.astype(np.float64))
        return cls(W.astype(np.float32), p, int(seed), tiles, scales)

    def reseed(self, seed: int) -> None:
        """Restart the read-noise stream (programmed conductances are kept)."""
        self._read_seed = int(seed)
        self.reads = 0

    def drift(self, t: float, compensate: bool = False) -> None:
        """Apply conductance drift to time ``t`` (s) after programming (profiles with drift only)."""
        if not (isinstance(t, (int, float)) and math.isfinite(t) and t > 0):
            raise ValueError(f"drift time must be a finite number of seconds > 0, got {t!r}")
        with torch_threads():
            for tile in self.tiles:
                tile.drift(float(t), compensate)
        self._assemble()

    def mvm(self, x, bias=None):
        """Noisy analog product ``x @ W (+ bias)`` for a batch x (batch x inputs).

        Accepts a NumPy array or torch tensor (1-D for a single vector) and
        answers in the same type and, for torch, on the same device; float32.
        """
        return self._run(x, bias, per_cell_rng=None)

    def mvm_per_cell(self, x, rng: np.random.Generator, bias=None):
        """Reference read drawing independent noise for every cell (slow; a test oracle)."""
        if self.is_abstract:
            raise ValueError("per-cell reads need a physical profile; this one has output noise only")
        return self._run(x, bias, per_cell_rng=rng)

    def effective_weights(self) -> np.ndarray:
        """The weights the programmed conductances represent (no read noise, ideal converters)."""
        if self.is_abstract:
            return self.weights.copy()
        W = np.zeros(self.shape, dtype=np.float64)
        for tile, scale in zip(self.tiles, self._col_scales, strict=True):
            W[tile.row_slice, tile.col_slice] = tile.g_diff * scale * tile.drift_gain
        return W

    def _run(self, x, bias, per_cell_rng):
        torch_like = hasattr(x, "detach")
        device = x.device if torch_like else None
        xa = _as_float_matrix("x", x, (1, 2))
        single = xa.ndim == 1
        if single:
            xa = xa[None, :]
        if xa.shape[1] != self.shape[0]:
            raise ValueError(
                f"x has {xa.shape[1]} inputs per row but the array was programmed with "
                f"{self.shape[0]} inputs (W shape {self.shape})"
            )
        b = None
        if bias is not None:
            b = _as_float_matrix("bias", bias, (1,)).astype(np.float32)
            if b.shape[0] != self.shape[1]:
                raise ValueError(f"bias has {b.shape[0]} entries, expected {self.shape[1]} (outputs)")
        key = derive(self._read_seed, Stream.READ, self.reads)
        self.reads += 1
        with torch_threads():
            y = self._abstract(xa, b, key) if self.is_abstract else self._physical(xa, b, key, per_cell_rng)
        if single:
            y = y[0]
        if torch_like:
            import torch

            return torch.from_numpy(y).to(device)
        return y

    def _abstract(self, x: np.ndarray, bias, key) -> np.ndarray:
        y = dense_product(np.ascontiguousarray(x, dtype=np.float32), self.weights)
        if bias is not None:
            y += bias
        noise = self.profile.output_noise
        sigma = noise.sigma * self.profile.noise_scale
        if sigma > 0:
            kernels.output_noise(y, kernel_key(key), float(sigma), noise.kind == "mult")
        return y

    def _physical(self, x: np.ndarray, bias, key, rng) -> np.ndarray:
        u, u2, row_scale = kernels.dac(np.ascontiguousarray(x), self.profile.dac_bits or 0)
        out = np.zeros((x.shape[0], self.shape[1]), dtype=np.float32)
        bits = self.profile.adc_bits or 0
        for index, block in enumerate(self._blocks):
            # Contiguous copies: torch's BLAS is several times slower on strided slices.
            ub = np.ascontiguousarray(u[:, block.rows])
            if rng is not None:
                current, variance = _per_cell_currents(ub, block, rng), _NO_VARIANCE
            else:
                current = dense_product(ub, block.g_diff)
                variance = (_NO_VARIANCE if block.variance is None
                            else dense_product(np.ascontiguousarray(u2[:, block.rows]), block.variance))
            block_key = kernel_key(key, index)
            kernels.read_columns(current, variance, block_key, block.full_scale, bits,
                                 block.col_scale, row_scale, out, 0)
        if bias is not None:
            out += bias
        return out


def _per_cell_currents(u: np.ndarray, block: _RowBlock, rng: np.random.Generator) -> np.ndarray:
    """Brute force: an independent noisy conductance for every cell and read (test oracle).

    Draws batch x rows x outputs normals, which the exact method in
    :meth:`CrossbarArray.mvm` avoids with one product of squared inputs and
    squared cell stds.
    """
    std = np.zeros_like(block.g_diff) if block.variance is None else np.sqrt(block.variance)
    current = np.empty((u.shape[0], block.g_diff.shape[1]))
    for b in range(u.shape[0]):
        current[b] = u[b] @ (block.g_diff + std * rng.standard_normal(block.g_diff.shape))
    return current
