"""Every seed in crossbar-sim: one derive function and one list of named streams.

A seed is never drawn from a global random state and never depends on the
order in which work runs: it is a pure function of a user seed and a path of
non-negative integers, the first of which names a :class:`Stream`, so two
uses never share random numbers.

    derive(seed, Stream.READ, read_number)          # one read of an array
    derive(seed, Stream.SWEEP_DRAWS, *cell_key(0.3, 0.6))

The hash is the SplitMix64 finaliser (Steele, Lea & Flood, OOPSLA 2014)
chained over the words, the same mix the Numba kernels use for their
counter-based generator, so a derived value is directly a kernel stream key.
"""

from __future__ import annotations

import numbers
from enum import IntEnum

import numpy as np

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


class Stream(IntEnum):
    """The random streams of the simulator; each value appears here and nowhere else."""

    # one tile: programming noise and faults, drift exponents (words: tile index)
    PROGRAM_PLUS = 1
    PROGRAM_MINUS = 2
    DRIFT_PLUS = 3
    DRIFT_MINUS = 4
    # one read of an array (words: read number, then row band)
    READ = 5
    # convert(): each layer's programming seed and read seed (words: layer index)
    LAYER_PROGRAM = 6
    LAYER_READ = 7
    # noise-injection layers: one draw (words: draw counter)
    NOISE_DRAW = 8
    # training: weight initialisation, noise layers, data shuffling
    TRAIN_INIT = 9
    TRAIN_NOISE = 10
    TRAIN_SHUFFLE = 11
    # noisy_probs: one forward pass (words: first draw, input batch)
    VOTE_PASS = 12
    # a sweep cell (words: cell_key(sigma_train, sigma_val), then chip index)
    SWEEP_DRAWS = 13
    SWEEP_SOFTMAX = 14
    SWEEP_PROGRAM = 15
    SWEEP_READ = 16
    SWEEP_REREAD = 17
    # a noise budget (words: chip, then draw block and image block)
    BUDGET_PROGRAM = 18
    BUDGET_READ = 19
    # an abstract profile's output noise after one converted product (words: noise module index)
    OUTPUT_NOISE = 20
    # the reads that calibrate a layer's ADC ranges (words: layer index, then row band)
    CALIBRATION_READ = 21
    # a vote group's common low-frequency read noise (words: group, then layer index)
    VOTE_GROUP = 22
    # a noise budget's chip: ADC-range calibration and its vote group (words: chip)
    BUDGET_CALIBRATION = 23
    BUDGET_VOTE_GROUP = 24
    # hardware-aware training: one draw of the device (words: forward pass, draw within it)
    TRAIN_HARDWARE = 25
    # a chip's read noise in time (crossbar.nn.clock): the 1/f part shared by one session's
    # reads (from a layer's programming seed; words: session) and by one forward call's
    # (from its read seed; words: session, call)
    READ_SESSION = 26
    READ_CALL = 27
    # adversarial attacks (crossbar.attacks)
    ATTACK_START = 40  # random start of one PGD restart (words: restart)
    ATTACK_EOT = 41  # noise of one EOT gradient or strength evaluation (words: restart, iteration)
    ATTACK_MODEL = 42  # an attack run's networks: init, batch order (words: role 0 NN_adv, 1 NN_val)
    ADV_TRAIN = 43  # the attack on one minibatch of adversarial training (words: epoch, batch)
    ATTACK_BLACKBOX = 44  # black-box examples on NN_adv (words: input chunk)
    ATTACK_WHITEBOX = 45  # white-box EOT examples on noisy NN_val (words: sigma_key, input chunk)
    ATTACK_EVAL = 46  # noisy evaluation runs (words: input set, sigma_key)
    ATTACK_CHIP = 47  # device-profile evaluation, from an ATTACK_EVAL seed: one chip (words: chip)
    # Walking Noise and hardening (crossbar.walk; words: repeat, then the cell's words)
    WALK_INIT = 50
    WALK_TRAIN = 51
    WALK_EVAL = 52
    HARDEN_INIT = 53
    HARDEN_TRAIN = 54
    HARDEN_EVAL = 55
    HARDEN_PROGRAM = 56


def _word(position: int | None, value) -> int:
    """``value`` checked as a word of a seed path (``position`` None: the seed itself)."""
    if type(value) is int and 0 <= value <= _MASK:  # the common case, without the ABC check
        return value
    name = "seed" if position is None else f"seed word {position}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if not 0 <= value <= _MASK:
        raise ValueError(f"{name} must be within 0..2**64-1, got {value}")
    return value


def _mix(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def derive(seed: int, *words: int) -> int:
    """A 64-bit seed (0 .. 2**64-1) from ``seed`` and a path of integers.

    Every argument must be an integer in 0 .. 2**64-1 (a float, a bool or a
    negative number raises ValueError rather than being truncated or wrapped).
    The result seeds a ``torch.Generator`` directly and, as ``np.uint64``, is
    a stream key of the Numba kernels.
    """
    return extend(_mix((_word(None, seed) + _GOLDEN) & _MASK), *words)


def extend(key: int, *words: int) -> int:
    """:func:`derive` continued: ``extend(derive(seed, *a), *b) == derive(seed, *a, *b)``, for a
    caller that derives many keys under one prefix."""
    for i, w in enumerate(words):
        key = _mix(key ^ ((_word(i, w) + _GOLDEN) & _MASK))
    return key


def kernel_key(seed: int, *words: int) -> np.uint64:
    """:func:`derive` as the ``np.uint64`` the Numba kernels take."""
    return np.uint64(derive(seed, *words))


def sigma_key(sigma: float) -> int:
    """A noise level as a non-negative integer word (micro-units)."""
    return int(round(float(sigma) * 1_000_000))


def cell_key(sigma_train: float, sigma_val: float) -> tuple[int, int]:
    """The words of one sweep cell: they name the sigmas, not their grid positions,
    so adding a value to a grid leaves the other cells' random numbers alone."""
    return sigma_key(sigma_train), sigma_key(sigma_val)


__all__ = ["Stream", "cell_key", "derive", "kernel_key", "sigma_key"]
