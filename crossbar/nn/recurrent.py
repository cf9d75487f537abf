"""Recurrent layers on crossbar arrays: ``nn.RNN`` (tanh, relu), ``nn.GRU`` and ``nn.LSTM``,
multi-layer, bidirectional, ``batch_first`` either way, with or without initial states.

Each layer and direction is one array on the concatenated input [x, h]: per time step
one MVM gives all its gate pre-activations (the gate matrices side by side on the
tiles, Fig. 1 of Qin & Vucinic); the nonlinearities are digital and the recurrence
is :func:`crossbar.read.ops.recurrence`, the one for all three cells (and for the
layers with placed noise, :mod:`crossbar.nn.placement`). The array's columns, in
hidden widths (:func:`gate_weights`):

- LSTM: [i, f, g, o] = W_ih x + W_hh h + (b_ih + b_hh);
- RNN: one width, the same sum;
- GRU: [r, z, n_x, n_h] with n_x = W_in x + b_in and n_h = W_hn h + b_hn, because the
  reset gate multiplies only the hidden part (n = tanh(n_x + r * n_h)). The weight is
  [[W_ir W_hr], [W_iz W_hz], [W_in 0], [0 W_hn]]: one array with two zero blocks rather
  than two arrays, so a step stays one MVM on one array; ``real_weights`` leaves the
  zero blocks out of ``summary()``'s utilisation.

The biases are added digitally; ``to_float`` returns their sums in ``bias_ih`` and zeros
in ``bias_hh`` (a GRU keeps b_hn there): the same function. MVMs per example: steps x
directions x layers. Dropout between layers is a training device and is not applied
(converted models are for inference); ``proj_size`` is refused.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from crossbar.nn.layer import AnalogLinear
from crossbar.read.ops import Gate, recurrence

__all__ = ["AnalogGRU", "AnalogLSTM", "AnalogRNN", "AnalogRecurrent", "gate_weights", "param_suffixes",
           "torch_gate"]


def param_suffixes(layer: nn.Module) -> list[str]:
    """torch's parameter suffixes, layer by layer, forward direction first."""
    directions = 2 if layer.bidirectional else 1
    return [f"_l{k}" + ("_reverse" if d else "") for k in range(layer.num_layers) for d in range(directions)]


def params_of(layer: nn.Module, suffix: str):
    """(w_ih, w_hh, b_ih, b_hh) of one layer and direction (``suffix``: :func:`param_suffixes`)."""
    w_ih, w_hh = getattr(layer, f"weight_ih{suffix}"), getattr(layer, f"weight_hh{suffix}")
    if not layer.bias:
        return w_ih, w_hh, None, None
    return w_ih, w_hh, getattr(layer, f"bias_ih{suffix}"), getattr(layer, f"bias_hh{suffix}")


def gate_weights(mode: str, w_ih, w_hh, b_ih, b_hh):
    """One layer and direction's array (outputs x [x, h] inputs) and digital bias, laid out
    as the module doc says (``mode``: torch's ``RNNBase.mode``)."""
    if mode != "GRU":
        return torch.cat([w_ih, w_hh], dim=1), None if b_ih is None else b_ih + b_hh
    h = w_hh.shape[1]
    n_x = torch.cat([w_ih[2 * h:], w_hh.new_zeros(h, h)], dim=1)
    n_h = torch.cat([w_ih.new_zeros(h, w_ih.shape[1]), w_hh[2 * h:]], dim=1)
    w = torch.cat([torch.cat([w_ih[:2 * h], w_hh[:2 * h]], dim=1), n_x, n_h])
    b = None if b_ih is None else torch.cat([b_ih[:2 * h] + b_hh[:2 * h], b_ih[2 * h:], b_hh[2 * h:]])
    return w, b


def _split(mode: str, w: torch.Tensor, b: torch.Tensor | None, hidden: int):
    """:func:`gate_weights` undone: (w_ih, w_hh, b_ih, b_hh), the biases summed into b_ih."""
    n_in, h = w.shape[1] - hidden, hidden
    if mode != "GRU":
        return w[:, :n_in], w[:, n_in:], b, None if b is None else torch.zeros_like(b)
    w_ih = w[:3 * h, :n_in]
    w_hh = torch.cat([w[:2 * h, n_in:], w[3 * h:, n_in:]])
    if b is None:
        return w_ih, w_hh, None, None
    return w_ih, w_hh, b[:3 * h], torch.cat([torch.zeros_like(b[:2 * h]), b[3 * h:]])


def torch_gate(layer: nn.RNNBase, suffix: str, after) -> Gate:
    """The pre-activations of one layer and direction of a torch RNN/GRU/LSTM from its own
    parameters, in the arrays' column layout, passed through ``after`` (the placed noise)."""
    w_ih, w_hh, b_ih, b_hh = params_of(layer, suffix)
    if layer.mode != "GRU":
        b = None if b_ih is None else b_ih + b_hh
        return lambda x_t, h: after(F.linear(x_t, w_ih, b) + F.linear(h, w_hh))
    n = 2 * layer.hidden_size

    def gru(x_t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        gi, gh = F.linear(x_t, w_ih, b_ih), F.linear(h, w_hh, b_hh)
        return after(torch.cat([gi[:, :n] + gh[:, :n], gi[:, n:], gh[:, n:]], dim=1))

    return gru


class _GateArray(AnalogLinear):
    """One layer and direction's fused gate product on a crossbar array."""


class AnalogRecurrent(nn.Module):
    """A torch RNN, GRU or LSTM with each layer and direction's gates on one array."""

    torch_type: type[nn.RNNBase]

    def __init__(self, layer: nn.RNNBase, profile, seeds: Sequence[int]) -> None:
        super().__init__()
        name = type(layer).__name__
        reason = self.unsupported(layer)
        if reason:
            raise ValueError(f"{name} {reason}")
        if len(seeds) != self.arrays_for(layer):
            raise ValueError(f"an {name} of {layer.num_layers} layers and {1 + layer.bidirectional} "
                             f"direction(s) needs {self.arrays_for(layer)} seeds, got {len(seeds)}")
        self.mode = layer.mode
        self.batch_first = layer.batch_first
        self.hidden_size = layer.hidden_size
        self.input_size = layer.input_size
        self.directions = 2 if layer.bidirectional else 1
        self.spec = dict(input_size=layer.input_size, hidden_size=layer.hidden_size,
                         num_layers=layer.num_layers, bias=layer.bias, batch_first=layer.batch_first,
                         dropout=layer.dropout, bidirectional=layer.bidirectional)
        if isinstance(layer, nn.RNN):
            self.spec["nonlinearity"] = layer.nonlinearity
        gates = []
        for suffix, seed in zip(param_suffixes(layer), seeds, strict=True):
            w_ih, w_hh, b_ih, b_hh = params_of(layer, suffix)
            w, b = gate_weights(self.mode, w_ih, w_hh, b_ih, b_hh)
            gate = _GateArray(w.t(), b, profile, seed)
            gate.real_weights = w_ih.numel() + w_hh.numel()
            gates.append(gate)
        self.gates = nn.ModuleList(gates)
        self.profile = profile

    @staticmethod
    def unsupported(layer: nn.Module) -> str | None:
        if getattr(layer, "proj_size", 0):
            return f"proj_size={layer.proj_size}; projected LSTMs cannot be mapped"
        return None

    @staticmethod
    def arrays_for(layer: nn.Module) -> int:
        return layer.num_layers * (2 if layer.bidirectional else 1)

    @classmethod
    def from_float(cls, layer: nn.RNNBase, profile, seeds: Sequence[int]) -> AnalogRecurrent:
        """Map ``layer`` with one programming seed per layer and direction (forward first)."""
        return cls(layer, profile, seeds)

    @classmethod
    def from_seeds(cls, layer: nn.RNNBase, profile, seeds: Sequence[int]) -> AnalogRecurrent:
        return cls(layer, profile, seeds)

    def to_float(self) -> nn.RNNBase:
        """The torch module with the target weights (biases summed into ``bias_ih``)."""
        device = self.gates[0].array.weights.device
        out = self.torch_type(**self.spec, device=device)
        with torch.no_grad():
            for suffix, gate in zip(param_suffixes(out), self.gates, strict=True):
                split = _split(self.mode, gate.array.weights.t(), gate.bias, self.hidden_size)
                for param, value in zip(params_of(out, suffix), split, strict=True):
                    if param is not None:
                        param.copy_(value)
        return out

    def forward(self, x: torch.Tensor, state=None):
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"{type(self).__name__} takes padded tensors, not packed sequences")
        gates = [lambda x_t, h, gate=gate: gate(torch.cat([x_t, h], dim=1)) for gate in self.gates]
        return recurrence(self.mode, x, state, gates, directions=self.directions, hidden=self.hidden_size,
                          batch_first=self.batch_first)


class AnalogRNN(AnalogRecurrent):
    """``nn.RNN`` (tanh or relu) on crossbar arrays."""

    maps = "RNN"
    torch_type = nn.RNN


class AnalogGRU(AnalogRecurrent):
    """``nn.GRU`` on crossbar arrays (gate layout [r, z, n_x, n_h], module doc)."""

    maps = "GRU"
    torch_type = nn.GRU


class AnalogLSTM(AnalogRecurrent):
    """``nn.LSTM`` on crossbar arrays: per layer, direction and step, W_ih x + W_hh h + b is one
    MVM on [x, h] (gates i, f, g, o)."""

    maps = "LSTM"
    torch_type = nn.LSTM
