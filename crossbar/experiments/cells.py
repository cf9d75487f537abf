"""The units of work of a sweep: training one model, evaluating one cell.

Both are plain top-level functions of a frozen task object, so the same call
runs in this process, in a spawned worker process or on a Dask worker, and
returns the same JSON-able dict wherever it runs. Neither touches torch's
thread count: the runner sets it (1 per worker) so every worker computes with
the same kernels.

A cell is one (sigma_train, sigma_val) pair. Its noise source is either the
Gaussian noise layers of the network (kind "mult" / "add", sigma_val their
inference std) or a device profile (sigma_val a scale on the profile's
programming and read noise, the network mapped onto crossbar arrays).

Identity: a task carries what its result must be made of (``tasks.sweep_identity``:
the code, the profile's contents, the test data, a user's network; and the
model's weights digest). The worker checks each against what it actually
loads and refuses to compute a cell from anything else (another code version
on a Dask worker, a profile, test set or network source edited while the
sweep runs, a replaced checkpoint).

A user's network named ``package.module:factory`` (or data ``package.module:loader``)
is imported by every worker by that path; a worker that cannot import it fails
with ``tasks.WorkerImportError`` naming the worker. A network or data passed in
Python (``tasks.Inputs``) travels with every task instead.
"""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crossbar.identity import code_identity, profile_digest
from crossbar.seeds import Stream, cell_key, derive

from .config import SweepConfig
from .tasks import (
    CellTask,
    IdentityMismatchError,
    Inputs,
    TrainTask,
    WorkerImportError,
    build_model,
    expect,
    expect_model,
    imported,
    sweep_identity,
    test_digest,
    test_set,
)
from .voting import RULES, noisy_probs, vote_curve

__all__ = ["FRESH", "REPLICATED", "REREAD", "CellTask", "IdentityMismatchError", "Inputs", "TrainTask",
           "WorkerImportError", "build_model", "checkpoint_path", "device_draws", "evaluate_cell",
           "gaussian_draws", "run_training", "snr_db", "summarise", "sweep_identity"]

# Vote meanings. Gaussian noise layers draw fresh noise on every inference, so
# re-reading and replicating coincide there ("fresh"); with a device profile a
# vote either re-reads the same programmed arrays ("reread": fresh read noise,
# same programming noise) or reads one of K independently programmed copies
# ("replicated": independent programming and read noise).
FRESH, REREAD, REPLICATED = "fresh", "reread", "replicated"


def checkpoint_path(out: str | Path, sigma_train: float) -> Path:
    """Where the sweep keeps the model trained with ``sigma_train``."""
    return Path(out) / "models" / f"sigma_train-{float(sigma_train)!r}.pt"


@imported
def run_training(task: TrainTask) -> dict[str, Any]:
    """Train, finish training or check the model of one sigma_train; returns a summary
    with the weights digest. An existing checkpoint of another configuration or other
    training data is refused (``crossbar.training.train`` compares them), and so is a
    user's network whose source here differs from the sweep's."""
    import copy

    from crossbar.nn import NoiseConfig
    from crossbar.training import model_digest, train

    cfg = task.config
    t0 = time.perf_counter()
    inputs = task.inputs or Inputs()
    model_arg = copy.deepcopy(inputs.model) if inputs.model is not None else cfg.model
    data_arg, test_arg = inputs.data if inputs.data is not None else (cfg.data, None)
    model, history = train(
        model_arg,
        data_arg,
        test_data=test_arg,
        noise=NoiseConfig(kind=cfg.noise, sigma_train=task.sigma_train, sigma_val=0.0),
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        seed=cfg.seed,
        checkpoint=task.checkpoint,
        resume=True,
        device=cfg.torch_device,
        data_root=cfg.data_root,
        limit=cfg.limit_train,
        progress=False,
        model_kwargs=dict(cfg.model_kwargs) or None,
        threads=None,  # the runner chose the worker's threads
        hardware=cfg.train.get("hardware"),
    )
    if task.identity is not None:
        expect_model(model, task.identity.get("model"))
    last = history.last if len(history) else {}
    return {
        "sigma_train": task.sigma_train,
        "epochs": len(history),
        "test_acc": last.get("test_acc"),
        "model_digest": model_digest(model),
        "elapsed_s": time.perf_counter() - t0,
    }


# ------------------------------------------------------------------ cells


@imported
def evaluate_cell(task: CellTask) -> dict[str, Any]:
    """R noisy runs (and the votes) of one (sigma_train, sigma_val) cell.

    Returns the cell's result record (JSON-able): per-run accuracies, their
    mean and std, accuracy vs number of votes for each vote meaning and rule,
    and optionally the softmax outputs of one test image over many runs.
    """
    from crossbar.training import load_checkpoint

    cfg = task.config
    t0 = time.perf_counter()
    expect("the code (crossbar version and source digest)", code_identity(), task.identity["code"])
    x, y = test_set(cfg, task.inputs)
    expect(f"the test data {cfg.data!r}", test_digest(cfg, task.inputs), task.identity["test_data"])
    passed = task.inputs.model if task.inputs is not None else None
    model, info = load_checkpoint(task.checkpoint, device=cfg.torch_device,
                                  model=None if passed is None else copy.deepcopy(passed))
    expect_model(model, task.identity.get("model"))
    expect(f"the model in {task.checkpoint}", info["model_digest"], task.model_digest)
    model.eval()
    key = cell_key(task.sigma_train, task.sigma_val)
    if cfg.profile:
        meaning, draws, extra, softmax = device_draws(model, x, cfg, task.sigma_val, key,
                                                      task.identity["profile_contents"])
    else:
        meaning, draws, extra, softmax = gaussian_draws(model, x, cfg, task.sigma_val, key)
    record = summarise(meaning, draws, y, cfg, extra_votes=extra)
    record = {
        "type": "cell",
        "sigma_train": task.sigma_train,
        "sigma_val": task.sigma_val,
        "source": cfg.source,
        "n_test": int(len(y)),
        "model_digest": task.model_digest,
        **record,
    }
    if task.sigma_train in cfg.softmax_sigma_train:
        assert cfg.softmax is not None
        i = cfg.softmax.image
        if i >= len(y):
            raise ValueError(f"softmax.image = {i} but the test set has {len(y)} inputs")
        record["softmax"] = {
            "image": i,
            "label": int(y[i]),
            "probs": [[round(float(v), 7) for v in row] for row in softmax(i)],
        }
    record["config_hash"] = task.config_hash
    record["elapsed_s"] = round(time.perf_counter() - t0, 3)
    return record


def gaussian_draws(model, x, cfg: SweepConfig, sigma_val: float, key):
    """Draws from the network's own Gaussian noise layers at ``sigma_val``.

    Returns (vote meaning, draws (D, N, C), extra vote blocks {},
    softmax(i) -> (runs, C)).
    A noiseless cell (sigma_val = 0) is computed once: every draw is the same.
    """
    from crossbar.nn import seed_noise, set_noise

    set_noise(model, kind=cfg.noise, sigma_val=sigma_val)
    common = dict(seed_fn=seed_noise, device=cfg.torch_device)
    d = cfg.draws
    seed = derive(cfg.seed, Stream.SWEEP_DRAWS, *key)
    if sigma_val == 0.0:
        one = noisy_probs(model, x, 1, seed=seed, batch_size=cfg.eval_batch_size,
                          draws_per_pass=1, **common)
        probs = one.expand(d, *one.shape[1:])
    else:
        probs = noisy_probs(model, x, d, seed=seed, batch_size=cfg.eval_batch_size,
                            draws_per_pass=cfg.draws_per_pass, **common)

    def softmax(i: int) -> torch.Tensor:
        assert cfg.softmax is not None
        s = derive(cfg.seed, Stream.SWEEP_SOFTMAX, *key)
        return noisy_probs(model, x[i : i + 1], cfg.softmax.runs, seed=s, batch_size=1,
                           draws_per_pass=cfg.eval_batch_size * cfg.draws_per_pass,
                           **common)[:, 0]

    return FRESH, probs, {}, softmax


def device_draws(model, x, cfg: SweepConfig, sigma_val: float, key, digest: str | None = None):
    """Draws from the network mapped onto crossbar arrays of ``cfg.profile``
    with its programming and read noise scaled by ``sigma_val``.

    Draw d reads chip d, programmed with its own seed, once: the single-run
    accuracies and the "replicated" votes (K independently programmed array
    sets). The "reread" votes read each of the first max(1, D // K) chips K
    times (same programming noise, fresh read noise each time). The Gaussian
    noise layers are switched off (sigma_val = 0) so only the device adds noise.
    ``digest``: the profile contents the sweep was started with (None: not checked).
    """
    from crossbar.nn import convert, reseed, set_noise
    from crossbar.nn.placement import plan

    from .profiles import load_profile

    set_noise(model, sigma_val=0.0)
    model.to("cpu")  # the arrays are NumPy: this path runs on the CPU whatever torch_device says
    base = load_profile(cfg.profile)
    if digest is not None:
        expect(f"the device profile {cfg.profile!r}", profile_digest(base), digest)
    profile = base.with_overrides(noise_scale=sigma_val)
    d, k = cfg.draws, max(cfg.votes, 1)
    n_reread = max(1, d // k) if cfg.votes else 0
    common = dict(seed_fn=reseed, device="cpu", batch_size=cfg.eval_batch_size)
    replicated, reread = [], []
    chip0 = None
    where = plan(model, x[:2]) if profile.output_noise is not None else None  # traced once
    for c in range(d):
        chip = convert(model, profile,  # convert() copies the model
                       seed=derive(cfg.seed, Stream.SWEEP_PROGRAM, *key, c),
                       example=where if where is not None else x[:2]).eval()
        replicated.append(noisy_probs(chip, x, 1, draws_per_pass=1,
                                      seed=derive(cfg.seed, Stream.SWEEP_READ, *key, c),
                                      **common)[0])
        if c < n_reread:
            reread.append(noisy_probs(chip, x, k, draws_per_pass=cfg.draws_per_pass,
                                      seed=derive(cfg.seed, Stream.SWEEP_REREAD, *key, c),
                                      **common))
        if c == 0:
            chip0 = chip

    def softmax(i: int) -> torch.Tensor:
        # read noise only: one image re-read `runs` times on chip 0
        assert cfg.softmax is not None
        s = derive(cfg.seed, Stream.SWEEP_SOFTMAX, *key)
        return noisy_probs(chip0, x[i : i + 1], cfg.softmax.runs, seed=s, seed_fn=reseed,
                           device="cpu", batch_size=1,
                           draws_per_pass=cfg.eval_batch_size * cfg.draws_per_pass)[:, 0]

    extra = {REREAD: torch.stack(reread)} if reread else {}
    return REPLICATED, torch.stack(replicated), extra, softmax


def summarise(meaning: str, draws: torch.Tensor, y: np.ndarray, cfg: SweepConfig,
              extra_votes: dict[str, torch.Tensor] | None = None) -> dict[str, Any]:
    """Run accuracies from the first R draws, vote curves from all draws.

    ``draws`` (D, N, C) are the softmax outputs of D noisy inferences; their
    votes are reported under ``meaning``. ``extra_votes``: more meanings,
    possibly blocked (B, K, N, C).
    """
    p = draws.numpy()
    acc = (p[: cfg.runs].argmax(-1) == y).mean(axis=-1)
    out: dict[str, Any] = {
        "runs": cfg.runs,
        "accuracy": [float(a) for a in acc],
        "accuracy_mean": float(acc.mean()),
        "accuracy_std": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
        "votes": {},
    }
    if cfg.votes:
        blocks = {meaning: p, **{m: t.numpy() for m, t in (extra_votes or {}).items()}}
        for m, arr in blocks.items():
            curves = {rule: vote_curve(arr, y, cfg.votes, rule) for rule in RULES}
            out["votes"][m] = {"k": curves[RULES[0]]["k"], **{
                rule: {f: c[f] for f in ("mean", "std", "groups")} for rule, c in curves.items()
            }}
    return out


def snr_db(sigma: float, source: str) -> float | None:
    """SNR in dB for multiplicative noise (1 / sigma^2); None where it is not
    defined by sigma alone (additive noise, device noise scale)."""
    if source != "mult":
        return None
    return math.inf if sigma == 0 else -20.0 * math.log10(sigma) + 0.0  # no -0.0
