"""NoiseInjection: Qin & Vucinic Eq. 2 (additive) and Eq. 3 (multiplicative)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from crossbar import seeds
from crossbar.nn import (
    NoiseConfig,
    NoiseInjection,
    NoiseSource,
    noise_layers,
    noise_rng_state,
    seed_noise,
    set_noise,
    set_noise_rng_state,
)
from crossbar.read import kernels

N = 200_000  # samples for the distribution checks
ALPHA = 1e-6  # two-sided miss probability of each interval (the draws are seeded anyway)


def _z_bounds(mean: float, sigma: float, n: int) -> tuple[float, float]:
    """Interval that holds the sample mean of n draws of N(mean, sigma^2) with prob 1-ALPHA."""
    half = stats.norm.ppf(1 - ALPHA / 2) * sigma / math.sqrt(n)
    return mean - half, mean + half


def _var_bounds(sigma: float, n: int) -> tuple[float, float]:
    """Chi-square interval for the unbiased sample variance of n normal draws."""
    lo = stats.chi2.ppf(ALPHA / 2, n - 1) / (n - 1)
    hi = stats.chi2.ppf(1 - ALPHA / 2, n - 1) / (n - 1)
    return sigma**2 * lo, sigma**2 * hi


def _signal(n: int = N) -> torch.Tensor:
    # a signal with both signs and varied magnitudes, away from 0 (we divide by it)
    g = torch.Generator().manual_seed(123)
    mag = 0.5 + 2.0 * torch.rand(n, generator=g, dtype=torch.float64)
    sign = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0).double()
    return (mag * sign).reshape(400, -1)


# ---------------------------------------------------------------- config


def test_config_defaults_and_roundtrip():
    cfg = NoiseConfig()
    assert (cfg.kind, cfg.sigma_train, cfg.sigma_val) == ("none", 0.0, 0.0)
    c = NoiseConfig("mult", 1, 0.25)
    assert isinstance(c.sigma_train, float) and c.sigma_train == 1.0
    assert NoiseConfig.from_dict(c.to_dict()) == c
    assert c.to_dict() == {"kind": "mult", "sigma_train": 1.0, "sigma_val": 0.25}
    assert c.sigma(True) == 1.0 and c.sigma(False) == 0.25
    with pytest.raises(dataclasses_frozen_error()):
        c.kind = "add"


def dataclasses_frozen_error():
    import dataclasses

    return dataclasses.FrozenInstanceError


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "gauss"},
        {"kind": "MULT"},
        {"kind": "mult", "sigma_train": -0.1},
        {"kind": "mult", "sigma_val": float("nan")},
        {"kind": "add", "sigma_train": float("inf")},
        {"kind": "add", "sigma_val": "0.1"},
        {"kind": "add", "sigma_val": True},
    ],
)
def test_config_rejects_invalid(kwargs):
    with pytest.raises(ValueError):
        NoiseConfig(**kwargs)


def test_config_from_dict_rejects_unknown_field():
    with pytest.raises(ValueError, match="unknown"):
        NoiseConfig.from_dict({"kind": "mult", "sigma": 0.1})


def test_config_generator_is_named_only_where_not_the_default():
    """The default stream keeps the identities made before the field existed; the other is
    named and round-trips; an unknown one is refused with the allowed values."""
    assert "generator" not in NoiseConfig("mult", 0.5, 0.5).to_dict()
    fast = NoiseConfig("mult", 0.5, 0.5, generator="box-muller")
    assert fast.to_dict()["generator"] == "box-muller"
    assert NoiseConfig.from_dict(fast.to_dict()) == fast and fast != NoiseConfig("mult", 0.5, 0.5)
    with pytest.raises(ValueError, match="ziggurat, box-muller; got 'philox'"):
        NoiseConfig("mult", 0.5, 0.5, generator="philox")
    with pytest.raises(ValueError, match="ziggurat, box-muller; got 'Box-Muller'"):
        NoiseSource(0).normal(torch.empty(4), 0.0, 1.0, "Box-Muller")


# ---------------------------------------------------------------- statistics


@pytest.mark.parametrize("sigma", [0.2, 1.0])
def test_mult_noise_is_y_times_normal_1_sigma(sigma):
    y = _signal()
    layer = NoiseInjection(NoiseConfig("mult", sigma_train=sigma, sigma_val=0.0)).train()
    z = (layer(y) / y).flatten()  # out = y * z with z ~ N(1, s^2)
    lo, hi = _z_bounds(1.0, sigma, N)
    assert lo < z.mean().item() < hi
    vlo, vhi = _var_bounds(sigma, N)
    assert vlo < z.var().item() < vhi
    # noise is independent of the signal: per-element noise std scales with |y|
    corr = torch.corrcoef(torch.stack([z - 1, y.flatten()]))[0, 1].item()
    assert abs(corr) < stats.norm.ppf(1 - ALPHA / 2) / math.sqrt(N)


@pytest.mark.parametrize("sigma", [0.3, 1.5])
def test_add_noise_is_y_plus_normal_0_sigma(sigma):
    y = _signal()
    layer = NoiseInjection(NoiseConfig("add", sigma_train=0.0, sigma_val=sigma)).eval()
    z = (layer(y) - y).flatten()
    lo, hi = _z_bounds(0.0, sigma, N)
    assert lo < z.mean().item() < hi
    vlo, vhi = _var_bounds(sigma, N)
    assert vlo < z.var().item() < vhi
    assert stats.kstest(z.numpy() / sigma, "norm").pvalue > ALPHA


def test_train_and_eval_use_their_own_sigma():
    y = _signal()
    layer = NoiseInjection(NoiseConfig("mult", sigma_train=0.5, sigma_val=0.1))
    layer.train()
    assert layer.sigma == 0.5
    v_train = (layer(y) / y).var().item()
    layer.eval()
    assert layer.sigma == 0.1
    v_eval = (layer(y) / y).var().item()
    assert _var_bounds(0.5, N)[0] < v_train < _var_bounds(0.5, N)[1]
    assert _var_bounds(0.1, N)[0] < v_eval < _var_bounds(0.1, N)[1]


@pytest.mark.parametrize(
    "cfg",
    [
        NoiseConfig(),
        NoiseConfig("none", 0.7, 0.7),
        NoiseConfig("mult", 0.0, 0.0),
        NoiseConfig("add", 0.0, 0.0),
    ],
)
def test_zero_sigma_or_kind_none_is_exact_identity(cfg):
    x = torch.randn(3, 4, 5, generator=torch.Generator().manual_seed(1))
    layer = NoiseInjection(cfg)
    for mode in (True, False):
        layer.train(mode)
        out = layer(x)
        assert out is x


def test_only_the_active_mode_sigma_matters():
    x = torch.randn(64, generator=torch.Generator().manual_seed(2))
    layer = NoiseInjection(NoiseConfig("add", sigma_train=0.0, sigma_val=0.4))
    assert layer.train()(x) is x
    assert not torch.equal(layer.eval()(x), x)


# ---------------------------------------------------------------- gradients


def _expected_z(shape, mean, sigma, seed, dtype=torch.float32, draw=0):
    """The first (draw-th) CPU draw of a NoiseSource: the counter-based stream (seed, NOISE_DRAW, draw)."""
    n = int(np.prod(shape))
    z = kernels.normal_float32(seeds.kernel_key(seed, seeds.Stream.NOISE_DRAW, draw), n, mean, sigma)
    return torch.from_numpy(z).reshape(shape).to(dtype)


def test_mult_gradient_is_z_times_upstream():
    x = torch.randn(8, 16, generator=torch.Generator().manual_seed(3), requires_grad=True)
    upstream = torch.randn(8, 16, generator=torch.Generator().manual_seed(4))
    layer = NoiseInjection(NoiseConfig("mult", 0.5, 0.0)).train()
    seed_noise(layer, 11)
    out = layer(x)
    z = _expected_z((8, 16), 1.0, 0.5, 11)
    assert torch.equal(out, x.detach() * z)
    out.backward(upstream)
    assert torch.equal(x.grad, z * upstream)


def test_add_gradient_is_upstream():
    x = torch.randn(8, 16, generator=torch.Generator().manual_seed(3), requires_grad=True)
    upstream = torch.randn(8, 16, generator=torch.Generator().manual_seed(4))
    layer = NoiseInjection(NoiseConfig("add", 0.5, 0.0)).train()
    seed_noise(layer, 12)
    out = layer(x)
    assert torch.equal(out, x.detach() + _expected_z((8, 16), 0.0, 0.5, 12))
    out.backward(upstream)
    assert torch.equal(x.grad, upstream)


def test_gradient_reaches_weights_through_noise():
    lin = nn.Linear(4, 3)
    net = nn.Sequential(lin, NoiseInjection(NoiseConfig("mult", 0.3, 0.0)))
    net(torch.ones(2, 4)).sum().backward()
    assert lin.weight.grad is not None and lin.weight.grad.abs().sum() > 0


def test_dtype_and_shape_preserved():
    layer = NoiseInjection(NoiseConfig("mult", 0.2, 0.2))
    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        x = torch.ones(2, 3, 4, dtype=dtype)
        out = layer(x)
        assert out.dtype == dtype and out.shape == x.shape


# ---------------------------------------------------------------- seeding


def _net() -> nn.Sequential:
    cfg = NoiseConfig("mult", 0.5, 0.5)
    return nn.Sequential(NoiseInjection(cfg), nn.Tanh(), NoiseInjection(cfg))


def test_seeding_is_reproducible_and_shared():
    x = torch.ones(100)
    a, b = _net(), _net()
    seed_noise(a, 7)
    seed_noise(b, 7)
    assert torch.equal(a(x), b(x))
    assert torch.equal(a(x), b(x))  # streams stay in step
    assert a[0].source is a[2].source  # one generator for the whole model
    seed_noise(b, 8)
    assert not torch.equal(a(x), b(x))


def test_unseeded_layers_are_deterministic_and_global_rng_untouched():
    x = torch.ones(50)
    before = torch.random.get_rng_state()
    l1, l2 = NoiseInjection(NoiseConfig("add", 1.0)), NoiseInjection(NoiseConfig("add", 1.0))
    assert l1.source.seed == 0
    assert l1.source is not l2.source
    assert torch.equal(l1(x), x + _expected_z((50,), 0.0, 1.0, 0))
    assert torch.equal(l2(x), x + _expected_z((50,), 0.0, 1.0, 0))
    assert torch.equal(torch.random.get_rng_state(), before)


def test_rng_state_snapshot_restores_the_stream():
    net = _net()
    seed_noise(net, 5)
    x = torch.ones(20)
    net(x)
    snap = noise_rng_state(net)
    first = net(x)
    set_noise_rng_state(net, snap)
    assert torch.equal(net(x), first)
    assert net[0].source is net[2].source  # sharing survives the restore
    other = _net()
    set_noise_rng_state(other, snap)
    assert torch.equal(other(x), first)
    with pytest.raises(ValueError):
        set_noise_rng_state(nn.Sequential(NoiseInjection()), snap)


def test_deepcopy_keeps_stream_and_sharing():
    net = _net()
    seed_noise(net, 9)
    twin = copy.deepcopy(net)
    assert twin[0].source is twin[2].source and twin[0].source is not net[0].source
    x = torch.ones(10)
    assert torch.equal(net(x), twin(x))


def test_split_draws_give_the_same_bits_at_any_thread_count(monkeypatch):
    from crossbar import threads

    like = torch.empty(3, 70_001)  # odd size: the split must keep pairs together
    expected = _expected_z(like.shape, 1.0, 0.4, 21)
    before = torch.get_num_threads()
    monkeypatch.setattr(threads.run_split, "__defaults__", (1000,))  # split even small draws
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            assert torch.equal(NoiseSource(21).normal(like, 1.0, 0.4), expected)
    finally:
        torch.set_num_threads(before)


def test_box_muller_draws_are_normal_and_the_same_at_any_thread_count(monkeypatch):
    """The fast generator's draws: mean and variance inside their intervals for n and a KS test
    against N(mean, std^2) (fixed seed); the bits of the read noise's block stream
    (adc_kernels.normals, the read path's draw on Numba's parallel pool) for the same key; the
    same bits on 1, 2 and 3 threads with the draw split even for small sizes."""
    from crossbar import threads
    from crossbar.read import adc_kernels

    like = torch.empty(400, 501)  # N + 400 values, an odd row: blocks and parts end mid-pair
    mean, std = 1.0, 0.4
    z = NoiseSource(17).normal(like, mean, std, "box-muller")
    flat = z.flatten().double()
    lo, hi = _z_bounds(mean, std, flat.numel())
    assert lo < flat.mean().item() < hi
    vlo, vhi = _var_bounds(std, flat.numel())
    assert vlo < flat.var().item() < vhi
    assert stats.kstest(((flat - mean) / std).numpy(), "norm").pvalue > ALPHA
    key = seeds.kernel_key(17, seeds.Stream.NOISE_DRAW, 0)
    want = torch.from_numpy(adc_kernels.normals(np.uint64(key), like.numel(), mean, std)).view(like.shape)
    assert torch.equal(z, want)
    assert not torch.equal(z, NoiseSource(17).normal(like, mean, std))  # not the ziggurat's numbers
    before = torch.get_num_threads()
    monkeypatch.setattr(threads.run_split, "__defaults__", (1,))  # split even small draws
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            assert torch.equal(NoiseSource(17).normal(like, mean, std, "box-muller"), want)
    finally:
        torch.set_num_threads(before)


def test_a_layer_draws_from_its_config_generator():
    """A layer configured for the fast generator draws its numbers (Eq. 3: out = y z), and a
    seeded network trains the same twice."""
    from crossbar.read import adc_kernels

    y = _signal()
    layer = NoiseInjection(NoiseConfig("mult", 0.3, 0.0, generator="box-muller")).train()
    layer.source = NoiseSource(5)
    key = seeds.kernel_key(5, seeds.Stream.NOISE_DRAW, 0)
    z = torch.from_numpy(adc_kernels.normals(np.uint64(key), y.numel(), 1.0, 0.3)).view(y.shape)
    assert torch.equal(layer(y), y * z.double())
    assert "generator='box-muller'" in repr(layer)


def test_noise_source_seed_types():
    with pytest.raises(ValueError):
        NoiseSource(1.5)
    with pytest.raises(ValueError):
        NoiseSource(True)
    assert NoiseSource(np.int64(3)).seed == 3  # numpy integers are fine


# ---------------------------------------------------------------- switching


def test_set_noise_updates_every_layer_and_validates_first():
    net = _net()
    set_noise(net, sigma_val=0.9)
    assert [layer.config for layer in noise_layers(net)] == [NoiseConfig("mult", 0.5, 0.9)] * 2
    set_noise(net, kind="add", sigma_train=0.1)
    assert all(layer.config == NoiseConfig("add", 0.1, 0.9) for layer in noise_layers(net))
    with pytest.raises(ValueError):
        set_noise(net, sigma_train=-1.0)
    assert all(layer.config == NoiseConfig("add", 0.1, 0.9) for layer in noise_layers(net))


def test_per_layer_switch():
    net = _net()
    net[2].config = NoiseConfig()
    assert net[0].config.kind == "mult" and net[2].config.kind == "none"
    with pytest.raises(TypeError):
        net[0].config = {"kind": "mult"}
    assert "kind='mult'" in repr(net[0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_generator_on_input_device():
    layer = NoiseInjection(NoiseConfig("mult", 0.5, 0.5))
    seed_noise(layer, 3)
    x = torch.ones(1000, device="cuda")
    out = layer(x)
    assert out.device == x.device
    assert "cuda:0" in layer.source.state_dict()["states"]
    seed_noise(layer, 3)
    assert torch.equal(layer(x), out)
    lo, hi = _z_bounds(1.0, 0.5, 1000)
    assert lo < out.double().mean().item() < hi
