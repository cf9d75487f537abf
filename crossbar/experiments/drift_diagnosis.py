"""Why an aged chip without drift compensation fails: per analog layer, how far its conductances
fell, what its ADC ranges saw and what the digital batch norms after it did.

:func:`diagnose_drift` maps the network onto one chip (programming seed of the
budget's chip 0) twice: read at the drift law's first read ``t0`` (as
programmed, no drift) and read at the age asked for without compensation, each
with its ADC ranges calibrated as the budget's chips are. It compares, layer by
layer:

* **conductance gain**: the least-squares factor between the aged and the
  programmed differential conductances (G+ - G-) of the same cells, i.e. the
  factor by which every weight the layer reads fell;
* **ADC**: the calibrated full scale aged / programmed (a range that follows
  the signal down keeps its resolution: no underflow) and the share of
  conversions clipped on the inputs;
* **batch norm**: the mean and the spread (std) of the output of the first
  batch norm after the layer and the share of zeros after the ReLU that
  follows it, programmed and aged, each network fed its own activations. A
  batch norm y = gamma (z - mu) / sigma + beta keeps the running mean mu and
  std sigma it learned for the float outputs; outputs scaled by a factor d < 1
  come out with their spread scaled by d and their mean moved by
  -gamma (1 - d) mu / sigma, so a fixed offset grows against the signal, and
  it compounds from layer to layer.

The predicted classes of both chips on the inputs are counted too (a
collapse: one class predicted for nearly every input). See docs/budget.md,
"The demo".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from .noise_scale import Age

__all__ = ["DriftDiagnosis", "LayerDiagnosis", "diagnose_drift"]


@dataclass(frozen=True)
class LayerDiagnosis:
    """One analog layer, as programmed (``*_programmed``) and aged (NaN: no such module after it)."""

    layer: str
    gain: float
    full_scale: float
    clipped_programmed: float
    clipped: float
    norm: str | None
    norm_mean_programmed: float
    norm_mean: float
    norm_std_programmed: float
    norm_std: float
    zeros_programmed: float
    zeros: float


@dataclass(frozen=True)
class DriftDiagnosis:
    """The layers of one chip aged ``t`` seconds without compensation, against it at ``t0``,
    and the class counts each predicts on the ``n`` inputs."""

    profile: str
    t: float
    t0: float
    n: int
    layers: tuple[LayerDiagnosis, ...]
    classes_programmed: tuple[int, ...]
    classes: tuple[int, ...]

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["layers"] = [{k: (None if isinstance(v, float) and not np.isfinite(v) else v)
                        for k, v in row.items()} for row in d["layers"]]
        return d


def _following(model: torch.nn.Module, names: list[str]) -> dict[str, tuple[str | None, str | None]]:
    """For each analog layer: the names of the first batch norm and of the first ReLU that come
    after it in module order, before the next analog layer (None: none)."""
    order = [(n, m) for n, m in model.named_modules() if n]
    out: dict[str, tuple[str | None, str | None]] = {}
    for i, (name, _) in enumerate(order):
        if name not in names:
            continue
        norm = relu = None
        for n, m in order[i + 1:]:
            if n in names:
                break
            if norm is None and isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                norm = n
            if relu is None and isinstance(m, torch.nn.ReLU):
                relu = n
        out[name] = (norm, relu)
    return out


@torch.no_grad()
def _observe(net: torch.nn.Module, x: torch.Tensor, seed: int, watch: set[str]):
    """(predicted classes, {module name: output}) of one forward pass of ``net`` on ``x``."""
    from crossbar.nn import reseed, reset_read_stats

    seen: dict[str, torch.Tensor] = {}
    hooks = [m.register_forward_hook(lambda _m, _i, out, n=n: seen.__setitem__(n, out.detach().clone()))
             for n, m in net.named_modules() if n in watch]
    try:
        reset_read_stats(net)
        reseed(net, seed)
        pred = net(x).argmax(-1)
    finally:
        for h in hooks:
            h.remove()
    return pred, seen


def _gain(aged: torch.Tensor, fresh: torch.Tensor) -> float:
    a, f = aged.double().flatten(), fresh.double().flatten()
    return float((a @ f) / (f @ f))


def diagnose_drift(evaluator_for, age: Age, x: torch.Tensor, seed: int = 0) -> DriftDiagnosis:
    """The layers of chip 0 read ``age.t`` after programming without compensation, against the
    same chip at the drift law's t0. ``evaluator_for(age)``: an
    :class:`~crossbar.experiments.accuracy.AccuracyEvaluator` of the profile at that age (its
    chip 0 is mapped and calibrated as a budget's); ``x``: the inputs read."""
    from crossbar.nn import clipping_rates
    from crossbar.nn.convert import analog_layers

    aged_ev = evaluator_for(Age(age.t, False))
    drift = aged_ev.profile.drift
    if drift is None:
        raise ValueError(f"profile {aged_ev.profile.name!r} has no drift law: nothing to diagnose")
    nets = {"programmed": evaluator_for(Age(drift.t0, False)).chip(1.0, 0), "aged": aged_ev.chip(1.0, 0)}
    layers = {n: m for n, m in analog_layers(nets["aged"])}
    follow = _following(nets["aged"], list(layers))
    watch = {v for pair in follow.values() for v in pair if v is not None}
    preds, seen, clipped = {}, {}, {}
    for key, net in nets.items():
        preds[key], seen[key] = _observe(net, x, seed, watch)
        clipped[key] = clipping_rates(net)
    fresh_layers = dict(analog_layers(nets["programmed"]))
    rows = []
    for name, layer in layers.items():
        a, f = layer.array, fresh_layers[name].array
        norm, relu = follow[name]

        def mean(key: str, module: str | None) -> float:
            return float(seen[key][module].mean()) if module is not None else float("nan")

        def std(key: str, module: str | None) -> float:
            return float(seen[key][module].std()) if module is not None else float("nan")

        def zeros(key: str, module: str | None) -> float:
            return float((seen[key][module] == 0).double().mean()) if module is not None else float("nan")

        rows.append(LayerDiagnosis(
            layer=name, gain=_gain(a.conductance, f.conductance),
            full_scale=float(torch.median(a.full_scale / f.full_scale)),
            clipped_programmed=float(clipped["programmed"][name]), clipped=float(clipped["aged"][name]),
            norm=norm, norm_mean_programmed=mean("programmed", norm), norm_mean=mean("aged", norm),
            norm_std_programmed=std("programmed", norm), norm_std=std("aged", norm),
            zeros_programmed=zeros("programmed", relu), zeros=zeros("aged", relu)))
    classes = int(preds["aged"].max().item()) + 1

    def counts(key: str) -> tuple[int, ...]:
        return tuple(int(c) for c in torch.bincount(preds[key], minlength=classes))

    n = max(len(counts("programmed")), len(counts("aged")))
    pad = lambda c: c + (0,) * (n - len(c))  # noqa: E731
    return DriftDiagnosis(profile=aged_ev.profile.name, t=float(age.t), t0=float(drift.t0), n=len(x),
                          layers=tuple(rows), classes_programmed=pad(counts("programmed")),
                          classes=pad(counts("aged")))
