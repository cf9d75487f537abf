"""The read-voltage law per bundled physical profile, and the published PCM measurement it is
held against (the table in docs/physics.md, "Read voltage"; a test keeps them in step).

Conductance noise is relative (dI = V dG): its size against the signal does not change with V.
The circuit floor (sense noise + the column's thermal noise) is an absolute current, so relative
to I_0 = V (g_max - g_min), the current of one full-scale pair, it grows as 1 / V.

    .venv/bin/python examples/voltage_law.py
"""

from __future__ import annotations

import math

import numpy as np

from crossbar import devices
from crossbar.cost import noise_floor, voltage_range

PROFILES = ("pcm", "hermes", "reram", "neurram", "nand")


def cell_noise(profile) -> float:
    """Relative read noise of one full-scale pair (G+ = g_max, G- = g_min) over its signal."""
    g = np.array([profile.g_max, profile.g_min])
    return float(np.sqrt((profile.read_std(g) ** 2).sum()) / profile.g_range)


def profile_table() -> str:
    lines = ["| profile | V range | floor at v_read | floor at v_read_min | cell noise (relative) "
             "| V where floor = cell noise |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    for name in PROFILES:
        p = devices.load(name)
        lo, hi = voltage_range(p)
        column = p.tile_rows * (p.g_min + p.g_range / 2)  # a column of half-scale pairs
        cell = cell_noise(p)
        cross = float(noise_floor(p, hi, column)) * hi / cell  # floor ~ 1/V
        lines.append(f"| {name} | {lo:g}-{hi:g} V | {float(noise_floor(p, hi, column)):.3g} "
                     f"| {float(noise_floor(p, lo, column)):.3g} | {cell:.3g} | {cross:.3g} V |")
    return "\n".join(lines) + "\n"


def close_comparison() -> str:
    """One PCM cell at half of g_max read alone (a memory read), at the pcm profile's 0.2 V: the
    share of the read-noise variance that is the cell's own current fluctuation, against the 80 %
    Close et al. (IEDM 2010) measured on a multi-level PCM chip."""
    p = devices.load("pcm")
    g = p.g_max / 2
    cell = float(p.read_std(np.array([g]))[0])  # S
    lines = ["| V | cell current noise | circuit floor | cell share of the variance | measured |",
             "| ---: | ---: | ---: | ---: | ---: |"]
    for v in (0.1, 0.2, 0.45):
        i_cell = v * cell
        i_floor = float(noise_floor(p, v, g + p.g_min)) * v * p.g_range
        share = i_cell**2 / (i_cell**2 + i_floor**2)
        lines.append(f"| {v:g} V | {i_cell * 1e9:.1f} nA | {i_floor * 1e9:.1f} nA | {share:.0%} "
                     f"| {'80 %' if math.isclose(v, 0.2) else ''} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(profile_table())
    print(close_comparison(), end="")
