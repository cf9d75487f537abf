"""How a PCM chip's output error correlates between reads in time, per read_noise_time mode (issue 31).

cnn6 (weights from seed 0, untrained: the correlation is a property of the read noise and
the mapping, not of the task) mapped on PCM, one year after programming with global drift
compensation, ADC ranges calibrated on the first 64 mnist5k training images. Per chip
(programming seed) and mode, a new session reads the first 16 mnist5k test images twice in
one batch (32 inputs), then once more in a second call. The output error is the chip's
logits minus the float model's; the table gives its correlation between the two copies of
the batch and between the two calls (over the 16 x 10 logits), as the mean over the chips
with its 95 % t interval (crossbar.experiments.stats.chip_half_width).

    .venv/bin/python docs/results/read_noise_correlation.py      # the table of read-noise-in-time.md
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from crossbar import models
from crossbar.data import load_split
from crossbar.experiments.stats import chip_half_width
from crossbar.nn import age, convert, new_session, read_noise_time

CHIPS = 5
YEAR = 365 * 86400.0
MODES = ("fresh", "time", "frozen")


def correlations(chips: int = CHIPS) -> dict[str, np.ndarray]:
    """Per mode: chips x (copies in one batch, two calls) correlations of the output error."""
    torch.manual_seed(0)
    model = models.build("cnn6", **models.kwargs_for_data("cnn6", (1, 28, 28), 10)).eval()
    x = load_split("mnist5k", "test", limit=16).x
    calibration = load_split("mnist5k", "train", limit=64).x
    with torch.no_grad():
        ref = model(x)
    out = {mode: np.empty((chips, 2)) for mode in MODES}
    for chip in range(chips):
        net = convert(model, "pcm", seed=chip, calibration=calibration)
        age(net, YEAR, compensate=True, calibration=calibration)
        for mode in MODES:
            read_noise_time(net, mode)
            new_session(net)
            with torch.no_grad():
                both, again = net(torch.cat([x, x])), net(x)
            first, second, call = (y.flatten() for y in (both[:16] - ref, both[16:] - ref, again - ref))
            out[mode][chip] = [np.corrcoef(first, second)[0, 1], np.corrcoef(first, call)[0, 1]]
    return out


def markdown(table: dict[str, np.ndarray]) -> str:
    lines = ["| read_noise_time | two copies in one batch | two calls |", "| --- | ---: | ---: |"]
    for mode, values in table.items():
        cells = [f"{values[:, i].mean():.3f} ± {chip_half_width(values[:, i].std(ddof=1), len(values)):.3f}"
                 for i in range(2)]
        lines.append(f"| {mode} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        print(markdown(correlations()), end="")
