"""Training threads: one epoch of the Table 1 CNN with 1 thread and with N, side by side.

    .venv/bin/python benchmarks/bench_train_threads.py [--threads 2] [--repeats 3] [--limit N]

Each repeat trains one epoch of cnn6 (multiplicative noise, sigma 0.3, Adam
1e-3, batch 32, the same seed) on mnist5k's 4,000 training digits, first with
one thread, then with ``--threads``, in this process (``crossbar.training.train``
with ``threads=``, which is how the command line and the library set it).
Prints each epoch's wall-clock time, the median per thread count and the
ratio of the medians. Wall-clock time, because it is what a user waits for:
on a machine shared with other processes it depends on their load, so repeat
the run and read the ratio, not the seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def epoch_seconds(threads: int, limit: int | None) -> float:
    from crossbar.nn import NoiseConfig
    from crossbar.training import train

    t0 = time.perf_counter()
    train("cnn6", "mnist5k", noise=NoiseConfig("mult", 0.3), epochs=1, lr=1e-3, seed=0, limit=limit,
          progress=False, device="cpu", threads=threads)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="the thread count compared with 1")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="training digits (default: all 4,000)")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{os.cpu_count()} CPU cores, load average {load:.1f} at the start")
    epoch_seconds(1, 64)  # warm-up: imports, data, Numba compilation
    times: dict[int, list[float]] = {1: [], args.threads: []}
    for r in range(args.repeats):
        for n in times:
            times[n].append(epoch_seconds(n, args.limit))
            print(f"repeat {r + 1}: {n} thread(s): {times[n][-1]:.1f} s per epoch", flush=True)
    medians = {n: statistics.median(t) for n, t in times.items()}
    for n, m in medians.items():
        print(f"median, {n} thread(s): {m:.1f} s per epoch")
    print(f"ratio {args.threads} threads / 1 thread: {medians[args.threads] / medians[1]:.2f}")


if __name__ == "__main__":
    main()
