"""Torch layers whose matrix-vector products run on crossbar arrays (``MAPPABLE``, the one list
of the layers ``convert`` maps by class, is in :mod:`crossbar.nn.mappable`).

The layers: :class:`AnalogLinear` (:mod:`crossbar.nn.layer`, with the base class
:class:`AnalogLayer`, the read sequence and the abstract output noise), the
convolutions of :mod:`crossbar.nn.conv` (1-, 2- and 3-D, grouped, transposed) and
the recurrences of :mod:`crossbar.nn.recurrent` (RNN, GRU, LSTM).
"""

from __future__ import annotations

from crossbar.nn.conv import (
    AnalogConv1d,
    AnalogConv2d,
    AnalogConv3d,
    AnalogConvTranspose1d,
    AnalogConvTranspose2d,
)
from crossbar.nn.layer import AbstractNoise, AnalogLayer, AnalogLinear, NoiseAfter, ReadSequence
from crossbar.nn.recurrent import AnalogGRU, AnalogLSTM, AnalogRecurrent, AnalogRNN
from crossbar.read.ops import im2col

__all__ = ["AbstractNoise", "AnalogConv1d", "AnalogConv2d", "AnalogConv3d", "AnalogConvTranspose1d",
           "AnalogConvTranspose2d", "AnalogGRU", "AnalogLSTM", "AnalogLayer", "AnalogLinear", "AnalogRNN",
           "AnalogRecurrent", "NoiseAfter", "ReadSequence", "im2col"]
