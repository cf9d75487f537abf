"""Network cost of converted models, noise-budget bisection, the (V, K) optimum, budget configs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from crossbar import devices
from crossbar.cost.mapping import measure_activity, network_cost_of
from crossbar.experiments import (
    AccuracyEvaluator,
    BudgetConfig,
    ConfigError,
    Threshold,
    TrainSpec,
    energy_optimum,
    load_budget_config,
    noise_budget,
    pareto_front,
    run_budget,
    scale_noise,
)
from crossbar.nn.convert import convert
from crossbar.report import write_budget_report

# ----------------------------------------------------------------------------- network cost by hand

NUMBERS = dict(
    tile_rows=4, tile_cols=2, cols_per_adc=1, v_read=0.5, t_read=10e-9, dac_time=1e-9, adc_time=2e-9,
    dac_energy=1e-12, adc_energy=2e-12, digital_add_time=0.5e-9, digital_add_energy=0.1e-12,
    cell_area=1e-14,
)


def _tiny_model() -> nn.Module:
    """conv 2x2 (1 -> 2 channels, no bias) on 3x3 images, then a linear 8 -> 3; every weight 0.5."""
    model = nn.Sequential(nn.Conv2d(1, 2, 2, bias=False), nn.Flatten(), nn.Linear(8, 3, bias=False))
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(0.5)
    return model.eval()


def test_network_cost_of_tiny_model_by_hand():
    profile = devices.load("ideal").with_overrides(**NUMBERS)
    analog = convert(_tiny_model(), profile, seed=0)
    net = network_cost_of(analog, torch.ones(2, 1, 3, 3))
    g = profile.g_max + profile.g_min  # every weight at +w_max: G+ = g_max, G- = g_min
    v2t = 0.5**2 * 10e-9

    # conv: W is 4 inputs x 2 outputs on one 4 x 2 tile; 4 output positions = 4 MVMs; inputs all 1 -> a = 1
    t_tile = 1e-9 + 10e-9 + 1 * 2e-9  # DAC + read + min(2 cols, 1 col per ADC) conversions
    e_tile = v2t * 8 * g + 4 * 1e-12 + 2 * 2e-12
    conv, fc = net.layers
    assert (conv.name, conv.tiles, conv.mvms, conv.passes) == ("0", 1, 4, 4)
    assert conv.activity == pytest.approx(1.0)
    assert conv.time == pytest.approx(4 * t_tile)
    assert conv.energy == pytest.approx(4 * e_tile)
    assert conv.energy_cell == pytest.approx(4 * v2t * 8 * g)
    assert conv.area == pytest.approx(1 * 2 * 4 * 2 * 1e-14)

    # linear: 8 x 3 on 4 x 2 tiles = 2 row tiles x (2 + 1 columns) = 4 tiles; conv outputs all equal -> a = 1
    assert (fc.name, fc.tiles, fc.mvms) == ("2", 4, 1)
    assert fc.activity == pytest.approx(1.0)
    assert fc.time == pytest.approx(t_tile + 0.5e-9)  # one adder level joins the 2 row tiles
    adds = (2 + 1 + 2 + 1) - 3
    assert fc.digital_adds == adds
    assert fc.energy == pytest.approx(v2t * 24 * g + 16 * 1e-12 + 6 * 2e-12 + adds * 0.1e-12)

    assert net.latency == pytest.approx(4 * t_tile + t_tile + 0.5e-9)
    assert net.tiles == 5
    assert net.stage_times == pytest.approx((4 * t_tile, t_tile + 0.5e-9))

    # replication halves the conv's sequential passes; a fixed activity scales the cell energy only
    rep = network_cost_of(analog, torch.ones(1, 1, 3, 3), activity=0.5, replication={"0": 2})
    assert rep.layers[0].passes == 2 and rep.layers[0].tiles == 2
    assert rep.layers[0].time == pytest.approx(2 * t_tile)
    assert rep.layers[0].energy_cell == pytest.approx(0.5 * conv.energy_cell)
    assert rep.layers[0].energy_dac == pytest.approx(conv.energy_dac)


def test_measure_activity_and_errors():
    profile = devices.load("ideal").with_overrides(**NUMBERS)
    analog = convert(nn.Sequential(nn.Linear(2, 1)), profile, seed=0)
    assert measure_activity(analog, torch.tensor([[1.0, 0.5]]))["0"] == pytest.approx((1 + 0.25) / 2)
    with pytest.raises(ValueError, match="convert it first"):
        network_cost_of(nn.Linear(2, 1), torch.ones(1, 2))
    with pytest.raises(ValueError, match="unknown layer"):
        network_cost_of(analog, torch.ones(1, 2), replication={"nope": 2})


# ----------------------------------------------------------------------------- noise scaling


def test_scale_noise_read_and_all():
    g = np.array([2e-6, 10e-6, 20e-6])
    for name in ("reram", "pcm", "nand"):
        p = devices.load(name)
        r = scale_noise(p, 3.0, "read")
        np.testing.assert_allclose(r.read_std(g), 3.0 * p.read_std(g), rtol=1e-12)
        np.testing.assert_allclose(r.programming_std(g), p.programming_std(g))
        a = scale_noise(p, 3.0, "all")
        np.testing.assert_allclose(a.programming_std(g), 3.0 * p.programming_std(g))
        assert scale_noise(p, 0.0, "read").read_noise.is_zero
    mult = devices.load("gaussian-mult")
    assert scale_noise(mult, 2.0, "read").noise_scale == pytest.approx(2.0)
    with pytest.raises(ValueError, match="read, all"):
        scale_noise(mult, 2.0, "both")


# ----------------------------------------------------------------------------- bisection, optimum


def test_noise_budget_finds_known_thresholds():
    crossing = {1: 2.0, 5: 6.0, 10: 1000.0, 20: 0.1}  # accuracy drops past these scales

    calls = []

    def accuracy(s: float, k: int) -> float:
        calls.append((s, k))
        return 0.98 if s <= crossing[k] else 0.40

    th = noise_budget(accuracy, [1, 5, 10, 20], target=0.97, lo=0.5, hi=128.0, rel_tol=0.02)
    for k in (1, 5):
        assert th[k].status == "bracketed"
        assert crossing[k] / 1.02 <= th[k].scale <= crossing[k]
        assert th[k].good <= crossing[k] < th[k].bad
        # exact accuracies: the interval of the tolerable noise is the bracket itself
        assert (th[k].confirmed, th[k].excluded) == (th[k].good, th[k].bad) and th[k].resolved
    assert th[10].status == "all" and 128.0 / 1.02 <= th[10].scale <= 128.0
    assert math.isnan(th[10].excluded) and th[10].confirmed == th[10].scale
    assert th[20].status == "none" and math.isnan(th[20].scale) and not th[20].feasible
    assert th[20].excluded == pytest.approx(1.02 ** math.ceil(math.log(0.5) / math.log(1.02)))
    assert all(s > 0 for s, _ in calls)
    grid = {round(math.log(s) / math.log(1.02), 6) for s, _ in calls}
    assert all(j == int(j) for j in grid)  # every K is evaluated on the one grid 1.02^j
    assert th[1].to_dict()["scale"] == th[1].scale and th[20].to_dict()["scale"] is None


def test_energy_optimum_and_pareto_by_hand():
    profile = devices.load("ideal").with_overrides(**NUMBERS)
    net = network_cost_of(convert(_tiny_model(), profile, seed=0), torch.ones(1, 1, 3, 3))
    th = {1: Threshold(1, 2.0, "bracketed", 2.0, 2.1, 0.9, ()),
          5: Threshold(5, 6.0, "all", 6.0, 6.0, 0.9, ()),
          10: Threshold(10, math.nan, "none", math.nan, math.nan, 0.9, ())}
    points, best = energy_optimum(net, th, v0=0.5, alpha=1.0)
    assert [p.k for p in points] == [1, 5]
    fixed = net.energy - net.energy_cell
    p1, p5 = points
    assert p1.voltage == pytest.approx(0.25) and p5.voltage == pytest.approx(0.5 / 6)
    assert p1.energy == pytest.approx(net.energy_cell / 4 + fixed)
    assert p5.energy == pytest.approx(5 * (net.energy_cell / 36 + fixed)) and p5.bound
    assert p1.energy_paper == pytest.approx(net.energy / 4)
    assert p5.energy_paper == pytest.approx(5 * net.energy / 36)
    assert best["fixed_periphery"].k == 1  # DAC/ADC energy dominates: votes cost more than V saves
    assert best["paper"].k == 5  # with P ~ V^2 for everything, 5 votes at V0/6 are cheaper
    assert p5.voting["parallel"]["tiles"] == 5 * net.tiles

    assert pareto_front([(3, 0.9), (1, 0.8), (2, 0.7), (4, 0.9), (5, 0.95)]) == [
        (1.0, 0.8), (3.0, 0.9), (5.0, 0.95)]


# ----------------------------------------------------------------------------- the evaluator


def _small_cnn() -> nn.Module:
    gen = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.empty_like(p).uniform_(-0.5, 0.5, generator=gen))
    return model.eval()


def test_evaluator_is_deterministic_and_order_free():
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(10, 1, 6, 6, generator=gen)
    y = torch.randint(0, 3, (10,), generator=gen)
    kw = dict(votes=(1, 3, 5), repeats=2, seed=3, batch_rows=8)
    p = devices.load("reram")
    a = AccuracyEvaluator(_small_cnn(), x, y, p, **kw)
    b = AccuracyEvaluator(_small_cnn(), x, y, p, **kw)
    order_a = [(4.0, 5), (4.0, 1), (1.0, 3)]
    got_a = {key: a.accuracy(*key) for key in order_a}
    got_b = {key: b.accuracy(*key) for key in reversed(order_a)}
    assert got_a == got_b
    # chip r's count does not depend on how many chips are averaged: more chips extend the list
    more = AccuracyEvaluator(_small_cnn(), x, y, p, **{**kw, "repeats": 3})
    assert more.counts(4.0, 5)[:2] == a.counts(4.0, 5)
    assert a.estimate(4.0, 5).mean == pytest.approx(sum(a.counts(4.0, 5)) / 20)
    np.testing.assert_array_equal(a.draws(4.0, 1, 5), b.draws(4.0, 1, 5))
    d = a.draws(4.0, 0, 5)
    assert d.shape == (5, 10, 3) and not np.allclose(d[0], d[1])  # each vote reads fresh noise
    assert not np.allclose(a.draws(4.0, 0, 1), a.draws(4.0, 1, 1))  # repeats are other chips
    with pytest.raises(ValueError, match="1..5"):
        a.draws(1.0, 0, 6)
    seen = []
    c = AccuracyEvaluator(_small_cnn(), x, y, p, cache=a.cache, on_result=lambda *r: seen.append(r), **kw)
    assert c.accuracy(4.0, 5) == got_a[(4.0, 5)] and c.forward_rows == 0 and not seen
    # a cache with fewer chips is extended, not recomputed: only chip 2 is read
    d = AccuracyEvaluator(_small_cnn(), x, y, p, cache=a.cache, on_result=lambda *r: seen.append(r),
                          **{**kw, "repeats": 3})
    assert d.counts(4.0, 5) == more.counts(4.0, 5) and d.forward_rows == 5 * 10 and len(seen) == 1


# ----------------------------------------------------------------------------- configs


def _yaml(tmp_path, text: str):
    path = tmp_path / "budget.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, match", [
    ("checkpoint: m.pt\nvotess: [1, 3]\n", r"'votess'.*allowed: checkpoint, train"),
    ("checkpoint: m.pt\nscale: both\n", r"'scale'.*'both'.*one of read, all"),
    ("checkpoint: m.pt\nvotes: [0, 3]\n", r"'votes'.*integers in 1..1000"),
    ("checkpoint: m.pt\nnoise_range: [10, 1]\n", r"'noise_range'.*0 < lo < hi"),
    ("checkpoint: m.pt\nprofile: nosuchdevice\n", r"'profile'.*reram"),
    ("checkpoint: m.pt\nmax_drop: 2\n", r"'max_drop'.*<= 1"),
    ("checkpoint: m.pt\nactivity: lots\n", r"'activity'.*number >= 0 and <= 1"),
    ("data: mnist5k\n", r"'checkpoint'.*'train' block"),
    ("train: {model: cnn6, epochs: 0}\n", r"'train.epochs'.*1..100000"),
    ("train: {model: cnn6, epochs: 100000000000000000000000}\n", r"'train.epochs'.*out of range"),
    ("checkpoint: m.pt\nseed: -1\n", r"'seed'.*out of range"),
    ("checkpoint: m.pt\nprofile: 7\n", r"'profile'.*non-empty string"),
    ("train: {model: resnet}\n", r"'train.model'.*cnn6"),
    ("train: {model: cnn6, lrr: 1}\n", r"'train.lrr'.*allowed"),
    ("checkpoint: m.pt\nlayer_overrides: {features.0: {adc_rang: 1}}\n", r"layer_overrides.*adc_rang"),
    ("checkpoint: m.pt\nrepeats: 1.5\n", r"'repeats'.*must be an integer.*1..10000"),
    ("checkpoint: m.pt\nreference: float\n", r"'reference'.*one of mapped, digital"),
    ("checkpoint: m.pt\ntest_limit: some\n", r"'test_limit'.*'auto' or an integer"),
    ("checkpoint: m.pt\nrepeats: 4\nmax_repeats: 3\n", r"'max_repeats'.*>= repeats \(4\)"),
    ("checkpoint: m.pt\nconfidence: 1.5\n", r"'confidence'.*<= 0.999"),
    ("checkpoint: m.pt\ntime_since_programming: -1\n", r"'time_since_programming'"),
    ("checkpoint: m.pt\ndrift_compensation: maybe\n", r"'drift_compensation'.*true or false"),
])
def test_bad_configs_name_the_key(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match) as info:
        load_budget_config(_yaml(tmp_path, text))
    assert str(tmp_path) in str(info.value)


def test_config_defaults_and_cli_error(tmp_path, capsys):
    from crossbar.cli import main

    c = load_budget_config(_yaml(tmp_path, "checkpoint: m.pt\nvotes: [5, 3]\n"))
    assert c.votes == (1, 3, 5) and c.scale == "read" and c.noise_range == (0.125, 128.0)
    assert c.test_limit == "auto" and (c.repeats, c.max_repeats) == (3, 8)
    assert c.age.t == c.base_profile().time_since_programming and c.age.compensate
    assert c.vote_schedule == "pipelined"
    assert main(["budget", str(_yaml(tmp_path, "checkpoint: m.pt\nscale: x\n"))]) == 2
    assert "key 'scale'" in capsys.readouterr().err


# ----------------------------------------------------------------------------- end to end


def test_tiny_budget_end_to_end(tmp_path):
    cfg = BudgetConfig(
        train=TrainSpec(model="cnn6", epochs=1, limit=64), data="mnist5k", test_limit=12, profile="reram",
        layer_overrides={"features.0": {"adc_range": 1.0}}, votes=(1, 3), repeats=1,
        noise_range=(0.5, 64.0), rel_tol=1.0, max_drop=0.05, out=str(tmp_path / "run"),
    )
    r = run_budget(cfg, progress=False)
    out = tmp_path / "run"
    assert not (out / "report.md").exists()  # the search writes its cache only; the report is separate
    write_budget_report(r)
    for name in ("report.md", "report.json", "pareto.png", "latency.png", "accuracy_vs_noise.png"):
        assert (out / name).stat().st_size > 0
    data = json.loads((out / "report.json").read_text())
    assert set(data["thresholds"]) == {"1", "3"}
    assert data["target"] == pytest.approx(data["reference_accuracy"] - 0.05)
    assert data["reference"] == "mapped" and data["reference_accuracy"] == data["noiseless_accuracy"]
    assert data["network"]["tiles"] == r.network.tiles and len(r.network.layers) == 6
    assert r.thresholds[1].status in ("bracketed", "all", "none")
    assert "Tolerable noise and cost per K" in (out / "report.md").read_text()
    assert any(f.name.startswith("evaluations-reram-") for f in (out / "cache").iterdir())
    # a rerun reads every accuracy from the cache: no analog forward pass at all
    again = run_budget(cfg.replace(plots=False), progress=False)
    assert again.forward_rows == 0 and repr(again.thresholds) == repr(r.thresholds)  # NaN-safe
    # the digital reference changes the target only
    digital = run_budget(cfg.replace(reference="digital"), progress=False)
    assert digital.noiseless_accuracy == r.noiseless_accuracy
    assert digital.digital_accuracy == r.digital_accuracy
    assert digital.target == pytest.approx(digital.digital_accuracy - 0.05)
