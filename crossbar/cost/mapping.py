"""Latency, energy and area of one inference of a converted model.

``crossbar.nn.convert.convert(model, profile)`` maps a network onto crossbar
arrays; :func:`network_cost_of` runs one forward pass on an example input
with a forward hook on every analog layer that counts the vectors the layer
actually multiplies (a convolution: one per output position; an LSTM's gate
array: one per time step; a layer called twice in a forward: twice), reads
each layer's programmed tiles, and combines
:func:`~crossbar.cost.layer_cost` per layer into a
:class:`~crossbar.cost.NetworkCost`:

    analog = convert(model, load("reram"), seed=0)
    net = network_cost_of(analog, x[:8])              # activity measured on x[:8]
    print(net.to_markdown()); voting_cost(net, 10)

Each analog layer is one pipeline stage, in the order the model holds them
(``analog_layers``). Equations: ``docs/cost.md``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from crossbar.cost.digital import DigitalCounter
from crossbar.cost.model import NetworkCost, input_activity, layer_cost, network_cost, tile_usage

__all__ = ["LayerTrace", "count_mvms", "measure_activity", "network_cost_of", "trace"]


def _analog_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    from crossbar.nn.convert import analog_layers

    layers = analog_layers(model)
    if not layers:
        raise ValueError(
            f"{type(model).__name__} has no crossbar layers; convert it first: "
            "crossbar.nn.convert.convert(model, profile)"
        )
    return layers


def _examples(example_input, examples: int | None) -> int:
    if examples is not None:
        if isinstance(examples, bool) or not isinstance(examples, numbers.Integral) or examples < 1:
            raise ValueError(f"examples must be an integer >= 1, got {examples!r}")
        return int(examples)
    first = example_input[0] if isinstance(example_input, (tuple, list)) else example_input
    if not isinstance(first, torch.Tensor) or first.dim() == 0 or first.shape[0] == 0:
        raise ValueError("cannot tell the number of examples from example_input; pass examples=N")
    return int(first.shape[0])


@dataclass(frozen=True)
class LayerTrace:
    """What one analog layer did in a forward pass, per example: vectors multiplied, their
    activity, the tile re-reads of bound management (a mean, may be fractional), and the
    share of its ADC conversions that clipped (NaN: none made, e.g. an abstract profile)."""

    mvms: int
    activity: float | None
    rereads: float = 0.0
    clipping_rate: float = math.nan


def trace(model: nn.Module, example_input, examples: int | None = None,
          activity: bool = True, digital: DigitalCounter | None = None) -> dict[str, LayerTrace]:
    """One forward pass of ``model`` on ``example_input`` with counting hooks on every analog layer.

    A forward pre-hook on each layer takes the vectors it multiplies
    (``layer.vectors``: conv patches, or rows) every time it is called and
    counts them; divided by the number of examples (``examples``, else the
    first dimension of the (first) input tensor) that is the layer's MVMs per
    example. With ``activity`` it also measures their input activity
    (:func:`crossbar.cost.input_activity` with the layer's profile: each vector
    scaled by its own largest magnitude, quantised and sliced as the layer's DAC
    does), averaged over all of a layer's vectors. The tile re-reads bound
    management made in the pass are counted per example. ``digital``: a counter that
    sees the pass and counts the digital work off the arrays
    (:mod:`crossbar.cost.digital`). The read sequences and read statistics of the
    model are left as they were.
    """
    layers = _analog_layers(model)
    n = _examples(example_input, examples)
    counts = {name: 0 for name, _ in layers}
    sums = {name: 0.0 for name, _ in layers}
    handles = []

    def hook_for(name: str):
        def hook(module, args):
            if digital is not None:
                digital.depth += 1
            vectors = module.vectors(args[0].detach())
            counts[name] += vectors.shape[0]
            if activity and vectors.numel():
                sums[name] += input_activity(vectors.float(), profile=module.profile) * vectors.shape[0]

        return hook

    readers = [m for m in model.modules() if hasattr(m, "next_key")]
    saved = [(m.read_seed, m.reads) for m in readers]
    stats = {name: dataclasses.replace(layer.array.stats) for name, layer in layers}
    for _, layer in layers:
        layer.array.stats.reset()
    def leave(module, args, out) -> None:
        if digital is not None:
            digital.depth -= 1

    for name, layer in layers:
        handles.append(layer.register_forward_pre_hook(hook_for(name)))
        handles.append(layer.register_forward_hook(leave, always_call=True))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), digital if digital is not None else contextlib.nullcontext():
            if isinstance(example_input, (tuple, list)):
                model(*example_input)
            else:
                model(example_input)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
        for m, (seed, reads) in zip(readers, saved, strict=True):
            m.read_seed, m.reads = seed, reads
        rereads = {name: layer.array.stats.rereads for name, layer in layers}
        clipped = {name: layer.array.stats.clipping_rate for name, layer in layers}
        for name, layer in layers:
            layer.array.stats = stats[name]
    missing = [name for name in counts if counts[name] == 0]
    if missing:
        raise ValueError(f"analog layer(s) {', '.join(missing)} received no input in the forward pass")
    out = {}
    for name, total in counts.items():
        if total % n:
            raise ValueError(f"analog layer {name} multiplied {total} vectors for {n} examples, not a whole "
                             "number per example; pass examples=N with the true number of examples")
        out[name] = LayerTrace(total // n, sums[name] / total if activity else None, rereads[name] / n,
                               clipped[name])
    return out


def count_mvms(model: nn.Module, example_input, examples: int | None = None) -> dict[str, int]:
    """MVMs per example of every analog layer in one forward pass (see :func:`trace`)."""
    return {name: t.mvms for name, t in trace(model, example_input, examples, activity=False).items()}


def measure_activity(model: nn.Module, example_input) -> dict[str, float]:
    """Input activity of every analog layer on ``example_input``: the mean conduction energy per
    full drive of its vectors as the layer's profile converts them (mean (V_i / V_read)^2 for a
    one-shot level DAC; :func:`crossbar.cost.input_activity`). Returns ``{layer name: a}``."""
    return {name: t.activity for name, t in trace(model, example_input, activity=True).items()}


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
    examples: int | None = None,
) -> NetworkCost:
    """Cost of one inference of a converted ``model`` (per example, not per batch).

    ``example_input``: a batch the model accepts (or a tuple of arguments);
    one forward pass with hooks counts each analog layer's MVMs per example
    (:func:`trace`; ``examples`` as there). The model's read sequences are
    left as they were.

    ``activity``: ``None`` measures each layer's input activity on the same
    pass; a number in [0, 1] is used for every layer (1.0 = every input at
    full scale, the worst case); a mapping gives it per layer name.
    ``replication``: copies of every layer's tiles (an int) or per layer name
    (missing names: 1); a layer with R copies runs ceil(MVMs / R) sequential passes.

    Layers are the model's analog layers in module order, each one pipeline
    stage; each uses its own profile (per-layer overrides of ``convert``). The
    bound-management re-reads of the pass (per example) are charged to each layer. The
    digital work off the arrays (attention products, softmax, norms, lookups) is counted
    on the same pass and priced by :mod:`crossbar.cost.digital`.
    """
    layers = _analog_layers(model)
    names = [name for name, _ in layers]
    reps = _replication_for(replication, names)
    if isinstance(activity, Mapping):
        _check_layer_names("activity", activity, names)
        missing = [n for n in names if n not in activity]
        if missing:
            raise ValueError(f"activity mapping lacks layer(s) {', '.join(missing)}")
    counter = DigitalCounter()
    traces = trace(model, example_input, examples, activity=activity is None, digital=counter)
    if activity is None:
        acts = {name: t.activity for name, t in traces.items()}
    elif isinstance(activity, Mapping):
        acts = dict(activity)
    else:
        acts = dict.fromkeys(names, activity)
    costs = []
    for name, layer in layers:
        usages = [tile_usage(t) for t in layer.array.tiles]
        costs.append(layer_cost(layer.profile, usages, passes=traces[name].mvms, replication=reps[name],
                                activity=acts[name], name=name, rereads=traces[name].rereads,
                                clipping_rate=traces[name].clipping_rate, macs=layer.real_weights))
    return network_cost(costs, counter.work(_examples(example_input, examples)))
