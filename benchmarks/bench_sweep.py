"""Sweep benchmarks: local worker speed-up, and batched votes vs separate passes.

    .venv/bin/python benchmarks/bench_sweep.py [--quick]

1. The same small sweep (cnn6 on mnist5k, 2 sigma_train x 3 sigma_val cells,
   1,000 test images, 10 runs and 10 votes per cell,
   models trained beforehand and copied in, so only cells are timed) run
   serially and on 2 local worker processes (spawn start included).
2. K = 20 noisy inferences per input for 1, 10 and 100 random inputs, cnn6
   and the stroke LSTM: the batch stacked into passes of at most 256 rows
   (all 20 copies in one pass when they fit) vs 20 separate forward passes
   (same process, one torch thread, as in a sweep worker).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch


def _sweep_config(out: Path, quick: bool):
    from crossbar.experiments import SweepConfig

    return SweepConfig.from_dict(dict(
        model="cnn6", data="mnist5k", limit_train=128, limit_test=200 if quick else 1000,
        sigma_train=[0.0, 0.5], sigma_val=[0.0, 0.5, 1.0], epochs=1, batch_size=32, lr=1e-3,
        runs=10, votes=10, eval_batch_size=25, draws_per_pass=10, seed=0, out=str(out),
    ))


def bench_workers(tmp: Path, quick: bool) -> dict[str, float]:
    from crossbar.experiments import run_sweep

    models = tmp / "trained"
    run_sweep(_sweep_config(models, quick).replace(sigma_val=(0.0,)), progress=False,
              report=False)
    times = {}
    for workers in (1, 2):
        out = tmp / f"w{workers}"
        shutil.copytree(models / "models", out / "models")
        t0 = time.perf_counter()
        run_sweep(_sweep_config(out, quick), workers=workers, progress=False, report=False)
        times[workers] = time.perf_counter() - t0
    return {"serial_s": times[1], "two_workers_s": times[2], "speedup": times[1] / times[2]}


def bench_votes(name: str, n: int, k: int = 20, rows: int = 256, repeats: int = 3):
    """K noisy inferences of n inputs: stacked into passes of at most ``rows``
    rows (all K in one pass when n * K <= rows) vs K separate passes."""
    from crossbar import models
    from crossbar.experiments import noisy_probs, vote
    from crossbar.nn import NoiseConfig, seed_noise

    model = models.build(name, NoiseConfig("mult", 0.0, 0.5)).eval()
    shape = (1, 28, 28) if name == "cnn6" else (50, 2)
    x = torch.rand((n, *shape), generator=torch.Generator().manual_seed(0))
    per_pass = max(1, min(k, rows // n))
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        def batched():
            return vote(noisy_probs(model, x, k, seed=0, seed_fn=seed_noise, batch_size=n,
                                    draws_per_pass=per_pass).numpy())

        def separate():
            probs = torch.stack([
                noisy_probs(model, x, 1, seed=i, seed_fn=seed_noise, batch_size=n)[0]
                for i in range(k)
            ])
            return vote(probs.numpy())

        best = {}
        for label, fn in (("batched", batched), ("separate", separate)):
            fn()  # warm-up
            ts = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t0)
            best[label] = min(ts)
    finally:
        torch.set_num_threads(prev)
    return {"model": name, "n": n, "draws_per_pass": per_pass, "batched_s": best["batched"],
            "separate_s": best["separate"], "speedup": best["separate"] / best["batched"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        w = bench_workers(Path(tmp), args.quick)
    rows = [
        ("sweep, 6 cells: serial", f"{w['serial_s']:.2f} s", ""),
        ("sweep, 6 cells: 2 local workers", f"{w['two_workers_s']:.2f} s",
         f"x{w['speedup']:.2f} speed-up"),
    ]
    for name in ("cnn6", "lstm_strokes"):
        for n in (1, 10) if args.quick else (1, 10, 100):
            v = bench_votes(name, n)
            rows.append((
                f"K=20 votes, {name}, {n} input(s): 20 separate / batched "
                f"({v['draws_per_pass']} draws per pass)",
                f"{v['separate_s'] * 1e3:.1f} / {v['batched_s'] * 1e3:.1f} ms",
                f"x{v['speedup']:.2f} speed-up",
            ))
    width = max(len(r[0]) for r in rows)
    print(f"{'benchmark':<{width}}  {'time':>20}  ratio")
    for label, t, ratio in rows:
        print(f"{label:<{width}}  {t:>20}  {ratio}")
    print(f"(torch {torch.__version__}; vote timings with 1 torch thread, as in a sweep worker; "
          f"{os.cpu_count()} CPUs, 1-min load average {load_before:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after: other processes slow the 2-worker run)")


if __name__ == "__main__":
    main()
