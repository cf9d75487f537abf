"""Reads in the compact stored layout against the float32 layout before it (main's), in one process.

For the bundled profiles the compact layout changes (no drift, white read noise:
float16 conductance, the variance as one value or as a table against the
conductance; the ideal profile: its weights read as they are), the same weights
are programmed twice with the same seed: once as :mod:`crossbar.read.layout`
stores them, once in the layout before (float32 conductance w / w_max, a
bfloat16 variance per cell: ``stored`` and ``holds_weights`` replaced for that
one programming). Both are calibrated on the same vectors and read with the same
keys. Prints per profile and shape the median read time of each (timed
round-robin), their ratio (compact / before), the bytes per weight each holds,
and the relative RMS difference of the outputs of one read with the same key
(what the stored forms move).
Run: ``python benchmarks/bench_read_layout.py [--repeats N] [--threads N] [--clock cpu]``.
"""

from __future__ import annotations

import crossbar  # noqa: F401 - imported before torch, as the CLI does (crossbar.SPIN_NOTE)

# isort: split
import argparse
import contextlib
import os
from unittest import mock

import torch
from bench_mvm import interleaved_medians, start  # this folder is on the path of a script run from it

import crossbar.read.array as array_module
from crossbar import CrossbarArray, devices
from crossbar.memory import held_bytes
from crossbar.seeds import Stream, derive

SHAPES = ((256, 256, 1), (784, 256, 256), (2048, 2048, 64))  # inputs, outputs, batch


def layout_before(g, variance, array):
    """The stored forms before the compact layout: float32 conductance, a bfloat16 variance per cell
    (with ``holds_weights`` answering no, the ideal profile's conductance is w / w_max again)."""
    device = array.weights.device
    return g.to(device), None if variance is None else variance.to(torch.bfloat16).to(device)


def before_layout():
    """The context in which arrays are programmed in the layout before (``layout_before``)."""
    patches = mock.patch.object(array_module, "stored", layout_before), \
        mock.patch.object(array_module, "holds_weights", lambda profile: False)
    stack = contextlib.ExitStack()
    for patch in patches:
        stack.enter_context(patch)
    return stack


def bench(name: str, n_in: int, n_out: int, batch: int, repeats: int, clock) -> None:
    profile = devices.load(name)
    gen = torch.Generator().manual_seed(0)
    W = torch.randn(n_in, n_out, generator=gen)
    x = torch.rand(batch, n_in, generator=gen) * 2 - 1
    with before_layout():
        before = CrossbarArray.program(W, profile, seed=1)
    compact = CrossbarArray.program(W, profile, seed=1)
    calibration = torch.rand(64, n_in, generator=gen) * 2 - 1
    for a in (before, compact):
        a.calibrate(calibration, derive(2, Stream.CALIBRATION_READ))
    counter = iter(range(1 << 30))
    times = interleaved_medians({"before": lambda: before.read(x, derive(3, Stream.READ, next(counter))),
                                 "compact": lambda: compact.read(x, derive(3, Stream.READ, next(counter)))},
                                repeats, clock)
    y0, y1 = before.read(x, 7), compact.read(x, 7)
    rms = float((y1 - y0).norm() / y0.norm())
    n = W.numel()
    print(f"{name:<8} {n_in:>5} x {n_out:<5} {batch:>5} {times['before'] * 1e3:10.2f} "
          f"{times['compact'] * 1e3:10.2f} {times['compact'] / times['before']:7.3f} "
          f"{held_bytes(before) / n:7.2f} {held_bytes(compact) / n:7.2f} {rms:10.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=None, help="compute threads (default: torch's)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    parser.add_argument("--profiles", nargs="*", default=["reram", "neurram", "nand", "ideal"])
    args = parser.parse_args()
    clock = start(args.threads, args.clock)
    print(f"{'profile':<8} {'shape':>13} {'batch':>5} {'before ms':>10} {'compact ms':>10} {'ratio':>7} "
          f"{'B/w bef':>7} {'B/w now':>7} {'rel RMS':>10}")
    for name in args.profiles:
        for n_in, n_out, batch in SHAPES:
            bench(name, n_in, n_out, batch, args.repeats, clock)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
