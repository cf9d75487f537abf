"""`crossbar-sim sweep CONFIG.yaml`: a sigma_train x sigma_val sweep with voting."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="sweep configuration (YAML; see docs/experiments.md)")
    parser.add_argument("--out", help="output folder (default: the config's 'out')")
    parser.add_argument("--workers", type=int,
                        help="local worker processes (default: the config's 'workers')")
    parser.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                        help="run the cells on this Dask scheduler instead of local processes")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--no-plots", action="store_true", help="tables only, no figures")


def run(args: argparse.Namespace) -> int:
    from crossbar.experiments import load_config, run_sweep, write_report
    from crossbar.experiments.store import SweepLockedError

    config = load_config(args.config)
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    try:
        result = run_sweep(
            config,
            out=args.out,
            workers=args.workers,
            scheduler=args.scheduler,
            progress=not args.no_progress,
            report=False,
        )
    except (NotImplementedError, SweepLockedError) as err:
        print(f"crossbar-sim sweep: error: {err}", file=sys.stderr)
        return 2
    files = write_report(result.config, result.records, result.out, plots=not args.no_plots)
    print(f"{len(result.records)} cells in {result.out / 'results.jsonl'}")
    print((result.out / "tables.md").read_text(), end="")
    print("wrote: " + ", ".join(str(f.relative_to(result.out)) for f in files))
    return 0
