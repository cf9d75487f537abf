"""L-infinity attacks: FGSM, iterative FGSM / PGD with random restarts, EOT gradients.

* FGSM (Goodfellow et al., arXiv:1412.6572): ``x* = x + eps * sign(grad_x J(x, y))``.
* Iterative FGSM / PGD (Kurakin et al., arXiv:1607.02533; Madry et al., ICLR
  2018): ``x_{t+1} = Clip_{x,eps}(x_t + step * sign(grad_x J(x_t, y)))``,
  started at a uniform random point of the eps-cube around ``x`` and run
  from several such starts ("restarts"); per input the strongest final
  iterate is kept.
* EOT (Athalye et al., arXiv:1802.00420): against a network with random
  inference noise the gradient is averaged over noise draws, an unbiased
  estimate of the gradient of the expected loss.

Every iterate is projected onto the eps-cube of ``x`` intersected with the
pixel range [0, 1]; the bound holds exactly (checked in float64 arithmetic,
see :func:`box`). The attacks work on a batch at once, on the device of the
inputs (pure torch operations), and draw every random number from seeds
given explicitly (``crossbar.seeds.derive``); they never change the model's
weights, its train/eval mode or its parameters' gradients, but they do
reseed its noise layers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from crossbar.nn import seed_noise
from crossbar.seeds import Stream, derive

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (logits, y) -> per-input loss
SeedFn = Callable[[nn.Module, int], object]


@dataclass(frozen=True)
class AttackParams:
    """An L-infinity attack: radius ``eps``, ``step`` per iteration (the
    adversary's learning rate), ``iterations``, ``restarts`` from random
    starts (``random_start=False``: the paper's iterative FGSM from ``x``,
    one restart only)."""

    eps: float
    step: float
    iterations: int
    restarts: int = 1
    random_start: bool = True

    def __post_init__(self) -> None:
        for name in ("eps", "step"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
                raise ValueError(f"attack {name} must be a finite number > 0, got {v!r}")
            object.__setattr__(self, name, float(v))
        for name, low in (("iterations", 0), ("restarts", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"attack {name} must be an integer >= {low}, got {v!r}")
        if not isinstance(self.random_start, bool):
            raise ValueError(f"attack random_start must be true or false, got {self.random_start!r}")
        if self.restarts > 1 and not self.random_start:
            raise ValueError("attack restarts > 1 need random_start: every start from x is the same")

    def to_dict(self) -> dict:
        return {"eps": self.eps, "step": self.step, "iterations": self.iterations,
                "restarts": self.restarts, "random_start": self.random_start}


# Table 10 of Qin & Vucinic, "Noisy Computations during Inference: Harmful or
# Helpful?" (arXiv:1811.10649): the iterative-FGSM attacks of its Section 4.
PRESETS: dict[str, AttackParams] = {
    "mnist": AttackParams(eps=0.3, step=0.05, iterations=20, restarts=20),
    "cifar10": AttackParams(eps=8 / 256, step=2 / 256, iterations=7, restarts=10),
}


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The default attack loss J(x, y): cross-entropy per input."""
    return F.cross_entropy(logits, y, reduction="none")


def box(x: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Bounds (lo, hi) of the eps-cube around ``x`` within [0, 1], in ``x``'s dtype.

    Rounding ``x - eps`` to float32 may land below the real ``x - eps``; such
    a bound is moved one representable value inwards, so that every value in
    [lo, hi] is within ``eps`` of ``x`` exactly (``|v - x| <= eps`` evaluated
    in float64, where the difference of two float32 values is exact).
    """
    if not x.is_floating_point():
        raise TypeError(f"inputs must be floating point, got {x.dtype}")
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError(
            f"inputs must lie in the valid pixel range [0, 1], got [{x.min().item():g}, {x.max().item():g}]"
        )
    x64 = x.double()
    lo = (x64 - eps).to(x.dtype)
    lo = torch.where(x64 - lo.double() > eps, torch.nextafter(lo, x), lo)
    hi = (x64 + eps).to(x.dtype)
    hi = torch.where(hi.double() - x64 > eps, torch.nextafter(hi, x), hi)
    return lo.clamp(0.0, 1.0), hi.clamp(0.0, 1.0)


def _check(x: torch.Tensor, y: torch.Tensor, samples: int) -> None:
    if y.dim() != 1 or len(y) != len(x):
        raise ValueError(f"labels must have shape ({len(x)},), got {tuple(y.shape)}")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"EOT samples must be an integer >= 1, got {samples!r}")


def _losses(model: nn.Module, x: torch.Tensor, y: torch.Tensor, samples: int,
            loss_fn: LossFn) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-input loss and softmax, averaged over ``samples`` stacked copies of
    ``x`` (each copy gets its own noise: the noise layers draw every element)."""
    reps = x.repeat(samples, *([1] * (x.dim() - 1)))
    logits = model(reps)
    loss = loss_fn(logits, y.repeat(samples)).view(samples, len(x)).mean(0)
    probs = torch.softmax(logits.detach().float(), -1).view(samples, len(x), -1).mean(0)
    return loss, probs


def eot_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, samples: int = 1,
                 seed: int = 0, seed_fn: SeedFn = seed_noise,
                 loss_fn: LossFn = cross_entropy) -> torch.Tensor:
    """``(1/samples) * sum_s grad_x J(f_s(x), y)``: the input gradient of every
    input's loss averaged over ``samples`` noisy forward passes (EOT).

    ``seed_fn(model, seed)`` seeds the model's noise first (``seed_noise``
    for Gaussian noise layers, ``crossbar.nn.reseed`` for converted models).
    Without noise every sample is the same and this is the plain gradient.
    """
    _check(x, y, samples)
    seed_fn(model, seed)
    xg = x.detach().requires_grad_(True)
    with torch.enable_grad():
        loss, _ = _losses(model, xg, y, samples, loss_fn)
        (grad,) = torch.autograd.grad(loss.sum(), xg)
    return grad


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *, seed: int = 0,
         eot_samples: int = 1, seed_fn: SeedFn = seed_noise,
         loss_fn: LossFn = cross_entropy) -> torch.Tensor:
    """One signed-gradient step of size ``eps`` from ``x``, clipped to [0, 1]
    (gradient averaged over ``eot_samples`` noise draws seeded from ``seed``)."""
    AttackParams(eps=eps, step=eps, iterations=1)  # validates eps
    x = x.detach()
    lo, hi = box(x, eps)
    grad = eot_gradient(model, x, y, samples=eot_samples, seed=derive(seed, Stream.ATTACK_EOT, 0, 0),
                        seed_fn=seed_fn, loss_fn=loss_fn)
    return torch.minimum(torch.maximum(x + eps * grad.sign(), lo), hi)


def strength(model: nn.Module, x_adv: torch.Tensor, y: torch.Tensor, *, samples: int = 1,
             seed: int = 0, seed_fn: SeedFn = seed_noise,
             loss_fn: LossFn = cross_entropy) -> tuple[torch.Tensor, torch.Tensor]:
    """How strong adversarial examples are: (fooled, loss) per input.

    ``fooled``: the softmax averaged over ``samples`` noisy passes does not
    pick the label; ``loss``: the loss averaged over the same passes. An
    example is stronger than another if it fools and the other does not, or
    if both do or both do not and its loss is larger.
    """
    _check(x_adv, y, samples)
    seed_fn(model, seed)
    with torch.no_grad():
        loss, probs = _losses(model, x_adv, y, samples, loss_fn)
    return probs.argmax(-1) != y, loss.double()


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, params: AttackParams, *,
        seed: int, eot_samples: int = 1, seed_fn: SeedFn = seed_noise,
        loss_fn: LossFn = cross_entropy) -> torch.Tensor:
    """Iterative FGSM / PGD on a batch; returns the strongest example per input.

    Restart ``r`` starts at ``x + U(-eps, eps)`` (seed ``derive(seed,
    ATTACK_START, r)``; from ``x`` itself without ``random_start``), takes
    ``iterations`` signed-gradient steps of size ``step``, each projected
    onto the eps-cube of ``x`` within [0, 1]. Gradients are averaged over
    ``eot_samples`` noise draws (noise seeds ``derive(seed, ATTACK_EOT, r,
    t)``). The final iterate of each restart is scored by :func:`strength`
    and replaces the kept example only where it is strictly stronger, so
    more restarts never give a weaker example (restart 0 is the same for any
    number of restarts). The model is used in its current mode.
    """
    _check(x, y, eot_samples)
    x = x.detach()
    lo, hi = box(x, params.eps)
    best = x.clone()
    best_fooled = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    best_loss = torch.full((len(x),), -math.inf, dtype=torch.float64, device=x.device)
    common = dict(samples=eot_samples, seed_fn=seed_fn, loss_fn=loss_fn)
    for r in range(params.restarts):
        xa = x
        if params.random_start:
            gen = torch.Generator().manual_seed(derive(seed, Stream.ATTACK_START, r))
            u = torch.rand(x.shape, generator=gen, dtype=torch.float64).to(x.device)
            xa = torch.minimum(torch.maximum((x.double() + (2 * u - 1) * params.eps).to(x.dtype), lo), hi)
        for t in range(params.iterations):
            grad = eot_gradient(model, xa, y, seed=derive(seed, Stream.ATTACK_EOT, r, t), **common)
            xa = torch.minimum(torch.maximum(xa + params.step * grad.sign(), lo), hi)
        fooled, loss = strength(model, xa, y, seed=derive(seed, Stream.ATTACK_EOT, r, params.iterations),
                                **common)
        better = (fooled & ~best_fooled) | ((fooled == best_fooled) & (loss > best_loss))
        best = torch.where(better.view(-1, *([1] * (x.dim() - 1))), xa, best)
        best_fooled = torch.where(better, fooled, best_fooled)
        best_loss = torch.where(better, loss, best_loss)
    return best.detach()
