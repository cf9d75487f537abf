"""How many test inputs and chips a noise budget needs to resolve its target, and whether it did.

A budget asks whether an accuracy lies above or below a target that sits
``band`` below the reference (``max_drop``). The **inputs** resolve the
target when the Wilson interval at the target accuracy is at most half the
band on each side: then an accuracy that has lost no more than half the
allowed drop is shown to meet the target. The test-set size is planned
before any analog evaluation from the accuracy expected at the target. The
**tolerable noise** is resolved when, for every K, the largest noise scale
shown to meet the target and the smallest shown to miss it are neighbours
on the grid; a grid point left between them (its interval straddles the
target) is decided by more chips when its mean lies further from the target
than the inputs' half-width, and by no number of chips otherwise. See
docs/budget.md, "Statistics".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

from ..stats import chip_half_width, inputs_needed, wilson_half_width
from .search import Threshold

__all__ = ["INPUT_SHARE", "Resolution", "chips_to_decide", "plan_inputs", "pooled_chip_sd", "resolution",
           "undecided"]

INPUT_SHARE = 0.8
"""When test inputs are plentiful, the share of the wanted half-width given to the choice of
inputs (the Wilson interval); the chips get the rest in quadrature (sqrt(1 - 0.8^2) = 0.6)."""


def plan_inputs(p_target: float, band: float, available: int, confidence: float) -> tuple[int, int | None]:
    """(inputs to use, inputs needed): the fewest inputs whose Wilson interval at ``p_target`` is
    at most ``INPUT_SHARE`` x band / 2, capped by the ``available`` ones (needed: None if more
    than 10^9)."""
    need = inputs_needed(min(max(p_target, 0.0), 1.0), INPUT_SHARE * band / 2, confidence)
    return (available if need is None else min(available, need)), need


def pooled_chip_sd(evaluations: Iterable[Mapping], n: int) -> float:
    """Spread of per-chip accuracies pooled over evaluations (each with per-chip counts
    ``correct`` of ``n`` inputs): sqrt(sum (R_i - 1) sd_i^2 / sum (R_i - 1)); NaN without any
    evaluation of two or more chips."""
    ss = dof = 0.0
    for e in evaluations:
        c = e["correct"]
        if len(c) < 2:
            continue
        m = sum(c) / len(c)
        ss += sum((v - m) ** 2 for v in c) / n**2
        dof += len(c) - 1
    return math.sqrt(ss / dof) if dof else math.nan


def chips_to_decide(correct: list[int], n: int, target: float, confidence: float,
                    r_max: int = 10_000) -> int | None:
    """The fewest chips whose interval of this evaluation's accuracy (per-chip counts
    ``correct`` of ``n`` inputs, their spread taken as measured) lies wholly on one side of
    ``target``; None when the inputs alone leave it straddling (no number of chips helps),
    when one chip gives no spread, or above ``r_max``."""
    if len(correct) < 2:
        return None
    mean = sum(correct) / (len(correct) * n)
    gap = abs(mean - target)
    h_in = wilson_half_width(mean, n, confidence)
    if gap <= h_in:
        return None
    sd = math.sqrt(sum((c / n - mean) ** 2 for c in correct) / (len(correct) - 1))
    for r in range(2, r_max + 1):
        if math.hypot(h_in, chip_half_width(sd, r, confidence)) < gap:
            return r
    return None


def undecided(evaluated: Iterable[Mapping], thresholds: Mapping[int, Threshold],
              target: float) -> list[Mapping]:
    """Evaluations of each K between its confirmed and excluded scales whose interval straddles
    the target: the grid points the measurements leave undecided."""
    out = []
    for e in evaluated:
        th = thresholds.get(e["k"])
        if th is None or e["s"] <= 0 or not e["lo"] < target <= e["hi"]:
            continue
        above = math.isnan(th.confirmed) or e["s"] > th.confirmed
        below = math.isnan(th.excluded) or e["s"] < th.excluded
        if above and below:
            out.append(e)
    return out


@dataclass(frozen=True)
class Resolution:
    """What a budget can tell apart: the inputs' interval at the target and the grid points left
    undecided, with the sizes that would decide them.

    ``band``: reference - target; ``wanted``: band / 2; ``input_half``: the
    Wilson half-width at the target accuracy with ``n`` inputs;
    ``inputs_needed``: the inputs that bring it to ``INPUT_SHARE`` x wanted
    (None: more than 10^9); ``undecided``: {k, s, mean, lo, hi,
    chips_needed} of each grid point left straddling the target
    (chips_needed None: the inputs alone leave it straddling); ``chip_sd``:
    per-chip spread pooled over those points (NaN if none); ``resolved``: no
    point is left undecided, i.e. every K's tolerable noise is pinned to one
    grid step (or to an end of the range).
    """

    confidence: float
    target: float
    band: float
    wanted: float
    n: int
    n_available: int
    chips: int
    input_half: float
    inputs_needed: int | None
    chip_sd: float
    undecided: tuple[dict, ...] = field(default_factory=tuple)

    @property
    def inputs_resolve(self) -> bool:
        return self.wanted > 0 and self.input_half <= self.wanted

    @property
    def resolved(self) -> bool:
        return not self.undecided

    @property
    def chips_needed(self) -> int | None:
        """Chips that decide every undecided point that chips can decide (None: none can)."""
        need = [u["chips_needed"] for u in self.undecided if u["chips_needed"] is not None]
        return max(need) if need else None

    @property
    def chip_half(self) -> float:
        return chip_half_width(self.chip_sd, self.chips, self.confidence) if not math.isnan(self.chip_sd) \
            else math.nan

    def to_dict(self) -> dict:
        d = asdict(self)
        d["undecided"] = [dict(u) for u in self.undecided]
        d.update(inputs_resolve=self.inputs_resolve, resolved=self.resolved, chips_needed=self.chips_needed,
                 chip_half=self.chip_half)
        return {k: (None if isinstance(v, float) and (math.isnan(v) or math.isinf(v)) else v)
                for k, v in d.items()}


def resolution(target: float, band: float, n: int, n_available: int, chips: int, confidence: float,
               evaluated: Iterable[Mapping], thresholds: Mapping[int, Threshold]) -> Resolution:
    """The inputs' interval at ``target`` and the grid points the search left undecided."""
    wanted = band / 2
    p = min(max(target, 0.0), 1.0)
    left = undecided(list(evaluated), thresholds, target)
    return Resolution(
        confidence=confidence, target=target, band=band, wanted=wanted, n=n, n_available=n_available,
        chips=chips, input_half=wilson_half_width(p, n, confidence),
        inputs_needed=inputs_needed(p, INPUT_SHARE * wanted, confidence) if wanted > 0 else None,
        chip_sd=pooled_chip_sd(left, n),
        undecided=tuple({"k": e["k"], "s": e["s"], "mean": e["accuracy"], "lo": e["lo"], "hi": e["hi"],
                         "chips_needed": chips_to_decide(e["correct"], n, target, confidence)}
                        for e in left),
    )
