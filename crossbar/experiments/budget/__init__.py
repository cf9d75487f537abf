"""Noise budgets: the largest device noise a trained network tolerates per vote count K.

- ``config.py``: ``BudgetConfig``, ``TrainSpec``, ``load_budget_config``.
- ``plan.py``: the test-set size a resolution needs (``Resolution``).
- ``search.py``: the grid search with bisection (``noise_budget``, ``Threshold``).
- ``run.py``: ``run_budget`` and ``run_points`` (devices at their own noise), on workers.
- ``result.py``: ``BudgetResult``, ``PointsResult``.
- ``cache.py``: the folder claim and resume cache of a budget.
"""

from .config import BudgetConfig, TrainSpec, load_budget_config
from .result import BudgetResult, PointsResult
from .run import noise_budget, obtain_model, run_budget, run_points
from .search import Threshold

__all__ = ["BudgetConfig", "BudgetResult", "PointsResult", "Threshold", "TrainSpec",
           "load_budget_config", "noise_budget", "obtain_model", "run_budget", "run_points"]
