"""The aged, uncompensated PCM chip's collapse checked against an independent calculation.

The independent side is plain torch and the profile's YAML numbers only (no
crossbar read path, no profile loader): the float network with every Conv2d /
Linear weight drifted by the PCM law G(t) = G(t0) (t / t0)^-nu_mean(g) on both
devices of its differential pair (G+- = g_min + (g_max - g_min) max(+-w, 0) /
w_max), and each layer's output before its bias quantised by a 9-bit ADC whose
full scale is the 99.9th percentile of |output| on 32 training digits after
drift (the profile's calibrated range). The simulator's chip 0, aged one year
without compensation, must collapse as that calculation does: near chance, onto
the class the calculation predicts; with drift compensation it must not.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from crossbar.data import load_split
from crossbar.experiments.accuracy import AccuracyEvaluator
from crossbar.experiments.noise_scale import Age
from crossbar.experiments.profiles import load_profile
from crossbar.nn import set_noise
from crossbar.training import train

YEAR = 365 * 86_400.0
PCM = yaml.safe_load((Path(__file__).parents[1] / "devices" / "pcm.yaml").read_text())


@pytest.fixture(scope="module")
def trained():
    model, _ = train("cnn6", "mnist5k", epochs=1, limit=800, batch_size=16, seed=0, progress=False)
    model.eval()
    set_noise(model, sigma_val=0.0)
    test = load_split("mnist5k", "test", limit=200)
    calibration = load_split("mnist5k", "train", limit=32).x
    return model, test, calibration


def _drifted(w: torch.Tensor, t: float) -> torch.Tensor:
    """``w`` read ``t`` s after programming on PCM pairs, per the YAML drift law (nu at its mean)."""
    g_min, g_max = PCM["g_min_S"], PCM["g_max_S"]
    d = PCM["drift"]
    a, b, (lo, hi) = d["nu_mean"]["a"], d["nu_mean"]["b"], d["nu_mean"]["clip"]

    def g_at(g: torch.Tensor) -> torch.Tensor:
        nu = torch.clamp(a * torch.log(torch.clamp(g / g_max, min=1e-7)) + b, lo, hi)
        return g * (t / d["t0_s"]) ** (-nu)

    flat = w.reshape(w.shape[0], -1).double()
    w_max = flat.abs().amax(dim=1, keepdim=True).clamp(min=1e-12)  # per output
    span = g_max - g_min
    g_plus = g_min + span * flat.clamp(min=0) / w_max
    g_minus = g_min + span * (-flat).clamp(min=0) / w_max
    return ((g_at(g_plus) - g_at(g_minus)) / span * w_max).reshape(w.shape).float()


@torch.no_grad()
def _plain_predictions(model, x, calibration, t: float | None) -> np.ndarray:
    """Plain torch: drifted weights (t None: as trained) and a 9-bit ADC per layer output."""
    net = copy.deepcopy(model)
    layers = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    for m in layers:
        if t is not None:
            m.weight.copy_(_drifted(m.weight, t))
    scale: dict[int, float] = {}
    levels = 2 ** (PCM["adc_bits"] - 1) - 1
    pct = PCM["range_management"]["percentile"] / 100

    def hook(m, _inputs, out):
        bias = 0 if m.bias is None else m.bias.view(1, -1, *([1] * (out.dim() - 2)))
        y = out - bias
        if id(m) not in scale:  # the calibration pass sets the full scale
            scale[id(m)] = float(torch.quantile(y.abs().flatten()[:1_000_000], pct))
            return out
        fs = scale[id(m)]
        return torch.clamp(torch.round(y / fs * levels), -levels, levels) * fs / levels + bias

    hooks = [m.register_forward_hook(hook) for m in layers]
    try:
        net(calibration)
        return net(x).argmax(1).numpy()
    finally:
        for h in hooks:
            h.remove()


def _simulated(model, test, calibration, compensate: bool) -> np.ndarray:
    ev = AccuracyEvaluator(model, test.x, test.y, load_profile("pcm"), repeats=1,
                           age=Age(YEAR, compensate), calibration=calibration)
    return ev.draws(1.0, 0, 1)[0].argmax(-1)


def test_uncompensated_pcm_collapses_as_the_plain_torch_calculation_predicts(trained):
    model, test, calibration = trained
    y = np.asarray(test.y)
    n = len(y)
    chance_bound = max(np.bincount(y)) / n + 3 * math.sqrt(0.1 * 0.9 / n)  # the largest class + 3 sd
    fresh = _plain_predictions(model, test.x, calibration, None)
    assert (fresh == y).mean() >= 0.7  # the network works before drift, with the ADC
    plain = _plain_predictions(model, test.x, calibration, YEAR)
    sim = _simulated(model, test, calibration, compensate=False)
    assert (plain == y).mean() <= chance_bound and (sim == y).mean() <= chance_bound
    top = np.bincount(plain, minlength=10).argmax()
    assert (plain == top).mean() >= 0.9  # the calculation collapses onto one class ...
    assert (sim == top).mean() >= 0.9  # ... and the simulated chip onto the same one
    # with global drift compensation the same chip works (the collapse is the drift's)
    compensated = _simulated(model, test, calibration, compensate=True)
    assert (compensated == y).mean() >= (fresh == y).mean() - 0.1
