"""The read-voltage law (issue 15): conductance noise relative and independent of V, an absolute
circuit floor that grows as 1/V against the signal, a minimum read voltage, the (V, K) optimum,
and the read spacing of the voting schedules."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from crossbar import CrossbarArray, devices
from crossbar.cost import (
    TileUsage,
    at_voltage,
    layer_cost,
    network_cost,
    noise_floor,
    read_spacing,
    relative_read_noise,
    voltage_optimum,
    voltage_range,
)
from crossbar.seeds import Stream, derive

ALPHA = 1e-3
K_B, T = 1.380649e-23, 300.0


def test_the_floor_is_sense_noise_plus_thermal_noise_over_the_signal_current():
    p = devices.load("pcm")
    g_col = 1e-3
    for v in (0.05, 0.1, 0.2):
        by_hand = math.sqrt(p.sense_noise**2 + 4 * K_B * T * g_col / (2 * p.t_read)) / (v * p.g_range)
        assert float(noise_floor(p, v, g_col)) == pytest.approx(by_hand, rel=1e-12)
    np.testing.assert_allclose(noise_floor(p, np.array([0.1, 0.2]), g_col) * [0.1, 0.2],
                               float(noise_floor(p, 0.2, g_col)) * 0.2)  # floor x V constant
    # the read path carries the same floor: per column, from the programmed conductances
    arr = CrossbarArray.program(np.random.default_rng(0).uniform(-1, 1, (64, 8)), p, seed=0)
    tile = arr.tiles[0]
    g_cols = (tile.g_plus + tile.g_minus).sum(axis=0)
    expected = [float(noise_floor(p, p.v_read, g)) ** 2 for g in g_cols]
    np.testing.assert_allclose(arr.floor[0].numpy(), expected, rtol=1e-6)
    assert float(relative_read_noise(p, 0.2, signal=2.0, cell_sigma=0.0, g_column=g_col)) == pytest.approx(
        float(noise_floor(p, 0.2, g_col)) / 2)


def test_lower_voltage_raises_only_the_floor():
    """Reading at V/4: the conductance noise relative to the signal is unchanged (dI = V dG), the
    circuit floor is four times larger. Measured on read outputs with chi-square bounds."""
    W = np.random.default_rng(1).uniform(-1, 1, (8, 4))
    x = np.repeat(np.array([[1.0, 0, 0, 0, 0, 0, 0, 0]], np.float32), 4000, axis=0)
    lo, hi = stats.chi2.ppf(ALPHA / 2, 3999) / 3999, stats.chi2.ppf(1 - ALPHA / 2, 3999) / 3999
    quiet = dict(dac_bits=None, adc_bits=None, range_management={"mode": "fixed"})
    floor_only = devices.load("pcm", read_noise=None, **quiet)  # sense + thermal noise only
    cell_only = devices.load("ideal", g_min=0.25e-6, g_max=25e-6,  # abstract kind: no circuit floor
                             read_noise={"form": "relative", "fraction": 0.05})
    for profile, factor in ((floor_only, 4.0), (cell_only, 1.0)):
        stds = []
        widened = profile.with_overrides(v_read_min=profile.v_read / 4)
        for v in (profile.v_read, profile.v_read / 4):
            arr = CrossbarArray.program(W, at_voltage(widened, v), seed=2)
            stds.append(arr.mvm(x, key=derive(0, Stream.READ, 0)).astype(np.float64).std(axis=0, ddof=1))
        ratio = (stds[1] / stds[0]) ** 2 / factor**2
        assert np.all(ratio > lo / hi) and np.all(ratio < hi / lo), (profile.name, ratio)


def test_the_voltage_range_is_bounded_below_by_the_device():
    for name in ("pcm", "reram", "nand", "neurram", "hermes"):
        p = devices.load(name)
        lo, hi = voltage_range(p)
        assert 0 < lo <= hi == p.v_read and p.sources["v_read_min"].startswith("ASSUMPTION")
        assert at_voltage(p, lo).v_read == lo
        with pytest.raises(devices.ProfileError, match="v_read_min_V"):
            at_voltage(p, lo * 0.99)
    assert voltage_range(devices.load("nand")) == (0.1, 0.1)  # SONOS fits hold at their bias only


def _net(p):
    """A one-layer network cost on ``p`` (one half-full 64 x 32 tile, 10 MVMs)."""
    usage = TileUsage(rows=64, cols=32, g_sum=64 * 32 * p.g_max)
    return network_cost([layer_cost(p, [usage], passes=10, name="l")])


def test_voltage_optimum_picks_the_cheapest_feasible_votes_and_voltage():
    p = devices.load("pcm")
    net = _net(p)

    def accuracy(v, k):  # a synthetic network: the floor's effect falls as V grows and with votes
        return 1.0 - 0.05 / (v * math.sqrt(k))

    # each K searched on its own (beside K = 1, which misses everywhere)
    by_k = {}
    for k in (1, 16, 64, 256):
        points, _ = voltage_optimum(net, p, accuracy, ks=(1, k), target=0.9, tol=1e-4)
        by_k[k] = points[-1]
    need = {k: 0.5 / math.sqrt(k) for k in (1, 16, 64, 256)}  # the lowest V meeting 0.9
    assert by_k[1].status == "none" and math.isnan(by_k[1].voltage)  # needs 0.5 V > v_read = 0.2 V
    for k in (16, 64):
        assert by_k[k].status == "bracketed" and by_k[k].voltage == pytest.approx(need[k], abs=1e-4)
        assert by_k[k].voltage >= need[k]  # the point returned meets the target
    assert by_k[256].status == "all" and by_k[256].voltage == 0.05  # 0.03 V would do: v_read_min binds

    def energy(k, v):
        return k * (net.energy_cell * (v / 0.2) ** 2 + net.energy - net.energy_cell)

    for k in (16, 64, 256):
        assert by_k[k].energy == pytest.approx(energy(k, by_k[k].voltage))
    cheapest = min((16, 64, 256), key=lambda k: by_k[k].energy)
    # all K together: a K that costs more at v_read_min than a smaller feasible K is not searched
    points, best = voltage_optimum(net, p, accuracy, ks=(1, 16, 64, 256), target=0.9, tol=1e-4)
    assert best.k == cheapest and best.energy == pytest.approx(by_k[cheapest].energy)
    together = {pt.k: pt for pt in points}
    skipped = [k for k in (64, 256) if together[k].status == "dominated"]
    assert skipped  # the fixed periphery energy makes 64 and 256 reads dearer than 16 at any V
    for k in skipped:
        assert together[k].energy_low == pytest.approx(energy(k, 0.05))
        assert together[k].energy_low > best.energy
        assert together[k].evaluations == () and math.isnan(together[k].voltage)
    # a single allowed voltage is evaluated once
    nand = devices.load("nand")
    pts, best_nand = voltage_optimum(_net(nand), nand, lambda v, k: 0.95, ks=(1, 3), target=0.9)
    assert [pt.status for pt in pts] == ["all", "dominated"] and best_nand.k == 1  # 3 reads cost 3x


def test_read_spacing_of_the_voting_schedules():
    p = devices.load("reram")
    usage = [TileUsage(rows=64, cols=16, g_sum=1e-3)]
    layers = [layer_cost(p, usage, passes=n, name=str(n)) for n in (3, 1, 7)]
    net = network_cost(layers)
    assert read_spacing(net, "pipelined") == pytest.approx(max(net.stage_times))
    assert read_spacing(net, "sequential") == pytest.approx(net.latency)
    assert read_spacing(net, "parallel") == math.inf
    with pytest.raises(ValueError, match="schedule"):
        read_spacing(net, "batched")


def test_the_voltage_law_tables_in_physics_and_budget_md_are_regenerated_by_their_script():
    import importlib.util

    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("voltage_law", root / "examples" / "voltage_law.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    for page in ("physics.md", "budget.md"):
        doc = (root / "docs" / page).read_text(encoding="utf-8")
        assert script.profile_table() in doc and script.close_comparison() in doc, page


def test_a_converted_model_reads_at_another_voltage_through_its_profile():
    from torch import nn

    from crossbar.nn import convert

    model = nn.Sequential(nn.Linear(16, 4))
    x = torch.ones(2, 16)
    low = convert(model, at_voltage(devices.load("pcm"), 0.05), seed=0, calibration=x)
    assert low[0].array.profile.v_read == 0.05
    high = convert(model, "pcm", seed=0, calibration=x)
    assert torch.allclose(low[0].array.floor, high[0].array.floor * 16, rtol=1e-5)  # (0.2 / 0.05)^2
