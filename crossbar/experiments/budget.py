"""Noise budgets: the largest device noise a trained network tolerates, with and without voting.

For a trained model, a test subset, a device profile and a target accuracy
(by default 1 point below the mapped network's accuracy without read noise),
:func:`run_budget` finds by bisection (:func:`noise_budget`), for K = 1 and
every K of ``votes``, the largest noise scale s at which the K-vote accuracy
(:class:`crossbar.experiments.accuracy.AccuracyEvaluator`) still meets the
target (Qin & Vucinic, Section 3.3). It then prices every K with the cost
model (``crossbar.cost``): latency of the three voting schedules, energy and
area per inference, and the energy-optimal pair (read voltage V, votes K)
under the assumption that the read noise relative to the signal grows as
(V0 / V)^alpha, i.e. a noise scale s is reached at V = V0 / s^(1/alpha).

The search returns a :class:`BudgetResult` and writes only its resume cache;
``crossbar.report.write_budget_report`` writes report.md, report.json and the
figures (the CLI calls it). See docs/budget.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from crossbar.cost import NetworkCost, ThresholdResult, find_threshold
from crossbar.cost.optimum import OperatingPoint, energy_optimum, pareto_front, price_evaluations
from crossbar.threads import limit_threads

from .accuracy import AccuracyEvaluator
from .budget_cache import cache_path, claim_folder, read_cache, write_cache
from .budget_config import BudgetConfig
from .noise_scale import scale_key

__all__ = ["BudgetResult", "Threshold", "noise_budget", "obtain_model", "run_budget"]


# =====================================================================================
# bisection per K


@dataclass(frozen=True)
class Threshold:
    """The largest tolerable noise scale for K votes.

    ``scale``: largest s found with accuracy >= target (NaN if none);
    ``status``: ``"bracketed"`` (between ``good`` and ``bad``, within the
    tolerance), ``"all"`` (even the top of the range meets the target: a lower
    bound) or ``"none"`` (not even the bottom does); ``evaluations``: (s, accuracy).
    """

    k: int
    scale: float
    status: str
    good: float
    bad: float
    target: float
    evaluations: tuple[tuple[float, float], ...]

    @classmethod
    def from_log2(cls, k: int, res: ThresholdResult, target: float) -> Threshold:
        def ex(t: float) -> float:
            return float("nan") if math.isnan(t) else scale_key(2.0**t)

        return cls(k=k, scale=ex(res.x), status=res.status, good=ex(res.good), bad=ex(res.bad),
                   target=target, evaluations=tuple((ex(t), a) for t, a in res.evaluations))

    @property
    def feasible(self) -> bool:
        return self.status != "none"

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["evaluations"] = [list(e) for e in self.evaluations]
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}


def noise_budget(accuracy: Callable[[float, int], float], votes: Iterable[int], target: float,
                 lo: float, hi: float, rel_tol: float = 0.1, max_evaluations: int = 40,
                 on_step: Callable[[int, float, float], None] | None = None) -> dict[int, Threshold]:
    """Largest noise scale with ``accuracy(s, K) >= target`` for each K, by bisection on log2 s.

    ``accuracy`` is any deterministic function (e.g. :meth:`AccuracyEvaluator.accuracy`);
    [lo, hi] the range of s searched; the search stops when the bracket is
    within a factor (1 + rel_tol). ``on_step(K, s, acc)`` is called after
    every evaluation (progress bars).
    """
    if not (0 < lo < hi):
        raise ValueError(f"need 0 < lo < hi, got {lo}, {hi}")
    out: dict[int, Threshold] = {}
    for k in sorted(set(int(v) for v in votes)):
        def f(t: float, k: int = k) -> float:
            s = scale_key(2.0**t)
            acc = accuracy(s, k)
            if on_step is not None:
                on_step(k, s, acc)
            return acc

        res = find_threshold(f, math.log2(lo), math.log2(hi), target, tol=math.log2(1.0 + rel_tol),
                             max_evaluations=max_evaluations)
        out[k] = Threshold.from_log2(k, res, target)
    return out



# =====================================================================================
# one budget run


@dataclass(frozen=True)
class BudgetResult:
    """Everything a budget run found; ``to_dict()`` is the report.json content."""

    config: BudgetConfig
    profile: str
    model: dict
    data: dict
    digital_accuracy: float
    reference_accuracy: float
    target: float
    noiseless_accuracy: float
    nominal_accuracy: dict[int, float]
    thresholds: dict[int, Threshold]
    network: NetworkCost
    points: tuple[OperatingPoint, ...]
    optimum: dict[str, OperatingPoint | None]
    evaluations: tuple[dict, ...]
    v0: float
    elapsed_s: float
    forward_rows: int

    def pareto(self, paper: bool = False) -> list[dict]:
        """Every evaluated (s, K) as an operating point: energy per inference at V(s), accuracy."""
        return price_evaluations(self.network, self.evaluations, self.v0, self.config.alpha, paper=paper)

    def to_dict(self) -> dict:
        front = pareto_front((p["energy"], p["accuracy"]) for p in self.pareto())
        return {
            "config": self.config.to_dict(),
            "profile": self.profile,
            "model": self.model,
            "data": self.data,
            "digital_accuracy": self.digital_accuracy,
            "reference": self.config.reference,
            "reference_accuracy": self.reference_accuracy,
            "target": self.target,
            "noiseless_accuracy": self.noiseless_accuracy,
            "nominal_accuracy": {str(k): v for k, v in self.nominal_accuracy.items()},
            "thresholds": {str(k): t.to_dict() for k, t in self.thresholds.items()},
            "network": self.network.to_dict(),
            "voltage_nominal": self.v0,
            "operating_points": [p.to_dict() for p in self.points],
            "optimum": {k: (None if p is None else p.to_dict()) for k, p in self.optimum.items()},
            "pareto_points": self.pareto(),
            "pareto_front": [{"energy": e, "accuracy": a} for e, a in front],
            "evaluations": list(self.evaluations),
            "elapsed_s": self.elapsed_s,
            "forward_rows": self.forward_rows,
        }


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
                  model_kwargs=t.model_kwargs or None, threads=None)
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


def run_budget(config: BudgetConfig, *, progress: bool = True,
               model: torch.nn.Module | None = None, model_info: dict | None = None,
               data=None) -> BudgetResult:
    """Run a noise budget: reference, bisection per K, costs, (V, K) optimum.

    ``model`` / ``model_info``: an already loaded (trained) network, any ``nn.Module``
    (``run_demo`` shares one between devices); otherwise :func:`obtain_model`.
    ``data``: test data instead of the config's (anything ``crossbar.data.resolve``
    takes; its test split is used). Every accuracy is
    saved to ``<out>/cache/evaluations-<profile>-<key>.json`` as soon as it is
    known, so an interrupted run resumes where it stopped. The report is
    written by ``crossbar.report.write_budget_report(result)``. The cache key is a
    digest of the model's weights, the test data, the profile's values, the
    settings and the code (``BudgetConfig.evaluation_key``); an output folder with
    other content is refused (``budget_cache.claim_folder``).
    """
    from crossbar.cost.mapping import network_cost_of
    from crossbar.data import load_split, resolve
    from crossbar.identity import data_identity
    from crossbar.training import model_digest
    from crossbar.training.checkpoint import nonfinite_entries

    t0 = time.perf_counter()
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
    ds = (load_split(config.data, "test", root=config.data_root, limit=config.test_limit)
          if data is None else resolve(data)[1].subset(config.test_limit))
    key = config.evaluation_key(model_info["digest"], data_identity(ds)["digest"], profile)
    cache_file = cache_path(out, profile.name, key)
    cache = read_cache(cache_file, key)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        lo, hi = config.noise_range
        per_k = 2 + math.ceil(math.log2(max(math.log2(hi / lo) / math.log2(1 + config.rel_tol), 1.0)))
        bar = tqdm(total=2 + len(config.votes) * (per_k + 1), desc=f"budget {profile.name}",
                   unit="eval", dynamic_ncols=True)

    def saved(s, k, acc, per):
        write_cache(cache_file, key, evaluator.cache)

    evaluator = AccuracyEvaluator(
        model, ds.x, ds.y, profile, scale=config.scale, votes=config.votes, repeats=config.repeats,
        seed=config.seed, batch_rows=config.batch_rows, layer_overrides=config.layer_overrides,
        threads=config.threads, cache=cache, on_result=saved,
    )

    def step(k=None, s=None, acc=None):
        if bar is not None:
            bar.update(1)
            if k is not None:
                bar.set_postfix(K=k, s=f"{s:.3g}", acc=f"{acc:.3f}")

    with contextlib.ExitStack() as stack:
        stack.callback(lambda: bar is not None and bar.close())
        stack.enter_context(limit_threads(config.threads))
        digital = evaluator.digital_accuracy()
        noiseless = evaluator.accuracy(0.0, 1)
        reference = noiseless if config.reference == "mapped" else digital
        target = config.target_accuracy if config.target_accuracy is not None else reference - config.max_drop
        step()
        nominal = {}
        for k in reversed(config.votes):  # the largest K computes every draw at s = 1 once
            nominal[k] = evaluator.accuracy(1.0, k)
        nominal = dict(sorted(nominal.items()))
        step()
        lo, hi = config.noise_range
        thresholds = noise_budget(evaluator.accuracy, config.votes, target, lo, hi, config.rel_tol,
                                  config.max_evaluations, on_step=step)
        # cost at the nominal profile (V0 = v_read), input activity measured on up to 32 test images
        activity = None if config.activity == "measured" else config.activity
        net = network_cost_of(evaluator.chip(1.0, 0), ds.x[: min(len(ds.y), 32)], activity=activity,
                              replication=config.replication)
        if bar is not None:  # the total was an estimate: end the bar at the steps taken
            bar.total = bar.n
            bar.refresh()
    points, optimum = energy_optimum(net, thresholds, profile.v_read, config.alpha)
    result = BudgetResult(
        config=config, profile=profile.name, model=model_info,
        data={"name": ds.name, "source": ds.source, "n_test": len(ds.y)},
        digital_accuracy=digital, reference_accuracy=reference, target=float(target),
        noiseless_accuracy=noiseless,
        nominal_accuracy=nominal, thresholds=thresholds, network=net, points=tuple(points),
        optimum=optimum, evaluations=tuple(evaluator.evaluated()), v0=profile.v_read,
        elapsed_s=time.perf_counter() - t0, forward_rows=evaluator.forward_rows,
    )
    return result
