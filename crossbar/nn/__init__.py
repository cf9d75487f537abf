"""Torch glue: noise injection (Qin & Vucinic Eq. 2/3), analog layers on crossbar arrays, convert(),
and chip operations (calibrate, age, vote groups, read statistics)."""

from crossbar.nn.analog import (
    AbstractNoise,
    AnalogConv2d,
    AnalogLayer,
    AnalogLinear,
    AnalogLSTM,
    NoiseAfter,
    im2col,
)
from crossbar.nn.attention import AnalogMultiheadAttention
from crossbar.nn.byuse import AnalogProduct, MappedWeight
from crossbar.nn.chip import (
    CALIBRATION_IMAGES,
    age,
    calibrate,
    clipping_rates,
    read_stats,
    reread_counts,
    reset_read_stats,
    vote_group,
)
from crossbar.nn.convert import (
    DigitalParameter,
    UnsupportedLayerError,
    analog_layers,
    convert,
    reprogram,
    reseed,
    to_float,
)
from crossbar.nn.mappable import MAPPABLE, SUPPORTED
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
from crossbar.nn.summary import Summary, summary

__all__ = [
    "CALIBRATION_IMAGES",
    "age",
    "calibrate",
    "clipping_rates",
    "read_stats",
    "reread_counts",
    "reset_read_stats",
    "vote_group",
    "AbstractNoise",
    "AnalogConv2d",
    "AnalogLSTM",
    "AnalogLayer",
    "AnalogLinear",
    "AnalogMultiheadAttention",
    "AnalogProduct",
    "DigitalParameter",
    "MAPPABLE",
    "MappedWeight",
    "SUPPORTED",
    "Summary",
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
