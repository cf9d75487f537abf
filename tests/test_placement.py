"""Noise on any network (crossbar.nn.placement): where it goes, and that convert() follows the same rule."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from torch import nn

from crossbar import models
from crossbar.nn import (
    AnalogLinear,
    NoiseAfter,
    NoiseConfig,
    NoiseInjection,
    convert,
    noise_layers,
    seed_noise,
    set_noise,
    to_float,
)
from crossbar.nn.placement import (
    NOISE_ATTR,
    NoisyLSTM,
    PlacementError,
    UnplacedProductWarning,
    place_noise,
    plan,
)

MULT = NoiseConfig("mult", 0.5, 0.5)


def _x(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def _bn_stats(net: nn.Module) -> None:
    """Batch-norm statistics far from the identity, so noise before and after a batch norm differ."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-1, 1, generator=gen)
                m.running_var.uniform_(0.2, 1.0, generator=gen)
                if m.affine:
                    m.weight.uniform_(0.5, 2, generator=gen)
                    m.bias.uniform_(-1, 1, generator=gen)


def test_bundled_cnn6_without_its_noise_layers_plus_placement_is_the_bundled_cnn6():
    """Same positions (after each batch norm; after the last Linear) and the same numbers, bit for bit,
    in training and in inference, for both noise kinds."""
    for noise in (MULT, NoiseConfig("add", 0.3, 0.7)):
        bundled = models.cnn6(noise, seed=3)
        plain = models.cnn6(noise, seed=3, builtin_noise=False)
        assert not noise_layers(plain)
        where = plan(plain)  # the model records its input shape: no example needed
        expected = {}
        for seq in ("features", "classifier"):  # bundled: the module just before each NoiseInjection
            kids = list(getattr(bundled, seq))
            products = [i for i, m in enumerate(kids) if isinstance(m, (nn.Conv2d, nn.Linear))]
            for i in products:
                after = next(j for j in range(i, len(kids)) if isinstance(kids[j + 1], NoiseInjection))
                expected[f"{seq}.{i}"] = after
        plain_names = [n for n, m in plain.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear,
                                                                              nn.BatchNorm1d,
                                                                              nn.BatchNorm2d))]
        bundled_names = [n for n, m in bundled.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear,
                                                                                  nn.BatchNorm1d,
                                                                                  nn.BatchNorm2d))]
        rename = dict(zip(bundled_names, plain_names, strict=True))
        assert where.targets == {rename[p]: rename[f"{p.split('.')[0]}.{a}"] for p, a in expected.items()}
        place_noise(plain, noise, placement=where)
        assert len(noise_layers(plain)) == len(noise_layers(bundled)) == 6
        _bn_stats(bundled)
        _bn_stats(plain)
        for a, b in zip(bundled.state_dict().values(), plain.state_dict().values(), strict=True):
            assert torch.equal(a, b)
        x = _x(16, 1, 28, 28)
        for training in (False, True):
            bundled.train(training)
            plain.train(training)
            seed_noise(bundled, 9)
            seed_noise(plain, 9)
            out, same = bundled(x), plain(x)
            if training:  # batch statistics: torch's CPU reductions may differ in the last bits
                torch.testing.assert_close(same, out, rtol=1e-5, atol=1e-6)  # between two calls
            else:
                assert torch.equal(same, out)
            seed_noise(plain, 10)
            assert (plain(x) - out).abs().max() > 0.1  # the noise is on and follows the seed


def test_a_model_without_batch_norm_gets_noise_after_every_product_without_a_trace():
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3))
    where = plan(net)  # no example: nothing to trace
    assert not where.traced and where.targets == {"1": "1", "3": "3"}
    place_noise(net, NoiseConfig("add", 0.0, 1.0), placement=where)
    assert [n for n, m in net.named_modules() if isinstance(m, NoiseInjection)] == \
        [f"1.{NOISE_ATTR}", f"3.{NOISE_ATTR}"]
    assert net.state_dict().keys() == {"1.weight", "1.bias", "3.weight", "3.bias"}  # names unchanged
    x = _x(64, 12)
    net.eval()
    clean = net[3](net[2](net[1](net[0](x))))  # the hooks run on module calls: compare layer by layer
    seed_noise(net, 0)
    noisy = net(x)
    # additive noise of std 1 on 3 outputs, after a noisy hidden layer: a clear, not a tiny, change
    assert (noisy - clean).abs().mean() > 0.3


class _Residual(nn.Module):
    """A product read twice (batch norm and a skip), a product read once by a batch norm,
    and a batch norm reached through a reshape."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_skip = nn.Conv2d(2, 2, 3, padding=1)
        self.bn_skip = nn.BatchNorm2d(2)
        self.conv = nn.Conv2d(2, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 4 * 4, 6)
        self.bn_flat = nn.BatchNorm1d(24)
        self.head = nn.Linear(24, 3)

    def forward(self, x):
        y = self.conv_skip(x)
        y = self.bn_skip(y) + y
        z = torch.relu(self.bn(self.conv(y)))
        f = self.fc(z.flatten(1))
        return self.head(self.bn_flat(f.repeat(1, 4)))


def test_residual_and_reshaped_outputs_keep_the_noise_on_the_product():
    net = _Residual()
    with pytest.raises(PlacementError, match="example="):
        plan(net)
    where = plan(net, example=(2, 6, 6))
    assert where.traced
    assert where.targets == {"conv_skip": "conv_skip", "conv": "bn", "fc": "fc", "head": "head"}
    assert where.norm_after("conv") == "bn" and where.norm_after("conv_skip") is None


def test_a_shared_batch_norm_or_a_product_called_twice_is_not_moved():
    class Shared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b, self.bn = nn.Linear(4, 4), nn.Linear(4, 4), nn.BatchNorm1d(4)

        def forward(self, x):
            return self.bn(self.a(x)) + self.bn(self.b(x))  # one batch norm after two products

    assert plan(Shared(), example=(4,)).targets == {"a": "a", "b": "b"}

    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc, self.bn = nn.Linear(4, 4), nn.BatchNorm1d(4)

        def forward(self, x):
            return self.bn(self.fc(x)) + self.fc(x)  # the second call's output skips the batch norm

    assert plan(Twice(), example=(4,)).targets == {"fc": "fc"}


def test_products_outside_the_layers_are_reported():
    class Functional(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.w = nn.Parameter(torch.ones(4, 2))
            self.bn = nn.BatchNorm1d(4)

        def forward(self, x):
            return self.bn(self.fc(x)) @ self.w

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        where = plan(Functional(), example=(4,))
    assert where.targets == {"fc": "bn"}
    assert [type(w.message) for w in seen] == [UnplacedProductWarning]
    assert "matmul" in str(seen[0].message) and "gets no noise" in str(seen[0].message)


@pytest.mark.parametrize("batch_first", [True, False])
def test_lstm_noise_is_on_the_gate_products(batch_first):
    lstm = nn.LSTM(3, 5, num_layers=2, batch_first=batch_first)
    net = nn.Sequential(lstm)
    x = _x(4, 7, 3) if batch_first else _x(7, 4, 3)
    keys = list(net.state_dict())
    with torch.no_grad():
        want, (h, c) = copy.deepcopy(lstm)(x)
    place_noise(net, NoiseConfig("mult", 0.0, 1e-12))
    assert isinstance(net[0], NoisyLSTM) and list(net.state_dict()) == keys
    net.eval()
    with torch.no_grad():
        got, (h2, c2) = net(x)  # the recurrence written out, with (almost no) noise on every gate
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(c2, c, rtol=1e-5, atol=1e-6)
    set_noise(net, sigma_val=0.3)
    seed_noise(net, 1)
    with torch.no_grad():
        noisy, _ = net(x)
    assert (noisy - want).abs().max() > 1e-3
    with pytest.raises(PlacementError, match="dropout"):
        place_noise(nn.Sequential(nn.LSTM(3, 5, num_layers=2, dropout=0.1)), MULT)


def test_convert_places_abstract_noise_by_the_same_rule():
    """A network that is not an nn.Sequential: the abstract profile's noise goes behind the batch
    norm the trace found, stays on the product where its output is read twice, and to_float
    gives the network back with its placed Gaussian noise layers."""
    net = _Residual().eval()
    _bn_stats(net)
    with pytest.raises(PlacementError, match="example="):
        convert(net, "gaussian-mult")
    analog = convert(net, "gaussian-mult", seed=0, example=(2, 6, 6))
    assert isinstance(analog.bn, NoiseAfter) and analog.conv.noise is None
    assert not isinstance(analog.bn_skip, NoiseAfter) and analog.conv_skip.noise is not None
    assert isinstance(analog.fc, AnalogLinear) and analog.fc.noise is not None
    assert analog(_x(3, 2, 6, 6)).shape == (3, 3)
    # physical profiles have no output noise: no trace, no example needed
    assert isinstance(convert(net, "reram", seed=0).bn, nn.BatchNorm2d)
    placed = place_noise(_Residual(), MULT, example=(2, 6, 6))
    back = to_float(convert(placed, "gaussian-mult", seed=0, example=(2, 6, 6)))
    assert len(noise_layers(back)) == len(noise_layers(placed)) == 4
    assert [type(m) for m in back.modules()] == [type(m) for m in placed.modules()]


def test_placing_twice_is_refused():
    net = models.cnn6(MULT)
    with pytest.raises(PlacementError, match="already has 6 noise layer"):
        place_noise(net, MULT)
