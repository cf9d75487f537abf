"""`crossbar-sim sweep CONFIG.yaml`: a sigma_train x sigma_val sweep with voting."""

from __future__ import annotations

import argparse

from .types import executor_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="sweep configuration (YAML; see docs/experiments.md)")
    parser.add_argument("--out", help="output folder (default: the config's 'out')")
    executor_arguments(parser, "cells")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--no-plots", action="store_true", help="tables only, no figures")


def run(args: argparse.Namespace) -> int:
    from crossbar.experiments import load_config, run_sweep, write_report

    config = load_config(args.config)
    result = run_sweep(
        config,
        out=args.out,
        workers=args.workers,
        scheduler=args.scheduler,
        scheduler_timeout=args.scheduler_timeout,
        progress=not args.no_progress,
        report=False,
    )
    files = write_report(result.config, result.records, result.out, plots=not args.no_plots)
    print(f"{len(result.records)} cells in {result.out / 'results.jsonl'}")
    print((result.out / "tables.md").read_text(), end="")
    print("wrote: " + ", ".join(str(f.relative_to(result.out)) for f in files))
    return 0
