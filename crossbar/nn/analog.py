"""Torch layers whose matrix-vector products run on crossbar arrays.

Each layer programs its weights once onto a :class:`~crossbar.CrossbarArray`
(a submodule: ``layer.to("cuda")`` moves its buffers, ``state_dict`` saves
them) and reads it on every forward pass. The layer owns its read sequence:
forward number n reads with key ``derive(read_seed, Stream.READ, n)``, and
``reseed(seed)`` restarts it. The layers are for inference: no gradients
reach the weights. ``from_float`` maps a torch layer, ``to_float`` gives one
back (the target weights, not the programmed ones).

An abstract profile's Eq. 2/3 output noise is an :class:`AbstractNoise`
module, also with its own read sequence: inside the layer (right after the
product) as built by ``from_float``; ``convert`` moves it behind a batch norm
that directly follows the product, where Qin & Vucinic put it.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch
from torch import nn

from crossbar.array import CrossbarArray
from crossbar.operands import as_matrix
from crossbar.readops import im2col, keyed_normal, lstm_layers, qin_noise

__all__ = ["AbstractNoise", "AnalogConv2d", "AnalogLSTM", "AnalogLayer", "AnalogLinear", "NoiseAfter",
           "ReadSequence", "im2col"]
from crossbar.seeds import Stream, derive


def _seed(value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"a seed must be a non-negative integer, got {value!r}")
    return int(value)


class ReadSequence:
    """A seed and a read counter: read n uses key ``derive(read_seed, Stream.READ, n)``."""

    read_seed: int
    reads: int

    def reseed(self, seed: int) -> None:
        """Restart the read sequence from ``seed`` (programmed state is kept)."""
        self.read_seed = _seed(seed)
        self.reads = 0

    def next_key(self) -> int:
        key = derive(self.read_seed, Stream.READ, self.reads)
        self.reads += 1
        return key


class AbstractNoise(ReadSequence, nn.Module):
    """Qin & Vucinic Eq. 3 (``mult``) or Eq. 2 (``add``) of an abstract profile, in train and eval mode."""

    def __init__(self, kind: str, sigma: float, seed: int) -> None:
        super().__init__()
        self.kind = kind
        self.sigma = float(sigma)
        self.reseed(seed)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        key = self.next_key()
        return qin_noise(y, self.kind, self.sigma, lambda like, m, s: keyed_normal(like, key, m, s))

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, sigma={self.sigma:g}"


class NoiseAfter(nn.Module):
    """``inner`` (a batch norm that follows a product) and then the product's abstract output noise."""

    def __init__(self, inner: nn.Module, noise: AbstractNoise) -> None:
        super().__init__()
        self.inner = inner
        self.noise = noise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.noise(self.inner(x))


class AnalogLayer(ReadSequence, nn.Module):
    """Common state: the array (a submodule), the digital bias, the read sequence, the output noise."""

    def __init__(self, weight_io: torch.Tensor, bias: torch.Tensor | None, profile, seed: int) -> None:
        super().__init__()
        device = weight_io.device
        self.profile = profile
        self.register_buffer("bias", None if bias is None else bias.detach().to(torch.float32).clone())
        self.array = CrossbarArray.program(weight_io.detach().cpu(), profile, seed=seed).to(device)
        self.noise = None
        if profile.output_noise is not None:
            self.noise = AbstractNoise(profile.output_noise.kind, self.array.output_sigma,
                                       derive(seed, Stream.OUTPUT_NOISE))
        self.program_seed = _seed(seed)
        self.read_group = None  # a crossbar.readtime.ReadGroup while inside crossbar.nn.vote_group
        self.calibration = None  # the vectors of a calibration pass (crossbar.nn.calibrate)
        self.reseed(seed)

    @staticmethod
    def unsupported(layer: nn.Module) -> str | None:
        """Why ``layer`` cannot be mapped by this class (None: it can)."""
        return None

    @staticmethod
    def arrays_for(layer: nn.Module) -> int:
        """How many arrays (programming seeds) mapping ``layer`` takes."""
        return 1

    @classmethod
    def from_seeds(cls, layer: nn.Module, profile, seeds: Sequence[int]) -> nn.Module:
        """``from_float`` with one seed per array (what ``convert`` calls)."""
        return cls.from_float(layer, profile, seeds[0])

    def program(self, seed: int) -> None:
        """(Re)programme the array: new programming noise and faults for ``seed``, aged to the old
        array's time since programming; restarts the reads. The ADC range must be calibrated again."""
        old = self.array
        self.array = CrossbarArray.program(old.weights.cpu(), self.profile, seed=seed).to(old.weights.device)
        if not old.is_abstract and (old.time, old.tiles[0].compensated) != (self.array.time, True):
            self.array.age(old.time, old.tiles[0].compensated)
        self.program_seed = _seed(seed)
        self.reseed(seed)

    def _observe(self, vectors: torch.Tensor) -> None:
        """In a calibration pass: calibrate the ADC ranges on the first call's vectors and keep
        every call's (see :func:`crossbar.nn.calibrate`)."""
        if self.calibration is None:
            return
        if not self.calibration["vectors"]:
            self.array.calibrate(vectors, self.calibration["key"])
        self.calibration["vectors"].append(vectors.detach().clone())

    def _read(self, x2d: torch.Tensor) -> torch.Tensor:
        """One read of the rows of ``x2d`` (the layer's next key), output noise included."""
        x2d = self._checked(x2d)
        self._observe(x2d)
        y = self.array.read(x2d, self.next_key(), self.bias, output_noise=False, group=self.read_group)
        return y if self.noise is None else self.noise(y)

    def _checked(self, x: torch.Tensor) -> torch.Tensor:
        device = self.array.weights.device
        if x.device != device:
            raise ValueError(f"input is on {x.device} but the layer's arrays are on {device}; "
                             "move the model with .to(device)")
        return as_matrix("layer input", x, (x.dim(),), finite=False)  # the read checks

    def extra_repr(self) -> str:
        n_in, n_out = self.array.shape
        return f"in={n_in}, out={n_out}, profile={self.profile.name}, tiles={len(self.array.tiles)}"


class AnalogLinear(AnalogLayer):
    """``y = x W^T + b`` with the product on a crossbar array."""

    maps = "Linear"

    @classmethod
    def from_float(cls, layer: nn.Linear, profile, seed: int) -> AnalogLinear:
        return cls(layer.weight.t(), layer.bias, profile, seed)

    def to_float(self) -> nn.Linear:
        """An ``nn.Linear`` with the target weights and bias (on the layer's device)."""
        n_in, n_out = self.array.shape
        w = self.array.weights
        out = nn.Linear(n_in, n_out, bias=self.bias is not None, device=w.device)
        with torch.no_grad():
            out.weight.copy_(w.t())
            if self.bias is not None:
                out.bias.copy_(self.bias)
        return out

    def vectors(self, x: torch.Tensor) -> torch.Tensor:
        """The vectors the array multiplies for input ``x``: its rows, flattened to the last axis."""
        return x.reshape(-1, x.shape[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        y = self._read(self.vectors(x))
        return y.reshape(*shape[:-1], y.shape[-1]).to(x.dtype)


class AnalogConv2d(AnalogLayer):
    """2-D convolution as im2col: every output position is one MVM on the array."""

    maps = "Conv2d (groups=1)"

    def __init__(self, weight, bias, profile, seed, *, kernel_size, stride, padding, dilation) -> None:
        self.kernel_size = tuple(kernel_size)
        self.stride = tuple(stride)
        self.padding = tuple(padding)
        self.dilation = tuple(dilation)
        super().__init__(weight, bias, profile, seed)

    @staticmethod
    def unsupported(layer: nn.Module) -> str | None:
        if layer.groups != 1:
            return f"groups={layer.groups}; only groups=1 can be mapped"
        if layer.padding_mode != "zeros":
            return f"padding_mode={layer.padding_mode!r}; only 'zeros' can be mapped"
        if isinstance(layer.padding, str):
            return f"padding={layer.padding!r}; give explicit integers"
        return None

    @classmethod
    def from_float(cls, layer: nn.Conv2d, profile, seed: int) -> AnalogConv2d:
        reason = cls.unsupported(layer)
        if reason:
            raise ValueError(f"Conv2d with {reason}")
        weight = layer.weight.reshape(layer.out_channels, -1).t()
        return cls(
            weight, layer.bias, profile, seed,
            kernel_size=layer.kernel_size, stride=layer.stride,
            padding=layer.padding, dilation=layer.dilation,
        )

    def to_float(self) -> nn.Conv2d:
        """An ``nn.Conv2d`` with the target weights and bias (on the layer's device)."""
        n_in, n_out = self.array.shape
        kh, kw = self.kernel_size
        w = self.array.weights
        out = nn.Conv2d(n_in // (kh * kw), n_out, self.kernel_size, stride=self.stride, padding=self.padding,
                        dilation=self.dilation, bias=self.bias is not None, device=w.device)
        with torch.no_grad():
            out.weight.copy_(w.t().reshape(out.weight.shape))
            if self.bias is not None:
                out.bias.copy_(self.bias)
        return out

    def vectors(self, x: torch.Tensor) -> torch.Tensor:
        """The vectors the array multiplies for input ``x``: one im2col patch per output position."""
        return im2col(x, self.kernel_size, self.stride, self.padding, self.dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"AnalogConv2d expects N x C x H x W input, got shape {tuple(x.shape)}")
        x = self._checked(x)
        if self.calibration is not None:
            self._observe(self.vectors(x))
        y = self.array.read_patches(x, self.kernel_size, self.stride, self.padding, self.dilation,
                                    self.next_key(), self.bias, output_noise=False, group=self.read_group)
        if self.noise is not None:
            y = self.noise(y)
        return y.to(x.dtype)


class _GateArray(AnalogLinear):
    """One LSTM layer's fused gate product on a crossbar array."""


class AnalogLSTM(nn.Module):
    """``nn.LSTM`` (unidirectional, any number of layers) with each layer's gates on one array.

    Per layer and time step the four gate products W_ih x + W_hh h + b are one
    MVM on the concatenated input [x, h] (the four gate matrices side by side
    on the tiles, as in Fig. 1 of Qin & Vucinic); the nonlinearities are digital.
    The two biases are added digitally as one (``to_float`` returns their sum
    as ``bias_ih`` and zeros as ``bias_hh``: the same function).
    """

    maps = "LSTM (unidirectional)"

    def __init__(self, layer: nn.LSTM, profile, seeds: Sequence[int]) -> None:
        super().__init__()
        reason = self.unsupported(layer)
        if reason:
            raise ValueError(f"LSTM {reason}")
        if len(seeds) != layer.num_layers:
            raise ValueError(f"an LSTM of {layer.num_layers} layers needs as many seeds, got {len(seeds)}")
        self.batch_first = layer.batch_first
        self.hidden_size = layer.hidden_size
        self.input_size = layer.input_size
        gates = []
        for k in range(layer.num_layers):
            w = torch.cat([getattr(layer, f"weight_ih_l{k}"), getattr(layer, f"weight_hh_l{k}")], dim=1)
            b = None
            if layer.bias:
                b = getattr(layer, f"bias_ih_l{k}") + getattr(layer, f"bias_hh_l{k}")
            gates.append(_GateArray(w.t(), b, profile, seeds[k]))
        self.gates = nn.ModuleList(gates)
        self.profile = profile

    @staticmethod
    def unsupported(layer: nn.Module) -> str | None:
        if layer.bidirectional:
            return "bidirectional; only unidirectional LSTMs can be mapped"
        if layer.proj_size:
            return f"proj_size={layer.proj_size}; projected LSTMs cannot be mapped"
        return None

    @staticmethod
    def arrays_for(layer: nn.Module) -> int:
        return layer.num_layers

    @classmethod
    def from_float(cls, layer: nn.LSTM, profile, seeds: Sequence[int]) -> AnalogLSTM:
        """Map ``layer`` with one programming seed per LSTM layer."""
        return cls(layer, profile, seeds)

    from_seeds = from_float

    def to_float(self) -> nn.LSTM:
        """An ``nn.LSTM`` with the target weights (biases summed into ``bias_ih``)."""
        first = self.gates[0]
        device = first.array.weights.device
        out = nn.LSTM(self.input_size, self.hidden_size, num_layers=len(self.gates),
                      bias=first.bias is not None, batch_first=self.batch_first, device=device)
        with torch.no_grad():
            for k, gate in enumerate(self.gates):
                w = gate.array.weights.t()
                n_in = w.shape[1] - self.hidden_size
                getattr(out, f"weight_ih_l{k}").copy_(w[:, :n_in])
                getattr(out, f"weight_hh_l{k}").copy_(w[:, n_in:])
                if gate.bias is not None:
                    getattr(out, f"bias_ih_l{k}").copy_(gate.bias)
                    getattr(out, f"bias_hh_l{k}").zero_()
        return out

    def forward(self, x: torch.Tensor, state=None):
        if self.batch_first:
            x = x.transpose(0, 1)
        if state is None:
            zeros = x.new_zeros(len(self.gates), x.shape[1], self.hidden_size)
            state = (zeros, zeros)
        gates = [lambda x_t, h, gate=gate: gate(torch.cat([x_t, h], dim=1)) for gate in self.gates]
        seq, h_n, c_n = lstm_layers(x, state[0], state[1], gates)
        out = seq.transpose(0, 1) if self.batch_first else seq
        return out, (h_n, c_n)
