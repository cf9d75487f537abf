"""The building blocks of the analog layers: a read sequence, abstract output noise, the
array-backed layer base class and the analog ``Linear``.

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

from crossbar.nn.mapped import MappedWeight
from crossbar.read.array import CrossbarArray
from crossbar.read.operands import as_matrix
from crossbar.read.ops import keyed_normal, qin_noise
from crossbar.seeds import Stream, derive

__all__ = ["AbstractNoise", "AnalogLayer", "AnalogLinear", "NoiseAfter", "ReadSequence"]


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
    """Common state: the array (a submodule), the digital bias, the read sequence, the output noise.

    Every array-backed leaf layer subclasses it and has ``vectors(x)``: the rows its array
    multiplies for the input its forward receives (what the cost model's hooks count)."""

    contiguous_input = True  # whether the checked input is made contiguous for the reads

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
        self.read_group = None  # a crossbar.read.timing.ReadGroup while inside crossbar.nn.vote_group
        self.copies = 1  # inputs may be this many stacked copies (crossbar.nn.stacked_copies)
        self.read_call = None  # the chip clock's call (crossbar.nn.clock) during a forward
        self.calibration = None  # the vectors of a calibration pass (crossbar.nn.calibrate)
        # the weights the array really holds (summary's utilisation): a layer that programs
        # structural zeros (block-diagonal groups, a GRU's gate layout) sets its own count
        self.real_weights = int(weight_io.shape[0] * weight_io.shape[1])
        self.reseed(seed)

    @staticmethod
    def unsupported(layer: nn.Module) -> str | None:
        """Why ``layer`` cannot be mapped by this class (None: it can)."""
        return None

    def torch_weight(self) -> torch.Tensor:
        """The target weights in the torch layer's layout (here outputs x inputs)."""
        return self.array.weights.t()

    @property
    def weight(self) -> MappedWeight:
        """The target weights as the torch layer held them, for code around the layer that reads
        their dtype, device or shape; a product with them is refused (the layer reads its array)."""
        name = f"{type(self).__name__}.weight (read through the layer)"
        return MappedWeight.wrap(self.torch_weight(), name, {})

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

    @property
    def read_time(self):
        """The call the layer's reads belong to: a vote group, else the clock's call, else None."""
        return self.read_group if self.read_group is not None else self.read_call

    def _read(self, x2d: torch.Tensor) -> torch.Tensor:
        """One read of the rows of ``x2d`` (the layer's next key), output noise included."""
        x2d = self._checked(x2d)
        self._observe(x2d)
        y = self.array.read(x2d, self.next_key(), self.bias, output_noise=False, group=self.read_time,
                            copies=self.copies)
        return y if self.noise is None else self.noise(y)

    def _checked(self, x: torch.Tensor) -> torch.Tensor:
        device = self.array.weights.device
        if x.device != device:
            raise ValueError(f"input is on {x.device} but the layer's arrays are on {device}; "
                             "move the model with .to(device)")
        return as_matrix("layer input", x, (x.dim(),), finite=False,
                         contiguous=self.contiguous_input)  # the read checks finiteness

    def extra_repr(self) -> str:
        n_in, n_out = self.array.shape
        return f"in={n_in}, out={n_out}, profile={self.profile.name}, tiles={len(self.array.tiles)}"


class AnalogLinear(AnalogLayer):
    """``y = x W^T + b`` with the product on a crossbar array."""

    maps = "Linear"

    @property
    def in_features(self) -> int:
        return self.array.shape[0]

    @property
    def out_features(self) -> int:
        return self.array.shape[1]

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
