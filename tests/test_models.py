"""The papers' networks: architecture, parameter counts, noise placement, seeding."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from crossbar import models as zoo
from crossbar.nn import NoiseConfig, NoiseInjection, noise_layers, set_noise

MULT = NoiseConfig("mult", 0.5, 0.5)
ZERO = NoiseConfig("mult", 0.0, 0.0)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def conv(k: int, c_in: int, c_out: int, bias: bool = True) -> int:
    return k * k * c_in * c_out + (c_out if bias else 0)


def fc(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def bn(c: int) -> int:
    return 2 * c  # gamma and beta


def _x(name: str, batch: int = 2, **kwargs) -> torch.Tensor:
    shape = zoo.input_spec(name, **kwargs).shape
    return torch.rand(batch, *shape, generator=torch.Generator().manual_seed(0))


# ---------------------------------------------------------------- counts (by hand)


def test_cnn6_parameter_count_table1():
    products = conv(3, 1, 32) + conv(3, 32, 32) + conv(3, 32, 64) + conv(3, 64, 64)
    products += fc(4 * 4 * 64, 256) + fc(256, 10)
    norms = bn(32) + bn(32) + bn(64) + bn(64) + bn(256)
    assert n_params(zoo.cnn6(MULT)) == products + norms == 330_858
    # additive model: batch norm with fixed beta = 0, gamma = 1 (no parameters)
    add = zoo.cnn6(NoiseConfig("add", 0.3, 0.3))
    assert n_params(add) == products
    assert all(not m.affine for m in add.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))


def test_cnn6_rgb_32_parameter_count():
    products = conv(3, 3, 32) + conv(3, 32, 32) + conv(3, 32, 64) + conv(3, 64, 64)
    products += fc(5 * 5 * 64, 256) + fc(256, 10)
    norms = bn(32) + bn(32) + bn(64) + bn(64) + bn(256)
    assert n_params(zoo.cnn6(in_channels=3, image_size=32)) == products + norms


def _densenet_count(depth: int, growth: int = 12, classes: int = 10) -> int:
    per_block = (depth - 4) // 3
    c = 2 * growth
    total = conv(3, 3, c, bias=False)
    for block in range(3):
        for _ in range(per_block):
            total += bn(c) + conv(3, c, growth, bias=False)
            c += growth
        if block < 2:
            total += bn(c) + conv(1, c, c, bias=False)
    return total + bn(c) + fc(c, classes)


def test_densenet40_parameter_count():
    count = n_params(zoo.densenet40())
    assert count == _densenet_count(40)
    assert 0.95e6 < count < 1.1e6  # "about one million" (paper), 1.0 M (Huang et al.)


def test_densenet100_parameter_count():
    count = n_params(zoo.densenet100())
    assert count == _densenet_count(100)
    assert 6.9e6 < count < 7.2e6  # 7.0 M in Huang et al.


def test_lstm_parameter_count():
    hidden, d = 128, 2
    gates = 4 * (hidden * (d + hidden) + hidden)  # four gate products on [x, h]
    assert n_params(zoo.lstm_strokes()) == gates + fc(hidden, 10) == 68_362


def test_madry_parameter_count():
    expected = conv(5, 1, 32) + conv(5, 32, 64) + fc(7 * 7 * 64, 1024) + fc(1024, 10)
    assert n_params(zoo.madry_cnn4()) == expected


# ---------------------------------------------------------------- shapes and layout


def test_cnn6_layer_shapes_match_table1():
    model = zoo.cnn6(MULT).eval()
    shapes = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape[1:])))
        for m in model.modules()
        if isinstance(m, (nn.ReLU, nn.MaxPool2d)) or m is model.classifier[-1]
    ]
    model(_x("cnn6"))
    for h in hooks:
        h.remove()
    # Table 1 lists (H, W, C); torch is (C, H, W)
    assert shapes == [
        (32, 26, 26),
        (32, 24, 24),
        (32, 12, 12),
        (64, 10, 10),
        (64, 8, 8),
        (64, 4, 4),
        (256,),
        (10,),
    ]


def test_cnn6_order_product_bn_noise_relu():
    model = zoo.cnn6(MULT)
    seq = [m for m in model.modules() if not isinstance(m, (nn.Sequential, zoo.CNN6))]
    kinds = [type(m).__name__ for m in seq if not isinstance(m, (nn.MaxPool2d, nn.Flatten))]
    stage = ["BatchNorm2d", "NoiseInjection", "ReLU"]
    assert kinds == (
        ["Conv2d", *stage] * 4
        + ["Linear", "BatchNorm1d", "NoiseInjection", "ReLU"]
        + ["Linear", "NoiseInjection"]
    )


@pytest.mark.parametrize(
    ("name", "n_noise"),
    [("cnn6", 6), ("densenet40", 40), ("densenet100", 100), ("lstm_strokes", 5), ("madry_cnn4", 4)],
)
def test_one_noise_layer_per_product(name, n_noise):
    model = zoo.build(name, MULT)
    products = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    layers = noise_layers(model)
    assert len(layers) == n_noise
    if name != "lstm_strokes":  # the LSTM fuses its four gate products in one Linear
        assert len(products) == n_noise
    assert all(layer.config == MULT for layer in layers)
    assert len({id(layer.source) for layer in layers}) == 1  # one shared noise generator


@pytest.mark.parametrize("name", ["cnn6", "densenet40", "lstm_strokes", "madry_cnn4"])
def test_output_shape(name):
    model = zoo.build(name, MULT, num_classes=7)
    for mode in (True, False):
        assert model.train(mode)(_x(name, batch=2)).shape == (2, 7)


def test_densenet100_output_shape():
    assert zoo.densenet100(num_classes=10).eval()(_x("densenet100", batch=1)).shape == (1, 10)


# ---------------------------------------------------------------- noise behaviour


@pytest.mark.parametrize("name", ["cnn6", "densenet40", "lstm_strokes", "madry_cnn4"])
def test_zero_sigma_equals_plain_model(name):
    plain, noisy = zoo.build(name, seed=3), zoo.build(name, ZERO, seed=3)
    x = _x(name, batch=2)
    for mode in (True, False):
        assert torch.equal(plain.train(mode)(x), noisy.train(mode)(x))
    set_noise(noisy, sigma_train=0.5, sigma_val=0.5)
    for mode in (True, False):
        assert not torch.equal(plain.train(mode)(x), noisy.train(mode)(x))


def test_lstm_matches_torch_lstm_without_noise():
    model = zoo.lstm_strokes(hidden=16, steps=7).eval()
    ref = nn.LSTM(2, 16, batch_first=True)
    w = model.cell.gates.weight.detach()
    with torch.no_grad():  # same gate order i, f, g, o as torch
        ref.weight_ih_l0.copy_(w[:, :2])
        ref.weight_hh_l0.copy_(w[:, 2:])
        ref.bias_ih_l0.copy_(model.cell.gates.bias)
        ref.bias_hh_l0.zero_()
    x = _x("lstm_strokes", batch=3, steps=7)
    _, (h, _) = ref(x)
    expected = model.fc(h[0])
    torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-6)


def test_lstm_noise_per_gate_product():
    model = zoo.lstm_strokes(NoiseConfig(), hidden=8, steps=5).eval()
    x = _x("lstm_strokes", batch=2, steps=5)
    clean = model(x)
    cell = model.cell
    assert [type(m) for m in (cell.noise_i, cell.noise_f, cell.noise_g, cell.noise_o)] == [NoiseInjection] * 4
    for gate in ("noise_i", "noise_f", "noise_g", "noise_o"):
        getattr(cell, gate).config = NoiseConfig("mult", 0.0, 0.5)  # only this gate is noisy
        assert not torch.equal(model(x), clean)
        getattr(cell, gate).config = NoiseConfig()
        assert torch.equal(model(x), clean)
    with pytest.raises(ValueError, match="expects"):
        model(torch.zeros(2, 5, 3))


def test_noise_is_drawn_afresh_and_reproducibly():
    a, b = zoo.cnn6(MULT, seed=1), zoo.cnn6(MULT, seed=1)
    x = _x("cnn6", batch=4)
    a.eval(), b.eval()
    first = a(x)
    assert not torch.equal(first, a(x))  # new draw per inference
    assert torch.equal(first, b(x))  # same seed, same stream


# ---------------------------------------------------------------- build, seeds, recipes


def test_seed_controls_weights_and_global_rng_is_untouched():
    state = torch.random.get_rng_state()
    a, b, c = zoo.cnn6(seed=0), zoo.cnn6(seed=0), zoo.cnn6(seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["features.0.weight"], sc["features.0.weight"])
    assert torch.equal(sa["features.1.running_var"], torch.ones(32))


def test_vit_is_seeded_has_noise_after_every_product_and_converts():
    state = torch.random.get_rng_state()
    a, b = zoo.build("vit", MULT, seed=0), zoo.build("vit", MULT, seed=0)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    # patch embedding; per layer q/k/v, out_proj, linear1, linear2; the head
    assert len(noise_layers(a)) == 1 + 2 * 4 + 1
    x = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    from crossbar import devices
    from crossbar.nn import convert

    a.eval()
    set_noise(a, sigma_val=0.0)
    ref = a(x)
    out = convert(a, devices.load("ideal"))(x)
    torch.testing.assert_close(out, ref, atol=1e-4 * ref.abs().max().item(), rtol=0)


def test_build_registry_and_aliases():
    assert zoo.available() == ["cnn6", "densenet40", "densenet100", "lstm_strokes", "madry_cnn4",
                               "mobilenet_small", "conv_gru_strokes", "vit"]
    model = zoo.build("lstm", MULT, hidden=32)
    assert isinstance(model, zoo.LSTMStrokes) and model.hidden == 32
    assert model.crossbar_model == {
        "name": "lstm_strokes",
        "kwargs": {"hidden": 32},
        "noise": MULT.to_dict(),
    }
    assert isinstance(zoo.build("madry"), zoo.MadryCNN4)
    with pytest.raises(KeyError, match="unknown model"):
        zoo.build("resnet18")
    with pytest.raises(TypeError):
        zoo.build("cnn6", {"kind": "mult"})


def test_recipes():
    for name in ("cnn6", "lstm_strokes", "madry_cnn4"):
        r = zoo.recipe(name)
        assert (r["optimizer"], r["lr"], r["batch_size"]) == ("adam", 1e-4, 32)
    for name in ("densenet40", "densenet100"):
        r = zoo.recipe(name)
        assert (r["optimizer"], r["lr"], r["batch_size"], r["momentum"]) == ("sgd", 0.1, 32, 0.9)
        assert r["nesterov"] and r["weight_decay"] == 1e-4
    zoo.recipe("cnn6")["lr"] = 1.0  # a copy
    assert zoo.recipe("cnn6")["lr"] == 1e-4


def test_input_specs_and_clear_mismatch_error():
    assert zoo.input_spec("cnn6") == zoo.InputSpec("image", (1, 28, 28))
    assert zoo.input_spec("densenet40").shape == (3, 32, 32)
    assert zoo.input_spec("lstm_strokes") == zoo.InputSpec("sequence", (50, 2))
    zoo.input_spec("densenet40").check((3, 32, 32))
    with pytest.raises(ValueError, match=r"densenet40.*expects images of 3 channel.*mnist"):
        zoo.input_spec("densenet40").check((1, 28, 28), "densenet40", "mnist")
    with pytest.raises(ValueError, match="sequences"):
        zoo.input_spec("lstm_strokes").check((1, 28, 28), "lstm_strokes", "mnist")
    assert zoo.kwargs_for_data("cnn6", (3, 32, 32), 10) == {
        "num_classes": 10,
        "in_channels": 3,
        "image_size": 32,
    }
    assert zoo.kwargs_for_data("lstm", (50, 2), 10) == {
        "num_classes": 10,
        "steps": 50,
        "input_dim": 2,
    }


def test_invalid_architecture_arguments():
    with pytest.raises(ValueError):
        zoo.cnn6(image_size=12)
    with pytest.raises(ValueError):
        zoo.densenet.DenseNet(depth=41)
