"""`crossbar-sim explore CONFIG.yaml`: design points judged on accuracy and cost, and their Pareto front."""

from __future__ import annotations

import argparse

from .types import executor_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="exploration configuration (YAML; docs/explore.md, "
                        "examples/explore_small.yaml)")
    parser.add_argument("--out", help="output folder (default: the config's 'out')")
    executor_arguments(parser, "design points")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--no-plots", action="store_true", help="report and JSON only, no figure")


def run(args: argparse.Namespace) -> int:
    from crossbar.experiments import explore, load_explore_config
    from crossbar.report import write_explore_report

    config = load_explore_config(args.config)
    r = explore(config, out=args.out, workers=args.workers, scheduler=args.scheduler,
                scheduler_timeout=args.scheduler_timeout, progress=not args.no_progress)
    write_explore_report(r, plots=False if args.no_plots else None)
    rows, front = r.rows(), r.front()
    target = "n/a" if r.target is None else f"{100 * r.target:.2f} %"
    back = len(r.points) - r.evaluated - len(r.errors)
    print(f"{len(r.points)} design points ({r.evaluated} computed, {back} read back, "
          f"{len(r.errors)} failed); target {target}; "
          f"{sum(x['admitted'] for x in rows)} of {len(rows)} (point, K) meet it; front: "
          + (", ".join(f"#{i}" for i in front) or "empty"))
    print(f"report: {r.config.out}/report.md")
    return 0
