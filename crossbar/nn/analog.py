"""Torch layers whose matrix-vector products run on crossbar arrays.

Each layer programs its weights once onto a :class:`~crossbar.CrossbarArray`
and reads it on every forward pass (fresh read noise each time). The layers
are for inference: they do not propagate gradients to the weights.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from crossbar.array import CrossbarArray


class AnalogLayer(nn.Module):
    """Common state: the float weights (for reprogramming), the profile, the arrays."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, profile, seed: int) -> None:
        super().__init__()
        # weight is (inputs x outputs), the crossbar orientation.
        self.register_buffer("weight_io", weight.detach().to(torch.float32).cpu().clone())
        self.register_buffer("bias", None if bias is None else bias.detach().to(torch.float32).cpu().clone())
        self.profile = profile
        self.passes = 1  # MVMs per input example in the last forward (conv: output positions)
        self.program(seed)

    def program(self, seed: int) -> None:
        """(Re)programme the array: new programming noise and faults for ``seed``."""
        self.program_seed = int(seed)
        self.array = CrossbarArray.program(self.weight_io.numpy(), self.profile, seed=seed)

    def reseed(self, seed: int) -> None:
        """Restart the read-noise stream (the programmed conductances are kept)."""
        self.array.reseed(seed)

    def _mvm(self, x2d: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias.numpy()
        return self.array.mvm(x2d.detach().to(torch.float32).contiguous(), bias=bias)

    def extra_repr(self) -> str:
        n_in, n_out = self.array.shape
        return f"in={n_in}, out={n_out}, profile={self.profile.name}, tiles={len(self.array.tiles)}"


class AnalogLinear(AnalogLayer):
    """``y = x W^T + b`` with the product on a crossbar array."""

    @classmethod
    def from_float(cls, layer: nn.Linear, profile, seed: int) -> AnalogLinear:
        return cls(layer.weight.t(), layer.bias, profile, seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        y = self._mvm(x.reshape(-1, shape[-1]))
        self.passes = 1
        return y.reshape(*shape[:-1], y.shape[-1]).to(x.dtype)


class AnalogConv2d(AnalogLayer):
    """2-D convolution as im2col: every output position is one MVM on the array."""

    def __init__(self, weight, bias, profile, seed, *, kernel_size, stride, padding, dilation) -> None:
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.out_channels = weight.shape[1]
        super().__init__(weight, bias, profile, seed)

    @classmethod
    def from_float(cls, layer: nn.Conv2d, profile, seed: int) -> AnalogConv2d:
        if layer.groups != 1:
            raise ValueError(f"Conv2d with groups={layer.groups} is not supported (only groups=1)")
        if layer.padding_mode != "zeros":
            raise ValueError(f"Conv2d padding_mode={layer.padding_mode!r} is not supported (only 'zeros')")
        if isinstance(layer.padding, str):
            raise ValueError(f"Conv2d padding={layer.padding!r} is not supported; give explicit integers")
        weight = layer.weight.reshape(layer.out_channels, -1).t()
        return cls(
            weight, layer.bias, profile, seed,
            kernel_size=layer.kernel_size, stride=layer.stride,
            padding=layer.padding, dilation=layer.dilation,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        cols = F.unfold(x, self.kernel_size, dilation=self.dilation, padding=self.padding, stride=self.stride)
        positions = cols.shape[-1]
        y = self._mvm(cols.transpose(1, 2).reshape(n * positions, -1))
        k, p, d, s = self.kernel_size, self.padding, self.dilation, self.stride
        h_out, w_out = ((n_ + 2 * p[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i, n_ in enumerate((h, w)))
        self.passes = positions
        y = y.reshape(n, h_out, w_out, self.out_channels).permute(0, 3, 1, 2)
        return y.contiguous().to(x.dtype)


class AnalogLSTM(nn.Module):
    """``nn.LSTM`` (unidirectional, any number of layers) with each layer's gates on one array.

    Per layer and time step the four gate products W_ih x + W_hh h + b are one
    MVM on the concatenated input [x, h] (the four gate matrices side by side
    on the tiles, as in Fig. 1 of Qin & Vucinic); the nonlinearities are digital.
    """

    def __init__(self, layer: nn.LSTM, profile, seed: int, seeds: list[int]) -> None:
        super().__init__()
        if layer.bidirectional:
            raise ValueError("bidirectional LSTM is not supported")
        if layer.proj_size:
            raise ValueError("LSTM with proj_size is not supported")
        self.batch_first = layer.batch_first
        self.hidden_size = layer.hidden_size
        gates = []
        for k in range(layer.num_layers):
            w = torch.cat([getattr(layer, f"weight_ih_l{k}"), getattr(layer, f"weight_hh_l{k}")], dim=1)
            b = None
            if layer.bias:
                b = getattr(layer, f"bias_ih_l{k}") + getattr(layer, f"bias_hh_l{k}")
            gates.append(_GateArray(w.t(), b, profile, seeds[k]))
        self.gates = nn.ModuleList(gates)
        self.profile = profile

    def forward(self, x: torch.Tensor, state=None):
        if self.batch_first:
            x = x.transpose(0, 1)
        steps, batch, _ = x.shape
        hs, cs = [], []
        seq = x
        for k, gate in enumerate(self.gates):
            if state is None:
                h = x.new_zeros(batch, self.hidden_size)
                c = x.new_zeros(batch, self.hidden_size)
            else:
                h, c = state[0][k], state[1][k]
            outs = []
            for t in range(steps):
                z = gate(torch.cat([seq[t], h], dim=1))
                i, f, g, o = z.chunk(4, dim=1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                outs.append(h)
            seq = torch.stack(outs)
            gate.passes = steps
            hs.append(h)
            cs.append(c)
        out = seq.transpose(0, 1) if self.batch_first else seq
        return out, (torch.stack(hs), torch.stack(cs))


class _GateArray(AnalogLinear):
    """One LSTM layer's fused gate product on a crossbar array."""
