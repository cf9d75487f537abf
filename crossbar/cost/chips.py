"""The cost model against measured chips: NeuRRAM (Wan et al., Nature 2022) and HERMES
(Le Gallo et al., Nature Electronics 2023). Table and reasoning in docs/cost.md, section 8.

:func:`peak_mvm` prices one full-core MVM on a stated workload (weights uniform in
[-1, 1] mapped by the profile, inputs uniform in [-1, 1]) and scales the core to the
chip. :data:`PUBLISHED` lists the published operating points, each marked as a
calibration point (used to derive a profile number) or a prediction (not used).
:func:`calibration` re-derives the calibrated profile numbers from the published
figures, so that a test can check the bundled profiles against the derivation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from crossbar.cost.circuit import tile_cost
from crossbar.cost.layer import OPS_PER_MAC
from crossbar.cost.usage import TileUsage, input_activity
from crossbar.devices import converters

_WORKLOAD_INPUTS = np.linspace(-1.0, 1.0, 2001)  # uniform inputs, deterministic


@dataclass(frozen=True)
class ChipPoint:
    """One published operating point: profile overrides and the chip-level figures."""

    chip: str
    mode: str
    overrides: dict = field(hash=False)
    tops_per_watt: float
    tops: float | None
    role: str  # "calibration" (used to derive a profile number) or "prediction"
    source: str


_NEURRAM = "Wan et al., Nature 608, 504 (2022), Extended Data Fig. 12"
_HERMES = "Le Gallo et al., Nat. Electron. 6, 680 (2023), abstract"
CORES = {"neurram": 48, "hermes": 64}
"""Cores per chip: NeuRRAM 48 (Wan et al. 2022), HERMES 64 (Le Gallo et al. 2023)."""

PUBLISHED: tuple[ChipPoint, ...] = (
    ChipPoint("neurram", "4-bit in / 6-bit out", {"dac_bits": 4, "adc_bits": 6}, 15.95, None,
              "calibration", _NEURRAM),
    ChipPoint("neurram", "1-bit in / 3-bit out", {"dac_bits": 2, "adc_bits": 3}, 43.1, None,
              "calibration", _NEURRAM),
    ChipPoint("neurram", "8-bit in / 10-bit out, two phases", {"dac_bits": 8, "adc_bits": 6},
              6.44, None, "prediction", _NEURRAM),
    ChipPoint("hermes", "8-bit, one phase", {"signed_inputs": "bipolar"}, 9.76, 63.1,
              "calibration", _HERMES),
    ChipPoint("hermes", "8-bit, four phases", {"signed_inputs": "four_phase"}, 2.48, 16.1,
              "prediction", _HERMES),
)
"""NeuRRAM's 4- and 8-bit inputs are signed (dac_bits 4 and 8: 3 and 7 magnitude bits);
its 1-bit input has one magnitude bit, which is dac_bits 2 here (a signed 1-bit input has
no level). Its 10-bit output is two 6-bit conversions of 4-bit input slices added
digitally (docs/cost.md, section 8)."""


@dataclass(frozen=True)
class PeakFigures:
    """One full-core MVM on the stated workload, and the chip it scales to."""

    energy_per_op: float  # J per operation (one MAC = 2 operations)
    tops_per_watt: float
    mvm_time: float  # s
    tops: float  # chip-level operations per second / 1e12
    parts_per_op: dict  # J per operation: cell, dac, sense, adc, digital, buffer


def workload_g_sum(profile) -> float:
    """Sum of both halves' conductances of a full tile for weights uniform in [-1, 1].

    The mapping scales each column to its largest |w|, so |w| / w_max is uniform on
    [0, 1]: E[G+ + G-] = 2 g_min + (g_max - g_min) / 2 per pair.
    """
    pairs = profile.tile_rows * profile.tile_cols
    return pairs * (2.0 * profile.g_min + 0.5 * (profile.g_max - profile.g_min))


def peak_mvm(profile, cores: int) -> PeakFigures:
    """Energy per operation, TOPS/W and chip throughput of one full-tile MVM per core."""
    usage = TileUsage(profile.tile_rows, profile.tile_cols, workload_g_sum(profile))
    cost = tile_cost(profile, usage, input_activity(_WORKLOAD_INPUTS, profile=profile))
    ops = OPS_PER_MAC * usage.macs
    parts = {k: getattr(cost, f"energy_{k}") / ops
             for k in ("cell", "dac", "sense", "adc", "digital", "buffer")}
    return PeakFigures(
        energy_per_op=cost.energy / ops,
        tops_per_watt=ops / cost.energy / 1e12,
        mvm_time=cost.time,
        tops=cores * ops / cost.time / 1e12,
        parts_per_op=parts,
    )


def validation_rows(load) -> list[dict]:
    """Model next to publication for every point of :data:`PUBLISHED`.

    ``load(name, **overrides)`` returns a profile (``crossbar.devices.load``).
    """
    rows = []
    for point in PUBLISHED:
        fig = peak_mvm(load(point.chip, **point.overrides), CORES[point.chip])
        rows.append({"point": point, "figures": fig,
                     "tops_per_watt_error": fig.tops_per_watt / point.tops_per_watt - 1.0,
                     "tops_error": None if point.tops is None else fig.tops / point.tops - 1.0})
    return rows


def _pct(x: float) -> str:
    return f"{x:+.1%}" if abs(x) >= 0.0005 else "0.0%"


def validation_markdown(load) -> str:
    """The validation table of docs/cost.md, section 8 (energies in fJ per operation)."""
    lines = ["| chip | mode | role | TOPS/W published | TOPS/W model | diff | fJ/op: array "
             "+ drivers + ADC + rest | TOPS published | TOPS model | diff |",
             "|" + " --- |" * 10]
    for row in validation_rows(load):
        p, f = row["point"], row["figures"]
        parts = {k: v * 1e15 for k, v in f.parts_per_op.items()}
        rest = parts["sense"] + parts["digital"] + parts["buffer"]
        split = (f"{f.energy_per_op * 1e15:.1f} = {parts['cell']:.1f} + {parts['dac']:.1f} "
                 f"+ {parts['adc']:.1f} + {rest:.1f}")
        tops = "n/a" if p.tops is None else f"{p.tops:.3g}"
        err = "" if row["tops_error"] is None else _pct(row["tops_error"])
        lines.append(f"| {p.chip} | {p.mode} | {p.role} | {p.tops_per_watt:.4g} "
                     f"| {f.tops_per_watt:.4g} | {_pct(row['tops_per_watt_error'])} | {split} "
                     f"| {tops} | {f.tops:.3g} | {err} |")
    return "\n".join(lines) + "\n"


def calibration(load) -> dict[str, float]:
    """The calibrated profile numbers, re-derived from the published figures.

    NeuRRAM (Extended Data Fig. 12b at 4/6: word lines 21.8, neurons 29.1, input pulses
    11.5 fJ/op of 15.95 TOPS/W): the row driver energy per pulse is the word-line and
    input-pulse share minus the array energy the model computes; the neuron (ramp ADC)
    energy at 6 bits is the neuron share; its resolution-independent part follows from
    the 1/3 point's total. HERMES: the ADC energy per conversion is the one-phase energy
    per MVM minus array and driver energy; t_read is the one-phase MVM time not taken by
    the PWM window.
    """
    nr = load("neurram", dac_bits=4, adc_bits=6)
    ops = OPS_PER_MAC * nr.tile_rows * nr.tile_cols
    total = ops / 15.95e12
    breakdown = {"word lines": 21.8, "neurons": 29.1, "input pulses": 11.5}
    share = breakdown["neurons"] / sum(breakdown.values())
    pulses = sum(converters.drive_units(nr, w) for w in nr.slice_widths)
    cell = peak_mvm(nr, 1).parts_per_op["cell"] * ops
    dac_energy = ((1 - share) * total - cell) / (nr.tile_rows * pulses)
    adc6 = share * total / nr.tile_cols
    low = load("neurram", dac_bits=2, adc_bits=3, dac_energy=dac_energy)
    cell_low = peak_mvm(low, 1).parts_per_op["cell"] * ops
    adc3 = (ops / 43.1e12 - cell_low - low.tile_rows * dac_energy) / low.tile_cols
    step = converters.adc_scale("ramp", 3, 6, "energy")
    fixed = (adc3 - step * adc6) / (1 - step)
    he = load("hermes", signed_inputs="bipolar")
    ops_h = OPS_PER_MAC * he.tile_rows * he.tile_cols
    pwm = converters.drive_units(he, he.slice_widths[0]) * he.dac_time
    t_read = CORES["hermes"] * ops_h / 63.1e12 - pwm
    timed = load("hermes", signed_inputs="bipolar", t_read=t_read, adc_energy=0.0)
    rest = peak_mvm(timed, 1).energy_per_op * ops_h
    adc_h = (ops_h / 9.76e12 - rest) / he.tile_cols
    return {"neurram.dac_energy": dac_energy, "neurram.adc_energy": adc6,
            "neurram.adc_fixed_energy": fixed, "hermes.t_read": t_read,
            "hermes.adc_energy": adc_h}
