"""Layer-specific robustness (Walking Noise) and hardening by QAT vs noisy training.

After Borras, Klein & Fröning, "Walking Noise" (arXiv 2212.10430), and Wang,
Borras, Klein & Fröning, "On Hardening DNNs against Noisy Computations"
(arXiv 2501.14531). See docs/walking_noise.md.
"""

from .config import (
    ConfigError,
    CrossbarSpec,
    Grid,
    HardenConfig,
    WalkConfig,
    load_harden_config,
    load_walk_config,
)
from .dynamics import network_summary, weight_stats
from .harden import HardenResult, run_harden
from .midpoint import Crossing, find_midpoint, log_grid, mean_ci, summarize_midpoints
from .noise import (
    SITE_ATTR,
    WALK_KINDS,
    NoiseSite,
    Position,
    WalkNet,
    WalkNoise,
    place_noise,
    set_global,
    set_walk,
)
from .qat import QuantReLU, WeightQuant, device_levels, quantize, quantize_activation, quantize_weight
from .run import WalkResult, run_walk
from .store import ConfigChangedError, LockedError

__all__ = [
    "WALK_KINDS",
    "ConfigChangedError",
    "ConfigError",
    "Crossing",
    "CrossbarSpec",
    "Grid",
    "HardenConfig",
    "HardenResult",
    "LockedError",
    "NoiseSite",
    "SITE_ATTR",
    "Position",
    "QuantReLU",
    "WalkConfig",
    "WalkNet",
    "WalkNoise",
    "WalkResult",
    "WeightQuant",
    "device_levels",
    "find_midpoint",
    "load_harden_config",
    "load_walk_config",
    "log_grid",
    "mean_ci",
    "network_summary",
    "place_noise",
    "quantize",
    "quantize_activation",
    "quantize_weight",
    "run_harden",
    "run_walk",
    "set_global",
    "set_walk",
    "summarize_midpoints",
    "weight_stats",
]
