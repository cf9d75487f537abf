"""Confidence intervals of budget accuracies, the sizes they need, the interval of the tolerable
noise and when a comparison is called (crossbar.experiments.stats, budget.search, budget.plan)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from crossbar.experiments import Interval, Threshold, compare, noise_budget, tolerates_more
from crossbar.experiments.budget.plan import plan_inputs, pooled_chip_sd, resolution
from crossbar.experiments.stats import (
    chip_half_width,
    chips_needed,
    inputs_needed,
    wilson,
    wilson_half_width,
)


def test_wilson_matches_scipy_and_the_closed_forms():
    for k, n in ((0, 20), (7, 20), (20, 20), (970, 1000), (1, 3)):
        ref = st.binomtest(k, n).proportion_ci(0.95, method="wilson")
        assert wilson(k, n) == pytest.approx((ref.low, ref.high), abs=1e-12)
    z = st.norm.ppf(0.975)
    assert wilson(0, 50) == pytest.approx((0.0, z * z / (50 + z * z)))  # no success: [0, z²/(n + z²)]
    with pytest.raises(ValueError, match="successes"):
        wilson(11, 10)


def test_the_wilson_interval_covers_as_stated():
    """Exact coverage (a sum over the binomial distribution, no sampling) of the 95 % Wilson
    interval near the accuracies budgets meet: within 1.5 points of 95 % (its known discreteness)."""
    for p, n in ((0.97, 200), (0.97, 1000), (0.9, 500), (0.99, 1000)):
        ks = np.arange(n + 1)
        covered = np.array([lo <= p <= hi for lo, hi in (wilson(k, n) for k in ks)])
        coverage = float(st.binom.pmf(ks, n, p)[covered].sum())
        assert 0.935 <= coverage <= 0.975, (p, n, coverage)


def test_the_combined_interval_covers_inputs_and_chips():
    """Simulated budgets: a population of inputs (latent difficulty u_i ~ U(0, 1)) and chips
    that shift the accuracy by N(0, tau²); input i is correct on chip r when u_i < p + d_r.
    The true accuracy is E[p + d] = p. Coverage over T trials must reach 95 % minus three
    binomial standard errors of T trials, and an interval that ignores the chips (or counts
    R N inputs) must fall below it: the test can fail."""
    rng = np.random.default_rng(20240615)
    p, tau, n, chips, trials = 0.95, 0.01, 400, 3, 1500
    bound = 0.95 - 3 * math.sqrt(0.95 * 0.05 / trials)
    hit = naive = 0
    for _ in range(trials):
        u = rng.random(n)
        d = rng.normal(0.0, tau, chips)
        correct = [int((u < p + dr).sum()) for dr in d]
        iv = Interval.from_counts(correct, n)
        hit += iv.lo <= p <= iv.hi
        lo, hi = wilson(sum(correct), n * chips)
        naive += lo <= p <= hi
    assert hit / trials >= bound, hit / trials
    assert naive / trials < bound, naive / trials


def test_interval_parts_by_hand():
    iv = Interval.from_counts([90, 92, 94], 100)
    w = st.binomtest(92, 100).proportion_ci(0.95, method="wilson")
    c = st.t.ppf(0.975, 2) * 0.02 / math.sqrt(3)  # sd of 0.90, 0.92, 0.94 is 0.02
    assert iv.mean == pytest.approx(0.92) and iv.chip_sd == pytest.approx(0.02)
    assert iv.chip_half == pytest.approx(c)
    assert iv.lo == pytest.approx(0.92 - math.hypot(0.92 - w.low, c))
    assert iv.hi == pytest.approx(min(1.0, 0.92 + math.hypot(w.high - 0.92, c)))
    one = Interval.from_counts([92], 100)  # one chip: the spread over chips is not measured
    assert not one.chip_measured and (one.lo, one.hi) == pytest.approx((w.low, w.high))
    assert one.relation(0.80) == "meets" and one.relation(0.99) == "misses"
    assert one.relation(0.9) == "straddles"


def test_sizes_needed_are_the_smallest_that_suffice():
    for p, h in ((0.97, 0.005), (0.95, 0.012), (0.5, 0.05)):
        n = inputs_needed(p, h)
        assert wilson_half_width(p, n) <= h < wilson_half_width(p, n - 1)
    assert inputs_needed(0.97, 1e-6, n_max=10_000) is None
    for sd, h in ((0.01, 0.008), (0.003, 0.001)):
        r = chips_needed(sd, h)
        assert chip_half_width(sd, r) <= h < chip_half_width(sd, r - 1)
    assert chip_half_width(0.01, 1) == math.inf and chips_needed(0.0, 0.01) == 2


def test_plan_and_resolution():
    n, need = plan_inputs(0.95, 0.03, available=1000, confidence=0.95)
    assert need == inputs_needed(0.95, 0.8 * 0.015) and n == min(1000, need)
    assert plan_inputs(0.95, 0.2, available=1000, confidence=0.95)[0] < 1000  # plenty: fewer used
    evals = [{"correct": [90, 92, 94]}, {"correct": [50]}, {"correct": [80, 80]}]
    assert pooled_chip_sd(evals, 100) == pytest.approx(math.sqrt((2 * 0.02**2 + 0) / 3))
    assert math.isnan(pooled_chip_sd([{"correct": [3]}], 10))

    # one K: confirmed at 2, excluded at 8; 4 straddles the target 0.95 far enough for chips to
    # decide it, 5.6 too close: within the inputs' own half-width
    th = {1: Threshold(1, 4.0, "bracketed", 4.0, 5.6, 0.95, (), confirmed=2.0, excluded=8.0, step=1.4)}
    n = 1000

    def ev(s, correct):
        iv = Interval.from_counts(correct, n)
        return {"k": 1, "s": s, "accuracy": iv.mean, "lo": iv.lo, "hi": iv.hi, "correct": correct}

    evaluated = [ev(2.0, [975, 976, 977]), ev(4.0, [900, 915, 930]), ev(5.6, [945, 948, 951]),
                 ev(8.0, [600, 610, 620])]
    assert evaluated[1]["lo"] < 0.95 <= evaluated[1]["hi"]  # straddles with 3 chips
    res = resolution(0.95, 0.03, n, 1000, 3, 0.95, evaluated, th)
    assert [u["s"] for u in res.undecided] == [4.0, 5.6] and not res.resolved
    r4 = res.undecided[0]["chips_needed"]
    assert r4 is not None and res.undecided[1]["chips_needed"] is None and res.chips_needed == r4
    # r4 chips are the fewest whose interval of s = 4 clears the target, at the measured spread
    gap, h_in, sd = 0.95 - 0.915, wilson_half_width(0.915, n), 0.015
    assert math.hypot(h_in, chip_half_width(sd, r4)) < gap <= math.hypot(h_in, chip_half_width(sd, r4 - 1))
    assert res.input_half == pytest.approx(wilson_half_width(0.95, 1000)) and res.inputs_resolve
    assert res.inputs_needed > 1000  # planned leaving room for the chips (80 % of the half-width)
    tight = resolution(0.95, 0.02, n, 1000, 3, 0.95, [], th)
    assert not tight.inputs_resolve and tight.resolved
    assert resolution(0.95, 0.03, n, 1000, 3, 0.95, [evaluated[0], evaluated[3]], th).resolved


def _curve(s: float) -> float:
    return 0.98 - 0.1 * max(0.0, math.log2(s / 2.0))


def test_noise_budget_brackets_the_tolerable_noise_with_the_intervals():
    """Mean accuracy 0.98 up to s = 2, then falling 10 points per doubling; every interval
    +-1 point. Target 0.95: the mean crosses at s = 2 * 2^0.3, the lower end at 2 * 2^0.2
    (confirmed), the upper end at 2 * 2^0.4 (excluded); on the grid 1.05^j."""
    def acc(s: float, k: int) -> Interval:
        m = _curve(s)
        return Interval(mean=m, lo=m - 0.01, hi=m + 0.01, n=1000, chips=3, input_half=0.01,
                        chip_sd=0.0, chip_half=0.0)

    th = noise_budget(acc, [1], 0.95, 0.5, 64.0, rel_tol=0.05)[1]
    grid = [1.05**j for j in range(-14, 86)]
    last = lambda x: max(s for s in grid if s <= x * (1 + 1e-12))  # noqa: E731
    first = lambda x: min(s for s in grid if s > x)  # noqa: E731
    assert th.scale == pytest.approx(last(2 * 2**0.3)) and th.bad == pytest.approx(first(2 * 2**0.3))
    assert th.confirmed == pytest.approx(last(2 * 2**0.2))
    assert th.excluded == pytest.approx(first(2 * 2**0.4))
    assert not th.resolved and th.step == pytest.approx(1.05)
    assert all(len(e) == 4 for e in th.evaluations)


def test_comparisons_are_called_only_when_intervals_separate():
    assert compare(0.96, 0.98, 0.90, 0.95) == ">" and compare(0.90, 0.95, 0.96, 0.98) == "<"
    assert compare(0.94, 0.97, 0.96, 0.98) == "tie"

    def th(k, confirmed, excluded):
        return Threshold(k, confirmed, "bracketed", confirmed, confirmed * 1.5, 0.9, (),
                         confirmed=confirmed, excluded=excluded, step=1.5)

    one = th(1, 4.0, 9.0)
    assert tolerates_more(th(5, 9.0, 20.0), one) == ">"  # 9x: confirmed with 5 votes, excluded with 1
    assert tolerates_more(th(5, 6.0, 13.5), one) == "tie"  # the intervals overlap
    assert tolerates_more(th(5, 1.0, 3.0), one) == "<"
    unknown = Threshold(5, math.nan, "none", math.nan, 0.5, 0.9, ())
    assert tolerates_more(unknown, one) == "tie" and tolerates_more(one, unknown) == "tie"


def test_the_sizes_quoted_in_the_docs_are_computed():
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "budget.md").read_text(encoding="utf-8")
    for p, band in ((0.97, 0.01), (0.96, 0.02), (0.95, 0.03)):
        n, _ = plan_inputs(p, band, available=10**6, confidence=0.95)
        assert f"{n:,}" in doc, (p, band, n)
    assert f"±{100 * wilson_half_width(0.95, 1000):.3g} points" in doc
