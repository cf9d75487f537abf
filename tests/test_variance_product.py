"""The read's variance product through float32 (crossbar.read.variance) against torch's own
bfloat16 product, bit for bit, and the widening kernel against its definition in NumPy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crossbar import CrossbarArray, devices
from crossbar.read import cpu, variance
from crossbar.seeds import Stream, derive
from crossbar.threads import limit_threads


def squares(gen: torch.Generator, *shape: int) -> torch.Tensor:
    """DAC-like squared inputs: (k / 63)^2 rounded to bfloat16, a third of them zero."""
    levels = torch.randint(0, 64, shape, generator=gen).float() / 63
    levels[torch.rand(shape, generator=gen) < 1 / 3] = 0
    return (levels * levels).to(torch.bfloat16)


def cell_variances(gen: torch.Generator, *shape: int) -> torch.Tensor:
    """Cell variances over several decades (bfloat16), as a read state holds them."""
    return (torch.rand(shape, generator=gen) ** 4 * 1e-3).to(torch.bfloat16)


def widened_reference(src: np.ndarray, groups: int, inner: int, block: int) -> tuple[np.ndarray, int]:
    """widen_swapped's definition in NumPy: pairs of inner indices swapped, bfloat16 -> float32
    bit patterns, below 2^-126 a signed zero; the smallest positive pattern (-1 if a sign is set)."""
    order = np.array([j ^ 1 if j < inner - inner % 2 else j for j in range(inner)])
    w = (src.reshape(groups, inner, block)[:, order, :].astype(np.uint32) << 16).ravel()
    w = np.where((w & 0x7F800000) != 0, w, w & 0x80000000)
    magnitude = w & 0x7FFFFFFF
    low = int(magnitude[magnitude != 0].min()) if (magnitude != 0).any() else 0x7F800000
    return w, (-1 if (w & 0x80000000).any() else low)


@pytest.mark.parametrize("groups,inner,block",
                         [(300, 256, 1), (50, 9, 1), (2, 17, 33), (3, 64, 100), (4, 1, 5)])
def test_widening_kernel_matches_its_definition(groups, inner, block):
    rng = np.random.default_rng(inner)
    src = rng.integers(0, 0x10000, groups * inner * block).astype(np.uint16)
    src[::7] = 0
    src[::11] &= 0x807F  # below 2^-126 (zero exponent), some with the sign set
    for patterns in (src, src & 0x7FFF):  # with and without negative values
        out = np.empty(patterns.size, np.float32)
        low = variance.widen_swapped(patterns, groups, inner, block, out)
        want, want_low = widened_reference(patterns, groups, inner, block)
        assert np.array_equal(out.view(np.uint32), want)
        assert low == want_low


@pytest.mark.parametrize("shape", [(3, 1000, 256, 256), (1, 40, 255, 257), (2, 32, 128, 300),
                                   (4, 64, 256, 1024), (1, 1000, 16, 256), (1, 5, 256, 256),
                                   (1, 300, 512, 300), (1, 700, 200, 64), (2, 33, 2, 16), (1, 50, 9, 32)])
def test_product_has_the_bfloat16_bits(shape):
    """Inside the routed region and outside it (few inner rows, rows or columns, a long inner
    size): the same bits."""
    batch, rows, inner, cols = shape
    gen = torch.Generator().manual_seed(rows * inner + cols)
    u2, cells = squares(gen, batch, rows, inner), cell_variances(gen, batch, inner, cols)
    want = torch.matmul(u2, cells)
    out = torch.empty_like(want)
    with variance.routing():  # the region with the bfloat16 bits, not only the faster part of it
        variance.product(u2, cells, out, cpu.scratch)
        assert torch.equal(out.view(torch.int16), want.view(torch.int16))
    operand = variance.product(u2, cells, out, cpu.scratch)
    assert torch.equal(out.view(torch.int16), want.view(torch.int16))
    if operand is not None:  # the widened variances reused for a second product
        u2 = squares(gen, batch, rows, inner)
        variance.product(u2, cells, out, cpu.scratch, operand)
        assert torch.equal(out.view(torch.int16), torch.matmul(u2, cells).view(torch.int16))


def test_products_below_float32_normals_keep_the_bfloat16_bits():
    """Products under 2^-126 (flushed by the bfloat16 kernel) take the bfloat16 kernel itself."""
    gen = torch.Generator().manual_seed(5)
    u2 = squares(gen, 1, 64, 256)
    u2[0, 3] = 0
    u2[0, 3, 5] = 2.0**-90
    cells = cell_variances(gen, 1, 256, 256)
    cells[0, 5] = 2.0**-40  # row 3's only term: 2^-130, a float32 subnormal the bfloat16 kernel flushes
    out = torch.empty(1, 64, 256, dtype=torch.bfloat16)
    variance.product(u2, cells, out, cpu.scratch)
    assert torch.equal(out.view(torch.int16), torch.matmul(u2, cells).view(torch.int16))


def test_only_large_enough_shapes_are_routed():
    assert not variance.routed(variance.MIN_ROWS - 1, 256, 256)
    assert not variance.routed(1000, 256, variance.MIN_COLS - 1)
    assert not variance.routed(1000, variance.MIN_INNER - 1, 256)
    assert not variance.routed(1000, variance.MAX_INNER + 1, 256)
    with variance.bfloat16_only():
        assert not variance.routed(1000, 256, 256)
    with variance.routing():  # every shape with the bfloat16 bits in float32
        smallest = variance.MIN_ROWS, variance.EXACT_INNER, variance.EXACT_COLS
        assert variance.routed(*smallest) == variance.agrees()
        assert not variance.routed(variance.MIN_ROWS, variance.EXACT_INNER - 1, 256)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("profile,shape", [("pcm", (784, 256)), ("pcm", (520, 300)), ("pcm", (300, 40)),
                                           ("nand", (600, 300))])
def test_reads_have_the_bits_of_the_bfloat16_product(profile, shape, threads):
    """A whole read (chunked, batched bands, a short last band; PCM's per-cell variances and
    NAND's table) with the float32 route and with every product torch's bfloat16 one, at one
    and two threads (the squares are widened in parts)."""
    rng = np.random.default_rng(3)
    W = rng.normal(0, 0.1, size=shape).astype(np.float32)
    x = torch.from_numpy(rng.random((700, shape[0])).astype(np.float32))
    array = CrossbarArray.program(W, devices.load(profile), seed=1)
    array.calibrate(x[:128], key=derive(3, Stream.CALIBRATION_READ))
    key = derive(3, Stream.READ, 7)
    with limit_threads(threads):
        routed = array.mvm(x, key=key)
        with variance.bfloat16_only():
            assert torch.equal(routed, array.mvm(x, key=key))


@pytest.mark.skipif(variance.bfloat16_kernel() != "avx512_core_bf16",
                    reason="the route is built for AVX512-BF16 without AMX")
def test_the_probe_agrees_where_its_kernel_runs():
    """On the CPUs the route was built for, the probe agrees, so reads take the route (the
    bit-identity tests above then compare the route itself, not the fallback)."""
    assert variance.agrees()
    assert variance.routed(1000, 256, 256)
