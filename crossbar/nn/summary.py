"""What a converted model put on arrays, and what stayed digital and why."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from torch import nn

from crossbar.nn.byuse import AnalogProduct
from crossbar.nn.convert import DigitalParameter, analog_layers

__all__ = ["LayerSummary", "Summary", "summary"]


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
    digital: tuple[DigitalParameter, ...] = ()

    @property
    def total_tiles(self) -> int:
        return sum(s.tiles for s in self.layers)

    @property
    def total_conductances(self) -> int:
        return sum(s.conductances for s in self.layers)

    def digital_line(self) -> str:
        """One line: every parameter that stays digital, its size and why."""
        if not self.digital:
            return "digital parameters: none"
        items = "; ".join(f"{d.name} ({'x'.join(map(str, d.shape)) or 'scalar'}): {d.reason}"
                          for d in self.digital)
        return f"digital parameters ({sum(math.prod(d.shape) for d in self.digital):,} values): {items}"

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
        text = head + rows + total
        if self.digital:
            text += "\nDigital (not on arrays):\n\n| parameter | size | why |\n| --- | ---: | --- |\n"
            text += "".join(f"| {d.name} | {math.prod(d.shape):,} | {d.reason} |\n" for d in self.digital)
        text += ("\nOff the arrays by design: attention products (Q K^T, weights x V), softmax, norms, "
                 "activations and pooling run digitally.\n")
        return text

    def __str__(self) -> str:
        return self.to_markdown()


def _kind(layer: nn.Module) -> str:
    if isinstance(layer, AnalogProduct):
        return f"{layer.user}: {layer.op} (by use)"
    return type(layer).__name__.lstrip("_")


def summary(model: nn.Module) -> Summary:
    """Per array-backed layer: tiles used, utilisation, conductances programmed, the ADC range
    (fixed, calibrated, uncalibrated or bound_management), and the clipping rate and re-reads
    of its reads since ``crossbar.nn.reset_read_stats`` ("–" before any read); a weight mapped
    by use is named by its parameter and the module and operation that multiply it. Then every
    parameter that stays digital, with its size and why (``digital_line()``: in one line)."""
    rows = []
    for name, layer in analog_layers(model):
        p = layer.profile
        n_in, n_out = layer.array.shape
        tiles = len(layer.array.tiles)
        rows.append(LayerSummary(
            name=layer.parameter if isinstance(layer, AnalogProduct) else name, kind=_kind(layer),
            profile=p.name, inputs=n_in, outputs=n_out, tiles=tiles,
            utilisation=float(np.float64(layer.real_weights) / (tiles * p.tile_rows * p.tile_cols)),
            conductances=2 * n_in * n_out,
            adc_range="abstract" if layer.array.is_abstract else layer.array.range_state,
            clipping_rate=layer.array.stats.clipping_rate, rereads=layer.array.stats.rereads,
        ))
    if not rows:
        raise ValueError("model has no crossbar layers; call crossbar.convert(model, profile) first")
    return Summary(tuple(rows), tuple(getattr(model, "crossbar_digital", ())))
