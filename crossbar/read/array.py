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

The converters follow the profile (:class:`crossbar.read.plan.ReadPlan`; docs/physics.md,
"Converters"). The time since programming (:meth:`CrossbarArray.age`) drives drift and
the 1/f read noise; a session's reads (:class:`crossbar.read.timing.Session`) share its
slowest part, a call's (:class:`crossbar.read.timing.ReadGroup`) the part up to their
spacing. Every read adds to ``stats`` (conversions, clips, bound-management re-reads).
Abstract profiles (the Qin paper's Gaussian models) have no conductance physics: their
MVM is the exact product plus output noise (Eq. 2 or 3, :func:`crossbar.read.ops.qin_noise`).
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np
import torch
from torch import nn

from crossbar.read.calibration import calibrate_tiles
from crossbar.read.cpu import read_patches_cpu, read_rows_cpu
from crossbar.read.layout import holds_weights, may_tabulate, stored, weights_home
from crossbar.read.operands import as_matrix, check_finite, check_key
from crossbar.read.ops import im2col, keyed_normal, qin_noise
from crossbar.read.plan import ReadPlan, ReadStats
from crossbar.read.tile import Tile
from crossbar.read.timing import ReadGroup, Session, call_buffers, fold_session, session_state
from crossbar.read.torch_read import read_keys, read_per_cell, read_torch
from crossbar.threads import torch_threads


class RangeNotice:
    """The warning that an array is read with the fixed ADC range although its profile calibrates:
    shown once for all the arrays that one event left so (programming or ageing without
    calibration; ``crossbar.nn`` gives a chip's arrays one notice), not once per array."""

    __slots__ = ("shown",)

    def __init__(self) -> None:
        self.shown = False


class CrossbarArray(nn.Module):
    """A weight matrix programmed onto the tiles of one device profile.

    Create with :meth:`program`; read with :meth:`mvm`. ``tiles`` keep the programming
    record per tile and column and regenerate the per-cell one from ``weights`` (docs/physics.md,
    "Stored state"); the buffers, the one home of the per-cell state, hold per row band of tiles:

    - ``conductance`` (bands x tile_rows x outputs, float16 or float32, or the weights themselves:
      :mod:`crossbar.read.layout`): (G+ - G-) / (g_max - g_min); ``variance`` (same shape,
      bfloat16, per cell or one value, or a table of it against the float16 conductance, or None
      without read noise): per-cell read-noise variance in the same unit, the operand of the
      exact-noise product (see :meth:`mvm`),
    - ``floor`` (bands x outputs, float32, or None): circuit noise variance per conversion,
    - ``full_scale`` and ``col_scale`` (bands x outputs, float64): ADC full scale and the
      digital rescale w_max (times the drift-compensation gain),
    - ``weights`` (inputs x outputs, float32): the target weights (the exact product of
      abstract profiles, what :meth:`program` was given and what the tiles regenerate from).

    ``time`` (s since programming) and ``compensated`` (global drift compensation) are
    the state :meth:`age` sets; programming ages the array to the profile's
    ``time_since_programming`` with compensation. ``session`` (:meth:`set_session`): the
    session whose shared 1/f part the read buffers hold (folded at the next read).
    ``stats`` counts conversions, clipped conversions and re-reads.
    """

    def __init__(self, weights: torch.Tensor, profile, seed: int) -> None:
        super().__init__()
        self.profile = profile
        self.plan = ReadPlan.of(profile)
        self.stats = ReadStats()
        self.range_notice = RangeNotice()
        (n_in, n_out), rows, cols = weights.shape, profile.tile_rows, profile.tile_cols
        self.bands = tuple((r0, min(r0 + rows, n_in)) for r0 in range(0, n_in, rows))
        self.register_buffer("weights", weights)
        for name in ("conductance", "variance", "floor", "full_scale", "col_scale"):
            self.register_buffer(name, None)
        self.tiles: list[Tile] = []
        for r0, r1 in self.bands:
            for c0 in range(0, n_out, cols):
                span = (slice(r0, r1), slice(c0, min(c0 + cols, n_out)))
                w_max = weights[span].abs().amax(dim=0).double().cpu().numpy()
                w_max[w_max == 0] = 1.0
                self.tiles.append(Tile(len(self.tiles), *span, profile, seed, w_max, weights))
        self.calibrated = False
        self.session: Session | None = None
        self._folded: tuple[Session, float, float] | None = None  # session, span, share folded
        self._assemble(lambda tile: tile.first_write())  # checks the seed (crossbar.seeds)
        self.seed = int(seed)

    @classmethod
    def program(cls, W, profile, seed: int = 0) -> CrossbarArray:
        """Map ``W`` (inputs x outputs) onto differential pairs and programme every tile once
        (the float32 weights the array keeps: W as float32; docs/physics.md, "Stored state")."""
        Wt = as_matrix("W", W, (2,))
        if Wt.shape[0] == 0 or Wt.shape[1] == 0:
            raise ValueError(f"W must have at least one row and column, got shape {tuple(Wt.shape)}")
        return cls(weights_home(Wt, profile), profile, seed)

    def _apply(self, fn, recurse: bool = True):
        """``to``/``cuda``/...: the tiles follow the weights tensor (they read their targets from it)."""
        super()._apply(fn, recurse)
        for tile in self.tiles:
            tile.weights = self.weights
        return self

    # ------------------------------------------------------------------ state
    def _assemble(self, write) -> None:
        """Fill the read buffers tile by tile with the read state ``write(tile)`` returns (after
        programming or ageing; the tiles keep no copy), then the per-column buffers."""
        self._group = None
        physical = not self.is_abstract
        fill = physical and not holds_weights(self.profile)  # else the weights are the read state
        shape = (len(self.bands), self._height, self.shape[1]) if fill else (0, 0, 0)
        exact = torch.float32 if may_tabulate(self.profile) else torch.bfloat16  # (crossbar.read.layout)
        g, var, noisy = torch.zeros(shape), torch.zeros(shape, dtype=exact), False
        with torch_threads():
            for tile in self.tiles:
                state = write(tile)
                if fill and self._folded is not None:
                    state = fold_session(state, tile, self._folded[0].key, self._folded[2])
                if fill:
                    i = self._band_of(tile)
                    g[i, : tile.rows, tile.col_slice] = torch.from_numpy(state.g_diff)
                    if state.variance is not None:  # rounded to bfloat16 once
                        var[i, : tile.rows, tile.col_slice] = torch.from_numpy(state.variance)
                        noisy = True
        if physical:  # in their stored forms (crossbar.read.layout)
            self.conductance, self.variance = stored(g if fill else None, var if noisy else None, self)
            self._assemble_columns()

    def _assemble_columns(self) -> None:
        """Gather the tiles' per-column state (noise floor, ADC full scale, w_max x drift gain; 1
        where the conductance buffer is the weights themselves, crossbar.read.layout)."""
        shape, exact = (len(self.bands), self.shape[1]), holds_weights(self.profile)
        floor, fs, cs = np.zeros(shape, dtype=np.float32), np.ones(shape), np.zeros(shape)
        for tile in self.tiles:
            i = self._band_of(tile)
            floor[i, tile.col_slice] = tile.floor
            fs[i, tile.col_slice] = tile.full_scale
            cs[i, tile.col_slice] = 1.0 if exact else tile.w_max * tile.drift_gain
        device = self.weights.device
        self.floor = torch.from_numpy(floor).to(device) if floor.any() else None
        self.full_scale = torch.from_numpy(fs).to(device)
        self.col_scale = torch.from_numpy(cs).to(device)

    _col_scales = property(lambda self: [t.w_max for t in self.tiles], doc="Each tile's w_max per column.")

    @property
    def _height(self) -> int:
        return max(r1 - r0 for r0, r1 in self.bands)

    def _band_of(self, tile: Tile) -> int:
        return [r0 for r0, _ in self.bands].index(tile.row_slice.start)

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
        """True when a read draws no random numbers (no read noise, no circuit noise, no output
        noise): ``key`` may be None."""
        if self.is_abstract:
            return self.output_sigma == 0.0
        return self.variance is None and self.floor is None

    @property
    def time(self) -> float:
        """Seconds since programming (drift and 1/f read noise; :meth:`age`)."""
        return self.tiles[0].time

    @property
    def range_state(self) -> str:
        """The ADC range: ``fixed``, ``bound_management``, ``calibrated`` or ``uncalibrated``
        (a calibrated-mode array read with the fixed full scale until :meth:`calibrate`)."""
        mode = self.plan.mode if self.plan.adc_bits else "fixed"
        if mode == "calibrated" and not self.calibrated:
            return "uncalibrated"
        return mode

    def age(self, t: float, compensate: bool = True) -> None:
        """Set the time since programming to ``t`` s: drift and the 1/f read noise at ``t``;
        ``compensate``: global drift compensation (one gain per tile, AIHWKit's default).
        Drops a calibrated ADC range: call :meth:`calibrate` again."""
        if isinstance(t, bool) or not (isinstance(t, numbers.Real) and math.isfinite(t) and t > 0):
            raise ValueError(f"the time since programming must be a finite number of seconds > 0, got {t!r}")
        if self._folded is not None:  # the session's share at the new time
            self._folded = session_state(self, self._folded[0], float(t), span=self._folded[1])
        self._assemble(lambda tile: tile.age(float(t), bool(compensate)))
        self.calibrated = False
        self.range_notice = RangeNotice()  # a new cause: warned about again

    def set_session(self, session: Session | None) -> None:
        """Read as one session from the next read on (its shared 1/f part folded into the read
        buffers once; None: none, every read draws all its noise)."""
        if session is not None and not isinstance(session, Session):
            raise ValueError(f"session must be a crossbar.read.timing.Session or None, got {session!r}")
        self.session = session

    def calibrate(self, x, key: int) -> int:
        """Calibrate the ADC range of every tile on the vectors ``x`` (rows x inputs; the
        ``calibrated`` range mode; others: nothing to do), reading with noise stream ``key``
        (``derive(seed, Stream.CALIBRATION_READ, ...)``). Returns how many tiles saw only
        zeros and kept the fixed full scale."""
        if self.is_abstract or self.plan.mode != "calibrated" or not self.plan.adc_bits:
            return 0
        xt = as_matrix("calibration inputs", x, (2,)).to(self.weights.device)
        if xt.shape[0] == 0 or xt.shape[1] != self.shape[0]:
            raise ValueError(f"calibration inputs must be a non-empty batch of {self.shape[0]}-entry "
                             f"vectors, got shape {tuple(xt.shape)}")
        left = calibrate_tiles(self, xt, check_key(key))
        self._assemble_columns()
        self.calibrated = True
        return left

    def effective_weights(self) -> np.ndarray:
        """The weights the programmed conductances represent (no read noise, ideal converters)."""
        if self.is_abstract:
            return self.weights.cpu().numpy().copy()
        g = self.conductance.cpu().numpy().astype(np.float64)
        for tile in self.tiles if self._folded is not None else ():  # a session's part taken out
            g[self._band_of(tile), : tile.rows, tile.col_slice] = tile.normalised(*tile.conductances())
        cs = self.col_scale.cpu().numpy()
        return np.concatenate([g[i, : r1 - r0] * cs[i] for i, (r0, r1) in enumerate(self.bands)])

    def _read_buffers(self, group: ReadGroup | None, rows: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """What ``rows`` vectors read: the array's buffers (a pending session folded first) or a call's."""
        if self.session != (None if self._folded is None else self._folded[0]):
            self._folded = session_state(self, self.session, self.time, rows=rows)
            self._assemble(lambda tile: tile.read_state(*tile.conductances()))
        if group is None:
            self._group = None  # a call's buffers live only while its reads go on
            return self.conductance, self.variance
        if not isinstance(group, ReadGroup):
            raise ValueError(f"group must be a crossbar.read.timing.ReadGroup or None, got {group!r}")
        if self._group is None or self._group[0] != group:
            with torch_threads():
                share = 0.0 if self._folded is None else self._folded[2]
                old, self._group = self._group, None
                self._group = (group, *call_buffers(self, group, share, old and old[1:]))
        return self._group[1], self._group[2]

    # ------------------------------------------------------------------ reads
    def mvm(self, x, key: int | None = None, bias=None, *, output_noise: bool = True,
            group: ReadGroup | None = None):
        """Analog product ``x @ W (+ bias)`` for a batch x (batch x inputs), read with ``key``.

        ``key``: an integer from :func:`crossbar.seeds.derive` naming this read's random
        numbers (the same bits at any thread count); None only when :attr:`is_deterministic`.
        ``output_noise=False`` leaves out an abstract profile's Eq. 2/3 noise (``convert``
        places it after the batch norm). ``group``: the call the read belongs to (shared 1/f
        read noise, :mod:`crossbar.read.timing`). Takes a NumPy array or a torch tensor (1-D
        for one vector), answers in the same type, float32, on the input's device. Exact
        read noise: the column noise is Gaussian with variance sum_i u_i^2 s_ij^2, one
        bfloat16 product (:func:`crossbar.read.ops.variance_product`; its std within 0.6 %).
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
        y = self.read(xt.to(self.weights.device), key, b, output_noise=output_noise, group=group)
        if single:
            y = y[0]
        return y.to(xt.device) if torch_like else y.numpy()

    def _check_read(self, key, output_noise: bool) -> int | None:
        key = check_key(key)
        deterministic = self.is_deterministic or (self.is_abstract and not output_noise)
        if key is None and not deterministic:
            raise ValueError(
                f"reads of profile {self.profile.name!r} are random (read or output noise): pass "
                "key=crossbar.seeds.derive(seed, Stream.READ, n), a new n for every read"
            )
        if self.range_state == "uncalibrated" and not self.range_notice.shown:
            self.range_notice.shown = True
            warnings.warn(f"array of profile {self.profile.name!r} (range_management: calibrated) is "
                          "read with the fixed ADC range: it was not calibrated since it was programmed "
                          "or aged; call crossbar.nn.calibrate(model, x)", RuntimeWarning, stacklevel=4)
        return key

    def read(self, x: torch.Tensor, key: int | None, bias: torch.Tensor | None = None, *,
             row0: int = 0, output_noise: bool = True, group: ReadGroup | None = None,
             copies: int = 1) -> torch.Tensor:
        """:meth:`mvm` without input checks, for callers that checked already (the torch layers).

        ``x``: a contiguous float32 tensor (rows x inputs) on the array's
        device; NaN or infinity raises ValueError. ``row0``: the index of x's
        first row in the batch the caller splits into several reads with one
        key (its noise is that of the whole batch). ``copies``: x may be that
        many stacked copies of one batch (a vote pass); if its rows are, the CPU
        read converts and multiplies them once (the same bits).
        """
        key = self._check_read(key, output_noise)
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
        conductance, variance = self._read_buffers(group, x.shape[0])
        if x.device.type == "cpu" and self.plan.mode != "bound_management":
            out, clipped = read_rows_cpu(self, x, self._keys(key), row0, conductance, variance, copies)
            if clipped is None:
                check_finite("x", x)
            self.stats.add(x.shape[0] * self.plan.reads * len(self.bands) * self.shape[1], clipped)
        else:
            check_finite("x", x)
            out = read_torch(self, x, key, row0=row0, conductance=conductance, variance=variance,
                             stats=self.stats)
        if bias is not None:
            out += bias
        return out

    def _keys(self, key: int | None) -> np.ndarray:
        return read_keys(key, len(self.bands), self.plan.reads)

    def read_patches(self, images: torch.Tensor, kernel_size, stride, padding, dilation, key: int | None,
                     bias: torch.Tensor | None = None, *, output_noise: bool = True,
                     group: ReadGroup | None = None, copies: int = 1) -> torch.Tensor:
        """A convolution: :meth:`read` of the :func:`im2col` patches of ``images`` (N x C x H x W),
        answered as N x outputs x H_out x W_out.

        On the CPU the DAC kernel reads the patches straight from the images,
        a few images per launch, the patch matrix is never written and the
        ADC kernel writes the output in place; the result is that of
        ``read(im2col(images, ...), key, bias)`` bit for bit (``copies`` as :meth:`read` has it).
        """
        geometry = tuple(np.asarray(g, dtype=np.int64) for g in (kernel_size, stride, padding, dilation))
        n, _, h, w = images.shape
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = geometry
        out_hw = np.array([(h + 2 * ph - dh * (kh - 1) - 1) // sh + 1,
                           (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1])
        h_out, w_out = int(out_hw[0]), int(out_hw[1])
        if self.is_abstract or images.device.type != "cpu" or self.plan.mode == "bound_management":
            y = self.read(im2col(images, kernel_size, stride, padding, dilation), key, bias,
                          output_noise=output_noise, group=group, copies=copies)
            return y.view(n, h_out, w_out, -1).permute(0, 3, 1, 2).contiguous()
        key = self._check_read(key, output_noise)
        out, clipped = read_patches_cpu(self, images, geometry, out_hw, self._keys(key),
                                        *self._read_buffers(group, n * h_out * w_out), copies)
        if clipped is None:
            check_finite("images", images)
        self.stats.add(n * h_out * w_out * self.plan.reads * len(self.bands) * self.shape[1], clipped)
        if bias is not None:
            out += bias[:, None, None]
        return out

    def mvm_per_cell(self, x, rng: np.random.Generator, bias=None):
        """Reference read drawing independent noise for every cell and read (slow; a test oracle):
        :func:`crossbar.read.torch_read.read_per_cell`."""
        return read_per_cell(self, x, rng, bias)

    def extra_repr(self) -> str:
        n_in, n_out = self.shape
        return f"in={n_in}, out={n_out}, profile={self.profile.name}, tiles={len(self.tiles)}"
