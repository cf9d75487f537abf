"""Scale a device profile's noise by a factor s: the knob a noise budget turns.

A noise scale s multiplies the read noise only (``"read"``, the part that
depends on the read voltage; the default) or the profile's ``noise_scale``
(``"all"``: programming and read noise). See docs/budget.md.
"""

from __future__ import annotations

import math

__all__ = ["SCALE_MODES", "scale_noise", "scale_key"]

SCALE_MODES = ("read", "all")
"""What a noise scale s multiplies: the read noise only (the part that depends on the
read voltage; default) or the profile's ``noise_scale`` (programming and read noise)."""

# Parameters of each read-noise law that are proportional to its standard deviation.
_READ_LAW_SCALE = {
    "none": (),
    "constant": ("sigma_S",),
    "relative": ("fraction",),
    "polynomial": ("coefficients_uS",),
    "saturating_exponential": ("a_S",),
    "pcm_1f": ("c", "cap"),
}


def scale_noise(profile, s: float, mode: str = "read"):
    """``profile`` with its noise multiplied by ``s``.

    ``mode="read"``: only the read-noise law (its std at every conductance
    times s; programming noise, faults and drift unchanged), the part a lower
    read voltage makes larger relative to the signal. ``mode="all"``: the
    profile's ``noise_scale`` (programming and read noise together). An
    abstract profile (Qin's Gaussian output noise, ``gaussian-mult`` /
    ``gaussian-add``) has one noise, its output sigma: both modes scale it
    (sigma = s x the profile's sigma).
    """
    if mode not in SCALE_MODES:
        raise ValueError(f"mode must be one of {', '.join(SCALE_MODES)}, got {mode!r}")
    s = float(s)
    if not (math.isfinite(s) and s >= 0):
        raise ValueError(f"noise scale must be a finite number >= 0, got {s!r}")
    if mode == "all" or profile.output_noise is not None:
        return profile.with_overrides(noise_scale=profile.noise_scale * s)
    law = profile.read_noise
    if law.form not in _READ_LAW_SCALE:
        raise ValueError(
            f"profile {profile.name!r}: cannot scale read noise of form {law.form!r}; "
            "use scale: all (the profile's noise_scale)"
        )
    if law.form == "none" or s == 1.0:
        return profile
    if s == 0.0:
        return profile.with_overrides(read_noise=None)
    params = {}
    for key in _READ_LAW_SCALE[law.form]:
        v = law.params[key]
        params[key] = [c * s for c in v] if isinstance(v, (tuple, list)) else v * s
    return profile.with_overrides(read_noise=params)


def scale_key(s: float) -> float:
    """s to 10 significant digits: one key per scale in caches, however s was computed."""
    return float(f"{float(s):.10g}")

