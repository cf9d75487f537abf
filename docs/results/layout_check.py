"""What the compact stored layout (crossbar/read/layout.py) moves on a trained network, against
the float32 layout before it, in one process.

A trained checkpoint (e.g. the demo's cnn6, ``crossbar-sim demo`` writes it under its work
folder's ``model/``) is converted on each profile ``chips`` times (programming seeds 0 ..
chips-1), once in the compact layout and once in the layout before (float32 conductance, a
bfloat16 variance per cell: ``before_layout`` of benchmarks/bench_read_layout.py), calibrated on the same
256 training inputs and read once on the first ``--inputs`` test inputs with the same read
keys. Prints per profile the relative RMS difference of the two chips' logits, the fraction of
inputs whose class changes, and each layout's accuracy with its 95 % interval (Wilson over the
inputs, t over the chips).
Run: ``python docs/results/layout_check.py CHECKPOINT [--data mnist5k] [--profiles reram nand]``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from crossbar.data import load_split
from crossbar.experiments.stats import Interval
from crossbar.nn import convert
from crossbar.training import load_checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_read_layout import before_layout  # noqa: E402 - the layout before, as the benchmark has it


def logits(model, profile, seed: int, calibration, x, before: bool) -> torch.Tensor:
    if before:
        with before_layout():
            chip = convert(model, profile, seed=seed, calibration=calibration)
    else:
        chip = convert(model, profile, seed=seed, calibration=calibration)
    with torch.no_grad():
        return torch.cat([chip(x[i : i + 250]) for i in range(0, len(x), 250)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--data", default="mnist5k")
    parser.add_argument("--profiles", nargs="*", default=["reram", "nand"])
    parser.add_argument("--inputs", type=int, default=1000)
    parser.add_argument("--chips", type=int, default=3)
    args = parser.parse_args()
    model, _ = load_checkpoint(args.checkpoint)
    test = load_split(args.data, "test", limit=args.inputs)
    calibration = load_split(args.data, "train", limit=256).x
    print(f"{os.path.basename(args.checkpoint)} on {len(test.y)} {args.data} test inputs, {args.chips} chips")
    for name in args.profiles:
        rms, flips, correct = [], 0, {True: [], False: []}
        for seed in range(args.chips):
            out = {b: logits(model, name, seed, calibration, test.x, b) for b in (True, False)}
            rms.append(float((out[False] - out[True]).norm() / out[True].norm()))
            flips += int((out[False].argmax(1) != out[True].argmax(1)).sum())
            for b in (True, False):
                correct[b].append(int((out[b].argmax(1) == test.y).sum()))
        n = len(test.y)
        acc = {b: Interval.from_counts(correct[b], n) for b in (True, False)}
        print(f"{name}: logits' relative RMS change per chip {', '.join(f'{r:.2e}' for r in rms)}; "
              f"class changed on {flips} of {n * args.chips} reads; accuracy before "
              f"{acc[True].mean:.1%} ({acc[True].lo:.1%}-{acc[True].hi:.1%}), compact "
              f"{acc[False].mean:.1%} ({acc[False].lo:.1%}-{acc[False].hi:.1%})")


if __name__ == "__main__":
    main()
