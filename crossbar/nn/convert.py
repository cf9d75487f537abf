"""Map a trained torch model onto crossbar arrays and back, and report what was mapped."""

from __future__ import annotations

import copy
import fnmatch
import math
from dataclasses import dataclass

import numpy as np
from torch import nn

from crossbar.devices import as_profile
from crossbar.nn.analog import MAPPABLE, SUPPORTED, AbstractNoise, AnalogLayer, NoiseAfter, analog_class
from crossbar.nn.placement import Placement, carry_noise, plan
from crossbar.seeds import Stream, derive

# Layers with matrix products that convert() cannot map: an explicit error, never silently digital.
_UNMAPPABLE = (
    nn.ConvTranspose3d, nn.RNNCell, nn.LSTMCell, nn.GRUCell, nn.MultiheadAttention,
    nn.Bilinear, nn.Transformer, nn.TransformerEncoderLayer, nn.TransformerDecoderLayer,
)


class UnsupportedLayerError(ValueError):
    """A layer holds matrix products that crossbar-sim cannot map onto arrays."""


def _profile_for(name: str, profile, overrides: dict | None):
    """The profile for one layer: the first override pattern (fnmatch) that matches its name."""
    for pattern, p in (overrides or {}).items():
        if fnmatch.fnmatchcase(name, pattern):
            return as_profile(p)
    return profile


def convert(model: nn.Module, profile, seed: int = 0, overrides: dict | None = None,
            inplace: bool = False, example=None, calibration=None) -> nn.Module:
    """Return ``model`` with its Linear, Conv2d and LSTM layers running on crossbar arrays.

    ``profile``: a ``DeviceProfile``, a bundled profile name (``"pcm"``) or
    the path to a profile YAML file. Everything else (BatchNorm, pooling,
    activations, noise layers) stays digital. ``overrides`` maps layer-name
    patterns (``fnmatch`` style, e.g. ``"features.0"`` or ``"classifier.*"``)
    to other profiles. Each layer gets its own programming seed derived from
    ``seed``. An abstract profile's output noise (Qin Eq. 2/3) goes where
    ``crossbar.nn.placement.plan`` says: after the batch norm that takes a
    product's output, else right after the product; for a model with batch norms
    that needs ``example`` (an input batch, a per-sample shape or a ``Placement``;
    default: the model's ``crossbar_input``). Noise layers placed by
    ``place_noise`` stay with their layers. Raises :class:`UnsupportedLayerError`
    naming any layer it cannot map. :func:`to_float` undoes the mapping.

    Arrays are read ``time_since_programming`` after programming (the profile's;
    :func:`crossbar.nn.age` changes it). ``calibration``: inputs (a batch the model
    accepts) on which the ADC ranges of ``calibrated`` profiles are set right away
    (:func:`crossbar.nn.calibrate` with ``seed``); without it such layers read with the
    fixed range, and warn, until calibrated.
    """
    profile = as_profile(profile)
    _check_mappable(model)
    where = _noise_plan(model, profile, overrides, example)
    target = model if inplace else copy.deepcopy(model)
    counter = 0
    norms: dict[str, AbstractNoise] = {}
    for name, module in list(target.named_modules()):
        for child_name, child in list(module.named_children()):
            cls = analog_class(child)
            if cls is None:
                continue
            full = f"{name}.{child_name}" if name else child_name
            p = _profile_for(full, profile, overrides)
            seeds = [derive(seed, Stream.LAYER_PROGRAM, counter + i) for i in range(cls.arrays_for(child))]
            new = cls.from_seeds(child, p, seeds)
            carry_noise(child, new)
            counter += len(seeds)
            setattr(module, child_name, new)
            norm = where.norm_after(full) if where is not None else None
            if norm is not None and getattr(new, "noise", None) is not None:
                norms[norm] = new.noise
                new.noise = None
    for norm, noise in norms.items():  # the product's output noise behind its batch norm
        parent_name, _, attr = norm.rpartition(".")
        parent = target.get_submodule(parent_name)
        setattr(parent, attr, NoiseAfter(getattr(parent, attr), noise))
    if counter == 0:
        raise UnsupportedLayerError(
            f"{type(model).__name__} has no layer that can be mapped; supported: {', '.join(SUPPORTED)}"
        )
    target.eval()
    if calibration is not None:
        from crossbar.nn.chip import calibrate

        calibrate(target, calibration, seed)
    return target


def to_float(model: nn.Module, inplace: bool = False) -> nn.Module:
    """A plain torch model from a converted one: every analog layer back to its torch layer
    (the target weights, not the programmed conductances), abstract output noise removed."""
    target = model if inplace else copy.deepcopy(model)
    analog_types = tuple(MAPPABLE.values())

    def restore(module: nn.Module) -> None:
        for child_name, child in list(module.named_children()):
            if isinstance(child, NoiseAfter):
                setattr(module, child_name, child.inner)
                restore(child.inner)
            elif isinstance(child, analog_types):
                plain = child.to_float()
                carry_noise(child, plain)
                setattr(module, child_name, plain)
            else:
                restore(child)

    if isinstance(target, analog_types):
        return target.to_float()
    restore(target)
    return target


def _noise_plan(model: nn.Module, profile, overrides: dict | None, example) -> Placement | None:
    """Where abstract output noise goes (None: no profile used here has output noise)."""
    profiles = [profile, *(as_profile(p) for p in (overrides or {}).values())]
    if all(p.output_noise is None for p in profiles):
        return None
    return example if isinstance(example, Placement) else plan(model, example)


def _check_mappable(model: nn.Module) -> None:
    for name, module in model.named_modules():
        where = f"layer {name!r} ({type(module).__name__})" if name else type(module).__name__
        cls = analog_class(module)
        reason = None if cls is None else cls.unsupported(module)
        if reason:
            raise UnsupportedLayerError(f"{where}: {reason}")
        if isinstance(module, _UNMAPPABLE):
            raise UnsupportedLayerError(
                f"{where} cannot be mapped onto crossbar arrays; supported: {', '.join(SUPPORTED)}. "
                "Replace it or keep that part of the model outside convert()."
            )
        mapped = tuple(MAPPABLE)
        if isinstance(module, mapped) or any(isinstance(a, mapped) for a in _ancestors(model, name)):
            continue
        matrices = [n for n, p in module.named_parameters(recurse=False) if p.dim() >= 2]
        if matrices:
            raise UnsupportedLayerError(
                f"{where} holds weight matrices {matrices} in a layer type crossbar-sim does not know; "
                f"supported: {', '.join(SUPPORTED)}"
            )


def _ancestors(model: nn.Module, name: str):
    parts = name.split(".") if name else []
    module = model
    for part in parts[:-1]:
        module = getattr(module, part)
        yield module


def analog_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, layer) of every array-backed layer, LSTM gate arrays included."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, AnalogLayer)]


def reseed(model: nn.Module, seed: int) -> None:
    """Restart every read sequence from ``seed``: each array's read noise and each abstract
    output noise (programmed conductances kept)."""
    for i, (_, layer) in enumerate(analog_layers(model)):
        layer.reseed(derive(seed, Stream.LAYER_READ, i))
    noises = [m for m in model.modules() if isinstance(m, AbstractNoise)]
    for j, noise in enumerate(noises):
        noise.reseed(derive(seed, Stream.OUTPUT_NOISE, j))


def reprogram(model: nn.Module, seed: int) -> None:
    """Programme every array again with seed ``seed``: an independent set of replicated arrays
    (at the same time since programming). Calibrate the ADC ranges again afterwards."""
    for i, (_, layer) in enumerate(analog_layers(model)):
        layer.program(derive(seed, Stream.LAYER_PROGRAM, i))


@dataclass(frozen=True)
class LayerSummary:
    name: str
    kind: str
    profile: str
    inputs: int
    outputs: int
    tiles: int
    utilisation: float
    conductances: int
    adc_range: str = "fixed"
    clipping_rate: float = float("nan")
    rereads: int = 0


@dataclass(frozen=True)
class Summary:
    layers: tuple[LayerSummary, ...]

    @property
    def total_tiles(self) -> int:
        return sum(s.tiles for s in self.layers)

    @property
    def total_conductances(self) -> int:
        return sum(s.conductances for s in self.layers)

    def to_markdown(self) -> str:
        head = ("| layer | type | profile | inputs x outputs | tiles | utilisation | conductances "
                "| ADC range | clipped | re-reads |\n")
        head += "| --- | --- | --- | --- | ---: | ---: | ---: | --- | ---: | ---: |\n"
        rows = "".join(
            f"| {s.name} | {s.kind} | {s.profile} | {s.inputs} x {s.outputs} | {s.tiles} "
            f"| {s.utilisation:.1%} | {s.conductances:,} | {s.adc_range} "
            f"| {'–' if math.isnan(s.clipping_rate) else f'{s.clipping_rate:.3%}'} | {s.rereads:,} |\n"
            for s in self.layers
        )
        total = f"| total | | | | {self.total_tiles} | | {self.total_conductances:,} | | | |\n"
        return head + rows + total

    def __str__(self) -> str:
        return self.to_markdown()


def summary(model: nn.Module) -> Summary:
    """Per array-backed layer: tiles used, utilisation, conductances programmed, the ADC range
    (fixed, calibrated, uncalibrated or bound_management), and the clipping rate and re-reads
    of its reads since ``crossbar.nn.reset_read_stats`` ("–" before any read)."""
    rows = []
    for name, layer in analog_layers(model):
        p = layer.profile
        n_in, n_out = layer.array.shape
        tiles = len(layer.array.tiles)
        rows.append(LayerSummary(
            name=name, kind=type(layer).__name__.lstrip("_"), profile=p.name,
            inputs=n_in, outputs=n_out, tiles=tiles,
            utilisation=float(np.float64(layer.real_weights) / (tiles * p.tile_rows * p.tile_cols)),
            conductances=2 * n_in * n_out,
            adc_range="abstract" if layer.array.is_abstract else layer.array.range_state,
            clipping_rate=layer.array.stats.clipping_rate, rereads=layer.array.stats.rereads,
        ))
    if not rows:
        raise ValueError("model has no crossbar layers; call crossbar.convert(model, profile) first")
    return Summary(tuple(rows))
