"""MVM speed: noisy crossbar reads against the float32 BLAS bound, in one process.

Prints, for 784x256 and 1024x1024 weight matrices and a batch of 1000, the
median time of
  - the bound: float32 BLAS ``x @ W`` (torch.matmul, the BLAS the arrays use),
  - ``mvm`` with output-referred noise only (profile gaussian-mult),
  - ``mvm`` with exact per-cell read noise (PCM profile, 256x256 tiles),
  - the brute-force per-cell Monte-Carlo reference,
and each one's ratio to the bound. Targets: exact noisy mvm <= 2.5x, output
noise <= 1.3x. Every read gets a fresh key, as a layer's read sequence gives.
Run: ``python benchmarks/bench_mvm.py [--repeats N] [--threads N]`` (on a
machine shared with other work, ``--threads 1`` gives steadier ratios).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from crossbar import CrossbarArray, devices
from crossbar.seeds import Stream, derive
from crossbar.threads import set_threads


def interleaved_medians(cases: dict, repeats: int, clock) -> dict[str, float]:
    """Median time of each case, the cases timed round-robin so that machine load hits them alike."""
    for fn in cases.values():
        fn()  # warm-up (Numba compilation, caches)
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            t0 = clock()
            fn()
            times[name].append(clock() - t0)
    return {name: float(np.median(ts)) for name, ts in times.items()}


def timing_setup(args):
    """Apply ``--threads``, print the machine line and return the clock ``--clock`` names."""
    if args.threads:
        set_threads(args.threads)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch threads {torch.get_num_threads()}, {args.clock} clock, "
          f"load average {os.getloadavg()[0]:.1f}")
    return clock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=None, help="compute threads (default: torch's)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall-clock time, or this process's CPU time (with --threads 1: the work "
                             "itself, steady when other programs load the machine)")
    args = parser.parse_args()
    clock = timing_setup(args)
    pcm = devices.load("pcm", tile_rows=256, tile_cols=256)
    mult = devices.load("gaussian-mult")
    rng = np.random.default_rng(0)
    print(f"{'shape':>10} {'case':<30} {'median ms':>10} {'x bound':>8}")
    for n_in, n_out in ((784, 256), (1024, 1024)):
        bench_shape(n_in, n_out, args.batch, args.repeats, pcm, mult, rng, clock)


def bench_shape(n_in: int, n_out: int, batch: int, repeats: int, pcm, mult, rng, clock) -> None:
    W = rng.normal(0, 0.1, size=(n_in, n_out)).astype(np.float32)
    x = rng.random((batch, n_in)).astype(np.float32)
    xt, Wt = torch.from_numpy(x), torch.from_numpy(W)
    exact = CrossbarArray.program(W, pcm, seed=1)
    exact.calibrate(x[:256], key=derive(3, Stream.CALIBRATION_READ))  # the profile's calibrated ADC range
    output = CrossbarArray.program(W, mult, seed=1)
    mc_rng = np.random.default_rng(2)
    reads = iter(range(10**9))  # a fresh key for every read, as a layer's read sequence gives

    def key() -> int:
        return derive(3, Stream.READ, next(reads))

    cases = {
        "bound: float32 BLAS x @ W": lambda: torch.matmul(xt, Wt),
        "mvm, output noise only": lambda: output.mvm(xt, key=key()),
        "mvm, exact per-cell noise": lambda: exact.mvm(xt, key=key()),
    }
    medians = interleaved_medians(cases, repeats, clock)
    medians["per-cell Monte-Carlo (oracle)"] = interleaved_medians(
        {"oracle": lambda: exact.mvm_per_cell(x, mc_rng)}, 2, clock)["oracle"]
    bound = medians["bound: float32 BLAS x @ W"]
    for name, t in medians.items():
        print(f"{n_in}x{n_out:<5} {name:<30} {t * 1e3:10.2f} {t / bound:8.2f}")


if __name__ == "__main__":
    main()
