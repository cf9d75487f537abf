"""Which weights hardware-aware training puts through the device, and the forwards that do it.

:data:`RULES` is the one table: for each layer type that ``crossbar.nn.convert``
maps (``crossbar.nn.mappable.MAPPABLE``), the weight matrices (inputs x outputs, with
their digital bias) laid out as the layer's arrays hold them, the parameters those
matrices are made of (what weight clipping clips), and the forward that computes the
layer with a product function in place of each matrix product. A new mappable layer
type is one more entry. :func:`device_forward` swaps these forwards in for one pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from crossbar.nn.attention import attend, projections
from crossbar.nn.conv import fold_positions, group_sizes, grouped_layout, position_rows
from crossbar.nn.convert import mapped_by_use
from crossbar.nn.mappable import SUPPORTED, analog_class
from crossbar.nn.recurrent import gate_weights, param_suffixes, params_of
from crossbar.read.ops import recurrence

from . import dac_chain
from .hardware import Draws, HardwareConfig, HardwareError, Programmed, applied, product, program, straight

__all__ = ["RULES", "Rule", "clip_weights", "device_forward", "mapped_layers"]

Matrices = list[tuple[torch.Tensor, torch.Tensor | None]]


@dataclass(frozen=True)
class Array:
    """One array's product in a training forward: ``read(x)`` (bias included) of ``inputs`` rows."""

    read: Callable[[torch.Tensor], torch.Tensor]
    inputs: int

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.read(x)


@dataclass(frozen=True)
class Rule:
    """How one layer type maps: ``matrices(layer, profile)`` (W inputs x outputs, bias) per array,
    ``params(layer)`` the weight parameters they are built from, ``forward(layer, x, products)``
    the layer's output with ``products[k]`` computing array k's product, and
    ``product(layer, hw, gen, x, w, prog, bias)`` one such product of ``w`` through its draw."""

    matrices: Callable[[nn.Module], Matrices]
    params: Callable[[nn.Module], list[torch.Tensor]]
    forward: Callable[..., object]
    product: Callable[..., torch.Tensor]


def _linear_product(_layer: nn.Module, hw: HardwareConfig, gen: Draws, x: torch.Tensor, w: torch.Tensor,
                    prog: Programmed, bias: torch.Tensor | None) -> torch.Tensor:
    """Rows x inputs through the draw ``prog`` of ``w``: DAC per row, one band at a time (any
    layer whose arrays multiply rows)."""
    def run() -> tuple[torch.Tensor, torch.Tensor]:
        xq, scale = applied(x, hw)
        return product(xq, scale, lambda u, i, g: u[:, slice(*prog.bands[i])] @ g, prog, hw, gen, bias), xq

    return straight(x, w, bias, prog, run, _linear_ideal)


def _linear_ideal(g: torch.Tensor, xq: torch.Tensor, w: torch.Tensor, need_x: bool, need_w: bool,
                  need_b: bool):
    # the weight gradient as outputs x inputs, transposed back: the layer's own layout, which
    # autograd then accumulates without a copy
    gw = (g.t() @ xq).t() if need_w else None
    return (g @ w.t() if need_x else None), gw, (g.sum(0) if need_b else None)


def _linear_forward(layer: nn.Linear, x: torch.Tensor, products: list[Array]) -> torch.Tensor:
    y = products[0](x.reshape(-1, x.shape[-1]))
    return y.reshape(*x.shape[:-1], y.shape[-1])


def _conv_matrices(layer: nn.Module, profile) -> Matrices:
    """A convolution's arrays as ``convert`` lays them out (``crossbar.nn.conv.grouped_layout``):
    each holds n consecutive groups block-diagonally, (C_in/groups * kernel) x C_out/groups each
    (transposed: C_in/groups x C_out/groups * kernel, its bias added after the fold)."""
    cls, groups, per_out = analog_class(layer), layer.groups, layer.out_channels // layer.groups
    blocks = cls.weight_blocks(layer.weight, groups)
    out, g = [], 0
    for n in group_sizes(groups, grouped_layout(groups, *blocks[0].shape, profile)):
        w = blocks[g] if n == 1 else torch.block_diag(*blocks[g:g + n])
        digital = layer.bias is None or cls.transposed
        out.append((w, None if digital else layer.bias[g * per_out:(g + n) * per_out]))
        g += n
    return out


def _conv_pads(layer: nn.Module) -> tuple[tuple[int, ...], list[int] | None, str]:
    """(the padding of the product, the digital pre-padding or None, its mode), as the analog
    layer pads (``padding="same"``, padding modes)."""
    spec = dict(kernel_size=layer.kernel_size, dilation=layer.dilation, padding=layer.padding,
                padding_mode=layer.padding_mode)
    return analog_class(layer).paddings(spec)


def _conv_forward(layer: nn.Module, x: torch.Tensor, products: list[Array]) -> torch.Tensor:
    """Padded digitally where the analog layer does, each array on its groups' input channels."""
    _, pre, mode = _conv_pads(layer)
    if pre is not None:
        x = F.pad(x, pre, mode=mode)
    if len(products) == 1:
        return products[0](x)
    per = math.prod(layer.kernel_size)
    xs = x.split([a.inputs // per for a in products], dim=1)
    return torch.cat([a(xi) for a, xi in zip(products, xs, strict=True)], dim=1)


def _transposed_forward(layer: nn.Module, x: torch.Tensor, products: list[Array]) -> torch.Tensor:
    """Each array on its groups' input channels, one row per input position, the overlapping
    outputs added digitally (``crossbar.nn.conv.fold_positions``) and the bias after them."""
    xs = x.split([a.inputs for a in products], dim=1)
    geometry = (layer.kernel_size, layer.stride, layer.padding, layer.dilation, layer.output_padding)
    out = torch.cat([fold_positions(a(position_rows(xi)), x.shape[0], x.shape[2:], *geometry)
                     for a, xi in zip(products, xs, strict=True)], dim=1)
    if layer.bias is not None:
        out = out + layer.bias.view(1, -1, 1, 1)
    return out.squeeze(2) if x.dim() == 3 else out


def _window_max(m: torch.Tensor, kernel, stride, dilation) -> torch.Tensor:
    """The max pool of ``m`` (N x 1 x spatial axes) over the convolution's windows, one axis at a
    time as maxima of shifted slices: the pool's values exactly (a max is exact), and on the CPU
    far faster than a one-channel ``max_pool``."""
    for axis, (k, s, dl) in enumerate(zip(kernel, stride, dilation, strict=True), start=2):
        n = (m.shape[axis] - dl * (k - 1) - 1) // s + 1
        lead = (slice(None),) * axis
        out = None
        for i in range(k):
            part = m[lead + (slice(i * dl, i * dl + (n - 1) * s + 1, s),)]
            out = part if out is None else torch.maximum(out, part)
        m = out
    return m


def _conv_product(layer: nn.Module, hw: HardwareConfig, gen: Draws, x: torch.Tensor, w: torch.Tensor,
                  prog: Programmed, bias: torch.Tensor | None) -> torch.Tensor:
    """A convolution (1, 2 or 3 spatial axes) through the draw ``prog`` of ``w``, one convolution
    per row band on the input channels the band covers (its weights zero outside the band). The
    scale of each patch (vector) is its largest magnitude; the DAC rounds with the scale of each
    image (coarser or equal, so never kinder than the chip)."""
    kernel, stride, dilation = layer.kernel_size, layer.stride, layer.dilation
    padding = _conv_pads(layer)[0]
    conv = (F.conv1d, F.conv2d, F.conv3d)[len(kernel) - 1]
    per = math.prod(kernel)

    def run() -> tuple[torch.Tensor, torch.Tensor]:
        mag = (dac_chain.channel_max(x) if x.device.type == "cpu" and x.dtype == torch.float32
               else torch.maximum(x.amax(1, keepdim=True), -x.amin(1, keepdim=True)))  # max |x| over channels
        padded = F.pad(mag, [p for q in reversed(padding) for p in (q, q)])
        patch = _window_max(padded, kernel, stride, dilation)
        scale = torch.where(patch == 0, torch.ones_like(patch), patch)
        xq = applied(x, hw)[0]

        def mvm(u: torch.Tensor, i: int, g: torch.Tensor) -> torch.Tensor:
            r0, r1 = prog.bands[i]
            c0, c1 = r0 // per, -(-r1 // per)
            wb = F.pad(g.t(), (r0 - c0 * per, c1 * per - r1)).reshape(-1, c1 - c0, *kernel)
            return conv(u[:, c0:c1], wb, None, stride, padding, dilation)

        return product(xq, scale, mvm, prog, hw, gen, bias), xq

    def ideal(g: torch.Tensor, xq: torch.Tensor, w_eff: torch.Tensor, need_x: bool, need_w: bool,
              need_b: bool):
        weight = w_eff.t().reshape(w_eff.shape[1], -1, *kernel).contiguous()  # a strided weight: 20 % slower
        gx, gw, gb = torch.ops.aten.convolution_backward(g, xq, weight, [weight.shape[0]], stride, padding,
                                                         dilation, False, [0] * len(kernel), 1,
                                                         [need_x, need_w, need_b])
        return gx, (gw.reshape(gw.shape[0], -1).t() if need_w else None), gb

    return straight(x, w, bias, prog, run, ideal)


def _attention_matrices(layer: nn.MultiheadAttention, _profile) -> Matrices:
    """The q, k, v and output projections, one array each (``crossbar.nn.attention``)."""
    weights, biases = projections(layer)
    return ([(w.t(), b) for w, b in zip(weights, biases, strict=True)]
            + [(layer.out_proj.weight.t(), layer.out_proj.bias)])


def _attention_params(layer: nn.MultiheadAttention) -> list[torch.Tensor]:
    """Each projection's weight (views of a packed ``in_proj_weight``): clipped one by one."""
    return [*projections(layer)[0], layer.out_proj.weight]


def _attention_forward(layer: nn.MultiheadAttention, query: torch.Tensor, products: list[Array], key,
                       value, key_padding_mask=None, need_weights=True, attn_mask=None,
                       average_attn_weights=True, is_causal=False):
    """``attend`` (the one attention, digital) with each projection read through its array."""
    def project(f: Array) -> Callable[[torch.Tensor], torch.Tensor]:
        return lambda t: f(t.reshape(-1, t.shape[-1])).reshape(*t.shape[:-1], -1)

    return attend(query, key, value, [project(f) for f in products], layer.num_heads,
                  batch_first=layer.batch_first, key_padding_mask=key_padding_mask,
                  need_weights=need_weights, attn_mask=attn_mask, average_attn_weights=average_attn_weights,
                  is_causal=is_causal, dropout=layer.dropout, training=layer.training)


def _recurrent_matrices(layer: nn.RNNBase) -> Matrices:
    """One array per layer and direction, laid out as ``crossbar.nn.recurrent`` maps it."""
    out = []
    for suffix in param_suffixes(layer):
        w, b = gate_weights(layer.mode, *params_of(layer, suffix))
        out.append((w.t(), b))
    return out


def _recurrent_forward(layer: nn.RNNBase, x: torch.Tensor, products: list[Array], state=None):
    gates = [lambda x_t, h, f=f: f(torch.cat([x_t, h], dim=1)) for f in products]
    return recurrence(layer.mode, x, state, gates, directions=2 if layer.bidirectional else 1,
                      hidden=layer.hidden_size, batch_first=layer.batch_first)


_CONV = Rule(_conv_matrices, lambda m: [m.weight], _conv_forward, _conv_product)
_TRANSPOSED = Rule(_conv_matrices, lambda m: [m.weight], _transposed_forward, _linear_product)
RULES: dict[type[nn.Module], Rule] = {
    nn.Linear: Rule(lambda m, _p: [(m.weight.t(), m.bias)], lambda m: [m.weight], _linear_forward,
                    _linear_product),
    nn.Conv1d: _CONV,
    nn.Conv2d: _CONV,
    nn.Conv3d: _CONV,
    nn.ConvTranspose1d: _TRANSPOSED,
    nn.ConvTranspose2d: _TRANSPOSED,
    nn.MultiheadAttention: Rule(_attention_matrices, _attention_params, _attention_forward,
                                _linear_product),
    nn.RNNBase: Rule(lambda m, _p: _recurrent_matrices(m),
                     lambda m: [p for n, p in m.named_parameters() if n.startswith("weight_")],
                     _recurrent_forward, _linear_product),
}


def _rule(module: nn.Module) -> Rule | None:
    for torch_type, rule in RULES.items():
        if isinstance(module, torch_type):
            return rule
    return None


def mapped_layers(model: nn.Module, example=None) -> list[tuple[str, nn.Module, Rule]]:
    """(name, layer, rule) of every layer ``convert`` would map, in module order; a layer it
    would refuse is refused here too, and so is a model with none. With an ``example`` input,
    a weight ``convert`` would map by use (no rule here) is refused too."""
    out: list[tuple[str, nn.Module, Rule]] = []
    for name, module in model.named_modules():
        cls = analog_class(module)
        if cls is None or any(not n or name.startswith(f"{n}.") for n, _, _ in out):  # attention's out_proj
            continue
        reason = cls.unsupported(module)
        rule = _rule(module)
        if reason or rule is None:
            raise HardwareError(None, "model", f"layer {name!r} ({type(module).__name__}) cannot be trained "
                                f"against a device: {reason or 'no hardware-aware forward for it'}")
        out.append((name, module, rule))
    for name in mapped_by_use(model, example) if example is not None else ():
        raise HardwareError(None, "model", f"parameter {name!r} is multiplied with an input in its module's "
                            "own forward (convert maps it by use), and hardware-aware training has rules "
                            "only for layers mapped by class: make the product an nn.Linear, or train "
                            "without hardware=", allowed=", ".join(SUPPORTED))
    if not out:
        raise HardwareError(None, "model", f"{type(model).__name__} has no layer that convert() maps, so "
                            "there is nothing to train against a device", allowed=", ".join(SUPPORTED))
    return out


@contextmanager
def device_forward(layers: list[tuple[str, nn.Module, Rule]], hw: HardwareConfig,
                   gen: Draws) -> Iterator[None]:
    """Within the block every mapped layer computes through the device: each call draws its
    matrices afresh (:func:`crossbar.training.hardware.program`) and reads them with
    :func:`crossbar.training.hardware.product`, random numbers from ``gen``."""

    gen.next_forward()

    def make(module: nn.Module, rule: Rule):
        def forward(x, *args, **kwargs):
            products = []
            for w, b in rule.matrices(module, hw.device):
                with torch.no_grad():
                    prog = program(w, hw, gen)
                products.append(Array(lambda v, w=w, prog=prog, b=b:
                                      rule.product(module, hw, gen, v, w, prog, b), w.shape[0]))
            return rule.forward(module, x, products, *args, **kwargs)
        return forward

    for _, module, rule in layers:
        module.forward = make(module, rule)
    try:
        yield
    finally:
        for _, module, _ in layers:
            del module.forward


@torch.no_grad()
def clip_weights(layers: list[tuple[str, nn.Module, Rule]], k: float) -> None:
    """Clip every mapped weight tensor at +-k of its own standard deviation (after a step)."""
    for _, module, rule in layers:
        for p in rule.params(module):
            bound = k * p.std()
            p.clamp_(-bound, bound)

