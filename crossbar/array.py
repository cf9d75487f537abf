"""A weight matrix mapped onto crossbar tiles: the one read path every caller uses.

``W`` (inputs x outputs) is split into tiles of ``tile_rows x tile_cols`` (rows
= inputs, columns = outputs). Within a tile, column j of W is scaled by its
largest magnitude in that tile, w_max, and stored as a differential pair

    G+ = g_min + (g_max - g_min) * max(w, 0) / w_max
    G- = g_min + (g_max - g_min) * max(-w, 0) / w_max

so that G+ - G- is proportional to w. Each tile's columns are digitised by its
ADC, rescaled by w_max (a digital multiply per column) and the partial sums of
the row tiles are added digitally, as in hardware.

Reads are pure: ``mvm(x, key)`` is a function of the programmed state, the
input and an explicit key (from :func:`crossbar.seeds.derive`); the array
keeps no read counter. Whoever owns a sequence of reads (a layer, a vote, an
experiment) owns the counter. The programmed state lives in torch buffers, so
``array.to("cuda")`` moves it and ``state_dict`` saves it; NumPy views are
taken only where the Numba kernels are called.

Abstract profiles (the Qin paper's Gaussian models) have no conductance
physics: their MVM is the exact product plus output noise (Eq. 2 or 3),
drawn by :func:`crossbar.readops.qin_noise`, the sampler the noise-injection
layers use too.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from crossbar import kernels, read_kernels
from crossbar.operands import as_matrix, check_finite, check_key
from crossbar.readops import im2col, keyed_normal, qin_noise, read_torch
from crossbar.seeds import kernel_key
from crossbar.threads import torch_threads
from crossbar.tile import Tile

# Rows read per kernel launch on the CPU, at most CHUNK_VALUES inputs in all: keeps a
# launch's buffers in cache. Results do not depend on it (a row's noise is keyed by its
# index in the batch).
CHUNK_ROWS = 4096
CHUNK_VALUES = 1 << 22
_WORKSPACE: dict[str, torch.Tensor] = {}


def _scratch(name: str, numel: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A reused CPU buffer of ``numel`` entries (fresh large allocations cost page faults on
    every read). Only for use inside ``torch_threads()``, which runs one read at a time."""
    buf = _WORKSPACE.get(name)
    if buf is None or buf.numel() < numel or buf.dtype != dtype:
        buf = torch.empty(numel, dtype=dtype)
        _WORKSPACE[name] = buf
    return buf[:numel]


_NO_VARIANCE = np.empty((0, 0, 0), dtype=np.uint16)
_NO_SQUARES = np.empty(0, dtype=np.uint16)


def _bits(t: torch.Tensor) -> np.ndarray:
    """The uint16 bit patterns of a bfloat16 CPU tensor, as a NumPy view (no copy)."""
    return t.view(torch.int16).numpy().view(np.uint16)


class CrossbarArray(nn.Module):
    """A weight matrix programmed onto the tiles of one device profile.

    Create with :meth:`program`; read with :meth:`mvm`. ``tiles`` is the
    programming record (conductances, write counts, drift exponents, on the
    CPU); the buffers hold what a read needs, per row band of tiles:

    - ``conductance`` (bands x tile_rows x outputs, float32): (G+ - G-) / (g_max - g_min),
    - ``variance`` (same shape, bfloat16, or None without read noise): per-cell read-noise
      variance in the same unit, the operand of the exact-noise product (see :meth:`mvm`),
    - ``full_scale`` and ``col_scale`` (bands x outputs, float64): ADC full scale and the
      digital rescale w_max (times the drift-compensation gain),
    - ``weights`` (inputs x outputs, float32): the target weights (the exact product of
      abstract profiles, and what :meth:`program` was given).
    """

    def __init__(self, weights: torch.Tensor, profile, seed: int, tiles: list[Tile],
                 col_scales: list[np.ndarray]) -> None:
        super().__init__()
        self.profile = profile
        self.seed = seed
        self.tiles = tiles
        self._col_scales = col_scales
        n_in = weights.shape[0]
        rows = profile.tile_rows
        self.bands = tuple((r0, min(r0 + rows, n_in)) for r0 in range(0, n_in, rows))
        self.register_buffer("weights", weights)
        for name in ("conductance", "variance", "full_scale", "col_scale"):
            self.register_buffer(name, None)
        self._assemble()

    @classmethod
    def program(cls, W, profile, seed: int = 0) -> CrossbarArray:
        """Map ``W`` (inputs x outputs) onto differential pairs and programme every tile once."""
        Wt = as_matrix("W", W, (2,))
        if Wt.shape[0] == 0 or Wt.shape[1] == 0:
            raise ValueError(f"W must have at least one row and column, got shape {tuple(Wt.shape)}")
        W64 = np.asarray(W.detach().cpu().numpy() if isinstance(W, torch.Tensor) else W, dtype=np.float64)
        p = profile
        g_range = p.g_max - p.g_min
        tiles: list[Tile] = []
        scales: list[np.ndarray] = []
        n_in, n_out = W64.shape
        for r0 in range(0, n_in, p.tile_rows):
            for c0 in range(0, n_out, p.tile_cols):
                rows = slice(r0, min(r0 + p.tile_rows, n_in))
                cols = slice(c0, min(c0 + p.tile_cols, n_out))
                block = W64[rows, cols]
                w_max = np.abs(block).max(axis=0)
                w_max[w_max == 0] = 1.0
                target_plus = p.g_min + g_range * np.maximum(block, 0.0) / w_max
                target_minus = p.g_min + g_range * np.maximum(-block, 0.0) / w_max
                with torch_threads():
                    tiles.append(Tile.program(len(tiles), rows, cols, target_plus, target_minus, p, seed))
                scales.append(w_max.astype(np.float64))
        return cls(Wt.clone(), p, int(seed), tiles, scales)

    # ------------------------------------------------------------------ state
    def _assemble(self) -> None:
        """Gather the tiles' read calibration into the band buffers (after programming and drift)."""
        device = self.weights.device
        if self.is_abstract:
            return
        n_out = self.shape[1]
        rows = max(r1 - r0 for r0, r1 in self.bands)
        g = np.zeros((len(self.bands), rows, n_out), dtype=np.float32)
        var = np.zeros_like(g)
        fs = np.ones((len(self.bands), n_out))
        cs = np.zeros((len(self.bands), n_out))
        starts = [r0 for r0, _ in self.bands]
        for tile, scale in zip(self.tiles, self._col_scales, strict=True):
            i = starts.index(tile.row_slice.start)
            g[i, : tile.rows, tile.col_slice] = tile.g_diff
            if tile.read_variance is not None:
                var[i, : tile.rows, tile.col_slice] = tile.read_variance
            fs[i, tile.col_slice] = tile.full_scale
            cs[i, tile.col_slice] = scale * tile.drift_gain
        self.conductance = torch.from_numpy(g).to(device)
        self.variance = torch.from_numpy(var).to(device, torch.bfloat16) if var.any() else None
        self.full_scale = torch.from_numpy(fs).to(device)
        self.col_scale = torch.from_numpy(cs).to(device)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.weights.shape)

    @property
    def is_abstract(self) -> bool:
        return self.profile.output_noise is not None

    @property
    def output_sigma(self) -> float:
        """Standard deviation of an abstract profile's output noise (0 for physical profiles)."""
        noise = self.profile.output_noise
        return 0.0 if noise is None else float(noise.sigma * self.profile.noise_scale)

    @property
    def is_deterministic(self) -> bool:
        """True when a read draws no random numbers (no read noise, no output noise): ``key`` may be None."""
        if self.is_abstract:
            return self.output_sigma == 0.0
        return self.variance is None

    def drift(self, t: float, compensate: bool = False) -> None:
        """Apply conductance drift to time ``t`` (s) after programming (profiles with drift only)."""
        if not (isinstance(t, (int, float)) and math.isfinite(t) and t > 0):
            raise ValueError(f"drift time must be a finite number of seconds > 0, got {t!r}")
        with torch_threads():
            for tile in self.tiles:
                tile.drift(float(t), compensate)
        self._assemble()

    def effective_weights(self) -> np.ndarray:
        """The weights the programmed conductances represent (no read noise, ideal converters)."""
        if self.is_abstract:
            return self.weights.cpu().numpy().copy()
        g = self.conductance.cpu().numpy().astype(np.float64)
        cs = self.col_scale.cpu().numpy()
        return np.concatenate([g[i, : r1 - r0] * cs[i] for i, (r0, r1) in enumerate(self.bands)])

    # ------------------------------------------------------------------ reads
    def mvm(self, x, key: int | None = None, bias=None, *, output_noise: bool = True):
        """Analog product ``x @ W (+ bias)`` for a batch x (batch x inputs), read with ``key``.

        ``key``: an integer from :func:`crossbar.seeds.derive` naming this
        read's random numbers; the same key gives the same bits at any thread
        count. It may be None only when the read is deterministic
        (:attr:`is_deterministic`). ``output_noise=False`` leaves out an
        abstract profile's Eq. 2/3 noise (``convert`` places it after the
        batch norm). Accepts a NumPy array or a torch tensor (1-D for one
        vector) and answers in the same type, float32, on the input's device.

        Exact read noise: a column current sum_i u_i G_ij with independent
        cell noise of variance s_ij^2 is Gaussian with variance
        sum_i u_i^2 s_ij^2, so one product of the squared inputs with the
        cell variances (:func:`crossbar.readops.variance_product`) replaces a normal per cell
        and read. That product is taken in bfloat16 with float32 accumulation:
        every term is >= 0, so its relative error is at most about
        3 * 2^-8 + rows * 2^-24 (:func:`crossbar.readops.variance_error_bound`: inputs squared,
        variances and the result each rounded once to 8 significant bits),
        i.e. the noise standard deviation is within 0.6 % of exact.
        """
        torch_like = isinstance(x, torch.Tensor)
        xt = as_matrix("x", x, (1, 2), finite=False)  # read() checks, for free on the CPU
        single = xt.dim() == 1
        if single:
            xt = xt[None, :]
        if xt.shape[1] != self.shape[0]:
            raise ValueError(
                f"x has {xt.shape[1]} inputs per row but the array was programmed with "
                f"{self.shape[0]} inputs (W shape {self.shape})"
            )
        b = None
        if bias is not None:
            b = as_matrix("bias", bias, (1,)).to(xt.device)
            if b.shape[0] != self.shape[1]:
                raise ValueError(f"bias has {b.shape[0]} entries, expected {self.shape[1]} (outputs)")
        y = self.read(xt.to(self.weights.device), key, b, output_noise=output_noise)
        if single:
            y = y[0]
        return y.to(xt.device) if torch_like else y.numpy()

    def read(self, x: torch.Tensor, key: int | None, bias: torch.Tensor | None = None, *,
             row0: int = 0, output_noise: bool = True) -> torch.Tensor:
        """:meth:`mvm` without input checks, for callers that checked already (the torch layers).

        ``x``: a contiguous float32 tensor (rows x inputs) on the array's
        device; NaN or infinity raises ValueError. ``row0``: the index of x's
        first row in the batch the caller splits into several reads with one
        key (its noise is that of the whole batch).
        """
        key = check_key(key)
        deterministic = self.is_deterministic or (self.is_abstract and not output_noise)
        if key is None and not deterministic:
            raise ValueError(
                f"reads of profile {self.profile.name!r} are random (read or output noise): pass "
                "key=crossbar.seeds.derive(seed, Stream.READ, n), a new n for every read"
            )
        if self.is_abstract:
            y = torch.matmul(x, self.weights)
            if not math.isfinite(y.sum().item()):  # NaN or infinity in x reach y (an overflow of
                check_finite("x", x)                # the sum alone only costs the exact check)
            if bias is not None:
                y += bias
            if output_noise and self.output_sigma > 0:
                kind = self.profile.output_noise.kind
                y = qin_noise(y, kind, self.output_sigma, lambda like, m, s: keyed_normal(like, key, m, s),
                              inplace=True)
            return y
        if x.device.type == "cpu":
            dac_bits = self.profile.dac_bits or 0

            def convert(c0, m, starts, u, u2, scale):
                kernels.dac(x[c0 : c0 + m].numpy(), dac_bits, starts, u, u2, scale)

            out = torch.empty(x.shape[0], self.shape[1])
            chunk = max(1, min(CHUNK_ROWS, CHUNK_VALUES // self.shape[0]))
            with torch_threads():
                ok = self._read_cpu(convert, key, row0, out[:, None, :], chunk)
            if not ok:
                check_finite("x", x)
        else:
            check_finite("x", x)
            out = read_torch(self, x, key)
        if bias is not None:
            out += bias
        return out

    def _keys(self, key: int | None) -> np.ndarray:
        return np.array([kernel_key(key or 0, i) for i in range(len(self.bands))], dtype=np.uint64)

    def read_patches(self, images: torch.Tensor, kernel_size, stride, padding, dilation, key: int | None,
                     bias: torch.Tensor | None = None, *, output_noise: bool = True) -> torch.Tensor:
        """A convolution: :meth:`read` of the :func:`im2col` patches of ``images`` (N x C x H x W),
        answered as N x outputs x H_out x W_out.

        On the CPU the DAC kernel reads the patches straight from the images,
        a few images per launch, the patch matrix is never written and the
        ADC kernel writes the output in place; the result is that of
        ``read(im2col(images, ...), key, bias)`` bit for bit.
        """
        geometry = tuple(np.asarray(g, dtype=np.int64) for g in (kernel_size, stride, padding, dilation))
        n, _, h, w = images.shape
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = geometry
        out_hw = np.array([(h + 2 * ph - dh * (kh - 1) - 1) // sh + 1,
                           (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1])
        h_out, w_out = int(out_hw[0]), int(out_hw[1])
        if self.is_abstract or images.device.type != "cpu":
            y = self.read(im2col(images, kernel_size, stride, padding, dilation), key, bias,
                          output_noise=output_noise)
            return y.view(n, h_out, w_out, -1).permute(0, 3, 1, 2).contiguous()
        images = images.contiguous()
        positions = h_out * w_out
        per = max(1, min(CHUNK_ROWS, CHUNK_VALUES // self.shape[0]) // positions)  # whole images per launch
        dac_bits = self.profile.dac_bits or 0

        def convert(c0, m, starts, u, u2, scale):
            i0 = c0 // positions
            chunk = images[i0 : i0 + m // positions].numpy()
            kernels.dac_patches(chunk, *geometry, out_hw, dac_bits, starts, u, u2, scale)

        out = torch.empty(n, self.shape[1], h_out, w_out)
        with torch_threads():
            rows_out = out.view(n, self.shape[1], positions).transpose(1, 2)  # row b: image, position
            ok = self._read_cpu(convert, check_key(key), 0, rows_out, per * positions)
        if not ok:
            check_finite("images", images)
        if bias is not None:
            out += bias[:, None, None]
        return out

    def _read_cpu(self, convert, key: int | None, row0: int, out: torch.Tensor, chunk: int) -> bool:
        """DAC, one float32 product (and one bfloat16 variance product) per row band, ADC (Numba).

        ``out`` (groups x rows per group x outputs, any strides) receives row b
        at out[b // P, b % P]; ``chunk`` (a multiple of P) rows per launch;
        ``convert(c0, m, starts, u, u2, scale)`` runs the DAC of rows c0 .. c0 + m.
        False if the DAC met NaN or infinity.
        """
        per_group = out.shape[1]
        rows = out.shape[0] * per_group
        keys = self._keys(key)
        starts = np.array([r0 for r0, _ in self.bands] + [self.shape[0]], dtype=np.int64)
        fs, cs = self.full_scale.numpy(), self.col_scale.numpy()
        adc_bits = self.profile.adc_bits or 0
        noisy = self.variance is not None
        n_in, n_out, bands = self.shape[0], self.shape[1], len(self.bands)
        height = self.conductance.shape[1]
        full = sum(1 for r0, r1 in self.bands if r1 - r0 == height)
        for c0 in range(0, rows, chunk):
            m = min(chunk, rows - c0)
            u = _scratch("u", m * n_in)
            u2 = _scratch("u2", m * n_in, torch.bfloat16) if noisy else None
            scale = _scratch("scale", m)
            convert(c0, m, starts, u.numpy(), _bits(u2) if noisy else _NO_SQUARES, scale.numpy())
            if not bool(torch.isfinite(scale).all()):  # the DAC marks rows holding NaN or infinity
                return False
            current = _scratch("current", bands * m * n_out).view(bands, m, n_out)
            variance = None
            if noisy:
                variance = _scratch("variance", bands * m * n_out, torch.bfloat16).view(bands, m, n_out)
            # Full-height bands (all but perhaps the last) in one batched product, the rest one by one.
            if full > 1:
                lead = slice(0, m * height * full)
                torch.bmm(u[lead].view(full, m, height), self.conductance[:full], out=current[:full])
                if noisy:  # the variance product, its u^2 rounded to bfloat16 by the DAC
                    torch.bmm(u2[lead].view(full, m, height), self.variance[:full], out=variance[:full])
            for i, (r0, r1) in enumerate(self.bands):
                if full > 1 and i < full:
                    continue
                band = slice(m * r0, m * r1)
                torch.matmul(u[band].view(m, r1 - r0), self.conductance[i, : r1 - r0], out=current[i])
                if noisy:
                    torch.matmul(u2[band].view(m, r1 - r0), self.variance[i, : r1 - r0], out=variance[i])
            read_kernels.read_bands(current.numpy(), _bits(variance) if noisy else _NO_VARIANCE, keys, fs,
                                    adc_bits, cs, scale.numpy(), row0 + c0,
                                    out[c0 // per_group : (c0 + m) // per_group].numpy())
        return True

    def mvm_per_cell(self, x, rng: np.random.Generator, bias=None):
        """Reference read drawing independent noise for every cell and read (slow; a test oracle).

        The converters are those of :meth:`mvm`; the read noise is drawn cell
        by cell (from ``rng``), in float64, with the tiles' float32 cell
        variances rather than the bfloat16 copy the exact method multiplies.
        """
        if self.is_abstract:
            raise ValueError("per-cell reads need a physical profile; this one has output noise only")
        xt = as_matrix("x", x, (2,)).cpu()
        if xt.shape[1] != self.shape[0]:
            raise ValueError(f"x has {xt.shape[1]} inputs per row, expected {self.shape[0]}")
        m = xt.shape[0]
        u = torch.empty(m * self.shape[0])
        scale = torch.empty(m)
        starts = np.array([r0 for r0, _ in self.bands] + [self.shape[0]], dtype=np.int64)
        with torch_threads():
            kernels.dac(xt.numpy(), self.profile.dac_bits or 0, starts, u.numpy(), _NO_SQUARES, scale.numpy())
        current = np.empty((len(self.bands), m, self.shape[1]), dtype=np.float32)
        for i, (r0, r1) in enumerate(self.bands):
            ub = u[m * r0 : m * r1].view(m, r1 - r0).numpy().astype(np.float64)
            g = self.conductance[i, : r1 - r0].cpu().numpy().astype(np.float64)
            std = np.zeros_like(g)
            for tile in self.tiles:
                if tile.row_slice.start == r0 and tile.read_variance is not None:
                    std[:, tile.col_slice] = np.sqrt(tile.read_variance.astype(np.float64))
            for b in range(m):
                current[i, b] = ub[b] @ (g + std * rng.standard_normal(g.shape))
        out = np.zeros((m, self.shape[1]), dtype=np.float32)
        with torch_threads():
            read_kernels.read_bands(current, _NO_VARIANCE, self._keys(None), self.full_scale.cpu().numpy(),
                                    self.profile.adc_bits or 0, self.col_scale.cpu().numpy(), scale.numpy(),
                                    0, out[:, None, :])
        if bias is not None:
            out += as_matrix("bias", bias, (1,)).cpu().numpy()
        return out

    def extra_repr(self) -> str:
        n_in, n_out = self.shape
        return f"in={n_in}, out={n_out}, profile={self.profile.name}, tiles={len(self.tiles)}"
