"""One demo budget in this process under cProfile (CPU time): its CPU seconds, chips built, peak
memory, the result, and the functions that took the most time.

    .venv/bin/python benchmarks/bench_demo_budget.py CHECKPOINT [--device nand] [--digits 300]

CHECKPOINT: a cnn6 the demo trained. One torch thread, as each demo worker reads.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import pstats
import resource
import tempfile
import time
from pathlib import Path


def main() -> None:
    from crossbar.experiments.budget.run import run_budget
    from crossbar.experiments.demo import DemoConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--device", default="nand")
    parser.add_argument("--digits", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        cfg = dataclasses.replace(DemoConfig().budget_config(args.device, Path(args.checkpoint)),
                                  test_limit=args.digits, out=str(Path(out) / "budget"), plots=False)
        profile = cProfile.Profile(time.process_time)
        c0 = time.process_time()
        result = profile.runcall(run_budget, cfg, progress=False)
        cpu = time.process_time() - c0
    stats = pstats.Stats(profile)
    built = sum(v[0] for k, v in stats.stats.items() if k[2] == "age_network")
    print(f"{args.device}, {args.digits} digits: {cpu:.0f} CPU-s, {built} chips built, peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    for k, t in result.thresholds.items():
        print(f"K = {k}: {t.evaluations}")
    stats.sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
