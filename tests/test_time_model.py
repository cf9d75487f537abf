"""Read noise in time (issue 15): the 1/f part below 1/dt is shared by the K reads of a vote
group, the rest is fresh; one time since programming drives drift and 1/f noise; voltage floor.
Statistical checks compute their bounds from the sample size, with fixed seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from crossbar import CrossbarArray, devices
from crossbar.read import ops as readops
from crossbar.read.timing import ReadGroup, exact_mean_variance
from crossbar.seeds import Stream, derive

ALPHA = 1e-3


def _chi2_ratio_bounds(n: int) -> tuple[float, float]:
    """Bounds on sample variance / true variance for n samples at false-alarm rate ALPHA."""
    return stats.chi2.ppf(ALPHA / 2, n - 1) / (n - 1), stats.chi2.ppf(1 - ALPHA / 2, n - 1) / (n - 1)


def _mean_of_k_reads(arr: CrossbarArray, x1: np.ndarray, k: int, groups: int, dt: float | None,
                     seed: int = 0) -> np.ndarray:
    """For each of ``groups`` vote groups: the mean of k reads of x1 (k rows, one read each)."""
    batch = np.repeat(x1, k, axis=0)
    means = np.empty((groups, arr.shape[1]))
    for n in range(groups):
        group = None if dt is None else ReadGroup(derive(seed, Stream.VOTE_GROUP, n), dt)
        y = arr.mvm(batch, key=derive(seed, Stream.READ, n), group=group)
        means[n] = y.astype(np.float64).mean(axis=0)
    return means


def _pcm_probe():
    """PCM read noise with ideal converters on a small tile; one input row on, so column j
    carries the pair (0, j) alone."""
    p = devices.load("pcm", dac_bits=None, adc_bits=None, range_management={"mode": "fixed"},
                     sense_noise=0.0, tile_rows=4, tile_cols=8)
    W = np.random.default_rng(0).uniform(-1, 1, (4, 8))
    arr = CrossbarArray.program(W, p, seed=3)
    x1 = np.array([[1.0, 0.0, 0.0, 0.0]], dtype=np.float32)
    return p, arr, x1


@pytest.mark.parametrize("dt", [1e-9, 1e-3, math.inf])
def test_variance_of_the_mean_of_k_rereads_follows_the_1f_law(dt):
    """Var(mean of K reads) = common + fresh / K per column: common = A ln((t + t_r) / d),
    fresh = A ln(d / (2 t_r)) + circuit floor, d = clip(dt, 2 t_r, t + t_r)."""
    p, arr, x1 = _pcm_probe()
    k, groups = 8, 1500
    means = _mean_of_k_reads(arr, x1, k, groups, dt)
    tile = arr.tiles[0]
    g_range = p.g_max - p.g_min
    t, t_r = p.time_since_programming, p.read_noise.params["t_read_s"]
    d = min(max(dt, 2 * t_r), t + t_r)
    amp2 = (p.read_noise.std(tile.g_plus[0], t) ** 2 + p.read_noise.std(tile.g_minus[0], t) ** 2) / (
        math.log((t + t_r) / (2 * t_r)) * g_range**2)  # A per column, normalised units
    common = amp2 * math.log((t + t_r) / d)
    fresh = amp2 * math.log(d / (2 * t_r)) + arr.floor[0].double().numpy()
    expected = (common + fresh / k) * arr.col_scale[0].double().numpy() ** 2
    ratio = means.var(axis=0, ddof=1) / expected
    lo, hi = _chi2_ratio_bounds(groups)
    slack = readops.variance_error_bound(1)  # the fresh part passes the bfloat16 variance product
    assert np.all(ratio > lo * (1 - slack)) and np.all(ratio < hi * (1 + slack)), ratio
    if dt == 1e-9:  # reads closer than 2 t_read share all of the 1/f noise: voting cannot average it
        assert np.all(common / (common + fresh) > 0.99)


def test_white_noise_mean_of_k_reads_has_variance_sigma2_over_k():
    p = devices.load("ideal", g_min=1e-6, g_max=25e-6, tile_rows=4, tile_cols=8,
                     read_noise={"form": "constant", "sigma_S": 1e-6})
    arr = CrossbarArray.program(np.random.default_rng(1).uniform(-1, 1, (4, 8)), p, seed=0)
    x1 = np.array([[0.0, 1.0, 0.0, 0.0]], dtype=np.float32)
    k, groups = 10, 3000
    sigma2 = 2 * (1e-6 / (p.g_max - p.g_min)) ** 2 * arr.col_scale[0].double().numpy() ** 2  # G+ and G-
    lo, hi = _chi2_ratio_bounds(groups)
    slack = readops.variance_error_bound(1)
    reads = arr.mvm(np.repeat(x1, k * groups, axis=0), key=derive(4, Stream.READ, 0))  # every row a read
    ratio = reads.astype(np.float64).reshape(groups, k, -1).mean(axis=1).var(axis=0, ddof=1) / (sigma2 / k)
    assert np.all(ratio > lo * (1 - slack)) and np.all(ratio < hi * (1 + slack)), ratio
    # a vote group changes nothing for white noise
    grouped = _mean_of_k_reads(arr, x1, k, 400, 1e-6, seed=4).var(axis=0, ddof=1) / (sigma2 / k)
    lo, hi = _chi2_ratio_bounds(400)
    assert np.all(grouped > lo * (1 - slack)) and np.all(grouped < hi * (1 + slack)), grouped


def test_drift_and_read_noise_agree_on_the_time_since_programming():
    """One time: programming at time t equals programming at the default time and ageing to t,
    and the 1/f variance is that of the drifted conductances at the same t."""
    pcm = devices.load("pcm", tile_rows=16, tile_cols=8)
    W = np.random.default_rng(2).uniform(-1, 1, (16, 8))
    month = 30 * 86400.0
    aged = CrossbarArray.program(W, pcm, seed=1)
    aged.age(month)
    direct = CrossbarArray.program(W, pcm.with_overrides(time_since_programming=month), seed=1)
    for name in ("conductance", "variance", "floor", "col_scale"):
        assert torch.equal(getattr(aged, name), getattr(direct, name)), name
    tile = aged.tiles[0]
    assert tile.time == aged.time == month
    drifted = tile.g0_plus * (month / pcm.drift.t0) ** -tile.nu_plus
    np.testing.assert_allclose(tile.g_plus, drifted, rtol=1e-10)
    g_range = pcm.g_max - pcm.g_min
    expected = (pcm.read_std(drifted, month) ** 2 + pcm.read_std(tile.g_minus, month) ** 2) / g_range**2
    np.testing.assert_allclose(tile.read_variance, expected, rtol=1e-6)
    # 1/f noise grows with t at fixed conductance; drift lowers G: both act at the same t
    day = CrossbarArray.program(W, pcm, seed=1).tiles[0]
    assert not np.allclose(day.read_variance, tile.read_variance)


def test_vote_groups_share_their_common_part_and_differ_between_groups():
    p, arr, x1 = _pcm_probe()
    batch = np.repeat(x1, 4000, axis=0)
    group = ReadGroup(derive(0, Stream.VOTE_GROUP, 0), 1e-3)
    a = arr.mvm(batch, key=derive(0, Stream.READ, 0), group=group).astype(np.float64)
    b = arr.mvm(batch, key=derive(0, Stream.READ, 1), group=group).astype(np.float64)
    c = arr.mvm(batch, key=derive(0, Stream.READ, 1),
                group=ReadGroup(derive(0, Stream.VOTE_GROUP, 1), 1e-3)).astype(np.float64)
    # the same group shifts every read by the same common part: means agree within the fresh noise
    se = np.sqrt((a.var(axis=0) + b.var(axis=0)) / 4000)
    z = stats.norm.ppf(1 - ALPHA / 2)
    assert np.all(np.abs(a.mean(axis=0) - b.mean(axis=0)) < z * se)
    # another group: another common draw, far outside the fresh noise's error of the mean
    assert np.mean(np.abs(c.mean(axis=0) - b.mean(axis=0)) > z * se) > 0.5
    with pytest.raises(ValueError, match="dt"):
        ReadGroup(1, 0.0)
    with pytest.raises(ValueError, match="key"):
        ReadGroup(-1, 1e-3)


@pytest.mark.parametrize("k, dt", [(2, 1e-5), (5, 1e-4), (20, 1e-5), (10, 1e-3)])
def test_the_split_at_one_over_dt_never_overstates_voting(k, dt):
    """The model's Var(mean) = A [ln(f_c / f_lo) + ln(f_hi / f_c) / K] is at least the exact
    variance of the mean of K samples of the band-limited 1/f process: the model can only make
    re-read voting look worse than the law, never better."""
    law = devices.load("pcm").read_noise
    t, t_r = 86400.0, law.params["t_read_s"]
    common, fresh = law.split(np.array([12.5e-6]), t, dt)
    amplitude2 = law.std(np.array([12.5e-6]), t)[0] ** 2 / math.log((t + t_r) / (2 * t_r))
    model = (common[0] ** 2 + fresh[0] ** 2 / k) / amplitude2
    exact = exact_mean_variance(k, dt, t, t_r)
    assert model >= exact
    assert exact < math.log((t + t_r) / (2 * t_r))  # voting does help a little under the exact law


def test_the_results_note_table_is_regenerated_by_its_script():
    """docs/results/read-noise-in-time.md holds what read_noise_in_time.py prints."""
    import importlib.util
    from pathlib import Path

    docs = Path(__file__).resolve().parent.parent / "docs" / "results"
    spec = importlib.util.spec_from_file_location("read_noise_in_time", docs / "read_noise_in_time.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    table = script.rows()
    note = (docs / "read-noise-in-time.md").read_text(encoding="utf-8")
    assert script.markdown(table) in note and script.approximation_rows() in note
    by = {(r["profile"], r["k"]): r for r in table}
    # white noise: re-reads average as replicas do; 1/f: far less
    assert by["reram", 20]["read_pipelined"] == pytest.approx(1 / 20)
    assert by["pcm", 20]["read_pipelined"] > 0.5


@pytest.mark.parametrize("name", ["reram", "nand", "ideal", "gaussian-mult"])
def test_profiles_without_1f_noise_read_the_same_in_every_mode(name):
    """read_noise_time changes nothing without 1/f read noise: the same bits by seed."""
    from torch import nn

    from crossbar.nn import convert

    torch.manual_seed(0)
    net, x = nn.Sequential(nn.Linear(12, 5), nn.ReLU(), nn.Linear(5, 3)), torch.randn(7, 12)
    outs = []
    for mode in ("time", "fresh", "frozen"):
        chip = convert(net, name, seed=3, read_noise_time=mode)
        outs.append(torch.stack([chip(x), chip(x)]))
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[0], outs[2])
    if name != "ideal":
        assert not torch.equal(outs[0][0], outs[0][1])  # the reads are noisy: the check can fail


@pytest.mark.filterwarnings("ignore:array of profile")
def test_the_chip_clock_advances_by_the_pipelined_batch_time():
    """A call of B inputs through layers of T_l seconds per input takes sum_l T_l + (B - 1)
    max_l T_l; age sets the clock and starts a session, new_session starts one, reseed
    restarts the calls; a bad mode is refused."""
    from torch import nn

    from crossbar.nn import age, clock, convert, new_session, reseed
    from crossbar.read.timing import vector_time

    net = nn.Sequential(nn.Linear(300, 40), nn.ReLU(), nn.Linear(40, 4))
    chip = convert(net, "pcm", seed=0)
    c = clock(chip)
    assert c.time == devices.load("pcm").time_since_programming and (c.session, c.calls) == (0, 0)
    taus = [vector_time(chip[i].array) for i in (0, 2)]
    chip(torch.rand(9, 300))
    assert c.time - c.start == pytest.approx(sum(taus) + 8 * max(taus), abs=1e-10)  # t ~ 1e5 s
    assert c.read_time("2", 3) == pytest.approx(c.start + 3 * max(taus) + taus[0], abs=1e-10)
    age(chip, 3.0e7)
    assert (c.time, c.session, c.calls) == (3.0e7, 1, 0)
    chip(torch.rand(2, 300))
    new_session(chip)
    assert (c.session, c.calls) == (2, 0)
    chip(torch.rand(2, 300))
    reseed(chip, 4)
    assert c.calls == 0
    with pytest.raises(ValueError, match="read_noise_time must be one of time, fresh, frozen"):
        convert(net, "pcm", read_noise_time="later")
