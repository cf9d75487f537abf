"""CrossbarArray: mapping, tiling, converters and noise statistics against their equations."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
import torch
from crossbar.devices.noise import NoiseFunction
from scipy import stats

from crossbar import CrossbarArray, devices
from crossbar.read import cpu as readcpu
from crossbar.read import ops as readops
from crossbar.seeds import Stream, derive

ALPHA = 1e-3
Z = stats.norm.ppf(1 - ALPHA / 2)
G_MAX = 25e-6


def law(form: str, **params) -> NoiseFunction:
    return NoiseFunction.from_spec({"form": form, **params}, g_max=G_MAX)


def physical(**overrides):
    """An ideal tile profile with the requested non-idealities switched on."""
    base = dict(g_min=1e-6, g_max=G_MAX, tile_rows=64, tile_cols=48, adc_range=1.0)
    base.update(overrides)
    return devices.load("ideal", **base)


def test_noise_free_mvm_matches_product_within_quantisation_bound():
    rng = np.random.default_rng(0)
    W = rng.normal(0, 0.1, size=(150, 70))
    x = rng.normal(size=(40, 150)).astype(np.float32)
    dac_bits, adc_bits, levels = 8, 10, 64
    p = physical(dac_bits=dac_bits, adc_bits=adc_bits, levels=levels)
    y = CrossbarArray.program(W, p, seed=0).mvm(x)
    # Error bound, per output, from the three quantisers (first order plus cross term):
    # |du| <= 1/(2 Ld) per input, |dw| <= w_max/(2 (levels-1)) per weight,
    # ADC <= full_scale/(2 La) per tile column, full_scale = tile_rows (adc_range 1).
    Ld, La = 2 ** (dac_bits - 1) - 1, 2 ** (adc_bits - 1) - 1
    s = np.abs(x).max(axis=1, keepdims=True)
    bound = np.zeros_like(y, dtype=np.float64)
    for r0 in range(0, 150, p.tile_rows):
        for c0 in range(0, 70, p.tile_cols):
            blk = W[r0:r0 + p.tile_rows, c0:c0 + p.tile_cols]
            w_max = np.abs(blk).max(axis=0)
            du = 1 / (2 * Ld)
            dw = w_max / (2 * (levels - 1))
            adc = p.tile_rows / (2 * La) * w_max
            rows = np.abs(x[:, r0:r0 + p.tile_rows]) / s
            term = (du * np.abs(blk).sum(axis=0) + (rows.sum(axis=1, keepdims=True) + du * blk.shape[0]) * dw
                    + adc)
            bound[:, c0:c0 + p.tile_cols] += s * term
    err = np.abs(y - x.astype(np.float64) @ W)
    assert np.all(err <= bound * 1.0001 + 1e-5)
    assert err.max() > 0  # the quantisers did act


def test_ideal_profile_reproduces_product_and_tiling_is_transparent():
    rng = np.random.default_rng(1)
    W = rng.normal(size=(300, 130)).astype(np.float32)
    x = rng.normal(size=(17, 300)).astype(np.float32)
    ideal = devices.load("ideal")
    y_big = CrossbarArray.program(W, ideal.with_overrides(tile_rows=512, tile_cols=512)).mvm(x)
    y_small = CrossbarArray.program(W, ideal.with_overrides(tile_rows=32, tile_cols=16)).mvm(x)
    ref = x.astype(np.float64) @ W
    scale = np.abs(ref).max()
    np.testing.assert_allclose(y_big, ref, atol=2e-5 * scale)
    np.testing.assert_allclose(y_small, ref, atol=2e-5 * scale)
    np.testing.assert_allclose(y_small, y_big, atol=2e-5 * scale)


def test_fortran_ordered_weights_program_like_c_ordered():
    """Transposed torch weights arrive Fortran-ordered; every kernel must read them right."""
    W = np.random.default_rng(2).uniform(-1, 1, size=(40, 30))
    pcm = devices.load("pcm", levels=16, tile_rows=32, tile_cols=16)
    a = CrossbarArray.program(W, pcm, seed=3)
    b = CrossbarArray.program(np.asfortranarray(W), pcm, seed=3)
    for ta, tb in zip(a.tiles, b.tiles, strict=True):
        assert np.array_equal(ta.g_plus, tb.g_plus) and np.array_equal(ta.g_minus, tb.g_minus)
    a.age(1e5)
    b.age(1e5)
    assert np.array_equal(a.effective_weights(), b.effective_weights())
    assert np.all(np.isfinite(a.effective_weights()))


def test_torch_in_torch_out_and_single_vector():
    W = np.eye(5, 3)
    arr = CrossbarArray.program(W, devices.load("ideal"))
    out = arr.mvm(torch.ones(2, 5))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == (2, 3)
    single = arr.mvm(np.ones(5, dtype=np.float32))
    assert single.shape == (3,)
    np.testing.assert_allclose(single, [1, 1, 1], rtol=1e-6)


def test_bad_inputs_raise_clear_errors():
    arr = CrossbarArray.program(np.ones((4, 2)), devices.load("ideal"))
    with pytest.raises(ValueError, match="NaN or infinite"):
        arr.mvm(np.array([[1.0, np.nan, 0, 0]]))
    with pytest.raises(ValueError, match="NaN or infinite"):
        CrossbarArray.program(np.array([[np.inf, 1.0]]), devices.load("ideal"))
    with pytest.raises(ValueError, match="4 inputs"):
        arr.mvm(np.ones((3, 5)))
    with pytest.raises(ValueError, match="dimensions"):
        CrossbarArray.program(np.ones(4), devices.load("ideal"))
    with pytest.raises(ValueError, match="bias"):
        arr.mvm(np.ones((1, 4)), bias=np.ones(3))


def test_programming_noise_statistics_follow_the_profile_law():
    frac = 0.05
    p = physical(programming_noise=law("relative", fraction=frac))
    W = np.full((64, 48), 0.5)
    W[::2, :] = 1.0  # every column scales to w_max = 1: targets g_min + 0.5 range and g_max
    arr = CrossbarArray.program(W, p, seed=3)
    g = arr.tiles[0].g_plus
    for target_w in (0.5, 1.0):
        cells = g[W == target_w]
        target = p.g_min + (p.g_max - p.g_min) * target_w
        sigma = frac * target
        n = cells.size
        assert abs(cells.mean() - target) < Z * sigma / math.sqrt(n)
        assert abs(cells.var(ddof=1) / sigma**2 - 1) < Z * math.sqrt(2 / (n - 1))
    # G- of positive weights sits at g_min with noise frac * g_min.
    gm = arr.tiles[0].g_minus.ravel()
    assert abs(gm.std(ddof=1) / (frac * p.g_min) - 1) < Z * math.sqrt(2 / (gm.size - 1))


def test_fault_rates_within_binomial_bounds():
    p_on, p_off = 0.02, 0.05
    p = physical(stuck_on_rate=p_on, stuck_off_rate=p_off, tile_rows=200, tile_cols=200)
    W = np.full((200, 200), 0.5)
    W[0] = 1.0  # w_max = 1: G+ targets mid-range (rows 1:), every G- targets g_min
    tile = CrossbarArray.program(W, p, seed=4).tiles[0]
    on = tile.g_minus.ravel() == p.g_max  # only a stuck-on cell reaches g_max from g_min
    off = tile.g_plus[1:].ravel() == p.g_min  # only a stuck-off cell lands exactly on g_min
    for hits, rate in ((on, p_on), (off, p_off)):
        assert abs(hits.mean() - rate) < Z * math.sqrt(rate * (1 - rate) / hits.size)


def test_levels_are_exact():
    p = physical(levels=5)
    W = np.random.default_rng(0).uniform(-1, 1, size=(64, 48))
    tile = CrossbarArray.program(W, p).tiles[0]
    allowed = p.g_min + np.arange(5) * (p.g_max - p.g_min) / 4
    for g in (tile.g_plus, tile.g_minus):
        assert np.all(np.min(np.abs(g[..., None] - allowed), axis=-1) == 0)


def _read_noise_array(rows=64, cols=8):
    p = physical(read_noise=law("relative", fraction=0.1), tile_rows=rows, tile_cols=cols,
                 programming_noise=law("relative", fraction=0.02))
    W = np.random.default_rng(5).uniform(-1, 1, size=(rows, cols))
    return CrossbarArray.program(W, p, seed=6)


def key(n: int = 0, seed: int = 0) -> int:
    return derive(seed, Stream.READ, n)


def test_read_noise_mean_and_variance_match_the_cell_law():
    arr = _read_noise_array()
    p = arr.profile
    x = np.random.default_rng(7).uniform(-1, 1, size=(1, 64)).astype(np.float32)
    reads = 20_000
    y = arr.mvm(np.repeat(x, reads, axis=0), key=key()).astype(np.float64)
    tile = arr.tiles[0]
    s = np.abs(x).max()
    u = x[0] / s
    w_scale = arr._col_scales[0]
    g_range = p.g_max - p.g_min
    mean = (u @ ((tile.g_plus - tile.g_minus) / g_range)) * w_scale * s
    var_cell = (0.1 * tile.g_plus) ** 2 + (0.1 * tile.g_minus) ** 2
    var = (u**2 @ var_cell) / g_range**2 * (w_scale * s) ** 2
    sample_mean, sample_var = y.mean(axis=0), y.var(axis=0, ddof=1)
    assert np.all(np.abs(sample_mean - mean) < Z * np.sqrt(var / reads))
    # sampling error plus the derived bound of the bfloat16 variance product
    tolerance = Z * math.sqrt(2 / (reads - 1)) + readops.variance_error_bound(64)
    assert np.all(np.abs(sample_var / var - 1) < tolerance)


def test_exact_read_noise_agrees_with_per_cell_monte_carlo():
    arr = _read_noise_array(rows=32, cols=4)
    x = np.random.default_rng(8).uniform(-1, 1, size=(1, 32)).astype(np.float32)
    n = 4000
    batch = np.repeat(x, n, axis=0)
    fast = arr.mvm(batch, key=key()).astype(np.float64)
    slow = arr.mvm_per_cell(batch, np.random.default_rng(9)).astype(np.float64)
    for j in range(fast.shape[1]):
        a, b = fast[:, j], slow[:, j]
        pooled = math.sqrt((a.var() + b.var()) / 2)
        assert abs(a.mean() - b.mean()) < Z * pooled * math.sqrt(2 / n)
        # F-test on the variances.
        f = a.var(ddof=1) / b.var(ddof=1)
        assert stats.f.ppf(ALPHA / 2, n - 1, n - 1) < f < stats.f.ppf(1 - ALPHA / 2, n - 1, n - 1)
        assert stats.ks_2samp(a, b).pvalue > ALPHA


def test_same_key_same_bits_any_thread_count():
    arr = _read_noise_array()
    x = np.random.default_rng(1).normal(size=(256, 64)).astype(np.float32)
    outs = []
    for threads in (1, 2):
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        torch_threads = torch.get_num_threads()
        torch.set_num_threads(threads)
        fresh = CrossbarArray.program(arr.weights, arr.profile, seed=6)
        outs.append((fresh.mvm(x, key=key(0)), fresh.mvm(x, key=key(1))))
        torch.set_num_threads(torch_threads)
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert np.array_equal(outs[0][0], outs[1][0]) and np.array_equal(outs[0][1], outs[1][1])
    assert not np.array_equal(outs[0][0], outs[0][1])  # another key, other read noise


def test_reads_are_pure_functions_of_state_input_and_key():
    arr = _read_noise_array()
    x = np.random.default_rng(2).normal(size=(50, 64)).astype(np.float32)
    first = arr.mvm(x, key=key(3))
    arr.mvm(x, key=key(4))  # another read in between changes nothing
    assert np.array_equal(arr.mvm(x, key=key(3)), first)
    assert not hasattr(arr, "reseed") and not hasattr(arr, "reads")
    with pytest.raises(ValueError, match="key=crossbar.seeds.derive"):
        arr.mvm(x)
    for bad in (-1, 1.5, True, 2**64, "7"):
        with pytest.raises(ValueError, match="key must be an integer"):
            arr.mvm(x, key=bad)
    # a deterministic read needs no key
    quiet = CrossbarArray.program(arr.weights, physical(levels=16), seed=0)
    assert quiet.is_deterministic and not arr.is_deterministic
    assert np.array_equal(quiet.mvm(x), quiet.mvm(x, key=key(9)))


def test_row_chunks_do_not_change_the_bits(monkeypatch):
    arr = _read_noise_array()
    x = np.random.default_rng(3).normal(size=(300, 64)).astype(np.float32)
    whole = arr.mvm(x, key=key(5))
    monkeypatch.setattr(readcpu, "CHUNK_ROWS", 37)
    assert np.array_equal(arr.mvm(x, key=key(5)), whole)
    # a caller reading a batch in parts with one key (row0) gets the same bits too
    xt = torch.from_numpy(x)
    parts = torch.cat([arr.read(xt[:120], key(5)), arr.read(xt[120:], key(5), row0=120)])
    assert np.array_equal(parts.numpy(), whole)


def test_variance_product_within_its_derived_bfloat16_bound():
    rng = np.random.default_rng(4)
    rows = 256
    u = torch.from_numpy(rng.uniform(-1, 1, size=(500, rows)).astype(np.float32))
    var32 = torch.from_numpy(rng.uniform(0, 1e-3, size=(rows, 40)).astype(np.float32))
    exact = u.double().square() @ var32.double()
    approx = readops.variance_product(u, var32.to(torch.bfloat16)).double()
    rel = ((approx - exact) / exact).abs().max().item()
    bound = readops.variance_error_bound(rows)
    assert rel <= bound
    assert rel > 2.0**-9  # bfloat16 rounding is visible: the bound is not vacuous
    # the buffers hold each tile's cell variances rounded once to bfloat16
    arr = _read_noise_array()
    tile = arr.tiles[0]
    stored = arr.variance[0, : tile.rows, tile.col_slice].double().numpy()
    assert np.all(np.abs(stored / tile.read_variance - 1) <= 2.0**-8)


def test_torch_read_path_matches_the_kernels():
    """The plain-torch read (what runs on CUDA tensors) run on the CPU against the Numba path."""
    rng = np.random.default_rng(5)
    W = rng.uniform(-1, 1, size=(150, 70))
    x = torch.from_numpy(rng.normal(size=(64, 150)).astype(np.float32))
    quiet = CrossbarArray.program(W, physical(), seed=1)
    np.testing.assert_allclose(readops.read_torch(quiet, x, None).numpy(), quiet.read(x, None).numpy(),
                               rtol=1e-5, atol=1e-5)
    # with converters: the two may round a value at a grid boundary differently, by one step at most
    conv = CrossbarArray.program(W, physical(dac_bits=6, adc_bits=7), seed=1)
    a, b = readops.read_torch(conv, x, None).numpy(), conv.read(x, None).numpy()
    adc_step = conv.profile.tile_rows / (2**6 - 1) * np.abs(W).max() * np.abs(x.numpy()).max()
    off_grid = ~np.isclose(a, b, rtol=1e-5, atol=1e-5)
    assert np.mean(off_grid) < 0.01 and np.abs(a - b).max() <= 1.01 * adc_step
    # with read noise: other random numbers, the same distribution
    arr = _read_noise_array()
    x1 = np.random.default_rng(7).uniform(-1, 1, size=(1, 64)).astype(np.float32)
    batch = torch.from_numpy(np.repeat(x1, 4000, axis=0))
    fast = arr.read(batch, key(1)).double().numpy()
    plain = readops.read_torch(arr, batch, key(1)).double().numpy()
    n = batch.shape[0]
    for j in range(fast.shape[1]):
        f = fast[:, j].var(ddof=1) / plain[:, j].var(ddof=1)
        assert stats.f.ppf(ALPHA / 2, n - 1, n - 1) < f < stats.f.ppf(1 - ALPHA / 2, n - 1, n - 1)
        assert abs(fast[:, j].mean() - plain[:, j].mean()) < Z * fast[:, j].std() * math.sqrt(2 / n)


def test_state_dict_and_device_moves_keep_the_reads():
    arr = _read_noise_array()
    other = CrossbarArray.program(arr.weights, arr.profile, seed=99)  # other programming noise
    x = np.random.default_rng(8).normal(size=(20, 64)).astype(np.float32)
    assert not np.array_equal(other.mvm(x, key=key()), arr.mvm(x, key=key()))
    other.load_state_dict(arr.state_dict())
    assert np.array_equal(other.mvm(x, key=key()), arr.mvm(x, key=key()))
    assert set(arr.state_dict()) == {"weights", "conductance", "variance", "full_scale", "col_scale"}
    pcm = CrossbarArray.program(arr.weights, devices.load("pcm"), seed=1)  # a circuit noise floor too
    assert set(pcm.state_dict()) == {"weights", "conductance", "variance", "floor", "full_scale", "col_scale"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: the read path on GPU tensors")
def test_cuda_read_has_the_cpu_distribution():
    arr = _read_noise_array()
    x1 = np.random.default_rng(7).uniform(-1, 1, size=(1, 64)).astype(np.float32)
    batch = torch.from_numpy(np.repeat(x1, 4000, axis=0))
    cpu = arr.mvm(batch, key=key(2)).double().numpy()
    gpu_array = CrossbarArray.program(arr.weights, arr.profile, seed=6).to("cuda")
    out = gpu_array.mvm(batch.cuda(), key=key(2))
    assert out.device.type == "cuda"
    gpu = out.double().cpu().numpy()
    n = batch.shape[0]
    for j in range(cpu.shape[1]):
        f = cpu[:, j].var(ddof=1) / gpu[:, j].var(ddof=1)
        assert stats.f.ppf(ALPHA / 2, n - 1, n - 1) < f < stats.f.ppf(1 - ALPHA / 2, n - 1, n - 1)
        assert abs(cpu[:, j].mean() - gpu[:, j].mean()) < Z * cpu[:, j].std() * math.sqrt(2 / n)
    assert torch.equal(gpu_array.mvm(batch.cuda(), key=key(2)), out)  # same key, same bits


def test_output_noise_profiles_follow_qin_equations():
    W = np.random.default_rng(0).normal(size=(20, 6)).astype(np.float32)
    x = np.random.default_rng(1).normal(size=(1, 20)).astype(np.float32)
    bias = np.linspace(-1, 1, 6).astype(np.float32)
    clean = (x @ W + bias)[0].astype(np.float64)
    n = 20_000
    for kind in ("mult", "add"):
        p = devices.load(f"gaussian-{kind}")
        sigma = p.output_noise.sigma
        arr = CrossbarArray.program(W, p, seed=2)
        y = arr.mvm(np.repeat(x, n, axis=0), key=key(), bias=bias).astype(np.float64)
        std = sigma * np.abs(clean) if kind == "mult" else np.full(6, sigma)
        assert np.all(np.abs(y.mean(axis=0) - clean) < Z * std / math.sqrt(n) + 1e-6)
        assert np.all(np.abs(y.std(axis=0, ddof=1) / std - 1) < Z * math.sqrt(1 / (2 * (n - 1))) + 1e-3)
        exact = arr.mvm(x, bias=bias, output_noise=False)  # the product alone needs no key
        np.testing.assert_allclose(exact[0], clean, rtol=1e-5, atol=1e-5)


def test_drift_follows_power_law_and_compensation_restores_scale():
    pcm = devices.load("pcm", tile_rows=64, tile_cols=32)
    W = np.random.default_rng(0).uniform(-1, 1, size=(64, 32))
    arr = CrossbarArray.program(W, pcm, seed=1)
    tile = arr.tiles[0]
    assert arr.time == pcm.time_since_programming  # programmed arrays are read at the profile's time
    g0 = tile.g0_plus
    t = 1e4
    arr.age(t, compensate=False)
    np.testing.assert_allclose(tile.g_plus, g0 * (t / pcm.drift.t0) ** -tile.nu_plus, rtol=1e-10)
    assert np.all(tile.g_plus <= g0) and arr.time == t
    ideal_sum = np.abs(arr.effective_weights()).sum()
    arr.age(t, compensate=True)
    compensated = np.abs(arr.effective_weights()).sum()
    assert abs(compensated - np.abs(W).sum()) < abs(ideal_sum - np.abs(W).sum())
    arr.age(10.0)  # before t0: no drift
    np.testing.assert_array_equal(tile.g_plus, g0)
    still = CrossbarArray.program(W, devices.load("ideal"))
    before = still.effective_weights()
    still.age(1e6)  # a profile without drift ages without change
    np.testing.assert_array_equal(still.effective_weights(), before)
    for bad in (0.0, -1.0, math.inf, True):
        with pytest.raises(ValueError, match="time since programming"):
            arr.age(bad)


def test_patch_read_takes_images_of_any_strides():
    """A slice of a batch's channels (what a group array of a grouped convolution reads) and a
    channels-last batch read in place give the bits of their contiguous copies."""
    gen = torch.Generator().manual_seed(5)
    batch = torch.randn(4, 7, 10, 9, generator=gen)
    geometry = ((3, 3), (2, 1), (1, 1), (1, 1))
    W = np.random.default_rng(7).uniform(-1, 1, size=(3 * 9, 5))
    arr = CrossbarArray.program(W, physical(read_noise=law("relative", fraction=0.1), dac_bits=5, adc_bits=6,
                                            tile_rows=8, tile_cols=4), seed=3)
    part = batch[:, 2:5]
    last = batch[:, :3].contiguous(memory_format=torch.channels_last)
    for images in (part, last):
        assert not images.is_contiguous()
        assert torch.equal(arr.read_patches(images, *geometry, key(2)),
                           arr.read_patches(images.contiguous(), *geometry, key(2)))
    assert not torch.equal(arr.read_patches(part, *geometry, key(2)),
                           arr.read_patches(last, *geometry, key(2)))


def test_verify_iterations_are_recorded():
    p = physical(programming_noise=law("relative", fraction=0.1),
                 verify={"tolerance": 0.001, "max_iterations": 5, "pulse_time_s": 1e-7,
                         "pulse_energy_J": 1e-12})
    arr = CrossbarArray.program(np.full((64, 48), 0.7), p, seed=0)
    it = arr.tiles[0].verify_iterations
    assert it.shape == (2, 64, 48) and it.min() >= 1 and it.max() == 5


@pytest.mark.parametrize("geometry", [((3, 3), (1, 1), (0, 0), (1, 1)), ((3, 2), (2, 1), (1, 2), (2, 1))])
def test_patch_read_equals_read_of_im2col(geometry):
    """The conv read's fused DAC (patches taken straight from the images) against read(im2col(x))."""
    gen = torch.Generator().manual_seed(4)
    images = torch.randn(5, 3, 11, 9, generator=gen)
    images[1, 2, 4, 4] = 0.0
    images[3] = 0.0  # an all-zero image: scale 1, zero patches
    kernel = geometry[0]
    W = np.random.default_rng(6).uniform(-1, 1, size=(3 * kernel[0] * kernel[1], 7))
    arr = CrossbarArray.program(W, physical(read_noise=law("relative", fraction=0.1), dac_bits=5, adc_bits=6,
                                            tile_rows=8, tile_cols=4), seed=2)
    bias = torch.linspace(-1, 1, 7)
    patches = readops.im2col(images, *geometry)
    fused = arr.read_patches(images, *geometry, key(3), bias)
    n, c, h, w = fused.shape
    plain = arr.read(patches, key(3), bias).view(n, h, w, c).permute(0, 3, 1, 2)
    assert torch.equal(fused, plain)
    with pytest.raises(ValueError, match="NaN or infinite"):
        arr.read_patches(images.index_fill(0, torch.tensor([2]), float("nan")), *geometry, key(3))


def test_two_phase_read_of_non_negative_inputs_skips_the_zero_phase_with_the_same_bits(monkeypatch):
    """NAND's two-phase bit-serial read of inputs without a negative entry (what follows a ReLU)
    leaves the negative phase's voltages and products out: the same bits as the read of every
    phase, for rows and a convolution's patches, and a batch with one negative entry reads
    every phase."""
    rng = np.random.default_rng(8)
    W = rng.uniform(-1, 1, size=(3 * 3 * 3, 20))
    arr = CrossbarArray.program(W, devices.load("nand", tile_rows=8, tile_cols=8), seed=3)
    assert arr.plan.phases == 2 and len(arr.bands) > 2
    images = torch.relu(torch.randn(4, 3, 9, 8, generator=torch.Generator().manual_seed(5)))
    images[0, 0, 0, 0] = -0.0
    rows = readops.im2col(images, (3, 3), (1, 1), (1, 1), (1, 1)).contiguous()
    signed = rows.clone()
    signed[17, 5] = -0.25
    arr.calibrate(rows[:60], key(2))

    def reads():
        return (arr.read(rows, key(9)), arr.read_patches(images, (3, 3), (1, 1), (1, 1), (1, 1), key(9)),
                arr.read(signed, key(9)))

    seen = []
    real = readcpu._signed
    monkeypatch.setattr(readcpu, "_signed", lambda plan, x: seen.append(real(plan, x)) or seen[-1])
    skipped = reads()
    assert seen == [False, False, True]  # the skip was taken where it may be, and only there
    monkeypatch.setattr(readcpu, "_signed", lambda plan, x: True)  # every phase read
    for a, b in zip(skipped, reads(), strict=True):
        assert torch.equal(a.view(torch.int32), b.view(torch.int32))
    # the demo's tile size and a wide layer: the variance product's float32 route (variance.py)
    wide = CrossbarArray.program(rng.uniform(-1, 1, size=(300, 256)), devices.load("nand"), seed=4)
    x = torch.relu(torch.randn(40, 300, generator=torch.Generator().manual_seed(6)))
    wide.calibrate(x, key(2))
    monkeypatch.setattr(readcpu, "_signed", real)
    half = wide.read(x, key(9))
    monkeypatch.setattr(readcpu, "_signed", lambda plan, x: True)
    assert torch.equal(half.view(torch.int32), wide.read(x, key(9)).view(torch.int32))
