"""Torch glue: noise injection (Qin & Vucinic Eq. 2/3), analog layers on crossbar arrays, convert()."""

from crossbar.nn.analog import AnalogConv2d, AnalogLayer, AnalogLinear, AnalogLSTM
from crossbar.nn.convert import (
    UnsupportedLayerError,
    analog_layers,
    convert,
    reprogram,
    reseed,
    summary,
)
from crossbar.nn.noise import (
    NO_NOISE,
    NoiseConfig,
    NoiseInjection,
    NoiseSource,
    noise_layers,
    noise_rng_state,
    seed_noise,
    set_noise,
    set_noise_rng_state,
)

__all__ = [
    "AnalogConv2d",
    "AnalogLSTM",
    "AnalogLayer",
    "AnalogLinear",
    "UnsupportedLayerError",
    "analog_layers",
    "convert",
    "reprogram",
    "reseed",
    "summary",
    "NO_NOISE",
    "NoiseConfig",
    "NoiseInjection",
    "NoiseSource",
    "noise_layers",
    "noise_rng_state",
    "seed_noise",
    "set_noise",
    "set_noise_rng_state",
]
