"""The read-voltage / noise / energy trade-off (Qin & Vucinic, end of Section 3.3).

Lowering the read voltage V saves cell read energy (E_cell ~ V^2). The physical law
(docs/physics.md, "Read voltage"): a cell's read noise is a fluctuation of its
conductance, dI = V dG, whose size relative to the signal does not depend on V; only
the absolute current noise of the column (sense and ADC input-referred noise, the
cells' thermal noise) grows relative to the signal as V drops, and a device cannot be
read below its minimum read voltage (``profile.v_read_min``):

    relative noise of a column output  = sqrt(sigma_cell^2 + (floor(V) / signal)^2)
    floor(V) = sqrt(sense_noise^2 + 4 k T G_col / (2 t_read)) / (V (g_max - g_min))

with the signal in units of I_0 = V (g_max - g_min). The read path applies exactly this
law to a profile read at V (:func:`at_voltage`), so accuracy at V is measured, not
assumed: :func:`crossbar.cost.voltage_optimum` finds the cheapest (V, K) from it.

The power law sigma(V) = sigma0 (V0 / V)^a of the first functions below is the
earlier assumption (a = 1: noise current independent of V; a = 0.5: shot-noise-like),
kept for the noise-scale budget search that prices a tolerable noise scale s as a
voltage; it is not the device law.
"""

from __future__ import annotations

import numpy as np

from crossbar.cost._checks import finite
from crossbar.cost.model import LayerCost, NetworkCost
from crossbar.read.tile import noise_floor as _floor_variance


def _positive(name: str, x, allow_zero: bool = False):
    """Finite (array of) values > 0 (>= 0 with ``allow_zero``); scalars come back as float."""
    if isinstance(x, bool):
        raise ValueError(f"{name} must be a number, got {x!r}")
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or array of numbers, got {x!r}") from None
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite, got {x!r}")
    if not (np.all(a >= 0) if allow_zero else np.all(a > 0)):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {x!r}")
    return float(a) if a.ndim == 0 else a


def read_energy_at_voltage(e0: float, v, v0: float):
    """Cell read energy at voltage ``v`` given ``e0`` at ``v0``: e0 * (v / v0)^2."""
    e0 = finite("e0", e0, minimum=0.0)
    v = _positive("v", v, allow_zero=True)
    v0 = finite("v0", v0, minimum=0.0, strict=True)
    return e0 * (v / v0) ** 2


# ----------------------------------------------------------------------------- the physical law


def voltage_range(profile) -> tuple[float, float]:
    """(lowest, nominal) read voltage of ``profile`` (V): ``v_read_min`` and ``v_read``."""
    return float(profile.v_read_min), float(profile.v_read)


def at_voltage(profile, v: float):
    """``profile`` read at ``v`` volts (validated: a ProfileError below ``v_read_min``). Its
    reads then carry the circuit floor of ``v``; the conductance noise is unchanged."""
    return profile.with_overrides(v_read=finite("v", v, minimum=0.0, strict=True))


def noise_floor(profile, v, g_column: float | None = None):
    """Circuit noise std of one conversion at read voltage ``v`` (array allowed), relative to
    I_0 = v (g_max - g_min): sqrt(sense_noise^2 + 4 k T g_column / (2 t_read)) / I_0, times
    noise_scale. ``g_column``: the column's summed conductance (S); default the largest, every
    pair of a full tile at g_max + g_min."""
    v = _positive("v", v)
    if g_column is None:
        g_column = profile.tile_rows * (profile.g_max + profile.g_min)
    g = finite("g_column", g_column, minimum=0.0)
    return np.sqrt(_floor_variance(profile, g, v)) if np.ndim(v) == 0 else np.sqrt(
        np.array([_floor_variance(profile, g, float(x)) for x in np.ravel(v)]).reshape(np.shape(v)))


def relative_read_noise(profile, v, signal: float, cell_sigma: float, g_column: float | None = None):
    """Relative noise of a column output at ``v``: sqrt(cell_sigma^2 + (floor(v) / signal)^2).

    ``signal``: the column's signal in units of I_0 (the current of one full-scale pair at
    full input); ``cell_sigma``: its conductance fluctuation relative to the signal, which
    does not depend on v."""
    s = finite("signal", signal, minimum=0.0, strict=True)
    c = finite("cell_sigma", cell_sigma, minimum=0.0)
    return np.sqrt(c**2 + (noise_floor(profile, v, g_column) / s) ** 2)


def energy_at_voltage(cost: NetworkCost | LayerCost, v, v0: float, periphery_scales: bool = False):
    """Energy per inference read at ``v`` given ``cost`` at ``v0``: the cell energy scales as
    (v / v0)^2, DAC, ADC and digital energy stay (``periphery_scales``: all of it scales)."""
    if not isinstance(cost, NetworkCost | LayerCost):
        raise ValueError(f"cost must be a NetworkCost or LayerCost, got {type(cost).__name__}")
    if periphery_scales:
        return read_energy_at_voltage(cost.energy, v, v0)
    return read_energy_at_voltage(cost.energy_cell, v, v0) + (cost.energy - cost.energy_cell)
