"""LSTM classifier of MNIST pen-stroke sequences (Qin & Vucinic Fig. 1, Sec. 3.4).

The cell is written out so that each of the four gate products
``W_k [x, h] + b_k`` (k = input, forget, cell, output) is followed by its own
NoiseInjection, and so is the output layer. The four gate products share one
fused ``nn.Linear`` on ``[x, h]`` (4 * hidden outputs) for speed; its output is
split per gate before the noise.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from crossbar.nn import NO_NOISE, NoiseConfig, NoiseInjection

from ._build import materialize, torch_default


class NoisyLSTMCell(nn.Module):
    def __init__(self, input_dim: int, hidden: int, noise: NoiseConfig) -> None:
        super().__init__()
        self.input_dim, self.hidden = input_dim, hidden
        self.gates = nn.Linear(input_dim + hidden, 4 * hidden)  # rows: i, f, g, o
        self.noise_i = NoiseInjection(noise)
        self.noise_f = NoiseInjection(noise)
        self.noise_g = NoiseInjection(noise)
        self.noise_o = NoiseInjection(noise)

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        h, c = state
        i, f, g, o = self.gates(torch.cat([x, h], 1)).chunk(4, 1)
        i = torch.sigmoid(self.noise_i(i))
        f = torch.sigmoid(self.noise_f(f))
        g = torch.tanh(self.noise_g(g))
        o = torch.sigmoid(self.noise_o(o))
        c = f * c + i * g
        h = o * torch.tanh(c)
        return h, c


class LSTMStrokes(nn.Module):
    """Input ``N x T x input_dim``; classifies from the last hidden state."""

    def __init__(
        self,
        noise: NoiseConfig = NO_NOISE,
        hidden: int = 128,
        steps: int = 50,
        input_dim: int = 2,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        self.crossbar_input = (steps, input_dim)
        self.steps, self.input_dim, self.hidden = steps, input_dim, hidden
        self.cell = NoisyLSTMCell(input_dim, hidden, noise)
        self.fc = nn.Linear(hidden, num_classes)
        self.noise_out = NoiseInjection(noise)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[2] != self.input_dim:
            raise ValueError(f"lstm_strokes expects N x T x {self.input_dim} sequences, got {tuple(x.shape)}")
        h = x.new_zeros(x.shape[0], self.hidden)
        c = x.new_zeros(x.shape[0], self.hidden)
        for t in range(x.shape[1]):
            h, c = self.cell(x[:, t], (h, c))
        return self.noise_out(self.fc(h))


def _lstm_init(model: nn.Module, gen: torch.Generator) -> set[int]:
    done = torch_default(model, gen)  # output layer
    for m in model.modules():
        if isinstance(m, NoisyLSTMCell):  # torch.nn.LSTM's scheme: U(+-1/sqrt(hidden))
            bound = 1.0 / math.sqrt(m.hidden)
            for p in (m.gates.weight, m.gates.bias):
                nn.init.uniform_(p, -bound, bound, generator=gen)
    return done


def lstm_strokes(
    noise: NoiseConfig = NO_NOISE,
    hidden: int = 128,
    steps: int = 50,
    input_dim: int = 2,
    num_classes: int = 10,
    *,
    seed: int = 0,
) -> LSTMStrokes:
    return materialize(lambda: LSTMStrokes(noise, hidden, steps, input_dim, num_classes), seed, _lstm_init)
