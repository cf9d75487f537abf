"""How a programmed array stores its per-cell read state, and how a read gets its operands back.

The read state of an array (the normalised G+ - G- and the per-cell read-noise
variance, bands x tile_rows x outputs) is stored as compactly as its precision
argument allows (docs/physics.md, "Stored state"):

- the conductance in float16 when the cells have white read noise and the
  profile no drift (its rounding far below the read noise; the 8-byte budget of
  issue 27), else float32 (noiseless cells, where rounding would be the only
  error, drifting profiles, re-aged from their regenerated programming, and 1/f
  read noise, whose session and call parts are added to it per cell);
- the variance as one bfloat16 value, expanded to the buffer's shape without
  copies, when every cell has the same variance (a read-noise law that does
  not depend on the conductance, e.g. ReRAM's constant one); as a table of the
  variance of a pair against its float16 value (one cell at g_min), looked up
  per read, where that table gives every cell's variance within the variance
  product's allowance (:func:`variance_table`, :func:`derivable`: NAND, whose
  read noise vanishes at g_min); else per cell;
- no copy at all where the cells hold the mapped weights exactly (the ideal
  profile, :func:`holds_weights`): the conductance buffer is the array's
  float32 weights themselves seen as row bands (:func:`weight_bands`), read
  with a column scale of 1 instead of w_max (the same product, without the
  rounding of w / w_max).

A read multiplies float32 and bfloat16 operands: :class:`Products` computes its
products with the bands of the stored buffers, reading a float16 band through an
exact float32 copy in a reused scratch, a variance stored as one value through
the row sums of the squared inputs, and a variance table through a look-up of
the band's float16 bit patterns into a reused bfloat16 scratch.
"""

from __future__ import annotations

import numpy as np
import torch

from . import adc_kernels, variance, wires

# A variance table's entries: the float16 bit patterns of |value| from 0 to 2 (sign bit cleared).
TABLE_SIZE = 0x4000 + 1
# What a table's variance may miss a cell's by, relative: a bfloat16's own rounding (2^-8, what a
# variance stored per cell has) and the float16 conductance's rounding of G (2^-11, at most twice
# that in the variance: 2^-10). The variance product's bound becomes (1 + 2^-8)^2 (1 + ALLOWANCE)
# (1 + rows 2^-24) - 1 for it (crossbar.read.ops.variance_error_bound: (1 + 2^-8)^3 ...).
ALLOWANCE = 2.0**-8 + 2.0**-10


def holds_weights(profile) -> bool:
    """Whether the cells of ``profile`` hold exactly the mapped weights w / w_max, so that an
    array's read state is its float32 weights themselves: no output, programming or read
    noise, continuous levels, no faults, drift or wires, no circuit noise (an abstract kind)
    and an ideal ADC (no full scale in units of w_max to compare currents with)."""
    p = profile
    return (p.kind == "abstract" and p.output_noise is None and p.programming_noise.is_zero
            and p.read_noise.is_zero and p.levels is None and p.drift is None and p.adc_bits is None
            and p.stuck_on_rate == 0 and p.stuck_off_rate == 0 and wires.of(p) is None)


def weights_home(W: torch.Tensor, profile) -> torch.Tensor:
    """A copy of ``W`` (inputs x outputs, float32) for an array of ``profile`` to keep: where the
    profile :func:`holds_weights`, in a storage padded with zero rows to whole row bands (so that
    :func:`weight_bands` is a view of it)."""
    n_in, n_out = W.shape
    height = min(profile.tile_rows, n_in)
    rows = -(-n_in // height) * height
    if rows == n_in or not holds_weights(profile):
        return W.detach().clone()
    padded = W.new_zeros(rows, n_out)
    padded[:n_in] = W.detach()
    return padded[:n_in]


def weight_bands(array) -> torch.Tensor:
    """``array.weights`` as row bands (bands x tile rows x outputs): a view of their storage where
    it holds whole bands (:func:`weights_home`), else a padded copy (after a move to a device)."""
    w = array.weights
    bands, height, n_out = len(array.bands), max(r1 - r0 for r0, r1 in array.bands), w.shape[1]
    if w.is_contiguous() and w.untyped_storage().nbytes() >= (
            w.storage_offset() + bands * height * n_out) * w.element_size():
        return w.as_strided((bands, height, n_out), (height * n_out, n_out, 1))
    g = w.new_zeros(bands, height, n_out)
    g.view(bands * height, n_out)[: w.shape[0]] = w
    return g


def stored(g: torch.Tensor | None, variance: torch.Tensor | None, array
           ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The stored forms, on the device of ``array``'s weights, of its conductance ``g`` (float32,
    bands x rows x outputs; None where the profile :func:`holds_weights`) and cell variances
    ``variance`` (float32 where the profile :func:`may_tabulate`, else bfloat16; rounded to
    bfloat16 here; None without read noise)."""
    device = array.weights.device
    if g is None:
        return weight_bands(array), None
    if variance is None:
        return g.to(device), None
    cells = variance.to(torch.bfloat16)
    if array.profile.read_noise.spectrum == "1/f":  # a session's and a call's parts added per cell
        return g.to(device), cells.to(device)
    conductance = g.to(torch.float16) if array.profile.drift is None else g
    first = cells[0, 0, 0]
    if all(bool((cells[i, : r1 - r0] == first).all()) for i, (r0, r1) in enumerate(array.bands)):
        return conductance.to(device), first.reshape(1, 1, 1).clone().expand(cells.shape).to(device)
    if may_tabulate(array.profile) and cells.numel() > TABLE_SIZE:
        table = variance_table(array.profile, array.time)
        if derivable(conductance, variance, table, array):
            return conductance.to(device), table.to(device)
    return conductance.to(device), cells.to(device)


def may_tabulate(profile) -> bool:
    """Whether an array of ``profile`` may store its variance as a table (white read noise, no drift
    or wires): the assembly then keeps the cells' float32 variances for :func:`derivable`."""
    return profile.read_noise.spectrum != "1/f" and profile.drift is None and wires.of(profile) is None


def variance_table(profile, t: float) -> torch.Tensor:
    """Per float16 bit pattern b < TABLE_SIZE of a stored |value| v, the normalised read-noise
    variance of a pair with one cell at G = g_min + v (g_max - g_min) and the other at g_min
    (``Tile.pair_variance``'s float64 law, rounded to float32 and then bfloat16 as a cell's is),
    ``t`` s after programming (without wires: each cell's own gain would be missing)."""
    v = torch.arange(TABLE_SIZE, dtype=torch.int16).view(torch.float16).double().numpy()
    g_range = profile.g_max - profile.g_min
    f_hi = profile.read_split(profile.g_min + v * g_range, t)[1]
    f_lo = profile.read_split(np.array([profile.g_min]), t)[1]
    var = (f_hi**2 + f_lo**2) / g_range**2
    return torch.from_numpy(var.astype(np.float32)).to(torch.bfloat16)


def derivable(conductance: torch.Tensor, variance: torch.Tensor, table: torch.Tensor, array) -> bool:
    """Whether ``table`` gives every cell's variance from its float16 ``conductance`` within
    ``ALLOWANCE`` of its float32 ``variance`` plus ``ALLOWANCE`` of its column's circuit-noise floor
    per tile row (the error, summed over a column's rows at full input, stays within ``ALLOWANCE``
    of the noise a conversion has; pairs at g_min whose own read noise is far below both: NAND's,
    5.8e-9 of the range per cell against a floor of 1.6e-3)."""
    height = conductance.shape[1]
    floor = torch.zeros(len(array.bands), conductance.shape[2], dtype=torch.float64)
    starts = [r0 for r0, _ in array.bands]
    for tile in array.tiles:
        floor[starts.index(tile.row_slice.start), tile.col_slice] = torch.from_numpy(tile.floor)
    for i, (r0, r1) in enumerate(array.bands):
        index = conductance[i, : r1 - r0].view(torch.int16).to(torch.int64) & 0x7FFF
        if int(index.max()) >= TABLE_SIZE:
            return False
        exact = variance[i, : r1 - r0].double()
        error = (table[index].double() - exact).abs()
        if not bool((error <= ALLOWANCE * (exact + floor[i] / height)).all()):
            return False
    return True


def cell_variances(conductance: torch.Tensor, variance: torch.Tensor, i: int, rows: int) -> torch.Tensor:
    """The bfloat16 cell variances of band ``i``'s first ``rows`` rows, whatever their stored form
    (per cell, one value, or a table looked up with the float16 conductance; any device)."""
    if variance.dim() == 3:
        return variance[i, :rows]
    return variance[conductance[i, :rows].view(torch.int16).to(torch.int64) & 0x7FFF]


class Products:
    """The products of one read (or calibration) with the row bands of stored buffers.

    ``current(i, rows, u, out)``: ``u @ conductance`` of band ``i``'s first ``rows`` rows into
    ``out``; ``spread(i, rows, u2, out)``: the bfloat16 variance product (its bits through
    float32 where faster, :mod:`crossbar.read.variance`). A float16
    conductance band is converted exactly to float32 once per read: the first bands, as many
    as a reused scratch of at most ``budget`` values (``scratch(name, numel, dtype)``) holds,
    in one pass at their first use, the rest into a scratch of one band each time it is
    used; a variance table is looked up the same way. A variance stored as one value v is
    the row sums of u^2 times v (the same within the variance product's bound,
    :func:`crossbar.read.ops.variance_error_bound`), no product at all.
    """

    def __init__(self, conductance: torch.Tensor, variance: torch.Tensor | None, scratch,
                 budget: int) -> None:
        self._g, self._var, self._scratch = conductance, variance, scratch
        bands, height, n_out = conductance.shape
        self._cached = 0 if plain(conductance, torch.float32) else min(bands, budget // (height * n_out))
        self._converted = self._looked_up = False  # the cached bands, all at once at first use
        self._table = variance if variance is not None and variance.dim() == 1 else None
        self._one, self._lead = None, None
        if self._table is None and not plain(variance, torch.bfloat16):
            self._one = float(variance[0, 0, 0])

    @property
    def batched(self) -> bool:
        """Whether the full-height bands can be multiplied in one batched product (float32 at hand
        for every band: stored so, or all converted into the scratch; a variance per cell, stored
        or looked up into the scratch)."""
        return self._one is None and self._cached in (0, len(self._g)) and (
            self._cached > 0 or plain(self._g, torch.float32))

    def leading(self, full: int) -> torch.Tensor:
        """The first ``full`` bands (full height) as float32, when :attr:`batched`."""
        if plain(self._g, torch.float32):
            return self._g[:full]
        return self._cache()[:full]

    def leading_variance(self, full: int) -> torch.Tensor:
        """The cell variances of the first ``full`` bands (bfloat16), when :attr:`batched`."""
        if self._table is None:
            return self._var[:full]
        return self._variance_cache()[:full]

    def _variance_cache(self) -> torch.Tensor:
        """The cached bands' cell variances (bfloat16), looked up in one pass at first use."""
        g = self._g
        cache = self._scratch("bands variance", g[: self._cached].numel(), torch.bfloat16)
        if not self._looked_up:
            adc_kernels.look_up(bits(g[: self._cached]).ravel(), bits(self._table), bits(cache))
            self._looked_up = True
        return cache.view(self._cached, *g.shape[1:])

    def _cache(self) -> torch.Tensor:
        """The cached bands as float32, converted in one pass at first use."""
        g = self._g
        cache = self._scratch("bands float32", g[: self._cached].numel()).view(self._cached, *g.shape[1:])
        if not self._converted:
            cache.copy_(g[: self._cached])
            self._converted = True
        return cache

    def current(self, i: int, rows: int, u: torch.Tensor, out: torch.Tensor) -> None:
        torch.matmul(u, self._float32(i, rows), out=out)

    def _float32(self, i: int, rows: int) -> torch.Tensor:
        g, n_out = self._g, self._g.shape[2]
        if plain(g, torch.float32):
            return g[i, :rows]
        if i >= self._cached:
            return self._scratch("band float32", rows * n_out).view(rows, n_out).copy_(g[i, :rows])
        return self._cache()[i, :rows]

    def spread_leading(self, full: int, u2: torch.Tensor, out: torch.Tensor) -> None:
        """The variance product of the first ``full`` bands in one batched product (when
        :attr:`batched`); their widened variances (:mod:`crossbar.read.variance`) kept for the
        read's later chunks."""
        self._lead = variance.product(u2, self.leading_variance(full), out, self._scratch, self._lead,
                                      "variance operand leading")

    def spread(self, i: int, rows: int, u2: torch.Tensor, out: torch.Tensor) -> None:
        if self._table is not None:
            variance.product(u2, self._looked_up_band(i, rows), out, self._scratch)
        elif self._one is None:
            variance.product(u2, self._var[i, :rows], out, self._scratch)
        else:
            sums = torch.sum(u2, dim=1, dtype=torch.float32) * self._one
            out.copy_(sums.to(torch.bfloat16)[:, None].expand_as(out))

    def _looked_up_band(self, i: int, rows: int) -> torch.Tensor:
        """Band ``i``'s cell variances from the table (bfloat16), looked up once per read."""
        g, n_out = self._g, self._g.shape[2]
        if i < self._cached:
            return self._variance_cache()[i, :rows]
        band = self._scratch("band variance", rows * n_out, torch.bfloat16).view(rows, n_out)
        adc_kernels.look_up(bits(g[i, :rows]).ravel(), bits(self._table), bits(band).ravel())
        return band


def bits(t: torch.Tensor) -> np.ndarray:
    """The uint16 bit patterns of a bfloat16 or float16 CPU tensor, as a NumPy view (no copy)."""
    return t.view(torch.int16).numpy().view(np.uint16)


def plain(buffer: torch.Tensor | None, dtype: torch.dtype) -> bool:
    """Whether a stored buffer (or None) is read as it is: of ``dtype``, one value per cell."""
    return buffer is None or (buffer.dtype == dtype and buffer.stride(-1) == 1)
