"""Device profiles: bundled files, validation errors, overrides, and the noise laws
checked against the published formulas (expected values are computed here from
the formula text of the cited sources, not from the package's code)."""

from __future__ import annotations

import copy
import dataclasses
import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import yaml

from crossbar import devices

DeviceProfile = devices.DeviceProfile
NoiseFunction = devices.NoiseFunction
ProfileError = devices.ProfileError
Verify = devices.Verify
BUNDLED = ["gaussian-add", "gaussian-mult", "hermes", "ideal", "nand", "neurram", "pcm", "reram"]
PHYSICAL = ["hermes", "nand", "neurram", "pcm", "reram"]
DEVICE_DIR = Path(devices.__file__).resolve().parent
FIELDS = [f.name for f in dataclasses.fields(DeviceProfile) if f.name not in ("source", "sources")]
META = {"name", "kind"}


def raw(name: str = "pcm") -> dict:
    return yaml.safe_load((DEVICE_DIR / f"{name}.yaml").read_text())


def write(tmp_path: Path, data: dict | str, name: str = "user.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def error_for(tmp_path: Path, data: dict | str) -> ProfileError:
    path = write(tmp_path, data)
    with pytest.raises(ProfileError) as info:
        devices.load(path)
    assert str(path) in str(info.value)  # every message names the file
    return info.value


# ----------------------------------------------------------------------- bundled files


def test_available_lists_the_bundled_profiles():
    assert devices.available() == BUNDLED


@pytest.mark.parametrize("name", BUNDLED)
def test_every_bundled_profile_loads_with_a_source_for_every_value(name):
    p = devices.load(name)
    assert p.name == name
    assert Path(p.source) == DEVICE_DIR / f"{name}.yaml"
    assert p.kind in ("physical", "abstract")
    for field in set(FIELDS) - META:
        cited = field in p.sources or any(k.startswith(field + ".") for k in p.sources)
        assert cited, f"{name}: no source for {field}"
    assert all(isinstance(v, str) and v.strip() for v in p.sources.values())
    assert 0 < p.g_min < p.g_max < 1
    assert p.g_range == pytest.approx(p.g_max - p.g_min)


@pytest.mark.parametrize("name", PHYSICAL)
def test_physical_profiles_are_noisy_and_flag_their_assumptions(name):
    p = devices.load(name)
    assert p.kind == "physical" and not p.is_noiseless
    g = np.linspace(p.g_min, p.g_max, 7)
    assert np.all(p.programming_noise.std(g) > 0) and np.all(p.read_noise.std(g) > 0)
    assumed = p.assumptions()
    assert "stuck_on_rate" in assumed  # no published fault rate: stated as an assumption
    assert all(v.startswith("ASSUMPTION") for v in assumed.values())


def test_abstract_profiles():
    ideal = devices.load("ideal")
    assert ideal.is_ideal and ideal.is_noiseless and ideal.output_noise is None
    for kind in ("mult", "add"):
        p = devices.load(f"gaussian-{kind}")
        assert p.kind == "abstract"
        assert p.output_noise == devices.OutputNoise(kind, 0.5)
        assert "1811.10649" in p.sources["output_noise.kind"]
        assert p.programming_noise.is_zero and p.read_noise.is_zero
        assert not p.is_noiseless and p.adc_bits is None and p.dac_bits is None


def test_bundled_headline_numbers_are_the_published_ones():
    pcm, reram, nand = devices.load("pcm"), devices.load("reram"), devices.load("nand")
    assert pcm.g_max == 25e-6 and pcm.drift.t0 == 20.0  # AIHWKit PCMLikeNoiseModel
    assert (pcm.tile_rows, pcm.tile_cols) == (256, 256)  # HERMES core
    assert (pcm.dac_bits, pcm.adc_bits) == (7, 9)  # AIHWKit inference defaults
    # NeuroSim periphery: 0.5 V, 10 ns, 128 x 128, 8 columns per 5-bit ADC.
    assert (reram.v_read, reram.t_read) == (0.5, 10e-9)
    assert (reram.tile_rows, reram.tile_cols, reram.cols_per_adc, reram.adc_bits) == (
        128, 128, 8, 5)
    # SONOS: I_max = 1600 nA read at 0.1 V.
    assert nand.g_max == pytest.approx(1600e-9 / 0.1) and nand.v_read == 0.1
    # ISAAC energy and area per conversion by resolution (pJ, um^2), quoted at the
    # profile's own resolution; a SAR ADC's time is one comparison per bit from ISAAC's
    # 8-bit ADC at 1.2 GS/s.
    isaac = {5: (0.99, 476.91), 8: (1.67, 1200.0), 9: (1.97, 1827.9)}
    for p in (pcm, reram, nand):
        assert p.adc_ref_bits == p.adc_bits and p.adc_kind == "sar"
        assert p.adc_energy == pytest.approx(isaac[p.adc_bits][0] * 1e-12)
        assert p.periphery.adc_area == pytest.approx(isaac[p.adc_bits][1] * 1e-12)
        assert p.adc_time == pytest.approx(p.adc_bits / 8 / 1.2e9, rel=1e-3)
        assert p.dac_energy == pytest.approx(0.417e-12)  # one ISAAC 1-bit DAC cycle per read
    # NeuroSim and ISAAC stream inputs bit-serially, one bit per read.
    assert (reram.input_encoding, reram.slice_bits, reram.slice_widths) == ("bit_serial", 1,
                                                                            (1,) * 7)
    assert (nand.input_encoding, nand.signed_inputs, nand.conversions_per_column) == (
        "bit_serial", "two_phase", 14)
    assert (pcm.input_encoding, pcm.slice_widths) == ("one_shot", (6,))
    # the two measured chips: cores of 256 x 256 cells
    neurram, hermes = devices.load("neurram"), devices.load("hermes")
    assert 2 * neurram.tile_rows * neurram.tile_cols == 256 * 256  # differential row pairs
    assert (hermes.tile_rows, hermes.tile_cols, hermes.dac_bits, hermes.adc_bits) == (
        256, 256, 8, 8)
    assert hermes.dac_kind == "pwm" and hermes.adc_during_read and hermes.cols_per_adc == 1
    assert neurram.dac_kind == "pulse_count" and neurram.adc_kind == "ramp"


# ----------------------------------------------------------------------- the noise laws


def test_pcm_programming_noise_is_aihwkit_polynomial():
    p = devices.load("pcm")
    g_hat = np.array([0.0, 0.25, 0.5, 1.0])
    expected_us = 0.26348 + 1.9650 * g_hat - 1.1731 * g_hat**2  # g_max = 25 uS reference
    got = p.programming_noise.std(g_hat * 25e-6)
    np.testing.assert_allclose(got, expected_us * 1e-6, rtol=1e-12)
    assert got[2] == pytest.approx(0.952705e-6)  # by hand: 0.26348 + 0.9825 - 0.293275
    # AIHWKit scales the uS polynomial by g_max / 25 uS when g_max differs.
    q = p.with_overrides(g_max=50e-6)
    np.testing.assert_allclose(q.programming_noise.std(g_hat * 50e-6), expected_us * 2e-6,
                               rtol=1e-12)


def test_pcm_read_noise_is_aihwkit_1f_law():
    p = devices.load("pcm")
    t, t_read = 86400.0, 250e-9
    factor = math.sqrt(math.log((t + t_read) / (2 * t_read)))
    assert factor == pytest.approx(5.0867, abs=1e-4)  # sqrt(ln(1.728e11)) by hand
    g = np.array([0.5, 0.1, 0.001]) * 25e-6
    q_s = np.minimum(0.0088 / (g / 25e-6) ** 0.65, 0.2)
    assert q_s[2] == 0.2  # 0.0088 / 0.001^0.65 = 0.784 is capped
    np.testing.assert_allclose(p.read_noise.std(g), g * q_s * factor, rtol=1e-12)
    assert p.read_noise.std(12.5e-6) == pytest.approx(12.5e-6 * 0.0088 / 0.5**0.65 * factor)
    assert p.read_noise.std(0.0) == 0.0
    ratio = math.sqrt(math.log((3600 + t_read) / (2 * t_read))) / factor
    assert p.read_noise.std(g[0], t=3600.0) == pytest.approx(p.read_noise.std(g[0]) * ratio)
    one_hour = p.with_overrides(time_since_programming=3600.0)  # the profile's time binds the law
    assert one_hour.read_std(g[0]) == pytest.approx(p.read_std(g[0]) * ratio)
    assert p.read_noise.spectrum == "1/f" and devices.load("reram").read_noise.spectrum == "white"


def test_1f_split_at_the_read_spacing_conserves_the_variance():
    """common^2 = A ln((t + t_r)/d), fresh^2 = A ln(d/(2 t_r)), d = clip(dt, 2 t_r, t + t_r)."""
    law = devices.load("pcm").read_noise
    g = np.array([2e-6, 12.5e-6, 25e-6])
    t, t_read = 86400.0, 250e-9
    amplitude = law.std(g) / math.sqrt(math.log((t + t_read) / (2 * t_read)))
    for dt in (1e-9, 1e-6, 1e-3, 1.0, 1e5, None):
        common, fresh = law.split(g, dt=dt)
        np.testing.assert_allclose(common**2 + fresh**2, law.std(g) ** 2, rtol=1e-12)
        d = t + t_read if dt is None else min(max(dt, 2 * t_read), t + t_read)
        np.testing.assert_allclose(fresh, amplitude * math.sqrt(math.log(d / (2 * t_read))), rtol=1e-12)
    assert not law.split(g, dt=1e-9)[1].any()  # reads closer than the band's top share all of it
    assert not law.split(g, dt=None)[0].any()  # a single read: all fresh
    # at 1 ms spacing the fresh part is 29 % of the one-day variance (the 32 % took
    # ln(t / t_read); the law's band starts at 1 / (2 t_read))
    fresh_share = (law.split(g, dt=1e-3)[1] ** 2 / law.std(g) ** 2)[0]
    assert fresh_share == pytest.approx(math.log(1e-3 / 5e-7) / math.log((t + t_read) / 5e-7))
    assert 0.29 < fresh_share < 0.30
    white = devices.load("reram").read_noise
    common, fresh = white.split(g, dt=1e-6)
    assert not common.any() and np.array_equal(fresh, white.std(g))
    with pytest.raises(ValueError, match="t_read"):
        law.std(g, t=1e-7)


def test_times_and_voltages_are_validated():
    pcm = devices.load("pcm")
    with pytest.raises(ProfileError, match="v_read_min_V") as info:
        pcm.with_overrides(v_read=0.01)
    assert info.value.key == "v_read_V"
    with pytest.raises(ProfileError) as info:
        pcm.with_overrides(time_since_programming=1e-7)
    assert info.value.key == "time_since_programming_s"
    assert pcm.with_overrides(v_read=0.05).v_read == 0.05
    # optional keys get their documented defaults and sources
    ideal = devices.load("ideal")
    assert ideal.v_read_min == ideal.v_read and ideal.sense_noise == 0.0
    assert "default" in ideal.sources["sense_noise"]


def test_pcm_drift_moments_are_aihwkit_clipped_logs():
    d = devices.load("pcm").drift
    g_hat = np.array([1e-4, 0.01, 0.1, 0.5, 1.0])
    mu = np.clip(-0.0155 * np.log(g_hat) + 0.0244, 0.049, 0.1)
    sd = np.clip(-0.0125 * np.log(g_hat) - 0.0059, 0.008, 0.045)
    np.testing.assert_allclose(d.nu_mean(g_hat * 25e-6), mu, rtol=1e-12)
    np.testing.assert_allclose(d.nu_std(g_hat * 25e-6), sd, rtol=1e-12)
    # hand values: mu(0.01) = 0.0155 * 4.60517 + 0.0244, sd(0.1) = 0.0125 * 2.302585 - 0.0059
    assert d.nu_mean(0.01 * 25e-6) == pytest.approx(0.095780, abs=1e-6)
    assert d.nu_std(0.1 * 25e-6) == pytest.approx(0.022882, abs=1e-6)
    assert d.nu_mean(1e-4 * 25e-6) == 0.1 and d.nu_std(25e-6) == 0.008  # clipped ends
    assert np.all(d.nu_std(np.array([0.0, 1e-9])) == 0.045)  # g floored, never NaN


def test_reram_programming_noise_is_the_wan_cubic_within_its_range():
    p = devices.load("reram")
    g_us = np.array([1.111, 10.0, 20.0, 39.26])
    expected = 1.536e-4 * g_us**3 - 1.167e-2 * g_us**2 + 0.2374 * g_us + 1.053
    np.testing.assert_allclose(p.programming_noise.std(g_us * 1e-6), expected * 1e-6,
                               rtol=1e-12)
    assert p.programming_noise.std(10e-6) == pytest.approx(2.4136e-6)  # by hand
    # Beyond the fit's 39.26 uS validity the value at the boundary is held.
    assert p.programming_noise.std(40e-6) == pytest.approx(expected[-1] * 1e-6)
    # AIHWKit's short-term read noise: 1 % of the largest weight per weight. A weight is
    # G+ - G- with independent cells, so sqrt(2) sigma_cell = 0.01 (g_max - g_min).
    sigma = p.read_noise.std(np.array([1e-6, 40e-6]))
    assert np.all(sigma == sigma[0])
    assert math.sqrt(2) * sigma[0] / (p.g_max - p.g_min) == pytest.approx(0.01, rel=1e-3)


def test_nand_noise_is_the_sonos_fit_converted_at_the_read_voltage():
    p = devices.load("nand")
    current_na = np.array([0.0, 176.3, 800.0, 1600.0])
    g = current_na * 1e-9 / 0.1  # G = I / V_read
    prog_na = 19.89 * (1 - np.exp(-current_na / 176.3))
    read_na = 12.58 * (1 - np.exp(-current_na / 215.4))
    # The reference text rounds CrossSim's constants to 4 digits: compare at 1e-3.
    np.testing.assert_allclose(p.programming_noise.std(g), prog_na * 1e-9 / 0.1, rtol=1e-3)
    np.testing.assert_allclose(p.read_noise.std(g), read_na * 1e-9 / 0.1, rtol=1e-3)
    assert p.programming_noise.std(1.763e-6) == pytest.approx(19.89e-9 * (1 - math.exp(-1)) / 0.1,
                                                              rel=1e-3)


def test_simple_forms_and_shape():
    g = np.linspace(0.0, 25e-6, 12).reshape(3, 4)
    const = NoiseFunction.from_spec({"form": "constant", "sigma_S": 1e-7}, g_max=25e-6)
    rel = NoiseFunction.from_spec({"form": "relative", "fraction": 0.05}, g_max=25e-6)
    none = NoiseFunction.from_spec(None, g_max=25e-6)
    assert const.std(g).shape == (3, 4) and np.all(const.std(g) == 1e-7)
    np.testing.assert_allclose(rel.std(g), 0.05 * g)
    assert none.is_zero and np.all(none.std(g) == 0) and none.std(g).shape == (3, 4)
    sat = NoiseFunction.from_spec({"form": "saturating_exponential", "a_S": 2e-7, "b_S": 1e-6},
                                  g_max=25e-6)
    assert sat.std(1e-6) == pytest.approx(2e-7 * (1 - math.exp(-1)))
    with pytest.raises(ProfileError, match="g_max_S"):
        NoiseFunction.from_spec(None, g_max=0.0)  # a law needs a real g_max for ĝ


def test_std_is_never_negative():
    rng = np.random.default_rng(1)
    g = rng.uniform(0, 60e-6, size=1000)
    dips = NoiseFunction.from_spec(
        {"form": "polynomial", "variable": "G_uS", "coefficients_uS": [0.5, -0.1]}, g_max=40e-6)
    assert dips.std(np.array([1e-6, 10e-6])) == pytest.approx([0.4e-6, 0.0])  # 0.5 - 1.0 -> 0
    for name in BUNDLED:
        p = devices.load(name)
        for law in (p.programming_noise, p.read_noise):
            s = law.std(g)
            assert s.shape == g.shape and np.all(s >= 0) and np.all(np.isfinite(s))
    assert np.all(dips.std(g) >= 0)


def test_noise_scale_multiplies_both_laws():
    p = devices.load("reram", noise_scale=2.0)
    g = np.array([5e-6, 30e-6])
    np.testing.assert_allclose(p.programming_std(g), 2.0 * p.programming_noise.std(g))
    np.testing.assert_allclose(p.read_std(g), 2.0 * p.read_noise.std(g))
    assert devices.load("pcm", noise_scale=0.0).read_std(g).max() == 0.0


# ----------------------------------------------------------------------- invalid input


def _set(key, value):
    def mutate(d):
        d[key] = value
    return mutate


def _set_in(block, key, value):
    def mutate(d):
        d[block][key] = value
    return mutate


def _drop(key):
    def mutate(d):
        del d[key]
    return mutate


BAD = [
    ("missing key", _drop("g_max_S"), "g_max_S", "missing"),
    ("negative conductance", _set("g_min_S", -1e-6), "g_min_S", "-1e-06"),
    ("conductance >= 1 S", _set("g_max_S", 2.0), "g_max_S", "> 0 and < 1"),
    ("g_min >= g_max", _set("g_min_S", 25e-6), "g_min_S", "g_max_S"),
    ("unknown key with suggestion", _set("g_max", 1e-5), "g_max", "did you mean 'g_max_S'"),
    ("wrong type", _set("tile_rows", "many"), "tile_rows", "integer"),
    ("float for an integer", _set("tile_cols", 64.5), "tile_cols", "integer"),
    ("bool for a number", _set("adc_range", True), "adc_range", "number"),
    ("NaN", _set("v_read_V", float("nan")), "v_read_V", "finite"),
    ("inf", _set("t_read_s", float("inf")), "t_read_s", "finite"),
    ("NaN inside a noise law", _set_in("read_noise", "cap", float("nan")), "read_noise.cap",
     "finite"),
    ("unknown noise form", _set_in("read_noise", "form", "pcm1f"), "read_noise.form",
     "did you mean 'pcm_1f'"),
    ("unknown noise parameter", _set_in("read_noise", "cc", 1.0), "read_noise.cc", "unknown"),
    ("missing noise parameter", lambda d: d["read_noise"].pop("cap"), "read_noise.cap",
     "missing"),
    ("bits out of range", _set("adc_bits", 17), "adc_bits", "2..16"),
    ("one-bit DAC", _set("dac_bits", 1), "dac_bits", "2..16"),
    ("one-bit ADC", _set("adc_bits", 1), "adc_bits", "comparator"),
    ("bits zero", _set("dac_bits", 0), "dac_bits", "null"),
    ("probability above 1", _set("stuck_on_rate", 1.5), "stuck_on_rate", ">= 0 and <= 1"),
    ("probabilities sum above 1", lambda d: d.update(stuck_on_rate=0.6, stuck_off_rate=0.6),
     "stuck_off_rate", "exceeds 1"),
    ("voltage above 10 V", _set("v_read_V", 12.0), "v_read_V", "> 0 and <= 10"),
    ("zero time", _set("adc_time_s", 0.0), "adc_time_s", "> 0 and <= 1"),
    ("negative energy", _set("adc_energy_J", -1e-12), "adc_energy_J", ">= 0 and"),
    ("tile of zero rows", _set("tile_rows", 0), "tile_rows", "1..1000000"),
    ("adc_range zero", _set("adc_range", 0.0), "adc_range", "> 0 and <= 1"),
    ("bad level count", _set("levels", "cont"), "levels", "continuous"),
    ("one level", _set("levels", 1), "levels", "2..65536"),
    ("bad kind", _set("kind", "digital"), "kind", "one of physical, abstract"),
    ("bad output noise kind", _set("output_noise", {"kind": "mul", "sigma": 0.5}),
     "output_noise.kind", "one of mult, add"),
    ("verify tolerance zero", _set_in("verify", "tolerance", 0.0), "verify.tolerance", "> 0 and <= 1"),
    ("verify iterations float", _set_in("verify", "max_iterations", 2.5),
     "verify.max_iterations", "integer"),
    ("drift clip reversed", lambda d: d["drift"]["nu_std"].update(clip=[0.05, 0.01]),
     "drift.nu_std.clip", "low"),
    ("block is not a mapping", _set("verify", [1, 2]), "verify", "mapping"),
    ("value without source", lambda d: d["sources"].pop("adc_bits"), "sources.adc_bits",
     "source"),
    ("source for unknown key", lambda d: d["sources"].update(adc_bit="x"), "sources.adc_bit",
     "did you mean 'adc_bits'"),
    ("empty source", lambda d: d["sources"].update(adc_bits=" "), "sources.adc_bits",
     "non-empty"),
]


@pytest.mark.parametrize("case, mutate, key, detail", BAD, ids=[b[0] for b in BAD])
def test_invalid_values_raise_profile_error_naming_the_key(tmp_path, case, mutate, key, detail):
    data = raw("pcm")
    mutate(data)
    err = error_for(tmp_path, data)
    assert isinstance(err, ValueError)
    assert err.key == key and f"key '{key}':" in str(err)
    assert detail in str(err)


@pytest.mark.parametrize("text, detail", [
    ("name: pcm\n  kind: [physical\n", "malformed YAML"),
    ("name: a\nname: b\n", "duplicate key 'name'"),
    ("", "empty"),
    ("- 1\n- 2\n", "mapping"),
    ("name: pcm\tkind: x: y\n", "malformed YAML"),
])
def test_malformed_files_raise_profile_error(tmp_path, text, detail):
    assert detail in str(error_for(tmp_path, text))


def test_unknown_name_lists_the_available_profiles(tmp_path):
    with pytest.raises(ProfileError) as info:
        devices.load("pcmm")
    assert "pcmm" in str(info.value)
    assert all(name in str(info.value) for name in BUNDLED)
    with pytest.raises(ProfileError, match="no such profile file"):
        devices.load(tmp_path / "absent.yaml")


# ----------------------------------------------------------------------- user files


def test_user_yaml_loads_like_a_bundled_one(tmp_path):
    path = write(tmp_path, (DEVICE_DIR / "pcm.yaml").read_text(), "my-pcm.yaml")
    mine, bundled = devices.load(path), devices.load("pcm")
    assert mine.source == str(path.resolve())
    assert dataclasses.replace(mine, source=bundled.source) == bundled
    assert devices.load(str(path), adc_bits=6).adc_bits == 6


def test_si_floats_without_a_dot_are_numbers(tmp_path):
    text = (DEVICE_DIR / "pcm.yaml").read_text().replace("g_max_S: 25.0e-6", "g_max_S: 25e-6")
    assert "g_max_S: 25e-6" in text
    assert devices.load(write(tmp_path, text)).g_max == 25e-6


def test_round_trip_through_yaml(tmp_path):
    for name in BUNDLED:
        p = devices.load(name, adc_bits=6, levels=16)
        again = devices.load(write(tmp_path, p.to_yaml(), f"{name}.yaml"))
        assert dataclasses.replace(again, source=p.source) == p


def test_summary_shows_values_and_sources():
    p = devices.load("pcm")
    text = p.summary()
    assert text.splitlines()[0].startswith("pcm (physical)")
    assert "25 µS" in text and "AIHWKit" in text and "ĝ" in text
    for field in FIELDS:
        if field not in META:
            assert f"  {field} " in text or f"  {field}." in text
    assert "AIHWKit" not in p.summary(sources=False)


def test_docs_tables_match_the_bundled_profiles():
    docs = (DEVICE_DIR.parent / "docs" / "devices.md").read_text(encoding="utf-8")
    for name in BUNDLED:
        assert devices.load(name).to_markdown() in docs, (
            f"docs/devices.md is out of date for {name}: paste "
            f"crossbar.devices.load({name!r}).to_markdown() into it")


# ----------------------------------------------------------------------- overrides


def test_overrides_replace_validate_and_record():
    p = devices.load("reram")
    q = p.with_overrides(adc_bits=6, noise_scale=2.0, tile_rows=64)
    assert (q.adc_bits, q.noise_scale, q.tile_rows) == (6, 2.0, 64)
    assert (p.adc_bits, p.noise_scale, p.tile_rows) == (5, 1.0, 128)  # original untouched
    assert q.tile_cols == p.tile_cols and q.programming_noise == p.programming_noise
    assert "override adc_bits=6" in q.sources["adc_bits"]
    assert "NeuroSim" in q.sources["adc_bits"]  # the replaced source is kept in the note
    assert devices.load("reram", adc_bits=6, noise_scale=2.0, tile_rows=64) == q
    assert p.with_overrides() is p


def test_block_overrides():
    p = devices.load("pcm")
    assert p.with_overrides(levels=None).levels is None
    assert p.with_overrides(levels=16).levels == 16
    assert p.with_overrides(verify=None).verify is None
    v = Verify(tolerance=0.05, max_iterations=3, pulse_time=1e-6, pulse_energy=1e-12)
    assert p.with_overrides(verify=v).verify == v
    assert p.with_overrides(verify={"max_iterations": 3}).verify.tolerance == p.verify.tolerance
    doubled = p.with_overrides(read_noise={"c": 0.0176})
    assert doubled.read_noise.params["c"] == 0.0176 and doubled.read_noise.form == "pcm_1f"
    law = NoiseFunction.from_spec({"form": "relative", "fraction": 0.1}, g_max=1.0)
    swapped = p.with_overrides(programming_noise=law)
    assert swapped.programming_noise.std(1e-5) == pytest.approx(1e-6)
    assert swapped.programming_noise.g_max == p.g_max  # re-bound to this profile
    mult = devices.load("gaussian-mult", output_noise={"sigma": 0.8})
    assert mult.output_noise == devices.OutputNoise("mult", 0.8)
    assert devices.load("ideal", drift=p.drift.to_dict()).drift.nu_mean(1e-6) > 0


@pytest.mark.parametrize("overrides, key, detail", [
    ({"adc_bit": 6}, "adc_bit", "did you mean 'adc_bits'"),
    ({"source": "x.yaml"}, "source", "unknown override"),
    ({"adc_bits": 0}, "adc_bits", "2..16"),
    ({"adc_bits": 6.5}, "adc_bits", "2..16"),
    ({"dac_bits": 1}, "dac_bits", "2..16"),
    ({"adc_bits": 1}, "adc_bits", "2..16"),
    ({"tile_rows": 64.0}, "tile_rows", "integer"),
    ({"noise_scale": -1.0}, "noise_scale", "out of range"),
    ({"g_max": float("nan")}, "g_max_S", "finite"),
    ({"g_min": 30e-6}, "g_min_S", "g_max_S"),
    ({"read_noise": {"form": "gauss"}}, "read_noise.form", "unknown noise form"),
    ({"read_noise": {"t_read_s": -1.0}}, "read_noise.t_read_s", "out of range"),
    ({"read_noise": {"t_inference_s": 1.0}}, "read_noise.t_inference_s", "unknown key"),
    ({"time_since_programming": 0.0}, "time_since_programming_s", "out of range"),
    ({"output_noise": {"kind": "mult"}}, "output_noise.sigma", "missing"),
])
def test_bad_overrides_raise_profile_error(overrides, key, detail):
    with pytest.raises(ProfileError) as info:
        devices.load("pcm").with_overrides(**overrides)
    assert info.value.key == key and detail in str(info.value)
    assert "pcm.yaml (with_overrides)" in str(info.value)


def test_noise_function_param_updates_are_validated():
    law = devices.load("pcm").read_noise
    with pytest.raises(ProfileError, match="t_read_s"):
        law.with_params(t_read_s=0.0)
    with pytest.raises(ProfileError, match="unknown key"):
        law.with_params(t_inf=1.0)


def test_profiles_are_frozen_and_hashable():
    p = devices.load("nand")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.adc_bits = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        p.sources["adc_bits"] = "x"  # type: ignore[index]
    assert hash(p) == hash(devices.load("nand"))
    assert copy.deepcopy(p) == p
    assert pickle.loads(pickle.dumps(p)) == p  # profiles travel to Dask workers
