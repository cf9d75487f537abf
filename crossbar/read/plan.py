"""The reads one MVM makes under a profile's converter settings (docs/physics.md, "Converters").

A :class:`ReadPlan` turns the profile fields into what the read path needs: the
DAC code resolution, the input slices (magnitude bits, LSB first), the phases that
are converted apart, the shift-and-add weight and phase sign of every read, the
ADC resolution and the range management. The slice and phase counts come from
:mod:`crossbar.devices.converters`, the definitions the cost model counts with, so
accuracy and cost follow one profile.

Reads are numbered r = slice * phases + phase. An ADC that accumulates the phases
during the read (``adc_during_read``) converts Σ_φ sign_φ c(s, φ), whose mean and
noise variance are those of one bipolar read (each cell conducts in one phase, the
phases' noise is independent), so it is planned as one phase.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from crossbar.devices import converters


@dataclass(frozen=True)
class ReadPlan:
    """``bits``: DAC resolution (0 = ideal); ``widths``: magnitude bits per slice, LSB first
    ((0,) for an ideal DAC); ``phases``: 1, or 2 for positive and negative inputs converted
    apart; ``weights``: per read, sign_φ D_s 2^(o_s) / K (1 for an ideal DAC); ``adc_bits``
    (0 = ideal); range management ``mode``, ``percentile``, ``max_rereads``."""

    bits: int
    widths: tuple[int, ...]
    phases: int
    weights: tuple[float, ...]
    adc_bits: int
    mode: str
    percentile: float | None
    max_rereads: int

    @classmethod
    def of(cls, profile) -> ReadPlan:
        bits = profile.dac_bits or 0
        widths = tuple(w or 0 for w in converters.slice_widths(profile))
        phases = 1 if profile.adc_during_read else converters.phases(profile)
        if phases not in (1, 2):  # four_phase is only valid with an accumulating ADC
            raise ValueError(f"{phases} separately converted phases are not modelled")
        levels = 2 ** (bits - 1) - 1 if bits else 1
        weights, offset = [], 0
        for w in widths:
            slice_weight = (2**w - 1) * 2**offset / levels if bits else 1.0
            weights += [slice_weight, -slice_weight][:phases]
            offset += w
        rm = profile.range_management
        return cls(bits, widths, phases, tuple(weights), profile.adc_bits or 0, rm.mode,
                   rm.percentile, rm.max_rereads or 0)

    @property
    def reads(self) -> int:
        """Reads (and conversions) per column and MVM: slices x separately converted phases."""
        return len(self.widths) * self.phases

    @property
    def widths_array(self) -> np.ndarray:
        return np.array(self.widths, dtype=np.int64)

    @property
    def weights_array(self) -> np.ndarray:
        return np.array(self.weights, dtype=np.float64)

    def voltages(self, u: torch.Tensor, alpha: torch.Tensor | float = 1.0) -> torch.Tensor:
        """The row voltages (reads x rows x inputs, normalised to v_read) of inputs ``u`` in [-1, 1]
        (rows x inputs) scaled by ``alpha`` (per row, bound management) and re-quantised:
        k = rint(alpha u K). Plain torch: the reference of :func:`crossbar.read.dac_kernels.dac`."""
        scaled = u * alpha
        if not self.bits:
            v = scaled[None]
        else:
            levels = float(2 ** (self.bits - 1) - 1)
            k = torch.round(scaled * levels)
            if self.reads == 1:
                return (k / levels)[None]
            mag, sign = k.abs(), torch.sign(k)
            parts, offset = [], 0
            for w in self.widths:
                digit = torch.remainder(torch.floor(mag / 2**offset), 2**w)
                parts.append(sign * digit / (2**w - 1))
                offset += w
            v = torch.stack(parts)
        if self.phases == 2:
            v = torch.stack([v.clamp(min=0), (-v).clamp(min=0)], dim=1).flatten(0, 1)
        return v


@dataclass
class ReadStats:
    """What an array's reads did since the last :meth:`reset`: ADC conversions kept,
    of which clipped, and tile re-reads of bound management."""

    conversions: int = 0
    clipped: int = 0
    rereads: int = 0

    def add(self, conversions: int, clipped: int, rereads: int = 0) -> None:
        self.conversions += conversions
        self.clipped += clipped
        self.rereads += rereads

    def reset(self) -> None:
        self.conversions = self.clipped = self.rereads = 0

    @property
    def clipping_rate(self) -> float:
        """Clipped conversions / conversions (NaN before any read)."""
        return self.clipped / self.conversions if self.conversions else math.nan
