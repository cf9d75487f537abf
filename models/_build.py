"""Construction without torch's global RNG: build on the meta device, then
initialise every parameter from an explicit ``torch.Generator``."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import torch
from torch import nn

from crossbar.nn import seed_noise

Init = Callable[[nn.Module, torch.Generator], set[int]]


def _fan_in(weight: torch.Tensor) -> int:
    return weight[0].numel()


def torch_default(module: nn.Module, gen: torch.Generator) -> set[int]:
    """PyTorch's own defaults for convolutions and Linear (Kaiming-uniform with a=sqrt(5),
    bias U(+-1/sqrt(fan_in))) and for RNN/GRU/LSTM (every parameter U(+-1/sqrt(hidden))),
    drawn from ``gen``. Returns the ids it set."""
    done: set[int] = set()
    for m in module.modules():
        if isinstance(m, nn.RNNBase):
            bound = 1.0 / math.sqrt(m.hidden_size)
            for p in m.parameters(recurse=False):
                nn.init.uniform_(p, -bound, bound, generator=gen)
                done.add(id(p))
        if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)):
            nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=gen)
            done.add(id(m.weight))
            if m.bias is not None:
                bound = 1.0 / math.sqrt(_fan_in(m.weight))
                nn.init.uniform_(m.bias, -bound, bound, generator=gen)
                done.add(id(m.bias))
    return done


def he_fan_out(module: nn.Module, gen: torch.Generator) -> set[int]:
    """DenseNet's initialisation: conv weights N(0, 2/(k*k*out)), no conv bias;
    fully connected weights PyTorch default, bias 0."""
    done: set[int] = set()
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", generator=gen)
            done.add(id(m.weight))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
                done.add(id(m.bias))
        elif isinstance(m, nn.Linear):
            nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=gen)
            done.add(id(m.weight))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
                done.add(id(m.bias))
    return done


def _init_norms(module: nn.Module) -> set[int]:
    done: set[int] = set()
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            if m.affine:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
                done.update((id(m.weight), id(m.bias)))
    return done


def materialize(make: Callable[[], nn.Module], seed: int, init: Init = torch_default) -> nn.Module:
    """``make()`` on the meta device (no random draws), then real CPU storage
    initialised from ``torch.Generator().manual_seed(seed)``; noise layers get
    one shared noise generator seeded ``seed``."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be an int, got {seed!r}")
    with torch.device("meta"):
        model = make()
    model = model.to_empty(device="cpu")
    gen = torch.Generator().manual_seed(int(seed))
    done = init(model, gen) | _init_norms(model)
    missed = [n for n, p in model.named_parameters() if id(p) not in done]
    if missed:  # a module type the initialiser does not know: fail loudly, never leave garbage
        raise RuntimeError(f"parameters left uninitialised: {', '.join(missed)}")
    for name, buf in model.named_buffers():
        if buf.is_floating_point() and not torch.isfinite(buf).all():
            raise RuntimeError(f"buffer left uninitialised: {name}")
    seed_noise(model, seed)
    return model
