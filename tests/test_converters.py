"""Converter settings of device profiles: what the validator rejects, how inputs are sliced
and read, how ADC cost scales with resolution, and finite, bounded outputs for every allowed
bit width (docs/physics.md, "Converters")."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from crossbar.devices import converters

from crossbar import devices
from crossbar.cost import input_activity
from crossbar.read.array import CrossbarArray

ProfileError = devices.ProfileError


# ----------------------------------------------------------------------- rejected settings

REJECTED = [
    # (profile, overrides, key, words in the message)
    ("pcm", {"dac_bits": 1}, "dac_bits", "2..16"),  # the issue: silently an ideal DAC before
    ("pcm", {"adc_bits": 1}, "adc_bits", "comparator"),  # the issue: every output NaN before
    ("ideal", {"input_encoding": "bit_serial", "slice_bits": 1}, "dac_bits", "finite"),
    ("reram", {"slice_bits": None}, "slice_bits", "1..8"),
    ("reram", {"slice_bits": 9}, "slice_bits", "1..8"),
    ("pcm", {"slice_bits": 2}, "slice_bits", "one_shot"),
    ("pcm", {"input_encoding": "serial"}, "input_encoding", "bit_serial"),
    ("pcm", {"dac_kind": "pwm", "dac_bits": 10}, "dac_kind", "1..8"),
    ("ideal", {"dac_kind": "pulse_count"}, "dac_kind", "slices"),
    ("neurram", {"t_read": 200e-9}, "t_read_s", "dac_time_s"),
    ("pcm", {"adc_during_read": True}, "adc_during_read", "ramp"),
    ("pcm", {"signed_inputs": "four_phase"}, "signed_inputs", "adc_during_read"),
    ("pcm", {"adc_fixed_energy": 3e-12}, "adc_fixed_energy_J", "adc_energy_J"),
    ("ideal", {"range_management": {"mode": "calibrated", "percentile": 99.0}},
     "range_management.mode", "fixed"),
    ("pcm", {"range_management": {"mode": "calibrated", "percentile": 40.0}},
     "range_management.percentile", "> 50 and <= 100"),
    ("ideal", {"range_management": {"mode": "calibrated"}}, "range_management.percentile",
     "missing"),
    ("pcm", {"range_management": {"mode": "bound_management", "max_rereads": 6}},
     "range_management.max_rereads", "1..5"),
    ("pcm", {"range_management": {"mode": "bound_mgmt"}}, "range_management.mode",
     "bound_management"),
    ("pcm", {"range_management": {"mode": "fixed", "percentile": 99.0}},
     "range_management.percentile", "unknown key"),
    ("pcm", {"adc_ref_bits": 1}, "adc_ref_bits", "2..16"),
    ("pcm", {"adc_during_read": 1}, "adc_during_read", "true or false"),
    ("pcm", {"periphery": {"sense_energy_J": -1e-15}}, "periphery.sense_energy_J", ">= 0 and"),
    ("pcm", {"periphery": {"adc_area": 1e-9}}, "periphery.adc_area", "adc_area_m2"),
]


@pytest.mark.parametrize("name, overrides, key, words", REJECTED,
                         ids=[f"{r[0]}-{'-'.join(r[1])}-{r[2]}" for r in REJECTED])
def test_meaningless_or_unsupported_settings_are_rejected(name, overrides, key, words):
    with pytest.raises(ProfileError) as info:
        devices.load(name, **overrides)
    err = info.value
    assert err.key == key, str(err)
    assert f"{name}.yaml (with_overrides): key {key!r}:" in str(err)  # file and key named
    assert words in str(err)


def test_range_management_overrides_merge_or_replace():
    pcm = devices.load("pcm")
    assert pcm.range_management == devices.RangeManagement("calibrated", 99.9)
    merged = pcm.with_overrides(range_management={"percentile": 99.0})
    assert merged.range_management == devices.RangeManagement("calibrated", 99.0)
    bm = pcm.with_overrides(range_management={"mode": "bound_management", "max_rereads": 3})
    assert bm.range_management == devices.RangeManagement("bound_management", None, 3)
    assert pcm.with_overrides(range_management={"mode": "fixed"}).range_management.mode == "fixed"
    assert "override range_management" in bm.sources["range_management"]


# ----------------------------------------------------------------------- slices and phases


@pytest.mark.parametrize("dac_bits, slice_bits, widths", [
    (8, 1, (1,) * 7),
    (8, 4, (4, 3)),  # NeuRRAM's two 4-bit phases: 7 magnitude bits = 4 LSBs + 3 MSBs
    (4, 4, (3,)),  # a 4-bit input (3 magnitude bits) fits one slice
    (2, 1, (1,)),
    (9, 3, (3, 3, 2)),
    (16, 8, (8, 7)),
])
def test_bit_serial_slices_from_the_lsb(dac_bits, slice_bits, widths):
    p = devices.load("reram", dac_bits=dac_bits, slice_bits=slice_bits)
    assert p.slice_widths == widths
    assert sum(widths) == dac_bits - 1
    # the slices rebuild every magnitude code exactly: |k| = sum_s d_s 2^(o_s)
    codes = np.arange(2 ** (dac_bits - 1))
    rebuilt, offset = np.zeros_like(codes), 0
    for w in widths:
        rebuilt += ((codes >> offset) & (2**w - 1)) << offset
        offset += w
    assert np.array_equal(rebuilt, codes)


def test_phases_and_conversions_per_column():
    reram, nand, pcm = devices.load("reram"), devices.load("nand"), devices.load("pcm")
    assert (reram.phases, reram.conversions_per_column) == (1, 7)
    assert (nand.phases, nand.conversions_per_column) == (2, 14)  # each phase converted
    assert (pcm.phases, pcm.conversions_per_column) == (1, 1)
    hermes4 = devices.load("hermes", signed_inputs="four_phase")
    assert (hermes4.phases, hermes4.conversions_per_column) == (4, 1)  # CCO accumulates
    assert devices.load("ideal").slice_widths == (None,)


def test_drive_units_of_time_coded_dacs():
    neurram = devices.load("neurram", dac_bits=8)
    assert [converters.drive_units(neurram, w) for w in neurram.slice_widths] == [15, 7]
    hermes = devices.load("hermes")
    assert converters.drive_units(hermes, hermes.slice_widths[0]) == 127  # 7 bits of PWM
    assert converters.drive_units(devices.load("reram"), 1) == 1  # a level DAC


# ----------------------------------------------------------------------- ADC resolution laws

# ISAAC's energy (pJ) and area (um^2) per conversion by resolution (Shafiee et al., ISCA
# 2016, scaled after Saberi et al.; Accelergy hwcomponents-library isaac.py).
ISAAC_TABLE = {4: (0.79, 361.04), 5: (0.99, 476.91), 6: (1.20, 626.91), 7: (1.42, 845.18),
               8: (1.67, 1200.0), 9: (1.969, 1827.9), 10: (2.379, 3002.0)}


def test_sar_law_follows_isaacs_table():
    nand = devices.load("nand")  # ISAAC's 8-bit SAR at 1.67 pJ, 1200 um^2, 1.2 GS/s
    for bits, (energy_pj, area_um2) in ISAAC_TABLE.items():
        p = nand.with_overrides(adc_bits=bits)
        assert converters.adc_energy_at(p) == pytest.approx(energy_pj * 1e-12, rel=0.15)
        assert converters.adc_area_at(p, 1200e-12) == pytest.approx(area_um2 * 1e-12, rel=0.21)
        assert converters.adc_time_at(p) == pytest.approx(bits / 8 / 1.2e9)  # a bit per step


def test_flash_and_ramp_laws():
    # flash: one comparator per threshold (2^b - 1), one comparison time
    assert converters.adc_scale("flash", 6, 4, "energy") == pytest.approx(63 / 15)
    assert converters.adc_scale("flash", 6, 4, "time") == 1.0
    # ramp/counting: one step per magnitude level, 2^(b-1)
    assert converters.adc_scale("ramp", 3, 6, "energy") == pytest.approx(4 / 32)
    assert converters.adc_scale("ramp", 10, 6, "time") == pytest.approx(512 / 32)
    # a resolution-independent part stays: E(b) = E0 + (E_ref - E0) g(b) / g(ref)
    neurram = devices.load("neurram")
    low = neurram.with_overrides(adc_bits=3)
    expected = neurram.adc_fixed_energy + (neurram.adc_energy - neurram.adc_fixed_energy) / 8
    assert converters.adc_energy_at(low) == pytest.approx(expected)
    assert converters.adc_energy_at(neurram) == pytest.approx(neurram.adc_energy)


def test_walden_figure_of_merit_of_the_bundled_adcs():
    """Energy per conversion step E / 2^b (Walden), against Murmann's survey range of
    5.4-34 fJ per step for the state of the art (device_parameters.md)."""
    fom = {n: converters.adc_energy_at(devices.load(n)) / 2 ** devices.load(n).adc_bits
           for n in ("reram", "pcm", "nand")}
    assert fom["nand"] == pytest.approx(1.67e-12 / 256)  # 6.5 fJ/step: inside the range
    assert all(1e-15 < f < 34e-15 for f in fom.values())


# ----------------------------------------------------------------------- input activity


def test_input_activity_follows_the_encoding():
    x = np.array([[1.0, 0.5, -0.25, 0.0]])
    # level one-shot without quantisation: mean u^2
    assert input_activity(x) == pytest.approx((1 + 0.25 + 0.0625) / 4)
    # one-shot 3-bit DAC (2 magnitude bits, K = 3): codes 3, rint(1.5) = 2, rint(0.75) = 1, 0
    pcm3 = devices.load("pcm", dac_bits=3)
    assert input_activity(x, profile=pcm3) == pytest.approx((1 + 4 / 9 + 1 / 9) / 4)
    # bit-serial 1-bit slices of 3 magnitude bits: codes 7, 4 (rint 3.5), 2 (rint 1.75), 0;
    # the fraction of rows on per read, averaged over the 3 reads (bits 111, 100, 010, 000)
    reram4 = devices.load("reram", dac_bits=4)
    assert input_activity(x, profile=reram4) == pytest.approx((3 + 1 + 1 + 0) / 12)
    # pulse count: charge grows with the pulses, d / D weighted by the slice's pulses
    neurram = devices.load("neurram")  # 4-bit input: one slice, D = 7
    assert input_activity(x, profile=neurram) == pytest.approx((7 + 4 + 2 + 0) / 28)


# ----------------------------------------------------------------------- allowed bit widths


def _mvm_error_bound(x, W, profile):
    """Bound on |mvm - x W| per output for a noise-free single tile without clipping:
    s w_max_j (sum_i |g_ij| / (2K) + P_c F / (2 K_a)), docs/physics.md "Converters": the
    slices' shift-and-add weights D_s 2^(o_s) / K sum to 1, and P_c phases are converted apart."""
    s = np.abs(x).max(axis=1, keepdims=True)
    w_max = np.abs(W).max(axis=0, keepdims=True)
    g = np.abs(W) / w_max
    dac = 0.0 if profile.dac_bits is None else 1.0 / (2 * (2 ** (profile.dac_bits - 1) - 1))
    full_scale = profile.adc_range * profile.tile_rows
    phases = 1 if profile.adc_during_read else profile.phases
    adc = 0.0 if profile.adc_bits is None else phases * full_scale / (2 * (2 ** (profile.adc_bits - 1) - 1))
    return s * w_max * (g.sum(axis=0, keepdims=True) * dac + adc)


ENCODINGS = [  # (name, overrides): every input encoding and signed-input mode the read path models
    ("one_shot", {}),
    ("bit_serial-1", {"input_encoding": "bit_serial", "slice_bits": 1}),
    ("bit_serial-3", {"input_encoding": "bit_serial", "slice_bits": 3}),
    ("two_phase", {"signed_inputs": "two_phase"}),
    ("bit_serial-2-two_phase", {"input_encoding": "bit_serial", "slice_bits": 2,
                                "signed_inputs": "two_phase"}),
    ("four_phase-ramp", {"signed_inputs": "four_phase", "adc_kind": "ramp", "adc_during_read": True}),
]


@pytest.mark.parametrize("bits", range(2, 17))
def test_every_allowed_bit_width_gives_finite_outputs_within_the_bound(bits):
    """The read path honours every resolution and encoding the validator allows."""
    rng = np.random.default_rng(bits)
    W = rng.uniform(-1.0, 1.0, (48, 5))
    x = rng.uniform(-1.0, 1.0, (16, 48))
    exact = x @ W
    slack = 1e-5 * (np.abs(x) @ np.abs(W))  # float32 arithmetic
    cases = [(bits, None, {}), (None, bits, {}), (bits, bits, {})]
    cases += [(bits, bits, overrides) for _, overrides in ENCODINGS[1:]]
    for dac_bits, adc_bits, overrides in cases:
        profile = devices.load("ideal", dac_bits=dac_bits, adc_bits=adc_bits, **overrides)
        y = CrossbarArray.program(W, profile, seed=0).mvm(x)
        assert np.all(np.isfinite(y))
        bound = _mvm_error_bound(x, W, profile)
        assert np.all(np.abs(y - exact) <= bound + slack), (dac_bits, adc_bits, overrides)
    # the bound is tight enough to fail: a 2-bit ADC on this tile errs by a visible amount
    if bits == 2:
        coarse = CrossbarArray.program(W, devices.load("ideal", adc_bits=2), seed=0).mvm(x)
        assert np.abs(coarse - exact).max() > 0.1 * math.fsum(np.abs(exact).ravel()) / exact.size


@pytest.mark.parametrize("dac_bits", [2, 5, 8])
def test_sliced_and_phased_reads_equal_one_shot_with_an_ideal_adc(dac_bits):
    """With an ideal ADC, shift-and-add of the slices and the phases' difference rebuild the
    one-shot value sum_i (k_i / K) g_ij exactly (to float32 rounding)."""
    rng = np.random.default_rng(dac_bits)
    W = rng.uniform(-1.0, 1.0, (70, 9))
    x = rng.normal(size=(32, 70))
    base = devices.load("ideal", dac_bits=dac_bits, tile_rows=32, tile_cols=4)
    one_shot = CrossbarArray.program(W, base, seed=0).mvm(x)
    codes = np.rint(x / np.abs(x).max(axis=1, keepdims=True) * (2 ** (dac_bits - 1) - 1))
    reference = codes / (2 ** (dac_bits - 1) - 1) * np.abs(x).max(axis=1, keepdims=True) @ W
    np.testing.assert_allclose(one_shot, reference, rtol=1e-5, atol=1e-5)
    for name, overrides in ENCODINGS[1:]:
        other = CrossbarArray.program(W, base.with_overrides(**overrides), seed=0)
        if dac_bits == 8:  # 7 magnitude bits: the reads each encoding makes
            expected = {"bit_serial-1": 7, "bit_serial-3": 3, "two_phase": 2, "bit_serial-2-two_phase": 8,
                        "four_phase-ramp": 1}
            assert other.plan.reads == expected[name]
        np.testing.assert_allclose(other.mvm(x), one_shot, rtol=1e-5, atol=1e-5, err_msg=name)


def test_bound_management_rereads_with_halved_inputs_and_counts_them():
    """A tile whose output clips is read again with the inputs halved (AIHWKit's iterative
    bound management); every re-read is counted, the last read is kept and rescaled."""
    W = np.ones((4, 2))
    fixed = devices.load("ideal", dac_bits=8, adc_bits=8, tile_rows=4, tile_cols=1, adc_range=0.6)
    bm = fixed.with_overrides(range_management={"mode": "bound_management", "max_rereads": 3})
    x = np.array([[1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.5]])
    # column current 4 (row 0) and 3.5 (row 2) clip at F = 0.6 x 4 = 2.4; row 1 carries 1
    clipped = CrossbarArray.program(W, fixed, seed=0)
    y_fixed = clipped.mvm(x)
    assert y_fixed[0, 0] == pytest.approx(2.4, rel=1e-3) and clipped.stats.clipped == 4
    arr = CrossbarArray.program(W, bm, seed=0)
    y = arr.mvm(x)
    # halved once: 2 and 1.75 fit under 2.4; error: re-quantised inputs (rint(0.5 u K) / K, at most
    # 1 / (2 K alpha) each) and the ADC step F / K_a / 2, both divided by alpha = 1/2
    bound = 4 / (2 * 127 * 0.5) + 2.4 / 127 / 2 / 0.5
    np.testing.assert_allclose(y, x @ W, atol=bound)
    # rows 0 and 2 were re-read on both tiles (one column each): 4 tile re-reads, no clip left
    assert arr.stats.rereads == 4 and arr.stats.clipped == 0
    assert arr.stats.conversions == 3 * 2  # one kept conversion per vector and column
    # a re-read limit too low leaves the clip and counts it
    once = CrossbarArray.program(W, bm.with_overrides(range_management={"max_rereads": 1}), seed=0)
    once.mvm(np.full((1, 4), 1.0) * [[1, 1, 1, 1]] + 0 * x[:1])
    assert once.stats.rereads == 2 and once.stats.clipped == 0
    far = CrossbarArray.program(np.full((4, 1), 1.0), devices.load(
        "ideal", dac_bits=8, adc_bits=8, tile_rows=4, adc_range=0.2,
        range_management={"mode": "bound_management", "max_rereads": 1}), seed=0)
    y_far = far.mvm(np.ones((1, 4)))  # current 4, F = 0.8: halved once to 2 still clips
    assert far.stats.rereads == 1 and far.stats.clipped == 1
    assert y_far[0, 0] == pytest.approx(0.8 / 0.5, rel=1e-3)


def test_the_issues_clipping_case_is_resolved_by_range_management():
    """Issue 10: W = |U(-0.06, 0.06)| (256 x 4) on noise-free PCM read with ones gave 0.097 of the
    product with the fixed range. A calibrated range or bound management recovers it."""
    W = np.abs(np.random.default_rng(0).uniform(-0.06, 0.06, (256, 4)))
    x = np.ones((1, 256))
    quiet = devices.load("pcm", noise_scale=0.0)
    fixed = CrossbarArray.program(W, quiet.with_overrides(range_management={"mode": "fixed"}), seed=0)
    ratio_fixed = fixed.mvm(x) / (x @ W)
    assert np.all(ratio_fixed < 0.15) and fixed.stats.clipping_rate == 1.0
    calibrated = CrossbarArray.program(W, quiet, seed=0)
    assert calibrated.range_state == "uncalibrated"
    calibrated.calibrate(x, key=1)
    assert calibrated.range_state == "calibrated"
    np.testing.assert_allclose(calibrated.mvm(x) / (x @ W), 1.0, atol=0.01)
    bm = CrossbarArray.program(W, quiet.with_overrides(
        range_management={"mode": "bound_management", "max_rereads": 5}), seed=0)
    # halving re-quantises u = 1 to rint(63 / 2^n) / 63 = 2^(6-n) / 63 (63 / 2^n ends in .5, rounds
    # up), i.e. the product times 64 / 63 after the rescale, plus the 9-bit ADC's half step, F / 255 / 2
    # on currents of about 8 (0.3 %)
    np.testing.assert_allclose(bm.mvm(x) / (x @ W), 64 / 63, atol=0.006)
    assert bm.stats.clipped == 0 and bm.stats.rereads > 0


def test_calibrated_full_scale_is_the_percentile_of_the_converted_values():
    """Noise-free, so the converted values are known: per tile, the p-th percentile of
    |sum_i v_ri g_ij| over the batch, reads (slices) and the tile's columns."""
    rng = np.random.default_rng(3)
    W = rng.uniform(-1, 1, (40, 6))
    x = rng.normal(size=(50, 40))
    p = devices.load("reram", noise_scale=0.0, tile_rows=32, tile_cols=4, dac_bits=4,
                     range_management={"mode": "calibrated", "percentile": 90.0})
    arr = CrossbarArray.program(W, p, seed=0)
    arr.calibrate(x, key=5)
    u = x / np.abs(x).max(axis=1, keepdims=True)
    codes = np.rint(u * 7).astype(int)
    for tile in arr.tiles:
        rows = tile.row_slice
        g = (tile.g_plus - tile.g_minus) / (p.g_max - p.g_min)
        values = [np.sign(codes[:, rows]) * ((np.abs(codes[:, rows]) >> bit) & 1) @ g for bit in range(3)]
        expected = np.percentile(np.abs(np.concatenate(values)), 90.0)
        np.testing.assert_allclose(tile.full_scale, expected, rtol=1e-5)
        assert tile.calibrated


def test_calibration_is_deterministic_by_seed_and_dropped_by_ageing():
    from torch import nn

    from crossbar.nn import age, calibrate, convert

    torch_model = nn.Sequential(nn.Linear(20, 8), nn.ReLU(), nn.Linear(8, 3))
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(40, 20)).astype(np.float32))
    a = convert(torch_model, "pcm", seed=1, calibration=x)
    b = convert(torch_model, "pcm", seed=1, calibration=x)
    c = convert(torch_model, "pcm", seed=1)
    calibrate(c, x, seed=7)  # another calibration read noise
    for la, lb, lc in zip(a.modules(), b.modules(), c.modules(), strict=True):
        if hasattr(la, "array"):
            assert torch.equal(la.array.full_scale, lb.array.full_scale)
            assert not torch.equal(la.array.full_scale, lc.array.full_scale)
            assert la.array.range_state == "calibrated"
    age(a, 3600.0)
    assert all(m.array.range_state == "uncalibrated" for m in a.modules() if hasattr(m, "array"))
    for _ in range(2):  # one cause, one warning: not one per array (two here), not one per read
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            a(x)
            a(x)
        assert sum("call crossbar.nn.calibrate" in str(w.message) for w in seen) == 1
        age(a, 7200.0)  # a new cause: warned about again
    age(a, 3600.0, calibration=x)
    assert all(m.array.range_state == "calibrated" for m in a.modules() if hasattr(m, "array"))


# ----------------------------------------------------------------------- a trained network


@pytest.fixture(scope="module")
def trained_cnn6():
    """cnn6 trained for one epoch on 512 mnist5k digits (about 20 s): realistic activations."""
    from crossbar.training import train

    model, _ = train("cnn6", "mnist5k", epochs=1, limit=512, lr=2e-3, batch_size=32, progress=False,
                     device="cpu")
    return model.eval()


@pytest.mark.parametrize("name", ["pcm", "reram", "nand", "neurram", "hermes"])
def test_default_mapping_of_a_trained_cnn6_clips_under_one_percent_per_layer(trained_cnn6, name):
    """Issue 10: with each bundled physical profile's own range management (calibrated on
    training digits, the documented default), every layer clips under 1 % of its conversions on
    test digits; summary() shows the rate."""
    from crossbar import data
    from crossbar.nn import clipping_rates, convert, reset_read_stats, summary

    calibration = data.load("mnist5k", limit=32).x
    test = data.load("mnist5k", "test", limit=32).x
    net = convert(trained_cnn6, name, seed=0, calibration=calibration)
    reset_read_stats(net)
    with torch.no_grad():
        net(test)
    rates = clipping_rates(net)
    assert len(rates) == 6 and all(0.0 <= r < 0.01 for r in rates.values()), rates
    table = summary(net).to_markdown()
    assert "calibrated" in table and f"{rates['classifier.1']:.3%}" in table
