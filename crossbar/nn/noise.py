"""Gaussian noise on matrix-vector-product outputs (Qin & Vucinic, Eq. 2 and Eq. 3).

``NoiseInjection`` sits right after a matrix-vector product (and its batch
norm, where the network has one) and perturbs every output element:

* ``kind="mult"`` (Eq. 3): ``y * z`` with ``z ~ N(1, s^2)``
* ``kind="add"``  (Eq. 2): ``y + z`` with ``z ~ N(0, s^2)``
* ``kind="none"``: identity

``s`` is ``sigma_train`` while the module is in training mode and ``sigma_val``
in eval mode. Gradients flow through the noisy product (noise-injected
training); the noise itself is a constant of the backward pass, so for the
multiplicative model ``dL/dy = z * dL/d(out)``.

Random numbers never come from torch's global generator. Every layer draws
from a ``NoiseSource``: a seed and a draw counter. On the CPU a draw is one of
the project's counter-based Numba generators keyed by (seed, counter), faster
than torch's and independent of the thread count: the ziggurat stream
(``NoiseConfig.generator="ziggurat"``, the default, which every published
record was trained with) or the read noise's block Box-Muller stream
(``"box-muller"``, about 2.5x faster per value on the project's machine,
docs/performance.md); on other devices it is a
``torch.Generator`` per device, created lazily on the device of the first
input it sees. ``seed_noise(model,
seed)`` gives all layers of a model one shared source; a layer nobody seeded
has a private source seeded 0 (deterministic). Models built by
``crossbar.models`` are seeded at construction.

The perturbation itself is :func:`crossbar.read.ops.qin_noise`, the one Eq. 2/3
sampler: abstract device profiles (``gaussian-mult``, ``gaussian-add``) use it
too. Two configuration classes remain on purpose: a profile's
``devices.OutputNoise`` (kind, sigma) is device data with its sources, read
by the device loader without torch; ``NoiseConfig`` is a training recipe (a
sigma for training and one for evaluation). ``crossbar.nn.convert`` turns the
former into an ``AbstractNoise`` layer with the same sampler.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from crossbar.read import adc_kernels, kernels
from crossbar.read.ops import qin_noise
from crossbar.seeds import Stream, kernel_key
from crossbar.threads import run_split

__all__ = [
    "NOISE_GENERATORS",
    "NOISE_KINDS",
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

NOISE_KINDS = ("none", "mult", "add")
NOISE_GENERATORS = ("ziggurat", "box-muller")  # the CPU draw's stream (NoiseSource.normal)


def _check_generator(name: str, value: Any) -> str:
    if value not in NOISE_GENERATORS:
        raise ValueError(f"{name} must be one of {', '.join(NOISE_GENERATORS)}; got {value!r}")
    return value


def _check_sigma(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"NoiseConfig.{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0.0:
        raise ValueError(f"NoiseConfig.{name} must be finite and >= 0, got {value!r}")
    return value


@dataclass(frozen=True)
class NoiseConfig:
    """Which noise model and how strong, during training and during inference.

    ``kind``: ``"none"``, ``"mult"`` (Eq. 3, ``z ~ N(1, s^2)`` multiplied) or
    ``"add"`` (Eq. 2, ``z ~ N(0, s^2)`` added). ``sigma_train`` / ``sigma_val``:
    the standard deviation ``s`` in training mode / eval mode. ``generator``: the
    CPU draw's stream (:data:`NOISE_GENERATORS`; the same distribution, other
    numbers): ``"ziggurat"``, the published records', or the faster ``"box-muller"``;
    named in :meth:`to_dict` only where it is not the default, so that the
    identities of checkpoints and records made before it existed stand.
    """

    kind: str = "none"
    sigma_train: float = 0.0
    sigma_val: float = 0.0
    generator: str = "ziggurat"

    def __post_init__(self) -> None:
        if self.kind not in NOISE_KINDS:
            raise ValueError(f"NoiseConfig.kind must be one of {', '.join(NOISE_KINDS)}; got {self.kind!r}")
        _check_generator("NoiseConfig.generator", self.generator)
        object.__setattr__(self, "sigma_train", _check_sigma("sigma_train", self.sigma_train))
        object.__setattr__(self, "sigma_val", _check_sigma("sigma_val", self.sigma_val))

    def sigma(self, training: bool) -> float:
        """The standard deviation in force in training (True) or eval (False) mode."""
        return self.sigma_train if training else self.sigma_val

    def replace(self, **changes: Any) -> NoiseConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = {"kind": self.kind, "sigma_train": self.sigma_train, "sigma_val": self.sigma_val}
        return out if self.generator == "ziggurat" else {**out, "generator": self.generator}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NoiseConfig:
        unknown = set(data) - {"kind", "sigma_train", "sigma_val", "generator"}
        if unknown:
            raise ValueError(f"unknown NoiseConfig field(s): {', '.join(sorted(unknown))}")
        return cls(**dict(data))


NO_NOISE = NoiseConfig()  # the default: noise layers are identities


class NoiseSource:
    """A seed, a CPU draw counter and one ``torch.Generator`` per accelerator device.

    Note that torch's CUDA generators use only the low 64 bits of a seed.
    """

    _CPU_DTYPES = (torch.float32, torch.float64)

    def __init__(self, seed: int = 0) -> None:
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise ValueError(f"noise seed must be an int, got {seed!r}")
        self.seed = int(seed)
        self.cpu_draws = 0
        self._generators: dict[str, torch.Generator] = {}

    def generator(self, device: torch.device | str) -> torch.Generator:
        device = torch.device(device)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        key = str(device)
        gen = self._generators.get(key)
        if gen is None:
            gen = torch.Generator(device=device)
            gen.manual_seed(self.seed)
            self._generators[key] = gen
        return gen

    def normal(self, like: torch.Tensor, mean: float, std: float,
               generator: str = "ziggurat") -> torch.Tensor:
        """A new tensor like ``like`` (shape, dtype, device) of N(mean, std^2) draws; on the CPU
        from ``generator``'s stream (:data:`NOISE_GENERATORS`), elsewhere from the device's."""
        _check_generator("the noise generator", generator)
        if like.device.type == "cpu" and like.dtype in self._CPU_DTYPES:
            key = kernel_key(self.seed, Stream.NOISE_DRAW, self.cpu_draws)
            self.cpu_draws += 1
            z = torch.empty(like.shape, dtype=torch.float32)
            flat = z.view(-1).numpy()
            m, s = float(mean), float(std)
            if generator == "box-muller":
                run_split(lambda t0, t1: adc_kernels.scaled_normals_tasks(key, flat, t0, t1, m, s),
                          adc_kernels.task_count(flat.size), min_part=16)
            else:
                run_split(lambda lo, hi: kernels.normal_float32_into(key, flat[lo:hi], lo, m, s), flat.size)
            return z.to(like.dtype)
        return torch.empty_like(like).normal_(mean, std, generator=self.generator(like.device))

    def state_dict(self) -> dict[str, Any]:
        """Seed, CPU draw counter and the state of every accelerator generator created so far."""
        return {
            "seed": self.seed,
            "cpu_draws": self.cpu_draws,
            "states": {k: g.get_state().clone() for k, g in self._generators.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.seed = int(state["seed"])
        self.cpu_draws = int(state.get("cpu_draws", 0))
        self._generators = {}
        for key, gen_state in state["states"].items():
            device = torch.device(key)
            if device.type == "cuda" and not torch.cuda.is_available():
                continue  # resumed on a machine without that device: drawn afresh if ever used
            self.generator(device).set_state(gen_state.cpu())

    def __repr__(self) -> str:
        devices = sorted(self._generators)
        return f"NoiseSource(seed={self.seed}, cpu_draws={self.cpu_draws}, devices={devices})"


class NoiseInjection(nn.Module):
    """Eq. 2 / Eq. 3 of Qin & Vucinic on the output of one matrix-vector product.

    ``config`` may be replaced at any time (``layer.config = NoiseConfig(...)``);
    it is not part of the ``state_dict``.
    """

    def __init__(self, config: NoiseConfig | None = None) -> None:
        super().__init__()
        self.config = NoiseConfig() if config is None else config
        self.source = NoiseSource(0)

    @property
    def config(self) -> NoiseConfig:
        return self._config

    @config.setter
    def config(self, value: NoiseConfig) -> None:
        if not isinstance(value, NoiseConfig):
            raise TypeError(f"NoiseInjection.config must be a NoiseConfig, got {type(value)!r}")
        self._config = value

    @property
    def source(self) -> NoiseSource:
        return self._source

    @source.setter
    def source(self, value: NoiseSource) -> None:
        if not isinstance(value, NoiseSource):
            raise TypeError(f"NoiseInjection.source must be a NoiseSource, got {type(value)!r}")
        self._source = value

    @property
    def sigma(self) -> float:
        """The standard deviation in force in the current mode (0 for kind 'none')."""
        if self._config.kind == "none":
            return 0.0
        return self._config.sigma(self.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self._config
        if cfg.kind == "none":
            return x
        s = cfg.sigma_train if self.training else cfg.sigma_val
        return qin_noise(x, cfg.kind, s,
                         lambda like, mean, std: self._source.normal(like, mean, std, cfg.generator))

    def extra_repr(self) -> str:
        c = self._config
        gen = "" if c.generator == "ziggurat" else f", generator={c.generator!r}"
        return f"kind={c.kind!r}, sigma_train={c.sigma_train:g}, sigma_val={c.sigma_val:g}{gen}"


def noise_layers(model: nn.Module) -> list[NoiseInjection]:
    """Every ``NoiseInjection`` in ``model`` (including ``model`` itself), in module order."""
    return [m for m in model.modules() if isinstance(m, NoiseInjection)]


def seed_noise(model: nn.Module, seed: int) -> None:
    """Give every noise layer of ``model`` one shared, freshly seeded generator per device."""
    source = NoiseSource(seed)
    for layer in noise_layers(model):
        layer.source = source


def set_noise(
    model: nn.Module,
    *,
    kind: str | None = None,
    sigma_train: float | None = None,
    sigma_val: float | None = None,
    generator: str | None = None,
) -> None:
    """Replace the config of every noise layer, changing only the fields given.

    Architecture-level choices made at construction (e.g. the fixed batch
    norm of the additive-noise CNN) are not changed.
    """
    changes = {
        k: v
        for k, v in (("kind", kind), ("sigma_train", sigma_train), ("sigma_val", sigma_val),
                     ("generator", generator))
        if v is not None
    }
    layers = noise_layers(model)
    new = [layer.config.replace(**changes) for layer in layers]  # validate before touching any
    for layer, cfg in zip(layers, new, strict=True):
        layer.config = cfg


def noise_rng_state(model: nn.Module) -> dict[str, Any]:
    """Snapshot of the noise generators of ``model`` (which layers share a source, and states)."""
    sources: list[NoiseSource] = []
    index: dict[int, int] = {}
    layer_source = []
    for layer in noise_layers(model):
        key = id(layer.source)
        if key not in index:
            index[key] = len(sources)
            sources.append(layer.source)
        layer_source.append(index[key])
    return {"layer_source": layer_source, "sources": [s.state_dict() for s in sources]}


def set_noise_rng_state(model: nn.Module, state: Mapping[str, Any]) -> None:
    """Restore a ``noise_rng_state`` snapshot onto a model of the same architecture."""
    layers = noise_layers(model)
    if len(layers) != len(state["layer_source"]):
        raise ValueError(
            f"noise RNG state is for {len(state['layer_source'])} noise layers, the model has {len(layers)}"
        )
    sources = []
    for src_state in state["sources"]:
        src = NoiseSource(int(src_state["seed"]))
        src.load_state_dict(src_state)
        sources.append(src)
    for layer, i in zip(layers, state["layer_source"], strict=True):
        layer.source = sources[i]
