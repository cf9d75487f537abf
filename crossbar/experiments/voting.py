"""Noisy inference with voting (Qin & Vucinic, Section 3.3).

A *draw* is one noisy inference of every input. ``noisy_probs`` produces many
draws at once by stacking ``draws_per_pass`` copies of a batch into a single
forward pass; each copy gets its own noise because the noise layers draw an
independent value for every element of every row.

Voting rules, for K draws of one input:

* ``"hard"`` (the paper's rule): the class predicted most often (the mode of
  the K argmax predictions). A tie between classes with the same number of
  votes is broken by the larger softmax output summed over the K draws; an
  exact tie of that sum goes to the lowest class index.
* ``"soft"``: the argmax of the mean softmax output over the K draws.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from crossbar.seeds import Stream, derive

RULES = ("hard", "soft")


def reseed_all(model: torch.nn.Module, seed: int) -> None:
    """Seed every noise source of ``model``: its Gaussian noise layers (``crossbar.nn.seed_noise``)
    and, for a converted network, every array's read noise and abstract output noise
    (``crossbar.nn.reseed``). The default ``seed_fn`` of :func:`noisy_probs`."""
    from crossbar.nn import reseed, seed_noise

    seed_noise(model, seed)
    reseed(model, seed)


@torch.no_grad()
def noisy_probs(
    model: torch.nn.Module,
    x: torch.Tensor,
    draws: int,
    *,
    seed: int = 0,
    seed_fn: Callable[[torch.nn.Module, int], object] = reseed_all,
    batch_size: int = 1000,
    draws_per_pass: int = 10,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """Softmax outputs of ``draws`` noisy inferences of every row of ``x``.

    Returns a float32 CPU tensor of shape ``(draws, len(x), classes)``.
    ``x`` is batch-first. Before every forward pass ``seed_fn(model, s)`` seeds
    the model's noise with ``s = derive(seed, Stream.VOTE_PASS, first_draw, batch_index)``,
    so the result is a function of the arguments only; the default ``seed_fn``
    (:func:`reseed_all`) seeds noise layers and converted arrays alike. The model
    must already be in eval mode with its inference noise set.
    """
    from crossbar.nn import stacked_copies

    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    n = len(x)
    out: torch.Tensor | None = None
    for b, start in enumerate(range(0, n, batch_size)):
        xb = x[start : start + batch_size].to(device)
        m = len(xb)
        for d0 in range(0, draws, draws_per_pass):
            g = min(draws_per_pass, draws - d0)
            seed_fn(model, derive(seed, Stream.VOTE_PASS, d0, b))
            rep = xb.repeat(g, *([1] * (xb.dim() - 1)))
            with stacked_copies(model, g):  # the first crossbar layer converts and multiplies xb once
                p = torch.softmax(model(rep).float(), dim=-1).view(g, m, -1).cpu()
            if out is None:
                out = torch.empty(draws, n, p.shape[-1], dtype=torch.float32)
            out[d0 : d0 + g, start : start + m] = p
    assert out is not None
    return out


def vote(probs: np.ndarray | torch.Tensor, rule: str = "hard") -> np.ndarray:
    """Voted predictions from softmax outputs of shape ``(..., K, N, C)``.

    Returns integer class indices of shape ``(..., N)`` (see module doc for
    the rules and the tie-break).
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim < 3:
        raise ValueError(f"probs must have shape (..., K, N, C), got {p.shape}")
    k = p.shape[-3]
    summed = p.sum(axis=-3)
    if rule == "soft":
        return summed.argmax(axis=-1)
    classes = p.shape[-1]
    picks = p.argmax(axis=-1)  # (..., K, N)
    counts = (picks[..., None] == np.arange(classes)).sum(axis=-3)  # (..., N, C)
    # counts lead; the summed softmax (< k + 1) only orders classes with equal counts.
    return (counts + summed / (k + 1)).argmax(axis=-1)


def vote_curve(
    probs: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor, k_max: int,
    rule: str = "hard",
) -> dict[str, list]:
    """Accuracy with k = 1..k_max votes from D draws ``probs`` (D, N, C).

    For each k the draws are cut into ``D // k`` disjoint groups of k
    consecutive draws; each group votes once. ``probs`` may also have shape
    (B, D, N, C): B blocks of D draws (e.g. D re-reads of each of B programmed
    chips), cut into groups within each block only. Returns lists indexed by
    k-1: ``k``, ``mean`` and ``std`` (sample std, 0 for one group) of the
    groups' accuracies, and ``groups``.
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim == 3:
        p = p[None]
    if p.ndim != 4:
        raise ValueError(f"probs must have shape (D, N, C) or (B, D, N, C), got {p.shape}")
    y = np.asarray(labels)
    blocks, d = p.shape[:2]
    if not 1 <= k_max <= d:
        raise ValueError(f"k_max must be within 1..{d} (the number of draws), got {k_max}")
    out: dict[str, list] = {"k": [], "mean": [], "std": [], "groups": []}
    for k in range(1, k_max + 1):
        g = d // k
        grouped = p[:, : g * k].reshape(blocks * g, k, *p.shape[2:])
        g *= blocks
        acc = (vote(grouped, rule) == y).mean(axis=-1)
        out["k"].append(k)
        out["mean"].append(float(acc.mean()))
        out["std"].append(float(acc.std(ddof=1)) if g > 1 else 0.0)
        out["groups"].append(g)
    return out


def predict_with_votes(
    model: torch.nn.Module,
    x: torch.Tensor,
    votes: int,
    *,
    seed: int = 0,
    seed_fn: Callable[[torch.nn.Module, int], object] = reseed_all,
    rule: str = "hard",
    batch_size: int = 1000,
    draws_per_pass: int | None = None,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Predictions by ``votes`` noisy inferences per input, all stacked into one
    forward pass per batch unless ``draws_per_pass`` says otherwise."""
    probs = noisy_probs(
        model, x, votes, seed=seed, seed_fn=seed_fn, batch_size=batch_size,
        draws_per_pass=draws_per_pass or votes, device=device,
    )
    return vote(probs.numpy(), rule)
