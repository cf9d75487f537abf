"""Bytes a programmed array holds per weight (issue 27), counted from the arrays' own tensors."""

from __future__ import annotations

import copy
from unittest import mock

import numpy as np
import pytest
import torch

from crossbar import CrossbarArray, devices
from crossbar.memory import held_bytes
from crossbar.read import cpu
from crossbar.read.layout import ALLOWANCE, TABLE_SIZE, Products, cell_variances
from crossbar.read.ops import variance_error_bound
from crossbar.read.timing import ReadGroup
from crossbar.read.torch_read import read_torch

# Bytes per weight (one differential pair) a programmed, calibrated and read array may hold:
# issue 27's 16 with drift and 8 without. Without drift (crossbar.read.layout): float32 target
# weights 4 and float16 conductance 2, the cell variance as one value (ReRAM's constant read noise)
# or a table against the float16 conductance (NAND), plus about 0.35 of column records in 128-row
# tiles; the ideal profile reads its weights themselves (4 and the column records). The abstract
# profiles hold their weights only.
DRIFT, NO_DRIFT, ABSTRACT = 16.0, 8.0, 4.5
# What the tiles may hold per weight: per-column and per-tile records only, no per-cell array.
TILES = 0.25


def budget(profile) -> float:
    if profile.output_noise is not None:
        return ABSTRACT
    return DRIFT if profile.drift is not None else NO_DRIFT


def programmed(name: str) -> tuple[CrossbarArray, torch.Tensor]:
    """A 2 x 2-tile array of a bundled profile, calibrated on 16 vectors and read once."""
    p = devices.load(name)
    gen = torch.Generator().manual_seed(0)
    W = torch.randn(2 * p.tile_rows, 2 * p.tile_cols, generator=gen)
    array = CrossbarArray.program(W, p, seed=1)
    x = torch.rand(16, W.shape[0], generator=gen)
    array.calibrate(x, 2)
    array.read(x, 3)
    return array, x


def test_held_bytes_counts_each_storage_once():
    t = torch.zeros(10, 4)
    view = t[2:5]
    a = np.zeros(7)
    assert held_bytes([t, view, t.numpy(), {"a": a, "b": a[1:]}]) == t.numel() * 4 + a.nbytes
    assert held_bytes(torch.nn.Linear(3, 2)) == (6 + 2) * 4


@pytest.mark.parametrize("name", devices.available())
def test_every_bundled_profile_within_its_bytes_per_weight_budget(name):
    array, x = programmed(name)
    n = array.weights.numel()
    assert held_bytes(array) / n <= budget(array.profile)
    weights = held_bytes(array.weights)  # the tiles read their targets from the array's weights
    assert (held_bytes([array.tiles, array.weights]) - weights) / n <= TILES
    if array.profile.drift is not None:  # ageing regenerates the state, it keeps nothing more
        array.age(3.0e7)
        array.calibrate(x, 2)
        array.read(x, 4)
        assert held_bytes(array) / n <= budget(array.profile)


def test_ageing_regenerates_the_programmed_state_bit_for_bit():
    """The tiles keep no conductances: ageing away and back gives the programmed buffers exactly,
    and a tile's regenerated programming is the same at every call."""
    array, _ = programmed("pcm")
    before = [array.conductance.clone(), array.variance.clone(), array.floor.clone(), array.col_scale.clone()]
    array.age(3.0e7, compensate=False)
    assert not torch.equal(array.conductance, before[0])
    array.age(array.profile.time_since_programming, compensate=True)
    after = [array.conductance, array.variance, array.floor, array.col_scale]
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
    tile = array.tiles[1]
    first, second = tile.programmed(), tile.programmed()
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_vote_group_buffers_are_released_by_a_plain_read():
    array, x = programmed("pcm")
    n = array.weights.numel()
    steady = held_bytes(array)
    array.read(x, 5, group=ReadGroup(9, 1e-6))
    grouped = held_bytes(array)
    assert grouped - steady == 6 * n  # the group's float32 conductance and bfloat16 fresh variance
    array.read(x, 6)
    assert held_bytes(array) == steady


def test_verify_histogram_counts_every_cell_write():
    array, _ = programmed("reram")
    for tile in array.tiles:
        iterations = tile.verify_iterations  # regenerated per cell
        assert tile.verify_histogram.sum() == iterations.size
        assert tile.verify_total == int(iterations.sum())


def test_tiles_read_their_targets_from_their_own_arrays_weights():
    """One home: the tiles hold the array's weights tensor itself, in a deep copy the copy's
    (whose regenerated programming is the original's, bit for bit)."""
    array, x = programmed("pcm")
    twin = copy.deepcopy(array)
    assert all(t.weights is array.weights for t in array.tiles)
    assert all(t.weights is twin.weights for t in twin.tiles)
    assert twin.weights.data_ptr() != array.weights.data_ptr()
    for a in (twin, array):
        a.age(3.0e7)
        a.calibrate(x, 2)
    assert torch.equal(twin.conductance, array.conductance)
    assert torch.equal(twin.read(x, 7), array.read(x, 7))


@pytest.mark.parametrize("name", ["reram", "nand"])
def test_a_float16_conductance_is_read_as_its_float32_values(name):
    """The same bits as the float32 values of the float16 buffer, on the kernels' path (one launch
    and several, the converted bands cached or not) and on the torch one."""
    array, x = programmed(name)
    assert array.conductance.dtype == torch.float16
    expected = array.read(x, 11), array.read(x[:3], 12), read_torch(array, x, 13)
    for budget in (3 * x.shape[1], array.conductance[0].numel()):  # a few rows a launch: no band
        with mock.patch.object(cpu, "CHUNK_VALUES", budget):         # converted once, the first
            assert torch.equal(array.read(x, 11), expected[0])
    compact, variance = array.conductance, array.variance
    array.conductance = compact.float()
    if variance.dim() == 1:  # a variance table: the cells' variances it gives, per cell
        array.variance = torch.stack([cell_variances(compact, variance, i, compact.shape[1])
                                      for i in range(len(array.bands))])
    assert torch.equal(array.read(x, 11), expected[0])
    assert torch.equal(array.read(x[:3], 12), expected[1])
    assert torch.equal(read_torch(array, x, 13), expected[2])


def test_a_variance_stored_as_one_value_gives_the_product_within_its_bound():
    """Row sums of u^2 times the one value against the exact product with every cell's variance."""
    array, x = programmed("reram")
    rows = array.bands[0][1]
    u2 = (torch.rand(50, rows, generator=torch.Generator().manual_seed(5)) ** 2).to(torch.bfloat16)
    out = torch.empty(50, array.shape[1], dtype=torch.bfloat16)
    Products(array.conductance, array.variance, cpu.scratch, 0).spread(0, rows, u2, out)
    exact = u2.double() @ array.variance[0, :rows].double()
    assert float(((out.double() - exact).abs() / exact).max()) <= variance_error_bound(rows)


@pytest.mark.parametrize("name", ["reram", "neurram", "nand"])
def test_float16_conductance_is_the_float32_value_rounded_below_the_read_noise(name):
    """Each stored value is the tile's float32 (G+ - G-) / (g_max - g_min) rounded once to float16:
    within 2^-11 of it (2^-25 absolute below float16's normal range, 2^-14), at most 6.5 % of the
    pair's read-noise std per cell in the normal range (2^-11 |v| against the profile's smallest
    read std at |v|, docs/physics.md, "Stored state"), and a column's summed rounding at most 5 %
    of its read-noise std for unit inputs (NAND's pairs at g_min, whose own read noise is far
    below float16's absolute step, included)."""
    array, _ = programmed(name)
    for tile in array.tiles:
        i = [r0 for r0, _ in array.bands].index(tile.row_slice.start)
        g32 = torch.from_numpy(tile.g_diff)
        stored = array.conductance[i, : tile.rows, tile.col_slice]
        assert torch.equal(stored, g32.to(torch.float16))
        v, err = g32.double(), stored.double() - g32.double()
        assert bool((err.abs() <= torch.clamp(v.abs() * 2.0**-11, min=2.0**-25)).all())
        var = torch.from_numpy(tile.read_variance).double()
        normal = v.abs() >= 2.0**-14
        assert float((err.abs() / var.sqrt())[normal].max()) <= 0.065
        assert float((err.sum(0).abs() / var.sum(0).sqrt()).max()) <= 0.05


def test_a_conductance_independent_read_noise_is_stored_as_one_value():
    array, _ = programmed("reram")
    assert array.variance.untyped_storage().nbytes() == 2
    for tile in array.tiles:
        i = [r0 for r0, _ in array.bands].index(tile.row_slice.start)
        cells = torch.from_numpy(tile.read_variance).to(torch.bfloat16)
        assert torch.equal(array.variance[i, : tile.rows, tile.col_slice], cells)
    nand, _ = programmed("nand")  # a conductance-dependent law: a table against the conductance
    assert nand.variance.shape == (TABLE_SIZE,)


def test_a_variance_table_gives_every_cells_variance_within_the_allowance():
    """NAND's variance table, looked up with each cell's float16 conductance, against the tile's
    own float32 variance of that cell (regenerated, not the stored form): within the allowance
    (2^-8 + 2^-10) of it plus the allowance of the column's noise floor per row; pairs with a cell
    above g_min (value >= 0.1) within the allowance of their own variance alone, and some of them
    further than a bfloat16's rounding alone (2^-8 / 2) would put them."""
    array, _ = programmed("nand")
    for tile in array.tiles:
        i = [r0 for r0, _ in array.bands].index(tile.row_slice.start)
        g = array.conductance[:, :, tile.col_slice]
        table = cell_variances(g, array.variance, i, tile.rows).double()
        exact = torch.from_numpy(tile.read_variance).double()
        error = (table - exact).abs()
        floor = torch.from_numpy(tile.floor)
        assert bool((error <= ALLOWANCE * (exact + floor / tile.rows)).all())
        programmed_cell = g[i, : tile.rows].double().abs() >= 0.1
        assert bool(programmed_cell.any())
        worst = float((error / exact)[programmed_cell].max())
        assert 2.0**-9 < worst <= ALLOWANCE


def test_cells_whose_variance_the_table_misses_keep_one_per_cell():
    """Wired NAND cells (each its own wire gain on signal and noise): no table, a variance per cell."""
    p = devices.load("nand", row_wire_resistance=1.856, col_wire_resistance=5.569)
    W = torch.randn(p.tile_rows, p.tile_cols, generator=torch.Generator().manual_seed(3))
    array = CrossbarArray.program(W, p, seed=1)
    assert array.variance.dim() == 3 and array.variance.stride(-1) == 1
    assert array.conductance.dtype == torch.float16


@pytest.mark.parametrize("rows", [256, 200])
def test_the_ideal_profile_reads_its_weights_themselves(rows):
    """The ideal profile's conductance buffer is the array's weights (one storage, padded to whole
    bands where the rows are not a multiple of the tile's), read with a column scale of 1: the
    exact product to float32 rounding."""
    p = devices.load("ideal")
    gen = torch.Generator().manual_seed(4)
    W = torch.randn(rows, 2 * p.tile_cols, generator=gen)
    x = torch.rand(8, rows, generator=gen) * 2 - 1
    array = CrossbarArray.program(W, p, seed=1)
    assert array.conductance.untyped_storage().data_ptr() == array.weights.untyped_storage().data_ptr()
    assert torch.equal(array.weights, W)
    assert bool((array.col_scale == 1).all())
    assert held_bytes(array) <= held_bytes(array.weights) + 0.5 * W.numel()  # no second copy (4 bytes)
    y, exact = array.read(x, None), (x.double() @ W.double()).float()
    assert float((y - exact).abs().max()) <= 1e-5 * float(exact.abs().max())
    assert np.allclose(array.effective_weights(), W.numpy(), rtol=0, atol=0)


def test_a_chip_reading_in_time_stays_within_the_budget():
    """A PCM chip in the default "time" mode holds its session folded into the conductance
    and one call's buffers (float32 conductance, bfloat16 variance) after a forward: still
    within issue 27's budget with drift."""
    from crossbar.nn import convert

    p = devices.load("pcm")
    x = torch.rand(16, 2 * p.tile_rows, generator=torch.Generator().manual_seed(0))
    net = convert(torch.nn.Sequential(torch.nn.Linear(2 * p.tile_rows, 2 * p.tile_cols)), p, seed=1,
                  calibration=x)
    net(x)
    array = net[0].array
    assert array._folded is not None and array._group is not None  # what the call holds
    assert held_bytes(array) / array.weights.numel() <= budget(p)
