"""A small noise budget from Python: search, inspect the result, write the report (well under a minute).

The search (``run_budget``) returns a ``BudgetResult`` and keeps only its
resume cache on disk; ``write_budget_report`` writes report.md, report.json and
the figures into ``config.out``. The CNN is trained first on 2,000 digits for
two epochs (cached in ``<out>/model``) and tested on 50 digits (2 points per
digit): this shows the workflow; ``crossbar-sim demo`` is the full-size run.

    .venv/bin/python examples/budget_quick.py [profile] [out]
"""

from __future__ import annotations

import sys

from crossbar.experiments import BudgetConfig, TrainSpec, run_budget
from crossbar.report import write_budget_report

profile = sys.argv[1] if len(sys.argv) > 1 else "reram"
out = sys.argv[2] if len(sys.argv) > 2 else "runs/budget-quick"

config = BudgetConfig(
    train=TrainSpec(model="cnn6", epochs=2, limit=2000, batch_size=32),
    data="mnist5k", test_limit=50, profile=profile,
    votes=(1, 3), repeats=2, max_repeats=2, noise_range=(0.5, 64.0), rel_tol=0.5, out=out,
)
result = run_budget(config, progress=False)
print(f"{result.profile}: mapped without read noise {100 * result.noiseless_accuracy:.0f} % "
      f"on {result.data['n_test']} digits, target {100 * result.target:.0f} %")
for k, th in result.thresholds.items():
    iv = result.nominal[k]
    print(f"  K = {k}: accuracy at s = 1 {100 * iv.mean:.0f} % ({100 * iv.lo:.0f}-{100 * iv.hi:.0f}), "
          f"tolerable read-noise scale {th.status} {th.scale:.3g} (shown: {th.confirmed:.3g}, "
          f"excluded from {th.excluded:.3g})")
files = write_budget_report(result)
print("wrote", ", ".join(str(f) for f in files))
