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


def oracle_mean_variance(k: int, dt: float, t: float, t_read: float, seed: int) -> tuple[float, float]:
    """(variance of one read, variance of the mean of k reads dt apart) of the simulated 1/f
    noise with A = 1, over N cells."""
    f_lo, f_hi = 1 / (t + t_read), 1 / (2 * t_read)
    m = math.ceil(PER_DECADE * math.log10(f_hi / f_lo))
    edges = np.linspace(math.log(f_lo), math.log(f_hi), m + 1)
    corners, shares = np.exp(0.5 * (edges[1:] + edges[:-1])), np.diff(edges)
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
