"""The hardware-aware draw's kernels (crossbar/training/device_draw.py) against plain NumPy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crossbar import devices
from crossbar.read.tile import noise_floor
from crossbar.training.device_draw import Draws, _exp_neg, band, law_tables


def test_exp_without_a_library_call_is_within_3_ulp_of_exp():
    """The drift's exponential (a polynomial, so that its loop vectorises) against np.exp on
    [-745, 0], 0 below; exact at 0."""
    rng = np.random.default_rng(1)
    x = -np.concatenate([rng.uniform(0, 1e-6, 2000), rng.uniform(0, 1, 4000), rng.uniform(0, 40, 4000),
                         rng.uniform(0, 708, 2000), [0.0, 5e-324, math.log(2.0), 700.0, 708.3]])
    got = np.array([_exp_neg(v) for v in x])
    want = np.exp(x)
    assert np.all(np.abs(got - want) <= 3 * np.spacing(want))
    assert _exp_neg(0.0) == 1.0 and _exp_neg(-800.0) == 0.0 and _exp_neg(-744.0) > 0


def _reference(p, effects, t, wn, tile_of_col, seed):
    """The draw written out in NumPy float64 from the same random numbers (no verify):
    np.interp on the law tables' grid, np.exp, two independent read noises combined."""
    n = wn.size
    laws = law_tables(p, t if "read" in effects else None)
    grid = np.arange(laws.programming.shape[0]) * laws.step

    def law(table, g):
        return np.interp(g, grid, table[:, 0])

    writing, drifting, reading = "programming" in effects, "drift" in effects, "read" in effects
    rows = 2 * writing + 2 * drifting + reading
    gen = Draws(seed)  # the random numbers follow wn's memory order (a transposed wn: column by column)
    fortran = not wn.flags.c_contiguous
    z = gen.normal((rows * n,)).astype(np.float64).reshape(rows, *(wn.shape[::-1] if fortran else wn.shape))
    z = z.transpose(0, 2, 1) if fortran else z
    w = wn.astype(np.float64)
    target = p.g_min + p.g_range * np.abs(w)
    if p.levels is not None:
        step = p.g_range / (p.levels - 1)
        target = p.g_min + np.clip(np.rint((target - p.g_min) / step), 0, p.levels - 1) * step
    t_idle, sd_idle, m_idle, s_idle = laws.idle
    active, idle = target, np.full(wn.shape, t_idle)
    if writing:
        active, idle = target + law(laws.programming, target) * z[0], t_idle + sd_idle * z[1]
        if p.stuck_on_rate or p.stuck_off_rate:
            u = gen.uniform((2, *(wn.shape[::-1] if fortran else wn.shape)))
            u = u.transpose(0, 2, 1) if fortran else u
            stuck = [np.where(v <= p.stuck_on_rate, p.g_max, np.where(v > 1 - p.stuck_off_rate, p.g_min, g))
                     for v, g in zip(u, (active, idle), strict=True)]
            assert np.mean(stuck[0] != active) > 0.05  # both rates hit cells here
            active, idle = stuck
        active, idle = np.maximum(active, 0.0), np.maximum(idle, 0.0)
    plus, minus = np.where(w >= 0, active, idle), np.where(w >= 0, idle, active)
    gain = np.ones(wn.shape[1])
    if drifting:
        zd = z[2 * writing: 2 * writing + 2]
        log_ratio = math.log(t / p.drift.t0)
        nu = np.abs(law(laws.nu_mean, target) + law(laws.nu_std, target) * zd[0])
        active_t = active * np.exp(-nu * log_ratio)
        idle_t = idle * np.exp(-np.abs(m_idle + s_idle * zd[1]) * log_ratio)
        before = np.abs(active - idle).sum(0)
        after = np.abs(active_t - idle_t).sum(0)
        tiles = tile_of_col.max() + 1
        per_tile = np.bincount(tile_of_col, before, tiles) / np.bincount(tile_of_col, after, tiles)
        gain = per_tile[tile_of_col]
        plus, minus = np.where(w >= 0, active_t, idle_t), np.where(w >= 0, idle_t, active_t)
    d = (plus - minus) * gain
    if reading:
        d = d + np.sqrt(law(laws.read, plus) ** 2 + law(laws.read, minus) ** 2) * z[rows - 1]
    floor = noise_floor(p, (plus + minus).sum(0)) if reading else None
    return d / p.g_range - w, floor


@pytest.mark.parametrize("overrides", [{}, {"levels": 16}, {"stuck_on_rate": 0.05, "stuck_off_rate": 0.05}])
@pytest.mark.parametrize("effects", [("programming",), ("drift",), ("read",),
                                     ("programming", "drift", "read")])
@pytest.mark.parametrize("order", ["C", "F"])
def test_band_is_the_draw_written_out_in_numpy(effects, overrides, order):
    """One band (70 rows: two of the kernel's chunks of 32 rows and a part; two tiles of 8
    columns; weights of both signs and 0, and a column of zeros; row-major, and column-major as
    a transposed matrix's band is, which the kernels take column by column) equals the NumPy
    reference from the same random numbers to float32 rounding: the scale per column, the
    pairing of G+ and G-, device levels, stuck cells, the gains, the drift's exponential, the
    combined read noise, the noise floor's sums, and the applied weights g w_max."""
    p = devices.load("pcm", verify=None, **overrides)
    t = 86400.0
    w = np.random.default_rng(4).uniform(-0.3, 0.3, (70, 16)).astype(np.float32)
    w[3, :5] = 0.0
    w[:, 7] = 0.0
    w = np.asarray(w, order=order)
    w_max = np.abs(w).max(0)
    w_max[w_max == 0] = 1.0
    wn = np.asarray(w / w_max, order=order)  # float32, as torch divides
    tile_of_col = np.arange(16) // 8
    w_eff = np.full((16, 70), np.nan, np.float32).T  # strided: written in place
    got, scale, floor = band(p, effects, t, w, order == "F", tile_of_col, Draws(9), w_eff)
    want, want_floor = _reference(p, effects, t, wn, tile_of_col, 9)
    assert got.dtype == np.float32 and got.shape == w.shape and got.flags[f"{order}_CONTIGUOUS"]
    assert np.array_equal(scale, w_max)
    delta = got.astype(np.float64) - wn  # g is wn plus the device's error, rounded to float32
    assert np.all(np.abs(delta - want) <= 1e-6 * np.abs(want) + 2 ** -24 * np.abs(got) + 2e-8)
    assert np.abs(want).max() > 1e-3  # the device did move the weights
    np.testing.assert_array_equal(w_eff, got * w_max)
    if "read" in effects:
        np.testing.assert_allclose(floor, want_floor, rtol=1e-12)
    else:
        assert floor is None


@pytest.mark.parametrize("order", ["C", "F"])
def test_band_is_the_same_at_any_thread_count(order):
    """A 256 x 256 band (its normals split over the torch threads in blocks) gives the same
    bits on one thread and on two, in both layouts."""
    import torch

    p = devices.load("pcm")
    wn = np.asarray(np.random.default_rng(6).uniform(-1, 1, (256, 256)).astype(np.float32), order=order)
    cols = np.arange(256) // 128
    before = torch.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            results.append(band(p, ("programming", "drift", "read"), 86400.0, wn, order == "F", cols,
                                Draws(3)))
    finally:
        torch.set_num_threads(before)
    (a, sa, fa), (b, sb, fb) = results
    assert np.array_equal(a, b) and np.array_equal(sa, sb) and np.array_equal(fa, fb)
    assert np.abs(a).max() > 1e-3
