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
    parser.add_argument("--devices", type=_names, help="comma-separated profiles (default: reram,pcm,nand)")
    parser.add_argument("--epochs", type=count(1, 100_000), help="training epochs (default 6, quick 3)")
    parser.add_argument("--limit-train", type=count(1),
                        help="use the first N training digits (default: all 4000)")
    parser.add_argument("--test-limit", type=count(1), help="test digits simulated (default 200, quick 100)")
    parser.add_argument("--votes", type=_ints, help="vote counts K, e.g. 1,5,10 (default; quick: 1,5)")
    parser.add_argument("--repeats", type=count(1, 10_000),
                        help="programmed chips averaged per accuracy (default 1)")
    parser.add_argument("--seed", type=count(0, 2**64 - 1), default=0)
    parser.add_argument("--no-plots", action="store_true", help="no figures")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    import dataclasses
    import time

    from crossbar.experiments import DemoConfig, run_demo
    from crossbar.report import write_demo_report

    base = DemoConfig()
    train = base.train
    kw: dict = {"out": args.out, "seed": args.seed, "plots": not args.no_plots}
    if args.quick:
        kw.update(test_limit=100, votes=(1, 5), rel_tol=0.5)
        train = dataclasses.replace(train, epochs=3)
    if args.epochs is not None:
        train = dataclasses.replace(train, epochs=args.epochs)
    if args.limit_train is not None:
        train = dataclasses.replace(train, limit=args.limit_train)
    for name in ("devices", "test_limit", "votes", "repeats"):
        value = getattr(args, name)
        if value is not None:
            kw[name] = value
    config = DemoConfig(train=train, **kw)
    t0 = time.perf_counter()
    # the report of the finished devices is on disk after each device; figures come at the end
    result = run_demo(config, progress=not args.no_progress,
                      on_device=lambda partial: write_demo_report(partial, plots=False))
    write_demo_report(result)
    kv = max(config.votes)
    for name, r in result.results.items():
        th = r.thresholds[1]
        budget = {"none": "target not met even at the lowest noise", "all": f">= {th.scale:.3g}x"}.get(
            th.status, f"{th.scale:.3g}x")
        print(f"{name:>14}: accuracy {100 * r.nominal_accuracy[1]:.1f} % "
              f"(K = {kv}: {100 * r.nominal_accuracy[kv]:.1f} %), tolerable read-noise scale {budget}")
    for name, err in result.errors.items():
        print(f"{name:>14}: FAILED: {err}")
    print(f"wrote {config.out}/report.md ({time.perf_counter() - t0:.0f} s)")
    return 1 if result.errors else 0
