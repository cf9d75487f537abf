"""The papers' networks as plain torch modules taking a ``NoiseConfig``, and the user's own.

``build(name, noise, **kwargs)`` makes one by name; ``available()`` lists the
names; ``recipe(name)`` is the paper's training recipe; ``input_spec(name,
**kwargs)`` says what input the network expects, so a dataset that does not
fit is refused with a clear message. Every factory takes a keyword ``seed``
(default 0): weights are drawn from a ``torch.Generator`` seeded with it, and
all noise layers share one noise generator seeded with it.

``resolve(spec, noise=..., seed=..., example=..., **kwargs)`` is the one entry
for every workflow: ``spec`` is a bundled name, an import path
``package.module:factory`` (any callable returning an ``nn.Module``), a
factory callable or an ``nn.Module``. A user's network gets the paper's noise
placed by ``crossbar.nn.placement`` and its weights from the seed
(``models/_user.py``); it records its identity (name, arguments, source
digest) for checkpoints and results.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from crossbar.identity import object_identity
from crossbar.nn import NO_NOISE, NoiseConfig, noise_layers, seed_noise
from crossbar.nn.placement import place_noise
from crossbar.resolve import import_object, is_spec

from ._user import GlobalRandomError, call_factory, parameters_of
from .cnn6 import CNN6, cnn6
from .densenet import DenseNet, densenet40, densenet100
from .gru import ConvGRUStrokes, conv_gru_strokes
from .lstm import LSTMStrokes, lstm_strokes
from .madry import MadryCNN4, madry_cnn4
from .mobilenet import MobileNetSmall, mobilenet_small
from .vit import ViT, vit

__all__ = [
    "CNN6",
    "ConvGRUStrokes",
    "DEFAULT_RECIPE",
    "DenseNet",
    "GlobalRandomError",
    "InputSpec",
    "LSTMStrokes",
    "MadryCNN4",
    "MobileNetSmall",
    "available",
    "build",
    "canonical_name",
    "cnn6",
    "conv_gru_strokes",
    "densenet40",
    "densenet100",
    "factory_parameters",
    "input_spec",
    "is_bundled",
    "kwargs_for_data",
    "lstm_strokes",
    "madry_cnn4",
    "mobilenet_small",
    "recipe",
    "recipe_for",
    "resolve",
    "ViT",
    "vit",
]


@dataclass(frozen=True)
class InputSpec:
    """What a network consumes per sample: ``kind`` "image" with ``shape`` (C, H, W)
    or "sequence" with ``shape`` (steps, features)."""

    kind: str
    shape: tuple[int, ...]

    def describe(self) -> str:
        if self.kind == "image":
            c, h, w = self.shape
            return f"images of {c} channel(s) x {h} x {w} pixels"
        steps, dim = self.shape
        return f"sequences of {steps} steps x {dim} features"

    def check(self, sample_shape: Sequence[int], model: str = "model", data: str = "data") -> None:
        """Raise ValueError unless one sample of ``data`` has shape ``self.shape``."""
        sample_shape = tuple(int(s) for s in sample_shape)
        if sample_shape == self.shape:
            return
        got = {3: "images (C x H x W)", 2: "sequences (steps x features)"}.get(len(sample_shape), "samples")
        raise ValueError(
            f"model {model!r} expects {self.describe()}, shape {self.shape}; "
            f"{data!r} has {got} of shape {sample_shape}"
        )


# The paper's Adam recipe (CNN, LSTM).
_ADAM = {
    "optimizer": "adam",
    "lr": 1e-4,
    "batch_size": 32,
    "momentum": None,
    "nesterov": False,
    "weight_decay": 0.0,
    "epochs": 100,
    "lr_milestones": (),
    "lr_gamma": 1.0,
}
# The recipe of a user's own network: Adam with its usual step size 1e-3 (Kingma & Ba, ICLR 2015,
# Algorithm 1's default), batch 32. The paper's 1e-4 suits its 100-epoch runs; in the few epochs a
# first run of a new network gets, 1e-3 learns (tests/test_user_models.py trains an MLP with it).
DEFAULT_RECIPE = {**_ADAM, "lr": 1e-3, "epochs": None}
# DenseNet's recipe (Huang et al.): Nesterov momentum 0.9, weight decay 1e-4,
# lr 0.1 divided by 10 at 50 % and 75 % of the epochs; the paper uses batch 32
# and 300 epochs.
_DENSENET = {
    "optimizer": "sgd",
    "lr": 0.1,
    "batch_size": 32,
    "momentum": 0.9,
    "nesterov": True,
    "weight_decay": 1e-4,
    "epochs": 300,
    "lr_milestones": (0.5, 0.75),
    "lr_gamma": 0.1,
}


def _image_kwargs(shape: tuple[int, ...], num_classes: int) -> dict[str, Any]:
    out: dict[str, Any] = {"num_classes": num_classes}
    if len(shape) == 3 and shape[1] == shape[2]:
        out.update(in_channels=shape[0], image_size=shape[1])
    return out


def _seq_kwargs(shape: tuple[int, ...], num_classes: int) -> dict[str, Any]:
    out: dict[str, Any] = {"num_classes": num_classes}
    if len(shape) == 2:
        out.update(steps=shape[0], input_dim=shape[1])
    return out


def _classes_only(shape: tuple[int, ...], num_classes: int) -> dict[str, Any]:
    return {"num_classes": num_classes}


@dataclass(frozen=True)
class _Entry:
    factory: Callable[..., nn.Module]
    recipe: dict[str, Any]
    spec: Callable[..., InputSpec]
    adapt: Callable[[tuple[int, ...], int], dict[str, Any]]
    description: str


_MODELS: dict[str, _Entry] = {
    "cnn6": _Entry(
        cnn6,
        _ADAM,
        lambda in_channels=1, image_size=28, **_: InputSpec("image", (in_channels, image_size, image_size)),
        _image_kwargs,
        "6-layer CNN of Qin & Vucinic Table 1 (MNIST)",
    ),
    "densenet40": _Entry(
        densenet40,
        _DENSENET,
        lambda **_: InputSpec("image", (3, 32, 32)),
        _classes_only,
        "DenseNet depth 40, growth 12 (CIFAR-10)",
    ),
    "densenet100": _Entry(
        densenet100,
        _DENSENET,
        lambda **_: InputSpec("image", (3, 32, 32)),
        _classes_only,
        "DenseNet depth 100, growth 12 (CIFAR-10, black-box NN_val)",
    ),
    "lstm_strokes": _Entry(
        lstm_strokes,
        _ADAM,
        lambda steps=50, input_dim=2, **_: InputSpec("sequence", (steps, input_dim)),
        _seq_kwargs,
        "LSTM, 128 hidden, noise after each gate product (MNIST strokes)",
    ),
    "madry_cnn4": _Entry(
        madry_cnn4,
        _ADAM,
        lambda **_: InputSpec("image", (1, 28, 28)),
        _classes_only,
        "4-layer CNN of Madry et al. (MNIST, black-box NN_adv)",
    ),
    "mobilenet_small": _Entry(
        mobilenet_small,
        DEFAULT_RECIPE,
        lambda in_channels=1, image_size=28, **_: InputSpec("image", (in_channels, image_size, image_size)),
        _image_kwargs,
        "MobileNet-style depthwise-separable CNN, 4 blocks (Fashion-MNIST)",
    ),
    "conv_gru_strokes": _Entry(
        conv_gru_strokes,
        DEFAULT_RECIPE,
        lambda steps=50, input_dim=2, **_: InputSpec("sequence", (steps, input_dim)),
        _seq_kwargs,
        "Conv1d + GRU sequence classifier, 64 hidden (MNIST strokes)",
    ),
    "vit": _Entry(
        vit,
        DEFAULT_RECIPE,
        lambda in_channels=1, image_size=28, **_: InputSpec("image", (in_channels, image_size, image_size)),
        _image_kwargs,
        "small vision transformer: 7x7 patches, 2 pre-norm layers of width 64, 4 heads (Fashion-MNIST)",
    ),
}
_ALIASES = {"lstm": "lstm_strokes", "madry": "madry_cnn4", "cnn": "cnn6"}


def available() -> list[str]:
    """Names accepted by ``build`` (aliases: lstm, madry, cnn)."""
    return list(_MODELS)


def canonical_name(name: str) -> str:
    key = _ALIASES.get(name, name)
    if key not in _MODELS:
        raise KeyError(f"unknown model {name!r}; available: {', '.join(available())}")
    return key


def build(name: str, noise: NoiseConfig = NO_NOISE, **kwargs: Any) -> nn.Module:
    """The network ``name`` with every noise layer set to ``noise``.

    ``kwargs`` go to the factory (e.g. ``num_classes``, ``seed``). The module
    gets an attribute ``crossbar_model = {"name", "kwargs", "noise"}`` so a checkpoint
    can rebuild it.
    """
    key = canonical_name(name)
    if not isinstance(noise, NoiseConfig):
        raise TypeError(f"noise must be a NoiseConfig, got {type(noise)!r}")
    model = _MODELS[key].factory(noise=noise, **kwargs)
    model.crossbar_model = {
        "name": key,
        "kwargs": {k: v for k, v in kwargs.items() if k != "seed"},
        "noise": noise.to_dict(),
    }
    return model


def recipe(name: str) -> dict[str, Any]:
    """The paper's training recipe: optimizer ("adam" / "sgd"), lr, batch_size,
    momentum (None for Adam), nesterov, weight_decay, epochs (the paper's),
    lr_milestones (fractions of the run where lr is multiplied by lr_gamma)."""
    return dict(_MODELS[canonical_name(name)].recipe)


def input_spec(name: str, **kwargs: Any) -> InputSpec:
    """The per-sample input the network ``name`` built with ``kwargs`` expects."""
    return _MODELS[canonical_name(name)].spec(**kwargs)


def kwargs_for_data(name: str, sample_shape: Sequence[int], num_classes: int) -> dict[str, Any]:
    """Constructor arguments that fit the network to a dataset where it can adapt
    (classes for all; channels and image size for cnn6; steps and features for the LSTM)."""
    shape = tuple(int(s) for s in sample_shape)
    return _MODELS[canonical_name(name)].adapt(shape, int(num_classes))


def describe(name: str) -> str:
    return _MODELS[canonical_name(name)].description


# ------------------------------------------------------------------ any network


def is_bundled(spec: Any) -> bool:
    """Whether ``spec`` names one of the bundled networks (or an alias)."""
    return isinstance(spec, str) and _ALIASES.get(spec, spec) in _MODELS


def recipe_for(spec: Any) -> dict[str, Any]:
    """The training recipe of ``spec``: the paper's for a bundled network, else ``DEFAULT_RECIPE``."""
    return recipe(spec) if is_bundled(spec) else dict(DEFAULT_RECIPE)


def factory_parameters(spec: Any) -> dict[str, Any]:
    """The keyword parameters (``inspect.Parameter``) the factory of ``spec`` takes, noise and seed
    excluded (and ``builtin_noise``: a sweep needs the noise layers): a bundled name's factory, or
    the callable an import path names (imported)."""
    factory = (_MODELS[canonical_name(spec)].factory if is_bundled(spec)
               else import_object(spec, "model factory") if isinstance(spec, str) else spec)
    skip = ("noise", "seed", "builtin_noise") if is_bundled(spec) else ("noise", "seed")
    return {n: p for n, p in parameters_of(factory).items() if n not in skip}


def _shape(example: Any) -> tuple[int, ...] | None:
    if isinstance(example, torch.Tensor):
        return tuple(int(s) for s in example.shape[1:])
    return None if example is None else tuple(int(s) for s in example)


def resolve(spec: Any, *, noise: NoiseConfig = NO_NOISE, seed: int = 0, example: Any = None,
            **kwargs: Any) -> nn.Module:
    """The network ``spec`` names, with noise layers configured as ``noise`` and seeded ``seed``.

    ``spec``: a bundled name (:func:`build`), an import path ``package.module:factory``
    (``crossbar.resolve.import_object``; this is how workers rebuild a network), a
    factory callable, or an ``nn.Module`` (copied; its weights kept). ``kwargs`` go
    to the factory. A factory taking ``seed`` gets it; any other one is called with
    its random draws taken from the seed (``models/_user.py``). A network without
    noise layers gets them where ``crossbar.nn.placement`` puts them (``example``:
    an input batch or per-sample shape, needed when it has batch norms); one that
    has its own keeps them, set to ``noise``. The result carries ``crossbar_model``
    (``name``, ``kwargs``, ``noise``, ``source``: digest of the factory's or class's
    source files) and, where known, ``crossbar_input`` (the per-sample shape).
    """
    if not isinstance(noise, NoiseConfig):
        raise TypeError(f"noise must be a NoiseConfig, got {type(noise)!r}")
    if is_bundled(spec):
        return build(spec, noise, seed=seed, **kwargs)
    if isinstance(spec, nn.Module):
        if kwargs:
            raise ValueError("model arguments apply to a factory, not to a module passed as it is")
        model = copy.deepcopy(spec)
        ident = object_identity(type(spec))
        name, takes_noise = f"object:{ident['name']}", False
    else:
        if isinstance(spec, str):
            if not is_spec(spec):
                raise ValueError(f"unknown model {spec!r}; expected one of {', '.join(available())} "
                                 "or an import path package.module:factory")
            factory = import_object(spec, "model factory")
            name = spec
        elif callable(spec):
            factory, name = spec, None
        else:
            raise TypeError(f"model must be a name, an import path, a factory or an nn.Module, "
                            f"got {type(spec).__name__}")
        ident = object_identity(factory)
        name = name or ident["name"]
        takes_noise = "noise" in parameters_of(factory)
        model = call_factory(factory, f"model factory {name!r}", seed, kwargs, noise)
    if not noise_layers(model):
        place_noise(model, noise, example)
    elif not takes_noise:
        for layer in noise_layers(model):
            layer.config = noise
    seed_noise(model, seed)
    model.crossbar_model = {"name": name, "kwargs": dict(kwargs), "noise": noise.to_dict(),
                            "source": ident["source"]}
    shape = _shape(example)
    if shape is not None:
        model.crossbar_input = shape
    return model
