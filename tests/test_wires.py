"""Wire resistance (crossbar/read/wires.py): the nodal oracle against networks solved by hand,
the fast model against the oracle, and the read path with and without wires."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crossbar import CrossbarArray, devices
from crossbar.checks import CheckError
from crossbar.read import wires
from crossbar.read.torch_read import read_torch
from crossbar.training.hardware import HardwareConfig

# The per-cell wire of reram.yaml's sources (NeuroSim V1.4, 22 nm node).
ROW, COL = 1.856, 5.569


def kcl_by_hand(w: wires.Wires, g: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The amplifier currents of the network, from Kirchhoff's current law written node by node
    (dense, every resistance > 0): an independent solution of the same circuit."""
    n, p = g.shape
    row = {(i, j): i * p + j for i in range(n) for j in range(p)}
    col = {(i, j): n * p + i * p + j for i in range(n) for j in range(p)}
    a, rhs = np.zeros((2 * n * p, 2 * n * p)), np.zeros(2 * n * p)

    def link(x, y, conductance):  # a conductance between unknown nodes x and y
        a[x, x] += conductance
        a[y, y] += conductance
        a[x, y] -= conductance
        a[y, x] -= conductance

    for i in range(n):
        a[row[i, 0], row[i, 0]] += 1 / w.driver  # to the driver at v[i]
        rhs[row[i, 0]] += v[i] / w.driver
        for j in range(p):
            link(row[i, j], col[i, j], g[i, j])
            if j + 1 < p:
                link(row[i, j], row[i, j + 1], 1 / w.row)
            if i + 1 < n:
                link(col[i, j], col[i + 1, j], 1 / w.col)
    for j in range(p):
        a[col[n - 1, j], col[n - 1, j]] += 1 / w.sense  # to the virtual ground
    x = np.linalg.solve(a, rhs)
    return np.array([x[col[n - 1, j]] / w.sense for j in range(p)])


@pytest.mark.parametrize("shape", [(2, 2), (3, 3), (2, 3)])
def test_the_oracle_solves_small_networks_as_kirchhoff_by_hand(shape):
    rng = np.random.default_rng(3)
    w = wires.Wires(row=7.0, col=13.0, driver=50.0, sense=20.0)
    g = rng.uniform(1e-6, 1e-3, shape)  # strong cells, so the wires matter
    v = rng.uniform(-0.5, 0.5, (4, shape[0]))
    got = wires.solve(w, g, v)
    for b in range(4):
        np.testing.assert_allclose(got[b], kcl_by_hand(w, g, v[b]), rtol=1e-10)


def test_one_cell_is_driver_cell_and_sense_in_series():
    w = wires.Wires(row=5.0, col=5.0, driver=1000.0, sense=3000.0)
    g = np.array([[1e-4]])
    assert wires.solve(w, g, [[0.2]])[0, 0] == pytest.approx(0.2 / (1000.0 + 1e4 + 3000.0), rel=1e-12)


def test_zero_resistances_merge_nodes():
    g = np.random.default_rng(4).uniform(1e-6, 1e-4, (3, 4))
    v = np.array([[0.3, -0.1, 0.2]])
    ideal = wires.solve(wires.Wires(0.0, 0.0, 0.0, 0.0), g, v)
    np.testing.assert_allclose(ideal, v @ g, rtol=1e-12)
    tiny = 1e-6  # a zero-ohm part is the limit of a vanishing resistance
    for zero in ("row", "col", "driver", "sense"):
        parts = dict(row=4.0, col=6.0, driver=30.0, sense=10.0)
        exact = wires.solve(wires.Wires(**{**parts, zero: 0.0}), g, v)
        near = kcl_by_hand(wires.Wires(**{**parts, zero: tiny}), g, v[0])
        np.testing.assert_allclose(exact[0], near, rtol=1e-7)


# The fast model's documented error (docs/physics.md, "Wire resistance", the table of
# tools/wire_error_table.py): at 32 x 32 pairs, below 2e-4 with reram's cited wire and
# below 2e-3 at 3x it; the bounds here are those figures.
@pytest.mark.parametrize(("scale", "bound"), [(1.0, 2e-4), (3.0, 2e-3)])
def test_the_fast_model_is_within_its_documented_error(scale, bound):
    rng = np.random.default_rng(5)
    n = 32
    w = wires.Wires(row=ROW * scale, col=COL * scale, driver=0.0, sense=0.0)
    weights = rng.uniform(-1, 1, (n, n))
    g_plus = 1.111e-6 + 38.89e-6 * np.maximum(weights, 0)
    g_minus = 1.111e-6 + 38.89e-6 * np.maximum(-weights, 0)
    v = rng.uniform(-0.5, 0.5, (8, n))
    i_plus, i_minus = wires.nodal_currents(w, g_plus, g_minus, v)
    a_plus, a_minus = wires.gains(w, g_plus, g_minus)
    exact, fast = i_plus - i_minus, v @ (g_plus * a_plus - g_minus * a_minus)
    drop = np.linalg.norm(v @ (g_plus - g_minus) - exact) / np.linalg.norm(exact)
    assert drop > 20 * bound  # the IR drop itself is far larger than the model's error
    assert np.linalg.norm(fast - exact) / np.linalg.norm(exact) < bound


def _exact_profile(**wiring):
    """reram with ideal converters and no noise, so a read is the analog product itself."""
    return devices.load("reram", noise_scale=0.0, input_encoding="one_shot", slice_bits=None,
                        dac_bits=None, adc_bits=None, range_management={"mode": "fixed"},
                        tile_rows=24, tile_cols=8, **wiring)


def test_zero_wires_leave_the_read_buffers_as_the_plain_difference():
    p = devices.load("reram", tile_rows=16, tile_cols=8)
    assert wires.of(p) is None
    W = torch.randn(40, 12, generator=torch.Generator().manual_seed(1))
    array = CrossbarArray.program(W, p, seed=7)
    for tile in array.tiles:
        g_plus, g_minus = tile.conductances()
        band = [r0 for r0, _ in array.bands].index(tile.row_slice.start)
        plain = ((g_plus - g_minus) / (p.g_max - p.g_min)).astype(np.float32)  # before wires
        got = array.conductance[band, : tile.rows, tile.col_slice].numpy()
        assert np.array_equal(got, plain.astype(got.dtype))  # in its stored form (crossbar.read.layout)
        var = ((p.read_std(g_plus) ** 2 + p.read_std(g_minus) ** 2) / p.g_range**2).astype(np.float32)
        got_var = array.variance[band, : tile.rows, tile.col_slice].float().numpy()
        assert np.array_equal(got_var, torch.from_numpy(var).to(torch.bfloat16).float().numpy())


def test_a_read_with_wires_follows_the_oracle_on_the_cpu_and_in_torch():
    p = _exact_profile(row_wire_resistance=ROW * 3, col_wire_resistance=COL * 3,
                       driver_resistance=20.0, sense_resistance=20.0)
    W = torch.randn(24, 8, generator=torch.Generator().manual_seed(2))
    array = CrossbarArray.program(W, p, seed=3)
    x = torch.rand(6, 24, generator=torch.Generator().manual_seed(4)) * 2 - 1
    tile = array.tiles[0]
    scale = x.abs().amax(1, keepdim=True)  # the DAC's full scale per row
    i_plus, i_minus = wires.nodal_currents(wires.of(p), tile.g_plus, tile.g_minus,
                                           (x / scale).double().numpy() * p.v_read)
    oracle = (i_plus - i_minus) / (p.v_read * p.g_range) * tile.w_max * scale.double().numpy()
    plain = (x / scale).double().numpy() @ ((tile.g_plus - tile.g_minus) / p.g_range) * tile.w_max \
        * scale.double().numpy()
    cpu = array.mvm(x).double().numpy()
    torch_path = read_torch(array, x, None).double().numpy()
    err = np.linalg.norm(cpu - oracle) / np.linalg.norm(oracle)
    assert np.linalg.norm(plain - oracle) / np.linalg.norm(oracle) > 0.02  # the wires matter here
    assert err < 1e-3  # the documented model error at this size, plus float32 rounding
    np.testing.assert_allclose(torch_path, cpu, rtol=1e-5, atol=1e-6)


def test_wires_are_validated_and_refused_where_not_modelled():
    with pytest.raises(CheckError, match="row_wire_resistance_ohm"):
        devices.load("reram", row_wire_resistance=-1.0)
    with pytest.raises(CheckError, match="abstract profile has no wires"):
        devices.load("gaussian-mult", sense_resistance=10.0)
    with pytest.raises(CheckError, match="wire resistance"):
        HardwareConfig(devices.load("reram", col_wire_resistance=COL))


def test_ideal_wiring_keeps_a_profiles_yaml_and_a_wired_one_round_trips():
    p = devices.load("reram")
    assert "row_wire_resistance_ohm" not in p.to_dict()
    wired = p.with_overrides(row_wire_resistance=ROW, col_wire_resistance=COL)
    again = devices.DeviceProfile.from_dict(wired.to_dict())
    assert (again.row_wire_resistance, again.col_wire_resistance) == (ROW, COL)
