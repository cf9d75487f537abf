"""``crossbar-sim demo``: train the 6-layer CNN briefly on real MNIST digits and budget it per device.

:func:`run_demo` trains (or reuses) the network once, then runs a noise
budget (``crossbar.experiments.budget.run_budget``) on each device profile and
returns a :class:`DemoResult`; ``crossbar.report.write_demo_report(result)``
writes report.md, report.json and the figures (the CLI calls it, also after
every finished device through ``on_device``). See docs/budget.md, "The demo".
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .budget import BudgetResult, obtain_model, run_budget
from .budget_cache import claim_folder
from .budget_config import BudgetConfig, TrainSpec
from .checks import fail, vote_counts

__all__ = ["DemoConfig", "DemoResult", "run_demo"]


@dataclass(frozen=True)
class DemoConfig:
    """``crossbar-sim demo``: bundled defaults (see docs/budget.md, "The demo")."""

    out: str = "demo-report"
    devices: tuple[str, ...] = ("reram", "pcm", "nand")
    train: TrainSpec = field(default_factory=TrainSpec)
    data: str = "mnist5k"
    test_limit: int = 200
    votes: tuple[int, ...] = (1, 5, 10)
    repeats: int = 1
    noise_range: tuple[float, float] = (0.5, 128.0)
    rel_tol: float = 0.25
    reference: str = "mapped"
    max_drop: float = 0.01
    alpha: float = 1.0
    scale: str = "read"
    seed: int = 0
    layer_overrides: dict = field(default_factory=dict, hash=False)
    plots: bool = True

    def __post_init__(self) -> None:
        if not self.devices:
            fail("devices", "at least one device profile", self.devices)
        object.__setattr__(self, "devices", tuple(self.devices))
        object.__setattr__(self, "votes", vote_counts("votes", self.votes))
        if not isinstance(self.train, TrainSpec):
            object.__setattr__(self, "train", TrainSpec.from_dict(self.train))
        for device in self.devices:  # validates every setting (and each profile name) up front
            self.budget_config(device, Path("model.pt"))

    def budget_config(self, device: str, checkpoint: Path) -> BudgetConfig:
        return BudgetConfig(
            checkpoint=str(checkpoint), data=self.data, test_limit=self.test_limit, profile=device,
            layer_overrides=self.layer_overrides, scale=self.scale, reference=self.reference,
            max_drop=self.max_drop,
            votes=self.votes, repeats=self.repeats, noise_range=self.noise_range, rel_tol=self.rel_tol,
            alpha=self.alpha, seed=self.seed, out=self.out, plots=self.plots,
        )

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["devices"] = list(self.devices)
        d["votes"] = list(self.votes)
        d["noise_range"] = list(self.noise_range)
        return d


@dataclass(frozen=True)
class DemoResult:
    """The demo's budgets by device (``errors``: devices that failed, with their error)."""

    config: DemoConfig
    model: dict
    results: dict[str, BudgetResult]
    errors: dict[str, str]
    elapsed_s: float


def run_demo(config: DemoConfig = DemoConfig(), *, progress: bool = True,
             on_device: Callable[[DemoResult], None] | None = None) -> DemoResult:
    """Train (or reuse) the CNN and run a noise budget per device; returns every result.

    The checkpoint and every accuracy are cached under ``config.out`` as they
    are found, so a rerun recomputes nothing. ``on_device(partial)`` is called
    after each device with the results so far (the CLI writes the report there,
    so that finished devices are on disk as the run goes).
    """
    t0 = time.perf_counter()
    out = claim_folder(config.out)
    ckpt = out / "model" / config.train.checkpoint_name(config.data)
    model, info = obtain_model(config.budget_config(config.devices[0], ckpt).replace(train=config.train),
                               progress=progress)
    results: dict[str, BudgetResult] = {}
    errors: dict[str, str] = {}
    for device in config.devices:
        try:
            bc = config.budget_config(device, ckpt)
            results[device] = run_budget(bc, progress=progress, model=model, model_info=info)
        except (ValueError, RuntimeError, FloatingPointError) as err:
            errors[device] = f"{type(err).__name__}: {err}"
        if on_device is not None:
            on_device(DemoResult(config, info, dict(results), dict(errors), time.perf_counter() - t0))
    return DemoResult(config, info, results, errors, time.perf_counter() - t0)
