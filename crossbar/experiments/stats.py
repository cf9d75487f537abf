"""Confidence intervals of measured accuracies, the sizes they need, and when two results differ.

An accuracy is measured on N test inputs with R programmed chips (repeats):
chip r classifies c_r of the N inputs correctly. Two sources of error are
combined (docs/budget.md, "Statistics"):

* **which inputs** were tested: the Wilson score interval of the pooled
  accuracy p = sum c_r / (R N) at n = N (the inputs, not R N: every chip sees
  the same inputs);
* **which chips** were programmed (programming noise, and the read noise of
  their reads): the Student t interval of the mean of the R per-chip
  accuracies, t_{R-1} * sd / sqrt(R) (unmeasured with one chip).

The two half-widths are added in quadrature on each side of p (independent
errors), and the interval is clipped to [0, 1]. A comparison is called only
when two intervals do not overlap; otherwise it is a tie.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats as _st

__all__ = [
    "CONFIDENCE",
    "Interval",
    "chip_half_width",
    "chips_needed",
    "compare",
    "inputs_needed",
    "wilson",
    "wilson_half_width",
]

CONFIDENCE = 0.95
"""Two-sided confidence of every interval a budget reports."""


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    return float(_st.norm.ppf(0.5 + confidence / 2.0))


def wilson(successes: float, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (successes may be a mean over chips)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n!r}")
    if not 0.0 <= successes <= n:
        raise ValueError(f"successes must lie in [0, n = {n}], got {successes!r}")
    z = _z(confidence)
    p = successes / n
    d = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / d
    half = z * math.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / d
    return max(0.0, centre - half), min(1.0, centre + half)


def wilson_half_width(p: float, n: int, confidence: float = CONFIDENCE) -> float:
    """Half the width of the Wilson interval at accuracy ``p`` measured on ``n`` inputs."""
    lo, hi = wilson(p * n, n, confidence)
    return (hi - lo) / 2.0


def inputs_needed(p: float, half_width: float, confidence: float = CONFIDENCE,
                  n_max: int = 10**9) -> int | None:
    """The fewest test inputs whose Wilson interval at accuracy ``p`` is at most ``half_width``
    wide on each side (None if more than ``n_max`` would be needed)."""
    if not half_width > 0:
        raise ValueError(f"half_width must be > 0, got {half_width!r}")
    if wilson_half_width(p, n_max, confidence) > half_width:
        return None
    lo, hi = 0, n_max  # the half-width falls with n: bisect for the first n that is narrow enough
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if wilson_half_width(p, mid, confidence) <= half_width:
            hi = mid
        else:
            lo = mid
    return hi


def chip_half_width(sd: float, chips: int, confidence: float = CONFIDENCE) -> float:
    """Half-width of the t interval of a mean over ``chips`` chips with spread ``sd`` (inf for one)."""
    if chips < 2:
        return math.inf
    t = float(_st.t.ppf(0.5 + confidence / 2.0, chips - 1))
    return t * sd / math.sqrt(chips)


def chips_needed(sd: float, half_width: float, confidence: float = CONFIDENCE,
                 r_max: int = 10_000) -> int | None:
    """The fewest chips (>= 2) whose t interval of the mean is at most ``half_width`` (None:
    more than ``r_max``)."""
    if sd == 0.0:
        return 2
    for r in range(2, r_max + 1):
        if chip_half_width(sd, r, confidence) <= half_width:
            return r
    return None


@dataclass(frozen=True)
class Interval:
    """An accuracy and its confidence interval from per-chip counts of correct inputs.

    ``mean``: pooled accuracy; ``lo``/``hi``: the combined interval; ``n``:
    test inputs; ``chips``: programmed chips; ``input_half``: half-width of the
    Wilson interval (mean of its two sides); ``chip_sd``: spread of the
    per-chip accuracies (NaN with one chip); ``chip_half``: half-width of their
    t interval (0 with one chip: not measured, ``chip_measured`` False).
    """

    mean: float
    lo: float
    hi: float
    n: int
    chips: int
    input_half: float
    chip_sd: float
    chip_half: float
    confidence: float = CONFIDENCE

    @classmethod
    def from_counts(cls, correct: Sequence[int], n: int, confidence: float = CONFIDENCE,
                    chips_apart: bool = True) -> Interval:
        """Interval of the accuracy whose chip r got ``correct[r]`` of ``n`` inputs right.
        ``chips_apart=False``: the counts do not come from different chips (a digital
        network): the Wilson interval of their mean only."""
        if not correct:
            raise ValueError("need at least one chip's count")
        r = len(correct)
        mean = sum(correct) / (r * n)
        w_lo, w_hi = wilson(mean * n, n, confidence)
        sd = math.nan
        c = 0.0
        if chips_apart and r > 1:
            accs = [v / n for v in correct]
            sd = math.sqrt(sum((a - mean) ** 2 for a in accs) / (r - 1))
            c = chip_half_width(sd, r, confidence)
        lo = mean - math.hypot(mean - w_lo, c)
        hi = mean + math.hypot(w_hi - mean, c)
        return cls(mean=mean, lo=max(0.0, lo), hi=min(1.0, hi), n=n, chips=r,
                   input_half=(w_hi - w_lo) / 2, chip_sd=sd, chip_half=c, confidence=confidence)

    @classmethod
    def exact(cls, value: float) -> Interval:
        """A number without uncertainty (e.g. a function evaluated in a test)."""
        return cls(mean=value, lo=value, hi=value, n=0, chips=0, input_half=0.0, chip_sd=math.nan,
                   chip_half=0.0)

    @property
    def chip_measured(self) -> bool:
        return self.chips > 1

    @property
    def half_width(self) -> float:
        """The larger side of the interval."""
        return max(self.mean - self.lo, self.hi - self.mean)

    def relation(self, target: float) -> str:
        """``"meets"`` (interval wholly at or above ``target``), ``"misses"`` (wholly below) or
        ``"straddles"``."""
        if self.lo >= target:
            return "meets"
        if self.hi < target:
            return "misses"
        return "straddles"

    def to_dict(self) -> dict:
        return {"mean": self.mean, "lo": self.lo, "hi": self.hi, "n": self.n, "chips": self.chips,
                "input_half": self.input_half,
                "chip_sd": None if math.isnan(self.chip_sd) else self.chip_sd,
                "chip_half": self.chip_half, "confidence": self.confidence}


def compare(a_lo: float, a_hi: float, b_lo: float, b_hi: float) -> str:
    """``">"`` when interval a lies wholly above b, ``"<"`` wholly below, else ``"tie"``."""
    if a_lo > b_hi:
        return ">"
    if a_hi < b_lo:
        return "<"
    return "tie"
