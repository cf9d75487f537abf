"""A Conv1d + GRU classifier of pen-stroke sequences (MNIST strokes, N x T x 2), the shape of
keyword-spotting networks: a 1-D convolution over time extracts local stroke features, a GRU
reads them in order and a linear layer classifies its last hidden state.

The noise goes where ``crossbar.nn.placement`` puts it (the paper's rule): after the
convolution, on every step's GRU gate pre-activations (``NoisyGRU``) and after the output
layer.
"""

from __future__ import annotations

import torch
from torch import nn

from crossbar.nn import NO_NOISE, NoiseConfig, seed_noise
from crossbar.nn.placement import place_noise

from ._build import materialize


class ConvGRUStrokes(nn.Module):
    """Input ``N x T x input_dim``: Conv1d (``channels``, kernel 5, same length), ReLU, GRU
    (``hidden``), fc classes on the last hidden state."""

    def __init__(self, hidden: int = 64, channels: int = 32, steps: int = 50, input_dim: int = 2,
                 num_classes: int = 10) -> None:
        super().__init__()
        self.crossbar_input = (steps, input_dim)
        self.input_dim = input_dim
        self.conv = nn.Conv1d(input_dim, channels, 5, padding=2)
        self.gru = nn.GRU(channels, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[2] != self.input_dim:
            raise ValueError(f"conv_gru_strokes expects N x T x {self.input_dim} sequences, "
                             f"got {tuple(x.shape)}")
        features = torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)
        _, h = self.gru(features)
        return self.fc(h[-1])


def conv_gru_strokes(noise: NoiseConfig = NO_NOISE, hidden: int = 64, channels: int = 32, steps: int = 50,
                     input_dim: int = 2, num_classes: int = 10, *, seed: int = 0) -> ConvGRUStrokes:
    """The Conv1d + GRU classifier; weights drawn from ``seed``, noise placed by the paper's rule."""
    model = materialize(lambda: ConvGRUStrokes(hidden, channels, steps, input_dim, num_classes), seed)
    place_noise(model, noise)
    seed_noise(model, seed)
    return model
