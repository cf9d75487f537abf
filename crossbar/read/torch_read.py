"""The physical read in plain torch operations: the reference of the converter model.

:func:`read_torch` implements every converter setting of docs/physics.md
("Converters"): input slices and phases (:meth:`crossbar.read.plan.ReadPlan.voltages`),
exact read noise through the bfloat16 variance product plus the circuit floor, one
ADC conversion per read, shift-and-add, and the three range modes including AIHWKit's
iterative bound management. It is the read on accelerators, the CPU read of
bound-managed profiles, and the source of the calibration values
(:func:`converted_values`). On the CPU its normals are the stream the Numba kernels
draw (:func:`crossbar.read.adc_kernels.row_normals`), so with the same key it gives the
kernels' result to float32 rounding; elsewhere a ``torch.Generator`` seeded with the
read's key (other numbers, the same distribution).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from crossbar.read.layout import cell_variances
from crossbar.read.operands import as_matrix
from crossbar.read.ops import variance_product
from crossbar.seeds import derive
from crossbar.threads import torch_threads

from . import adc_kernels


def read_keys(key: int | None, bands: int, reads: int) -> np.ndarray:
    """The noise stream of each band and read (bands x reads, uint64): band i, read 0 uses
    ``derive(key, i)``, read r > 0 ``derive(key, i, r)``."""
    k = key or 0
    return np.array([[derive(k, i, *((r,) if r else ())) for r in range(reads)] for i in range(bands)],
                    dtype=np.uint64)


def _normals(like: torch.Tensor, key: int, rows: torch.Tensor) -> torch.Tensor:
    """Standard normals like ``like`` (rows x cols) for the batch rows ``rows`` of stream ``key``."""
    if like.device.type == "cpu":
        with torch_threads():
            z = adc_kernels.row_normals(np.uint64(key), rows.numpy().astype(np.int64), like.shape[1])
        return torch.from_numpy(z)
    gen = torch.Generator(device=like.device)
    gen.manual_seed(int(key))
    return torch.randn(like.shape, generator=gen, device=like.device)


def _band_values(array, i: int, u: torch.Tensor, alpha, rows: torch.Tensor, key_of: Callable[[int], int],
                 conductance: torch.Tensor, variance: torch.Tensor | None) -> torch.Tensor:
    """Pre-clip converted values (reads x rows x cols) of band ``i`` for the inputs ``u`` scaled by
    ``alpha``, read noise and circuit floor included; read r draws from stream ``key_of(r)``."""
    r0, r1 = array.bands[i]
    v = array.plan.voltages(u[:, r0:r1], alpha)
    c = torch.matmul(v, conductance[i, : r1 - r0].float())  # a float16 buffer's band converted
    var = None
    if variance is not None:
        var = variance_product(v, cell_variances(conductance, variance, i, r1 - r0)).float()
    if array.floor is not None:
        var = array.floor[i] if var is None else var + array.floor[i]
    if var is not None:
        var = var.expand_as(c)
        for r in range(c.shape[0]):
            c[r] += var[r].sqrt() * _normals(c[r], key_of(r), rows)
    return c


def _convert(array, i: int, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """ADC and shift-and-add of band i's values: (contribution rows x cols, clipped conversions
    per row and column, counted over the reads)."""
    plan = array.plan
    fs = array.full_scale[i].to(c.dtype)
    clipped = (c.abs() >= fs).sum(0)
    q = torch.clamp(c, -fs, fs)
    if plan.adc_bits:
        levels = float(2 ** (plan.adc_bits - 1) - 1)
        q = torch.round(q * (levels / fs)) * (fs / levels)
    w = torch.tensor(plan.weights, dtype=q.dtype, device=q.device)
    return torch.tensordot(w, q, dims=1), clipped


def _tile_any(flags: torch.Tensor, tile_cols: int) -> torch.Tensor:
    """Per row and tile (column blocks of ``tile_cols``): does any of its columns' flags hold?"""
    n_tiles = -(-flags.shape[1] // tile_cols)
    return torch.stack([flags[:, t * tile_cols : (t + 1) * tile_cols].any(1) for t in range(n_tiles)], 1)


def _prepare(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    scale = x.abs().amax(dim=1, keepdim=True)
    scale = torch.where(scale == 0, torch.ones_like(scale), scale)
    return x / scale, scale


def read_torch(array, x: torch.Tensor, key: int | None, *, row0: int = 0,
               conductance: torch.Tensor | None = None, variance: torch.Tensor | None = None,
               stats=None) -> torch.Tensor:
    """The physical read of ``x`` (rows x inputs) on ``array``, with its converters and range mode.

    ``conductance``/``variance``: band buffers to read instead of the array's (a vote
    group's). Bound management (``plan.mode``): a (vector, tile) pair with a clipped
    conversion is read again with the inputs halved and re-quantised, at most
    ``max_rereads`` times; the last read is kept and divided by its input scale. ``stats``
    (an object with ``clipped``, ``conversions`` and ``rereads``) is incremented.
    """
    plan = array.plan
    conductance = array.conductance if conductance is None else conductance
    variance = array.variance if conductance is array.conductance else variance
    u, scale = _prepare(x)
    m, n_out = x.shape[0], array.shape[1]
    rows = torch.arange(row0, row0 + m)
    keys = read_keys(key, len(array.bands), plan.reads)
    tile_cols = array.profile.tile_cols
    tile_of_col = torch.arange(n_out, device=x.device) // tile_cols
    out = torch.zeros(m, n_out, device=x.device)
    clipped = rereads = 0
    for i in range(len(array.bands)):
        values = _band_values(array, i, u, 1.0, rows, lambda r, i=i: int(keys[i, r]), conductance, variance)
        q, clips = _convert(array, i, values)
        if plan.mode == "bound_management":
            hit = _tile_any(clips > 0, tile_cols)
            for attempt in range(1, plan.max_rereads + 1):
                redo = hit.any(1).nonzero().flatten()
                if redo.numel() == 0:
                    break
                alpha = 2.0**-attempt
                values = _band_values(array, i, u[redo], alpha, rows[redo.cpu()],
                                      lambda r, i=i, a=attempt: derive(int(keys[i, 0]), r, a),
                                      conductance, variance)
                q_new, clips_new = _convert(array, i, values)
                take = hit[redo][:, tile_of_col]
                q[redo] = torch.where(take, q_new / alpha, q[redo])
                clips[redo] = torch.where(take, clips_new, clips[redo])
                rereads += int(hit.sum())
                again = _tile_any(take & (clips_new > 0), tile_cols)
                hit = torch.zeros_like(hit)
                hit[redo] = again
        clipped += int(clips.sum())
        out += q * array.col_scale[i].to(q.dtype) * scale
    if stats is not None:
        stats.add(m * plan.reads * len(array.bands) * n_out, clipped, rereads)
    return out


def converted_values(array, x: torch.Tensor, key: int) -> list[torch.Tensor]:
    """Per row band, the pre-clip values every conversion of ``x`` sees (reads x rows x cols),
    read with noise from stream ``key``: what a range calibration measures."""
    u, _ = _prepare(x)
    rows = torch.arange(x.shape[0])
    keys = read_keys(key, len(array.bands), array.plan.reads)
    return [_band_values(array, i, u, 1.0, rows, lambda r, i=i: int(keys[i, r]), array.conductance,
                         array.variance) for i in range(len(array.bands))]


def read_per_cell(array, x, rng: np.random.Generator, bias=None) -> np.ndarray:
    """Reference read drawing independent noise for every cell, read and row (slow; a test oracle;
    ``array.mvm_per_cell``): ``x`` (rows x inputs, NumPy or torch), ``bias`` added.

    The converters are those of :func:`read_torch` (no bound management); the
    read noise is drawn cell by cell from ``rng`` in float64 with the tiles'
    float32 cell variances, the circuit floor as one normal per column and read.
    """
    if array.is_abstract:
        raise ValueError("per-cell reads need a physical profile; this one has output noise only")
    x = as_matrix("x", x, (2,)).cpu()
    if x.shape[1] != array.shape[0]:
        raise ValueError(f"x has {x.shape[1]} inputs per row, expected {array.shape[0]}")
    if bias is not None:
        return read_per_cell(array, x, rng) + as_matrix("bias", bias, (1,)).cpu().numpy()
    plan = array.plan
    u, scale = _prepare(x.double())
    out = np.zeros((x.shape[0], array.shape[1]))
    for i, (r0, r1) in enumerate(array.bands):
        g = array.conductance[i, : r1 - r0].double().numpy()
        std = np.zeros_like(g)
        for tile in array.tiles:
            if tile.row_slice.start == r0 and tile.read_variance is not None:
                std[:, tile.col_slice] = np.sqrt(tile.read_variance.astype(np.float64))
        floor = np.zeros(g.shape[1]) if array.floor is None else array.floor[i].double().numpy()
        v = plan.voltages(u[:, r0:r1]).numpy()
        c = np.empty((plan.reads, x.shape[0], g.shape[1]))
        for r in range(plan.reads):
            for b in range(x.shape[0]):
                noisy = g + std * rng.standard_normal(g.shape)
                c[r, b] = v[r, b] @ noisy + np.sqrt(floor) * rng.standard_normal(g.shape[1])
        q, _ = _convert(array, i, torch.from_numpy(c))
        out += q.numpy() * array.col_scale[i].double().numpy() * scale.numpy()
    return out.astype(np.float32)
