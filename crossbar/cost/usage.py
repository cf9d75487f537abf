"""What the cost model reads from programmed tiles and from the inputs they receive.

:class:`TileUsage` is the used part of one tile (rows, columns, summed conductance,
write pulses, position in the layer); :func:`input_activity` is the mean conduction
energy of the inputs as a fraction of full-scale drive, for the profile's input
encoding (docs/cost.md, section 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from crossbar.cost._checks import finite, positive_int
from crossbar.devices import converters
from crossbar.read.tile import Tile

CELLS_PER_PAIR = 2
"""Cells per stored weight: a differential pair (G+, G-)."""


@dataclass(frozen=True)
class TileUsage:
    """The part of one programmed tile the cost model needs.

    ``rows`` x ``cols`` used differential pairs; ``g_sum`` (S) the sum of all
    programmed conductances of both halves; ``verify_iterations_total`` the
    write pulses spent programming it (None = unknown); ``cells`` the used
    cells (default 2 * rows * cols); ``row_offset``/``col_offset`` where the
    tile sits in the layer's weight matrix (None = 0): tiles sharing output
    columns are row tiles whose partial sums are added digitally.
    """

    rows: int
    cols: int
    g_sum: float
    verify_iterations_total: int | None = None
    cells: int | None = None
    row_offset: int | None = None
    col_offset: int | None = None

    def __post_init__(self) -> None:
        positive_int("TileUsage.rows", self.rows)
        positive_int("TileUsage.cols", self.cols)
        finite("TileUsage.g_sum", self.g_sum, minimum=0.0)
        if self.verify_iterations_total is not None:
            positive_int("TileUsage.verify_iterations_total", self.verify_iterations_total, 0)
        if self.cells is None:
            object.__setattr__(self, "cells", CELLS_PER_PAIR * self.rows * self.cols)
        positive_int("TileUsage.cells", self.cells, 0)
        for name in ("row_offset", "col_offset"):
            if getattr(self, name) is not None:
                positive_int(f"TileUsage.{name}", getattr(self, name), 0)

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one MVM on this tile: rows x cols."""
        return self.rows * self.cols


def _extent(tile, attr: str, slice_attr: str, axis: int, g: np.ndarray) -> int:
    value = getattr(tile, attr, None)
    if value is not None:
        return int(value)
    s = getattr(tile, slice_attr, None)
    if isinstance(s, slice) and s.stop is not None:
        return int(s.stop - (s.start or 0))
    return int(g.shape[axis])


def tile_usage(tile) -> TileUsage:
    """Read a :class:`TileUsage` off a programmed tile.

    A :class:`crossbar.read.tile.Tile` gives its record directly: ``rows``, ``cols``,
    ``g_sum`` (S, both halves at the tile's time), ``verify_total`` (write
    pulses) and the slice starts as offsets. Any other object gives
    ``rows``/``cols`` (else ``row_slice``/``col_slice``, else the conductance
    shape), ``g_plus``, ``g_minus`` (S; only the used ``rows x cols`` corner is
    summed if the arrays are larger) and ``verify_iterations`` (write counts per
    cell, both halves; None allowed).
    """
    row_slice = getattr(tile, "row_slice", None)
    col_slice = getattr(tile, "col_slice", None)
    offsets = {"row_offset": row_slice.start if isinstance(row_slice, slice) else None,
               "col_offset": col_slice.start if isinstance(col_slice, slice) else None}
    if isinstance(tile, Tile):
        return TileUsage(rows=tile.rows, cols=tile.cols, g_sum=tile.g_sum,
                         verify_iterations_total=tile.verify_total, **offsets)
    g_plus = np.asarray(tile.g_plus, dtype=np.float64)
    g_minus = np.asarray(tile.g_minus, dtype=np.float64)
    if g_plus.ndim != 2 or g_minus.ndim != 2:
        raise ValueError(f"tile conductances must be 2-D, got shapes {g_plus.shape} and {g_minus.shape}")
    rows = _extent(tile, "rows", "row_slice", 0, g_plus)
    cols = _extent(tile, "cols", "col_slice", 1, g_plus)
    used_plus = g_plus[:rows, :cols]
    used_minus = g_minus[:rows, :cols]
    if used_plus.shape != (rows, cols) or used_minus.shape != (rows, cols):
        raise ValueError(
            f"tile reports {rows} x {cols} used pairs but its conductances have shapes "
            f"{g_plus.shape} and {g_minus.shape}"
        )
    g_sum = float(used_plus.sum() + used_minus.sum())
    if not math.isfinite(g_sum):
        raise ValueError("tile conductances contain NaN or infinite values")
    iters = getattr(tile, "verify_iterations", None)
    total = None
    if iters is not None:
        arr = np.asarray(iters)
        if arr.size and (not np.all(np.isfinite(arr)) or arr.min() < 0):
            raise ValueError("tile verify_iterations must be finite and >= 0")
        total = int(arr.sum())
    return TileUsage(rows=rows, cols=cols, g_sum=g_sum, verify_iterations_total=total,
                     cells=used_plus.size + used_minus.size, **offsets)


def _as_matrix(x) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().numpy()
    a = np.asarray(x, dtype=np.float64)
    if a.size == 0:
        raise ValueError("input_activity needs at least one input value")
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise ValueError(f"x must be 1-D or 2-D (batch x inputs), got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("x contains NaN or infinite values")
    return a


def input_activity(x, full_scale: float | None = None, profile=None) -> float:
    """Mean conduction energy of inputs ``x`` (batch x inputs, or one vector) per full drive.

    Each vector is scaled by its own largest magnitude, as the DAC does, or by a fixed
    ``full_scale`` (with clipping), giving |u| in [0, 1]. Without ``profile`` (or for a
    one-shot level DAC without quantisation) the result is mean u^2, the energy of a
    voltage level relative to v_read. With a profile the inputs are quantised and sliced
    as its DAC does, and each slice of w magnitude bits contributes, weighted by its
    full-scale conduction time, mean (d/D)^2 for level DACs and mean d/D for pulse-count
    and PWM DACs (charge grows with the pulses or the width), d the slice digit and
    D = 2^w - 1. Returns a value in [0, 1]; 1 is every input at full scale.
    """
    mag = np.abs(_as_matrix(x))
    if full_scale is None:
        peak = mag.max(axis=1, keepdims=True)
        u = np.divide(mag, peak, out=np.zeros_like(mag), where=peak > 0)
    else:
        fs = finite("full_scale", full_scale, minimum=0.0, strict=True)
        u = np.minimum(mag / fs, 1.0)
    power = 2 if profile is None or profile.dac_kind == "level" else 1
    m = None if profile is None else converters.magnitude_bits(profile)
    if m is None:
        return float(np.mean(u**power))
    codes = np.rint(u * (2**m - 1)).astype(np.int64)
    total = weight_sum = 0.0
    shift = 0
    for width in converters.slice_widths(profile):
        digits = (codes >> shift) & (2**width - 1)
        weight = converters.drive_units(profile, width)
        total += weight * float(np.mean((digits / (2**width - 1)) ** power))
        weight_sum += weight
        shift += width
    return total / weight_sum


def check_activity(activity) -> float:
    """``activity`` as a float in [0, 1] (the mean conduction energy per full drive)."""
    a = finite("activity", activity, minimum=0.0)
    if a > 1.0:
        raise ValueError(
            f"activity is the mean conduction energy per full-scale drive and must lie in "
            f"[0, 1], got {a}; raise v_read in the profile to model larger read voltages"
        )
    return a
