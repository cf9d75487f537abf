"""QAT: quantiser levels, straight-through gradients, quantised weights on matching
conductance levels, and a tiny hardening run through the CLI."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from crossbar.cli import main
from crossbar.walk import (
    QuantReLU,
    device_levels,
    place_noise,
    quantize,
    quantize_activation,
    quantize_weight,
)
from crossbar.walk.harden import crossbar_accuracy, fan_in_rows
from crossbar.walk.nets import mlp


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_activation_quantiser_takes_exactly_2_to_the_b_levels(bits):
    step = 3.0 / (2**bits - 1)
    top = step * (2**bits - 1)
    x = torch.linspace(-1.0, top + 1.0, 20_001)
    q = quantize_activation(x, bits, step)
    levels = torch.unique(q)
    assert len(levels) == 2**bits
    assert torch.allclose(levels, torch.arange(2**bits) * step, atol=1e-5)
    assert (q - x.clamp(0, top)).abs().max() <= step / 2 + 1e-6


def test_activation_ste_is_the_identity_inside_the_range():
    x = torch.tensor([-0.5, 0.1, 0.7, 1.3, 2.9, 3.5], requires_grad=True)
    quantize_activation(x, 4, 0.2).sum().backward()  # range [0, 3]
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 0.0]
    w = torch.randn(5, 7, generator=torch.Generator().manual_seed(0), requires_grad=True)
    g = torch.randn(5, 7, generator=torch.Generator().manual_seed(1))
    (quantize_weight(w, 3) * g).sum().backward()
    assert torch.equal(w.grad, g)


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_weight_quantiser_is_symmetric_narrow_range_per_channel(bits):
    k = 2 ** (bits - 1) - 1
    w = torch.stack([torch.linspace(-1, 1, 4001), 0.01 * torch.linspace(-0.5, 1, 4001)])
    q = quantize_weight(w, bits)
    for c in range(2):
        levels = torch.unique(q[c])
        scale = w[c].abs().max() / k
        assert len(levels) <= 2**bits - 1
        assert torch.allclose(levels / scale, torch.round(levels / scale), atol=1e-4)
        assert q[c].abs().max() == pytest.approx(float(w[c].abs().max()), rel=1e-6)
    assert len(torch.unique(q[0])) == 2**bits - 1  # the symmetric channel uses every level
    assert device_levels(bits) == 2 ** (bits - 1)


def test_quantize_model_trains_latent_weights():
    net = quantize(mlp(width=8, depth=1, seed=0), 4, 0.25)
    assert isinstance(net[3], QuantReLU)
    lin = net[1]
    assert not torch.equal(lin.weight, lin.parametrizations.weight.original)
    assert len(torch.unique(lin.weight[0])) <= 15
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    before = lin.parametrizations.weight.original.detach().clone()
    nn.functional.cross_entropy(net(torch.rand(4, 1, 28, 28)), torch.tensor([0, 1, 2, 3])).backward()
    opt.step()
    assert not torch.equal(before, lin.parametrizations.weight.original)


def test_quantised_weights_sit_exactly_on_matching_device_levels():
    """On an ideal array (exact MVM) with 2^(b-1) levels per device, a QAT network computes
    what it computes digitally; a float network does not."""
    x = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    data = type("D", (), {"x": x, "y": torch.zeros(64, dtype=torch.long)})()
    bits = 3
    qat = place_noise(quantize(mlp(width=16, depth=1, seed=1), bits, 0.3), x[:2]).eval()
    flt = place_noise(mlp(width=16, depth=1, seed=1), x[:2]).eval()
    rows = fan_in_rows(qat)
    assert rows == 1024
    from crossbar.devices import load

    from crossbar.nn import convert

    prof = load("ideal").with_overrides(tile_rows=rows)
    for net, exact in ((qat, True), (flt, False)):
        analog = convert(net, prof.with_overrides(levels=device_levels(bits)), seed=0)
        with torch.no_grad():
            diff = (analog(x) - net(x)).abs().max().item()
        assert (diff < 1e-4) == exact, diff
    assert 0.0 <= crossbar_accuracy(qat, "ideal", device_levels(bits), rows, 0, data) <= 1.0


HARDEN = """\
models:
  - {model: mlp, label: small, kwargs: {width: 8, depth: 1}}
data: mnist5k
limit_train: 256
limit_test: 100
qat: [{bits: 3, act_step: 0.5}]
grid: {min: 0.3, max: 3, per_decade: 1}
repeats: 2
epochs: 1
batch_size: 64
lr: 0.01
crossbar: {profiles: [ideal], limit_test: 50}
"""


def test_cli_tiny_hardening_run(tmp_path, capsys):
    cfg = tmp_path / "harden.yaml"
    cfg.write_text(HARDEN)
    assert main(["harden", str(cfg), "--out", str(tmp_path / "o"), "--no-progress", "--no-plots"]) == 0
    out = capsys.readouterr().out
    for text in ("| QAT 3-bit, step 0.5 + noisy training |", "ideal, 4 levels",
                 "noisy training more robust than QAT 3-bit, step 0.5?"):
        assert text in out
    a = json.loads((tmp_path / "o" / "harden.json").read_text())
    assert a["complete"]
    rows = {r["method"]: r for r in a["networks"][0]["rows"]}
    q = "QAT 3-bit, step 0.5"
    assert set(rows) == {"float", q, "noisy training", f"{q} + noisy training"}
    cb = {(e["profile"], e["levels"]): e["mean"] for e in rows[q]["crossbar"]}
    assert cb[("ideal", 4)] == cb[("ideal", None)]  # exact on matching levels
    lines = (tmp_path / "o" / "results.jsonl").read_text().splitlines()
    assert len(lines) == 2 * (1 + 1 + 2 + 2)  # repeats x (float, qat, noisy x 2 sigmas, both x 2)
    # a rerun finds everything done and writes the same report
    assert main(["harden", str(cfg), "--out", str(tmp_path / "o"), "--no-progress", "--no-plots"]) == 0
    assert json.loads((tmp_path / "o" / "harden.json").read_text()) == a
