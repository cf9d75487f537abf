"""Accuracy of a network under inference noise, with its uncertainty (Table 11).

``evaluate_noisy`` runs ``runs`` noisy inferences of every input (the
paper's "20 runs of noisy inference") and, optionally, ``votes``-vote
inferences; the noise is the network's Gaussian noise layers at
``sigma_val`` (Eq. 3 "mult" or Eq. 2 "add") or a device profile whose
programming and read noise is scaled by ``sigma_val`` (the network mapped
onto crossbar arrays by ``crossbar.nn.convert``, one programmed chip per
run). ``transfer_table`` does this for every sigma_val: the rows of Table 11.

Uncertainty of an accuracy averaged over R runs of the same N inputs: the
spread of the R run accuracies (sample std) and a 95 % Wilson score interval
with n = N (the inputs are the independent samples; runs on the same inputs
are not). ``paired_gain`` compares two noise levels on the same inputs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from crossbar.experiments import noisy_probs, vote
from crossbar.nn import convert, reseed, seed_noise, set_noise
from crossbar.seeds import Stream, derive, sigma_key

Z95 = 1.959963984540054  # two-sided 95 % normal quantile


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``successes / n`` (Wilson, JASA 1927)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # the interval always holds p; clamping keeps rounding (e.g. p = 0) from pushing it out
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))


def _summary(acc: np.ndarray, n: int) -> dict[str, Any]:
    mean = float(acc.mean())
    lo, hi = wilson(mean * n, n)
    return {"mean": mean, "std": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0, "wilson": [lo, hi]}


def _draws(model: nn.Module, x: torch.Tensor, sigma_val: float, draws: int, *, seed: int, noise: str,
           profile: str | None, batch_size: int, draws_per_pass: int, device: str,
           calibration: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax outputs (draws, N, C) of ``draws`` noisy inferences of ``x``."""
    common = dict(batch_size=batch_size)
    if profile is not None:
        from crossbar.devices import load

        set_noise(model, sigma_val=0.0)  # only the device adds noise
        chip_profile = load(profile, noise_scale=sigma_val)
        out = []
        for c in range(draws):  # one independently programmed chip per draw, read once
            s = derive(seed, Stream.ATTACK_CHIP, c)
            chip = convert(model.cpu(), chip_profile, seed=s, calibration=calibration).eval()
            out.append(noisy_probs(chip, x, 1, seed=s, seed_fn=reseed, draws_per_pass=1, **common)[0])
        return torch.stack(out)
    set_noise(model, kind=noise, sigma_val=sigma_val)
    model.eval()
    if sigma_val == 0.0:  # noiseless: every draw is the same
        one = noisy_probs(model, x, 1, seed=seed, seed_fn=seed_noise, draws_per_pass=1,
                          device=device, **common)
        return one.expand(draws, *one.shape[1:])
    return noisy_probs(model, x, draws, seed=seed, seed_fn=seed_noise, draws_per_pass=draws_per_pass,
                       device=device, **common)


def evaluate_noisy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, sigma_val: float, *, seed: int,
                   noise: str = "mult", runs: int = 20, votes: int = 0, vote_rule: str = "hard",
                   profile: str | None = None, batch_size: int = 25, draws_per_pass: int = 10,
                   device: str = "cpu", calibration: torch.Tensor | None = None) -> dict[str, Any]:
    """Accuracy of ``model`` on ``(x, y)`` over ``runs`` noisy inferences at ``sigma_val``.

    Sets the model's inference noise (``set_noise``). With ``votes`` K > 0,
    D = max(runs, K) draws are made; the first ``runs`` give the run
    accuracies, and D // K disjoint groups of K consecutive draws vote
    (``crossbar.experiments.vote``, rule ``vote_rule``). Returns a JSON-able
    record: ``accuracy`` (every run), ``mean``, ``std``, ``wilson`` (95 %),
    ``correct`` (per input, the number of runs that got it right; for paired
    comparisons) and ``votes`` (or None). ``calibration``: training inputs on which each
    chip of a profile with calibrated ADC ranges sets them (``crossbar.nn.convert``); never
    the test inputs.
    """
    if runs < 1 or votes < 0:
        raise ValueError(f"runs must be >= 1 and votes >= 0, got runs={runs}, votes={votes}")
    d = max(runs, votes)
    probs = _draws(model, x, float(sigma_val), d, seed=seed, noise=noise, profile=profile,
                   batch_size=batch_size, draws_per_pass=draws_per_pass, device=device,
                   calibration=calibration)
    labels = y.cpu().numpy()
    correct = probs[:runs].argmax(-1).numpy() == labels  # (R, N)
    n = len(labels)
    record = {"sigma_val": float(sigma_val), "n": n, "runs": runs,
              "accuracy": [float(a) for a in correct.mean(1)], **_summary(correct.mean(1), n),
              "correct": [int(c) for c in correct.sum(0)], "votes": None}
    if votes:
        groups = d // votes
        grouped = probs[: groups * votes].numpy().reshape(groups, votes, n, -1)
        acc = (vote(grouped, vote_rule) == labels).mean(-1)
        record["votes"] = {"k": votes, "rule": vote_rule, "groups": groups, **_summary(acc, n)}
    return record


def eval_seed(seed: int, input_set: int, sigma_val: float) -> int:
    """The noise seed of one input set (natural 0, black-box 1, white-box 2) at one sigma_val."""
    return derive(seed, Stream.ATTACK_EVAL, input_set, sigma_key(sigma_val))


def transfer_table(model: nn.Module, x: torch.Tensor, y: torch.Tensor, sigma_vals: list[float], *,
                   seed: int, input_set: int = 1, **kwargs: Any) -> list[dict[str, Any]]:
    """``evaluate_noisy`` at every sigma_val (noise seeds :func:`eval_seed`): Table 11's
    rows for one set of (adversarial) inputs. ``kwargs`` go to ``evaluate_noisy``."""
    return [evaluate_noisy(model, x, y, s, seed=eval_seed(seed, input_set, s), **kwargs) for s in sigma_vals]


def paired_gain(a: dict[str, Any], b: dict[str, Any], z: float = Z95) -> dict[str, float | None]:
    """Accuracy of record ``a`` minus that of ``b`` on the same inputs, with a 95 %
    interval: per input the fraction of runs correct, differenced, then the
    normal interval of the mean difference over the N inputs."""
    if a["n"] != b["n"]:
        raise ValueError(f"records of {a['n']} and {b['n']} inputs cannot be paired")
    d = np.asarray(a["correct"]) / a["runs"] - np.asarray(b["correct"]) / b["runs"]
    mean = float(d.mean())
    if len(d) < 2:
        return {"mean": mean, "low": None, "high": None}  # no spread from one input
    half = z * float(d.std(ddof=1)) / math.sqrt(len(d))
    return {"mean": mean, "low": mean - half, "high": mean + half}
