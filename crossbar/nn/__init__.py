"""Torch glue: noise injection (Qin & Vucinic Eq. 2/3), analog layers on crossbar arrays, convert()."""

from crossbar.nn.analog import (
    AbstractNoise,
    AnalogConv2d,
    AnalogLayer,
    AnalogLinear,
    AnalogLSTM,
    NoiseAfter,
    im2col,
)
from crossbar.nn.convert import (
    UnsupportedLayerError,
    analog_layers,
    convert,
    reprogram,
    reseed,
    summary,
    to_float,
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
    "AbstractNoise",
    "AnalogConv2d",
    "AnalogLSTM",
    "AnalogLayer",
    "AnalogLinear",
    "NoiseAfter",
    "UnsupportedLayerError",
    "analog_layers",
    "convert",
    "im2col",
    "reprogram",
    "reseed",
    "summary",
    "to_float",
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
