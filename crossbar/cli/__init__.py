"""`crossbar-sim` command line: argument parsing only, every command is a library call.

A failure is one line on stderr naming file, key and value, with exit status 2
(``crossbar.cli.errors``); ``--debug`` shows the traceback instead. Like
``python -m``, the command imports a user's network or data loader
(``model: my_nets:small_cnn``) from the current folder as well as from
``sys.path``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .errors import one_line_warnings, report

# Each subcommand lives in crossbar/cli/<name>.py (a dash in the name is an underscore there) and defines
# `add_arguments(parser)` and `run(args) -> int`.
COMMANDS = {
    "devices": "List the bundled device profiles or show one.",
    "fit-device": "Fit a device profile to your measured conductances (CSV or .npz), with a fit report.",
    "train": "Train one of the papers' networks or your own (noise-injected or not).",
    "sweep": "Run a sigma_train x sigma_val sweep with voting from a YAML config.",
    "budget": "Largest tolerable device noise with and without voting, its latency/energy, optimal (V, K).",
    "explore": "Design points (tile size, ADC/DAC bits, device, read voltage, any profile field): accuracy, "
               "cost and the Pareto front.",
    "walk": "Noise at one position at a time (Walking Noise): midpoints and learning dynamics.",
    "harden": "Quantization-aware training vs noisy training under global noise, and on crossbar levels.",
    "demo": "Train a small CNN on real digits, map it onto ReRAM/PCM/NAND and write a report.",
    "attack": "Black-box adversarial examples against noisy inference (Table 11), with a white-box check.",
}


def _module(command: str) -> str:
    return "crossbar.cli." + command.replace("-", "_")


class _Parser(argparse.ArgumentParser):
    """An argument error is one line too (argparse prints the usage first)."""

    def error(self, message: str):  # noqa: D102 - argparse hook
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="crossbar-sim",
        description="Analog in-memory computing on resistive crossbar arrays.",
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(_module(name))
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the traceback of an error")
        module.add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` does: my_nets.py next to the config imports
    args = build_parser().parse_args(argv)
    try:
        module = importlib.import_module(_module(args.command))
        with one_line_warnings(args.command):
            return int(module.run(args) or 0)
    except (Exception, KeyboardInterrupt) as err:  # noqa: BLE001 - every failure is reported
        if args.debug:
            raise
        return report(args.command, err)


if __name__ == "__main__":
    sys.exit(main())
