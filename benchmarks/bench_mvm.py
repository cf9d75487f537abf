"""MVM speed: noisy crossbar reads against the float32 BLAS bound, in one process.

Prints, for 784x256 and 1024x1024 weight matrices and a batch of 1000, the
median time of
  - the bound: float32 BLAS ``x @ W`` (torch.matmul, the BLAS the arrays use),
  - ``mvm`` with output-referred noise only (profile gaussian-mult),
  - ``mvm`` with exact per-cell read noise (PCM profile, 256x256 tiles),
  - the same with read noise in time (issue 31): the array in a session (its slow 1/f part
    folded in) and every read a new call (its shared part drawn for each read: the worst
    case, a chip's call makes one per layer), at the chip's read spacing (PCM: all of the
    1/f noise shared within the call, so no variance product is left) and as a vote group
    1 ms apart (a fresh part left: the call's draws plus the full exact read),
  - the brute-force per-cell Monte-Carlo reference,
and each one's ratio to the bound, and the time model's ratio to the exact read. Targets:
exact noisy mvm <= 2.5x, output noise <= 1.3x, read noise in time <= 1.2x the exact read.
Every read gets a fresh key, as a layer's read sequence gives.
Run: ``python benchmarks/bench_mvm.py [--repeats N] [--threads 1 2] [--skip-oracle]``
(``--threads 1 2``: each thread count in turn in one process, then every ratio
side by side; on a machine shared with other work, one thread and ``--clock cpu``
give steadier ratios).
"""

from __future__ import annotations

import crossbar  # noqa: F401 - imported before torch, as the CLI does (crossbar.SPIN_NOTE)

# isort: split
import argparse
import os
import platform
import time

import numpy as np
import torch

from crossbar import CrossbarArray, devices
from crossbar.read.timing import ReadGroup, Session, vector_time
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


def start(threads: int | None, clock: str):
    """Set the compute threads (None: torch's), print the machine line; the clock to time with."""
    if threads:
        set_threads(threads)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch threads {torch.get_num_threads()}, {clock} clock, "
          f"load average {os.getloadavg()[0]:.1f}")
    return time.perf_counter if clock == "wall" else time.process_time


def read_options(description: str, repeats: int) -> argparse.ArgumentParser:
    """The options of the read benchmarks: repeats, batch, thread counts and clock."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--threads", type=int, nargs="+", default=None,
                        help="compute threads, one run per count (default: torch's)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall-clock time, or this process's CPU time (with --threads 1: the work "
                             "itself, steady when other programs load the machine)")
    return parser


def main() -> None:
    parser = read_options(__doc__.splitlines()[0], repeats=15)
    parser.add_argument("--skip-oracle", action="store_true", help="leave out the per-cell Monte-Carlo")
    args = parser.parse_args()
    pcm = devices.load("pcm", tile_rows=256, tile_cols=256)
    mult = devices.load("gaussian-mult")
    side_by_side(args.threads or [torch.get_num_threads()], args.clock, 30,
                 lambda n_in, n_out, rng, clock: bench_shape(n_in, n_out, args.batch, args.repeats, pcm, mult,
                                                             rng, clock, not args.skip_oracle))


def side_by_side(counts: list[int], clock_name: str, width: int, shape_ratios) -> None:
    """At each thread count, ``shape_ratios(n_in, n_out, rng, clock)`` (each case's multiple of
    the bound, printed as it goes; ``width``: its case column) for 784 x 256 and 1024 x 1024;
    then every multiple side by side, one column per thread count."""
    ratios: dict[str, dict[int, float]] = {}
    for threads in counts:
        clock = start(threads, clock_name)
        rng = np.random.default_rng(0)
        print(f"{'shape':>10} {'case':<{width}} {'median ms':>10} {'x bound':>8}")
        for n_in, n_out in ((784, 256), (1024, 1024)):
            for name, r in shape_ratios(n_in, n_out, rng, clock).items():
                ratios.setdefault(f"{n_in}x{n_out} {name}", {})[threads] = r
    print(f"\nmultiples of the bound side by side ({clock_name} clock; load average now "
          f"{os.getloadavg()[0]:.1f})")
    print(f"{'case':<{width + 16}}" + "".join(f"{f'{t} thread(s)':>14}" for t in counts))
    for name, by_threads in ratios.items():
        print(f"{name:<{width + 16}}" + "".join(f"{by_threads[t]:>14.2f}" for t in counts))


def bench_shape(n_in: int, n_out: int, batch: int, repeats: int, pcm, mult, rng, clock,
                oracle: bool = True) -> dict[str, float]:
    """Print each case's median time and multiple of the bound; returns the multiples."""
    W = rng.normal(0, 0.1, size=(n_in, n_out)).astype(np.float32)
    x = rng.random((batch, n_in)).astype(np.float32)
    xt, Wt = torch.from_numpy(x), torch.from_numpy(W)
    exact = CrossbarArray.program(W, pcm, seed=1)
    exact.calibrate(x[:256], key=derive(3, Stream.CALIBRATION_READ))  # the profile's calibrated ADC range
    output = CrossbarArray.program(W, mult, seed=1)
    timed = CrossbarArray.program(W, pcm, seed=1)
    timed.calibrate(x[:256], key=derive(3, Stream.CALIBRATION_READ))
    timed.set_session(Session(derive(3, Stream.READ_SESSION, 0)))
    dt = vector_time(timed)
    mc_rng = np.random.default_rng(2)
    reads = iter(range(10**9))  # a fresh key for every read, as a layer's read sequence gives

    def key() -> int:
        return derive(3, Stream.READ, next(reads))

    cases = {
        "bound: float32 BLAS x @ W": lambda: torch.matmul(xt, Wt),
        "mvm, output noise only": lambda: output.mvm(xt, key=key()),
        "mvm, exact per-cell noise": lambda: exact.mvm(xt, key=key()),
        "mvm, noise in time, new call": lambda: timed.mvm(xt, key=key(), group=ReadGroup(key(), dt)),
        "mvm, noise in time, 1 ms group": lambda: timed.mvm(xt, key=key(), group=ReadGroup(key(), 1e-3)),
    }
    medians = interleaved_medians(cases, repeats, clock)
    if oracle:
        medians["per-cell Monte-Carlo (oracle)"] = interleaved_medians(
            {"oracle": lambda: exact.mvm_per_cell(x, mc_rng)}, 2, clock)["oracle"]
    bound = medians["bound: float32 BLAS x @ W"]
    for name, t in medians.items():
        print(f"{n_in}x{n_out:<5} {name:<30} {t * 1e3:10.2f} {t / bound:8.2f}")
    for case in ("mvm, noise in time, new call", "mvm, noise in time, 1 ms group"):
        ratio = medians[case] / medians["mvm, exact per-cell noise"]
        print(f"{n_in}x{n_out:<5} {case[5:] + ' / exact':<30} {'':>10} {ratio:8.2f}")
    return {name: t / bound for name, t in medians.items() if not name.startswith("bound")}


if __name__ == "__main__":
    main()
