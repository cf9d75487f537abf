"""`crossbar-sim demo`: train a small CNN on real digits, map it onto ReRAM/PCM/NAND, write a report."""

from __future__ import annotations

import argparse

from .types import count


def _ints(text: str) -> list[int]:
    try:
        return [count(1, 1000)(v.strip()) for v in text.split(",") if v.strip()]
    except argparse.ArgumentTypeError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers 1..1000: {err}") from None


def _names(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo-report", help="output folder (default: demo-report)")
    parser.add_argument("--quick", action="store_true",
                        help="a faster, coarser run: fewer epochs, test digits and votes")
    parser.add_argument("--devices", type=_names,
                        help="comma-separated profiles (default: reram,pcm,nand,gaussian-mult)")
    parser.add_argument("--epochs", type=count(1, 100_000), help="training epochs (default 6, quick 3)")
    parser.add_argument("--limit-train", type=count(1),
                        help="use the first N training digits (default: all 4000)")
    parser.add_argument("--test-limit", type=count(1),
                        help="test digits simulated (default: as many as resolve the target, up to all "
                             "1000; quick 300)")
    parser.add_argument("--votes", type=_ints, help="vote counts K (default 1,3; --full 1,3,9,20)")
    parser.add_argument("--full", action="store_true",
                        help="K = 1, 3, 9, 20 and the tolerable noise to a factor 1.25: where voting pays "
                             "and by how much (hours on a 2-core machine; make demo runs K = 1, 3)")
    parser.add_argument("--repeats", type=count(1, 10_000),
                        help="programmed chips per accuracy (default 3, quick 2)")
    parser.add_argument("--aged-device",
                        help="profile aged to 1 month and 1 year (default pcm; 'none': skip)")
    parser.add_argument("--workers", type=count(1, 64),
                        help="local worker processes (default 2); results do not depend on it")
    parser.add_argument("--seed", type=count(0, 2**64 - 1), default=0)
    parser.add_argument("--no-plots", action="store_true", help="no figures")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    import dataclasses
    import math
    import time

    from crossbar.experiments import DemoConfig, run_demo
    from crossbar.experiments.demo import FULL_REACH
    from crossbar.report import write_demo_report

    base = DemoConfig()
    train = base.train
    kw: dict = {"out": args.out, "seed": args.seed, "plots": not args.no_plots}
    if args.full:
        kw.update(FULL_REACH)
    if args.quick:
        kw.update(test_limit=300, repeats=2)
        train = dataclasses.replace(train, epochs=3)
    if args.aged_device is not None:
        kw["aged_device"] = None if args.aged_device.lower() == "none" else args.aged_device
    if args.epochs is not None:
        train = dataclasses.replace(train, epochs=args.epochs)
    if args.limit_train is not None:
        train = dataclasses.replace(train, limit=args.limit_train)
    for name in ("devices", "test_limit", "votes", "repeats", "workers"):
        value = getattr(args, name)
        if value is not None:
            kw[name] = value
    config = DemoConfig(train=train, **kw)
    t0 = time.perf_counter()
    # the report of the finished devices is on disk after each device; figures come at the end
    n_tasks = len(config.tasks(config.out))

    def finished(partial) -> None:
        write_demo_report(partial, plots=False)
        if not args.no_progress:
            done = len(partial.results) + len(partial.points) + len(partial.errors)
            print(f"finished {done} of {n_tasks} budgets and evaluations "
                  f"({partial.elapsed_s / 60:.1f} min)", flush=True)

    result = run_demo(config, progress=not args.no_progress, on_device=finished)
    write_demo_report(result)
    kv = max(config.votes)
    lo, hi = config.noise_range

    def iv(v) -> str:
        return f"{100 * v.mean:.1f} % ({100 * v.lo:.1f}-{100 * v.hi:.1f})"

    def interval(th) -> str:
        left = f"<{lo:.3g}" if math.isnan(th.confirmed) else f"{th.confirmed:.3g}"
        right = f">{hi:.3g}" if math.isnan(th.excluded) else f"{th.excluded:.3g}"
        return f"{left}-{right}x"

    for name, r in result.results.items():
        print(f"{name:>14}: accuracy {iv(r.nominal[1])}, K = {kv}: {iv(r.nominal[kv])}; tolerable "
              f"read-noise scale {interval(r.thresholds[1])} (K = {kv}: {interval(r.thresholds[kv])})")
    for name, p in result.points.items():
        print(f"{name:>14}: accuracy " + ", ".join(f"K = {k}: {iv(v)}" for (s, k), v in p.accuracies.items()
                                                  if s == 1.0))
    for name, err in result.errors.items():
        print(f"{name:>14}: FAILED: {err}")
    print(f"wrote {config.out}/report.md ({time.perf_counter() - t0:.0f} s)")
    return 1 if result.errors else 0
