"""Weights read from arrays wherever they are multiplied: the arrays of the by-use half of ``convert``.

Each :class:`AnalogProduct` is an array-backed layer holding one weight matrix as a
product uses it; the parameter itself becomes a :class:`~crossbar.nn.mapped.MappedWeight`
whose products are read from these arrays (docs/networks.md).
"""

from __future__ import annotations

import torch

from crossbar.nn.layer import AnalogLayer

__all__ = ["AnalogProduct"]


class AnalogProduct(AnalogLayer):
    """One weight matrix (inputs x outputs) on an array, as a product of ``module`` uses it."""

    maps = "any product with a weight (by use)"

    def __init__(self, matrix_io: torch.Tensor, profile, seed: int, *, parameter: str, user: str,
                 op: str) -> None:
        super().__init__(matrix_io, None, profile, seed)
        self.parameter = parameter  # qualified name of the weight
        self.user = user  # the module (class name) whose forward multiplies it
        self.op = op

    def vectors(self, rows: torch.Tensor) -> torch.Tensor:
        """The vectors the array multiplies: the rows as given."""
        return rows

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        return self._read(self.vectors(rows)).to(rows.dtype)

    def extra_repr(self) -> str:
        return f"{self.parameter} in {self.user}.{self.op}, " + super().extra_repr()


