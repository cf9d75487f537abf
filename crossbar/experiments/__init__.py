"""Sweeps over sigma_train x sigma_val with voting (Qin & Vucinic, Sections 3.2-3.3).

``run_sweep(load_config("sweep.yaml"))`` trains the models it lacks, runs R
noisy inferences (and K-vote inferences) for every cell, appends each finished
cell to ``results.jsonl`` and writes the paper's tables and figures. See
docs/experiments.md.
"""

from .cells import (
    FRESH,
    REPLICATED,
    REREAD,
    CellTask,
    TrainTask,
    checkpoint_path,
    evaluate_cell,
    run_training,
    snr_db,
)
from .config import ConfigError, SoftmaxSpec, SweepConfig, load_config
from .report import summary, write_report
from .store import (
    ConfigChangedError,
    CorruptResultsError,
    ResultsStore,
    SweepLockedError,
    load_results,
)
from .sweep import SweepResult, pending_cells, run_sweep
from .voting import noisy_probs, predict_with_votes, vote, vote_curve

__all__ = [
    "FRESH",
    "REPLICATED",
    "REREAD",
    "CellTask",
    "ConfigChangedError",
    "ConfigError",
    "CorruptResultsError",
    "ResultsStore",
    "SoftmaxSpec",
    "SweepConfig",
    "SweepLockedError",
    "SweepResult",
    "TrainTask",
    "checkpoint_path",
    "evaluate_cell",
    "load_config",
    "load_results",
    "noisy_probs",
    "pending_cells",
    "predict_with_votes",
    "run_sweep",
    "run_training",
    "snr_db",
    "summary",
    "vote",
    "vote_curve",
    "write_report",
]
