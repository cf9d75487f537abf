"""`crossbar-sim fit-device MEASUREMENTS --out my_device.yaml`: a profile fitted to measured
conductances, and its fit report (docs/devices.md, "Fitting a profile to measurements")."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("measurements", help="a .csv or .npz file: columns cell, target_S, "
                        "conductance_S, optional time_s and attempt (docs/devices.md)")
    parser.add_argument("--out", required=True, help="the profile YAML to write")
    parser.add_argument("--base", default="reram", help="the profile whose converter, periphery, "
                        "timing, levels and verify fields the fitted profile keeps (default: reram)")
    parser.add_argument("--name", help="the fitted profile's name (default: fitted-<file stem>)")
    drift = parser.add_mutually_exclusive_group()
    drift.add_argument("--drift", dest="drift", action="store_true", default=None,
                       help="require a drift fit (the reads need times)")
    drift.add_argument("--no-drift", dest="drift", action="store_false", help="fit no drift")
    parser.add_argument("--report", help="the fit report's Markdown file (default: beside --out, "
                        "<out stem>_fit.md, with its PNG)")


def run(args: argparse.Namespace) -> int:
    from crossbar.devices import fit, load
    from crossbar.report.fit import write_fit_report

    out = Path(args.out)
    if out.suffix not in (".yaml", ".yml"):
        raise ValueError(f"--out: the profile file must end in .yaml or .yml (got {args.out!r})")
    result = fit(args.measurements, base=args.base, name=args.name, drift=args.drift)
    result.write(out)
    load(out)  # the written file loads and validates like any profile
    report, png = write_fit_report(result, args.report or out.with_name(f"{out.stem}_fit.md"))
    p = result.profile
    print(f"{p.name}: g {p.g_min:.4g} to {p.g_max:.4g} S from {result.measurements.n_cells} cells")
    for label, f in (("programming noise", result.programming), ("read noise", result.read)):
        if f is not None:
            print(f"  {label}: {f.family} ({', '.join(f'{e.name} {e.value:.4g}' for e in f.estimates)}),"
                  f" KS p = {f.ks_p:.3g}")
    if result.drift is not None:
        d = result.drift
        print(f"  drift: t0 = {d.spec['t0_s']:.4g} s, nu_mean {d.chosen['nu_mean']}, nu_std "
              f"{d.chosen['nu_std']}, {d.nu.size} cells, KS p = {d.ks_p:.3g}")
    for s in result.stuck:
        print(f"  stuck {s.rail}: {s.count} of {s.eligible} cells, rate {s.estimate.value:.3g} "
              f"[{s.estimate.lo:.3g}, {s.estimate.hi:.3g}]")
    for key, why in result.not_fitted.items():
        print(f"  not fitted: {key} ({why})")
    print(f"profile: {out}")
    print(f"report: {report} ({png.name})")
    return 0
