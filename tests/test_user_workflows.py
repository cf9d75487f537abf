"""A network defined outside crossbar.models through every workflow: sweep (SIGKILL and resume,
local and Dask workers), budget, the Python API with objects, the train command."""

from __future__ import annotations

import json
import os
import random
import re
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import kill_sweep_after, sweep_records

from crossbar import data as cdata
from crossbar import models
from crossbar.experiments import (
    BudgetConfig,
    ConfigChangedError,
    ConfigError,
    SweepConfig,
    TrainSpec,
    WorkerImportError,
    noisy_probs,
    run_budget,
    run_sweep,
)
from crossbar.nn import NoiseConfig, convert
from crossbar.training import load_checkpoint

SMALL = dict(
    model="usernets:Net", model_kwargs={"hidden": 12}, data="mnist5k", limit_train=96, limit_test=40,
    noise="mult", sigma_train=(0.0, 0.6), sigma_val=(0.0, 0.6), epochs=1, batch_size=32, runs=3, votes=2,
    eval_batch_size=20, draws_per_pass=3, seed=3,
)
N_CELLS = 4


def _cfg(out: Path, **kw) -> SweepConfig:
    return SweepConfig.from_dict({**SMALL, "out": str(out), **kw})


@pytest.fixture(scope="module")
def reference(user_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("user-reference")
    assert len(run_sweep(_cfg(out), progress=False, report=False).records) == N_CELLS
    return out


def test_a_sweep_of_a_user_network_records_its_identity(reference):
    saved = json.loads((reference / "sweep.json").read_text())
    ident = saved["identity"]["model"]
    assert ident["name"] == "usernets:Net" and ident["kwargs"] == {"hidden": 12} and ident["source"]
    recs = sweep_records(reference)
    assert recs[(0.6, 0.6)]["accuracy_std"] > 0 and recs[(0.0, 0.0)]["accuracy_std"] == 0
    with pytest.raises(ConfigError, match=r"key 'model_kwargs.width': unknown key; allowed: hidden, cl"):
        _cfg(reference, model_kwargs={"width": 3})
    with pytest.raises(ConfigError, match="key 'model': .*no module 'nosuch'"):
        _cfg(reference, model="nosuch:Net")


def test_sigkill_then_resume_of_a_user_network_equals_uninterrupted(user_dir, reference, tmp_path):
    rng = random.Random(12)
    after, delay = rng.randint(1, 3), rng.uniform(0.0, 0.5)
    out = tmp_path / "killed"
    script = textwrap.dedent(f"""
        import time
        from crossbar.experiments import SweepConfig, run_sweep
        cfg = SweepConfig.from_dict({dict(SMALL, out=str(out))!r})
        if __name__ == "__main__":
            run_sweep(cfg, progress=False, report=False, on_record=lambda rec: time.sleep(0.3))
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(user_dir), os.environ.get("PYTHONPATH", "")]))
    kill_sweep_after(script, out, after, delay, 180, env=env)
    assert after <= len(sweep_records(out)) < N_CELLS
    run_sweep(_cfg(out), workers=2, progress=False, report=False)  # local processes import it by path
    assert sweep_records(out) == sweep_records(reference)


def test_an_edited_network_is_refused_on_resume_naming_its_source(user_dir, reference, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(reference, copy)
    source = user_dir / "usernets.py"
    text = source.read_text()
    try:
        source.write_text(text.replace("x.flatten(1)", "torch.flatten(x, 1)"))
        with pytest.raises(ConfigChangedError, match=r"identity model\.source: results have '\w+', this run"):
            run_sweep(_cfg(copy), progress=False, report=False)
    finally:
        source.write_text(text)


def test_a_local_worker_that_cannot_import_the_factory_says_so(user_dir, tmp_path):
    cfg = _cfg(tmp_path / "noimport", workers=2)  # the config is checked here, where it imports
    sys.path.remove(str(user_dir))  # the workers, spawned from now on, do not have the folder
    try:
        with pytest.raises(WorkerImportError, match=r"worker \S+ \(pid \d+\) cannot run run_training: model "
                           r"factory 'usernets:Net': no module 'usernets'.*every worker must"):
            run_sweep(cfg, progress=False, report=False)
    finally:
        sys.path.insert(0, str(user_dir))


def test_a_dask_worker_that_cannot_import_the_factory_says_so(user_dir, tmp_path):
    distributed = pytest.importorskip("distributed", reason="dask[distributed] not installed")
    sys.path.remove(str(user_dir))
    try:
        cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                           dashboard_address=None)
    finally:
        sys.path.insert(0, str(user_dir))
    with cluster:
        with pytest.raises(WorkerImportError, match=r"worker \S+ \(pid \d+\) cannot run run_training.*"
                           "no module 'usernets'"):
            run_sweep(_cfg(tmp_path / "dask"), scheduler=cluster.scheduler_address, progress=False,
                      report=False)


def _tensors(n_train: int = 96, n_test: int = 30):
    tr = cdata.load_split("mnist5k", "train", limit=n_train)
    te = cdata.load_split("mnist5k", "test", limit=n_test)
    return tr.x, tr.y, te.x, te.y


def test_a_module_and_tensors_passed_in_python(user_dir, tmp_path):
    net = models.resolve("usernets:Net", seed=0, example=(1, 28, 28), hidden=12)
    cfg = SweepConfig(sigma_train=(0.0, 0.5), sigma_val=(0.5,), runs=2, votes=2, epochs=1, lr=1e-3,
                      eval_batch_size=15, draws_per_pass=2, out=str(tmp_path / "objects"))
    data = _tensors()
    result = run_sweep(cfg, model=net, data=data, progress=False, report=False)
    assert result.config.model == "object:usernets:Net" and result.config.data == "object:data"
    assert [r["n_test"] for r in result.records] == [30, 30]
    seen = []
    run_sweep(cfg, model=net, data=data, progress=False, report=False, on_record=seen.append)
    assert seen == []  # the same module and data: everything is done
    other = models.resolve("usernets:Net", seed=1, example=(1, 28, 28), hidden=12)
    with pytest.raises(ConfigChangedError, match=r"identity model\.weights: results have"):
        run_sweep(cfg, model=other, data=data, progress=False, report=False)
    with pytest.raises(ConfigChangedError, match="identity test_data"):
        run_sweep(cfg, model=net, data=_tensors(n_test=29), progress=False, report=False)
    with pytest.raises(ConfigError, match="model_kwargs.*a module passed in Python is used as it is"):
        run_sweep(cfg.replace(model_kwargs={"image_size": 28}), model=net, progress=False)


def test_a_budget_of_a_user_network_trained_by_its_import_path(user_dir, tmp_path):
    cfg = BudgetConfig(train=TrainSpec(model="usernets:Net", model_kwargs={"hidden": 12}, epochs=1,
                                       limit=200, sigma_train=0.3),
                       test_limit=30, profile="reram", votes=(1,), repeats=1, noise_range=(1.0, 4.0),
                       rel_tol=1.0, max_evaluations=4, out=str(tmp_path / "budget"), plots=False)
    assert cfg.checkpoint_path().name.startswith("usernets_Net-mult0.3-")
    r = run_budget(cfg, progress=False)
    assert r.model["name"] == "usernets:Net" and set(r.thresholds) == {1}
    assert r.model["train_config"]["model_source"]
    assert 0.0 <= r.digital_accuracy <= 1.0 and r.network.layers
    model, _ = load_checkpoint(cfg.checkpoint_path())
    passed = run_budget(cfg.replace(out=str(tmp_path / "passed")), model=model,
                        data=_tensors(n_test=40), progress=False)
    assert passed.data["n_test"] == 30 and passed.data["name"] == "data"  # test_limit of the data given


def test_train_command_writes_a_checkpoint_by_default_and_says_where(user_dir, tmp_path, monkeypatch,
                                                                     capsys):
    from crossbar.cli import main

    monkeypatch.chdir(tmp_path)
    code = main(["train", "--model", "usernets:Net", "--model-kwargs", "{hidden: 8}", "--limit", "64",
                 "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    path = re.search(r"^checkpoint: (\S+)", out, re.M).group(1)
    assert path.startswith("runs/train/usernets_Net-mnist5k-plain-") and (tmp_path / path).is_file()
    _, info = load_checkpoint(tmp_path / path)
    assert info["config"]["model_kwargs"] == {"hidden": 8}
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert all(name in shown for name in cdata.available()) and "package.module:loader" in shown


def test_noisy_probs_seeds_noise_layers_and_arrays_by_default(user_dir):
    x = cdata.load_split("mnist5k", "test", limit=6).x
    noisy = models.resolve("usernets:Net", noise=NoiseConfig("mult", 0.0, 0.5), example=(1, 28, 28)).eval()
    a, b = noisy_probs(noisy, x, 3), noisy_probs(noisy, x, 3)
    assert torch.equal(a, b) and not torch.equal(a[0], a[1])
    chip = convert(models.resolve("usernets:Net", example=(1, 28, 28)), "reram", seed=0).eval()
    c, d = noisy_probs(chip, x, 2, seed=4), noisy_probs(chip, x, 2, seed=4)
    assert torch.equal(c, d) and not torch.equal(c[0], c[1])
