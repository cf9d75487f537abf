"""Installation smoke check: ``python -m crossbar.smoke`` (used by ``make wheel-check``).

Loads every bundled profile, programs a small array on each (calibrating its ADC range
where the profile calibrates one) and checks that the ideal profile reproduces ``x @ W``.
"""

from __future__ import annotations

import sys

import numpy as np

from crossbar import CrossbarArray, devices
from crossbar.seeds import Stream, derive


def main() -> int:
    rng = np.random.default_rng(0)
    W = rng.normal(size=(40, 12)).astype(np.float32)
    x = rng.normal(size=(5, 40)).astype(np.float32)
    for name in devices.available():
        array = CrossbarArray.program(W, devices.load(name), seed=1)
        if array.range_state == "uncalibrated":  # calibrated-range profiles: set the range as a user would
            array.calibrate(x, derive(1, Stream.CALIBRATION_READ, 0))
        y = array.mvm(x, key=derive(1, Stream.READ, 0))
        if y.shape != (5, 12) or not np.all(np.isfinite(y)):
            print(f"smoke: profile {name} gave a bad output", file=sys.stderr)
            return 1
    exact = CrossbarArray.program(W, devices.load("ideal")).mvm(x)
    if not np.allclose(exact, x @ W, atol=1e-4):
        print("smoke: the ideal profile does not reproduce x @ W", file=sys.stderr)
        return 1
    print(f"crossbar-sim smoke check passed ({len(devices.available())} profiles) from {__file__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
