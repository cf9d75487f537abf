"""Learning dynamics of noisy training: weight magnitude and a binarisation measure.

For every Conv2d/Linear weight tensor and every BatchNorm scale (gamma) of a
network, per epoch:

* ``mean_abs`` = mean |w|: the weight magnitude. Walking Noise reports that
  additive noise drives it up (a larger signal against fixed noise).
* ``binarisation`` ``B = (mean |w|)^2 / mean(w^2)`` (Conv/Linear only). B is
  at most 1, with equality exactly when every |w| is the same, i.e. the
  weights take only the two values +-c; it does not depend on the scale c, so
  it separates binarisation from magnitude growth. Reference values: 0.75 for
  PyTorch's uniform initialisation, 2/pi = 0.64 for Gaussian weights. (A
  tensor that is mostly zeros scores low: B equals the non-zero fraction for
  weights in {-c, 0, +c}.)

Summaries over a network (what the figures show): ``growth``, the largest
over tensors of mean|w| relative to its value before training, and
``binarisation``, the largest B over the Conv/Linear tensors. The largest,
not a mean: noise at one position acts mostly on one tensor (measured: the
Linear before an additive-noise position grows 2-5x while the others stay
within 20 % of clean training), which a mean over all tensors would dilute by
a factor that depends on the architecture. Clean training is summarised the
same way, as the reference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils import parametrize

__all__ = ["network_summary", "weight_stats"]


def _latent(m: nn.Module) -> torch.Tensor:
    if parametrize.is_parametrized(m, "weight"):
        return m.parametrizations.weight.original
    return m.weight


@torch.no_grad()
def weight_stats(model: nn.Module) -> dict[str, dict[str, float]]:
    """Per tensor (keyed by module path): ``mean_abs``, ``rms``, and for Conv/Linear ``binarisation``."""
    out: dict[str, dict[str, float]] = {}
    for name, m in model.named_modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            w = _latent(m).detach().double()
            mean_abs, rms = float(w.abs().mean()), float(w.pow(2).mean().sqrt())
            out[name] = {"mean_abs": mean_abs, "rms": rms,
                         "binarisation": (mean_abs / rms) ** 2 if rms > 0 else math.nan}
        elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
            g = m.weight.detach().double()
            out[name] = {"mean_abs": float(g.abs().mean()), "rms": float(g.pow(2).mean().sqrt())}
    return out


def network_summary(epochs: Sequence[dict[str, dict[str, float]]]) -> dict[str, list[float]]:
    """``growth`` and ``binarisation`` per epoch from a list of :func:`weight_stats`
    (entry 0: before training)."""
    first = epochs[0]
    growth, binar = [], []
    for stats in epochs:
        ratios = [stats[k]["mean_abs"] / first[k]["mean_abs"] for k in first if first[k]["mean_abs"] > 0]
        growth.append(max(ratios) if ratios else math.nan)
        bs = [v["binarisation"] for v in stats.values()
              if "binarisation" in v and math.isfinite(v["binarisation"])]
        binar.append(max(bs) if bs else math.nan)
    return {"growth": growth, "binarisation": binar}
