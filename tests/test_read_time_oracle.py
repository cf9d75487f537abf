"""A direct simulation of 1/f read noise in time, the oracle of the vote-group split (read/timing.py).

Per cell the 1/f noise is a sum of independent Ornstein-Uhlenbeck (Lorentzian) processes
with corners spread evenly in ln f over [f_lo, f_hi] = [1/(t + t_read), 1/(2 t_read)],
PER_DECADE per decade, each carrying the variance A ln(f_hi / f_lo) / M of its share of
the band: their summed spectrum is A/f inside the band. The processes are sampled
exactly (x <- x rho + sqrt(v (1 - rho^2)) z, rho = exp(-2 pi f dt)) at K read times dt
apart, and the variance of the K-read mean is compared with the split model's and with
the exact integral (:func:`crossbar.read.timing.exact_mean_variance`). K = 2 is the
covariance of two reads dt apart: Var(mean of 2) = (sigma^2 + C(dt)) / 2.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from crossbar import devices
from crossbar.read.timing import exact_mean_variance

ALPHA = 1e-3
Z = stats.norm.ppf(1 - ALPHA / 2)
N = 20_000  # independent cells
PER_DECADE = 4
# What the oracle's soft band (Lorentzians, PER_DECADE per decade) may differ from the exact
# integral over the hard band [f_lo, f_hi], on top of sampling error: the roll-offs at the
# edges and the ripple between corners, each a fraction of one corner's share (1/M of the
# variance, M ~ 47 here).
BAND = 0.02


def lorentzians(t: float, t_read: float) -> tuple[np.ndarray, np.ndarray]:
    """(corner frequencies, variance shares with A = 1) of the PER_DECADE-per-decade sum over
    the band [1/(t + t_read), 1/(2 t_read)]."""
    f_lo, f_hi = 1 / (t + t_read), 1 / (2 * t_read)
    m = math.ceil(PER_DECADE * math.log10(f_hi / f_lo))
    edges = np.linspace(math.log(f_lo), math.log(f_hi), m + 1)
    return np.exp(0.5 * (edges[1:] + edges[:-1])), np.diff(edges)


def oracle_mean_variance(k: int, dt: float, t: float, t_read: float, seed: int) -> tuple[float, float]:
    """(variance of one read, variance of the mean of k reads dt apart) of the simulated 1/f
    noise with A = 1, over N cells."""
    corners, shares = lorentzians(t, t_read)
    m = corners.size
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, m)) * np.sqrt(shares)
    one = x.sum(axis=1)
    total = one.copy()
    rho = np.exp(-2 * np.pi * corners * dt)
    for _ in range(k - 1):
        x = x * rho + rng.standard_normal((N, m)) * np.sqrt(shares * (1 - rho**2))
        total += x.sum(axis=1)
    return float(one.var(ddof=1)), float((total / k).var(ddof=1))


@pytest.mark.parametrize("k, dt", [(2, 1e-5), (20, 1e-5), (10, 1e-3), (20, 1.0)])
def test_the_split_model_shares_at_least_what_simulated_1f_noise_shares(k, dt):
    law = devices.load("pcm").read_noise
    t, t_r = 86400.0, law.params["t_read_s"]
    band = math.log((t + t_r) / (2 * t_r))
    single, mean = oracle_mean_variance(k, dt, t, t_r, seed=k)
    sampling = Z * math.sqrt(2 / (N - 1))  # relative error of a sample variance of N normals
    assert abs(single / band - 1) < sampling  # the oracle carries the law's variance
    exact = exact_mean_variance(k, dt, t, t_r)
    assert abs(mean / exact - 1) < sampling + BAND  # and its correlation in time
    common, fresh = law.split(np.array([12.5e-6]), t, dt)
    amplitude2 = law.std(np.array([12.5e-6]), t)[0] ** 2 / band
    model = (common[0] ** 2 + fresh[0] ** 2 / k) / amplitude2
    assert model > mean * (1 - sampling)  # the model never makes voting look better than the law


# ---------------------------------------------------------------------------------------------
# Every read in time (issue 31): a converted chip's reads at the times its clock gives them.

YEAR = 3.15e7
EULER_GAMMA = 0.5772156649015329
# What the split at an edge d overstates the exact covariance of reads Delta >= d apart by, in
# units of A: ln(Delta / d) (sharing the band between 1/Delta and 1/d) plus ln(2 pi) + gamma
# (the split shares all of the band below 1/Delta, the cosine of the exact covariance
# integral does not: Ci(2 pi f_lo Delta) ~ gamma + ln(2 pi f_lo Delta)); docs/physics.md.
SPLIT_EXCESS = math.log(2 * math.pi) + EULER_GAMMA


def oracle_at(times: np.ndarray, t: float, t_read: float, n: int, seed: int) -> np.ndarray:
    """Samples (n cells x len(times)) of the simulated 1/f noise (A = 1) at increasing ``times``
    (s since programming; the band of the first read's time)."""
    corners, shares = lorentzians(t, t_read)
    m = corners.size
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, m)) * np.sqrt(shares)
    out = np.empty((n, len(times)))
    out[:, 0] = x.sum(axis=1)
    for i in range(1, len(times)):
        rho = np.exp(-2 * np.pi * corners * (times[i] - times[i - 1]))
        x = x * rho + rng.standard_normal((n, m)) * np.sqrt(shares * (1 - rho**2))
        out[:, i] = x.sum(axis=1)
    return out / math.sqrt(shares.sum())  # in units of the single read's variance


def _estimate(products: np.ndarray) -> tuple[float, float]:
    """Mean of per-sample products and its half-width at ALPHA (bound from n)."""
    return float(products.mean()), Z * float(products.std(ddof=1)) / math.sqrt(products.size)


def _chip(mode: str):
    """A Conv1d chip (4 inputs, 64 outputs, kernel 1) on PCM with ideal converters, one year
    after programming; input channel 0 on, so output j reads pair (0, j) at every position."""
    from torch import nn

    from crossbar.nn import age, convert

    p = devices.load("pcm", dac_bits=None, adc_bits=None, range_management={"mode": "fixed"},
                     sense_noise=0.0, tile_rows=4, tile_cols=64)
    conv = nn.Conv1d(4, 64, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(np.random.default_rng(0).uniform(0.2, 1, (64, 4, 1))))
    net = convert(nn.Sequential(conv), p, seed=1, read_noise_time=mode)
    age(net, YEAR)
    array = net[0].array
    tile = array.tiles[0]
    ref = torch.from_numpy(array.effective_weights()[0]).float()  # before any session is folded
    return net, array, ref, array.col_scale[0].float(), torch.from_numpy(tile.read_variance[0]).float()


def _errors(net, ref, scale, var, batch: torch.Tensor) -> np.ndarray:
    """One call's output errors in units of each pair's 1/f std (batch x outputs x positions)."""
    with torch.no_grad():
        y = net(batch)
    return ((y - ref[None, :, None]) / scale[None, :, None] / var.sqrt()[None, :, None]).double().numpy()





@pytest.mark.parametrize("mode", ["time", "fresh", "frozen"])
def test_a_chips_reads_share_what_simulated_1f_noise_at_their_times_shares(mode):
    """Covariance of output errors between two positions of one inference, two inputs of one
    batch and the same read in two successive calls, and the variance of a K-vote mean (K
    copies in one batch), against the oracle sampled at the clock's read times. The time model
    never shares less than the oracle and at most its stated excess more; "fresh" shares
    nothing, "frozen" everything."""
    from crossbar.nn import clock, new_session
    from crossbar.read.timing import vector_time

    net, array, ref, scale, var = _chip(mode)
    k, positions, sessions = 6, 4, 150
    batch = torch.zeros(k, 4, positions)
    batch[:, 0, :] = 1.0
    pos, inputs, calls, votes = [], [], [], []
    for _ in range(sessions):
        new_session(net)
        e1 = _errors(net, ref, scale, var, batch)
        c = clock(net)
        times = [c.read_time("0", b, q) for b, q in ((0, 0), (0, 1), (1, 0))] + [c.start]
        e2 = _errors(net, ref, scale, var, batch)
        times.append(clock(net).read_time("0", 0, 0))
        pos.append(e1[0, :, 0] * e1[0, :, 1])
        inputs.append(e1[0, :, 0] * e1[1, :, 0])
        calls.append(e1[0, :, 0] * e2[0, :, 0])
        votes.append(e1[:, :, 0].mean(axis=0) ** 2)
    floor = (array.floor[0].double().numpy() / var.double().numpy()).mean()  # white, per read
    law = array.profile.read_noise
    t_r, d = law.params["t_read_s"], vector_time(array)
    band = math.log((YEAR + t_r) / (2 * t_r))
    interval = c.interval
    spacing = {"positions": (times[1] - times[0], d), "inputs": (times[2] - times[0], d),
               "calls": (times[4] - times[0], array._folded[1] if mode == "time" else d)}
    oracle = oracle_at(np.array([times[0], times[1]]), YEAR, t_r, N, seed=1)
    expected = {"positions": oracle}
    expected["inputs"] = oracle_at(np.array([times[0], times[2]]), YEAR, t_r, N, seed=2)
    expected["calls"] = oracle_at(np.array([times[0], times[4]]), YEAR, t_r, N, seed=3)
    for name, products in (("positions", pos), ("inputs", inputs), ("calls", calls)):
        model, tol = _estimate(np.concatenate(products))
        samples = expected[name]
        truth, tol_o = _estimate(samples[:, 0] * samples[:, 1])
        delta, edge = spacing[name]
        if mode == "fresh":
            assert abs(model) < tol, name
        elif mode == "frozen":
            assert abs(model - 1) < tol, name
        else:
            assert model > truth - tol - tol_o - BAND, name  # never less shared than the law
            excess = (math.log(max(delta / edge, 1.0)) + SPLIT_EXCESS) / band
            assert model < truth + excess + tol + tol_o + BAND, name  # at most the stated excess
    # The K-vote mean: (1/K^2) sum_ij C(|i - j| interval), white floor / K taken off.
    model, tol = _estimate(np.concatenate(votes) - floor / k)
    samples = oracle_at(interval * np.arange(k) + times[0], YEAR, t_r, N, seed=4)
    truth, tol_o = _estimate(samples.mean(axis=1) ** 2)
    if mode == "fresh":
        assert abs(model - 1 / k) < tol
    elif mode == "frozen":
        assert abs(model - 1) < tol
    else:
        assert model > truth - tol - tol_o - BAND
        pairs = [(i, j) for i in range(k) for j in range(k) if i != j]
        excess = sum(math.log(abs(i - j) * interval / d) + SPLIT_EXCESS for i, j in pairs) / band / k**2
        assert model < truth + excess + tol + tol_o + BAND
