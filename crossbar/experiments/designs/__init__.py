"""Design-space exploration (``crossbar-sim explore``): tile size, converters, device, read voltage
and any profile field, judged on accuracy (with intervals), energy, latency, area and TOPS/W.

- ``config.py``: ``ExploreConfig`` (the shared evaluation settings and the design points),
  ``load_explore_config``.
- ``run.py``: ``explore`` (every point through ``budget.run_points``, resumable, on workers).
- ``result.py``: ``ExploreResult`` (rows per point and K, the Pareto front), the stored records.
"""

from .config import ExploreConfig, load_explore_config
from .result import ExploreResult
from .run import ExploreLockedError, explore

__all__ = ["ExploreConfig", "ExploreLockedError", "ExploreResult", "explore", "load_explore_config"]
