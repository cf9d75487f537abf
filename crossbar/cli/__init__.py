"""`crossbar-sim` command line: argument parsing only, every command is a library call."""

from __future__ import annotations

import argparse
import importlib
import sys

# Each subcommand lives in crossbar/cli/<name>.py and defines
# `add_arguments(parser)` and `run(args) -> int`.
COMMANDS = {
    "devices": "List the bundled device profiles or show one.",
    "train": "Train one of the papers' networks (noise-injected or not).",
    "sweep": "Run a sigma_train x sigma_val sweep with voting from a YAML config.",
    "budget": "Largest tolerable device noise with and without voting, its latency/energy, optimal (V, K).",
    "demo": "Train a small CNN on real digits, map it onto ReRAM/PCM/NAND and write a report.",
    "attack": "Black-box adversarial examples against noisy inference (Table 11), with a white-box check.",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crossbar-sim",
        description="Analog in-memory computing on resistive crossbar arrays.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(f"crossbar.cli.{name}")
        module.add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module = importlib.import_module(f"crossbar.cli.{args.command}")
    try:
        return int(module.run(args) or 0)
    except (ValueError, FileNotFoundError, KeyError) as err:
        print(f"crossbar-sim {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
