"""Sweeps with voting, noise budgets and the demo (Qin & Vucinic, Sections 3.2-3.3).

``run_sweep(load_config("sweep.yaml"))`` trains the models it lacks, runs R
noisy inferences (and K-vote inferences) for every cell, appends each finished
cell to ``results.jsonl`` and writes the paper's tables and figures (docs/experiments.md).

``run_budget(load_budget_config("budget.yaml"))`` finds the largest device noise
a trained network tolerates for each vote count K and prices it;
``run_demo(DemoConfig())`` does so for one CNN on several devices. Both return
results; ``crossbar.report.write_budget_report`` / ``write_demo_report`` write
their reports (docs/budget.md). ``explore(load_explore_config("explore.yaml"))``
evaluates design points (tile size, converters, device, read voltage, any profile
field) and finds their Pareto front (docs/explore.md; ``write_explore_report``).
``VoltagePoint``, ``voltage_optimum`` and ``pareto_front`` live in ``crossbar.cost.optimum``
and are re-exported here.
"""

from crossbar.cost.optimum import VoltagePoint, pareto_front, voltage_optimum

from .accuracy import AccuracyEvaluator
from .budget.cache import CacheDiscardedWarning, ForeignFolderError
from .budget.config import REFERENCES, BudgetConfig, TrainSpec, load_budget_config
from .budget.run import (
    BudgetResult,
    PointsResult,
    Threshold,
    noise_budget,
    obtain_model,
    run_budget,
    run_points,
)
from .budget.search import tolerates_more
from .cells import (
    FRESH,
    REPLICATED,
    REREAD,
    CellTask,
    IdentityMismatchError,
    Inputs,
    TrainTask,
    WorkerImportError,
    checkpoint_path,
    evaluate_cell,
    run_training,
    snr_db,
    sweep_identity,
)
from .config import ConfigError, SoftmaxSpec, SweepConfig, load_config
from .demo import DemoConfig, DemoResult, run_demo
from .designs import ExploreConfig, ExploreLockedError, ExploreResult, explore, load_explore_config
from .drift_diagnosis import DriftDiagnosis, LayerDiagnosis, diagnose_drift
from .executors import SchedulerUnreachableError
from .noise_scale import SCALE_MODES, Age, scale_noise
from .profiles import load_profile
from .report import summary, write_report
from .stats import Interval, compare
from .store import (
    ConfigChangedError,
    CorruptResultsError,
    ResultsStore,
    SweepLockedError,
    load_results,
)
from .sweep import SweepResult, pending_cells, run_sweep
from .voting import noisy_probs, predict_with_votes, reseed_all, vote, vote_curve

__all__ = [
    "VoltagePoint",
    "voltage_optimum",
    "FRESH",
    "Interval",
    "REFERENCES",
    "REPLICATED",
    "REREAD",
    "SCALE_MODES",
    "AccuracyEvaluator",
    "Age",
    "BudgetConfig",
    "BudgetResult",
    "CacheDiscardedWarning",
    "CellTask",
    "ConfigChangedError",
    "ConfigError",
    "CorruptResultsError",
    "DemoConfig",
    "DemoResult",
    "ExploreConfig",
    "ExploreLockedError",
    "ExploreResult",
    "DriftDiagnosis",
    "ForeignFolderError",
    "IdentityMismatchError",
    "LayerDiagnosis",
    "Inputs",
    "PointsResult",
    "ResultsStore",
    "SchedulerUnreachableError",
    "SoftmaxSpec",
    "SweepConfig",
    "SweepLockedError",
    "SweepResult",
    "Threshold",
    "TrainSpec",
    "TrainTask",
    "WorkerImportError",
    "checkpoint_path",
    "compare",
    "diagnose_drift",
    "evaluate_cell",
    "explore",
    "load_budget_config",
    "load_config",
    "load_explore_config",
    "load_profile",
    "load_results",
    "noise_budget",
    "noisy_probs",
    "obtain_model",
    "pareto_front",
    "pending_cells",
    "predict_with_votes",
    "reseed_all",
    "run_budget",
    "run_demo",
    "run_points",
    "run_sweep",
    "run_training",
    "scale_noise",
    "snr_db",
    "summary",
    "tolerates_more",
    "sweep_identity",
    "vote",
    "vote_curve",
    "write_report",
]
