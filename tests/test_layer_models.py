"""The bundled networks of the new layer kinds: a depthwise-separable CNN, a Conv1d + GRU classifier."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from crossbar import devices
from crossbar import models as zoo
from crossbar.cost.mapping import count_mvms
from crossbar.nn import NoiseConfig, convert, noise_layers, set_noise
from crossbar.nn.placement import NoisyGRU

MULT = NoiseConfig("mult", 0.5, 0.5)
ZERO = NoiseConfig("mult", 0.0, 0.0)
NAMES = ["mobilenet_small", "conv_gru_strokes"]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _x(name: str, batch: int = 2) -> torch.Tensor:
    return torch.rand(batch, *zoo.input_spec(name).shape, generator=torch.Generator().manual_seed(0))


def test_parameter_counts_by_hand():
    # stem 3x3 1 -> 32 (no bias) + BN; per block: depthwise 3x3 + BN, pointwise 1x1 + BN; fc 256 -> 10
    count = 9 * 32 + 2 * 32
    for c_in, c_out in ((32, 64), (64, 128), (128, 128), (128, 256)):
        count += 9 * c_in + 2 * c_in + c_in * c_out + 2 * c_out
    assert n_params(zoo.mobilenet_small(MULT)) == count + 256 * 10 + 10
    # Conv1d 2 -> 32 (kernel 5, bias); GRU 32 -> 64: 3 gates x (W_ih, W_hh, b_ih, b_hh); fc 64 -> 10
    gru = 3 * 64 * (32 + 64) + 2 * 3 * 64
    assert n_params(zoo.conv_gru_strokes()) == 2 * 32 * 5 + 32 + gru + 64 * 10 + 10


@pytest.mark.parametrize("name, n_noise", [("mobilenet_small", 10), ("conv_gru_strokes", 3)])
def test_one_noise_layer_per_product(name, n_noise):
    model = zoo.build(name, MULT)
    layers = noise_layers(model)
    assert len(layers) == n_noise and all(layer.config == MULT for layer in layers)
    assert len({id(layer.source) for layer in layers}) == 1
    if name == "conv_gru_strokes":
        assert isinstance(model.gru, NoisyGRU)


@pytest.mark.parametrize("name", NAMES)
def test_output_shape_and_zero_sigma(name):
    model = zoo.build(name, MULT, num_classes=7)
    for mode in (True, False):
        assert model.train(mode)(_x(name)).shape == (2, 7)
    plain, noisy = zoo.build(name, seed=3), zoo.build(name, ZERO, seed=3)
    for mode in (True, False):
        assert torch.equal(plain.train(mode)(_x(name)), noisy.train(mode)(_x(name)))
    set_noise(noisy, sigma_train=0.5, sigma_val=0.5)
    assert not torch.equal(plain.eval()(_x(name)), noisy.eval()(_x(name)))


@pytest.mark.parametrize("name", NAMES)
def test_converted_on_ideal_reproduces_the_float_network(name):
    model = zoo.build(name, seed=1).eval()
    x = _x(name, batch=4)
    with torch.no_grad():
        ref = model(x)
    analog = convert(model, devices.load("ideal"), seed=0)
    out = analog(x)
    assert float((out - ref).pow(2).mean().sqrt() / ref.pow(2).mean().sqrt()) <= 0.02
    counts = count_mvms(analog, x)
    if name == "conv_gru_strokes":  # conv: 50 positions; GRU: 50 steps; fc: 1
        assert counts == {"conv": 50, "gru.gates.0": 50, "fc": 1}
    else:  # (MVMs per array, arrays) of each layer, by hand: 28x28 -> 14 -> 7 -> 7 -> 4 positions; on
        # 128 x 128 tiles the 32- and 64-channel depthwise layers pack 14 groups per array (3 and 5 arrays,
        # as many tiles as block-diagonal, fewer conversions), the 128-channel ones are block-diagonal
        want = {"features.0": (784, 1), "features.4": (196, 3), "features.8": (196, 1),
                "features.12": (49, 5), "features.16": (49, 1), "features.20": (49, 1),
                "features.24": (49, 1), "features.28": (16, 1), "features.32": (16, 1),
                "classifier.0": (1, 1)}
        got: dict[str, tuple[int, int]] = {}
        for layer, n in counts.items():
            base = layer.split(".parts.")[0]
            assert got.get(base, (n, 0))[0] == n
            got[base] = (n, got.get(base, (n, 0))[1] + 1)
        assert got == want
