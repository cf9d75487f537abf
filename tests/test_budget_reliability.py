"""Noise budgets that cannot go stale: identity by content, safe file names, trusted caches, own folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from conftest import kill_when

from crossbar import devices
from crossbar.experiments import BudgetConfig, TrainSpec, run_budget
from crossbar.experiments.budget.cache import (
    CacheDiscardedWarning,
    ForeignFolderError,
    cache_path,
    read_cache,
)
from crossbar.nn import NoiseConfig
from crossbar.training import train

TINY = dict(data="mnist5k", test_limit=12, votes=(1, 3), repeats=1, noise_range=(0.5, 64.0), rel_tol=1.0,
            max_drop=0.05, plots=False)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A cnn6 trained for one epoch on 64 digits (seconds)."""
    path = tmp_path_factory.mktemp("model") / "cnn6.pt"
    train("cnn6", "mnist5k", epochs=1, limit=64, lr=1e-3, checkpoint=path, progress=False, device="cpu")
    return path


def _cfg(checkpoint: Path, out: Path, **kw) -> BudgetConfig:
    return BudgetConfig(checkpoint=str(checkpoint), out=str(out), **{**TINY, **kw})


def test_an_edited_profile_gives_a_fresh_result_not_the_cached_one(checkpoint, tmp_path):
    """Issue 11, item 1: the cache was keyed by the profile's name; after an edit of the
    file the old tolerable noise was reported."""
    profile = tmp_path / "mine.yaml"
    reram = devices.load("reram")
    profile.write_text(reram.to_yaml())
    cfg = _cfg(checkpoint, tmp_path / "out", profile=str(profile))
    first = run_budget(cfg, progress=False)
    assert first.forward_rows > 0
    cached = set((tmp_path / "out" / "cache").iterdir())
    edited = reram.with_overrides(noise_scale=30.0, adc_bits=2)  # far noisier, coarse ADC
    profile.write_text(edited.to_yaml())
    second = run_budget(cfg, progress=False)
    assert second.forward_rows > 0, "the edited profile reused the old profile's accuracies"
    assert second.nominal_accuracy != first.nominal_accuracy or second.thresholds != first.thresholds
    nominal = [p for p in set((tmp_path / "out" / "cache").iterdir()) - cached if "-at-" not in p.name]
    assert len(nominal) == 1  # the edited profile's own cache, next to the first one
    # editing only a citation changes no number: the cache is used again
    data = yaml.safe_load(profile.read_text())
    key = next(iter(data["sources"]))
    data["sources"][key] = data["sources"][key] + " (reworded)"
    profile.write_text(yaml.safe_dump(data, sort_keys=False))
    assert run_budget(cfg, progress=False).forward_rows == 0


def test_a_profile_name_cannot_write_outside_out(checkpoint, tmp_path):
    """Issue 11, item 2: ``name: x/../../../../elsewhere/escaped`` placed the cache outside --out."""
    out = tmp_path / "a" / "b" / "out"
    evil = "x/../../../../elsewhere/escaped"
    cfg = _cfg(checkpoint, out, profile="ideal", profile_overrides={"name": evil}, votes=(1,),
               noise_range=(0.5, 1.0))
    run_budget(cfg, progress=False)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and all(out in p.parents for p in written), written
    assert not (tmp_path / "elsewhere").exists()
    assert cache_path(out, evil, "k").parent == out / "cache"
    assert cache_path(out, "..", "k").name == "evaluations-_-k.json"


@pytest.mark.parametrize("content, problem", [
    (b"\x00\xff garbage", "not a readable cache"),
    (b"[1, 2]", "not a cache object"),
    (b'{"key": "other", "evaluations": {}}', "is not this run's"),
    (b'{"key": "K", "evaluations": {"1.0|1": {"s": 1.0, "k": 1, "n": 10, "correct": ["high"]}}}',
     r"per-chip counts .*'high'"),
    (b'{"key": "K", "evaluations": {"1.0|1": {"s": 2.0, "k": 1, "n": 10, "correct": [5]}}}',
     "holds s = 2.0"),
    (b'{"key": "K", "evaluations": {"1.0|1": {"s": 1.0, "k": 1, "n": 10, "correct": []}}}',
     "per-chip counts"),
    (b'{"key": "K", "evaluations": {"1.0|1": {"s": 1.0, "k": 1, "n": 10, "correct": [11]}}}',
     r"per-chip counts .*0..10"),
    (b'{"key": "K", "evaluations": {"1.0|1": {"s": 1.0, "k": 1, "n": 0, "correct": [0]}}}',
     "0 test inputs"),
    (b'{"key": "K", "evaluations": {"1.0|1": 3}}', "not an object"),
])
def test_an_untrustworthy_cache_is_discarded_with_a_warning_naming_it(tmp_path, content, problem):
    path = tmp_path / "evaluations-x-K.json"
    path.write_bytes(content)
    with pytest.warns(CacheDiscardedWarning, match=rf"evaluations-x-K.json: .*{problem}.*computed again"):
        assert read_cache(path, "K") == {}


def test_a_mistyped_cache_is_recomputed_to_the_same_result(checkpoint, tmp_path):
    """Issue 11, item 11: a budget cache with wrong types crashed the run."""
    cfg = _cfg(checkpoint, tmp_path / "out", profile="reram", votes=(1,), noise_range=(0.5, 4.0))
    first = run_budget(cfg, progress=False)
    (cache,) = [p for p in (tmp_path / "out" / "cache").iterdir() if "-at-" not in p.name]
    data = json.loads(cache.read_text())
    for entry in data["evaluations"].values():
        entry["correct"] = [str(c) for c in entry["correct"]]
    cache.write_text(json.dumps(data))
    with pytest.warns(CacheDiscardedWarning, match=cache.name):
        again = run_budget(cfg, progress=False)
    assert again.forward_rows > 0 and repr(again.thresholds) == repr(first.thresholds)
    assert json.loads(cache.read_text())["evaluations"] == {  # rewritten with good entries
        k: {**v, "correct": [int(c) for c in v["correct"]]} for k, v in data["evaluations"].items()}


def test_nan_weights_are_refused_before_any_evaluation(checkpoint, tmp_path):
    from crossbar.training import load_checkpoint

    model, info = load_checkpoint(checkpoint)
    with torch.no_grad():
        next(model.parameters())[0] = float("nan")
    with pytest.raises(ValueError, match="hold NaN or infinity"):
        run_budget(_cfg(checkpoint, tmp_path / "out"), progress=False, model=model, model_info=info)


def test_a_foreign_out_folder_is_refused_and_left_alone(checkpoint, tmp_path):
    """Issue 11, item 16a: budget --out into a folder of other files overwrote its report.md."""
    out = tmp_path / "theirs"
    out.mkdir()
    (out / "report.md").write_text("their report")
    (out / "notes.txt").write_text("their notes")
    with pytest.raises(ForeignFolderError, match="notes.txt"):
        run_budget(_cfg(checkpoint, out), progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "report.md"]
    assert (out / "report.md").read_text() == "their report"
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file"):
        run_budget(_cfg(checkpoint, tmp_path / "file"), progress=False)
    # the budget's own checkpoint may live in its folder
    mine = tmp_path / "mine"
    mine.mkdir()
    shutil.copy(checkpoint, mine / "net.pt")
    run_budget(_cfg(mine / "net.pt", mine, votes=(1,), noise_range=(0.5, 1.0)), progress=False)
    assert (mine / ".crossbar-budget").exists()


def test_a_checkpoint_trained_otherwise_is_not_silently_reused(tmp_path):
    """A budget's train block checks an existing checkpoint against itself: a file trained
    with other settings under the expected name is refused with the differing setting."""
    spec = TrainSpec(model="cnn6", epochs=1, limit=32, lr=1e-3)
    cfg = BudgetConfig(train=spec, out=str(tmp_path / "out"), **TINY)
    path = cfg.checkpoint_path()
    train("cnn6", "mnist5k", epochs=1, limit=32, lr=2e-3, checkpoint=path, progress=False, device="cpu",
          noise=NoiseConfig("mult", 0.3, 0.0))
    with pytest.raises(ValueError, match=r"different run configuration(.|\n)*lr"):
        run_budget(cfg, progress=False)


def _essential(result) -> str:
    """A result without what legitimately differs between two runs (timing, work done, paths)."""
    d = result.to_dict()
    for key in ("config", "elapsed_s", "forward_rows"):
        d.pop(key)
    d["model"].pop("checkpoint")
    return json.dumps(d, sort_keys=True, default=str)


def test_a_budget_killed_at_random_points_resumes_to_the_uninterrupted_result(tmp_path):
    """SIGKILL twice at seeded random points (during training, then after a random number of
    cached accuracies plus a random delay), then resume: the result is the uninterrupted one."""
    import random
    import textwrap

    spec = dict(model="cnn6", epochs=2, limit=64, lr=1e-3)
    settings = dict(TINY, votes=(1, 3))

    def cfg(out: Path) -> BudgetConfig:
        return BudgetConfig(train=TrainSpec(**spec), out=str(out), **settings)

    reference = run_budget(cfg(tmp_path / "ref"), progress=False)
    out = tmp_path / "killed"
    script = textwrap.dedent(f"""
        from crossbar.experiments import BudgetConfig, TrainSpec, run_budget
        cfg = BudgetConfig(train=TrainSpec(**{spec!r}), out={str(out)!r}, **{settings!r})
        run_budget(cfg, progress=False)
    """)
    cache = out / "cache"

    def entries() -> int:
        files = list(cache.glob("evaluations-*.json")) if cache.exists() else []
        return sum(len(json.loads(f.read_text())["evaluations"]) for f in files)

    rng = random.Random(5)
    n = rng.randint(1, 5)
    points = [("checkpoint", lambda: cfg(out).checkpoint_path().exists(), rng.uniform(0.0, 0.5)),
              (f"{n} accuracies", lambda: entries() >= n, rng.uniform(0.0, 0.3))]
    for what, ready, delay in points:
        kill_when(script, ready, delay, 120, what)
    resumed = run_budget(cfg(out), progress=False)
    assert _essential(resumed) == _essential(reference)
    assert resumed.forward_rows < reference.forward_rows  # the cached accuracies were used
