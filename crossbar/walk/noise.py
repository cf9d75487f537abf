"""Noise positions after every operation of any torch model, and the walk over them.

Walking Noise (Borras et al., arXiv 2212.10430) puts a noise operator after
every operation of a network: the input, every Conv/Linear, BatchNorm,
activation and pooling, and the logits (not after Flatten). ``place_noise``
does that for any ``nn.Module`` whose operations are modules: it runs one
probe forward pass, takes every leaf module that was called and returned a
tensor (or a tuple led by one, as an RNN's output sequence and final states: each of its
tensors gets the noise, drawn independently), in the order they were called, and gives
each a :class:`NoiseSite` (a child ``crossbar_walk_noise`` applied by a forward hook, so
the module stays where its parent's code expects it, attributes and all).
Position 0 is the network's input. Operations written as functions inside a
``forward`` (``F.relu(x)``) are not modules and get no position; a module
called several times is one position that perturbs every call.

A position's noise is a :class:`NoiseSite`: two :class:`crossbar.nn.NoiseInjection`
layers, multiplicative then additive, so

* ``add``:      ``y = x + n``,          ``n ~ N(0, sigma^2)``
* ``mult``:     ``y = x * m``,          ``m ~ N(1, sigma^2)``
* ``combined``: ``y = x * m + n``,      ``sigma_mult = (1 - r) sigma``, ``sigma_add = r sigma``

(the paper code's ``GaussCombined`` with amplitude ``sigma`` and ratio ``r``,
multiplication first). Being ``NoiseInjection`` layers, the sites are seeded
by ``crossbar.nn.seed_noise`` and their generators are saved in training
checkpoints, so noisy training resumes exactly; the draw itself is the one
Eq. 2/3 sampler ``crossbar.read.ops.qin_noise`` that every noise layer uses.

Where the noise goes differs from ``crossbar.nn.placement`` on purpose: that
module puts the paper's noise after each matrix-vector product (after its batch
norm), a walk needs a position after every operation. A user's network built by
``crossbar.models.resolve`` carries placement's noise layers, switched off here
(an exact identity); its operations still get walk positions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from crossbar.nn import NoiseConfig, NoiseInjection
from crossbar.nn.placement import NOISE_ATTR

__all__ = [
    "WALK_KINDS",
    "NoiseSite",
    "SITE_ATTR",
    "Position",
    "WalkNet",
    "WalkNoise",
    "place_noise",
    "set_global",
    "set_walk",
]

WALK_KINDS = ("add", "mult", "combined")

# Modules that only reshape, copy or drop values: the paper puts no noise after them.
_NOT_POSITIONS = (nn.Flatten, nn.Unflatten, nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d,
                  nn.Dropout3d, nn.AlphaDropout)


@dataclass(frozen=True)
class WalkNoise:
    """The noise of one position: ``kind``, level ``sigma``, combined ``ratio`` r,
    and whether it acts in training mode and in eval (inference) mode."""

    kind: str
    sigma: float
    ratio: float = 0.5
    training: bool = False
    inference: bool = True

    def __post_init__(self) -> None:
        if self.kind not in WALK_KINDS:
            raise ValueError(f"noise kind must be one of {', '.join(WALK_KINDS)}; got {self.kind!r}")
        if isinstance(self.sigma, bool) or not isinstance(self.sigma, (int, float)) or not (
            math.isfinite(self.sigma) and self.sigma >= 0
        ):
            raise ValueError(f"noise sigma must be a finite number >= 0, got {self.sigma!r}")
        if isinstance(self.ratio, bool) or not isinstance(self.ratio, (int, float)) or not (
            0.0 <= self.ratio <= 1.0
        ):
            raise ValueError(f"combined-noise ratio must be within 0..1, got {self.ratio!r}")

    @property
    def sigmas(self) -> tuple[float, float]:
        """(sigma_mult, sigma_add) of this setting."""
        s = float(self.sigma)
        if self.kind == "add":
            return 0.0, s
        if self.kind == "mult":
            return s, 0.0
        return (1.0 - self.ratio) * s, self.ratio * s


class NoiseSite(nn.Module):
    """Multiplicative then additive Gaussian noise on one tensor (both off by default)."""

    def __init__(self) -> None:
        super().__init__()
        self.mult = NoiseInjection()
        self.add = NoiseInjection()

    def set(self, noise: WalkNoise | None) -> None:
        """Switch this site to ``noise`` (None: off, an exact identity)."""
        if noise is None:
            self.mult.config = self.add.config = NoiseConfig()
            return
        sm, sa = noise.sigmas
        for layer, kind, s in ((self.mult, "mult", sm), (self.add, "add", sa)):
            layer.config = NoiseConfig(
                kind, sigma_train=s if noise.training else 0.0, sigma_val=s if noise.inference else 0.0
            )

    @property
    def active(self) -> bool:
        """Whether this site perturbs its input in the current mode."""
        return self.mult.sigma > 0 or self.add.sigma > 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.add(self.mult(x))


SITE_ATTR = "crossbar_walk_noise"
"""Name of the noise site :func:`place_noise` adds to each operation module."""


def _main_output(out: Any) -> bool:
    """Whether ``out`` is a tensor, or a tuple led by one (an RNN's output sequence and state)."""
    return isinstance(out, torch.Tensor) or (isinstance(out, tuple) and bool(out)
                                             and isinstance(out[0], torch.Tensor))


def _noisy(site: NoiseSite, out: Any) -> Any:
    if isinstance(out, torch.Tensor):
        return site(out)
    return tuple(_noisy(site, o) for o in out) if isinstance(out, tuple) else out


def _apply_site(module: nn.Module, args: Any, out: Any) -> Any:
    """Forward hook: every tensor the operation returns (an RNN's output sequence and final
    states alike) through its noise site."""
    return _noisy(getattr(module, SITE_ATTR), out)


@dataclass(frozen=True)
class Position:
    """One noise position: its index in the walk, the module path and type, and
    how often the probe pass called it."""

    index: int
    name: str
    op: str
    calls: int = 1

    @property
    def label(self) -> str:
        return f"{self.index} {self.op}" if self.name == "input" else f"{self.index} {self.op} ({self.name})"


class WalkNet(nn.Module):
    """A model with a noise site at its input and after every operation."""

    def __init__(self, net: nn.Module, positions: list[Position], sites: list[NoiseSite]) -> None:
        super().__init__()
        self.input_noise = sites[0]
        self.net = net
        self.positions = list(positions)
        self._site_paths = [self._path_of(s) for s in sites]

    def _path_of(self, site: NoiseSite) -> str:
        for name, m in self.named_modules():
            if m is site:
                return name
        raise ValueError("noise site is not part of this network")

    def sites(self) -> list[NoiseSite]:
        """The noise sites in position order (index 0: the input)."""
        return [self.get_submodule(p) for p in self._site_paths]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.input_noise(x))


def _is_op(name: str, module: nn.Module) -> bool:
    if ".parametrizations" in f".{name}" or isinstance(module, (NoiseInjection, NoiseSite)):
        return False
    if isinstance(module, _NOT_POSITIONS):
        return False
    # a leaf but for its weight parametrization or the (switched-off) paper noise that
    # crossbar.nn.placement attached to a user's network
    return all(child in ("parametrizations", NOISE_ATTR, SITE_ATTR) for child, _ in module.named_children())


def _type_name(module: nn.Module) -> str:
    """The operation's torch type: a parametrized or noise-placed layer (``NoisyGRU``) by the
    torch layer it is."""
    if type(module).__name__.startswith("Noisy") and type(module).__module__.startswith("crossbar.nn."):
        base = next((c for c in type(module).__mro__ if c.__module__.startswith("torch.nn")), type(module))
        return base.__name__
    name = type(module).__name__
    return name.removeprefix("Parametrized") if name.startswith("Parametrized") else name


@torch.no_grad()
def place_noise(model: nn.Module, example: torch.Tensor) -> WalkNet:
    """Put a noise site after every operation of ``model`` (changed in place) and one
    at its input; ``example`` is one batch of input for the probe pass that finds
    the operations and their order. All sites start switched off."""
    candidates = {name: m for name, m in model.named_modules() if name and _is_op(name, m)}
    if _is_op("", model) and not candidates:
        candidates = {"": model}  # the model is itself a single operation
    calls: dict[str, int] = {}
    order: list[str] = []
    returned_tensor: dict[str, bool] = {}
    handles = []
    for name, m in candidates.items():
        def hook(_m, _inp, out, name=name):
            if name not in calls:
                order.append(name)
            calls[name] = calls.get(name, 0) + 1
            returned_tensor[name] = returned_tensor.get(name, True) and _main_output(out)
        handles.append(m.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        model(example)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    names = [n for n in order if returned_tensor[n]]
    if not names:
        raise ValueError(
            f"{type(model).__name__}: no operation module returned a tensor in the probe pass; "
            "noise positions need operations written as modules (nn.Linear, nn.ReLU, ...)"
        )
    ops = {name: model.get_submodule(name) for name in names}
    for op in ops.values():
        op.add_module(SITE_ATTR, NoiseSite())
        op.register_forward_hook(_apply_site)
    positions = [Position(0, "input", "input")]
    positions += [
        Position(i, name or type(model).__name__, _type_name(ops[name]), calls[name])
        for i, name in enumerate(names, start=1)
    ]
    sites = [NoiseSite()] + [getattr(ops[name], SITE_ATTR) for name in names]
    return WalkNet(model, positions, sites)


def set_walk(net: WalkNet, position: int | None, noise: WalkNoise | None) -> None:
    """Switch every site off except ``position``, which gets ``noise`` (the walk step)."""
    sites = net.sites()
    if position is not None and not 0 <= position < len(sites):
        raise ValueError(f"noise position {position} does not exist; the network has 0..{len(sites) - 1}")
    for i, site in enumerate(sites):
        site.set(noise if i == position else None)


def set_global(net: WalkNet, noise: WalkNoise | None) -> None:
    """Give every site the same ``noise`` (the papers' global noise)."""
    for site in net.sites():
        site.set(noise)
