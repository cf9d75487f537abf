"""`crossbar-sim walk CONFIG.yaml`: noise at one position at a time (Walking Noise)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="walk configuration (YAML; see docs/walking_noise.md)")
    parser.add_argument("--out", help="output folder (default: the config's 'out')")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-plots", action="store_true", help="tables only, no figures")


def run(args: argparse.Namespace) -> int:
    from crossbar.walk import load_walk_config, run_walk

    config = load_walk_config(args.config)
    result = run_walk(config, out=args.out, progress=not args.no_progress, plots=not args.no_plots)
    print((result.out / "walk.md").read_text(), end="")
    print("wrote: " + ", ".join(str(f.relative_to(result.out)) for f in result.files))
    return 0
