"""Converter settings of device profiles: what the validator rejects, how inputs are sliced
and read, how ADC cost scales with resolution, and finite, bounded outputs for every allowed
bit width (docs/physics.md, "Converters")."""

from __future__ import annotations

import math

import numpy as np
import pytest
from crossbar.devices import converters

from crossbar import devices
from crossbar.array import CrossbarArray
from crossbar.cost import input_activity

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
    s w_max_j (sum_i |g_ij| / (2K) + F / (2 K_a)), docs/physics.md "Converters"."""
    s = np.abs(x).max(axis=1, keepdims=True)
    w_max = np.abs(W).max(axis=0, keepdims=True)
    g = np.abs(W) / w_max
    dac = 0.0 if profile.dac_bits is None else 1.0 / (2 * (2 ** (profile.dac_bits - 1) - 1))
    full_scale = profile.adc_range * profile.tile_rows
    adc = 0.0 if profile.adc_bits is None else full_scale / (2 * (2 ** (profile.adc_bits - 1) - 1))
    return s * w_max * (g.sum(axis=0, keepdims=True) * dac + adc)


@pytest.mark.parametrize("bits", range(2, 17))
def test_every_allowed_bit_width_gives_finite_outputs_within_the_bound(bits):
    """The one-shot, fixed-range read path honours every resolution the validator allows."""
    rng = np.random.default_rng(bits)
    W = rng.uniform(-1.0, 1.0, (48, 5))
    x = rng.uniform(-1.0, 1.0, (16, 48))
    exact = x @ W
    slack = 1e-5 * (np.abs(x) @ np.abs(W))  # float32 arithmetic
    for dac_bits, adc_bits in ((bits, None), (None, bits), (bits, bits)):
        profile = devices.load("ideal", dac_bits=dac_bits, adc_bits=adc_bits)
        y = CrossbarArray.program(W, profile, seed=0).mvm(x)
        assert np.all(np.isfinite(y))
        bound = _mvm_error_bound(x, W, profile)
        assert np.all(np.abs(y - exact) <= bound + slack), (dac_bits, adc_bits)
    # the bound is tight enough to fail: a 2-bit ADC on this tile errs by a visible amount
    if bits == 2:
        coarse = CrossbarArray.program(W, devices.load("ideal", adc_bits=2), seed=0).mvm(x)
        assert np.abs(coarse - exact).max() > 0.1 * math.fsum(np.abs(exact).ravel()) / exact.size
