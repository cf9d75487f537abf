"""``crossbar-sim demo``: train the 6-layer CNN briefly on real MNIST digits, budget it per device,
and age one PCM chip.

:func:`run_demo` trains (or reuses) the network once, then runs, on ``workers``
local processes, a noise budget (``crossbar.experiments.budget.run.run_budget``)
per device profile and for the aged device at its oldest age with drift
compensation, and point evaluations of the aged device at every age with and
without compensation (``run_points``). It returns a :class:`DemoResult`;
``crossbar.report.write_demo_report(result)`` writes report.md, report.json
and the figures (the CLI calls it, also after every finished task through
``on_device``). Results do not depend on the number of workers. See
docs/budget.md, "The demo".
"""

from __future__ import annotations

import dataclasses
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .budget.cache import claim_folder
from .budget.config import BudgetConfig, TrainSpec
from .budget.run import BudgetResult, PointsResult, obtain_model, run_budget, run_points
from .checks import fail, integer, number, vote_counts
from .drift_diagnosis import DriftDiagnosis
from .executors import executor
from .profiles import load_profile
from .stats import compare

__all__ = ["COST_MODEL_TOLERANCE", "DAY", "YEAR", "DemoConfig", "DemoResult", "age_label", "run_demo"]

DAY = 86_400.0
YEAR = 365.0 * DAY

COST_MODEL_TOLERANCE = 0.15
"""Relative uncertainty given to a cost-model figure (energy, latency) when two devices are
compared: the tolerance the cost model's predictions of measured chips are validated
against (docs/cost.md, section 8: NeuRRAM -5.3 %, HERMES +11.8 %). Two figures are called
different only when their +-15 % intervals do not overlap."""


def age_label(t: float, compensate: bool | None = None) -> str:
    """'1 month', '1 year, compensated', ... for a time since programming in seconds."""
    for unit, name in ((YEAR, "year"), (30 * DAY, "month"), (DAY, "day"), (3600.0, "hour")):
        if t >= unit:
            v = t / unit
            text = f"{v:g} {name}" + ("" if abs(v - 1) < 1e-9 else "s")
            break
    else:
        text = f"{t:g} s"
    if compensate is None:
        return text
    return text + (", drift compensated" if compensate else ", uncompensated")


FULL_REACH = {"votes": (1, 3, 9, 20), "rel_tol": 0.25}
"""The demo's settings that answer the paper's question (``crossbar-sim demo --full``): K up to 20
and the tolerable noise resolved to a factor 1.25, fine enough to see a sqrt(K) gain. About two
hours of the 2-core machine (docs/performance.md), so ``make demo`` runs K = 1 and 3 on a factor-2
grid, which cannot resolve a gain below 2."""


@dataclass(frozen=True)
class DemoConfig:
    """``crossbar-sim demo``: bundled defaults (see docs/budget.md, "The demo")."""

    out: str = "demo-report"
    devices: tuple[str, ...] = ("reram", "pcm", "nand", "gaussian-mult")
    train: TrainSpec = field(default_factory=TrainSpec)
    data: str = "mnist5k"
    test_limit: int | str = "auto"
    votes: tuple[int, ...] = (1, 3)
    repeats: int = 3
    noise_range: tuple[float, float] = (0.5, 130.0)
    rel_tol: float = 1.0
    reference: str = "digital"
    max_drop: float = 0.03
    voltage_tol: float = 0.05
    scale: str = "read"
    seed: int = 0
    layer_overrides: dict = field(default_factory=dict, hash=False)
    aged_device: str | None = "pcm"
    ages: tuple[float, ...] = (30 * DAY, YEAR)
    workers: int = 2
    plots: bool = True

    def __post_init__(self) -> None:
        if not self.devices:
            fail("devices", "at least one device profile", self.devices)
        object.__setattr__(self, "devices", tuple(self.devices))
        object.__setattr__(self, "votes", vote_counts("votes", self.votes))
        object.__setattr__(self, "ages", tuple(number("ages", a, 1e-9, 1e10) for a in self.ages))
        integer("workers", self.workers, 1, hi=64)
        if not isinstance(self.train, TrainSpec):
            object.__setattr__(self, "train", TrainSpec.from_dict(self.train))
        for device in self.devices:  # validates every setting (and each profile name) up front
            self.budget_config(device, Path("model.pt"))
        if self.aged_device is not None:
            for t in self.ages:
                self.budget_config(self.aged_device, Path("model.pt"), t, True)

    def budget_config(self, device: str, checkpoint: Path, age: float | None = None,
                      compensate: bool = True) -> BudgetConfig:
        return BudgetConfig(
            checkpoint=str(checkpoint), data=self.data, test_limit=self.test_limit, profile=device,
            layer_overrides=self.layer_overrides, scale=self.scale, reference=self.reference,
            max_drop=self.max_drop, votes=self.votes, repeats=self.repeats, max_repeats=self.repeats,
            noise_range=self.noise_range, rel_tol=self.rel_tol, voltage_tol=self.voltage_tol, seed=self.seed,
            out=self.out, plots=self.plots, time_since_programming=age, drift_compensation=compensate,
        )

    def tasks(self, checkpoint: Path) -> list[tuple[str, str, BudgetConfig]]:
        """(name, "budget" or "points", config) of every unit of work, in report order."""
        out = [(d, "budget", self.budget_config(d, checkpoint)) for d in self.devices]
        if self.aged_device is not None and self.ages:
            dev, oldest = self.aged_device, max(self.ages)
            out.append((f"{dev}, {age_label(oldest, True)}", "budget",
                        self.budget_config(dev, checkpoint, oldest, True)))
            for t in self.ages:
                for comp in (False, True):
                    if (t, comp) != (oldest, True):  # that one is the budget's s = 1
                        out.append((f"{dev}, {age_label(t, comp)}", "points",
                                    self.budget_config(dev, checkpoint, t, comp)))
            if load_profile(dev).drift is not None:  # why the uncompensated chip fails
                out += [(f"{dev}, {age_label(t, False)}", "diagnosis",
                         self.budget_config(dev, checkpoint, t, False)) for t in self.ages]
        return out

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for key in ("devices", "votes", "noise_range", "ages"):
            d[key] = list(d[key])
        return d


@dataclass(frozen=True)
class DemoResult:
    """The demo's budgets and point evaluations by name (``errors``: tasks that failed), and per
    uncompensated age of the aged device why it fails (``diagnoses``)."""

    config: DemoConfig
    model: dict
    results: dict[str, BudgetResult]
    points: dict[str, PointsResult]
    errors: dict[str, str]
    elapsed_s: float
    cpu_s: float = 0.0
    diagnoses: dict[str, DriftDiagnosis] = field(default_factory=dict)

    def devices(self) -> dict[str, BudgetResult]:
        """The budgets of the devices at their published noise (not the aged one)."""
        return {n: r for n, r in self.results.items() if n in self.config.devices}

    def aging_rows(self) -> list[dict]:
        """The aged device at its published read noise (s = 1): rows {"age" (s; 0: as published),
        "label", "compensate" (None: as published), "k", "mean", "lo", "hi"}."""
        c = self.config
        if c.aged_device is None:
            return []
        rows = []

        def add(t: float, label: str, comp: bool | None, ivs: dict[int, Any]) -> None:
            for k, iv in sorted(ivs.items()):
                rows.append({"age": t, "label": label, "compensate": comp, "k": k, "mean": iv.mean,
                             "lo": iv.lo, "hi": iv.hi})

        fresh = self.results.get(c.aged_device)
        if fresh is not None:
            t_own = load_profile(c.aged_device).time_since_programming
            label = f"as published ({age_label(t_own)} after programming, drift compensated)"
            add(0.0, label, None, fresh.nominal)
        for r in [*self.results.values(), *self.points.values()]:
            cfg = r.config
            if cfg.profile != c.aged_device or cfg.time_since_programming is None:
                continue
            ivs = (r.nominal if isinstance(r, BudgetResult) else
                   {k: iv for (s, k), iv in r.accuracies.items() if s == 1.0})
            add(cfg.time_since_programming, age_label(cfg.time_since_programming), cfg.drift_compensation,
                ivs)
        return sorted(rows, key=lambda r: (r["age"], r["compensate"] is not None, bool(r["compensate"]),
                                           r["k"]))

    def cost_comparison(self, figure: str) -> dict[str, str]:
        """For ``figure`` ("energy" or "latency" of one inference): each physical device against the
        best, ``"best"``, ``"tie"`` (within the cost model's +-15 %) or ``"worse"`` (an abstract
        profile, the paper's Eq. 3 noise, has no hardware of its own to rank)."""
        devs = {n: r for n, r in self.devices().items() if load_profile(n).kind == "physical"}
        if not devs:
            return {}
        value = {n: getattr(r.network, figure) for n, r in devs.items()}
        best = min(value, key=value.get)
        tol = COST_MODEL_TOLERANCE
        out = {}
        for n, v in value.items():
            rel = compare(v * (1 - tol), v * (1 + tol), value[best] * (1 - tol), value[best] * (1 + tol))
            out[n] = "best" if n == best else ("worse" if rel == ">" else "tie")
        return out


DIAGNOSIS_INPUTS = 256
"""Test inputs the aged chip's layers are diagnosed on (``drift_diagnosis``)."""


def _run_task(task: tuple) -> BudgetResult | PointsResult | DriftDiagnosis:
    """One unit of work on a worker: a budget, the point evaluations of one age, or the
    diagnosis of one uncompensated age."""
    kind, config, model, info = task
    if kind == "budget":
        return run_budget(config, progress=False, model=model, model_info=info)
    if kind == "diagnosis":
        return _diagnose(config, model)
    return run_points(config, (1.0,), model=model, model_info=info)


def _diagnose(config: BudgetConfig, model) -> DriftDiagnosis:
    """:func:`~.drift_diagnosis.diagnose_drift` of ``config``'s age on its chip 0, calibrated as
    the budget's chips are, read on the first ``DIAGNOSIS_INPUTS`` test digits."""
    from crossbar.data import load_split
    from crossbar.threads import limit_threads

    from .accuracy import AccuracyEvaluator
    from .budget.run import _calibration_inputs
    from .drift_diagnosis import diagnose_drift

    test = load_split(config.data, "test", root=config.data_root).subset(DIAGNOSIS_INPUTS)
    calibration = _calibration_inputs(config)

    def evaluator_for(age):
        return AccuracyEvaluator(model, test.x, test.y, config.base_profile(), scale=config.scale,
                                 seed=config.seed, layer_overrides=config.layer_overrides,
                                 threads=config.threads, age=age, calibration=calibration)

    with limit_threads(config.threads):
        return diagnose_drift(evaluator_for, config.age, test.x, config.seed)


def _warm_up(devices: tuple[str, ...]) -> None:
    """Compile the read kernels (Numba caches them on disk) for each device's converters: run on
    a worker while the network trains, so that no worker compiles them during the budgets. The
    tiny network is calibrated as every budget's chips are (an uncalibrated read warns)."""
    import torch

    from crossbar.nn import calibrate
    from crossbar.nn.convert import convert, reseed

    tiny = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(8, 2))
    x = torch.linspace(0.0, 1.0, 32).view(2, 1, 4, 4)
    for device in devices:
        net = convert(tiny, device, seed=0).eval()
        calibrate(net, x)
        reseed(net, 0)
        with torch.no_grad():
            net(x)


def _longest_first(task: tuple[str, str, BudgetConfig]) -> tuple[bool, int]:
    """Sort key of the order the workers take the tasks in, longest expected first, so that the
    longest one does not start last: budgets before point evaluations and diagnoses, budgets by
    the ADC conversions of one read of their device (input slices x phases: 14 for NAND's
    bit-serial two-phase read, 1 for PCM's), which the read's time grows with. The results do
    not depend on the order."""
    from crossbar.cost import CircuitParameters

    _, kind, config = task
    profile = config.base_profile()
    physical = profile.kind == "physical"
    reads = CircuitParameters.from_profile(profile).conversions_per_column if physical else 1
    return kind != "budget", -reads


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished child processes (the workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run_demo(config: DemoConfig = DemoConfig(), *, progress: bool = True,
             on_device: Callable[[DemoResult], None] | None = None) -> DemoResult:
    """Train (or reuse) the CNN, then run every budget and point evaluation; returns them all.

    With ``workers`` > 1 the worker processes start first and one compiles the read
    kernels while this process trains. The checkpoint and every chip's counts are
    cached under ``config.out`` as they are found, so a rerun recomputes nothing.
    ``on_device(partial)`` is called after each finished task with the results so
    far (the CLI writes the report there, so finished tasks are on disk as the run
    goes). ``cpu_s`` counts this process and the workers (once they have exited).
    """
    t0, c0 = time.perf_counter(), _cpu_seconds()
    out = claim_folder(config.out)
    ckpt = out / "model" / config.train.checkpoint_name(config.data)
    tasks = config.tasks(ckpt)
    results: dict[str, BudgetResult] = {}
    points: dict[str, PointsResult] = {}
    diagnoses: dict[str, DriftDiagnosis] = {}
    errors: dict[str, str] = {}
    labels = [name + (" (diagnosis)" if kind == "diagnosis" else "") for name, kind, _ in tasks]

    def partial() -> DemoResult:
        order = [n for n, _, _ in tasks]
        return DemoResult(config, info, {n: results[n] for n in order if n in results},
                          {n: points[n] for n in order if n in points},
                          {n: errors[n] for n in labels if n in errors},
                          time.perf_counter() - t0, _cpu_seconds() - c0,
                          {n: diagnoses[n] for n in order if n in diagnoses})

    pool = executor(min(config.workers, len(tasks)), None)
    try:
        warm = None
        if config.workers > 1:
            aged = (config.aged_device,) if config.aged_device else ()
            warm = pool.submit(_warm_up, tuple(dict.fromkeys(config.devices + aged)))
        model, info = obtain_model(config.budget_config(config.devices[0], ckpt).replace(train=config.train),
                                   progress=progress)
        if warm is not None:
            pool.wait_any({warm})
            pool.result(warm)
        pending = {pool.submit(_run_task, (kind, cfg, model, info)): (name, kind)
                   for name, kind, cfg in sorted(tasks, key=_longest_first)}
        while pending:
            done, _ = pool.wait_any(set(pending))
            for fut in done:
                name, kind = pending.pop(fut)
                try:
                    r = pool.result(fut)
                except (ValueError, RuntimeError, FloatingPointError) as err:
                    label = name + (" (diagnosis)" if kind == "diagnosis" else "")
                    errors[label] = f"{type(err).__name__}: {err}"
                else:
                    {"budget": results, "points": points, "diagnosis": diagnoses}[kind][name] = r
                if on_device is not None:
                    on_device(partial())
    finally:
        pool.close()
    return partial()
