"""`crossbar-sim budget CONFIG.yaml`: the largest tolerable device noise, with and without voting."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="budget configuration (YAML; docs/budget.md, examples/budget.yaml)")
    parser.add_argument("--out", help="output folder (default: the config's 'out')")
    parser.add_argument("--profile", help="device profile (default: the config's 'profile')")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--no-plots", action="store_true", help="report and JSON only, no figures")


def run(args: argparse.Namespace) -> int:
    import math

    from crossbar.cost import format_si
    from crossbar.experiments import load_budget_config, run_budget
    from crossbar.report import write_budget_report

    config = load_budget_config(args.config)
    changes = {}
    if args.out:
        changes["out"] = args.out
    if args.profile:
        changes["profile"] = args.profile
    if args.no_plots:
        changes["plots"] = False
    if changes:
        config = config.replace(**changes)
    r = run_budget(config, progress=not args.no_progress)
    write_budget_report(r)
    def iv(v) -> str:
        return f"{100 * v.mean:.2f} % ({100 * v.lo:.2f}-{100 * v.hi:.2f})"

    print(f"{r.profile}: digital accuracy {iv(r.digital)}, mapped without "
          f"{'read' if config.scale == 'read' else 'device'} noise {iv(r.noiseless)}, "
          f"target {100 * r.target:.2f} % ({r.data['n_test']} test inputs: +-"
          f"{100 * r.resolution.input_half:.2g} points at the target; {r.resolution.chips} chips; "
          f"{len(r.resolution.undecided)} grid point(s) left undecided)")
    lo, hi = config.noise_range
    for k, th in r.thresholds.items():
        shown = "none" if th.status == "none" else f"{'>= ' if th.status == 'all' else ''}{th.scale:.3g}"
        left = f"<{lo:.3g}" if math.isnan(th.confirmed) else f"{th.confirmed:.3g}"
        right = f">{hi:.3g}" if math.isnan(th.excluded) else f"{th.excluded:.3g}"
        print(f"  K = {k:>3}: accuracy at s = 1 {iv(r.nominal[k])}, tolerable noise scale {shown} "
              f"(interval {left}-{right})")
    best = r.optimum.get("fixed_periphery")
    if best is not None:
        print(f"energy-optimal at the point estimates: K = {best.k} at V = {best.voltage:.3g} V, "
              f"{format_si(best.energy, 'J')} per inference")
    print(f"report: {config.out}/report.md")
    return 0
