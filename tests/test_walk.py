"""Walking Noise: noise positions, one noisy position per walk step, the midpoint search,
weight statistics, configuration errors, and the CLI with an interrupted run that resumes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from crossbar.cli import main
from crossbar.nn import seed_noise
from crossbar.walk import (
    NoiseSite,
    WalkNoise,
    find_midpoint,
    load_walk_config,
    log_grid,
    network_summary,
    place_noise,
    set_global,
    set_walk,
    summarize_midpoints,
    weight_stats,
)
from crossbar.walk.midpoint import Crossing
from crossbar.walk.nets import lenet5, mlp


class Custom(nn.Module):
    """A user's network: a reused module, a functional op, a Flatten."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(12, 6)
        self.act = nn.Tanh()
        self.fc2 = nn.Linear(6, 6)
        self.flat = nn.Flatten()
        self.out = nn.Linear(6, 3)

    def forward(self, x):
        h = self.act(self.fc1(self.flat(x)))
        h = self.act(torch.relu(self.fc2(h)))  # relu is a function: no position
        return self.out(h)


def test_positions_follow_the_paper_code():
    net = place_noise(mlp(seed=0), torch.zeros(2, 1, 28, 28))
    assert [p.op for p in net.positions] == ["input"] + ["Linear", "BatchNorm1d", "ReLU"] * 3 + ["Linear"]
    le = place_noise(lenet5(seed=0), torch.zeros(2, 1, 28, 28))
    assert len(le.positions) == 16
    assert [p.op for p in le.positions[:5]] == ["input", "Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]
    assert "Flatten" not in [p.op for p in le.positions]


def test_any_module_call_order_and_reused_modules():
    net = place_noise(Custom(), torch.zeros(2, 12))
    assert [(p.name, p.calls) for p in net.positions] == [
        ("input", 1), ("fc1", 1), ("act", 2), ("fc2", 1), ("out", 1)]


def _site_io(net, x, training=False):
    seen = {}

    def record(k):
        def hook(_m, inputs, output):
            seen[k] = (inputs[0].clone(), output.clone())
        return hook

    hooks = [s.register_forward_hook(record(k)) for k, s in enumerate(net.sites())]
    net.train(training)
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    return seen


@pytest.mark.parametrize("kind", ["add", "mult", "combined"])
def test_only_the_chosen_position_is_noisy(kind):
    x = torch.rand(4, 1, 28, 28)
    net = place_noise(lenet5(seed=1), x[:2])
    seed_noise(net, 3)
    for p in range(len(net.positions)):
        set_walk(net, p, WalkNoise(kind, 0.5))
        seen = _site_io(net, x)
        assert len(seen) == len(net.positions)
        noisy = [k for k, (i, o) in seen.items() if not torch.equal(i, o)]
        assert noisy == [p]
    # training-mode noise off: nothing is noisy in training mode, the chosen site is in eval
    set_walk(net, 5, WalkNoise(kind, 0.5, training=False, inference=True))
    assert all(torch.equal(i, o) for i, o in _site_io(net, x, training=True).values())
    set_global(net, WalkNoise(kind, 0.5, training=True, inference=False))
    assert all(not torch.equal(i, o) for i, o in _site_io(net, x, training=True).values())
    assert all(torch.equal(i, o) for i, o in _site_io(net, x).values())


def test_combined_noise_statistics():
    """y = x * m + n: mean x, variance x^2 s_m^2 + s_a^2 (bounds from the sample size)."""
    n, c, a, r = 200_000, 2.0, 0.4, 0.25
    site = NoiseSite().eval()
    site.set(WalkNoise("combined", a, r))
    seed_noise(site, 11)
    y = site(torch.full((n,), c)).double()
    s_m, s_a = (1 - r) * a, r * a
    var = c**2 * s_m**2 + s_a**2
    assert abs(y.mean().item() - c) < 5 * math.sqrt(var / n)
    assert abs(y.var().item() - var) < 5 * var * math.sqrt(2 / (n - 1))
    site.set(WalkNoise("combined", a, 1.0))  # ratio 1: purely additive
    sd = site(torch.zeros(1000)).std().item()
    assert abs(sd - a) < 5 * a / math.sqrt(2 * 999)


def _logistic(mu, clean=0.95, chance=0.1, k=3.0):
    calls = []

    def acc(s):
        calls.append(s)
        return chance + (clean - chance) / (1 + (s / mu) ** k)
    return acc, calls, (clean + chance) / 2


@pytest.mark.parametrize("mu", [0.37, 2.9, 41.0])
def test_midpoint_search_finds_a_known_value(mu):
    acc, calls, level = _logistic(mu)
    grid = log_grid(0.01, 1e3, 2)
    c = find_midpoint(acc, grid, level, steps=4)
    assert c.censored == "" and c.lo < mu < c.hi
    width = math.log10(c.hi / c.lo)
    assert width == pytest.approx(0.5 / 2**4, rel=1e-6)
    assert abs(math.log10(c.value / mu)) < width  # interpolation inside the final bracket
    assert len(calls) == len(set(calls)) == len(grid) + 4
    # more steps, closer
    fine = find_midpoint(_logistic(mu)[0], grid, level, steps=12)
    assert abs(math.log10(fine.value / mu)) < 1e-3


def test_midpoint_censoring_and_summary():
    acc, _, level = _logistic(1e6)
    assert find_midpoint(acc, log_grid(0.1, 10, 1), level, 3).censored == "above"
    acc, _, level = _logistic(1e-4)
    assert find_midpoint(acc, log_grid(0.1, 10, 1), level, 3).censored == "below"
    cs = [Crossing(v, v, v, "", ()) for v in (1.0, 10.0, 100.0)]
    s = summarize_midpoints(cs)
    assert s["status"] == "ok" and s["value"] == pytest.approx(10.0)
    half = 4.302652729911275 * 1.0 / math.sqrt(3)  # t(0.975, 2) * sd(log10) / sqrt(n)
    assert s["ci"] == pytest.approx([10 ** (1 - half), 10 ** (1 + half)])
    cs.append(Crossing(math.nan, 100.0, math.inf, "above", ()))
    assert summarize_midpoints(cs)["status"] == "mixed"


def test_intervals_compare_only_when_they_separate():
    from crossbar.walk.midpoint import compare, interval, midpoint_interval

    assert compare(interval(0.9, 0.05), interval(0.7, 0.1)) == ">"
    assert compare(interval(0.9, 0.15), interval(0.7, 0.1)) == "~"
    assert compare(interval(0.5, None), interval(0.7, 0.1)) == "?"  # no uncertainty, no call
    one_repeat = {"status": "ok", "value": 2.0, "ci": [None, None]}
    assert midpoint_interval(one_repeat) is None
    above = {"status": "above", "bound": 100.0}
    assert compare(midpoint_interval(above), (3.0, 5.0)) == ">"
    assert compare(midpoint_interval(above), midpoint_interval(above)) == "~"


def test_binarisation_and_growth_measures():
    lin = nn.Linear(1000, 50)
    with torch.no_grad():
        lin.weight.copy_(0.3 * torch.sign(torch.randn(50, 1000, generator=torch.Generator().manual_seed(0))))
    assert weight_stats(lin)[""]["binarisation"] == pytest.approx(1.0)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(50, 1000, generator=torch.Generator().manual_seed(1)))
    b = weight_stats(lin)[""]["binarisation"]
    a2 = 2 / math.pi  # (E|w|)^2; delta method: n Var(B) = 4 a^2 - 6 a^4 for Gaussian weights
    assert abs(b - a2) < 5 * math.sqrt((4 * a2 - 6 * a2**2) / lin.weight.numel())
    net = mlp(seed=0)
    s0 = weight_stats(net)
    with torch.no_grad():
        net[1].weight.mul_(3.0)
    summary = network_summary([s0, weight_stats(net)])
    assert summary["growth"] == pytest.approx([1.0, 3.0])
    assert summary["binarisation"][0] == pytest.approx(max(v["binarisation"] for v in s0.values()
                                                           if "binarisation" in v))


def test_config_errors_name_file_key_value_and_allowed(tmp_path):
    bad = tmp_path / "bad.yaml"
    for text, key, allowed in (
        ("kinds: [add, loud]", "kinds", "add, mult, combined"),
        ("model: resnet", "model", "mlp, lenet5"),
        ("grid: {add: {min: 10, max: 1}}", "grid.add.max", "grid.add.min"),
        ("epoch: 3", "epoch", "did you mean 'epochs'"),
        ("bisect: -1", "bisect", "integer >= 0"),
    ):
        bad.write_text(text + "\n")
        with pytest.raises(ValueError) as err:
            load_walk_config(bad)
        msg = str(err.value)
        assert str(bad) in msg and f"'{key}'" in msg and allowed in msg, msg


TINY = """\
model: mlp
model_kwargs: {width: 8, depth: 1}
data: mnist5k
limit_train: 256
limit_test: 100
kinds: [combined]
positions: [3]
grid:
  combined: {min: 0.1, max: 100, per_decade: 1}
training_grid:
  combined: {min: 1, max: 10, per_decade: 1}
bisect: 1
repeats: 2
epochs: 2
batch_size: 64
lr: 0.01
"""


def test_cli_tiny_walk_resumes_after_an_interruption_to_the_same_result(tmp_path, monkeypatch, capsys):
    cfg = tmp_path / "walk.yaml"
    cfg.write_text(TINY)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert main(["walk", str(cfg), "--out", str(straight), "--no-progress"]) == 0
    assert "Midpoint noise level per position" in capsys.readouterr().out
    figs = sorted(p.name for p in (straight / "figures").iterdir())
    assert figs == ["curves_combined.png", "dynamics_combined_binarisation.png",
                    "dynamics_combined_growth.png", "midpoints.png"]
    md = (straight / "walk.md").read_text()
    assert "± " in md and "| 3 ReLU `3` |" in md and "noisy training raises the midpoint" in md

    import crossbar.walk.fit as fit_module

    real, calls = fit_module.train, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 6:  # inside the first noisy-training point, after its first epoch
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(fit_module, "train", interrupted)
    assert main(["walk", str(cfg), "--out", str(resumed), "--no-progress", "--no-plots"]) == 130
    assert "interrupted; finished work is saved" in capsys.readouterr().err
    monkeypatch.setattr(fit_module, "train", real)
    assert list((resumed / "models").glob("*.pt"))  # a half-trained point was left behind
    assert main(["walk", str(cfg), "--out", str(resumed), "--no-progress", "--no-plots"]) == 0
    a, b = (json.loads((d / "walk.json").read_text()) for d in (straight, resumed))
    assert a == b and a["complete"]
    assert any(m["status"] == "ok" for m in a["midpoints"])
    # a changed input is refused with the reason
    cfg.write_text(TINY.replace("epochs: 2", "epochs: 3"))
    assert main(["walk", str(cfg), "--out", str(straight), "--no-progress", "--no-plots"]) == 2
    err = capsys.readouterr().err
    assert "config.epochs" in err and "results have 2, this run has 3" in err
    lines = (straight / "results.jsonl").read_text().splitlines()
    assert len(lines) == len({json.loads(x)["key"] for x in lines})


def test_every_point_evaluated_once_and_grid_values_stable():
    g = log_grid(0.01, 1e4, 4)
    assert len(g) == 25 and g[0] == 0.01 and g[-1] == 1e4 and g[4] == 0.1
    assert np.allclose(np.diff(np.log10(g)), 0.25)


def test_positions_out_of_range_are_refused(tmp_path):
    cfg = tmp_path / "walk.yaml"
    cfg.write_text(TINY.replace("positions: [3]", "positions: [0, 9]"))
    with pytest.raises(ValueError, match=r"key 'positions'.*0\.\.4"):
        from crossbar.walk import run_walk
        run_walk(load_walk_config(cfg), out=tmp_path / "o", progress=False)
    assert not (tmp_path / "o").exists()


def test_store_refuses_foreign_records(tmp_path):
    from crossbar.walk.store import ConfigChangedError, RunStore

    s = RunStore(tmp_path, "walk", {"a": 1})
    s.put("k", {"x": 1})
    with open(tmp_path / "results.jsonl", "a") as fh:
        fh.write('{"key": "torn"')  # a crash mid-line
    assert RunStore(tmp_path, "walk", {"a": 1}).get("k")["x"] == 1
    with pytest.raises(ConfigChangedError, match="a: results have 1, this run has 2"):
        RunStore(tmp_path, "walk", {"a": 2})


def test_sites_are_identity_when_off():
    x = torch.randn(3, 1, 28, 28)
    net = place_noise(mlp(seed=2), x)
    ref = mlp(seed=2).eval()
    assert torch.equal(net.eval()(x), ref(x))
    assert isinstance(net.sites()[0], NoiseSite)


def test_a_recurrent_layer_is_a_position_its_output_sequence_perturbed():
    class Seq(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = nn.GRU(3, 5, batch_first=True)
            self.fc = nn.Linear(5, 2)

        def forward(self, x):
            out, _ = self.gru(x)
            return self.fc(out[:, -1])

    x = torch.rand(4, 6, 3, generator=torch.Generator().manual_seed(0))
    net = place_noise(Seq(), x[:2])
    assert [p.op for p in net.positions] == ["input", "GRU", "Linear"]
    seed_noise(net, 1)
    clean = net.eval()(x)
    clean_out, clean_state = net.net.gru(x)
    set_walk(net, 1, WalkNoise("add", 0.5))
    out, state = net.net.gru(x)
    assert not torch.equal(net(x), clean) and not torch.equal(out, clean_out)
    assert not torch.equal(state, clean_state)  # the final state is an output too


def test_walk_trains_against_a_device_when_configured(tmp_path, monkeypatch):
    """``hardware: pcm`` reaches train(), enters the run's identity with the profile's digest
    (so a plain run's results are never reused), and is refused with training-mode noise."""
    from crossbar.walk import fit as fit_module
    from crossbar.walk.config import walk_from_dict

    plain = walk_from_dict({"modes": ["inference"]})
    device = walk_from_dict({"modes": ["inference"], "hardware": "pcm"})
    assert device.identity()["hardware"]["profile"] == "pcm"
    assert device.identity()["hardware"]["profile_digest"] and device.hash() != plain.hash()
    assert walk_from_dict(device.identity()).modes == ("inference",)  # a stored identity reads back
    with pytest.raises(ValueError, match="key 'hardware'.*modes: \\[inference\\]"):
        walk_from_dict({"modes": ["inference", "training"], "hardware": "pcm"})
    seen = {}

    def fake_train(net, data, **kw):
        seen.update(kw)
        raise RuntimeError("stop")

    monkeypatch.setattr(fit_module, "train", fake_train)
    with pytest.raises(RuntimeError, match="stop"):
        fit_module.fit(nn.Linear(2, 2), device, None, None, seed=0, checkpoint=tmp_path / "c.pt",
                       dynamics=False)
    assert seen["hardware"] is device.hardware
