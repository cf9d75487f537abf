"""Run an attack configuration: train, attack, evaluate, report; resumable.

Steps (each finished part is written atomically as it is done, and skipped
when the run is repeated; see :mod:`crossbar.attacks.store`):

1. Adversarially train NN_adv and NN_val (half natural, half adversarial
   minibatches, sigma_train = 0), each from its own seed; a checkpoint per
   epoch.
2. Black-box examples: PGD with restarts on NN_adv (noiseless), one part per
   chunk of ``attack_batch_size`` test inputs.
3. Noisy evaluation of NN_val at every sigma_val, ``runs`` runs each, on the
   natural inputs and on the black-box examples (Table 11).
4. White-box check: for every sigma_val, PGD against NN_val itself with that
   inference noise, gradients averaged over ``eot_samples`` noise draws (EOT),
   on the first ``whitebox.limit`` inputs, then evaluated at that sigma_val.
5. ``report.md`` and ``report.json``.

Everything runs under ``crossbar.threads.limit_threads(threads)``; every
random number comes from ``derive(seed, ...)``, so a run interrupted at any
point and started again ends with the same parts and report as an
uninterrupted one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from crossbar.identity import data_identity
from crossbar.nn import set_noise
from crossbar.seeds import Stream, derive, sigma_key
from crossbar.threads import limit_threads
from crossbar.training.inputs import num_classes

from .adversarial import adversarial_train
from .config import AttackConfig, build_network, load_split, model_identity
from .pgd import AttackParams, pgd
from .store import PartStore, tensor_digest, weights_digest
from .transfer import eval_seed, evaluate_noisy, paired_gain, wilson

ROLES = ("nn_adv", "nn_val")
SETS = ("natural", "blackbox", "whitebox")  # index = the input-set word of Stream.ATTACK_EVAL


@dataclass(frozen=True)
class AttackResult:
    """A finished run: its folder, configuration, summary (report.json) and report files."""

    out: Path
    config: AttackConfig
    summary: dict[str, Any]
    files: tuple[Path, ...]


def run_attack(config: AttackConfig, *, out: str | Path | None = None, progress: bool = True,
               on_part: Callable[[str], None] | None = None) -> AttackResult:
    """Run (or finish) ``config``; ``out`` overrides its folder. ``on_part(name)``
    is called after each part is written (and after each network is ready)."""
    from .report import write_report

    cfg = config.replace(out=str(out)) if out is not None else config
    with limit_threads(cfg.threads):
        inputs = _inputs(cfg)
    store = PartStore(cfg.out, cfg.hash(), cfg.to_dict(), inputs.identity)
    store.lock()
    try:
        with limit_threads(cfg.threads):
            summary = _run(cfg, inputs, store, progress, on_part or (lambda name: None))
    finally:
        store.unlock()
    files = write_report(cfg, summary, store.out)
    return AttackResult(out=store.out, config=cfg, summary=summary, files=tuple(files))


@dataclass(frozen=True)
class _Inputs:
    """A run's data and untrained networks, and what identifies them beyond the config."""

    train: Any
    test: Any
    nets: dict[str, nn.Module]
    identity: dict[str, Any]


def _inputs(cfg: AttackConfig) -> _Inputs:
    """Load the data and build both networks (``crossbar.models.resolve`` for a user's one);
    the identity holds the data digests and each user's network's name, arguments and
    source digest, so a changed file or factory never reuses stored parts."""
    train_ds = load_split(cfg, "train", cfg.limit_train)
    test_ds = load_split(cfg, "test", cfg.limit_test)
    nets, ident = {}, {"train_data": data_identity(train_ds)["digest"],
                       "test_data": data_identity(test_ds)["digest"]}
    for role, key in enumerate(ROLES):
        spec = getattr(cfg, key)
        seed = derive(cfg.seed, Stream.ATTACK_MODEL, role)
        nets[key] = build_network(spec, train_ds.x[:2], num_classes(train_ds), seed, cfg.data)
        ident[key] = model_identity(nets[key])
    return _Inputs(train_ds, test_ds, nets, ident)


def _bar(enabled: bool, total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="part", disable=not enabled, dynamic_ncols=True)


def _examples(store: PartStore, cfg: AttackConfig, model, x, y, *, part: str, params: AttackParams,
              words: tuple[int, ...], key: dict, eot: int, progress: bool, on_part) -> torch.Tensor:
    """Adversarial examples of (x, y) against ``model``, one stored part per chunk
    (chunk i attacked with seed ``derive(cfg.seed, *words, i)``)."""
    bs, chunks = cfg.attack_batch_size, []
    n_chunks = math.ceil(len(y) / bs)
    with _bar(progress, n_chunks, part) as bar:
        for i in range(n_chunks):
            xb, yb = x[i * bs : (i + 1) * bs], y[i * bs : (i + 1) * bs]
            name, s = f"{part}-{i:04d}", derive(cfg.seed, *words, i)
            k = {**key, "part": part, "attack": params.to_dict(), "eot_samples": eot, "seed": s,
                 "inputs": tensor_digest(xb, yb), "torch_device": cfg.torch_device}
            got = store.get_tensors(name, k)
            if got is None:
                xa = pgd(model, xb.to(cfg.torch_device), yb.to(cfg.torch_device), params, seed=s,
                         eot_samples=eot).cpu()
                store.put_tensors(name, k, {"x_adv": xa})
                on_part(name)
            else:
                xa = got["x_adv"]
            chunks.append(xa)
            bar.update(1)
    return torch.cat(chunks)


CALIBRATION_INPUTS = 32
"""Training inputs on which each chip of a calibrated-range profile sets its ADC ranges (as budgets)."""


def _evaluate(store: PartStore, cfg: AttackConfig, model, digest: str, set_name: str, x, y,
              sigma: float, on_part, calibration: torch.Tensor | None) -> dict[str, Any]:
    """One noisy evaluation part: NN_val on one input set at one sigma_val (a device
    profile's chips calibrated on ``calibration``, training inputs)."""
    seed = eval_seed(cfg.seed, SETS.index(set_name), sigma)
    key = {"part": "eval", "set": set_name, "sigma_val": sigma, "nn_val": digest,
           "inputs": tensor_digest(x, y), "seed": seed, "noise": cfg.noise, "profile": cfg.profile,
           "runs": cfg.runs, "votes": cfg.votes, "vote_rule": cfg.vote_rule,
           "eval_batch_size": cfg.eval_batch_size, "draws_per_pass": cfg.draws_per_pass,
           "torch_device": cfg.torch_device,
           "calibration": None if cfg.profile is None else tensor_digest(calibration)}
    name = f"eval-{set_name}-{sigma!r}"
    rec = store.get_json(name, key)
    if rec is None:
        rec = evaluate_noisy(model, x, y, sigma, seed=seed, noise=cfg.noise, runs=cfg.runs,
                             votes=cfg.votes, vote_rule=cfg.vote_rule, profile=cfg.profile,
                             batch_size=cfg.eval_batch_size, draws_per_pass=cfg.draws_per_pass,
                             device=cfg.torch_device,
                             calibration=None if cfg.profile is None else calibration)
        store.put_json(name, key, rec)
        on_part(name)
    return rec


@torch.no_grad()
def _accuracy(model, x, y, device: str) -> dict[str, Any]:
    set_noise(model, sigma_val=0.0)
    hits = sum(int((model(x[i : i + 500].to(device)).argmax(1).cpu() == y[i : i + 500]).sum())
               for i in range(0, len(y), 500))
    return {"mean": hits / len(y), "wilson": list(wilson(hits, len(y)))}


def _run(cfg: AttackConfig, inputs: _Inputs, store: PartStore, progress: bool,
         on_part) -> dict[str, Any]:
    dev = cfg.torch_device
    train_ds, test_ds = inputs.train, inputs.test
    x, y = test_ds.x, test_ds.y
    nets, models = {}, {}
    for role, key in enumerate(ROLES):
        spec = getattr(cfg, key)
        seed = derive(cfg.seed, Stream.ATTACK_MODEL, role)
        net, history = adversarial_train(
            inputs.nets[key],
            train_ds, attack=cfg.train_attack, epochs=spec.epochs, seed=seed, test_data=test_ds,
            data_name=cfg.data, batch_size=spec.batch_size, lr=spec.lr,
            checkpoint=store.out / "models" / f"{key}.pt", device=dev, progress=progress)
        on_part(f"models/{key}")
        nets[key] = net
        h = history.to_dict()
        models[key] = {"model": spec.model, "epochs": spec.epochs, "weights_sha256": weights_digest(net),
                       "history": {k: h[k] for k in ("epoch", "train_loss", "train_acc", "test_acc")}}
    adv, val = nets["nn_adv"], nets["nn_val"]
    d_adv, d_val = models["nn_adv"]["weights_sha256"], models["nn_val"]["weights_sha256"]

    x_bb = _examples(store, cfg, adv, x, y, part="blackbox", params=cfg.attack,
                     words=(Stream.ATTACK_BLACKBOX,), key={"nn_adv": d_adv}, eot=1,
                     progress=progress, on_part=on_part)
    summary: dict[str, Any] = {
        "n": len(y),
        "models": models,
        "nn_adv": {"natural": _accuracy(adv, x, y, dev), "own_examples": _accuracy(adv, x_bb, y, dev)},
        "linf_max": float((x_bb.double() - x.double()).abs().max()) if len(y) else 0.0,
    }
    rows: dict[str, list[dict[str, Any]]] = {"natural": [], "blackbox": [], "whitebox": []}
    calib = train_ds.x[:CALIBRATION_INPUTS]
    with _bar(progress, 2 * len(cfg.sigma_val), "noisy evaluation") as bar:
        for set_name, xs in (("natural", x), ("blackbox", x_bb)):
            for s in cfg.sigma_val:
                rows[set_name].append(_evaluate(store, cfg, val, d_val, set_name, xs, y, s, on_part,
                                                 calib))
                bar.update(1)
    wb = cfg.whitebox
    if wb is not None:
        m = min(wb.limit or len(y), len(y))
        for s in cfg.sigma_val:
            set_noise(val, kind=cfg.noise, sigma_val=s)
            eot = wb.eot_samples if s > 0 else 1  # without noise every sample is the same
            x_wb = _examples(store, cfg, val, x[:m], y[:m], part=f"whitebox-{s!r}", params=wb.attack,
                             words=(Stream.ATTACK_WHITEBOX, sigma_key(s)),
                             key={"nn_val": d_val, "sigma_val": s, "noise": cfg.noise}, eot=eot,
                             progress=progress, on_part=on_part)
            rows["whitebox"].append(_evaluate(store, cfg, val, d_val, "whitebox", x_wb, y[:m], s, on_part,
                                              calib))
        summary["whitebox_n"] = m
    summary.update(_tables(cfg, rows, summary.get("whitebox_n")))
    return summary


def _tables(cfg: AttackConfig, rows: dict[str, list], m: int | None) -> dict[str, Any]:
    """Rows without per-input counts, plus paired gains against the smallest sigma_val
    and the black-box accuracy on the white-box inputs."""
    def slim(r: dict) -> dict:
        return {k: v for k, v in r.items() if k != "correct"}

    out: dict[str, Any] = {"reference_sigma_val": cfg.sigma_val[0]}
    bb = rows["blackbox"]
    out["blackbox"] = [{**slim(r), "gain": paired_gain(r, bb[0])} for r in bb]
    out["natural"] = [{**slim(r), "gain": paired_gain(r, rows["natural"][0])} for r in rows["natural"]]
    if m is not None:
        wrows = []
        for w, b in zip(rows["whitebox"], bb, strict=True):
            hits = sum(b["correct"][:m]) / b["runs"]
            same = {"mean": hits / m, "wilson": list(wilson(hits, m))}
            wrows.append({**slim(w), "blackbox_same_inputs": same})
        out["whitebox"] = wrows
    return out
