"""`crossbar-sim devices [NAME]`: list the bundled profiles or show one with its sources."""

from __future__ import annotations

import argparse

from crossbar import devices


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="a bundled profile name or a path to a YAML profile")
    parser.add_argument("--yaml", action="store_true", help="print the validated profile as YAML")


def run(args: argparse.Namespace) -> int:
    from crossbar.cost import format_si

    if args.name is None:
        for name in devices.available():
            p = devices.load(name)
            print(f"{name:<14} {p.kind:<9} g {format_si(p.g_min, 'S')} to {format_si(p.g_max, 'S')}, "
                  f"tile {p.tile_rows}x{p.tile_cols}")
        return 0
    from crossbar.experiments.profiles import load_profile

    profile = load_profile(args.name, "name")  # errors name the file and quote values, not files
    print(profile.to_yaml() if args.yaml else profile.summary())
    return 0
