"""How a programmed array stores its per-cell read state, and how a read gets its operands back.

The read state of an array (the normalised G+ - G- and the per-cell read-noise
variance, bands x tile_rows x outputs) is stored as compactly as its precision
argument allows (docs/physics.md, "Stored state"):

- the conductance in float16 when the cells have read noise and the profile no
  drift (its rounding far below the read noise; the 8-byte budget of issue 27),
  else float32 (noiseless cells, where rounding would be the only error, and
  drifting profiles, re-aged from their regenerated programming);
- the variance as one bfloat16 value, expanded to the buffer's shape without
  copies, when every cell has the same variance (a read-noise law that does
  not depend on the conductance, e.g. ReRAM's constant one), else per cell.

A read multiplies float32 and bfloat16 operands: :class:`Products` computes its
products with the bands of the stored buffers, reading a float16 band through an
exact float32 copy in a reused scratch, and a variance stored as one value
through the row sums of the squared inputs.
"""

from __future__ import annotations

import torch


def stored(g: torch.Tensor, variance: torch.Tensor | None, array) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The stored forms, on the device of ``array``'s weights, of its conductance ``g`` (float32,
    bands x rows x outputs) and cell variances ``variance`` (bfloat16, None without read noise)."""
    device = array.weights.device
    if variance is None:
        return g.to(device), None
    conductance = g if array.profile.drift is not None else g.to(torch.float16)
    first = variance[0, 0, 0]
    if all(bool((variance[i, : r1 - r0] == first).all()) for i, (r0, r1) in enumerate(array.bands)):
        variance = first.reshape(1, 1, 1).clone().expand(variance.shape)
    return conductance.to(device), variance.to(device)


class Products:
    """The products of one read (or calibration) with the row bands of stored buffers.

    ``current(i, rows, u, out)``: ``u @ conductance`` of band ``i``'s first ``rows`` rows into
    ``out``; ``spread(i, rows, u2, out)``: the bfloat16 variance product. A float16
    conductance band is converted exactly to float32 once per read: into a reused scratch
    of at most ``budget`` values (``scratch(name, numel, dtype)``) for the first bands,
    the rest into a scratch of one band each time it is used. A variance stored as one
    value v is the row sums of u^2 times v (the same within the variance product's bound,
    :func:`crossbar.read.ops.variance_error_bound`), no product at all.
    """

    def __init__(self, conductance: torch.Tensor, variance: torch.Tensor | None, scratch,
                 budget: int) -> None:
        self._g, self._var, self._scratch = conductance, variance, scratch
        bands, height, n_out = conductance.shape
        self._cached = 0 if plain(conductance, torch.float32) else min(bands, budget // (height * n_out))
        self._converted = [False] * self._cached
        self._one = None if plain(variance, torch.bfloat16) else float(variance[0, 0, 0])

    @property
    def batched(self) -> bool:
        """Whether the full-height bands can be multiplied in one batched product (float32 at hand
        for every band: stored so, or all converted into the scratch; a variance per cell)."""
        return self._one is None and self._cached in (0, len(self._g)) and (
            self._cached > 0 or plain(self._g, torch.float32))

    def leading(self, full: int) -> torch.Tensor:
        """The first ``full`` bands (full height) as float32, when :attr:`batched`."""
        if plain(self._g, torch.float32):
            return self._g[:full]
        for i in range(full):
            self._float32(i, self._g.shape[1])
        return self._cache()[:full]

    def _cache(self) -> torch.Tensor:
        g = self._g
        return self._scratch("bands float32", g[: self._cached].numel()).view(self._cached, *g.shape[1:])

    def current(self, i: int, rows: int, u: torch.Tensor, out: torch.Tensor) -> None:
        torch.matmul(u, self._float32(i, rows), out=out)

    def _float32(self, i: int, rows: int) -> torch.Tensor:
        g, n_out = self._g, self._g.shape[2]
        if plain(g, torch.float32):
            return g[i, :rows]
        if i >= self._cached:
            return self._scratch("band float32", rows * n_out).view(rows, n_out).copy_(g[i, :rows])
        cache = self._cache()
        if not self._converted[i]:
            cache[i, :rows].copy_(g[i, :rows])
            self._converted[i] = True
        return cache[i, :rows]

    def spread(self, i: int, rows: int, u2: torch.Tensor, out: torch.Tensor) -> None:
        if self._one is None:
            torch.matmul(u2, self._var[i, :rows], out=out)
        else:
            sums = torch.sum(u2, dim=1, dtype=torch.float32) * self._one
            out.copy_(sums.to(torch.bfloat16)[:, None].expand_as(out))


def plain(buffer: torch.Tensor | None, dtype: torch.dtype) -> bool:
    """Whether a stored buffer (or None) is read as it is: of ``dtype``, one value per cell."""
    return buffer is None or (buffer.dtype == dtype and buffer.stride(-1) == 1)
