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

A read multiplies float32 and bfloat16 operands: :func:`operand` hands it a band
of a stored buffer as that operand, the buffer itself or, where the stored form
differs, an exact copy in a scratch buffer the size of one band.
"""

from __future__ import annotations

import torch


def stored(g: torch.Tensor, variance: torch.Tensor | None, bands: tuple[tuple[int, int], ...], drift: bool,
           device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The stored forms, on ``device``, of the conductance ``g`` (float32) and the cell variances
    ``variance`` (bfloat16, None without read noise) of the row ``bands`` (first, end) of an
    array (``drift``: its profile has drift)."""
    if variance is None:
        return g.to(device), None
    conductance = g if drift else g.to(torch.float16)
    first = variance[0, 0, 0]
    if all(bool((variance[i, : r1 - r0] == first).all()) for i, (r0, r1) in enumerate(bands)):
        variance = first.reshape(1, 1, 1).clone().expand(variance.shape)
    return conductance.to(device), variance.to(device)


def operand(buffer: torch.Tensor, i: int, rows: int, dtype: torch.dtype, scratch) -> torch.Tensor:
    """Band ``i``'s first ``rows`` rows of a stored buffer as a product's operand in ``dtype``: the
    buffer itself, or its values copied exactly (float16 to float32, one variance repeated) into
    ``scratch(name, numel, dtype)``, a reused buffer the size of one band."""
    band = buffer[i, :rows]
    if plain(buffer, dtype):
        return band
    return scratch(f"band {dtype}", band.numel(), dtype).view(band.shape).copy_(band)


def plain(buffer: torch.Tensor | None, dtype: torch.dtype) -> bool:
    """Whether a stored buffer (or None) is read as it is: of ``dtype``, one value per cell."""
    return buffer is None or (buffer.dtype == dtype and buffer.stride(-1) == 1)
