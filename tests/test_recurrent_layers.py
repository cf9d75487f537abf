"""RNN, GRU and LSTM on arrays (crossbar/nn/recurrent.py) and with placed noise, against torch's modules."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from crossbar import devices
from crossbar.cost.mapping import count_mvms
from crossbar.nn import (
    NoiseConfig,
    calibrate,
    convert,
    noise_layers,
    reprogram,
    reseed,
    seed_noise,
    summary,
    to_float,
    vote_group,
)
from crossbar.nn.placement import NoisyGRU, NoisyLSTM, PlacementError, place_noise
from crossbar.nn.recurrent import AnalogGRU, AnalogLSTM, AnalogRNN
from crossbar.read.array import CrossbarArray
from crossbar.seeds import Stream, derive

IDEAL = devices.load("ideal")
STEPS, BATCH, FEATURES, HIDDEN = 6, 3, 4, 5


def rel_rms(a: torch.Tensor, ref: torch.Tensor) -> float:
    return float((a - ref).pow(2).mean().sqrt() / ref.pow(2).mean().sqrt())


def _states(out) -> list[torch.Tensor]:
    """Outputs and final states of a torch or analog recurrence, flattened to a list."""
    seq, state = out
    return [seq, *(state if isinstance(state, tuple) else (state,))]


LAYERS = {
    "rnn_tanh": lambda **kw: nn.RNN(FEATURES, HIDDEN, **kw),
    "rnn_relu": lambda **kw: nn.RNN(FEATURES, HIDDEN, nonlinearity="relu", **kw),
    "gru": lambda **kw: nn.GRU(FEATURES, HIDDEN, **kw),
    "lstm": lambda **kw: nn.LSTM(FEATURES, HIDDEN, **kw),
}
SETTINGS = [
    dict(num_layers=1, bidirectional=False, batch_first=False),
    dict(num_layers=2, bidirectional=True, batch_first=True),
    dict(num_layers=3, bidirectional=False, batch_first=True, bias=False),
    dict(num_layers=2, bidirectional=True, batch_first=False, dropout=0.5),  # dropout: train only
]
ANALOG = {nn.RNN: AnalogRNN, nn.GRU: AnalogGRU, nn.LSTM: AnalogLSTM}


def _initial(layer: nn.RNNBase, gen: torch.Generator, batch: tuple[int, ...]):
    shape = (layer.num_layers * (2 if layer.bidirectional else 1), *batch, HIDDEN)
    h0 = torch.randn(*shape, generator=gen)
    return (h0, torch.randn(*shape, generator=gen)) if isinstance(layer, nn.LSTM) else h0


@pytest.mark.parametrize("settings", SETTINGS)
@pytest.mark.parametrize("kind", list(LAYERS))
def test_converted_recurrence_reproduces_torch(kind, settings):
    torch.manual_seed(0)
    layer = LAYERS[kind](**settings).eval()
    gen = torch.Generator().manual_seed(1)
    shape = (BATCH, STEPS, FEATURES) if layer.batch_first else (STEPS, BATCH, FEATURES)
    x = torch.randn(*shape, generator=gen)
    net = convert(nn.Sequential(layer), IDEAL, seed=0)
    analog = net[0]
    assert type(analog) is ANALOG[type(layer)]
    with torch.no_grad():
        for args in [(x,), (x, _initial(layer, gen, (BATCH,))), (x[0] if layer.batch_first else x[:, 0],)]:
            for got, want in zip(_states(analog(*args)), _states(layer(*args)), strict=True):
                assert got.shape == want.shape and rel_rms(got, want) <= 0.02
    # MVMs per example: one per step on each layer and direction's array
    directions = 2 if layer.bidirectional else 1
    counts = count_mvms(net, x, examples=BATCH)
    assert len(counts) == layer.num_layers * directions and set(counts.values()) == {STEPS}
    # to_float: torch's module back, the same function
    back = to_float(net)[0].eval()
    assert type(back) is type(layer) and back.bidirectional == layer.bidirectional
    with torch.no_grad():
        for got, want in zip(_states(back(x)), _states(layer(x)), strict=True):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert torch.equal(back.weight_ih_l0, layer.weight_ih_l0)


def test_gru_layout_and_utilisation():
    gru = nn.GRU(100, 40, bidirectional=True)  # [x, h]: 140 rows; [r, z, n_x, n_h]: 160 columns
    rows = summary(convert(nn.Sequential(gru), IDEAL)).layers
    assert [r.name for r in rows] == ["0.gates.0", "0.gates.1"]
    for r in rows:
        assert (r.inputs, r.outputs, r.tiles) == (140, 160, 4)
        assert r.utilisation == pytest.approx(3 * 40 * 140 / (4 * 128 * 128))  # no zero blocks counted


def test_refusals_are_clear():
    with pytest.raises(ValueError, match="proj_size=2"):
        AnalogLSTM.from_float(nn.LSTM(3, 4, proj_size=2), IDEAL, [0])
    analog = AnalogGRU.from_float(nn.GRU(3, 4), IDEAL, [0])
    packed = nn.utils.rnn.pack_padded_sequence(torch.zeros(5, 2, 3), [5, 3])
    with pytest.raises(ValueError, match="packed sequences"):
        analog(packed)


def _main_lstm(layer: nn.LSTM, profile, seeds, x):
    """The unidirectional analog LSTM as main computes it: one array per layer on [x, h] programmed
    with the layer's seed, read n with derive(seed, READ, n), torch's gate order i, f, g, o."""
    h_all, c_all = [], []
    for k, seed in enumerate(seeds):
        w = torch.cat([getattr(layer, f"weight_ih_l{k}"), getattr(layer, f"weight_hh_l{k}")], dim=1).detach()
        b = (getattr(layer, f"bias_ih_l{k}") + getattr(layer, f"bias_hh_l{k}")).detach()
        array = CrossbarArray.program(w.t(), profile, seed=seed)
        h = c = torch.zeros(x.shape[1], layer.hidden_size)
        outs = []
        for t in range(x.shape[0]):
            pre = array.read(torch.cat([x[t], h], dim=1), derive(seed, Stream.READ, t), b, output_noise=False)
            i, f, g, o = pre.chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outs.append(h)
        x = torch.stack(outs)
        h_all.append(h)
        c_all.append(c)
    return x, torch.stack(h_all), torch.stack(c_all)


@pytest.mark.filterwarnings("ignore:array of profile")
def test_unidirectional_lstm_reads_as_main_does():
    torch.manual_seed(3)
    layer = nn.LSTM(4, 6, num_layers=2)
    x = torch.randn(5, 2, 4)
    pcm = devices.load("pcm")
    want = _main_lstm(layer, pcm, [derive(9, Stream.LAYER_PROGRAM, k) for k in range(2)], x)
    seq, (h, c) = convert(nn.Sequential(layer), pcm, seed=9, read_noise_time="fresh")[0](x)  # bare reads
    for got, ref in zip((seq, h, c), want, strict=True):
        assert torch.equal(got, ref)
    with torch.no_grad():
        clean = layer(x)[0]
    assert not torch.equal(seq, clean)  # device noise is live: the equality can fail


@pytest.mark.parametrize("make, cls", [
    (lambda: nn.GRU(3, 5, num_layers=2, bidirectional=True, batch_first=True), NoisyGRU),
    (lambda: nn.LSTM(3, 5, bidirectional=True, batch_first=True), NoisyLSTM),
])
def test_placed_noise_on_bidirectional_recurrences(make, cls):
    torch.manual_seed(4)
    layer = make()
    x = torch.randn(4, 7, 3)
    with torch.no_grad():
        clean = _states(copy.deepcopy(layer)(x))
    net = nn.Sequential(layer)
    keys = list(net.state_dict())
    place_noise(net, NoiseConfig("mult", 1e-12, 0.0))
    assert isinstance(net[0], cls) and list(net.state_dict()) == keys
    net.train()
    with torch.no_grad():  # the written-out recurrence (noise on, but negligible) is torch's
        for got, want in zip(_states(net[0](x)), clean, strict=True):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    net.eval()  # sigma_val 0: torch's own forward, exactly
    with torch.no_grad():
        for got, want in zip(_states(net[0](x)), clean, strict=True):
            assert torch.equal(got, want)
    (noise,) = noise_layers(net)
    noise.config = NoiseConfig("mult", 0.3, 0.0)
    seed_noise(net, 1)
    net.train()
    seq = net[0](x)[0]
    assert (seq - clean[0]).abs().max() > 1e-2
    seq.square().sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    # converted: every layer and direction's gate array carries the noise, and to_float restores it
    analog = convert(net.eval(), IDEAL)
    assert all(hasattr(g, "crossbar_noise") for g in analog[0].gates)
    assert isinstance(to_float(analog)[0], cls)


def test_placed_noise_on_convolutions_and_refusals():
    net = nn.Sequential(nn.Conv1d(2, 4, 3, groups=2), nn.ReLU(), nn.ConvTranspose1d(4, 2, 2, stride=2),
                        nn.Conv3d(2, 2, 1))
    place_noise(net, NoiseConfig("add", 0.5, 0.0))
    assert len(noise_layers(net)) == 3
    x = torch.randn(2, 2, 8)
    seed_noise(net, 0)
    net.train()
    assert net[:3](x).shape == (2, 2, 12)
    with pytest.raises(PlacementError, match="dropout"):
        place_noise(nn.Sequential(nn.GRU(3, 5, num_layers=2, dropout=0.1)), NoiseConfig("mult", 0.1, 0.0))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: the new layers on GPU tensors")
def test_new_layers_run_on_cuda():
    torch.manual_seed(5)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(2, 8, 3, groups=2, padding=1)
            self.up = nn.ConvTranspose1d(8, 8, 2, stride=2)
            self.gru = nn.GRU(8, 6, num_layers=2, bidirectional=True, batch_first=True)

        def forward(self, x):
            return self.gru(self.up(self.conv(x)).transpose(1, 2))[0]

    net = Net().eval()
    x = torch.randn(4, 2, 9)
    with torch.no_grad():
        ref = net(x)
    analog = convert(net, IDEAL).to("cuda")
    out = analog(x.cuda())
    assert out.device.type == "cuda" and rel_rms(out.cpu(), ref) <= 0.02


@pytest.mark.filterwarnings("ignore:array of profile")
def test_chip_operations_reach_every_gate_array():
    torch.manual_seed(6)
    gru = nn.GRU(3, 5, num_layers=2, bidirectional=True, batch_first=True)
    x = torch.randn(4, 6, 3)
    net = convert(nn.Sequential(gru), devices.load("pcm"), seed=0)
    left = calibrate(net, x, seed=0)
    assert set(left) == {f"0.gates.{i}" for i in range(4)}
    assert all(g.array.calibrated for g in net[0].gates)
    reseed(net, 3)
    first = net(x)[0]
    reseed(net, 3)
    assert torch.equal(net(x)[0], first)
    with vote_group(net, 1, dt=1e-6):
        assert net(x)[0].shape == first.shape
    reprogram(net, 8)
    calibrate(net, x, seed=0)
    reseed(net, 3)
    assert not torch.equal(net(x)[0], first)
    with torch.no_grad():
        assert rel_rms(net(x)[0], gru(x)[0]) < 0.5  # still the network, with device noise
