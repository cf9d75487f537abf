"""How many test inputs and chips a noise budget needs to resolve its target, and whether it did.

A budget asks whether an accuracy lies above or below a target that sits
``band`` below the reference (``max_drop``). It **resolves** the target when
the confidence interval at the target accuracy is at most half the band on
each side: then an accuracy that has lost no more than half the allowed drop
is shown to meet the target, and one that has lost twice the allowed drop is
shown to miss it. The test-set size is planned before any analog evaluation,
from the accuracy expected at the target; the chips are planned from the
spread of per-chip accuracies measured next to the crossing. See
docs/budget.md, "Statistics".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

from .budget_search import Threshold
from .stats import chip_half_width, chips_needed, inputs_needed, wilson_half_width

__all__ = ["INPUT_SHARE", "Resolution", "plan_inputs", "pooled_chip_sd", "resolution"]

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


@dataclass(frozen=True)
class Resolution:
    """What a budget can tell apart: the interval at the target and the sizes it needs.

    ``band``: reference - target; ``wanted``: band / 2; ``input_half``: the
    Wilson half-width at the target accuracy with ``n`` inputs; ``chip_sd``:
    per-chip spread pooled over the evaluations next to each K's crossing;
    ``chip_half``: its t half-width with ``chips`` chips (NaN with one chip);
    ``half_width``: both in quadrature; ``inputs_needed`` / ``chips_needed``:
    the sizes that would give ``wanted`` (None: not reachable: more inputs than
    any test set, or the inputs alone use the whole half-width).
    """

    confidence: float
    target: float
    band: float
    wanted: float
    n: int
    n_available: int
    chips: int
    input_half: float
    chip_sd: float
    chip_half: float
    half_width: float
    inputs_needed: int | None
    chips_needed: int | None
    resolved: bool

    def to_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


def near_crossing(evaluated: Iterable[Mapping], thresholds: Mapping[int, Threshold]) -> list[Mapping]:
    """The evaluations at each K's last grid point that meets the target and first that misses
    it (by the mean): where the resolution decides the answer."""
    want = {(k, s) for k, th in thresholds.items() for s in (th.good, th.bad) if not math.isnan(s)}
    return [e for e in evaluated if (e["k"], e["s"]) in want]


def resolution(target: float, band: float, n: int, n_available: int, chips: int,
               chip_sd: float, confidence: float) -> Resolution:
    """The interval a budget with ``n`` inputs and ``chips`` chips has at ``target``."""
    wanted = band / 2
    p = min(max(target, 0.0), 1.0)
    h_in = wilson_half_width(p, n, confidence)
    h_chip = chip_half_width(chip_sd, chips, confidence) if not math.isnan(chip_sd) else math.nan
    h = math.hypot(h_in, h_chip) if not math.isnan(h_chip) else h_in
    need_in = inputs_needed(p, INPUT_SHARE * wanted, confidence) if wanted > 0 else None
    need_chips = None
    if wanted > h_in and not math.isnan(chip_sd):
        need_chips = chips_needed(chip_sd, math.sqrt(wanted**2 - h_in**2), confidence)
    resolved = wanted > 0 and h <= wanted and chips > 1
    return Resolution(confidence=confidence, target=target, band=band, wanted=wanted, n=n,
                      n_available=n_available, chips=chips, input_half=h_in, chip_sd=chip_sd,
                      chip_half=h_chip, half_width=h, inputs_needed=need_in, chips_needed=need_chips,
                      resolved=resolved)
