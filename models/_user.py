"""Building a user's network from its factory with weights drawn from the run's seed.

A factory that takes a ``seed`` argument gets the seed (for draws of its
own). Every factory is called inside :class:`SeededDraws`: every random draw
without a generator of its own that torch lets a generator be given for (the
``torch.nn.init`` functions every torch layer initialises itself with, ``Tensor.uniform_`` /
``normal_`` and the like, ``torch.rand`` / ``randn`` / ``randint`` /
``randperm`` / ``normal``) is taken from a ``torch.Generator`` seeded with
``derive(seed, Stream.TRAIN_INIT)``. So the factory's own initialisation scheme
is kept, follows the seed, and neither reads nor moves torch's global
generator. A factory that still draws from a global generator (torch's, e.g.
``torch.randn_like``, or NumPy's) is refused: its weights would not follow
the seed.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from crossbar.seeds import Stream, derive

__all__ = ["GlobalRandomError", "SeededDraws", "call_factory", "parameters_of"]

# Builtin draws that take generator= (Python functions, e.g. torch.nn.init, are found by signature).
_GENERATOR_OPS = {"rand", "randn", "randint", "randperm", "normal", "bernoulli", "multinomial",
                  "poisson", "uniform_", "normal_", "random_", "bernoulli_", "exponential_",
                  "cauchy_", "log_normal_", "geometric_"}


class GlobalRandomError(RuntimeError):
    """A user's code drew from a global random generator (the message names it)."""


def _takes_generator(func: Any) -> bool:
    if getattr(func, "__name__", "") in _GENERATOR_OPS:
        return True
    try:
        return "generator" in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


class SeededDraws(TorchFunctionMode):
    """Inside, every torch draw that accepts ``generator=`` and got none uses ``gen``."""

    def __init__(self, gen: torch.Generator) -> None:
        super().__init__()
        self.gen = gen

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if kwargs.get("generator") is None and _takes_generator(func):
            kwargs["generator"] = self.gen
        return func(*args, **kwargs)


def parameters_of(factory: Callable) -> dict[str, inspect.Parameter]:
    """The factory's parameters that can be given by keyword ({} if it has no signature)."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return {}
    return {n: p for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def call_factory(factory: Callable, name: str, seed: int, kwargs: dict[str, Any],
                 noise: Any = None) -> nn.Module:
    """``factory(**kwargs)`` (plus ``seed`` / ``noise`` where it takes them), with its random
    draws from ``seed`` (module doc); the result must be an ``nn.Module``."""
    params = parameters_of(factory)
    kw = dict(kwargs)
    if "noise" in params and noise is not None:
        kw["noise"] = noise
    torch_state = torch.random.get_rng_state()
    numpy_state = np.random.get_state()[1].copy()  # noqa: NPY002 - read only: was it used?
    if "seed" in params:
        kw["seed"] = seed
    try:
        with SeededDraws(torch.Generator().manual_seed(derive(seed, Stream.TRAIN_INIT))):
            model = factory(**kw)
    except TypeError as err:
        raise TypeError(f"{name}: {err}") from None
    moved = []
    if not torch.equal(torch_state, torch.random.get_rng_state()):
        torch.random.set_rng_state(torch_state)  # leave the global state as it was
        moved.append("torch's")
    if not np.array_equal(numpy_state, np.random.get_state()[1]):  # noqa: NPY002 - read only
        moved.append("NumPy's")
    if moved:
        raise GlobalRandomError(
            f"{name} drew from {' and '.join(moved)} global random generator, so its weights would "
            "not follow the seed; give the factory a 'seed' argument and draw from "
            "torch.Generator().manual_seed(seed), or initialise with torch.nn.init")
    if not isinstance(model, nn.Module):
        raise TypeError(f"{name} returned a {type(model).__name__}, not a torch.nn.Module")
    return model
