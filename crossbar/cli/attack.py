"""`crossbar-sim attack CONFIG.yaml`: black-box transfer with noisy inference, white-box EOT check."""

from __future__ import annotations

import argparse
import sys
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="attack configuration (YAML; see docs/attacks.md)")
    parser.add_argument("--out", help="output folder (default: the config's 'out')")
    parser.add_argument("--threads", type=int, help="torch threads (default: the config's 'threads')")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from crossbar.attacks import AttackLockedError, load_config, run_attack

    config = load_config(args.config)
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        config = config.replace(threads=args.threads)
    t0 = time.perf_counter()
    try:
        result = run_attack(config, out=args.out, progress=not args.no_progress)
    except AttackLockedError as err:
        print(f"crossbar-sim attack: error: {err}", file=sys.stderr)
        return 2
    print((result.out / "report.md").read_text(), end="")
    print(f"wrote: {', '.join(str(f) for f in result.files)} ({time.perf_counter() - t0:.0f} s)")
    return 0
