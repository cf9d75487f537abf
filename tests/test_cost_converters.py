"""Cost of converter settings by hand (slices, phases, pulse and PWM DACs, integrating ADCs,
periphery, bound-management re-reads, operations and TOPS/W) and the validation against the
published NeuRRAM and HERMES figures (docs/cost.md). Expected chip values are the published
numbers, typed here with their sources."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crossbar import devices
from crossbar.cost import TileUsage, chips, layer_cost, network_cost, tile_cost

DOCS = Path(__file__).resolve().parent.parent / "docs"

ROUND = dict(v_read=0.2, t_read=10e-9, dac_time=2e-9, dac_energy=0.5e-12, adc_time=1e-9,
             adc_energy=2e-12, cols_per_adc=8, tile_rows=64, tile_cols=32,
             digital_add_time=0.5e-9, digital_add_energy=0.05e-12, cell_area=1e-14)
PERIPHERY = {"adc_area_m2": 100e-12, "dac_area_m2": 1e-12, "sense_energy_J": 1e-15,
             "sense_area_m2": 2e-12, "digital_area_m2": 30e-12, "buffer_energy_J": 1e-12,
             "buffer_area_m2": 500e-12}


def test_bit_serial_two_phase_tile_by_hand():
    # 6-bit inputs = 5 magnitude bits in slices of 2: widths (2, 2, 1); two phases
    p = devices.load("reram").with_overrides(**ROUND, input_encoding="bit_serial",
                                             slice_bits=2, dac_bits=6,
                                             signed_inputs="two_phase", periphery=PERIPHERY)
    c = tile_cost(p, TileUsage(rows=50, cols=20, g_sum=2.5e-3), activity=0.5)
    assert (c.reads, c.conversions, c.conversions_sequential) == (6, 120, 48)
    # time: 2 phases x 3 slices x (2 + 10 ns drive) + 6 reads x 8 conversions x 1 ns
    assert c.time == pytest.approx(72e-9 + 48e-9)
    assert c.energy_cell == pytest.approx(0.5 * 0.2**2 * 2.5e-3 * 3 * 10e-9)  # 3 reads' time
    assert c.energy_dac == pytest.approx(2 * 50 * 3 * 0.5e-12)  # each row, slice and phase
    assert c.energy_sense == pytest.approx(2 * 20 * 3 * 1e-15)
    assert c.energy_adc == pytest.approx(20 * 6 * 2e-12)  # every read converted
    assert c.shift_adds == 20 * 5 and c.energy_digital == pytest.approx(100 * 0.05e-12)
    assert c.energy_buffer == pytest.approx((50 + 20) * 1e-12)  # one value per row and column
    assert c.energy == pytest.approx(1.5e-12 + 150e-12 + 0.12e-12 + 240e-12 + 5e-12 + 70e-12)


def test_pwm_four_phase_integrating_adc_by_hand():
    # HERMES-like: 4-bit PWM input (7 steps of 1 ns), CCO ADC integrating during the read
    base = devices.load("hermes").with_overrides(dac_bits=4, t_read=5e-9, adc_energy=40e-12)
    one = tile_cost(base, TileUsage(256, 256, 0.5), activity=0.25)
    four = tile_cost(base.with_overrides(signed_inputs="four_phase"), TileUsage(256, 256, 0.5),
                     activity=0.25)
    assert one.time == pytest.approx(38.4e-9)  # ADC-limited: max(7 + 5 ns, 128 LSB x 0.3 ns)
    assert four.time == pytest.approx(4 * 12e-9)  # read-limited: four 12 ns windows
    assert one.conversions == four.conversions == 256  # one accumulated conversion per column
    assert four.energy_adc == pytest.approx(4 * one.energy_adc)  # the CCO counts 4x longer
    assert one.energy_adc == pytest.approx(256 * 40e-12)
    assert four.energy_dac == pytest.approx(4 * 256 * 0.417e-12)
    cell = 0.25 * 0.2**2 * 0.5 * 7e-9  # a v^2 g_sum x full PWM window
    assert one.energy_cell == four.energy_cell == pytest.approx(cell)  # each cell conducts once


def test_pulse_count_bit_serial_by_hand():
    # NeuRRAM-like: 8-bit input = 4 + 3 magnitude bits, 15 + 7 pulses; a 6-bit ramp per slice
    p = devices.load("neurram", dac_bits=8)
    c = tile_cost(p, TileUsage(128, 256, 0.1), activity=1.0)
    assert c.time == pytest.approx(22 * 100e-9 + 2 * 32 * 100e-9)  # pulses, then 2 x 32 steps
    assert c.energy_dac == pytest.approx(128 * 22 * p.dac_energy)
    assert c.energy_adc == pytest.approx(256 * 2 * p.adc_energy)
    assert c.energy_cell == pytest.approx(0.1**2 * 0.1 * 22 * 10e-9)  # 22 windows of t_read
    assert c.shift_adds == 256


def test_rereads_ops_tops_and_throughput():
    p = devices.load("reram").with_overrides(**ROUND, input_encoding="one_shot",
                                             slice_bits=None, periphery=None)
    tiles = [TileUsage(64, 32, 1e-3, row_offset=0), TileUsage(20, 32, 1e-3, row_offset=64)]
    plain = layer_cost(p, tiles, passes=5)
    again = layer_cost(p, tiles, passes=5, rereads=3)
    t_tile = [tile_cost(p, u) for u in tiles]
    mean_energy = sum(c.energy for c in t_tile) / 2
    assert again.energy == pytest.approx(plain.energy + 3 * mean_energy)
    assert again.time == pytest.approx(plain.time + 3 * max(c.time for c in t_tile))
    assert again.rereads == 3 and again.conversions == plain.conversions + 3 * 32
    # one MAC = 2 operations: 5 MVMs x (64 + 20) x 32 MACs
    assert plain.ops == 2 * 5 * 84 * 32
    assert plain.tops_per_watt == pytest.approx(plain.ops / plain.energy / 1e12)
    assert plain.throughput == pytest.approx(plain.ops / plain.time)
    net = network_cost([plain, again])
    assert net.ops == 2 * plain.ops
    assert net.tops_per_watt == pytest.approx(net.ops / (plain.energy + again.energy) / 1e12)
    assert net.throughput == pytest.approx(net.ops / (plain.time + again.time))
    assert net.pipelined_throughput == pytest.approx(net.ops / again.time)
    d = net.to_dict()
    json.dumps(d)
    assert d["tops_per_watt"] == net.tops_per_watt and d["layers"][0]["ops"] == plain.ops
    assert "TOPS/W" in net.to_markdown() and "one MAC = 2 operations" in net.to_markdown()
    with pytest.raises(ValueError, match="rereads"):
        layer_cost(p, tiles, rereads=-1)


def test_bundled_periphery_enters_area_and_energy():
    p = devices.load("reram")
    layer = layer_cost(p, [TileUsage(128, 128, 1e-3)])
    per = p.periphery
    assert layer.area_adc == pytest.approx(16 * per.adc_area)  # 128 / 8 ADCs at 5 bits
    assert layer.area_periphery == pytest.approx(128 * per.dac_area + 128 * per.sense_area
                                                 + per.digital_area + per.buffer_area)
    assert layer.energy_buffer == pytest.approx(256 * per.buffer_energy)
    assert not any("adc_area" in n or "periphery" in n for n in layer.notes)


# --------------------------------------------------------------------- measured chips

# Published figures: Wan et al., Nature 608, 504 (2022), Extended Data Fig. 12 (TOPS/W);
# Le Gallo et al., Nat. Electron. 6, 680 (2023), abstract (TOPS/W and TOPS, 64 cores).
NEURRAM_4_6, NEURRAM_1_3, NEURRAM_8_10 = 15.95, 43.1, 6.44
HERMES_ONE = (9.76, 63.1)
HERMES_FOUR = (2.48, 16.1)
CALIBRATION_TOL = 0.01  # a calibration point only checks the derivation's arithmetic
PREDICTION_TOL = 0.15  # stated in docs/cost.md, section 8


def _figures(name, **overrides):
    return chips.peak_mvm(devices.load(name, **overrides), {"neurram": 48, "hermes": 64}[name])


def test_neurram_energy_per_operation():
    four = _figures("neurram", dac_bits=4, adc_bits=6)
    assert four.tops_per_watt == pytest.approx(NEURRAM_4_6, rel=CALIBRATION_TOL)
    # the published breakdown at 4/6: word lines 21.8 + input pulses 11.5 against neurons
    # 29.1 fJ/op; the model's drivers + array against its neuron (ADC) energy
    drive = four.parts_per_op["dac"] + four.parts_per_op["cell"]
    assert drive / four.parts_per_op["adc"] == pytest.approx((21.8 + 11.5) / 29.1, rel=0.01)
    one = _figures("neurram", dac_bits=2, adc_bits=3)
    assert one.tops_per_watt == pytest.approx(NEURRAM_1_3, rel=CALIBRATION_TOL)
    eight = _figures("neurram", dac_bits=8, adc_bits=6)  # prediction, not calibrated
    assert eight.tops_per_watt == pytest.approx(NEURRAM_8_10, rel=PREDICTION_TOL)


def test_neurram_two_phase_reading():
    """Only the reading of "2-phase" as a 4-bit LSB slice and a 3-bit MSB slice meets the
    published 8-bit figure; the alternatives quoted in docs/cost.md miss it by > 20 %."""
    one_slice = _figures("neurram", dac_bits=8, slice_bits=8).tops_per_watt
    four_four = _figures("neurram", dac_bits=9, slice_bits=4).tops_per_watt
    assert one_slice == pytest.approx(1.57, abs=0.005)
    assert four_four == pytest.approx(4.94, abs=0.005)
    assert abs(one_slice / NEURRAM_8_10 - 1) > 0.2 and abs(four_four / NEURRAM_8_10 - 1) > 0.2


def test_hermes_energy_and_throughput():
    one = _figures("hermes", signed_inputs="bipolar")
    assert one.tops_per_watt == pytest.approx(HERMES_ONE[0], rel=CALIBRATION_TOL)
    assert one.tops == pytest.approx(HERMES_ONE[1], rel=CALIBRATION_TOL)
    four = _figures("hermes", signed_inputs="four_phase")  # prediction
    assert four.tops_per_watt == pytest.approx(HERMES_FOUR[0], rel=PREDICTION_TOL)
    assert four.tops == pytest.approx(HERMES_FOUR[1], rel=PREDICTION_TOL)


def test_calibrated_profile_numbers_are_the_derivation():
    derived = chips.calibration(devices.load)
    neurram, hermes = devices.load("neurram"), devices.load("hermes")
    assert neurram.dac_energy == pytest.approx(derived["neurram.dac_energy"], rel=1e-4)
    assert neurram.adc_energy == pytest.approx(derived["neurram.adc_energy"], rel=1e-4)
    assert neurram.adc_fixed_energy == pytest.approx(derived["neurram.adc_fixed_energy"],
                                                     rel=1e-4)
    assert hermes.t_read == pytest.approx(derived["hermes.t_read"], rel=1e-4)
    assert hermes.adc_energy == pytest.approx(derived["hermes.adc_energy"], rel=1e-4)


def test_docs_validation_table_is_current():
    table = chips.validation_markdown(devices.load)
    assert table in (DOCS / "cost.md").read_text(encoding="utf-8"), (
        "docs/cost.md section 8 is out of date: paste "
        "crossbar.cost.chips.validation_markdown(crossbar.devices.load) into it")
