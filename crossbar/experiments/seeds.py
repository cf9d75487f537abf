"""Deterministic seeds from (config seed, cell, stream, indices).

A seed never depends on the order in which cells run or on how many workers
run them: it is a pure function of the config seed and a key naming the
random stream, built with NumPy's ``SeedSequence`` spawn keys.
"""

from __future__ import annotations

import numpy as np

# Streams: the first element of every key after the cell, so that two uses
# never share random numbers.
DRAWS = 1  # noisy inferences of the test set (runs and votes)
SOFTMAX = 2  # the softmax-distribution image
PROGRAM = 3  # device path: programming noise of one chip (replicated arrays)
READ = 4  # device path: read noise of one chip's single inference
REREAD = 5  # device path: read noise of repeated reads of one chip


def sigma_key(sigma: float) -> int:
    """A sigma as a non-negative integer key (micro-units)."""
    return int(round(float(sigma) * 1_000_000))


def derive_seed(seed: int, *key: int) -> int:
    """A 63-bit seed for ``torch.Generator.manual_seed`` from ``seed`` and ``key``."""
    if any(int(k) < 0 for k in key):
        raise ValueError(f"seed keys must be >= 0, got {key}")
    ss = np.random.SeedSequence(entropy=int(seed), spawn_key=tuple(int(k) for k in key))
    lo, hi = ss.generate_state(2, dtype=np.uint32)
    return int((int(hi) << 32 | int(lo)) & ((1 << 63) - 1))


def cell_key(sigma_train: float, sigma_val: float) -> tuple[int, int]:
    """The key of one sweep cell: it names the sigmas, not their grid positions,
    so adding a value to a grid leaves the other cells' random numbers alone."""
    return sigma_key(sigma_train), sigma_key(sigma_val)
