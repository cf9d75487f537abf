"""Sweeps, voting, append-only results, resume, local processes and Dask."""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import kill_sweep_after, sweep_records
from torch import nn

from crossbar import devices
from crossbar.experiments import (
    ConfigChangedError,
    ConfigError,
    CorruptResultsError,
    ResultsStore,
    SweepConfig,
    SweepLockedError,
    checkpoint_path,
    evaluate_cell,
    load_config,
    load_results,
    noisy_probs,
    predict_with_votes,
    run_sweep,
    summary,
    vote,
    vote_curve,
)
from crossbar.experiments.cells import CellTask, IdentityMismatchError, sweep_identity
from crossbar.experiments.store import _digest as store_digest
from crossbar.nn import NoiseConfig, NoiseInjection, seed_noise

# ---------------------------------------------------------------- voting


def test_hard_vote_is_the_mode():
    # 3 votes, 1 input, 3 classes: class 2 twice, class 0 once
    p = np.array([[[0.1, 0.2, 0.7]], [[0.8, 0.1, 0.1]], [[0.2, 0.3, 0.5]]])
    assert vote(p, "hard").tolist() == [2]
    # soft: mean softmax = (0.367, 0.2, 0.433) -> 2 as well; make soft disagree:
    p2 = np.array([[[0.0, 0.45, 0.55]], [[0.0, 0.45, 0.55]], [[0.0, 1.0, 0.0]]])
    assert vote(p2, "hard").tolist() == [2]
    assert vote(p2, "soft").tolist() == [1]


def test_hard_vote_tie_goes_to_the_larger_summed_softmax():
    # 2 votes: class 0 (p=0.6) and class 1 (p=0.9): tie 1:1, summed softmax favours 1
    p = np.array([[[0.6, 0.3, 0.1]], [[0.05, 0.9, 0.05]]])
    assert vote(p, "hard").tolist() == [1]
    # a class with no vote never wins, however large its summed softmax
    q = np.array([[[0.34, 0.0, 0.33, 0.33]], [[0.0, 0.35, 0.33, 0.32]]])
    assert vote(q, "hard").tolist() == [1]  # 1 vote each for 0 and 1; summed 0.34 < 0.35
    assert vote(q, "soft").tolist() == [2]  # summed 0.66 for class 2
    # an exact tie of votes and summed softmax goes to the lowest class index
    e = np.array([[[0.5, 0.0, 0.5]], [[0.0, 0.5, 0.5]], [[0.5, 0.5, 0.0]]])
    assert vote(e[:2], "hard").tolist() == [0]


def test_vote_rejects_bad_rule_and_shape():
    with pytest.raises(ValueError, match="rule"):
        vote(np.zeros((2, 1, 3)), "median")
    with pytest.raises(ValueError, match="shape"):
        vote(np.zeros((2, 3)))


def test_vote_curve_groups_and_blocks():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(4), size=(12, 30))  # 12 draws, 30 inputs, 4 classes
    y = rng.integers(0, 4, 30)
    c = vote_curve(p, y, 5)
    assert c["k"] == [1, 2, 3, 4, 5]
    assert c["groups"] == [12, 6, 4, 3, 2]
    single = (p.argmax(-1) == y).mean(axis=1)
    assert c["mean"][0] == pytest.approx(single.mean())
    assert c["std"][0] == pytest.approx(single.std(ddof=1))
    manual = [(vote(p[i * 5 : (i + 1) * 5]) == y).mean() for i in range(2)]
    assert c["mean"][4] == pytest.approx(np.mean(manual))
    # blocks: groups never straddle two blocks
    blocked = vote_curve(p.reshape(3, 4, 30, 4), y, 4)
    assert blocked["groups"] == [12, 6, 3, 3]
    with pytest.raises(ValueError, match="k_max"):
        vote_curve(p, y, 13)


class Toy(nn.Module):
    """A fixed linear classifier with multiplicative noise on its outputs."""

    def __init__(self, sigma: float) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)
        with torch.no_grad():
            self.lin.weight.copy_(torch.eye(4))
            self.lin.bias.zero_()
        self.noise = NoiseInjection(NoiseConfig("add", 0.0, sigma))

    def forward(self, x):
        return self.noise(self.lin(x))


def _toy_data(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=g)
    return torch.nn.functional.one_hot(y, 4).float(), y.numpy()


def test_noisy_probs_batched_draws_are_independent_and_reproducible():
    model = Toy(0.8).eval()
    x, _ = _toy_data(7)
    a = noisy_probs(model, x, 6, seed=3, seed_fn=seed_noise, batch_size=4, draws_per_pass=4)
    b = noisy_probs(model, x, 6, seed=3, seed_fn=seed_noise, batch_size=4, draws_per_pass=4)
    c = noisy_probs(model, x, 6, seed=4, seed_fn=seed_noise, batch_size=4, draws_per_pass=4)
    assert a.shape == (6, 7, 4)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    # every stacked copy of a batch got its own noise
    for i in range(6):
        for j in range(i):
            assert not torch.equal(a[i], a[j])
    assert torch.allclose(a.sum(-1), torch.ones(6, 7))
    # noiseless: every draw equals a plain forward pass
    quiet = Toy(0.0).eval()
    q = noisy_probs(quiet, x, 3, seed=0, seed_fn=seed_noise, draws_per_pass=2)
    assert torch.allclose(q, torch.softmax(quiet(x), -1).expand(3, -1, -1))


def test_voting_beats_a_single_noisy_inference():
    model = Toy(1.5).eval()
    x, y = _toy_data(400)
    one = (predict_with_votes(model, x, 1, seed=0, seed_fn=seed_noise) == y).mean()
    many = (predict_with_votes(model, x, 21, seed=0, seed_fn=seed_noise) == y).mean()
    soft = (predict_with_votes(model, x, 21, seed=0, seed_fn=seed_noise, rule="soft") == y).mean()
    assert one < 0.75
    assert many > one + 0.15
    assert soft > one + 0.15


# ---------------------------------------------------------------- config


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(textwrap.dedent(text))
    return p


def test_config_loads_validates_and_hashes(tmp_path):
    cfg = load_config(_write(tmp_path, """
        model: cnn6
        data: mnist5k
        noise: add
        sigma_train: [0.5, 0]
        sigma_val: [0, 0.2, 1]
        runs: 3
        votes: 4
        vote_sigma_val: [1.0]
        softmax: {image: 2, runs: 10}
        out: somewhere
    """))
    assert cfg.sigma_train == (0.0, 0.5)  # sorted
    assert cfg.vote_sigma_val == (1.0,)
    assert cfg.softmax_sigma_train == (0.0, 0.5)
    assert cfg.draws == 4
    assert SweepConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.replace(out="x", workers=4).hash() == cfg.hash()
    assert cfg.replace(seed=1).hash() != cfg.hash()
    assert cfg.replace(runs=4).hash() != cfg.hash()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("sigma_val: [0]\nsigma_trian: [0]\n", r"'sigma_trian'.*allowed: .*sigma_train"),
        ("sigma_val: [0]\nmodel: resnet\n", r"'model'.*one of cnn6"),
        ("sigma_val: [0]\nruns: 0\n", r"'runs'.*out of range.*1..100000"),
        ("sigma_val: [0]\nruns: 100000000000000000000000000000\n", r"'runs'.*out of range"),
        ("sigma_val: [0]\nseed: 100000000000000000000000000000\n", r"'seed'.*out of range"),
        ("sigma_val: [0]\nepochs: 1e400\n", r"'epochs'.*integer"),
        ("sigma_val: [1e300]\n", r"'sigma_val'.*\[0, 100\]"),
        ("sigma_val: [0]\nlr: 1e30\n", r"'lr'.*<= 10"),
        ("sigma_val: [0]\ntorch_device: banana\n", r"'torch_device'.*got 'banana'"),
        ("sigma_val: [0]\nmodel_kwargs: {bogus: 1}\n", r"'model_kwargs.bogus'.*unknown key.*num_classes"),
        ("sigma_val: [0]\nmodel_kwargs: {image_size: 100000000}\n", r"'model_kwargs.image_size'.*1..65536"),
        ("sigma_val: [0]\neval_batch_size: 100000\ndraws_per_pass: 100\n", r"rows per pass"),
        ("sigma_val: [0]\nruns: 2.5\n", r"'runs'.*integer"),
        ("sigma_val: [-0.1]\n", r"'sigma_val'.*numbers in \[0, 100\]"),
        ("sigma_val: [0.1, 0.1]\n", r"'sigma_val'.*distinct"),
        ("sigma_val: 0.5\n", r"'sigma_val'.*list"),
        ("sigma_val: [0]\nnoise: gauss\n", r"'noise'.*mult, add"),
        ("sigma_val: [0, 1]\nvote_sigma_val: [0.5]\n", r"'vote_sigma_val'.*from sigma_val"),
        ("sigma_val: [0]\nlimit_test: 5\nsoftmax: {image: 5}\n", r"'softmax.image'.*< limit_test"),
        ("sigma_val: [0]\nsoftmax: {imag: 1}\n", r"'softmax.imag'.*allowed"),
        ("sigma_val: [0]\nvote_rule: mean\n", r"'vote_rule'.*hard, soft"),
        ("sigma_val: [0]\nlr: -1\n", r"'lr'.*> 0"),
        ("- a\n- b\n", r"mapping"),
    ],
)
def test_config_errors_name_the_key(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_config(_write(tmp_path, text))


# ---------------------------------------------------------------- store, tables


def _record(cfg, st=0.0, sv=0.0, **extra):
    return {"type": "cell", "sigma_train": st, "sigma_val": sv, "config_hash": cfg.hash(),
            "runs": 1, "n_test": 10, "accuracy": [0.5], "accuracy_mean": 0.5,
            "accuracy_std": 0.0, "votes": {}, **extra}


def test_store_refuses_another_config_and_repairs_a_torn_line(tmp_path):
    cfg = SweepConfig(sigma_val=(0.0,), out=str(tmp_path))
    rec = _record(cfg)
    with ResultsStore(tmp_path, cfg) as store:
        store.append(rec)
    with open(tmp_path / "results.jsonl", "a") as fh:
        fh.write('{"sigma_train": 0.0, "sig')  # killed mid-write
    # a reader ignores the torn line and leaves the file alone
    assert ResultsStore(tmp_path, cfg, write=False).records() == {(0.0, 0.0): rec}
    assert not (tmp_path / "results.jsonl").read_text().endswith("}\n")
    with ResultsStore(tmp_path, cfg.replace(workers=3)) as again:  # run-only fields may change
        assert again.records() == {(0.0, 0.0): rec}
        assert (tmp_path / "results.jsonl").read_text().endswith("}\n")
        # a second writer is refused while the first holds the folder
        with pytest.raises(SweepLockedError, match="another sweep"):
            ResultsStore(tmp_path, cfg)
    with pytest.raises(ConfigChangedError, match="runs: results have 50, this config has 5"):
        ResultsStore(tmp_path, cfg.replace(runs=5))


def test_lock_is_taken_before_the_folder_is_repaired(tmp_path):
    """A second writer must not cut a line the first one is still writing."""
    cfg = SweepConfig(sigma_val=(0.0,), out=str(tmp_path))
    with ResultsStore(tmp_path, cfg):
        with open(tmp_path / "results.jsonl", "a") as fh:
            fh.write('{"half": ')  # the lock holder is mid-write
        with pytest.raises(SweepLockedError):
            ResultsStore(tmp_path, cfg)
        assert (tmp_path / "results.jsonl").read_text() == '{"half": '


@pytest.mark.parametrize("line, match", [
    ("[1, 2]", "must be a JSON object"),
    ('{"a": NaN}', "non-finite"),
    ("not json", "corrupt record"),
    ("EDITED", "does not match its digest"),
    ("MISSING", "lacks sigma_val"),
    ("OFFGRID", "not in this sweep's grid"),
])
def test_corrupt_records_are_refused_naming_file_and_line(tmp_path, line, match):
    cfg = SweepConfig(sigma_val=(0.0,), out=str(tmp_path))
    with ResultsStore(tmp_path, cfg) as store:
        store.append(_record(cfg))
    good = (tmp_path / "results.jsonl").read_text()
    rec = json.loads(good)
    if line == "EDITED":
        line = json.dumps({**rec, "accuracy_mean": 0.99})
    elif line == "MISSING":
        bad = {k: v for k, v in rec.items() if k not in ("sigma_val", "digest")}
        line = json.dumps({**bad, "digest": store_digest(bad)})
    elif line == "OFFGRID":
        bad = {k: v for k, v in rec.items() if k != "digest"}
        bad["sigma_val"] = 0.5
        line = json.dumps({**bad, "digest": store_digest(bad)})
    (tmp_path / "results.jsonl").write_text(good + line + "\n")
    with pytest.raises(CorruptResultsError, match=match) as err:
        load_results(tmp_path)
    assert "results.jsonl:2: " in str(err.value)


def test_corrupt_sweep_json_names_the_file(tmp_path):
    (tmp_path / "sweep.json").write_text("{not json")
    with pytest.raises(CorruptResultsError, match="sweep.json"):
        load_results(tmp_path)
    with pytest.raises(CorruptResultsError, match="sweep.json"):
        ResultsStore(tmp_path, SweepConfig(out=str(tmp_path)))


def test_a_folder_with_other_content_is_not_overwritten(tmp_path):
    (tmp_path / "tables.md").write_text("someone else's table")
    with pytest.raises(ConfigChangedError, match="holds other files"):
        ResultsStore(tmp_path, SweepConfig(out=str(tmp_path)))
    assert (tmp_path / "tables.md").read_text() == "someone else's table"
    with pytest.raises(NotADirectoryError):
        ResultsStore(tmp_path / "tables.md", SweepConfig())


def _fake(st, sv, acc, vacc):
    return {"sigma_train": st, "sigma_val": sv, "accuracy_mean": acc, "accuracy_std": 0.0,
            "runs": 1, "n_test": 10,
            "votes": {"fresh": {"k": [1, 2], "hard": {"mean": [acc, vacc], "std": [0, 0],
                                                       "groups": [2, 1]},
                                "soft": {"mean": [acc, vacc], "std": [0, 0], "groups": [2, 1]}}}}


def test_summary_tables_pick_the_best_sigma_train():
    cfg = SweepConfig(sigma_train=(0.0, 0.5, 1.0), sigma_val=(0.0, 1.0), votes=2)
    recs = [_fake(0.0, 0.0, 0.99, 0.99), _fake(0.5, 0.0, 0.99, 0.98), _fake(1.0, 0.0, 0.9, 0.9),
            _fake(0.0, 1.0, 0.2, 0.3), _fake(0.5, 1.0, 0.7, 0.95), _fake(1.0, 1.0, 0.8, 0.9)]
    t = summary(cfg, recs)
    assert t["snr_db"] == [None, 0.0]
    single = {k: v for k, v in t["single"].items() if not k.endswith("_interval")}
    assert single == {"noiseless_trained": [99.0, 20.0], "best": [99.0, 80.0],
                      "best_sigma_train": [0.0, 1.0]}  # tie at 99 % -> smallest sigma_train

    def wilson_pct(p, n, z=1.959964):  # one run: the Wilson interval over the 10 inputs alone
        centre, half = (p + z * z / (2 * n)), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        scale = 100 / (1 + z * z / n)
        return [round(scale * (centre - half), 2), round(scale * (centre + half), 2)]

    assert t["single"]["noiseless_trained_interval"] == [wilson_pct(0.99, 10), wilson_pct(0.2, 10)]
    assert t["single"]["best_interval"] == [wilson_pct(0.99, 10), wilson_pct(0.8, 10)]
    v = t["voting"]["fresh"]
    assert v["no_voting"] == [99.0, 80.0]
    assert v["best_voting"] == [99.0, 95.0]
    assert v["best_voting_interval"] == [wilson_pct(0.99, 10), wilson_pct(0.95, 10)]  # one group each
    assert v["best_sigma_train"] == [0.0, 0.5]
    no_zero = summary(cfg.replace(sigma_train=(0.5, 1.0)), recs[1:3] + recs[4:])
    assert no_zero["single"]["noiseless_trained"] == [None, None]


# ---------------------------------------------------------------- sweeps (real cnn6, tiny)

SMALL = dict(
    model="cnn6", data="mnist5k", limit_train=96, limit_test=40, noise="mult",
    sigma_train=(0.0, 0.6), sigma_val=(0.0, 0.6, 1.0), epochs=1, batch_size=32, lr=1e-3,
    runs=3, votes=4, eval_batch_size=25, draws_per_pass=3,
    softmax={"image": 1, "runs": 12, "sigma_train": [0.6]}, seed=7,
)
N_CELLS = 6


def _cfg(out: Path, **kw) -> SweepConfig:
    return SweepConfig.from_dict({**SMALL, "out": str(out), **kw})


def assert_same_outputs(a: Path, b: Path) -> None:
    assert sweep_records(a) == sweep_records(b)
    for name in ("tables.md", "tables.csv", "tables.json", "grid.csv", "grid.json", "votes.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted serial sweep in this process."""
    out = tmp_path_factory.mktemp("reference")
    result = run_sweep(_cfg(out), progress=False)
    assert len(result.records) == N_CELLS
    return out


def test_sweep_writes_cells_tables_and_figures(reference):
    recs = sweep_records(reference)
    assert len(recs) == N_CELLS
    r = recs[(0.6, 1.0)]
    assert len(r["accuracy"]) == 3 and r["n_test"] == 40
    assert r["accuracy_mean"] == pytest.approx(np.mean(r["accuracy"]))
    assert r["votes"]["fresh"]["k"] == [1, 2, 3, 4]
    assert set(r["votes"]["fresh"]) == {"k", "hard", "soft"}
    assert np.asarray(r["softmax"]["probs"]).shape == (12, 10)
    assert "softmax" not in recs[(0.0, 1.0)]
    # noiseless cells: every run identical
    assert recs[(0.0, 0.0)]["accuracy_std"] == 0.0
    assert recs[(0.6, 1.0)]["accuracy_std"] > 0.0
    tables = json.loads((reference / "tables.json").read_text())
    assert tables["sigma_val"] == [0.0, 0.6, 1.0]
    assert tables["snr_db"][1] == pytest.approx(4.437, abs=1e-3)
    assert set(tables["voting"]) == {"fresh"}
    md = (reference / "tables.md").read_text()
    assert "| noiseless training |" in md and "## Voting (4 votes, hard rule" in md
    figs = sorted(p.name for p in (reference / "figures").iterdir())
    assert figs == ["accuracy_vs_votes_fresh.png", "error_rate_vs_sigma_val.png",
                    "heatmap_single.png", "heatmap_votes_fresh.png",
                    "softmax_sigma_train_0.6.png"]
    assert all(checkpoint_path(reference, st).exists() for st in (0.0, 0.6))
    cfg, loaded = load_results(reference)
    assert cfg.hash() == _cfg(reference).hash() and len(loaded) == N_CELLS


def test_cell_seeds_name_sigmas_not_grid_positions(reference):
    """A cell computed under another grid (same other settings) is the same."""
    ckpt = str(checkpoint_path(reference, 0.6))
    other = _cfg(reference, sigma_val=[0.6])
    done = sweep_records(reference)[(0.6, 0.6)]
    rec = evaluate_cell(CellTask(other, 0.6, 0.6, ckpt, "h", sweep_identity(other), done["model_digest"]))
    assert rec["accuracy"] == done["accuracy"]


def test_rerun_does_nothing_and_changed_config_is_refused(reference):
    before = (reference / "results.jsonl").read_bytes()
    calls = []
    run_sweep(_cfg(reference), progress=False, report=False, on_record=calls.append)
    assert calls == [] and (reference / "results.jsonl").read_bytes() == before
    with pytest.raises(ConfigChangedError, match="runs: results have 3, this config has 4"):
        run_sweep(_cfg(reference, runs=4), progress=False)


# ---------------------------------------------------------------- identity by content


def test_store_refuses_results_of_other_code_profile_or_data(tmp_path):
    cfg = SweepConfig(sigma_val=(0.0,), out=str(tmp_path))
    ident = {"code": {"version": "0.1.0", "source": "aaa"}, "profile_contents": None, "test_data": "d1"}
    with ResultsStore(tmp_path, cfg, identity=ident) as store:
        store.append({**_record(cfg), "config_hash": store.hash})
    for key, value, shown in [("test_data", "d2", "identity test_data: results have 'd1'"),
                              ("code", {"version": "0.1.0", "source": "bbb"}, "identity code"),
                              ("profile_contents", "p", "identity profile_contents")]:
        with pytest.raises(ConfigChangedError, match=shown):
            ResultsStore(tmp_path, cfg, identity={**ident, key: value})
    assert len(load_results(tmp_path)[1]) == 1  # a reader takes the identity from sweep.json


def test_an_edited_profile_file_is_refused_on_resume(tmp_path, reference):
    """Issue 11, item 1: the sweep was keyed by the profile's name; an edited profile file
    gave a resumed sweep that mixed cells of both versions."""
    profile = tmp_path / "dev.yaml"
    profile.write_text(devices.load("ideal").to_yaml())
    cfg = _cfg(tmp_path / "out", profile=str(profile), sigma_train=[0.6], sigma_val=[0.5, 1.0], runs=2,
               votes=2, softmax=None, limit_test=10)
    (tmp_path / "out" / "models").mkdir(parents=True)
    shutil.copy(checkpoint_path(reference, 0.6), checkpoint_path(tmp_path / "out", 0.6))
    with pytest.raises(KeyboardInterrupt):  # one cell done, then interrupted
        run_sweep(cfg, progress=False, on_record=lambda r: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert len(sweep_records(tmp_path / "out")) == 1
    profile.write_text(devices.load("ideal").with_overrides(adc_bits=2).to_yaml())
    with pytest.raises(ConfigChangedError, match="identity profile_contents: results have"):
        run_sweep(cfg, progress=False)
    assert len(sweep_records(tmp_path / "out")) == 1


def test_a_prefilled_model_of_another_config_is_refused(tmp_path, reference):
    """A checkpoint under models/ trained with other settings is never used silently."""
    out = tmp_path / "out"
    (out / "models").mkdir(parents=True)
    shutil.copy(checkpoint_path(reference, 0.6), checkpoint_path(out, 0.6))
    with pytest.raises(ValueError, match=r"different run configuration(.|\n)*lr"):
        run_sweep(_cfg(out, sigma_train=[0.6], sigma_val=[0.0], lr=2e-3), progress=False)
    assert not (out / "results.jsonl").exists() or not sweep_records(out)


def test_a_replaced_model_does_not_mix_with_finished_cells(tmp_path, reference):
    out = tmp_path / "out"
    cfg = _cfg(out, sigma_train=[0.6], sigma_val=[0.0, 0.6], softmax=None)
    (out / "models").mkdir(parents=True)
    shutil.copy(checkpoint_path(reference, 0.6), checkpoint_path(out, 0.6))
    with pytest.raises(KeyboardInterrupt):
        run_sweep(cfg, progress=False, on_record=lambda r: (_ for _ in ()).throw(KeyboardInterrupt()))
    ckpt = torch.load(checkpoint_path(out, 0.6), weights_only=True)  # same config, other weights
    name = next(iter(ckpt["state_dict"]))
    ckpt["state_dict"][name] = ckpt["state_dict"][name] * 0.5
    torch.save(ckpt, checkpoint_path(out, 0.6))
    with pytest.raises(ConfigChangedError, match="holds other weights"):
        run_sweep(cfg, progress=False)


def test_nan_weights_are_refused_by_a_sweep(tmp_path, reference):
    """Issue 11, item 3: a diverged model gave a sweep of ~10 % accuracies without comment."""
    out = tmp_path / "out"
    (out / "models").mkdir(parents=True)
    ckpt = torch.load(checkpoint_path(reference, 0.6), weights_only=True)
    name = next(k for k, v in ckpt["state_dict"].items() if v.is_floating_point())
    ckpt["state_dict"][name].fill_(float("nan"))
    torch.save(ckpt, checkpoint_path(out, 0.6))
    with pytest.raises(ValueError, match="hold NaN or infinity"):
        run_sweep(_cfg(out, sigma_train=[0.6], sigma_val=[0.0], softmax=None), progress=False)
    assert not (out / "results.jsonl").exists() or not sweep_records(out)


def test_a_worker_refuses_a_cell_from_other_inputs(reference):
    ckpt = str(checkpoint_path(reference, 0.6))
    cfg = _cfg(reference, sigma_val=[0.6])
    ident = sweep_identity(cfg)
    digest = sweep_records(reference)[(0.6, 0.6)]["model_digest"]
    for bad, what in [({**ident, "code": {"version": "0.0.1", "source": None}}, "the code"),
                      ({**ident, "test_data": "0" * 16}, "the test data")]:
        with pytest.raises(IdentityMismatchError, match=what):
            evaluate_cell(CellTask(cfg, 0.6, 0.6, ckpt, "h", bad, digest))
    with pytest.raises(IdentityMismatchError, match="the model in"):
        evaluate_cell(CellTask(cfg, 0.6, 0.6, ckpt, "h", ident, "f" * 16))


def test_injected_failure_then_resume_equals_uninterrupted(reference, tmp_path):
    out = tmp_path / "interrupted"
    seen = []

    def crash_after_two(rec):
        seen.append(rec)
        if len(seen) == 2:
            raise KeyboardInterrupt("injected")

    with pytest.raises(KeyboardInterrupt):
        run_sweep(_cfg(out), progress=False, on_record=crash_after_two)
    assert len(sweep_records(out)) == 2
    mtimes = {st: checkpoint_path(out, st).stat().st_mtime_ns for st in (0.0, 0.6)
              if checkpoint_path(out, st).exists()}
    resumed = []
    run_sweep(_cfg(out), progress=False, on_record=resumed.append)
    assert len(resumed) == N_CELLS - 2
    for st, t in mtimes.items():  # trained models are reused, not trained again
        assert checkpoint_path(out, st).stat().st_mtime_ns == t
    assert_same_outputs(reference, out)


def test_sigkill_at_a_random_point_then_resume_on_two_processes_equals_uninterrupted(reference, tmp_path):
    """SIGKILL after a random number of finished cells plus a random delay (seeded, so the
    same point is drawn on every run): inside a cell, inside the append, or in between."""
    rng = random.Random(11)
    after, delay = rng.randint(1, 4), rng.uniform(0.0, 0.6)
    out = tmp_path / "killed"
    script = textwrap.dedent(f"""
        import time
        from crossbar.experiments import SweepConfig, run_sweep
        cfg = SweepConfig.from_dict({dict(SMALL, out=str(out))!r})
        if __name__ == "__main__":
            run_sweep(cfg, progress=False, on_record=lambda rec: time.sleep(0.3))
    """)
    kill_sweep_after(script, out, after, delay, 120)
    assert after <= len(sweep_records(out)) < N_CELLS
    run_sweep(_cfg(out), workers=2, progress=False)  # spawn-context process pool
    assert_same_outputs(reference, out)


def _children(pid: int) -> set[int]:
    """Live processes whose parent is ``pid`` (Linux /proc)."""
    kids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            kids.add(int(stat.parent.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc to list workers")
def test_workers_die_with_a_killed_sweep(tmp_path):
    out = tmp_path / "orphans"
    script = textwrap.dedent(f"""
        import time
        from crossbar.experiments import SweepConfig, run_sweep
        cfg = SweepConfig.from_dict({dict(SMALL, out=str(out), workers=2)!r})
        if __name__ == "__main__":
            run_sweep(cfg, progress=False, on_record=lambda rec: time.sleep(600))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while not ((out / "results.jsonl").exists() and len(_children(proc.pid)) >= 2):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no cell finished within 120 s"
            time.sleep(0.05)
        workers = _children(proc.pid)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 15
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [w for w in workers if _alive(w)], "worker processes outlived the killed sweep"


@pytest.fixture(scope="module")
def dask_cluster():
    """One Dask LocalCluster of two worker processes (with nannies), shared by the Dask tests."""
    distributed = pytest.importorskip("distributed", reason="dask[distributed] not installed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        yield cluster


def test_dask_threads_equal_local_run(reference, tmp_path):
    distributed = pytest.importorskip("distributed", reason="dask[distributed] not installed")
    out = tmp_path / "dask"
    prev = torch.get_num_threads()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        run_sweep(_cfg(out), scheduler=cluster.scheduler_address, progress=False)
    torch.set_num_threads(prev)  # in-process Dask workers set one thread for the process
    assert_same_outputs(reference, out)


def test_dask_processes_equal_local_run(reference, tmp_path, dask_cluster):
    out = tmp_path / "dask"
    run_sweep(_cfg(out), scheduler=dask_cluster.scheduler_address, progress=False)
    assert_same_outputs(reference, out)


def test_a_dask_worker_killed_mid_cell_is_survived(reference, tmp_path, dask_cluster):
    """Issue 11, item 5 (Dask): SIGKILL of the worker process running a cell; the
    scheduler reruns the cell elsewhere and the records equal an uninterrupted run."""
    distributed = pytest.importorskip("distributed")
    out = tmp_path / "lost"
    killed: list[int] = []
    with distributed.Client(dask_cluster.scheduler_address) as client:
        pids = client.run(os.getpid)  # worker address -> process id

        def kill_a_worker_running_a_cell() -> None:
            deadline = time.monotonic() + 120
            while not killed and time.monotonic() < deadline:
                for addr, keys in client.processing().items():
                    if any(str(k).startswith("evaluate_cell-") for k in keys) and addr in pids:
                        time.sleep(0.05)  # let it start computing
                        os.kill(pids[addr], signal.SIGKILL)
                        killed.append(pids[addr])
                        return
                time.sleep(0.01)

        killer = threading.Thread(target=kill_a_worker_running_a_cell, daemon=True)
        killer.start()
        run_sweep(_cfg(out), scheduler=client, progress=False)
        killer.join()
    assert killed, "no worker was seen running a cell"
    assert not _alive(killed[0])
    assert_same_outputs(reference, out)


def test_cli_runs_a_sweep_and_reports_config_errors(reference, tmp_path, capsys):
    from crossbar.cli import sweep as cli

    cfg_path = tmp_path / "s.yaml"
    cfg_path.write_text(json.dumps(dict(SMALL, out="unused")))  # JSON is YAML
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    copy = tmp_path / "copy"
    shutil.copytree(reference, copy)
    args = parser.parse_args([str(cfg_path), "--out", str(copy), "--no-progress", "--no-plots"])
    assert cli.run(args) == 0
    assert "best noise-injected training" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("sigma_val: [0]\nvotes: many\n")
    with pytest.raises(ConfigError, match="'votes'"):
        cli.run(parser.parse_args([str(bad)]))


def test_unknown_profile_is_refused_before_training(tmp_path):
    with pytest.raises(ValueError, match="no-such-device"):
        run_sweep(_cfg(tmp_path, profile="no-such-device"), progress=False)
    assert not (tmp_path / "models").exists()


def test_device_profile_sweep_reports_both_vote_meanings(tmp_path, reference):
    cfg = _cfg(tmp_path, profile="ideal", sigma_train=[0.6], sigma_val=[1.0], runs=2,
               votes=2, softmax=None, limit_test=10)
    (tmp_path / "models").mkdir()
    shutil.copy(checkpoint_path(reference, 0.6), checkpoint_path(tmp_path, 0.6))
    (r,) = run_sweep(cfg, progress=False, report=False).records
    assert r["source"] == "device:ideal"
    assert set(r["votes"]) == {"replicated", "reread"}
    # the ideal profile has no noise to scale: every chip and every read agree
    assert r["accuracy_std"] == 0.0
    assert r["votes"]["replicated"]["hard"]["mean"] == r["votes"]["reread"]["hard"]["mean"]
    assert r["votes"]["reread"]["hard"]["groups"] == [2, 1]
