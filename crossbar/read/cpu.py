"""The CPU read of a :class:`~crossbar.read.array.CrossbarArray`: Numba DAC, one float32 product (and
one bfloat16 variance product) per row band and read, Numba noise + ADC + digital sum.

Reused scratch buffers, reads chunked by input values so a launch's buffers stay in
cache; results do not depend on the chunking (a row's noise is keyed by its index in
the batch). Bound management is read by :func:`crossbar.read.torch_read.read_torch`.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from crossbar.threads import torch_threads

from . import adc_kernels, dac_kernels
from .layout import Products, bits

# Rows read per kernel launch on the CPU, at most CHUNK_VALUES input voltages in all.
CHUNK_ROWS = 4096
CHUNK_VALUES = 1 << 22
_WORKSPACE: dict[str, torch.Tensor] = {}
NO_VARIANCE = np.empty((0, 0, 0, 0), dtype=np.uint16)
NO_SQUARES = np.empty(0, dtype=np.uint16)


def scratch(name: str, numel: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A reused CPU buffer of ``numel`` entries (fresh large allocations cost page faults on
    every read). Only for use inside ``torch_threads()``, which runs one read at a time."""
    buf = _WORKSPACE.get(name)
    if buf is None or buf.numel() < numel or buf.dtype != dtype:
        buf = torch.empty(numel, dtype=dtype)
        _WORKSPACE[name] = buf
    return buf[:numel]


def chunk_rows(array, per: int = 1) -> int:
    """Rows per launch: a multiple of ``per`` (a convolution's positions per image) with at most
    CHUNK_VALUES voltages of all reads and at most CHUNK_VALUES currents of all bands and reads
    (the scratch of a read stays bounded whatever the size of the matrix)."""
    reads = array.plan.reads
    rows = min(CHUNK_ROWS, CHUNK_VALUES // (array.shape[0] * reads),
               CHUNK_VALUES // (len(array.bands) * reads * array.shape[1]))
    return max(1, max(1, rows) // per) * per


def shared_copies(x: torch.Tensor, copies: int) -> int:
    """``copies`` if the rows of ``x`` (rows first, contiguous) are that many bit-identical blocks
    (the stacked copies of a vote pass as its first layer sees them), else 1."""
    n = x.shape[0]
    if copies <= 1 or n % copies or x.dtype != torch.float32:
        return 1
    blocks = x.view(torch.int32).reshape(copies, -1)  # bit patterns: NaN and -0.0 compare exactly
    first = blocks[0]
    return copies if all(torch.equal(blocks[k], first) for k in range(1, copies)) else 1


def read_cpu(array, convert, keys: np.ndarray, row0: int, out: torch.Tensor, chunk: int,
             conductance: torch.Tensor, variance: torch.Tensor | None, copies: int = 1) -> int | None:
    """DAC, products and ADC of every row; returns the clipped conversions (None if the DAC met
    NaN or infinity).

    ``out`` (groups x rows per group x outputs, any strides) receives row b at
    out[b // P, b % P]; ``chunk`` (a multiple of P) rows per launch;
    ``convert(c0, m, u, u2, scale)`` runs the DAC of rows c0 .. c0 + m and returns whether
    the negative phase's reads hold voltages (:func:`_signed`; where they do not, the DAC
    leaves them unwritten and their products are not computed: their currents and variances
    are zeros, what the products would give);
    ``keys`` (bands x reads) the noise streams; ``conductance``/``variance``
    the band buffers to read (the array's, or a vote group's). ``copies``: the
    rows are that many copies of the first rows / copies (a multiple of P; see
    :func:`shared_copies`): the DAC and both products run once on them and only
    the noise, ADC and sum run for every copy, each copy's rows keyed by their
    index in the whole batch, so the bits are those of reading every row.
    """
    plan = array.plan
    reads = plan.reads
    per_group = out.shape[1]
    rows = out.shape[0] * per_group // copies
    fs, cs = array.full_scale.numpy(), array.col_scale.numpy()
    floor = array.floor.numpy() if array.floor is not None else np.empty((0, 0), np.float32)
    weights = plan.weights_array
    noisy = variance is not None
    n_in, n_out, bands = array.shape[0], array.shape[1], len(array.bands)
    height = conductance.shape[1]
    products = Products(conductance, variance, scratch, CHUNK_VALUES)  # (stored forms: layout.py)
    # Full-height bands (all but perhaps the last) in one batched product where the forms allow it.
    full = sum(1 for r0, r1 in array.bands if r1 - r0 == height) if products.batched else 0
    clipped = 0
    for c0 in range(0, rows, chunk):
        m = min(chunk, rows - c0)
        u = scratch("u", m * n_in * reads)
        u2 = scratch("u2", m * n_in * reads, torch.bfloat16) if noisy else None
        scale = scratch("scale", m).numpy()
        signed = convert(c0, m, u.numpy(), bits(u2) if noisy else NO_SQUARES, scale)
        if not np.isfinite(scale).all():  # the DAC marks rows holding NaN or infinity
            return None
        mr = m * reads  # rows of every read of one band
        current = scratch("current", bands * mr * n_out).view(bands, mr, n_out)
        var = None
        if noisy:
            var = scratch("variance", bands * mr * n_out, torch.bfloat16).view(bands, mr, n_out)
        live = range(reads)  # the reads whose products are computed, the rest zero
        if not signed:
            live = range(0, reads, 2)
            current.view(bands, reads, m, n_out)[:, 1::2] = 0.0
            if noisy:
                var.view(bands, reads, m, n_out)[:, 1::2] = 0.0
        _products(products, array.bands, full, height, u, u2, current, var, live, m)
        clips = np.empty(m, dtype=np.int64)
        for b0 in range(c0, c0 + copies * rows, rows):  # copy k's rows start at k * rows
            adc_kernels.read_bands(current.view(bands, reads, m, n_out).numpy(),
                                    bits(var).reshape(bands, reads, m, n_out) if noisy else NO_VARIANCE,
                                    floor, keys, weights, fs, plan.adc_bits, cs, scale, row0 + b0,
                                    out[b0 // per_group : (b0 + m) // per_group].numpy(), clips)
            clipped += int(clips.sum())
    return clipped


def _signed(plan, inputs: np.ndarray) -> bool:
    """Whether a read of ``inputs`` drives its negative phase: with one phase always; with two
    (separate positive and negative reads) only if an input is negative (NaN and -0.0 are not:
    a row holding NaN is refused, and -0.0 codes to a zero voltage in both phases)."""
    return plan.phases != 2 or bool((inputs < 0).any())


def _products(products: Products, band_rows, full: int, height: int, u: torch.Tensor,
              u2: torch.Tensor | None, current: torch.Tensor, var: torch.Tensor | None, live: range,
              m: int) -> None:
    """The float32 products (and bfloat16 variance products) of every band's reads ``live`` (all
    reads, or those of the positive phase) of ``m`` rows into ``current`` and ``var`` (bands x
    reads * m x outputs). Every read: the first ``full`` bands in one batched product. The
    positive phase only: each band's and read's rows (contiguous, as the variance product needs
    its operands) in a product of their own."""
    mr = current.shape[1]
    every = live.step == 1
    if every and full > 1:
        lead = slice(0, mr * height * full)
        torch.bmm(u[lead].view(full, mr, height), products.leading(full), out=current[:full])
        if var is not None:  # the variance product, its u^2 rounded to bfloat16 by the DAC
            products.spread_leading(full, u2[lead].view(full, mr, height), var[:full])
    for i, (r0, r1) in enumerate(band_rows):
        if every and full > 1 and i < full:
            continue
        for r in (range(1) if every else live):
            rows = slice(0, mr) if every else slice(r * m, (r + 1) * m)
            products.current(i, r1 - r0, u[mr * r0 : mr * r1].view(mr, r1 - r0)[rows], current[i, rows])
            if var is not None:
                products.spread(i, r1 - r0, u2[mr * r0 : mr * r1].view(mr, r1 - r0)[rows], var[i, rows])


def read_rows_cpu(array, x: torch.Tensor, keys: np.ndarray, row0: int, conductance: torch.Tensor,
                  variance: torch.Tensor | None, copies: int = 1) -> tuple[torch.Tensor, int | None]:
    """The CPU read of the rows of ``x`` (rows x outputs, and the clipped conversions, None if ``x``
    holds NaN or infinity); ``copies``: ``x`` may be that many stacked copies (:func:`read_cpu`)."""
    plan = array.plan
    starts = np.array([r0 for r0, _ in array.bands] + [array.shape[0]], dtype=np.int64)

    def convert(c0, m, u, u2, scale):
        rows = x[c0 : c0 + m].numpy()
        signed = _signed(plan, rows)
        dac_kernels.dac(rows, plan.bits, plan.widths_array, plan.phases, starts, u, u2, scale, signed)
        return signed

    out = torch.empty(x.shape[0], array.shape[1])
    with torch_threads():
        clipped = read_cpu(array, convert, keys, row0, out[:, None, :], chunk_rows(array), conductance,
                           variance, shared_copies(x, copies))
    return out, clipped


def read_patches_cpu(array, images: torch.Tensor, geometry, out_hw: np.ndarray, keys: np.ndarray,
                     conductance: torch.Tensor, variance: torch.Tensor | None, copies: int = 1
                     ) -> tuple[torch.Tensor, int | None]:
    """A convolution's read on the CPU (N x outputs x H_out x W_out, and the clipped conversions,
    None if the images hold NaN or infinity): the DAC kernel takes the patches straight from
    the images, a few whole images per launch, and the ADC kernel writes the output in place;
    bit for bit the read of ``im2col(images)`` (no bias). ``images`` may have any strides (a
    slice of a batch's channels is read in place). ``copies``: the images may be that many
    stacked copies (:func:`read_cpu`)."""
    n = images.shape[0]
    positions = int(out_hw[0] * out_hw[1])
    plan = array.plan
    starts = np.array([r0 for r0, _ in array.bands] + [array.shape[0]], dtype=np.int64)

    def convert(c0, m, u, u2, scale):
        i0 = c0 // positions
        chunk = images[i0 : i0 + m // positions].numpy()
        signed = _signed(plan, chunk)
        dac_kernels.dac_patches(chunk, *geometry, out_hw, plan.bits, plan.widths_array, plan.phases,
                                starts, u, u2, scale, signed)
        return signed

    out = torch.empty(n, array.shape[1], int(out_hw[0]), int(out_hw[1]))
    rows_out = out.view(n, array.shape[1], positions).transpose(1, 2)  # row b: image, position
    with torch_threads():
        clipped = read_cpu(array, convert, keys, 0, rows_out, chunk_rows(array, positions), conductance,
                           variance, shared_copies(images, copies))
    return out, clipped


def values_cpu(array, x: torch.Tensor, keys: np.ndarray) -> Iterator[np.ndarray]:
    """The pre-clip values every conversion of a read of ``x`` (rows x inputs) sees, noise from
    ``keys`` included, one row band at a time (reads x rows x outputs, float32): what a range
    calibration measures, computed as :func:`read_cpu` reads."""
    plan = array.plan
    n_in, n_out = array.shape
    m, reads = x.shape[0], plan.reads
    noisy = array.variance is not None
    floor = array.floor.numpy() if array.floor is not None else np.empty((0, 0), np.float32)
    u = torch.empty(m * n_in * reads)
    u2 = torch.empty(m * n_in * reads, dtype=torch.bfloat16) if noisy else None
    scale = torch.empty(m)
    starts = np.array([r0 for r0, _ in array.bands] + [n_in], dtype=np.int64)
    with torch_threads():
        dac_kernels.dac(x.numpy(), plan.bits, plan.widths_array, plan.phases, starts, u.numpy(),
                        bits(u2) if noisy else NO_SQUARES, scale.numpy())
    current = torch.empty(1, reads * m, n_out)
    var = torch.empty(1, reads * m, n_out, dtype=torch.bfloat16) if noisy else None
    products = Products(array.conductance, array.variance, scratch, 0)
    for i, (r0, r1) in enumerate(array.bands):
        out = np.empty((1, reads, m, n_out), dtype=np.float32)
        band = slice(reads * m * r0, reads * m * r1)
        with torch_threads():
            products.current(i, r1 - r0, u[band].view(reads * m, r1 - r0), current[0])
            if noisy:
                products.spread(i, r1 - r0, u2[band].view(reads * m, r1 - r0), var[0])
            adc_kernels.noisy_values(current.view(1, reads, m, n_out).numpy(),
                                      bits(var).reshape(1, reads, m, n_out) if noisy else NO_VARIANCE,
                                      floor[i : i + 1], keys[i : i + 1], 0, out)
        yield out[0]
