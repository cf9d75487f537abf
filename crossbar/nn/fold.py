"""Weights that are fixed functions of parameters, folded before a model is mapped.

A torch parametrization (``nn.utils.parametrizations.weight_norm``,
``spectral_norm``, any ``register_parametrization``) or the older hook-based
``nn.utils.weight_norm`` / ``spectral_norm`` recompute a weight from other
parameters on every forward. What an array holds is the weight itself, so
``convert`` evaluates it once (eval mode) and programs that; ``to_float``
puts a weight norm back (the same function), other parametrizations stay folded.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from torch import nn
from torch.nn.utils import parametrize

__all__ = ["Folded", "copy_model", "fold", "unfold"]


@dataclass(frozen=True)
class Folded:
    module: str  # qualified name
    parameter: str
    kind: str  # "weight_norm", "spectral_norm" or the parametrization's class name
    dim: int | None = None  # weight norm's dimension


def _old_hooks(module: nn.Module):
    for key, hook in list(module._forward_pre_hooks.items()):
        kind = type(hook).__name__
        if kind in ("WeightNorm", "SpectralNorm"):
            yield key, hook, kind


def copy_model(model: nn.Module) -> nn.Module:
    """A deep copy of ``model``; the weights the older hook-based norms compute (not graph
    leaves, which torch cannot deep-copy) are copied as plain tensors, recomputed on use."""
    memo = {}
    for module in model.modules():
        for _key, hook, _kind in _old_hooks(module):
            computed = getattr(module, hook.name)
            memo[id(computed)] = computed.detach().clone()
    twin = copy.deepcopy(model, memo)
    for module in twin.modules():  # a class of its own, so that folding leaves the original's be
        if parametrize.is_parametrized(module):
            cls = type(module)
            module.__class__ = type(cls.__name__, cls.__bases__, dict(cls.__dict__))
    return twin


def fold(model: nn.Module) -> list[Folded]:
    """Replace every parametrized or hook-computed weight of ``model`` (in place) by its value."""
    folded = []
    for name, module in list(model.named_modules()):
        if parametrize.is_parametrized(module):
            for attr in list(module.parametrizations.keys()):
                steps = list(module.parametrizations[attr])
                kind = type(steps[0]).__name__ if len(steps) == 1 else "parametrization"
                dim = getattr(steps[0], "dim", None) if kind == "_WeightNorm" else None
                kind = {"_WeightNorm": "weight_norm", "_SpectralNorm": "spectral_norm"}.get(kind, kind)
                parametrize.remove_parametrizations(module, attr, leave_parametrized=True)
                folded.append(Folded(name, attr, kind, dim))
        for _key, hook, kind in _old_hooks(module):
            if kind == "WeightNorm":
                nn.utils.remove_weight_norm(module, hook.name)
                folded.append(Folded(name, hook.name, "weight_norm", hook.dim))
            else:
                nn.utils.remove_spectral_norm(module, hook.name)
                folded.append(Folded(name, hook.name, "spectral_norm"))
    return folded


def unfold(model: nn.Module, folded: list[Folded]) -> None:
    """Put the weight norms of ``folded`` back on ``model`` (a float model, in place)."""
    for f in folded:
        if f.kind == "weight_norm":
            nn.utils.parametrizations.weight_norm(model.get_submodule(f.module), f.parameter, dim=f.dim)
