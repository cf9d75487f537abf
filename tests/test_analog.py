"""Analog torch layers, convert() and to_float(): noise-free profiles must reproduce the float layers."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from scipy import stats
from torch import nn

from crossbar import devices, models
from crossbar.cost.mapping import count_mvms
from crossbar.nn import NoiseConfig, seed_noise, set_noise, summary
from crossbar.nn.analog import AnalogConv2d, AnalogLinear, AnalogLSTM, NoiseAfter, im2col
from crossbar.nn.convert import UnsupportedLayerError, convert, reprogram, reseed, to_float

IDEAL = devices.load("ideal")
ALPHA = 1e-3
Z = stats.norm.ppf(1 - ALPHA / 2)


def assert_matches(a: torch.Tensor, b: torch.Tensor) -> None:
    scale = b.abs().max().item()
    torch.testing.assert_close(a, b, atol=3e-5 * scale, rtol=0)


def test_linear_matches_float():
    gen = torch.Generator().manual_seed(0)
    layer = nn.Linear(300, 130)
    x = torch.randn(7, 300, generator=gen)
    assert_matches(AnalogLinear.from_float(layer, IDEAL, seed=0)(x), layer(x).detach())


@pytest.mark.parametrize(
    "kw",
    [
        dict(kernel_size=3),
        dict(kernel_size=(3, 5), stride=2, padding=(1, 2)),
        dict(kernel_size=3, dilation=2, padding=2, bias=False),
        dict(kernel_size=1, stride=3),
    ],
)
def test_conv2d_matches_float(kw):
    gen = torch.Generator().manual_seed(1)
    layer = nn.Conv2d(3, 8, **kw)
    x = torch.randn(2, 3, 11, 13, generator=gen)
    analog = AnalogConv2d.from_float(layer, IDEAL, seed=0)
    ref = layer(x).detach()
    assert_matches(analog(x), ref)
    assert count_mvms(analog, x) == {"": ref.shape[2] * ref.shape[3]}  # one MVM per output position
    patches = nn.functional.unfold(x, layer.kernel_size, dilation=layer.dilation, padding=layer.padding,
                                   stride=layer.stride)
    assert torch.equal(im2col(x, layer.kernel_size, layer.stride, layer.padding, layer.dilation),
                       patches.transpose(1, 2).reshape(-1, patches.shape[1]))


@pytest.mark.parametrize("batch_first", [True, False])
def test_lstm_matches_float(batch_first):
    gen = torch.Generator().manual_seed(2)
    layer = nn.LSTM(2, 16, num_layers=2, batch_first=batch_first)
    x = torch.randn(4, 9, 2, generator=gen) if batch_first else torch.randn(9, 4, 2, generator=gen)
    out, (h, c) = layer(x)
    a_out, (a_h, a_c) = AnalogLSTM.from_float(layer, IDEAL, [0, 1])(x)
    assert_matches(a_out, out.detach())
    assert_matches(a_h, h.detach())
    assert_matches(a_c, c.detach())


def small_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(4 * 5 * 5, 10),
    ).eval()


def test_convert_keeps_digital_layers_and_matches_float():
    net = small_net()
    x = torch.randn(3, 1, 12, 12, generator=torch.Generator().manual_seed(3))
    analog = convert(net, IDEAL, seed=0)
    assert isinstance(analog[0], AnalogConv2d) and isinstance(analog[5], AnalogLinear)
    assert isinstance(analog[1], nn.BatchNorm2d) and isinstance(net[0], nn.Conv2d)  # original untouched
    assert_matches(analog(x), net(x).detach())


def test_convert_the_papers_cnn():
    from crossbar.models import build

    net = build("cnn6").eval()
    x = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(4))
    assert_matches(convert(net, IDEAL)(x), net(x).detach())


def test_unsupported_layers_are_named():
    with pytest.raises(UnsupportedLayerError, match=r"'1'.*ConvTranspose3d"):
        convert(nn.Sequential(nn.Linear(4, 4), nn.ConvTranspose3d(1, 1, 3)), IDEAL)
    with pytest.raises(UnsupportedLayerError, match="proj_size=2"):
        convert(nn.Sequential(nn.LSTM(4, 4, proj_size=2)), IDEAL)

    class Custom(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(3, 3))

    with pytest.raises(UnsupportedLayerError, match=r"'1\.w'.*example="):  # decided by use: needs a trace
        convert(nn.Sequential(nn.Linear(3, 3), Custom()), IDEAL)
    with pytest.raises(UnsupportedLayerError, match="no weight that multiplies an input"):
        convert(nn.Sequential(nn.ReLU()), IDEAL)


def test_per_layer_override_and_summary():
    net = nn.Sequential(nn.Linear(300, 130), nn.ReLU(), nn.Linear(130, 10))
    reram = devices.load("reram")
    pcm = devices.load("pcm")
    analog = convert(net, reram, overrides={"2": pcm})
    assert analog[0].profile.name == "reram" and analog[2].profile.name == "pcm"
    s = summary(analog)
    first, second = s.layers
    tiles = math.ceil(300 / reram.tile_rows) * math.ceil(130 / reram.tile_cols)
    assert first.tiles == tiles
    assert first.utilisation == pytest.approx(300 * 130 / (tiles * reram.tile_rows * reram.tile_cols))
    assert second.tiles == 1 and second.conductances == 2 * 130 * 10
    assert "| total |" in s.to_markdown()
    with pytest.raises(ValueError, match="no crossbar layers"):
        summary(net)


def test_reseed_and_reprogram_are_deterministic():
    net = nn.Sequential(nn.Linear(20, 6))
    analog = convert(net, devices.load("pcm"), seed=5)
    x = torch.randn(4, 20, generator=torch.Generator().manual_seed(6))
    reseed(analog, 1)
    a = analog(x)
    b = analog(x)
    reseed(analog, 1)
    assert torch.equal(analog(x), a) and not torch.equal(a, b)
    weights = analog[0].array.effective_weights()
    reprogram(analog, 9)
    assert not (analog[0].array.effective_weights() == weights).all()
    reprogram(analog, 5)
    assert (analog[0].array.effective_weights() == weights).all()


def test_from_float_to_float_round_trip():
    gen = torch.Generator().manual_seed(7)
    pcm = devices.load("pcm")
    lin = nn.Linear(30, 7)
    back = AnalogLinear.from_float(lin, pcm, seed=1).to_float()
    assert torch.equal(back.weight, lin.weight.detach()) and torch.equal(back.bias, lin.bias.detach())
    conv = nn.Conv2d(3, 5, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), bias=False)
    cback = AnalogConv2d.from_float(conv, pcm, seed=1).to_float()
    assert torch.equal(cback.weight, conv.weight.detach()) and cback.bias is None
    assert (cback.stride, cback.padding, cback.dilation) == (conv.stride, conv.padding, conv.dilation)
    lstm = nn.LSTM(3, 8, num_layers=2, batch_first=True)
    lback = AnalogLSTM.from_float(lstm, pcm, [1, 2]).to_float()
    x = torch.randn(4, 6, 3, generator=gen)
    torch.testing.assert_close(lback(x)[0], lstm(x)[0], rtol=0, atol=1e-6)  # biases summed: same function
    assert torch.equal(lback.weight_hh_l1, lstm.weight_hh_l1.detach())


def test_convert_and_to_float_whole_model():
    net = small_net()
    x = torch.randn(3, 1, 12, 12, generator=torch.Generator().manual_seed(8))
    analog = convert(net, "pcm", seed=0)  # a bundled name works like a profile object
    plain = to_float(analog)
    assert [type(m) for m in plain] == [type(m) for m in net]
    assert torch.equal(plain(x), net(x))
    assert any(isinstance(m, AnalogConv2d) for m in analog.modules())  # to_float copied, analog kept


def test_convert_takes_a_profile_name_or_yaml_path(tmp_path):
    net = nn.Sequential(nn.Linear(8, 4))
    path = tmp_path / "mine.yaml"
    path.write_text(devices.load("reram", adc_bits=6).to_yaml())
    assert convert(net, str(path))[0].profile.adc_bits == 6
    assert convert(net, "nand")[0].profile.name == "nand"
    with pytest.raises(devices.ProfileError, match="unknown device profile"):
        convert(net, "pmc")
    with pytest.raises(devices.ProfileError, match="expected a DeviceProfile"):
        convert(net, 3)


def test_layer_owns_its_read_sequence_and_state_dict():
    net = nn.Sequential(nn.Linear(20, 6))
    x = torch.randn(4, 20, generator=torch.Generator().manual_seed(9))
    a = convert(net, devices.load("pcm"), seed=5)
    b = convert(net, devices.load("pcm"), seed=6)  # other programming noise
    reseed(a, 1)
    reseed(b, 1)
    assert not torch.equal(a(x), b(x))
    b.load_state_dict(a.state_dict())
    reseed(a, 2)
    reseed(b, 2)
    assert torch.equal(a(x), b(x))  # the programmed state travels in the state_dict
    layer = a[0]
    layer.reseed(3)
    first = layer(x)
    assert layer.reads == 1
    layer.reseed(3)
    assert torch.equal(layer(x), first)


def test_abstract_profile_noise_goes_after_the_batch_norm():
    net = models.cnn6(seed=0).eval()
    analog = convert(net, "gaussian-mult", seed=0)
    feats = analog.features
    assert isinstance(feats[0], AnalogConv2d) and feats[0].noise is None
    assert isinstance(feats[1], NoiseAfter) and isinstance(feats[1].inner, nn.BatchNorm2d)
    last = analog.classifier[5]  # the last Linear has no batch norm after it: noise right after it
    assert isinstance(last, AnalogLinear) and last.noise is not None
    assert [type(m) for m in to_float(analog).modules()] == [type(m) for m in net.modules()]


def _bn_stats(net: nn.Module, gen: torch.Generator) -> None:
    """Batch-norm statistics far from the identity, so noise before and after a batch norm differ."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-1, 1, generator=gen)
                m.running_var.uniform_(0.2, 1.0, generator=gen)
                m.weight.uniform_(0.5, 2, generator=gen)
                m.bias.uniform_(-1, 1, generator=gen)


def test_abstract_profile_accuracy_equals_noise_layer_accuracy():
    """cnn6 with Qin's Eq. 3 noise layers at sigma, and converted onto gaussian-mult at the same sigma:
    the fraction of images whose clean prediction survives the noise must agree within a binomial bound."""
    n, sigma = 4000, 0.6
    gen = torch.Generator().manual_seed(1)
    net = models.cnn6(NoiseConfig("mult", 0.0, sigma), image_size=16, seed=0).eval()  # small images: fast
    _bn_stats(net, gen)
    x = torch.rand(n, 1, 16, 16, generator=gen)
    quiet = copy.deepcopy(net)
    set_noise(quiet, sigma_val=0.0)
    profile = devices.load("gaussian-mult").with_overrides(output_noise={"kind": "mult", "sigma": sigma})
    analog = convert(quiet, profile, seed=5)
    seed_noise(net, 3)
    reseed(analog, 4)
    with torch.no_grad():
        clean = quiet(x).argmax(1)
        acc_layers = (net(x).argmax(1) == clean).double().mean().item()
        acc_analog = (analog(x).argmax(1) == clean).double().mean().item()
    # each image survives with its own probability p_i in both models, noise drawn independently:
    # Var(acc_layers - acc_analog) = sum 2 p_i (1 - p_i) / n^2 <= 1 / (2 n)
    assert 0.2 < acc_layers < 0.8  # the noise matters at this sigma
    assert abs(acc_layers - acc_analog) < Z * math.sqrt(1 / (2 * n))


def test_cost_hooks_count_what_each_layer_multiplies():
    from crossbar.cost.mapping import network_cost_of

    strokes = convert(models.lstm_strokes(seed=0).eval(), "reram", seed=0)
    x = torch.rand(3, 50, 2, generator=torch.Generator().manual_seed(2))
    reads_before = strokes.cell.gates.reads
    net = network_cost_of(strokes, x)
    gates = {c.name: c for c in net.layers}["cell.gates"]
    assert gates.mvms == 50  # one per time step
    assert strokes.cell.gates.reads == reads_before  # counting leaves the read sequence alone

    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(torch.relu(self.fc(x)))

    assert count_mvms(convert(Twice(), "reram"), torch.ones(5, 4)) == {"fc": 2}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: converted layers on GPU tensors")
def test_converted_model_runs_on_cuda():
    net = small_net()
    x = torch.randn(64, 1, 12, 12, generator=torch.Generator().manual_seed(3))
    ideal = convert(net, IDEAL).to("cuda")
    assert ideal[0].array.conductance.device.type == "cuda"
    out = ideal(x.cuda())
    assert out.device.type == "cuda"
    assert_matches(out.cpu(), net(x).detach())
    noisy = convert(net, "pcm", seed=1).to("cuda")
    reseed(noisy, 2)
    first = noisy(x.cuda())
    reseed(noisy, 2)
    assert torch.equal(noisy(x.cuda()), first)
