"""The read-voltage / noise / energy trade-off (Qin & Vucinic, end of Section 3.3).

Lowering the read voltage V saves cell read energy (E_cell ~ V^2) but makes
the read noise larger relative to the signal:

    sigma(V) = sigma0 * (V0 / V)^a

with sigma0 the relative noise at the profile's V0 = v_read. a = 1 when the
absolute noise current does not depend on V (signal ~ V); a = 0.5 for noise
whose power grows like the signal current (shot-noise-like); configurable.
"""

from __future__ import annotations

import numpy as np

from crossbar.cost._checks import finite
from crossbar.cost.model import LayerCost, NetworkCost


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


def sigma_at_voltage(sigma0: float, v, v0: float, a: float = 1.0):
    """Relative read noise at voltage ``v``: sigma0 * (v0 / v)^a (v may be an array)."""
    s0 = finite("sigma0", sigma0, minimum=0.0)
    v = _positive("v", v)
    v0 = finite("v0", v0, minimum=0.0, strict=True)
    a = finite("a", a, minimum=0.0, strict=True)
    return s0 * (v0 / v) ** a


def voltage_for_sigma(sigma, sigma0: float, v0: float, a: float = 1.0):
    """Read voltage that gives relative noise ``sigma``: v0 * (sigma0 / sigma)^(1/a)."""
    sigma = _positive("sigma", sigma)
    s0 = finite("sigma0", sigma0, minimum=0.0, strict=True)
    v0 = finite("v0", v0, minimum=0.0, strict=True)
    a = finite("a", a, minimum=0.0, strict=True)
    return v0 * (s0 / sigma) ** (1.0 / a)


def read_energy_at_voltage(e0: float, v, v0: float):
    """Cell read energy at voltage ``v`` given ``e0`` at ``v0``: e0 * (v / v0)^2."""
    e0 = finite("e0", e0, minimum=0.0)
    v = _positive("v", v, allow_zero=True)
    v0 = finite("v0", v0, minimum=0.0, strict=True)
    return e0 * (v / v0) ** 2


def energy_at_sigma(
    cost: NetworkCost | LayerCost,
    sigma,
    sigma0: float,
    a: float = 1.0,
    periphery_scales: bool = False,
):
    """Energy per inference when V is set to reach relative read noise ``sigma``.

    ``cost`` was computed at the profile's v_read, where the noise is
    ``sigma0``. V / v_read = (sigma0 / sigma)^(1/a); the cell energy scales as
    (V / v_read)^2 and DAC, ADC and digital energy stay fixed unless
    ``periphery_scales`` (the paper's P ~ V^2 for the whole inference).
    """
    if not isinstance(cost, NetworkCost | LayerCost):
        raise ValueError(f"cost must be a NetworkCost or LayerCost, got {type(cost).__name__}")
    ratio = voltage_for_sigma(sigma, sigma0, 1.0, a)
    scale = ratio**2
    if periphery_scales:
        return cost.energy * scale
    return cost.energy_cell * scale + (cost.energy - cost.energy_cell)
