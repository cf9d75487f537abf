"""Latency, energy and area of one inference of a converted model.

``crossbar.nn.convert.convert(model, profile)`` maps a network onto crossbar
arrays; :func:`network_cost_of` runs one forward pass on an example input to
learn how many MVMs each analog layer makes per example (a convolution: one per
output position; an LSTM: one per time step), reads each layer's programmed
tiles, and combines :func:`~crossbar.cost.layer_cost` per layer into a
:class:`~crossbar.cost.NetworkCost`:

    analog = convert(model, load("reram"), seed=0)
    net = network_cost_of(analog, x[:8])              # activity measured on x[:8]
    print(net.to_markdown()); voting_cost(net, 10)

Each analog layer is one pipeline stage, in the order the model holds them
(``analog_layers``). Equations: ``docs/cost.md``.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import torch
from torch import nn
from torch.nn import functional as F

from crossbar.cost.model import NetworkCost, input_activity, layer_cost, network_cost, tile_usage

__all__ = ["layer_inputs", "measure_activity", "network_cost_of"]


def layer_inputs(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The vectors ``layer`` applies to its array for input ``x`` (vectors x inputs).

    A convolution's vectors are its im2col patches (one per output position);
    any other analog layer's are the rows of ``x`` flattened to its last axis.
    """
    from crossbar.nn.analog import AnalogConv2d

    x = x.detach()
    if isinstance(layer, AnalogConv2d):
        cols = F.unfold(x.float(), layer.kernel_size, dilation=layer.dilation,
                        padding=layer.padding, stride=layer.stride)
        return cols.transpose(1, 2).reshape(-1, cols.shape[1])
    return x.reshape(-1, x.shape[-1])


def _analog_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    from crossbar.nn.convert import analog_layers

    layers = analog_layers(model)
    if not layers:
        raise ValueError(
            f"{type(model).__name__} has no crossbar layers; convert it first: "
            "crossbar.nn.convert.convert(model, profile)"
        )
    return layers


def _forward(model: nn.Module, example_input) -> None:
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            if isinstance(example_input, (tuple, list)):
                model(*example_input)
            else:
                model(example_input)
    finally:
        model.train(was_training)


def measure_activity(model: nn.Module, example_input) -> dict[str, float]:
    """Input activity a = mean (V_i / V_read)^2 of every analog layer on ``example_input``.

    Runs one forward pass with hooks that collect each layer's MVM input
    vectors (conv patches included) and applies :func:`crossbar.cost.input_activity`
    (each vector scaled by its own largest magnitude, as the DAC does). A layer
    called several times in the pass (an LSTM gate array, once per step) gets
    the mean over all its vectors. Returns ``{layer name: a}``.
    """
    layers = _analog_layers(model)
    sums: dict[str, float] = {name: 0.0 for name, _ in layers}
    counts: dict[str, int] = {name: 0 for name, _ in layers}
    handles = []

    def hook_for(name: str):
        def hook(module, args):
            vectors = layer_inputs(module, args[0])
            if vectors.numel():
                sums[name] += input_activity(vectors) * vectors.shape[0]
                counts[name] += vectors.shape[0]

        return hook

    for name, layer in layers:
        handles.append(layer.register_forward_pre_hook(hook_for(name)))
    try:
        _forward(model, example_input)
    finally:
        for h in handles:
            h.remove()
    missing = [name for name in sums if counts[name] == 0]
    if missing:
        raise ValueError(f"analog layer(s) {', '.join(missing)} received no input in the forward pass")
    return {name: sums[name] / counts[name] for name in sums}


def _check_layer_names(what: str, per_layer: Mapping, names: list[str]) -> None:
    """A per-layer mapping may only name analog layers of the model."""
    unknown = [k for k in per_layer if k not in names]
    if unknown:
        raise ValueError(
            f"{what} names unknown layer(s) {', '.join(map(repr, unknown))}; "
            f"analog layers: {', '.join(names)}"
        )


def _replication_for(replication, names: list[str]) -> dict[str, int]:
    def check(key: str, value) -> int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"replication for {key} must be an integer >= 1, got {value!r}")
        return int(value)

    if isinstance(replication, Mapping):
        _check_layer_names("replication", replication, names)
        return {n: check(n, replication.get(n, 1)) for n in names}
    r = check("every layer", replication)
    return dict.fromkeys(names, r)


def network_cost_of(
    model: nn.Module,
    example_input,
    activity: float | Mapping[str, float] | None = None,
    replication: int | Mapping[str, int] = 1,
) -> NetworkCost:
    """Cost of one inference of a converted ``model`` (per example, not per batch).

    ``example_input``: a batch the model accepts (or a tuple of arguments);
    one forward pass records each analog layer's ``passes`` (MVMs per
    example). That pass reads the arrays, so it advances their read-noise
    streams: call ``crossbar.nn.convert.reseed`` afterwards where exact
    read-noise sequences matter.

    ``activity``: ``None`` measures each layer's input activity on the same
    pass (:func:`measure_activity`); a number in [0, 1] is used for every
    layer (1.0 = every input at full scale, the worst case); a mapping gives
    it per layer name. ``replication``: copies of every layer's tiles (an int)
    or per layer name (missing names: 1); a conv layer with R copies runs
    ceil(positions / R) sequential passes.

    Layers are the model's analog layers in module order, each one pipeline
    stage; each uses its own profile (per-layer overrides of ``convert``).
    """
    layers = _analog_layers(model)
    names = [name for name, _ in layers]
    reps = _replication_for(replication, names)
    if activity is None:
        acts = measure_activity(model, example_input)
    else:
        _forward(model, example_input)
        if isinstance(activity, Mapping):
            _check_layer_names("activity", activity, names)
            missing = [n for n in names if n not in activity]
            if missing:
                raise ValueError(f"activity mapping lacks layer(s) {', '.join(missing)}")
            acts = dict(activity)
        else:
            acts = dict.fromkeys(names, activity)
    costs = []
    for name, layer in layers:
        passes = int(getattr(layer, "passes", 1))
        usages = [tile_usage(t) for t in layer.array.tiles]
        costs.append(layer_cost(layer.profile, usages, passes=passes, replication=reps[name],
                                activity=acts[name], name=name))
    return network_cost(costs)
