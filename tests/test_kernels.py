"""The Numba kernels against their definitions, with statistical bounds computed from n."""

from __future__ import annotations

import math

import numba
import numpy as np
import torch
from scipy import stats

from crossbar import seeds
from crossbar.read import adc_kernels, dac_kernels, kernels

ONE_SLICE = np.array([0], np.int64)
ONE_WEIGHT = np.ones(1)
NO_VARIANCE = np.empty((0, 0, 0, 0), np.uint16)
NO_FLOOR = np.empty((0, 0), np.float32)
NO_SQUARES = np.empty(0, np.uint16)
ALPHA = 1e-3  # false-alarm rate of each statistical check (fixed seeds make them deterministic)
Z = stats.norm.ppf(1 - ALPHA / 2)


def ks_critical(n: int, alpha: float = ALPHA) -> float:
    """Asymptotic one-sample Kolmogorov-Smirnov critical value for n samples."""
    return math.sqrt(-math.log(alpha / 2) / (2 * n))


def test_standard_normal_distribution():
    n = 400_000
    z = kernels.standard_normal(seeds.kernel_key(11), n)
    assert abs(z.mean()) < Z / math.sqrt(n)
    # Var of the sample variance of N(0,1) is 2/(n-1).
    assert abs(z.var(ddof=1) - 1) < Z * math.sqrt(2 / (n - 1))
    assert stats.kstest(z, "norm").statistic < ks_critical(n)
    # The tails come from the ziggurat's slow path: check their mass too.
    p_tail = 2 * stats.norm.sf(3.0)
    tail = np.mean(np.abs(z) > 3.0)
    assert abs(tail - p_tail) < Z * math.sqrt(p_tail * (1 - p_tail) / n)


def test_streams_differ_and_repeat():
    a = kernels.standard_normal(seeds.kernel_key(1, 2), 1000)
    b = kernels.standard_normal(seeds.kernel_key(1, 3), 1000)
    assert np.array_equal(a, kernels.standard_normal(seeds.kernel_key(1, 2), 1000))
    assert abs(np.corrcoef(a, b)[0, 1]) < Z / math.sqrt(1000)


def test_float32_draw_is_the_pairwise_ziggurat_in_any_split():
    """The blocked float32 draw (fast path vectorised, rejections redone) gives the numbers of
    the pair-by-pair ziggurat, across block boundaries, for odd lengths and draws split at
    even offsets (as run_split splits them)."""
    key = seeds.kernel_key(8)
    n = 2 * kernels.ZIGGURAT_BLOCK * 3 + 5
    reference = kernels.standard_normal(key, n)  # float64, pair by pair
    whole = kernels.normal_float32(key, n, 0.0, 1.0)
    assert np.array_equal(whole, reference.astype(np.float32))
    split = np.empty(n, np.float32)
    for lo, hi in ((0, 2), (2, 2050), (2050, 4096), (4096, n)):
        kernels.normal_float32_into(key, split[lo:hi], lo, 0.0, 1.0)
    assert np.array_equal(split, whole)
    shifted = kernels.normal_float32(key, 101, 1.0, 0.5)
    assert np.array_equal(shifted, (1.0 + 0.5 * reference[:101]).astype(np.float32))


def test_thread_count_does_not_change_numbers():
    key = seeds.kernel_key(5)
    target = np.linspace(1e-6, 2e-5, 5000).reshape(50, 100)
    std = 0.05 * target
    results = []
    for threads in (1, 2):
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        z = kernels.standard_normal(key, 10_001)
        g, it = kernels.program_cells(target, std, key, 1e-7, 5, 0.01, 0.01, 2e-5, 1e-6)
        results.append((z, g, it))
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    for first, second in zip(results[0], results[1], strict=True):
        assert np.array_equal(first, second)


def test_quantise_levels_takes_only_allowed_levels():
    g_min, g_max, levels = 1e-6, 2e-5, 8
    g = np.random.default_rng(0).uniform(0, 3e-5, size=(40, 30))
    q = kernels.quantise_levels(g, g_min, g_max, levels)
    allowed = g_min + np.arange(levels) * (g_max - g_min) / (levels - 1)
    assert np.all(np.min(np.abs(q[..., None] - allowed), axis=-1) < 1e-18)
    inside = (g >= g_min) & (g <= g_max)
    assert np.all(np.abs(q - g)[inside] <= (g_max - g_min) / (levels - 1) / 2 + 1e-18)


def test_program_cells_noise_faults_and_verify():
    n_cells = 200_000
    target = np.full((400, 500), 1e-5)
    sigma = 1e-6
    std = np.full_like(target, sigma)
    p_on, p_off = 0.01, 0.02
    g, it = kernels.program_cells(target, std, seeds.kernel_key(3), np.inf, 1, p_on, p_off, 2e-5, 1e-6)
    on, off = g == 2e-5, g == 1e-6
    for observed, p in ((on.mean(), p_on), (off.mean(), p_off)):
        assert abs(observed - p) < Z * math.sqrt(p * (1 - p) / n_cells)
    healthy = g[~(on | off)]
    n = healthy.size
    assert abs(healthy.mean() - 1e-5) < Z * sigma / math.sqrt(n)
    assert abs(healthy.var(ddof=1) / sigma**2 - 1) < Z * math.sqrt(2 / (n - 1))
    assert np.all(it == 1)

    # Program-and-verify: a write is within tolerance with probability p, so the
    # write count is min(Geometric(p), M), mean (1 - (1-p)^M) / p.
    tol, cap = 0.5 * sigma, 6
    g, it = kernels.program_cells(target, std, seeds.kernel_key(4), tol, cap, 0.0, 0.0, 2e-5, 1e-6)
    p = 2 * stats.norm.cdf(0.5) - 1
    expected = (1 - (1 - p) ** cap) / p
    var_it = np.var(np.minimum(np.random.default_rng(0).geometric(p, 10**6), cap))
    assert abs(it.mean() - expected) < Z * math.sqrt(var_it / n_cells)
    done = it < cap
    assert np.all(np.abs(g[done] - 1e-5) <= tol)
    assert np.all(it >= 1) and np.all(it <= cap)


def test_stuck_cell_exhausts_verify_cap():
    target = np.full((10, 10), 1e-5)
    g, it = kernels.program_cells(target, target * 0.01, seeds.kernel_key(1), 1e-8, 7, 1.0, 0.0, 2e-5, 1e-6)
    assert np.all(g == 2e-5) and np.all(it == 7)


def test_drift_power_law():
    g0 = np.array([[1e-5, 2e-5]])
    nu = np.array([[0.05, 0.1]])
    g = kernels.drift_conductance(g0, nu, 2000.0, 20.0)
    np.testing.assert_allclose(g, g0 * 100.0 ** -nu, rtol=1e-12)
    np.testing.assert_array_equal(kernels.drift_conductance(g0, nu, 10.0, 20.0), g0)


def test_block_normals_distribution():
    rows, cols = 800, 501  # an odd column count: the last pair's second normal is unused
    z = adc_kernels.block_normals(seeds.kernel_key(12), rows, cols).astype(np.float64)
    n = z.size
    flat = z.ravel()
    assert abs(flat.mean()) < Z / math.sqrt(n)
    assert abs(flat.var(ddof=1) - 1) < Z * math.sqrt(2 / (n - 1))
    assert stats.kstest(flat, "norm").statistic < ks_critical(n)
    for t in (2.0, 3.0, 4.0):  # tail masses
        p_tail = 2 * stats.norm.sf(t)
        assert abs(np.mean(np.abs(flat) > t) - p_tail) < Z * math.sqrt(p_tail * (1 - p_tail) / n)
    # the two normals of a Box-Muller pair (columns j and j + 251) and neighbours are uncorrelated
    for a, b in ((z[:, :250], z[:, 251:501]), (z[:, :-1], z[:, 1:]), (z[:-1], z[1:])):
        for f in (lambda v: v, np.square):
            r = np.corrcoef(f(a).ravel(), f(b).ravel())[0, 1]
            assert abs(r) < Z / math.sqrt(a.size)
    assert np.array_equal(z, adc_kernels.block_normals(seeds.kernel_key(12), rows, cols))
    other = adc_kernels.block_normals(seeds.kernel_key(13), rows, cols)
    assert abs(np.corrcoef(flat, other.ravel())[0, 1]) < Z / math.sqrt(n)


def test_dac_scales_quantises_and_writes_band_major():
    x = np.array([[0.5, -2.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]], dtype=np.float32)
    starts = np.array([0, 3, 4])  # two row bands: inputs 0..2 and input 3
    u = np.full(8, np.nan, dtype=np.float32)
    s = np.empty(2, dtype=np.float32)
    dac_kernels.dac(x, 3, np.array([2], np.int64), 1, starts, u, np.empty(0, np.uint16), s)  # grid k/3
    np.testing.assert_array_equal(s, [2.0, 1.0])
    band0 = u[:6].reshape(2, 3)  # rows x band inputs, contiguous
    band1 = u[6:].reshape(2, 1)
    np.testing.assert_allclose(band0[0], [1 / 3, -1.0, 2 / 3], rtol=1e-6)  # 0.25 -> 1/3, 0.5 -> 2/3
    np.testing.assert_array_equal(band0[1], [0, 0, 0])
    np.testing.assert_array_equal(band1[:, 0], [0.0, 0.0])
    dac_kernels.dac(x, 0, ONE_SLICE, 1, np.array([0, 4]), u, np.empty(0, np.uint16), s)  # ideal: x / max|x|
    np.testing.assert_allclose(u[:4], x[0] / 2.0)
    bad = np.array([[1.0, np.inf], [np.nan, 0.0], [1.0, 2.0]], dtype=np.float32)
    s3 = np.empty(3, dtype=np.float32)
    dac_kernels.dac(bad, 0, ONE_SLICE, 1, np.array([0, 2]), np.empty(6, np.float32), NO_SQUARES, s3)
    assert np.isnan(s3[0]) and np.isnan(s3[1]) and s3[2] == 2.0  # rows holding NaN or inf are marked


def test_dac_squares_round_to_bfloat16_as_torch_does():
    x = np.random.default_rng(1).normal(size=(70, 300)).astype(np.float32)
    starts = np.array([0, 256, 300])
    u = np.empty(x.size, np.float32)
    u2 = torch.empty(x.size, dtype=torch.bfloat16)
    dac_kernels.dac(x, 0, ONE_SLICE, 1, starts, u, u2.view(torch.int16).numpy().view(np.uint16),
                    np.empty(70, np.float32))
    assert torch.equal(u2, torch.from_numpy(u).square().to(torch.bfloat16))


def test_dac_slices_and_phases_rebuild_the_code():
    """Bit-serial slices (LSB first) and two phases: read r = slice * 2 + phase drives
    sign(k) d / D as a positive voltage in its phase; sum_r w_r v_r = k / K (docs/physics.md)."""
    from crossbar import devices
    from crossbar.read.plan import ReadPlan

    x = np.array([[1.0, -0.5, 0.25, -1 / 7, 0.0, 3 / 7]], dtype=np.float32)
    plan = ReadPlan.of(devices.load("nand", dac_bits=4))  # 3 one-bit slices, two phases: 6 reads
    n = x.shape[1]
    u = np.full(plan.reads * n, np.nan, dtype=np.float32)
    s = np.empty(1, dtype=np.float32)
    dac_kernels.dac(x, plan.bits, plan.widths_array, plan.phases, np.array([0, n]), u, NO_SQUARES, s)
    v = u.reshape(plan.reads, n)
    codes = np.rint(x[0] * 7)  # 7, -4 (rint -3.5), 2 (rint 1.75), -1, 0, 3
    assert np.array_equal(codes, [7, -4, 2, -1, 0, 3])
    assert np.all(v >= 0) and np.all((v == 0) | (v == 1))  # one-bit slices, positive drive
    assert np.array_equal(v[0], [1, 0, 0, 0, 0, 1]) and np.array_equal(v[1], [0, 0, 0, 1, 0, 0])  # bit 0
    assert np.array_equal(v[4], [1, 0, 0, 0, 0, 0]) and np.array_equal(v[5], [0, 1, 0, 0, 0, 0])  # bit 2
    np.testing.assert_allclose(np.array(plan.weights) @ v, codes / 7, rtol=1e-6)
    ref = plan.voltages(torch.from_numpy(x)).numpy()[:, 0]  # the torch reference agrees exactly
    assert np.array_equal(ref, v)


def _band_major(v: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Voltages (reads x rows x inputs) in the DAC's flat band-major layout."""
    return np.concatenate([v[:, :, r0:r1].ravel() for r0, r1 in zip(starts[:-1], starts[1:], strict=True)])


def test_dac_many_rows_of_many_reads_match_the_reference_in_every_band():
    """Rows over several launches' tasks, three row bands, 14 reads (bit-serial, two phases),
    a row holding infinity in the middle: each read's voltages and squares land where the
    reference (``ReadPlan.voltages``) puts them, the bad row marked and left alone."""
    from crossbar import devices
    from crossbar.read.plan import ReadPlan

    plan = ReadPlan.of(devices.load("nand"))
    rows, n = 3 * dac_kernels.DAC_ROWS_PER_TASK + 5, 300
    x = np.random.default_rng(4).normal(size=(rows, n)).astype(np.float32)
    x /= np.abs(x).max(axis=1, keepdims=True)  # each row's largest magnitude is exactly 1
    x[40, 7] = np.inf
    starts = np.array([0, 128, 256, n])
    u = np.full(plan.reads * rows * n, np.nan, np.float32)
    u2 = torch.full((u.size,), np.nan, dtype=torch.bfloat16)
    scale = np.empty(rows, np.float32)
    dac_kernels.dac(x, plan.bits, plan.widths_array, plan.phases, starts, u,
                    u2.view(torch.int16).numpy().view(np.uint16), scale)
    assert np.isnan(scale[40]) and np.all(np.delete(scale, 40) == 1.0)
    good = np.ones(rows, bool)
    good[40] = False
    ref = plan.voltages(torch.from_numpy(np.where(good[:, None], x, 0.0))).numpy()
    want = _band_major(ref, starts)  # u[p] is want[p] for the rows without infinity
    mask = _band_major(np.broadcast_to(good[None, :, None], ref.shape), starts)
    np.testing.assert_array_equal(u[mask], want[mask])
    assert np.isnan(u[~mask]).all()  # the marked row's voltages are not written
    assert torch.equal(u2[torch.from_numpy(mask)], torch.from_numpy(u[mask]).square().to(torch.bfloat16))


def test_dac_without_negative_inputs_writes_the_positive_phase_only():
    """``negative=False`` (no input is negative): the positive phase's voltages and squares as
    the full conversion writes them, the negative phase's left untouched."""
    from crossbar import devices
    from crossbar.read.plan import ReadPlan

    plan = ReadPlan.of(devices.load("nand"))
    x = np.abs(np.random.default_rng(6).normal(size=(40, 50))).astype(np.float32)
    starts = np.array([0, 32, 50])
    out = {}
    for negative in (True, False):
        u = np.full(plan.reads * x.size, np.nan, np.float32)
        u2 = np.full(u.size, 7, np.uint16)
        dac_kernels.dac(x, plan.bits, plan.widths_array, plan.phases, starts, u, u2, np.empty(40, np.float32),
                        negative)
        out[negative] = u, u2
    phase = _band_major(np.broadcast_to((np.arange(plan.reads) % 2)[:, None, None], (plan.reads, 40, 50)),
                        starts)
    for full, half in zip(out[True], out[False], strict=True):
        assert np.array_equal(full[phase == 0], half[phase == 0])
    assert np.all(out[True][0][phase == 1] == 0)  # what a non-negative input drives there
    assert np.isnan(out[False][0][phase == 1]).all() and np.all(out[False][1][phase == 1] == 7)


def test_dac_patches_of_many_reads_are_the_dac_of_the_patch_matrix():
    """The patches' DAC (padding, stride, several images and output rows, 14 reads, bands) writes
    what the DAC of the im2col matrix writes, bit for bit, squares included."""
    from crossbar import devices
    from crossbar.read.ops import im2col
    from crossbar.read.plan import ReadPlan

    plan = ReadPlan.of(devices.load("nand"))
    images = torch.randn(3, 5, 9, 8, generator=torch.Generator().manual_seed(2))
    kernel, stride, padding, dilation = (3, 3), (2, 1), (1, 1), (1, 1)
    patches = im2col(images, kernel, stride, padding, dilation)
    rows, n = patches.shape
    out_hw = np.array([5, 8], np.int64)
    assert rows == 3 * out_hw.prod()
    starts = np.array([0, 16, 32, n])
    results = []
    for call in ("patches", "matrix"):
        u = np.full(plan.reads * rows * n, np.nan, np.float32)
        u2 = np.zeros(u.size, np.uint16)
        scale = np.empty(rows, np.float32)
        if call == "patches":
            dac_kernels.dac_patches(images.numpy(), *(np.array(g, np.int64) for g in (kernel, stride, padding,
                                    dilation)), out_hw, plan.bits, plan.widths_array, plan.phases, starts,
                                    u, u2, scale)
        else:
            dac_kernels.dac(patches.numpy(), plan.bits, plan.widths_array, plan.phases, starts, u, u2, scale)
        results.append((u, u2, scale))
    for a, b in zip(*results, strict=True):
        assert np.array_equal(a.view(np.uint8), b.view(np.uint8))
    assert not np.isnan(results[0][0]).any()


def test_read_bands_clips_quantises_and_sums_the_bands():
    current = np.array([[[0.30, -2.0, 0.74]], [[0.4, 0.1, -0.1]]], dtype=np.float32)  # 2 bands, 1 row
    out = np.full((1, 1, 3), np.nan, dtype=np.float32)
    full_scale = np.ones((2, 3))
    col_scale = np.array([[2.0, 2.0, 2.0], [1.0, 1.0, 1.0]])
    keys = np.zeros((2, 1), dtype=np.uint64)
    clips = np.zeros(1, np.int64)
    adc_kernels.read_bands(current[:, None], NO_VARIANCE, NO_FLOOR, keys, ONE_WEIGHT, full_scale, 3,
                            col_scale, np.array([0.5], np.float32), 0, out, clips)
    assert clips[0] == 1  # -2 clipped
    # 3 bits: step 1/3. Band 0: 0.30 -> 1/3, -2 -> clipped -1, 0.74 -> 2/3, times 2 * 0.5;
    # band 1: 0.4 -> 1/3, +-0.1 -> 0, times 1 * 0.5; the bands summed, out overwritten.
    np.testing.assert_allclose(out[0, 0], [1 / 3 + 1 / 6, -1.0, 2 / 3], rtol=1e-6)


def test_read_bands_many_blocks_per_task_match_the_row_definition():
    """A batch of more blocks than READ_TASKS (blocks strided over the tasks) reads every row with
    that row's normals (row_normals), whatever thread count and launch split."""
    rng = np.random.default_rng(1)
    bands, cols = 2, 256
    batch = 9 * adc_kernels.READ_TASKS * max(1, adc_kernels.TASK_VALUES // cols) // 4 + 3
    current = rng.normal(size=(bands, 1, batch, cols)).astype(np.float32)
    var32 = rng.uniform(0.01, 0.2, size=(bands, 1, batch, cols)).astype(np.float32)
    variance = torch.from_numpy(var32).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    var_f = torch.from_numpy(variance.view(np.int16)).view(torch.bfloat16).float().numpy()
    floor = rng.uniform(0.0, 0.05, size=(bands, cols)).astype(np.float32)
    keys = np.array([[seeds.kernel_key(2, i)] for i in range(bands)], dtype=np.uint64)
    col_scale = rng.uniform(0.5, 2.0, size=(bands, cols))
    row_scale = rng.uniform(0.5, 2.0, size=batch).astype(np.float32)
    args = (floor, keys, ONE_WEIGHT, np.full((bands, cols), 1e6), 0, col_scale, row_scale, 0)  # no clipping
    expected = np.zeros((batch, cols))
    for i in range(bands):
        z = adc_kernels.row_normals(keys[i, 0], np.arange(batch), cols).astype(np.float64)
        noisy = current[i, 0] + np.sqrt(var_f[i, 0].astype(np.float64) + floor[i]) * z
        expected += noisy * col_scale[i] * row_scale[:, None]
    results = []
    for threads in (1, 2):
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        out = np.zeros((batch, 1, cols), np.float32)
        adc_kernels.read_bands(current, variance, *args, out, np.zeros(batch, np.int64))
        results.append(out[:, 0])
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert np.array_equal(results[0], results[1])
    np.testing.assert_allclose(results[0], expected, rtol=1e-5, atol=1e-5)


def test_read_bands_noise_is_keyed_by_row_index_not_launch():
    rng = np.random.default_rng(0)
    current = rng.normal(size=(2, 10, 5)).astype(np.float32)
    variance = torch.rand(2, 10, 5, generator=torch.Generator().manual_seed(0)).add(0.1).to(torch.bfloat16)
    variance = variance.view(torch.int16).numpy().view(np.uint16)
    keys = np.array([[seeds.kernel_key(1, 0)], [seeds.kernel_key(1, 1)]], dtype=np.uint64)
    floor = np.full((2, 5), 0.01, np.float32)
    args = (np.full((2, 5), 100.0), 0, np.ones((2, 5)))
    current, variance = current[:, None], variance[:, None]
    clips = np.zeros(10, np.int64)
    whole = np.zeros((10, 1, 5), dtype=np.float32)
    adc_kernels.read_bands(current, variance, floor, keys, ONE_WEIGHT, *args, np.ones(10, np.float32), 0,
                            whole, clips)
    parts = np.zeros((10, 1, 5), dtype=np.float32)
    for r0, r1 in ((0, 4), (4, 10)):  # two launches, the second knowing its rows start at 4
        adc_kernels.read_bands(np.ascontiguousarray(current[:, :, r0:r1]),
                                np.ascontiguousarray(variance[:, :, r0:r1]), floor,
                                keys, ONE_WEIGHT, *args, np.ones(r1 - r0, np.float32), r0, parts[r0:r1],
                                clips[r0:r1])
    assert np.array_equal(whole, parts)
    # the noise of a row is what row_normals gives for that row index
    z0 = adc_kernels.row_normals(keys[0, 0], np.arange(10), 5)
    assert np.array_equal(adc_kernels.row_normals(keys[0, 0], np.array([7, 3]), 5), z0[[7, 3]])
    store = np.zeros((2, 5, 5), dtype=np.float32)  # out with strides: row b goes to store[b // 5, :, b % 5]
    adc_kernels.read_bands(current, variance, floor, keys, ONE_WEIGHT, *args, np.ones(10, np.float32), 0,
                            store.transpose(0, 2, 1), clips)
    assert np.array_equal(store.transpose(0, 2, 1).reshape(10, 5), whole[:, 0])
    assert not np.allclose(whole[:, 0], current[:, 0].sum(axis=0))  # the noise did act
