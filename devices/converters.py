"""Converter semantics shared by the read path and the cost model: input slices, read
phases, conversions, and how ADC energy, time and area scale with resolution.

The equations are in docs/physics.md ("Converters") and docs/cost.md. Every helper
takes a profile (or any object with the same attribute names) so that the read path
and the cost model count slices, phases and conversions from one definition.

Resolution laws, g(b) relative to g(b_ref) at the profile's ``adc_ref_bits``:

    kind    energy          time        area
    sar     b               b           2^(b/2)   (one comparison per bit; capacitive DAC)
    flash   2^b - 1         1           2^b - 1   (one comparator per threshold)
    ramp    2^(b-1)         2^(b-1)     1         (one step per magnitude level)

E(b) = adc_fixed_energy + (adc_energy - adc_fixed_energy) * gE(b) / gE(b_ref).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from ._checks import ProfileError

ENCODINGS = ("one_shot", "bit_serial")
DAC_KINDS = ("level", "pulse_count", "pwm")
SIGNED_INPUTS = ("bipolar", "two_phase", "four_phase")
ADC_KINDS = ("sar", "flash", "ramp")
PHASES = {"bipolar": 1, "two_phase": 2, "four_phase": 4}
MAX_SLICE_BITS = 8  # at most 255 unit pulses or PWM steps per slice
MIN_BITS = 2  # a signed b-bit converter has 2^(b-1) - 1 levels per polarity


def magnitude_bits(p: Any) -> int | None:
    """Magnitude bits m = dac_bits - 1 of a quantised input (None for an ideal DAC)."""
    return None if p.dac_bits is None else p.dac_bits - 1


def slice_widths(p: Any) -> tuple[int | None, ...]:
    """Magnitude bits of each input slice, least significant first.

    one_shot: (m,) (or (None,) for an ideal DAC); bit_serial: ceil(m / s) slices of
    s = ``slice_bits`` from the LSB, the most significant one keeping the remainder.
    """
    m = magnitude_bits(p)
    if p.input_encoding == "one_shot":
        return (m,)
    s = p.slice_bits
    full, rest = divmod(m, s)
    return (s,) * full + ((rest,) if rest else ())


def phases(p: Any) -> int:
    """Reads per slice: 1 (bipolar), 2 (x+ and x-), 4 (x+/x- times G+/G-)."""
    return PHASES[p.signed_inputs]


def drive_units(p: Any, width: int | None) -> int:
    """Unit pulses or PWM steps of a full-scale slice: 2^w - 1 (1 for a level DAC)."""
    if p.dac_kind == "level" or width is None:
        return 1
    return 2**width - 1


def conversions_per_column(p: Any) -> int:
    """ADC conversions per column and MVM: slices x phases (one per slice if the ADC
    integrates during the read and accumulates the phases)."""
    return len(slice_widths(p)) * (1 if p.adc_during_read else phases(p))


def _law(kind: str, bits: int, quantity: str) -> float:
    if kind == "sar":
        return {"energy": bits, "time": bits, "area": 2.0 ** (bits / 2)}[quantity]
    if kind == "flash":
        return {"energy": 2**bits - 1, "time": 1, "area": 2**bits - 1}[quantity]
    return {"energy": 2 ** (bits - 1), "time": 2 ** (bits - 1), "area": 1}[quantity]


def adc_scale(kind: str, bits: int, ref_bits: int, quantity: str) -> float:
    """g(bits) / g(ref_bits) for ``quantity`` in energy | time | area (table above)."""
    return _law(kind, bits, quantity) / _law(kind, ref_bits, quantity)


def adc_bits_priced(p: Any) -> int:
    """The resolution the cost model prices: adc_bits, or adc_ref_bits for an ideal ADC."""
    return p.adc_ref_bits if p.adc_bits is None else p.adc_bits


def adc_energy_at(p: Any) -> float:
    """Energy (J) of one conversion at the priced resolution."""
    scale = adc_scale(p.adc_kind, adc_bits_priced(p), p.adc_ref_bits, "energy")
    return p.adc_fixed_energy + (p.adc_energy - p.adc_fixed_energy) * scale


def adc_time_at(p: Any) -> float:
    """Time (s) of one conversion at the priced resolution."""
    return p.adc_time * adc_scale(p.adc_kind, adc_bits_priced(p), p.adc_ref_bits, "time")


def adc_area_at(p: Any, area_at_ref: float) -> float:
    """Area (m²) of one ADC at the priced resolution, given its area at adc_ref_bits."""
    return area_at_ref * adc_scale(p.adc_kind, adc_bits_priced(p), p.adc_ref_bits, "area")


def check(values: dict, file: str) -> None:
    """Reject converter settings that are meaningless or that the read path cannot honour.

    ``values`` are the parsed profile fields (dataclass names). Each error names the
    YAML key, the value and what is allowed.
    """
    p = SimpleNamespace(**values)
    m = magnitude_bits(p)
    if p.input_encoding == "bit_serial":
        if m is None:
            raise ProfileError(file, "dac_bits", "bit_serial inputs need a finite input "
                               "resolution to slice", None, "2..16 with input_encoding: bit_serial")
        if p.slice_bits is None or p.slice_bits > MAX_SLICE_BITS:
            raise ProfileError(file, "slice_bits", "bit_serial inputs need the magnitude "
                               "bits per slice", p.slice_bits, f"an integer 1..{MAX_SLICE_BITS}")
    elif p.slice_bits is not None:
        raise ProfileError(file, "slice_bits", "only bit_serial inputs are sliced",
                           p.slice_bits, "null with input_encoding: one_shot")
    if p.dac_kind != "level":
        widest = max(slice_widths(p), key=lambda w: -1 if w is None else w)
        if widest is None or widest > MAX_SLICE_BITS:
            raise ProfileError(file, "dac_kind", "a time-coded DAC sends 2^w - 1 pulses or "
                               f"steps per slice of w magnitude bits (here {widest})",
                               p.dac_kind, f"level, or slices of 1..{MAX_SLICE_BITS} "
                               "magnitude bits (set dac_bits or slice_bits)")
        if p.dac_kind == "pulse_count" and p.t_read > p.dac_time:
            raise ProfileError(file, "t_read_s", "with pulse_count inputs t_read is the "
                               "conduction window inside each pulse of period dac_time",
                               p.t_read, f"<= dac_time_s = {p.dac_time:g} s")
    if p.adc_during_read and p.adc_kind != "ramp":
        raise ProfileError(file, "adc_during_read", "only an integrating (ramp) ADC converts "
                           "while the inputs are applied", True, "false, or adc_kind: ramp")
    if p.signed_inputs == "four_phase" and not p.adc_during_read:
        raise ProfileError(file, "signed_inputs", "four single-sign reads converted "
                           "separately are not modelled; an integrating ADC must accumulate "
                           "them", "four_phase", "bipolar | two_phase, or adc_during_read: true")
    if p.adc_fixed_energy > p.adc_energy:
        raise ProfileError(file, "adc_fixed_energy_J", "the resolution-independent part "
                           "cannot exceed the whole energy per conversion",
                           p.adc_fixed_energy, f"<= adc_energy_J = {p.adc_energy:g} J")
    rm = p.range_management
    if p.adc_bits is None and rm.mode != "fixed":
        raise ProfileError(file, "range_management.mode", "an ideal ADC (adc_bits: null) "
                           "neither clips nor quantises", rm.mode, "fixed")
    if rm.mode == "bound_management" and m is not None and rm.max_rereads > m - 1:
        raise ProfileError(file, "range_management.max_rereads", f"halving a {m}-bit "
                           "magnitude more than m - 1 times leaves no input level",
                           rm.max_rereads, f"1..{m - 1}" if m > 1 else
                           "another mode (dac_bits 2 cannot be halved)")
