"""Hardening runs: QAT with a constant scale vs noisy training vs both, under global noise.

``run_harden(load_harden_config("harden.yaml"))`` trains, for every network
and repeat,

* ``float``: clean training, no quantisation;
* ``qat`` (per bit width b): quantization-aware training (:mod:`crossbar.walk.qat`);
* ``noisy`` (per sigma of the grid): training with global noise of that sigma
  (every position of :func:`crossbar.walk.noise.place_noise` noisy);
* ``qat+noisy`` (per b and sigma): both;

and measures the test accuracy under global inference noise: the clean-trained
networks (float, qat) at every sigma of the grid, the noisy-trained ones at
their own sigma (the papers' protocol). Float and QAT networks are also
mapped onto crossbar arrays (``crossbar.nn.convert``) of each profile with
continuous conductances and with ``2^(b-1)`` levels per device, the levels a
b-bit weight needs on a differential pair. One record per trained network,
appended as soon as it is done; a rerun skips them.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from torch import nn
from tqdm.auto import tqdm

from crossbar.seeds import Stream, derive
from crossbar.threads import limit_threads
from crossbar.training import evaluate

from .config import METHODS, HardenConfig, ModelSpec, QatSpec
from .fit import clean_json, discard, fit, noisy_accuracy
from .lookup import data_identity, load_data, make_model, model_identity
from .noise import WalkNet, WalkNoise, place_noise, set_global
from .qat import device_levels, quantize
from .run import sigma_word
from .store import RunStore, qat_key, task_key

__all__ = ["HardenResult", "crossbar_accuracy", "fan_in_rows", "run_harden", "tasks"]


@dataclass
class HardenResult:
    config: HardenConfig
    out: Path
    records: list[dict[str, Any]]
    files: list[Path]


def tasks(cfg: HardenConfig) -> list[tuple[str, QatSpec | None, float]]:
    """(method, QAT setting, training sigma) of every network trained per model and repeat."""
    out: list[tuple[str, QatSpec | None, float]] = []
    for method in cfg.methods:
        qats = cfg.qat if "qat" in method else (None,)
        sigmas = cfg.grid.values if "noisy" in method else (0.0,)
        out += [(method, q, s) for q in qats for s in sigmas]
    return out


def fan_in_rows(net: nn.Module) -> int:
    """Smallest power of two >= the largest fan-in of a Linear/Conv2d: a tile height that keeps
    every output column in one tile, so its scale is the channel's max-abs scale."""
    fan = max(m.in_features if isinstance(m, nn.Linear) else m.in_channels * math.prod(m.kernel_size)
              for m in net.modules() if isinstance(m, (nn.Linear, nn.Conv2d)))
    return 1 << (fan - 1).bit_length()


def crossbar_accuracy(net: WalkNet, profile: str, levels: int | None, tile_rows: int | None, seed: int,
                      test_ds: Any, calibration: Any = None) -> float:
    """Accuracy of ``net`` (noise sites off) mapped onto arrays of ``profile`` with ``levels``
    conductance levels per device (None: continuous) and tiles of ``tile_rows`` rows (None:
    the profile's own); a profile with calibrated ADC ranges is calibrated on ``calibration``
    (training inputs, as a chip calibrates on data it sees, never on the test set)."""
    from crossbar.devices import load
    from crossbar.nn import convert

    prof = load(profile).with_overrides(levels=levels)
    if tile_rows is not None:
        prof = prof.with_overrides(tile_rows=tile_rows)
    plain = copy.deepcopy(net)
    set_global(plain, None)
    return evaluate(convert(plain, prof, seed=seed, calibration=calibration), test_ds)


class _Harden:
    def __init__(self, cfg: HardenConfig, store: RunStore, data: tuple[Any, Any], example: Any,
                 classes: int) -> None:
        self.cfg, self.store = cfg, store
        self.train_ds, self.test_ds = data
        self.example, self.classes = example, classes
        from crossbar.experiments.budget.run import CALIBRATION_INPUTS  # the budgets' calibration batch

        self.calibration = self.train_ds.x[:CALIBRATION_INPUTS]
        limit = cfg.crossbar.limit_test if cfg.crossbar else None
        self.cb_test = self.test_ds if limit is None else SimpleNamespace(
            x=self.test_ds.x[:limit], y=self.test_ds.y[:limit])

    def build(self, mi: int, spec: ModelSpec, r: int, q: QatSpec | None) -> WalkNet:
        seed = derive(self.cfg.seed, Stream.HARDEN_INIT, mi, r)
        net = make_model(spec.model, spec.kwargs, self.train_ds, self.classes, seed)
        if q is not None:
            quantize(net, q.bits, q.act_step)
        return place_noise(net, self.example)

    def noise(self, sigma: float, training: bool) -> WalkNoise:
        return WalkNoise(self.cfg.kind, sigma, self.cfg.ratio, training=training, inference=True)

    def one(self, mi: int, spec: ModelSpec, r: int, method: str, q: QatSpec | None, s_train: float) -> None:
        cfg = self.cfg
        key = task_key("model", spec.label, method, qat_key(q), s_train, r)
        if self.store.get(key) is not None:
            return
        net = self.build(mi, spec, r, q)
        if s_train > 0:
            set_global(net, self.noise(s_train, training=True))
        ckpt = self.store.model_path(key, ".pt")
        net, rec = fit(net, cfg, self.train_ds, self.test_ds,
                       seed=derive(cfg.seed, Stream.HARDEN_TRAIN, mi, r),
                       checkpoint=ckpt, dynamics=False)
        set_global(net, None)
        record: dict[str, Any] = {"type": "model", "label": spec.label, "method": method, "qat": qat_key(q),
                                  "train_sigma": s_train, "repeat": r, "clean": evaluate(net, self.test_ds),
                                  "noisy": {}, "crossbar": [], **rec}
        m_i = METHODS.index(method)
        q_words = (0, 0) if q is None else (q.bits, sigma_word(q.act_step))
        for s in (cfg.grid.values if s_train == 0 else (s_train,)):
            set_global(net, self.noise(s, training=False))
            seed = derive(cfg.seed, Stream.HARDEN_EVAL, mi, m_i, *q_words, sigma_word(s_train),
                          sigma_word(s), r)
            record["noisy"][repr(s)] = noisy_accuracy(net, self.test_ds, seed, cfg.eval_draws)
        set_global(net, None)
        if cfg.crossbar is not None and s_train == 0:
            bits = [q.bits] if q else sorted({x.bits for x in cfg.qat})
            levels = [device_levels(b) for b in bits] + [None]
            for p_i, profile in enumerate(cfg.crossbar.profiles):
                rows = cfg.crossbar.rows_for(profile)
                tile_rows = fan_in_rows(net) if rows == "fan-in" else rows
                for lv in levels:
                    seed = derive(cfg.seed, Stream.HARDEN_PROGRAM, mi, m_i, *q_words, p_i, lv or 0, r)
                    record["crossbar"].append({
                        "profile": profile, "levels": lv, "tile_rows": tile_rows,
                        "accuracy": crossbar_accuracy(net, profile, lv, tile_rows, seed, self.cb_test,
                                                      self.calibration)})
        self.store.put(key, clean_json(record))
        if not cfg.keep_models:
            discard(ckpt)

    def run(self, progress: bool) -> None:
        todo = [(mi, spec, r, *t) for mi, spec in enumerate(self.cfg.models) for r in range(self.cfg.repeats)
                for t in tasks(self.cfg)]
        bar = tqdm(total=len(todo), desc="harden", unit="net", disable=not progress, dynamic_ncols=True)
        with bar:
            for mi, spec, r, method, q, s in todo:
                bar.set_postfix_str(f"{spec.label} {method}{'' if q is None else f' ({q.name})'} "
                                    f"sigma {s:g} repeat {r}")
                self.one(mi, spec, r, method, q, s)
                bar.update(1)


def run_harden(config: HardenConfig, *, out: str | Path | None = None, progress: bool = True,
               report: bool = True, plots: bool = True) -> HardenResult:
    """Run (or resume) a hardening comparison; see the module doc."""
    out = Path(out if out is not None else config.out)
    with limit_threads(config.threads):
        train_ds, test_ds = load_data(config)
        classes = int(getattr(train_ds, "classes", 0) or int(train_ds.y.max()) + 1)
        runner = _Harden(config, None, (train_ds, test_ds), train_ds.x[:2], classes)
        models = {}
        for mi, spec in enumerate(config.models):
            probe = runner.build(mi, spec, 0, None)
            models[spec.label] = model_identity(spec.model, spec.kwargs, probe) | {
                "positions": len(probe.positions)}
        identity = {"config": config.identity(), "models": models, "data": data_identity(train_ds, test_ds),
                    "chance": 1.0 / classes, "adc_calibration_inputs": len(runner.calibration)}
        runner.store = store = RunStore(out, "harden", identity)
        store.lock()
        try:
            runner.run(progress)
        finally:
            store.unlock()
    files: list[Path] = []
    if report:
        from .harden_report import write_harden_report

        files = write_harden_report(out, plots=plots)
    return HardenResult(config, out, store.records(), files)
