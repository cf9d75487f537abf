"""Votes that share work: K stacked copies of one batch are converted and multiplied once and
read with fresh noise per copy, bit for bit the reads of every row (issue 22)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crossbar import CrossbarArray, devices, models
from crossbar.nn import calibrate, convert, reseed, stacked_copies
from crossbar.read import cpu as readcpu
from crossbar.read.ops import im2col
from crossbar.seeds import Stream, derive

COPIES = 5


def _array(n_in: int = 150, n_out: int = 40) -> CrossbarArray:
    """PCM on 64 x 32 tiles: three row bands (64, 64, 22 rows), exact per-cell read noise."""
    pcm = devices.load("pcm", tile_rows=64, tile_cols=32)
    W = np.random.default_rng(0).normal(0, 0.1, size=(n_in, n_out)).astype(np.float32)
    arr = CrossbarArray.program(W, pcm, seed=1)
    arr.calibrate(np.random.default_rng(1).random((64, n_in)).astype(np.float32),
                  derive(0, Stream.CALIBRATION_READ))
    return arr


def _counting(monkeypatch, name: str) -> list[tuple[int, ...]]:
    """Record the shape of the rows (or images) each call of the DAC kernel ``name`` converts."""
    seen: list[tuple[int, ...]] = []
    kernel = getattr(readcpu.dac_kernels, name)

    def counted(x, *args):
        seen.append(x.shape)
        return kernel(x, *args)

    monkeypatch.setattr(readcpu.dac_kernels, name, counted)
    return seen


@pytest.mark.parametrize("chunk", [None, 16])
def test_stacked_rows_read_once_give_the_bits_of_every_row(monkeypatch, chunk):
    arr = _array()
    if chunk:  # several launches per copy
        monkeypatch.setattr(readcpu, "CHUNK_ROWS", chunk)
    x = torch.from_numpy(np.random.default_rng(2).random((40, 150)).astype(np.float32))
    stacked = x.repeat(COPIES, 1)
    key = derive(0, Stream.READ, 7)
    converted = _counting(monkeypatch, "dac")
    arr.stats.reset()
    plain = arr.read(stacked, key)
    counted = (arr.stats.conversions, arr.stats.clipped)
    assert sum(c[0] for c in converted) == COPIES * 40
    converted.clear()
    arr.stats.reset()
    shared = arr.read(stacked, key, copies=COPIES)
    assert sum(c[0] for c in converted) == 40  # the DAC (and the products after it) ran on one copy only
    assert (arr.stats.conversions, arr.stats.clipped) == counted  # every copy's conversions counted
    assert counted[0] == COPIES * 40 * arr.plan.reads * 3 * 40
    one_by_one = torch.cat([arr.read(x, key, row0=k * 40) for k in range(COPIES)])
    assert torch.equal(shared, plain) and torch.equal(shared, one_by_one)
    assert not torch.equal(shared[:40], shared[40:80])  # each copy has its own read noise


def test_rows_that_are_not_copies_are_read_row_by_row(monkeypatch):
    arr = _array()
    x = torch.from_numpy(np.random.default_rng(3).random((40, 150)).astype(np.float32))
    stacked = x.repeat(COPIES, 1)
    stacked[3 * 40 + 5, 17] += 1e-7  # one bit differs in the fourth copy
    assert readcpu.shared_copies(stacked, COPIES) == 1
    assert readcpu.shared_copies(x.repeat(COPIES, 1), COPIES) == COPIES
    assert readcpu.shared_copies(x.repeat(COPIES, 1)[:-1], COPIES) == 1  # not a whole number of copies
    zeros = torch.zeros(4, 150)
    zeros[2] = -0.0  # the same value, another bit pattern
    assert readcpu.shared_copies(zeros, 2) == 1
    key = derive(0, Stream.READ, 8)
    converted = _counting(monkeypatch, "dac")
    assert torch.equal(arr.read(stacked, key, copies=COPIES), arr.read(stacked, key))
    assert [c[0] for c in converted] == [COPIES * 40, COPIES * 40]


def test_stacked_images_of_a_convolution_read_once(monkeypatch):
    pcm = devices.load("pcm", tile_rows=16, tile_cols=32)  # 27 patch rows: bands of 16 and 11
    W = np.random.default_rng(4).normal(0, 0.2, size=(27, 12)).astype(np.float32)
    arr = CrossbarArray.program(W, pcm, seed=2)
    images = torch.from_numpy(np.random.default_rng(5).random((3, 3, 9, 9)).astype(np.float32))
    stacked = images.repeat(COPIES, 1, 1, 1)
    geometry = ((3, 3), (1, 1), (1, 1), (1, 1))
    arr.calibrate(im2col(images, *geometry), derive(0, Stream.CALIBRATION_READ))
    key = derive(0, Stream.READ, 9)
    converted = _counting(monkeypatch, "dac_patches")
    plain = arr.read_patches(stacked, *geometry, key)
    assert sum(c[0] for c in converted) == COPIES * 3
    converted.clear()
    shared = arr.read_patches(stacked, *geometry, key, copies=COPIES)
    assert sum(c[0] for c in converted) == 3
    assert torch.equal(shared, plain)
    assert not torch.equal(shared[:3], shared[3:6])


def test_a_vote_pass_of_a_converted_network_gives_the_same_bits(monkeypatch):
    net = convert(models.cnn6(seed=0).eval(), "pcm", seed=0)
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(6))
    calibrate(net, x)
    stacked = x.repeat(COPIES, 1, 1, 1)
    converted = _counting(monkeypatch, "dac_patches")
    reseed(net, 11)
    with torch.no_grad():
        plain = net(stacked)
    def images(channels: int) -> int:  # images converted by the layers with this many input channels
        return sum(c[0] for c in converted if c[1] == channels)

    first_plain, later_plain = images(1), images(32)
    assert first_plain == COPIES * 4
    converted.clear()
    reseed(net, 11)
    with torch.no_grad(), stacked_copies(net, COPIES):
        shared = net(stacked)
    assert images(1) == 4  # the first layer converted one copy
    assert images(32) == later_plain  # later layers see copies made different by the noise
    assert torch.equal(shared, plain)
    assert not torch.equal(shared[:4], shared[4:8])
    assert all(layer.copies == 1 for layer in net.modules() if hasattr(layer, "copies"))
