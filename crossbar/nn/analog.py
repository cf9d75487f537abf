"""Torch layers whose matrix-vector products run on crossbar arrays, and ``MAPPABLE``, the one
list of the torch layers that ``convert``, ``to_float`` and the checks map.

The layers: :class:`AnalogLinear` (:mod:`crossbar.nn.layer`, with the base class
:class:`AnalogLayer`, the read sequence and the abstract output noise), the
convolutions of :mod:`crossbar.nn.conv` (1-, 2- and 3-D, grouped, transposed) and
the recurrences of :mod:`crossbar.nn.recurrent` (RNN, GRU, LSTM).
"""

from __future__ import annotations

from torch import nn

from crossbar.nn.conv import (
    AnalogConv1d,
    AnalogConv2d,
    AnalogConv3d,
    AnalogConvTranspose1d,
    AnalogConvTranspose2d,
)
from crossbar.nn.layer import AbstractNoise, AnalogLayer, AnalogLinear, NoiseAfter, ReadSequence
from crossbar.nn.recurrent import AnalogGRU, AnalogLSTM, AnalogRecurrent, AnalogRNN
from crossbar.readops import im2col

__all__ = ["AbstractNoise", "AnalogConv1d", "AnalogConv2d", "AnalogConv3d", "AnalogConvTranspose1d",
           "AnalogConvTranspose2d", "AnalogGRU", "AnalogLSTM", "AnalogLayer", "AnalogLinear", "AnalogRNN",
           "AnalogRecurrent", "MAPPABLE", "NoiseAfter", "ReadSequence", "SUPPORTED", "analog_class", "im2col"]

# The one list of mappable layers: torch type -> analog class (convert, to_float and the checks use it).
MAPPABLE: dict[type[nn.Module], type[nn.Module]] = {
    nn.Linear: AnalogLinear,
    nn.Conv1d: AnalogConv1d,
    nn.Conv2d: AnalogConv2d,
    nn.Conv3d: AnalogConv3d,
    nn.ConvTranspose1d: AnalogConvTranspose1d,
    nn.ConvTranspose2d: AnalogConvTranspose2d,
    nn.RNN: AnalogRNN,
    nn.GRU: AnalogGRU,
    nn.LSTM: AnalogLSTM,
}
SUPPORTED: tuple[str, ...] = tuple(cls.maps for cls in MAPPABLE.values())


def analog_class(module: nn.Module) -> type[nn.Module] | None:
    """The analog class that maps ``module`` (None: not a mappable layer)."""
    for torch_type, cls in MAPPABLE.items():
        if isinstance(module, torch_type):
            return cls
    return None
