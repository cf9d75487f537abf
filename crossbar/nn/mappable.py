"""The one list of layers ``convert`` maps by class: torch type -> analog class.

``convert``, ``to_float``, the checks and the noise placement all read it. Every other
parameter is decided by use (:mod:`crossbar.nn.usage`).
"""

from __future__ import annotations

from torch import nn

from crossbar.nn.analog import (
    AnalogConv1d,
    AnalogConv2d,
    AnalogConv3d,
    AnalogConvTranspose1d,
    AnalogConvTranspose2d,
    AnalogGRU,
    AnalogLinear,
    AnalogLSTM,
    AnalogRNN,
)
from crossbar.nn.attention import AnalogMultiheadAttention

__all__ = ["MAPPABLE", "SUPPORTED", "analog_class"]

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
    nn.MultiheadAttention: AnalogMultiheadAttention,
}
SUPPORTED: tuple[str, ...] = tuple(cls.maps for cls in MAPPABLE.values())


def analog_class(module: nn.Module) -> type[nn.Module] | None:
    """The analog class that maps ``module`` (None: not a layer mapped by class)."""
    for torch_type, cls in MAPPABLE.items():
        if isinstance(module, torch_type):
            return cls
    return None
