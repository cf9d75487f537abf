"""Scale a device profile's noise by a factor s, and age a mapped network: the knobs a budget turns.

A noise scale s multiplies the read noise only (``"read"``, the part that
depends on the read voltage; the default) or the profile's ``noise_scale``
(``"all"``: programming and read noise). An :class:`Age` (time since
programming, drift compensation) drifts the programmed conductances and puts
the profile's 1/f read noise at the same time. See docs/budget.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["SCALE_MODES", "Age", "age_network", "age_profile", "scale_key", "scale_noise"]

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



@dataclass(frozen=True)
class Age:
    """Reads at ``t`` seconds after programming, with or without global drift compensation.

    One time drives both effects the profiles model in time (``crossbar.nn.age``):
    conductance drift (profiles without a drift model do not drift) and the 1/f
    read noise of a ``pcm_1f`` law.
    """

    t: float
    compensate: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.t, bool) or not isinstance(self.t, (int, float)) or not (
                math.isfinite(self.t) and self.t > 0):
            raise ValueError(f"time since programming must be a finite number of seconds > 0, "
                             f"got {self.t!r}")
        if not isinstance(self.compensate, bool):
            raise ValueError(f"drift compensation must be true or false, got {self.compensate!r}")
        object.__setattr__(self, "t", float(self.t))

    def to_dict(self) -> dict:
        return {"t": self.t, "compensate": self.compensate}


def age_profile(profile, age: Age | None):
    """``profile`` read ``age.t`` after programming (unchanged for None)."""
    return profile if age is None else profile.with_overrides(time_since_programming=age.t)


def age_network(net, age: Age | None, calibration=None, seed: int = 0) -> None:
    """Set every array of a converted network to ``age.t`` after programming (drift and 1/f
    read noise; compensated if ``age.compensate``), then calibrate its ADC ranges on
    ``calibration`` inputs (``crossbar.nn.calibrate`` with ``seed``) if given."""
    from crossbar.nn import age as age_arrays
    from crossbar.nn import calibrate

    if age is not None:
        age_arrays(net, age.t, age.compensate)
    if calibration is not None:
        calibrate(net, calibration, seed)
