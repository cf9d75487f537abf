"""Walking Noise runs: noise at one position at a time, midpoints, learning dynamics.

``run_walk(load_walk_config("walk.yaml"))``:

1. trains one clean network per repeat (its accuracy sets the half level);
2. for every mode, noise kind, position and repeat, evaluates the accuracy
   on the kind's log grid and bisects for the midpoint
   (:func:`crossbar.walk.midpoint.find_midpoint`): in mode ``inference`` the
   clean network with noise at that position in eval only; in mode
   ``training`` a network trained with that noise and tested with the same
   noise (one network per point, with per-epoch weight statistics);
3. writes the report (:func:`crossbar.walk.report.write_walk_report`).

Every evaluated point is a record of the results store, appended as soon as
it is done; a rerun skips them and ends with the same results.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from crossbar.seeds import Stream, derive
from crossbar.threads import limit_threads
from crossbar.training import evaluate

from .config import MODES, ConfigError, WalkConfig
from .fit import discard, fit, noisy_accuracy
from .lookup import data_identity, load_data, make_model, model_identity
from .midpoint import find_midpoint
from .noise import WALK_KINDS, WalkNet, WalkNoise, place_noise, set_walk
from .store import RunStore, task_key

__all__ = ["WalkResult", "run_walk", "sigma_word"]


def sigma_word(sigma: float) -> int:
    """A noise level as a seed word: the bits of its IEEE double (distinct for distinct sigmas)."""
    return struct.unpack("<Q", struct.pack("<d", float(sigma)))[0]


@dataclass
class WalkResult:
    config: WalkConfig
    out: Path
    positions: list[dict[str, Any]]
    records: list[dict[str, Any]]
    files: list[Path]


class _Walk:
    def __init__(self, cfg: WalkConfig, store: RunStore, build: Callable[[int], WalkNet],
                 train_ds: Any, test_ds: Any, chance: float, positions: list[int]) -> None:
        self.cfg, self.store, self.build = cfg, store, build
        self.train_ds, self.test_ds, self.chance = train_ds, test_ds, chance
        self.positions = positions
        self.clean: dict[int, WalkNet] = {}
        self.bar = None

    def _seed(self, stream: Stream, r: int, *words: int) -> int:
        return derive(self.cfg.seed, stream, r, *words)

    def clean_net(self, r: int) -> tuple[WalkNet, float]:
        key = task_key("clean", r)
        net = self.build(r)
        ckpt = self.store.model_path(key, ".pt")
        net, rec = fit(net, self.cfg, self.train_ds, self.test_ds, seed=self._seed(Stream.WALK_TRAIN, r),
                       checkpoint=ckpt, dynamics=True)
        done = self.store.get(key)
        if done is None:
            set_walk(net, None, None)
            done = self.store.put(key, {"type": "clean", "repeat": r, "accuracy": evaluate(net, self.test_ds),
                                        **rec})
        self.clean[r] = net
        return net, done["accuracy"]

    def point(self, mode: str, kind: str, position: int, r: int, sigma: float) -> float:
        key = task_key("point", mode, kind, position, sigma, r)
        done = self.store.get(key)
        if done is None:
            noise = WalkNoise(kind, sigma, self.cfg.ratio, training=mode == "training", inference=True)
            eval_seed = self._seed(Stream.WALK_EVAL, r, MODES.index(mode), WALK_KINDS.index(kind), position,
                                   sigma_word(sigma))
            record = {"type": "point", "mode": mode, "kind": kind, "position": position, "sigma": sigma,
                      "repeat": r}
            if mode == "inference":
                net = self.clean[r]
                set_walk(net, position, noise)
                acc = noisy_accuracy(net, self.test_ds, eval_seed, self.cfg.eval_draws)
                set_walk(net, None, None)
            else:
                ckpt = self.store.model_path(key, ".pt")
                net = self.build(r)
                set_walk(net, position, noise)
                net, rec = fit(net, self.cfg, self.train_ds, self.test_ds,
                               seed=self._seed(Stream.WALK_TRAIN, r), checkpoint=ckpt, dynamics=True)
                acc = noisy_accuracy(net, self.test_ds, eval_seed, self.cfg.eval_draws)
                record.update(rec)
            done = self.store.put(key, {**record, "accuracy": acc})
            if mode == "training" and not self.cfg.keep_models:
                discard(self.store.model_path(key, ".pt"))
        if self.bar is not None:
            self.bar.update(1)
        return done["accuracy"]

    def run(self, progress: bool) -> None:
        cfg = self.cfg
        levels = {}
        for r in range(cfg.repeats):
            _, acc = self.clean_net(r)
            levels[r] = (acc + self.chance) / 2
        curves = [(m, k, p, r) for m in cfg.modes for k in cfg.kinds for p in self.positions
                  for r in range(cfg.repeats)]
        total = sum(len(cfg.grid_for(m, k)) + cfg.bisect for m, k, _, _ in curves)
        self.bar = tqdm(total=total, desc="walk", unit="point", disable=not progress, dynamic_ncols=True)
        try:
            for mode, kind, pos, r in curves:
                self.bar.set_postfix_str(f"{mode} {kind} position {pos} repeat {r}")
                before = self.bar.n
                find_midpoint(lambda s, m=mode, k=kind, p=pos, r=r: self.point(m, k, p, r, s),
                              cfg.grid_for(mode, kind), levels[r], cfg.bisect)
                # a censored curve or a short bisection takes fewer points than budgeted
                self.bar.update(len(cfg.grid_for(mode, kind)) + cfg.bisect - (self.bar.n - before))
        finally:
            self.bar.close()
            self.bar = None


def run_walk(config: WalkConfig, *, out: str | Path | None = None, progress: bool = True,
             report: bool = True, plots: bool = True) -> WalkResult:
    """Run (or resume) a Walking Noise experiment; see the module doc."""
    out = Path(out if out is not None else config.out)
    with limit_threads(config.threads):
        train_ds, test_ds = load_data(config)
        classes = int(getattr(train_ds, "classes", 0) or int(train_ds.y.max()) + 1)
        example = train_ds.x[:2]

        def build(r: int) -> WalkNet:
            seed = derive(config.seed, Stream.WALK_INIT, r)
            net = make_model(config.model, config.model_kwargs, train_ds, classes, seed)
            return place_noise(net, example)

        probe = build(0)
        n = len(probe.positions)
        positions = list(config.positions or range(n))
        if positions[-1] >= n:
            raise ConfigError("positions", "out of range", list(config.positions),
                              f"'all' or indices 0..{n - 1} ({config.model} has {n} positions: "
                              f"{', '.join(p.label for p in probe.positions)})")
        chance = config.chance if config.chance is not None else 1.0 / classes
        identity = {
            "config": config.identity(),
            "model": model_identity(config.model, config.model_kwargs, probe),
            "data": data_identity(train_ds, test_ds),
            "positions": [asdict(p) for p in probe.positions],
            "chance": chance,
        }
        store = RunStore(out, "walk", identity)
        store.lock()
        try:
            _Walk(config, store, build, train_ds, test_ds, chance, positions).run(progress)
        finally:
            store.unlock()
    files: list[Path] = []
    if report:
        from .report import write_walk_report

        files = write_walk_report(out, plots=plots)
    return WalkResult(config, out, [asdict(p) for p in probe.positions], store.records(), files)
