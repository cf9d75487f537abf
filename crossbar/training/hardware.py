"""Hardware-aware training: a weight matrix seen through a device profile in the training forward.

For every forward pass, each mapped weight matrix W (inputs x outputs) is mapped
onto tiles as :meth:`crossbar.read.array.CrossbarArray.program` maps it (row bands of
``tile_rows``; per band and column the scale w_max = max |w|; differential pairs
G+ = g_min + (g_max - g_min) max(w, 0) / w_max, G- likewise for -w) and then,
with fresh random numbers from the run's generator, each enabled effect is applied
with the profile's own laws (``devices/``):

* ``programming``: G = target + sigma(target) z, each cell outside the verify tolerance
  rewritten (that cell only) up to ``verify.max_iterations`` writes (as the programming
  kernel does), stuck-at faults at the profile's rates, device levels (rounded targets);
* ``drift``: G(t) = G (t / t0)^-nu, nu = |nu_mean(G_T) + nu_std(G_T) z| at the target G_T
  (the profile's rule, ``Drift.exponents``), at
  ``time`` seconds after programming, with global drift compensation (one gain per
  tile, as ``crossbar.nn.age`` applies by default);
* ``read``: the read noise of the law at ``time`` as one draw per cell and forward
  (AIHWKit draws its 1/f noise once per drift time), and the circuit noise floor
  (``crossbar.read.tile.noise_floor``) as fresh noise on every converted column value;
* ``dac``: each input vector divided by its largest magnitude and rounded to the
  DAC's 2^(bits-1) - 1 levels (one-shot encoding: the value every slicing adds up to);
* ``adc``: each band's column values clipped at the full scale (``fixed``: adc_range x
  tile_rows; ``calibrated``: the profile's percentile of the batch's values per tile;
  bound management is trained with the fixed range) and rounded to the ADC's levels.

The cells are drawn per band in Numba kernels (:mod:`.device_draw`), the DAC and the
noise floor + ADC chain fused on the CPU (:mod:`.dac_chain`, :mod:`.adc_chain`).
All of that is the forward pass only, computed without a graph. The backward pass is
ideal, as in AIHWKit's hardware-aware training (``InferenceRPUConfig``: the
non-idealities of the forward pass, ideal backward and update passes; Rasch et al.,
Nat. Commun. 14, 5282, 2023): the gradient is that of the ideal product of the
DAC-applied input and the drawn weights (each band's w_max times its read conductance
difference), by straight-through estimation past every rounding, clip and noise
(:func:`straight`); the weights' gradient reaches W as if W were the drawn weights.
Which layers are mapped is :mod:`.mapped`'s business.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from crossbar.checks import CheckError, check_keys, choice, real, suggest
from crossbar.devices import DeviceProfile, as_profile

from . import adc_chain, dac_chain, device_draw
from .device_draw import Draws

__all__ = ["EFFECTS", "Draws", "HardwareConfig", "HardwareError", "Programmed", "applied", "dac", "magnitude",
           "program", "product", "straight"]

EFFECTS = ("programming", "drift", "read", "dac", "adc")
OPTIONS = ("profile", "effects", "noise_scale", "time", "clip_sigma", "overrides")
CLIP_SIGMA = 2.5
"""Default weight clipping: each mapped weight tensor at +-2.5 of its standard deviation
after every step (Rasch et al., Nat. Commun. 14, 5282, 2023, AIHWKit's
StandardHWATrainingPreset: layer-Gaussian clipping at 2.5 sigma)."""
SAMPLE = 1 << 16  # values per tile a calibrated ADC range is the percentile of (up to 2x as many)


Band = Callable[[torch.Tensor, int, torch.Tensor], torch.Tensor]
"""``mvm(x, i, g)``: row band i's column values of the input x times the band's matrix g."""


class HardwareError(CheckError):
    """A hardware-aware training setting that cannot be used (one line)."""


@dataclass(frozen=True)
class HardwareConfig:
    """What the training forward sees: ``profile`` with the ``effects`` switched on,
    its noise (programming and read) times ``noise_scale``, drift and 1/f read noise
    at ``time`` seconds after programming (None: the profile's own
    ``time_since_programming``), weights clipped at ``clip_sigma`` standard deviations
    after every step (None: no clipping)."""

    profile: DeviceProfile
    effects: tuple[str, ...] = EFFECTS
    noise_scale: float = 1.0
    time: float | None = None
    clip_sigma: float | None = CLIP_SIGMA
    device: DeviceProfile = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        p = self.profile
        if p.output_noise is not None:
            raise HardwareError(None, "hardware", f"profile {p.name!r} is abstract (Qin Eq. 2/3 output "
                                "noise, no device to train against); train its noise with "
                                "noise=NoiseConfig(kind, sigma) instead (CLI: --noise, --sigma-train)",
                                p.name, "a profile without output_noise (pcm, reram, nand, ..., ideal)")
        wired = [k for k in ("row_wire_resistance", "col_wire_resistance", "driver_resistance",
                             "sense_resistance") if getattr(p, k) != 0.0]
        if wired:  # refused rather than silently trained without IR drop
            raise HardwareError(None, "hardware", f"profile {p.name!r} has wire resistance "
                                f"({wired[0]}), which hardware-aware training does not model "
                                "(docs/physics.md, \"Wire resistance\")", getattr(p, wired[0]),
                                "a profile with ideal wiring (every *_resistance 0)")
        bad = [e for e in self.effects if e not in EFFECTS]
        if bad:
            raise HardwareError(None, "hardware.effects", "unknown effect" + suggest(bad[0], EFFECTS), bad[0],
                                ", ".join(EFFECTS))
        object.__setattr__(self, "effects", tuple(e for e in EFFECTS if e in self.effects))
        object.__setattr__(self, "noise_scale", real(None, "hardware.noise_scale", self.noise_scale, lo=0.0))
        if self.time is not None:
            object.__setattr__(self, "time", real(None, "hardware.time", self.time, lo=0.0, lo_open=True))
        if self.clip_sigma is not None:
            object.__setattr__(self, "clip_sigma",
                               real(None, "hardware.clip_sigma", self.clip_sigma, lo=0.0, lo_open=True))
        scaled = p.noise_scale * self.noise_scale
        device = p if scaled == p.noise_scale else p.with_overrides(noise_scale=scaled)
        object.__setattr__(self, "device", device)

    @classmethod
    def parse(cls, value: Any, file: str | None = None, key: str = "hardware") -> HardwareConfig:
        """A config from a profile name or path, a ``DeviceProfile``, a ``HardwareConfig``, or a
        mapping ``{profile, effects, noise_scale, time, clip_sigma, overrides}`` (``overrides``:
        profile fields, as ``DeviceProfile.with_overrides`` takes them)."""
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            value = {"profile": value}
        check_keys(file, key, value, ("profile",), OPTIONS[1:])
        try:
            profile = as_profile(value["profile"])
            if value.get("overrides"):
                profile = profile.with_overrides(**dict(value["overrides"]))
        except (ValueError, OSError) as err:
            raise HardwareError(file, f"{key}.profile", " ".join(str(err).split())[:300]) from None
        effects = value.get("effects", EFFECTS)
        if isinstance(effects, str) or not all(isinstance(e, str) for e in effects):
            raise HardwareError(file, f"{key}.effects", "must be a list of effect names", effects,
                                ", ".join(EFFECTS))
        for e in effects:
            choice(file, f"{key}.effects", e, EFFECTS)
        try:
            return cls(profile, tuple(effects), value.get("noise_scale", 1.0), value.get("time"),
                       value.get("clip_sigma", CLIP_SIGMA))
        except CheckError as err:
            if err.key and err.key.startswith("hardware") and key != "hardware":
                err.key = key + err.key[len("hardware"):]
                err.args = (err._message(),)
            raise (err.in_file(file) if file else err) from None

    @property
    def t(self) -> float:
        """Seconds since programming of the drift and read-noise draws."""
        return self.profile.time_since_programming if self.time is None else float(self.time)

    def on(self, effect: str) -> bool:
        return effect in self.effects

    def to_dict(self) -> dict[str, Any]:
        """The setting as plain JSON (a checkpoint's identity: the profile by name and values)."""
        from crossbar.identity import profile_digest

        return {"profile": self.profile.name, "profile_digest": profile_digest(self.profile),
                "effects": list(self.effects), "noise_scale": self.noise_scale, "time": self.t,
                "clip_sigma": self.clip_sigma}


@dataclass
class Programmed:
    """One forward's draw of a matrix: per row band, the normalised conductance difference
    (rows x outputs), the digital scale w_max and the noise floor variance per column (or
    None); and the weights the device applied, per band g w_max (inputs x outputs)."""

    bands: list[tuple[int, int]]
    g: list[torch.Tensor]
    scale: list[torch.Tensor]
    floor: list[torch.Tensor | None]
    w_eff: torch.Tensor


def program(W: torch.Tensor, hw: HardwareConfig, gen: Draws) -> Programmed:
    """One forward's draw of ``W`` (inputs x outputs) on ``hw``'s device (in float32 on the CPU)."""
    p = hw.device
    n_in, n_out = W.shape
    tile_of_col = np.arange(n_out) // p.tile_cols
    fortran = n_in > 1 and n_out > 1 and W.stride(0) < W.stride(1)  # a transposed matrix: column by column
    host = W.detach().to("cpu", torch.float32)
    w_eff = torch.empty_like(host)  # W's own layout where it is dense: the backward's weight without a copy
    bands, gs, scales, floors = [], [], [], []
    for r0 in range(0, n_in, p.tile_rows):
        r1 = min(r0 + p.tile_rows, n_in)
        g, w_max, floor = device_draw.band(p, hw.effects, hw.t, host[r0:r1].numpy(), fortran, tile_of_col,
                                           gen, w_eff[r0:r1].numpy())
        bands.append((r0, r1))
        gs.append(torch.from_numpy(g).to(W.device, W.dtype))
        scales.append(torch.from_numpy(w_max).to(W.device, W.dtype))
        floors.append(None if floor is None else torch.from_numpy(floor).to(W.device, W.dtype))
    return Programmed(bands, gs, scales, floors, w_eff.to(W.device, W.dtype))


def dac(x: torch.Tensor, scale: torch.Tensor, hw: HardwareConfig) -> torch.Tensor:
    """``x`` as the DAC applies it: divided by ``scale`` (the largest magnitude of each
    vector, broadcastable to x), rounded to the DAC's levels and scaled back (``dac``)."""
    bits = hw.device.dac_bits
    if not (hw.on("dac") and bits):
        return x
    levels = float(2 ** (bits - 1) - 1)
    return torch.round(x / scale * levels) * (scale / levels)


def applied(x: torch.Tensor, hw: HardwareConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(``x`` as the DAC applies it, one vector per index of dim 0 scaled by its largest
    magnitude; that scale, broadcastable to x): fused on the CPU in float32 (:mod:`.dac_chain`,
    the same bits), else :func:`dac` in torch operations."""
    bits = hw.device.dac_bits
    if hw.on("dac") and bits and x.device.type == "cpu" and x.dtype == torch.float32:
        return dac_chain.dac(x, 2 ** (bits - 1) - 1)
    scale = magnitude(x, tuple(range(1, x.dim())))
    return dac(x, scale, hw), scale


def magnitude(x: torch.Tensor, dim: int | tuple[int, ...]) -> torch.Tensor:
    """The largest |x| over ``dim`` (kept), 1 where it is 0: the DAC's scale of a vector."""
    m = x.detach().abs().amax(dim, keepdim=True)
    return torch.where(m == 0, torch.ones_like(m), m)


def _sample_step(values: int) -> int:
    """The step of the calibration sample of a tile of ``values`` values (every step-th run)."""
    return max(1, values // SAMPLE)


def _full_scale(hw: HardwareConfig, c: torch.Tensor, sampled: Callable[[int, int, int], Any] | None = None
                ) -> torch.Tensor:
    """ADC full scale per column (dim 1 of ``c``): fixed, or per tile the profile's percentile
    of |c| over the batch (calibrated; from the tile's values in their own order in runs of
    ``adc_chain.RUN`` consecutive values, every step-th run (:func:`_sample_step`): fewer
    than 2 SAMPLE values).
    ``sampled(c0, c1, step)`` gives those magnitudes of columns c0:c1 (NumPy or torch; None:
    taken from ``c``)."""
    p = hw.device
    fixed = p.adc_range * p.tile_rows
    rm = p.range_management
    if rm.mode != "calibrated" or c.numel() == 0:
        return torch.full((c.shape[1],), fixed, dtype=c.dtype, device=c.device)
    cols = c.shape[1]
    if sampled is None:
        def sampled(c0: int, c1: int, step: int) -> torch.Tensor:
            flat = c.detach()[:, c0:c1].reshape(-1)
            run = adc_chain.RUN
            starts = torch.arange(0, flat.numel(), run * step, device=c.device)
            index = (starts[:, None] + torch.arange(run, device=c.device)).reshape(-1)
            return flat[index[index < flat.numel()]].abs()
    fs = torch.empty(cols, dtype=c.dtype, device=c.device)
    for c0 in range(0, cols, p.tile_cols):  # the tiles' columns (tile_of_col)
        c1 = min(c0 + p.tile_cols, cols)
        vals = sampled(c0, c1, _sample_step(c.numel() // cols * (c1 - c0)))
        n = vals.size if isinstance(vals, np.ndarray) else vals.numel()
        k = min(n, max(1, math.ceil(rm.percentile / 100.0 * n)))
        v = (np.partition(vals, k - 1)[k - 1].item() if isinstance(vals, np.ndarray)
             else vals.kthvalue(k).values)  # the same k-th smallest; NumPy's selection is ~9x faster
        fs[c0:c1] = v if v > 0 else fixed
    return fs


def _band(hw: HardwareConfig, c: torch.Tensor, scale: torch.Tensor, z: np.ndarray | None,
          floor: torch.Tensor | None, w_max: torch.Tensor, levels: int) -> torch.Tensor:
    """One band's converted values times w_max in torch operations (any device and dtype; the
    reference of :mod:`.adc_chain`): divided by ``scale``, noise floor, ADC clip and rounding."""
    c = c / scale
    cols = (1, -1) + (1,) * (c.dim() - 2)
    if z is not None:
        c = c + torch.from_numpy(z).to(c.device, c.dtype) * floor.sqrt().view(cols)
    if levels:
        fs = _full_scale(hw, c).view(cols)
        lv = float(levels)
        c = torch.round(torch.maximum(torch.minimum(c, fs), -fs) * (lv / fs)) * (fs / lv)
    return c * w_max.view(cols)


def product(x: torch.Tensor, scale: torch.Tensor, mvm: Band,
            prog: Programmed, hw: HardwareConfig, gen: Draws,
            bias: torch.Tensor | None = None) -> torch.Tensor:
    """The layer's product as the device computes it with the draw ``prog`` (no graph):
    ``mvm(x, i, g)`` gives band i's column values of the DAC-applied input ``x`` times ``g``
    (columns on dim 1), ``scale`` the largest input magnitude of each vector (broadcastable to
    the output). Per band: divided by ``scale``, noise floor, ADC, times w_max; summed, scaled
    back, plus bias."""
    p = hw.device
    levels = int(2 ** (p.adc_bits - 1) - 1) if hw.on("adc") and p.adc_bits else 0
    out, last = None, len(prog.g) - 1
    for i, (g, w_max, floor) in enumerate(zip(prog.g, prog.scale, prog.floor, strict=True)):
        c = mvm(x, i, g)
        if c.device.type == "cpu" and c.dtype == torch.float32:  # fused: the same bits, two passes
            one_tile = levels and p.range_management.mode == "calibrated" and c.shape[1] <= p.tile_cols
            step = _sample_step(c.numel()) if one_tile else 0  # taken in the noise pass
            c, taken = adc_chain.noisy(c.contiguous(), scale, gen.key() if floor is not None else None, floor,
                                       step)

            def sampled(c0: int, c1: int, step: int, c=c, taken=taken) -> np.ndarray:
                whole = taken is not None and (c0, c1) == (0, c.shape[1])
                return taken if whole else adc_chain.sampled(c, c0, c1, step)

            fs = _full_scale(hw, c, sampled) if levels else torch.full_like(w_max, math.inf)
            out = adc_chain.convert(c, fs, w_max, levels, out, scale if i == last else None, bias)
            continue
        z = gen.normal(tuple(c.shape)) if floor is not None else None
        part = _band(hw, c, scale, z, floor, w_max, levels)
        out = part if out is None else out + part
        if i == last:
            out = out * scale
            out = out if bias is None else out + bias.view((1, -1) + (1,) * (out.dim() - 2))
    return out


Ideal = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, bool, bool, bool],
                 tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]]
"""``ideal(g, xq, w, need_x, need_w, need_b)``: the gradients (input, weights inputs x outputs,
bias: ``g`` summed over all but dim 1) of the ideal product of ``xq`` and ``w`` given the
output's gradient ``g`` (None where not needed)."""


class _Straight(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, bias, prog, run, ideal):
        out, xq = run()
        ctx.save_for_backward(xq, prog.w_eff)
        ctx.ideal = ideal
        return out

    @staticmethod
    def backward(ctx, g):
        xq, w_eff = ctx.saved_tensors
        needs = ctx.needs_input_grad[:3]
        gx, gw, gb = ctx.ideal(g, xq, w_eff, *needs) if any(needs) else (None, None, None)
        return gx, gw, gb, None, None, None


def straight(x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None, prog: Programmed,
             run: Callable[[], tuple[torch.Tensor, torch.Tensor]], ideal: Ideal) -> torch.Tensor:
    """The device's product ``run()`` (its output, bias included, and the DAC-applied input xq;
    computed without a graph) of ``x`` and ``w`` (inputs x outputs) with the draw ``prog``,
    differentiable in ``x``, ``w`` and ``bias`` as the ideal product of xq and the drawn weights
    (per band w_max g: AIHWKit's ideal backward pass, straight through the device)."""
    return _Straight.apply(x, w, bias, prog, run, ideal)
