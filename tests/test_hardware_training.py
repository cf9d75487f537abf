"""Hardware-aware training (issue 28): the training forward through a device profile."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from test_training import toy  # the four-band toy data of the training tests
from torch import nn

from crossbar import devices
from crossbar.checks import CheckError
from crossbar.nn import NoiseConfig
from crossbar.training import train
from crossbar.training.hardware import Draws, HardwareConfig, HardwareError
from crossbar.training.mapped import clip_weights, device_forward, mapped_layers


class Small(nn.Module):
    """A convolution over two row bands (9 x 8 = 72 rows, tiles of 64) and two linears."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.conv1 = nn.Conv2d(1, 8, 3)
        self.conv2 = nn.Conv2d(8, 6, 3, padding=1, stride=2)
        self.fc1 = nn.Linear(6 * 7 * 7, 20)
        self.fc2 = nn.Linear(20, 4)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)

    def forward(self, x):
        x = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


def run(net: nn.Module, x: torch.Tensor, hw: HardwareConfig, seed: int = 0) -> torch.Tensor:
    with device_forward(mapped_layers(net), hw, Draws(seed)):
        return net(x)


def small_tiles(profile: str, **kw):
    return devices.load(profile, tile_rows=64, tile_cols=16, **kw)


def test_ideal_profile_is_the_float_forward():
    net, x = Small(), toy(6, 0).x
    hw = HardwareConfig.parse({"profile": "ideal", "overrides": {"tile_rows": 64, "tile_cols": 16}})
    out, ref = run(net, x, hw), net(x)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_converters_alone_stay_within_the_quantisation_bound():
    """PCM converters without noise: a linear layer's error is at most the DAC's half step per
    input times sum |w| plus the ADC's half step per band times w_max, and not zero."""
    layer = nn.Linear(100, 12)
    x = torch.randn(7, 100, generator=torch.Generator().manual_seed(3))
    p = small_tiles("pcm", adc_range=1.0, range_management={"mode": "fixed"})  # full scale: no clipping
    hw = HardwareConfig(p, effects=("dac", "adc"))
    out, ref = run(layer, x, hw), layer(x)
    scale = x.abs().amax(1, keepdim=True)
    w = layer.weight.detach().t()
    dac_half = scale / (2 * (2 ** (p.dac_bits - 1) - 1))
    bound = dac_half * w.abs().sum(0)
    fs = p.adc_range * p.tile_rows
    for r0 in range(0, 100, p.tile_rows):
        w_max = w[r0 : r0 + p.tile_rows].abs().amax(0)
        bound = bound + scale * w_max * fs / (2 * (2 ** (p.adc_bits - 1) - 1))
    err = (out - ref).abs()
    assert (err <= bound * (1 + 1e-4) + 1e-6).all()
    assert err.max() > 0


def _censored(mu: np.ndarray, sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of max(N(mu, sd^2), 0): programmed conductances are clipped at 0 S."""
    a = mu / sd
    pdf = np.exp(-0.5 * a**2) / math.sqrt(2 * math.pi)
    cdf = 0.5 * (1 + np.vectorize(math.erf)(a / math.sqrt(2)))
    mean = mu * cdf + sd * pdf
    return mean, (mu**2 + sd**2) * cdf + mu * sd * pdf - mean**2


def test_programming_spread_matches_the_profile_law():
    """One-hot inputs read single weights: over n forwards, each weight's spread and mean are
    those of its pair programmed with the profile's sigma(G) (clipped at 0 S), times
    w_max / (g_max - g_min)."""
    p = devices.load("pcm", verify=None)
    layer = nn.Linear(16, 4, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.linspace(-1, 1, 64).reshape(4, 16))
    hw = HardwareConfig(p, effects=("programming",))
    eye = torch.eye(16)
    layers, draws, n = mapped_layers(layer), Draws(7), 1000
    samples = []
    with torch.no_grad():
        for _ in range(n):
            with device_forward(layers, hw, draws):
                samples.append(layer(eye))
    s = torch.stack(samples).double().numpy()  # n x inputs x outputs: weight (i, j)
    w = layer.weight.detach().t().double().numpy()
    w_max = np.abs(w).max(0)
    moments = [_censored(g, p.programming_std(g)) for g in
               (p.g_min + p.g_range * np.maximum(sign * w, 0) / w_max for sign in (1, -1))]
    mean = (moments[0][0] - moments[1][0]) * w_max / p.g_range
    sd = np.sqrt(moments[0][1] + moments[1][1]) * w_max / p.g_range
    ratio = s.var(0, ddof=1) / sd**2
    # the sample variance's standard error from the sample's own kurtosis (a pair clipped at
    # 0 S is not normal: its kurtosis exceeds 3, so chi2's sqrt(2 / (n - 1)) would be too tight)
    kurt = ((s - s.mean(0)) ** 4).mean(0) / s.var(0) ** 2
    se = np.sqrt((kurt - (n - 3) / (n - 1)) / n)
    assert np.all(np.abs(ratio - 1) < 5 * se)
    assert abs(ratio.mean() - 1) < 4 * math.sqrt((se**2).sum()) / ratio.size
    assert np.all(np.abs(s.mean(0) - mean) < 5 * sd / math.sqrt(n))


def _truncated(mu: np.ndarray, sd: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of N(mu, sd^2) conditioned on |x - mu| <= tol (a write verified
    until it lands within the tolerance)."""
    a = tol / sd
    pdf = np.exp(-0.5 * a**2) / math.sqrt(2 * math.pi)
    inside = np.vectorize(math.erf)(a / math.sqrt(2))
    return mu, sd**2 * (1 - 2 * a * pdf / inside)


def test_verify_rewrites_cells_until_they_land_within_the_tolerance():
    """With a verify tolerance below one sigma and enough writes that none runs out
    (P(out)^199 < 1e-13 here), each weight is the difference of two normals truncated at
    +-tolerance: its spread follows the truncated variance (bounds from n), no value lies
    outside 2 tolerances, and the spread is well below the unverified law's."""
    tol_s = 0.2e-6  # S: below every cell's sigma (0.28-1.09 uS), above 0 - g_min, so no clipping at 0 S
    p = devices.load("pcm")
    p = p.with_overrides(verify={"tolerance": tol_s / p.g_range, "max_iterations": 200})
    layer = nn.Linear(16, 4, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.linspace(-1, 1, 64).reshape(4, 16))
    hw = HardwareConfig(p, effects=("programming",))
    eye, layers, draws, n = torch.eye(16), mapped_layers(layer), Draws(11), 400
    with torch.no_grad():
        samples = []
        for _ in range(n):
            with device_forward(layers, hw, draws):
                samples.append(layer(eye))
    s = torch.stack(samples).double().numpy()
    w = layer.weight.detach().t().double().numpy()
    w_max = np.abs(w).max(0)
    moments = [_truncated(g, p.programming_std(g), tol_s) for g in
               (p.g_min + p.g_range * np.maximum(sign * w, 0) / w_max for sign in (1, -1))]
    mean = (moments[0][0] - moments[1][0]) * w_max / p.g_range
    sd = np.sqrt(moments[0][1] + moments[1][1]) * w_max / p.g_range
    ratio = s.var(0, ddof=1) / sd**2
    se = math.sqrt(2 / (n - 1))  # chi2(n-1)/(n-1); the truncated normal's kurtosis is below 3: conservative
    assert np.all(np.abs(ratio - 1) < 5 * se)
    assert abs(ratio.mean() - 1) < 4 * se / math.sqrt(ratio.size)
    assert np.all(np.abs(s.mean(0) - mean) < 5 * sd / math.sqrt(n))
    assert np.all(np.abs(s - mean) <= 2 * tol_s * w_max / p.g_range * (1 + 1e-5) + 1e-7)
    unverified = np.sqrt(sum(p.programming_std(g) ** 2 for g in (p.g_min + p.g_range * np.maximum(
        sign * w, 0) / w_max for sign in (1, -1)))) * w_max / p.g_range
    assert np.all(s.std(0) < 0.8 * unverified)


@pytest.mark.parametrize("shape", [(48, 20), (6, 3, 5, 5)])
def test_fused_dac_is_the_torch_dac_bit_for_bit(shape):
    """The fused CPU DAC (crossbar.training.dac_chain) against hardware.dac in torch operations:
    values and scales equal bit for bit, a zero vector (scale 1) included."""
    from crossbar.training import dac_chain
    from crossbar.training.hardware import dac, magnitude

    g = torch.Generator().manual_seed(5)
    x = (2 * torch.randn(*shape, generator=g))
    x[1] = 0.0
    hw = HardwareConfig(devices.load("pcm"), effects=("dac",))
    levels = 2 ** (hw.device.dac_bits - 1) - 1
    scale = magnitude(x, tuple(range(1, x.dim())))
    want = dac(x, scale, hw)
    got, got_scale = dac_chain.dac(x, levels)
    assert torch.equal(got, want) and torch.equal(got_scale, scale)
    assert not torch.equal(got, x)  # it did round


def test_gradients_reach_every_mapped_weight():
    net, data = Small(), toy(8, 1)
    hw = HardwareConfig(small_tiles("pcm"))
    loss = nn.functional.cross_entropy(run(net, data.x, hw), data.y)
    loss.backward()
    for _, module, rule in mapped_layers(net):
        for p in rule.params(module):
            assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
    lin = nn.Linear(30, 5)
    run(lin, torch.randn(4, 30), hw).sum().backward()
    assert (lin.weight.grad != 0).all()


def test_lstm_gates_go_through_the_device():
    lstm = nn.LSTM(6, 5, num_layers=2, batch_first=True)
    x = torch.randn(3, 4, 6)
    ideal = HardwareConfig(devices.load("ideal"))
    out, (h, c) = run(lstm, x, ideal)
    ref, (h_ref, c_ref) = lstm(x)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(h, h_ref, rtol=1e-5, atol=1e-5)
    noisy, _ = run(lstm, x, HardwareConfig(devices.load("pcm")))
    assert not torch.allclose(noisy, ref)
    noisy.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for n, p in lstm.named_parameters()
               if n.startswith("weight_"))


def test_draws_are_fresh_per_forward_and_repeat_by_seed():
    net, x = Small(), toy(4, 2).x
    hw = HardwareConfig(small_tiles("pcm"))
    layers = mapped_layers(net)
    a, b = Draws(5), Draws(5)
    with torch.no_grad():
        with device_forward(layers, hw, a):
            first = net(x)
        with device_forward(layers, hw, a):
            second = net(x)
        with device_forward(layers, hw, b):
            again = net(x)
    assert not torch.equal(first, second)
    assert torch.equal(first, again)
    assert "forward" not in net.fc1.__dict__  # the swapped forwards are gone after the block


def test_clipping_at_k_sigma():
    lin = nn.Linear(50, 50)
    with torch.no_grad():
        lin.weight[0, 0] = 100.0
    std = lin.weight.detach().std()
    clip_weights(mapped_layers(lin), 2.0)
    assert lin.weight.abs().max() <= 2.0 * std + 1e-6


def test_short_run_is_reproducible_by_seed_and_resumes_exactly(tmp_path):
    data = toy(48, 3)
    kw = dict(epochs=2, batch_size=16, lr=1e-2, progress=False, hardware={"profile": "pcm", "time": 3600.0})
    a, ha = train(Small(), data, seed=4, **kw)
    b, _ = train(Small(), data, seed=4, **kw)
    c, _ = train(Small(), data, seed=5, **kw)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    assert any(not torch.equal(va, vc) for va, vc in zip(a.state_dict().values(), c.state_dict().values(),
                                                         strict=True))
    ckpt = tmp_path / "hw.pt"
    train(Small(), data, seed=4, checkpoint=ckpt, **{**kw, "epochs": 1})
    d, _ = train(Small(), data, seed=4, checkpoint=ckpt, **kw)
    for va, vd in zip(a.state_dict().values(), d.state_dict().values(), strict=True):
        assert torch.equal(va, vd)
    with pytest.raises(ValueError, match="different run configuration") as err:
        train(Small(), data, seed=4, checkpoint=ckpt, **{**kw, "hardware": "reram"})
    assert "hardware" in str(err.value)
    with pytest.raises(ValueError, match="different run configuration"):
        train(Small(), data, seed=4, checkpoint=ckpt, **{**kw, "hardware": None})


def test_plain_run_records_no_hardware(tmp_path):
    ckpt = tmp_path / "plain.pt"
    train(Small(), toy(16, 0), epochs=1, batch_size=8, progress=False, checkpoint=ckpt)
    saved = torch.load(ckpt, weights_only=True)
    assert "hardware" not in saved["config"] and "hardware" not in saved["rng"]


@pytest.mark.parametrize("hardware, noise, words", [
    ("gaussian-mult", None, ["abstract", "NoiseConfig"]),
    ("pcm", NoiseConfig("mult", 0.1), ["cannot be combined", "noise"]),
    ({"profile": "pcm", "sigma": 2}, None, ["unknown key", "hardware.sigma"]),
    ({"profile": "pcm", "effects": ["progamming"]}, None, ["not a valid choice", "programming"]),
    ({"profile": "pcm", "noise_scale": -1}, None, ["hardware.noise_scale", "out of range"]),
    ("no-such-device", None, ["hardware.profile"]),
])
def test_bad_hardware_settings_are_one_line_errors(hardware, noise, words):
    kw = {} if noise is None else {"noise": noise}
    with pytest.raises(CheckError) as err:
        train(Small(), toy(8, 0), hardware=hardware, progress=False, **kw)
    msg = str(err.value)
    assert "\n" not in msg and all(w in msg for w in words), msg
    assert isinstance(err.value, (HardwareError, CheckError))


def test_model_without_mappable_layers_is_refused():
    with pytest.raises(HardwareError, match="no layer that convert"):
        mapped_layers(nn.Sequential(nn.ReLU()))
    with pytest.raises(HardwareError, match="add_bias_kv"):
        mapped_layers(nn.Sequential(nn.MultiheadAttention(8, 2, add_bias_kv=True)))


def test_budget_and_sweep_configs_take_hardware():
    from crossbar.experiments import TrainSpec
    from crossbar.experiments.config import SweepConfig

    plain = TrainSpec()
    assert (plain.noise, plain.sigma_train) == ("mult", 0.3)
    hw = TrainSpec.from_dict({"hardware": "pcm"})
    assert (hw.noise, hw.sigma_train) == ("none", 0.0) and hw.hardware_config().profile.name == "pcm"
    names = {TrainSpec.from_dict(d).checkpoint_name("mnist5k") for d in
             ({}, {"hardware": "pcm"}, {"hardware": "reram"}, {"hardware": {"profile": "pcm", "time": 3600}})}
    assert len(names) == 4
    with pytest.raises(CheckError, match="train.hardware.*cannot be combined"):
        TrainSpec.from_dict({"hardware": "pcm", "noise": "mult"})
    with pytest.raises(CheckError, match="train.hardware.*abstract"):
        TrainSpec.from_dict({"hardware": "gaussian-add"})
    sweep = SweepConfig.from_dict({"train": {"hardware": "pcm"}})
    assert sweep.hardware().profile.name == "pcm"
    assert sweep.hash() != SweepConfig().hash() and "train" not in SweepConfig().to_dict()
    with pytest.raises(CheckError, match="train.hardware.*sigma_train"):
        SweepConfig.from_dict({"train": {"hardware": "pcm"}, "sigma_train": [0.0, 0.1]})
    with pytest.raises(CheckError, match="train.hw.*unknown key"):
        SweepConfig.from_dict({"train": {"hw": "pcm"}})


def test_command_line_trains_against_a_device(tmp_path, capsys):
    from crossbar.cli import main

    data = toy(24, 0, size=28)
    np.savez(tmp_path / "d.npz", x_train=data.x.numpy(), y_train=data.y.numpy(), x_test=data.x.numpy(),
             y_test=data.y.numpy())
    args = ["train", "--model", "cnn6", "--data", str(tmp_path / "d.npz"), "--epochs", "1", "--quiet",
            "--batch-size", "8", "--out", str(tmp_path / "c.pt")]
    assert main([*args, "--hardware", "pcm", "--hardware-options", "{time: 3600, clip_sigma: null}"]) == 0
    saved = torch.load(tmp_path / "c.pt", weights_only=True)["config"]["hardware"]
    assert saved["profile"] == "pcm" and saved["time"] == 3600 and saved["clip_sigma"] is None
    assert "hardware-aware on pcm" in capsys.readouterr().out
    for extra, words in ((["--hardware", "reram"], "different run configuration"),
                         (["--hardware", "pcm", "--noise", "mult", "--sigma-train", "0.1"],
                          "cannot be combined"),
                         (["--hardware-options", "{time: 5}"], "needs --hardware"),
                         (["--hardware", "pcm", "--hardware-options", "{tme: 5}"], "unknown key")):
        assert main([*args, *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert words in err and len(err.splitlines()) == 1, err


def test_recurrent_layers_train_against_the_device():
    gru = nn.Sequential(nn.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True))
    assert [type(m).__name__ for _, m, _ in mapped_layers(gru)] == ["GRU"]


@pytest.mark.parametrize("layer, shape", [
    (nn.Conv1d(4, 6, 3, padding=2, dilation=2), (3, 4, 17)),
    (nn.Conv2d(8, 8, 3, groups=8, padding=1, stride=2), (3, 8, 9, 9)),  # depthwise
    (nn.Conv2d(40, 40, 3, groups=40), (2, 40, 6, 6)),  # 7 groups per 64 x 16 tile: six arrays
    (nn.Conv2d(6, 9, 3, groups=3, padding="same", padding_mode="reflect"), (2, 6, 7, 7)),
    (nn.Conv3d(2, 4, 3, padding=1), (2, 2, 5, 5, 5)),
    (nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1), (2, 4, 5, 5)),
    (nn.ConvTranspose1d(6, 4, 4, stride=3, groups=2, dilation=2), (3, 6, 7)),
    (nn.ConvTranspose2d(24, 24, 2, stride=2, groups=24, bias=False), (2, 24, 3, 3)),  # several arrays
])
def test_every_convolution_trains_against_the_device(layer, shape):
    """1-D, 2-D, 3-D, grouped and transposed convolutions: on the ideal profile the training forward is
    torch's own layer (float32 rounding apart) and every weight gets a gradient; on PCM the
    forward differs from it (the device is in the loop) and stays finite."""
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(4))
    ref = layer(x).detach()
    ideal = HardwareConfig.parse({"profile": "ideal", "overrides": {"tile_rows": 64, "tile_cols": 16}})
    out = run(layer, x, ideal)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5 * ref.abs().max().item())
    out.square().sum().backward()
    assert (layer.weight.grad != 0).all()
    noisy = run(layer, x, HardwareConfig(small_tiles("pcm"))).detach()
    assert torch.isfinite(noisy).all() and not torch.allclose(noisy, ref, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("layer", [nn.MultiheadAttention(16, 4, batch_first=True),
                                   nn.MultiheadAttention(16, 2, kdim=8, vdim=12)])
def test_attention_projections_train_against_the_device(layer):
    """Packed and separate q/k/v weights: on the ideal profile the training forward is torch's
    own attention; every projection weight gets a gradient; the output projection is part of
    the attention layer, not a Linear of its own."""
    g = torch.Generator().manual_seed(5)
    n, steps = (3, 5)
    q = torch.randn(n, steps, 16, generator=g)
    kv = [torch.randn(n, 7, d, generator=g) for d in (layer.kdim, layer.vdim)]
    if not layer.batch_first:
        q, kv = q.transpose(0, 1), [t.transpose(0, 1) for t in kv]
    ref = layer(q, *kv, need_weights=False)[0].detach()
    assert [name for name, _, _ in mapped_layers(layer)] == [""]
    ideal = HardwareConfig.parse({"profile": "ideal", "overrides": {"tile_rows": 64, "tile_cols": 16}})
    with device_forward(mapped_layers(layer), ideal, Draws(0)):
        out = layer(q, *kv, need_weights=False)[0]
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    out.square().sum().backward()
    assert all(p.grad is not None and (p.grad != 0).any() for p in layer.parameters())


def test_a_transformer_layer_trains_against_the_device():
    enc = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True, norm_first=True)
    x = torch.randn(2, 6, 16, generator=torch.Generator().manual_seed(6))
    ref = enc(x).detach()
    layers = mapped_layers(nn.Sequential(enc))
    assert [name for name, _, _ in layers] == ["0.self_attn", "0.linear1", "0.linear2"]
    out = run(nn.Sequential(enc), x, HardwareConfig(small_tiles("pcm")))
    out.square().sum().backward()
    assert not torch.allclose(out.detach(), ref, atol=1e-3)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in enc.parameters())


@pytest.mark.parametrize("shape", [(48, 20), (6, 12, 5, 5), (300, 40, 37)])
@pytest.mark.parametrize("levels", [0, 255])
def test_fused_band_chain_is_the_torch_chain_bit_for_bit(shape, levels):
    """The fused CPU chain (crossbar.training.adc_chain) against the same steps written here in
    torch with the normals of Draws.normal's stream, two bands summed (the second without noise),
    times the scale, plus the bias: values equal bit for bit, clipped values (the range is a
    percentile of the values, so one of them sits exactly on it) included, at one and at two
    threads; and the sample a calibrated range is taken from, of some columns and, taken in the
    noise pass, of all."""
    from crossbar.read import adc_kernels
    from crossbar.training import adc_chain

    g = torch.Generator().manual_seed(3)
    scale = torch.rand(shape[0], 1, *shape[2:], generator=g) + 0.5
    bias = torch.randn(shape[1], generator=g)
    cols = (1, -1) + (1,) * (len(shape) - 2)
    bands = [(3 * torch.randn(*shape, generator=g), torch.rand(shape[1], generator=g) + 0.1,
              0.01 * torch.rand(shape[1], generator=g) if band == 0 else None) for band in range(2)]
    assert 2 * adc_kernels.PAIRS_PER_TASK % adc_chain.RUN == 0  # a normal block holds whole sampled runs
    key = np.uint64(12345)
    z = np.empty(math.prod(shape), np.float32)
    adc_kernels.normals_tasks(key, z, 0, adc_kernels.task_count(z.size))
    want, fss = None, []
    for c, w, floor in bands:
        x = c / scale
        if floor is not None:
            x = x + torch.from_numpy(z).view(shape) * floor.sqrt().view(cols)
        fs = x.abs().flatten().kthvalue(int(0.9 * x.numel())).values.expand(shape[1]).contiguous()
        if levels:
            f = fs.view(cols)
            y = torch.maximum(torch.minimum(x, f), -f) * (levels / f)
            y = (y + (torch.round(y) - y)) * (f / levels)
            assert (x.abs() > f).any()  # something is clipped
        else:
            fs = torch.full_like(w, math.inf)
            y = x
        fss.append((x, fs))
        part = y * w.view(cols)
        want = part if want is None else want + part
    want = want * scale + bias.view(cols)
    before = torch.get_num_threads()
    for threads in (1, 2):
        torch.set_num_threads(threads)
        try:
            got = None
            for band, ((c, w, floor), (x, fs)) in enumerate(zip(bands, fss, strict=True)):
                noisy, taken = adc_chain.noisy(c.clone(), scale, key if floor is not None else None, floor, 5)
                assert torch.equal(noisy, x)
                for c0, c1, got_sample in ((3, 7, adc_chain.sampled(noisy, 3, 7, 5)), (0, shape[1], taken)):
                    flat = x[:, c0:c1].reshape(-1)
                    runs = [flat[s:s + adc_chain.RUN] for s in range(0, flat.numel(), 5 * adc_chain.RUN)]
                    assert torch.equal(torch.from_numpy(got_sample), torch.cat(runs).abs())
                got = adc_chain.convert(noisy, fs, w, levels, got, scale if band == 1 else None, bias)
        finally:
            torch.set_num_threads(before)
        assert torch.equal(got, want)


@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_gradient_is_the_ideal_product_of_the_drawn_weights(kind):
    """The backward pass is ideal (AIHWKit's hardware-aware training): input, weight and bias
    gradients are those of the float product of the DAC-applied input and the forward's drawn
    weights (per band w_max times the read conductance difference), computed here by autograd
    through F.linear / F.conv2d from a second draw with the same seed."""
    from crossbar.training.hardware import applied, program
    from crossbar.training.mapped import device_forward

    torch.manual_seed(0)
    layer = nn.Linear(40, 6) if kind == "linear" else nn.Conv2d(5, 4, 3, padding=1)
    x = torch.randn(3, 40) if kind == "linear" else torch.randn(3, 5, 7, 7)
    hw = HardwareConfig(devices.load("pcm", tile_rows=16, tile_cols=16))
    layers = mapped_layers(layer)
    rule = layers[0][2]
    x.requires_grad_()
    with device_forward(layers, hw, Draws(9)):
        out = layer(x)
    grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
    (out * grad_out).sum().backward()
    got = (x.grad.clone(), layer.weight.grad.clone(), layer.bias.grad.clone())
    gen = Draws(9)
    gen.next_forward()
    w = rule.matrices(layer, hw.device)[0][0].detach()
    with torch.no_grad():
        prog = program(w, hw, gen)
    w_eff = torch.cat([g * s for g, s in zip(prog.g, prog.scale, strict=True)])
    assert len(prog.bands) > 1 and not torch.allclose(w_eff, w, atol=1e-3)  # banded, and noisy
    xq = applied(x.detach(), hw)[0].requires_grad_()
    w_ideal = w_eff.clone().requires_grad_()
    b = layer.bias.detach().clone().requires_grad_()
    if kind == "linear":
        ideal = nn.functional.linear(xq, w_ideal.t(), b)
    else:
        ideal = nn.functional.conv2d(xq, w_ideal.t().reshape(4, 5, 3, 3), b, padding=1)
    (ideal * grad_out).sum().backward()
    want_w = w_ideal.grad.t().reshape(layer.weight.shape)
    for got_t, want_t in zip(got, (xq.grad, want_w, b.grad), strict=True):
        assert torch.allclose(got_t, want_t, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(out.detach(), ideal.detach(), atol=1e-3)  # the forward is the device's


def test_a_weight_mapped_by_use_is_refused_with_an_example():
    """convert maps ``x @ self.w`` by use; training has no rule for it, so with an example input
    the setting is refused by name rather than trained in float."""

    class ByUse(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.randn(4, 3))
            self.fc = nn.Linear(3, 2)

        def forward(self, x):
            return self.fc(x @ self.w)

    net = ByUse()
    assert [name for name, _, _ in mapped_layers(net)] == ["fc"]  # no example: by class only
    with pytest.raises(HardwareError, match="parameter 'w' is multiplied"):
        mapped_layers(net, torch.randn(2, 4))


@pytest.mark.parametrize("dims,kernel,stride,dilation", [
    (1, (3,), (2,), (1,)), (2, (3, 3), (1, 1), (1, 1)), (2, (2, 3), (2, 1), (1, 2)),
    (3, (2, 2, 3), (1, 2, 1), (2, 1, 1))])
def test_patch_scale_is_torch_max_pool(dims, kernel, stride, dilation):
    """The convolution's per-patch scale (shifted maxima) equals torch's max pool exactly."""
    from crossbar.training.mapped import _window_max

    m = torch.rand(3, 1, *(9,) * dims, generator=torch.Generator().manual_seed(2))
    pool = (nn.functional.max_pool1d, nn.functional.max_pool2d, nn.functional.max_pool3d)[dims - 1]
    assert torch.equal(_window_max(m, kernel, stride, dilation), pool(m, kernel, stride, 0, dilation))


@pytest.mark.parametrize("name", ["pcm", "reram", "nand"])
def test_law_tables_follow_the_profile_laws(name):
    """The kernels' interpolated laws (docs/training.md: within 1 % of each law at every
    conductance from g_min, and within 0.2 % of its largest value) against the profile's own
    evaluation at 20,000 conductances; beyond the grid the kernel asks for the exact law."""
    from crossbar.training.device_draw import _at, law_tables

    p = devices.load(name)
    t = 86400.0
    laws = law_tables(p, t)
    rng = np.random.default_rng(3)
    targets = rng.uniform(p.g_min, p.g_max, 20_000)
    reads = rng.uniform(p.g_min, 2 * p.g_max * (1 - 1e-9), 20_000)
    pairs = [(laws.programming, p.programming_std(targets), targets),
             (laws.read, p.read_std(reads, t), reads)]
    if p.drift is not None:
        pairs += [(laws.nu_mean, p.drift.nu_mean(targets), targets),
                  (laws.nu_std, p.drift.nu_std(targets), targets)]
    for table, exact, g in pairs:
        got = np.array([_at(table, 1.0 / laws.step, x) for x in g])
        err = np.abs(got - exact)
        assert np.all(err <= 0.01 * np.abs(exact) + 1e-30)
        assert err.max() <= 0.002 * np.abs(exact).max() + 1e-30
    assert _at(laws.read, 1.0 / laws.step, 2.001 * p.g_max) == -1.0
    assert laws.idle[1] == pytest.approx(float(p.programming_std(np.array([laws.idle[0]]))[0]), rel=0, abs=0)


def test_published_record_is_complete_and_current():
    """docs/results/hardware-aware: every training at every age with 1 read and 20 votes (the
    issue's rows), each accuracy inside its interval, and report.md what report.json gives."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    out = Path(__file__).resolve().parents[1] / "docs" / "results"
    data = json.loads((out / "hardware-aware" / "report.json").read_text())
    rows = data["rows"]
    assert all(set(r) == {"training", "age_s", "votes", "accuracy", "lo", "hi"} for r in rows)
    assert all(r["lo"] <= r["accuracy"] <= r["hi"] for r in rows)
    ages = {3600.0, 86400.0, 30 * 86400.0, 365 * 86400.0}
    assert {(r["training"], r["age_s"], r["votes"]) for r in rows} == {
        (t, a, v) for t in ("plain", "eq3", "hardware") for a in ages for v in (1, 20)}
    assert data["setup"]["not_measured"] == []
    done = subprocess.run([sys.executable, str(out / "hardware_aware.py"), "--check"], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_read_conductances_beyond_the_table_take_the_exact_law(monkeypatch):
    """With a read table too short for any conductance, every cell takes the profile's exact
    read law (the path of cells above 2 g_max): the same draw as through the table, the read
    noise within the table's documented 1 % of the law."""
    from dataclasses import replace

    from crossbar.training import device_draw

    p = devices.load("pcm")
    t = 86400.0
    w = np.linspace(-1, 1, 64 * 16, dtype=np.float32).reshape(64, 16)
    wn = w / np.abs(w).max(0)  # normalised already: band() divides by 1
    cols = np.zeros(16, dtype=np.int64)
    effects = ("read",)
    table = device_draw.band(p, effects, t, wn, False, cols, Draws(5))[0] - wn
    full = device_draw.law_tables(p, t)
    monkeypatch.setattr(device_draw, "law_tables", lambda *_: replace(full, read=full.read[:2]))
    exact = device_draw.band(p, effects, t, wn, False, cols, Draws(5))[0] - wn
    assert not np.array_equal(exact, table)  # the exact law was taken: not the table's values
    g_plus = np.where(wn >= 0, p.g_min + p.g_range * np.abs(wn), p.g_min)
    g_minus = np.where(wn < 0, p.g_min + p.g_range * np.abs(wn), p.g_min)
    noise = (p.read_std(g_plus, t) + p.read_std(g_minus, t)) / p.g_range  # |z| <= 6.7 per cell
    assert np.all(np.abs(exact - table) <= 0.01 * 6.7 * noise + 1e-7)


@pytest.mark.parametrize("shape", [(3000, 40), (40, 24, 30, 30)])
def test_calibrated_full_scale_is_the_same_from_the_fused_sample(shape):
    """The calibrated ADC range per tile is the same from the fused kernel's sample as from the
    values themselves (the torch path), when the sample is a part of the values (runs of
    adc_chain.RUN, every step-th run) and when it is all of them; a tile of zeros keeps the
    fixed range."""
    from crossbar.training import adc_chain
    from crossbar.training.hardware import _full_scale

    hw = HardwareConfig(devices.load("pcm", tile_rows=16, tile_cols=16))
    g = torch.Generator().manual_seed(4)
    spread = torch.linspace(0.5, 3.0, shape[1]).view(1, -1, *(1,) * (len(shape) - 2))
    c = torch.randn(*shape, generator=g) * spread
    c[:, 16:32] = 0.0
    want = _full_scale(hw, c)
    got = _full_scale(hw, c, lambda c0, c1, step: adc_chain.sampled(c, c0, c1, step))
    assert torch.equal(got, want)
    p = hw.device
    assert torch.all(want[16:32] == p.adc_range * p.tile_rows)
    k = math.ceil(p.range_management.percentile / 100 * shape[0] * 16 * c[0, 0].numel())
    every = c[:, :16].abs().flatten().kthvalue(k).values  # the percentile of all the values
    assert abs(want[0].item() - every.item()) < 0.05 * every.item()


@pytest.mark.parametrize("shape", [(5, 7, 11), (4, 3, 6, 9), (2, 5, 3, 4, 6)])
def test_channel_max_is_torch_max_of_abs(shape):
    """The fused per-position magnitude of a convolution's input (crossbar.training.dac_chain)
    equals torch's maximum of |x| over the channels exactly, zeros and -0.0 included."""
    from crossbar.training import dac_chain

    x = torch.randn(*shape, generator=torch.Generator().manual_seed(6))
    x[0] = 0.0
    x[1, :, 0] = -0.0
    want = x.abs().amax(1, keepdim=True)
    got = dac_chain.channel_max(x)
    assert got.shape == want.shape and torch.equal(got, want)
