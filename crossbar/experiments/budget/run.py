"""Noise budgets: the largest device noise a trained network tolerates, with and without voting.

For a trained model, a test subset, a device profile and a target accuracy
(by default 1 point below the mapped network's accuracy without read noise),
:func:`run_budget` finds, for K = 1 and every K of ``votes``, where on a grid
of noise scales s the K-vote accuracy
(:class:`crossbar.experiments.accuracy.AccuracyEvaluator`) stops meeting the
target (Qin & Vucinic, Section 3.3), with the interval its confidence
intervals allow (:mod:`crossbar.experiments.budget.search`). It plans the
test-set size and the number of chips that resolve the target, or says that
the data cannot (:mod:`crossbar.experiments.budget.plan`). It then prices
every K with the cost model (``crossbar.cost``): latency of the three voting
schedules, energy and area per inference, and the energy-optimal pair (read
voltage V, votes K) under the physical voltage law: the network is evaluated at
each voltage tried, where the conductance noise is unchanged and the circuit noise
floor grows relative to the signal (``crossbar.cost.voltage_optimum``).

The search returns a :class:`BudgetResult` and writes only its resume cache;
``crossbar.report.write_budget_report`` writes report.md, report.json and the
figures (the CLI calls it). See docs/budget.md.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch

from crossbar.cost import voltage_range
from crossbar.threads import limit_threads

from ..accuracy import AccuracyEvaluator
from .cache import cache_path, claim_folder, read_cache, write_cache
from .config import BudgetConfig
from .plan import plan_inputs, resolution
from .result import BudgetResult, PointsResult
from .search import Threshold, grid_range, noise_budget

__all__ = ["BudgetResult", "PointsResult", "Threshold", "noise_budget", "obtain_model", "run_budget",
           "run_points"]


def obtain_model(config: BudgetConfig, progress: bool = True) -> tuple[torch.nn.Module, dict]:
    """Load the checkpoint; with a ``train`` block, train it first, finish a run that was
    interrupted, or check that the file was trained as the block says (a checkpoint of
    another configuration or other training data is refused, never silently used)."""
    from crossbar.nn import NoiseConfig
    from crossbar.training import load_checkpoint, train

    path = config.checkpoint_path()
    if config.train is not None:
        t = config.train
        path.parent.mkdir(parents=True, exist_ok=True)
        with limit_threads(config.threads):
            train(t.model, t.data or config.data, noise=NoiseConfig(t.noise, t.sigma_train, 0.0),
                  epochs=t.epochs, lr=t.lr, batch_size=t.batch_size, seed=t.seed, checkpoint=path,
                  data_root=config.data_root, limit=t.limit, progress=progress, device="cpu",
                  model_kwargs=t.model_kwargs or None, threads=None, hardware=t.hardware)
    elif not path.exists():
        raise FileNotFoundError(
            f"checkpoint {path} does not exist; give an existing file or a 'train' block"
        )
    model, info = load_checkpoint(path)
    history = info.get("history")
    return model, {
        "checkpoint": str(path),
        "digest": info["model_digest"],
        "name": info.get("model"),
        "epochs": info.get("epoch"),
        "train_config": info.get("config"),
        "test_accuracy_after_training": (history.test_acc[-1] if history is not None and len(history)
                                         else None),
    }


def _test_data(config: BudgetConfig, model: torch.nn.Module, profile, data=None):
    """(test set used, inputs available): ``test_limit: auto`` takes the fewest
    inputs that resolve the target at the accuracy planned from the digital network on every
    available input (docs/budget.md, "Statistics"). ``data``: the caller's data instead of the
    config's (anything ``crossbar.data.resolve`` takes; its test split)."""
    from crossbar.data import load_split, resolve

    every = load_split(config.data, "test", root=config.data_root) if data is None else resolve(data)[1]
    available = len(every.y)
    digital = AccuracyEvaluator(model, every.x, every.y, profile).digital_accuracy()
    if config.target_accuracy is not None:
        p_target, band = config.target_accuracy, max(digital - config.target_accuracy, 0.0)
    else:
        p_target, band = digital - config.max_drop, config.max_drop
    if config.test_limit == "auto":
        n = plan_inputs(p_target, band, available, config.confidence)[0] if band > 0 else available
    else:
        n = min(int(config.test_limit), available)
    return (every if n == available else every.subset(n)), available


CALIBRATION_INPUTS = 32


def _calibration_inputs(config: BudgetConfig, data=None) -> torch.Tensor:
    """The training inputs each chip's calibrated ADC ranges are set on (the first
    ``CALIBRATION_INPUTS``; a chip calibrates on data it will see, never on the test set)."""
    from crossbar.data import load_split, resolve

    train = (load_split(config.data, "train", root=config.data_root) if data is None
             else resolve(data)[0])
    return train.subset(CALIBRATION_INPUTS).x


def _evaluator(config: BudgetConfig, model, model_info, progress: bool, data=None):
    """The shared start of a budget and of point evaluations: profile, folder, model checks,
    test and calibration data, the nominal evaluator with its cache, the network's cost and
    the spacing of its re-reads (a :class:`_Setup`)."""
    from crossbar.cost import read_spacing
    from crossbar.cost.mapping import network_cost_of
    from crossbar.identity import data_identity, tensor_digest
    from crossbar.training import model_digest
    from crossbar.training.checkpoint import nonfinite_entries

    profile = config.base_profile()
    if model is None and config.train is None:  # a bad checkpoint fails before the folder exists
        model, model_info = obtain_model(config, progress=progress)
    out = claim_folder(config.out, allow=[config.checkpoint_path()])
    if model is None:
        model, model_info = obtain_model(config, progress=progress)
    model_info = dict(model_info or {})
    bad = nonfinite_entries(model.state_dict())
    if bad:
        raise ValueError(f"the network's weights {', '.join(bad[:3])} hold NaN or infinity "
                         "(a diverged training run); a budget needs finite weights")
    model_info["digest"] = model_digest(model)  # the weights evaluated, whatever the caller says
    with limit_threads(config.threads):
        ds, available = _test_data(config, model, profile, data)
        calibration = _calibration_inputs(config, data)
    data_key = f"{data_identity(ds)['digest']}+calibration:{tensor_digest(calibration)}"

    made: list[AccuracyEvaluator] = []

    def evaluator_for(p, tag: str = "") -> AccuracyEvaluator:
        """An evaluator of ``p`` (the profile, or it at another read voltage: ``tag`` names its
        cache file) with its own cache."""
        key = config.evaluation_key(model_info["digest"], data_key, p)
        cache_file = cache_path(out, p.name + tag, key)
        ev = AccuracyEvaluator(
            model, ds.x, ds.y, p, scale=config.scale, votes=config.votes, repeats=config.repeats,
            seed=config.seed, batch_rows=config.batch_rows, layer_overrides=config.layer_overrides,
            threads=config.threads, age=config.age, calibration=calibration,
            confidence=config.confidence, cache=read_cache(cache_file, key),
            on_result=lambda entry: write_cache(cache_file, key, ev.cache),
        )
        made.append(ev)
        return ev

    evaluator = evaluator_for(profile)
    # cost at the nominal profile (V0 = v_read), input activity measured on up to 32 test
    # inputs; it also gives the time between the K re-reads of one inference
    activity = None if config.activity == "measured" else config.activity
    with limit_threads(config.threads):
        net = network_cost_of(evaluator.chip(1.0, 0), ds.x[:32], activity=activity,
                              replication=config.replication)
    evaluator.read_spacing = read_spacing(net, config.vote_schedule)
    return _Setup(profile, model_info, ds, available, evaluator, net, evaluator_for, made)


@dataclass(frozen=True)
class _Setup:
    """What :func:`_evaluator` prepared; ``evaluator_for(profile, tag)`` makes an evaluator of
    another profile (the same one at another read voltage) on the same data and chips."""

    profile: Any
    model_info: dict
    ds: Any
    available: int
    evaluator: AccuracyEvaluator
    net: Any
    evaluator_for: Callable[..., AccuracyEvaluator]
    evaluators: list[AccuracyEvaluator]  # every one made: their forward rows are the run's


def _voltage_search(setup: _Setup, config: BudgetConfig, target: float, step):
    """Per K, the lowest read voltage whose K-vote accuracy (the point estimate) meets
    ``target``, with the network evaluated at each voltage tried (``crossbar.cost.at_voltage``:
    the circuit floor grows relative to the signal as V drops); returns (points, optimum,
    {(V, K): Interval})."""
    from crossbar.cost import at_voltage, voltage_optimum

    evaluators: dict[float, AccuracyEvaluator] = {}
    seen = {}

    def accuracy(v: float, k: int) -> float:
        v = float(f"{v:.6g}")
        if v == setup.profile.v_read:  # the profile as it is: the budget's own evaluations
            evaluators[v] = setup.evaluator
        if v not in evaluators:
            ev = setup.evaluator_for(at_voltage(setup.profile, v), f"-at-{v:g}V")
            ev.read_spacing, ev.repeats = setup.evaluator.read_spacing, setup.evaluator.repeats
            evaluators[v] = ev
        iv = evaluators[v].estimate(1.0, k)
        seen[(v, k)] = iv
        step(k, v, iv)
        return iv.mean

    points, best = voltage_optimum(setup.net, setup.profile, accuracy, config.votes, target,
                                   tol=config.voltage_tol)
    return tuple(points), best, dict(sorted(seen.items()))


def run_points(config: BudgetConfig, scales: Iterable[float] = (1.0,), *, progress: bool = False,
               model: torch.nn.Module | None = None, model_info: dict | None = None,
               target: float | None = None, data=None) -> PointsResult:
    """Accuracy with its interval at each noise scale of ``scales`` for every K of ``votes``
    (no search), and the network's cost: e.g. an aged chip at its published read noise, or one
    design point of an exploration (``crossbar.experiments.explore``). ``target``: the accuracy
    the points are judged against (default: the config's target from its reference);
    ``data`` as :func:`run_budget` takes it. Cached and resumed like a budget."""
    t0 = time.perf_counter()
    setup = _evaluator(config, model, model_info, progress, data)
    ev = setup.evaluator
    with limit_threads(config.threads):
        if target is None:
            if config.target_accuracy is not None:
                target = config.target_accuracy
            else:
                ref = ev.estimate(0.0, 1) if config.reference == "mapped" else ev.digital_interval()
                target = ref.mean - config.max_drop
        acc = {}
        for s in scales:
            for k in reversed(config.votes):  # K_max first: its draws hold those of every K
                acc[(float(s), k)] = ev.estimate(s, k)
    acc = dict(sorted(acc.items()))
    return PointsResult(config=config, profile=ev.profile.name, target=float(target), accuracies=acc,
                        elapsed_s=time.perf_counter() - t0, forward_rows=ev.forward_rows,
                        network=setup.net)


def run_budget(config: BudgetConfig, *, progress: bool = True,
               model: torch.nn.Module | None = None, model_info: dict | None = None,
               data=None) -> BudgetResult:
    """Run a noise budget: plan, reference, search per K, resolution, costs, (V, K) optimum.

    ``model`` / ``model_info``: an already loaded network, any ``nn.Module`` (``run_demo``
    shares one between devices); otherwise :func:`obtain_model`. ``data``: test data
    instead of the config's (anything ``crossbar.data.resolve`` takes: its test split, and
    its training split for the ADC-range calibration). Every chip's count of
    correct inputs is saved to ``<out>/cache/evaluations-<profile>-<key>.json``
    as soon as it is known, so an interrupted run resumes where it stopped. The
    report is written by ``crossbar.report.write_budget_report(result)``. The
    cache key is a digest of the model's weights, the test data, the profile's
    values, the time since programming, the settings and the code
    (``BudgetConfig.evaluation_key``); an output folder with other content is
    refused (``cache.claim_folder``). With ``max_repeats > repeats``, when the
    search leaves grid points undecided that more chips would decide, it is run
    again, once, with the chips they need (at most ``max_repeats``).
    """
    t0 = time.perf_counter()
    setup = _evaluator(config, model, model_info, progress, data)
    profile, model_info, ds, available, evaluator, net = (
        setup.profile, setup.model_info, setup.ds, setup.available, setup.evaluator, setup.net)
    lo, hi = config.noise_range
    _, j_lo, j_hi = grid_range(lo, hi, config.rel_tol)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        per_k = 4 + math.ceil(math.log2(j_hi - j_lo + 1))
        v_min, v_max = voltage_range(profile)
        per_v = 2 + math.ceil(math.log2(max((v_max - v_min) / config.voltage_tol, 1.0)))
        bar = tqdm(total=2 + len(config.votes) * (per_k + per_v), desc=f"budget {profile.name}", unit="eval",
                   dynamic_ncols=True)

    def step(k=None, s=None, iv=None, unit="s"):
        if bar is not None:
            bar.update(1)
            if k is not None:
                bar.set_postfix({"K": k, unit: f"{s:.3g}", "acc": f"{iv.mean:.3f}"})

    def search():
        noiseless = evaluator.estimate(0.0, 1)
        reference = noiseless.mean if config.reference == "mapped" else digital.mean
        target = (config.target_accuracy if config.target_accuracy is not None
                  else reference - config.max_drop)
        step()
        nominal = {k: evaluator.estimate(1.0, k) for k in reversed(config.votes)}  # K_max first
        step()
        thresholds = noise_budget(evaluator.estimate, config.votes, target, lo, hi, config.rel_tol,
                                  config.max_evaluations, on_step=step)
        res = resolution(target, max(reference - target, 0.0), evaluator.n, available, evaluator.repeats,
                         config.confidence, evaluator.evaluated(), thresholds)
        return noiseless, reference, target, dict(sorted(nominal.items())), thresholds, res

    with contextlib.ExitStack() as stack:
        stack.callback(lambda: bar is not None and bar.close())
        stack.enter_context(limit_threads(config.threads))
        digital = evaluator.digital_interval()
        noiseless, reference, target, nominal, thresholds, res = search()
        need = res.chips_needed
        if not res.resolved and need is not None and evaluator.repeats < need <= config.max_repeats:
            evaluator.repeats = need  # the chips the measured spread needs; chips 0.. are reused
            noiseless, reference, target, nominal, thresholds, res = search()
        points, optimum, voltage_accuracy = _voltage_search(
            setup, config, target, lambda k, v, iv: step(k, v, iv, unit="V"))
        if bar is not None:  # the total was an estimate: end the bar at the steps taken
            bar.total = bar.n
            bar.refresh()
    return BudgetResult(
        config=config, profile=profile.name, model=model_info,
        data={"name": ds.name, "source": ds.source, "n_test": len(ds.y), "n_available": available},
        digital=digital, noiseless=noiseless, nominal=nominal, reference_accuracy=reference,
        target=float(target), thresholds=thresholds, resolution=res, network=net,
        points=points, optimum=optimum, voltage_accuracy=voltage_accuracy,
        evaluations=tuple(evaluator.evaluated()), v0=profile.v_read,
        elapsed_s=time.perf_counter() - t0, forward_rows=sum(e.forward_rows for e in setup.evaluators),
    )
