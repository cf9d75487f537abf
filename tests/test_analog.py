"""Analog torch layers and convert(): noise-free profiles must reproduce the float layers."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from crossbar import devices
from crossbar.nn.analog import AnalogConv2d, AnalogLinear, AnalogLSTM
from crossbar.nn.convert import UnsupportedLayerError, convert, reprogram, reseed, summary

IDEAL = devices.load("ideal")


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
    assert analog.passes == ref.shape[2] * ref.shape[3]


@pytest.mark.parametrize("batch_first", [True, False])
def test_lstm_matches_float(batch_first):
    gen = torch.Generator().manual_seed(2)
    layer = nn.LSTM(2, 16, num_layers=2, batch_first=batch_first)
    x = torch.randn(4, 9, 2, generator=gen) if batch_first else torch.randn(9, 4, 2, generator=gen)
    out, (h, c) = layer(x)
    a_out, (a_h, a_c) = AnalogLSTM(layer, IDEAL, 0, [0, 1])(x)
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
    with pytest.raises(UnsupportedLayerError, match=r"'1'.*Conv1d"):
        convert(nn.Sequential(nn.Linear(4, 4), nn.Conv1d(1, 1, 3)), IDEAL)
    with pytest.raises(UnsupportedLayerError, match="groups=2"):
        convert(nn.Sequential(nn.Conv2d(4, 4, 3, groups=2)), IDEAL)

    class Custom(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(3, 3))

    with pytest.raises(UnsupportedLayerError, match=r"Custom.*\['w'\]"):
        convert(nn.Sequential(nn.Linear(3, 3), Custom()), IDEAL)
    with pytest.raises(UnsupportedLayerError, match="no layer that can be mapped"):
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
