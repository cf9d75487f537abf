"""Property-based tests (hypothesis): configs and the command line never fail unclearly.

The invariant, for any input: a clear error (a ``CheckError`` naming the key,
or one CLI line naming the file) or a valid configuration whose numbers are
all finite and within their bounds; never another exception, a traceback, a
hang or NaN. Derandomised (the same examples on every run) and bounded in
examples and time, so CI is reproducible; docs/reliability.md lists the figures.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is a dev dependency")
from crossbar.devices import available  # noqa: E402
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from crossbar.checks import CheckError  # noqa: E402
from crossbar.experiments import BudgetConfig, ExploreConfig, SweepConfig  # noqa: E402
from crossbar.experiments.config import DATA_NAMES, MODEL_NAMES  # noqa: E402

CONFIG_EXAMPLES = 300
CLI_EXAMPLES = 100
FILE_EXAMPLES = 200
RESULT_EXAMPLES = 120  # each writes and fsyncs a results folder
FUZZ = settings(max_examples=CONFIG_EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])

# ------------------------------------------------------------------ strategies

big_ints = st.integers(min_value=-(2**70), max_value=2**70)
small_ints = st.integers(min_value=-3, max_value=40)
floats = st.floats(allow_nan=True, allow_infinity=True)
scalars = st.one_of(st.none(), st.booleans(), small_ints, big_ints, floats, st.text(max_size=12))
anything = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(st.text(max_size=6), inner,
                                                                         max_size=4)),
                        max_leaves=8)


def either(plausible):
    """Mostly plausible values (to reach the deeper checks), sometimes anything at all."""
    return st.one_of(plausible, plausible, plausible, anything)


counts = st.one_of(small_ints, big_ints)
sigma_lists = st.lists(st.one_of(st.floats(min_value=0, max_value=150), floats, small_ints), max_size=4)
profiles = st.sampled_from([*available(), "nope", "x/../../y.yaml", "", "/etc/hostname"])
override_keys = st.sampled_from(["adc_bits", "dac_bits", "tile_rows", "tile_cols", "noise_scale", "name",
                                 "levels", "v_read", "adc_range", "bogus"])
overrides = st.dictionaries(override_keys, scalars, max_size=3)

SWEEP_KEYS = {
    "model": st.sampled_from([*MODEL_NAMES, "resnet"]),
    "data": st.sampled_from([*DATA_NAMES, "imagenet"]),
    "sigma_train": sigma_lists, "sigma_val": sigma_lists, "vote_sigma_val": sigma_lists,
    "noise": st.sampled_from(["mult", "add", "gauss"]),
    "profile": st.one_of(st.none(), profiles),
    "limit_train": counts, "limit_test": counts, "epochs": counts, "batch_size": counts,
    "lr": st.one_of(st.none(), floats, st.floats(min_value=1e-6, max_value=20)),
    "model_kwargs": st.dictionaries(st.sampled_from(["num_classes", "image_size", "hidden", "in_channels",
                                                     "bogus"]), scalars, max_size=2),
    "runs": counts, "votes": counts, "vote_rule": st.sampled_from(["hard", "soft", "mean"]),
    "softmax": st.one_of(st.none(), st.fixed_dictionaries({}, optional={
        "image": counts, "runs": counts, "sigma_train": sigma_lists})),
    "eval_batch_size": counts, "draws_per_pass": counts,
    "torch_device": st.sampled_from(["cpu", "cuda:0", "banana", "meta", "", "cuda:-1"]),
    "seed": counts, "out": st.text(max_size=10), "workers": counts,
}
BUDGET_KEYS = {
    "checkpoint": st.one_of(st.none(), st.just("m.pt")),
    "train": st.one_of(st.none(), st.fixed_dictionaries({}, optional={
        "model": st.sampled_from(["cnn6", "resnet"]), "epochs": counts, "lr": floats, "seed": counts,
        "limit": counts, "sigma_train": floats, "noise": st.sampled_from(["mult", "none", "x"])})),
    "data": st.sampled_from(["mnist5k", "mnist", "imagenet"]),
    "profile": profiles, "profile_overrides": overrides,
    "layer_overrides": st.dictionaries(st.sampled_from(["features.0", "*"]), overrides, max_size=2),
    "scale": st.sampled_from(["read", "all", "both"]), "reference": st.sampled_from(["mapped", "x"]),
    "max_drop": floats, "target_accuracy": st.one_of(st.none(), floats),
    "votes": st.lists(counts, max_size=4), "repeats": counts, "max_repeats": counts,
    "test_limit": st.one_of(counts, st.just("auto"), st.text(max_size=5)),
    "confidence": floats, "time_since_programming": st.one_of(st.none(), floats),
    "drift_compensation": st.one_of(st.booleans(), scalars),
    "noise_range": st.lists(st.one_of(floats, st.floats(min_value=0.01, max_value=1e7)), max_size=3),
    "rel_tol": floats, "voltage_tol": floats, "activity": st.one_of(st.just("measured"), floats),
    "replication": counts, "seed": counts, "batch_rows": counts, "threads": st.one_of(st.none(), counts),
    "max_evaluations": counts, "out": st.text(max_size=10), "plots": st.one_of(st.booleans(), scalars),
}

_SETTING_NAMES = st.sampled_from(["adc_bits", "dac_bits", "slice_bits", "tile_size", "tile_rows", "profile",
                                  "v_read", "range_management.mode", "range_management.mod", "name",
                                  "periphery.adc_area", "bogus"])
EXPLORE_KEYS = {
    **{k: v for k, v in BUDGET_KEYS.items() if k not in ("reference", "noise_range", "rel_tol", "voltage_tol",
                                                         "max_evaluations", "max_repeats")},
    "grid": st.one_of(st.none(), anything, st.dictionaries(_SETTING_NAMES, st.one_of(
        scalars, st.lists(st.one_of(scalars, profiles), max_size=3)), max_size=2)),
    "points": st.one_of(st.none(), anything, st.lists(st.dictionaries(_SETTING_NAMES, st.one_of(
        scalars, profiles), max_size=2), max_size=2)),
    "admit": st.sampled_from(["interval", "mean", "x"]), "workers": counts,
}


def configs(keys: dict, base: dict) -> st.SearchStrategy[dict]:
    """A valid ``base`` with up to three keys changed (mostly to plausible values), a config
    of random keys and values, or anything at all (a list, a number...)."""
    changed = st.lists(st.sampled_from(sorted(keys)), max_size=3, unique=True).flatmap(
        lambda ks: st.fixed_dictionaries({k: either(keys[k]) for k in ks})).map(lambda c: {**base, **c})
    plausible = st.fixed_dictionaries({}, optional={k: either(v) for k, v in keys.items()})
    junk = st.dictionaries(st.text(max_size=8), anything, max_size=2)
    return st.one_of(changed, changed, changed, plausible, st.builds(lambda a, b: {**a, **b}, changed, junk),
                     anything)


SWEEP_BASE = {"sigma_val": [0.0], "limit_test": 5}
BUDGET_BASE = {"checkpoint": "m.pt"}
EXPLORE_BASE = {"checkpoint": "m.pt", "grid": {"adc_bits": [4, 6]}}


def _finite_everywhere(obj) -> bool:
    if isinstance(obj, float):
        return math.isfinite(obj)
    if isinstance(obj, dict):
        return all(_finite_everywhere(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return all(_finite_everywhere(v) for v in obj)
    return True


# ------------------------------------------------------------------ configs


@FUZZ
@given(configs(SWEEP_KEYS, SWEEP_BASE))
def test_sweep_config_is_valid_or_a_clear_error(d):
    try:
        cfg = SweepConfig.from_dict(d)
    except CheckError as err:
        event(f"refused: {err.problem}")
        assert str(err).startswith(("key '", 'key "'))
        return
    event("valid")
    assert _finite_everywhere(cfg.to_dict())
    assert all(0 <= s <= 100 for s in cfg.sigma_train + cfg.sigma_val)
    assert 1 <= cfg.runs <= 100_000 and 0 <= cfg.votes <= 1000 and 0 <= cfg.seed < 2**64
    assert cfg.eval_batch_size * cfg.draws_per_pass <= 1_000_000
    assert SweepConfig.from_dict(cfg.to_dict()) == cfg and len(cfg.hash()) == 64


@FUZZ
@given(configs(BUDGET_KEYS, BUDGET_BASE))
def test_budget_config_is_valid_or_a_clear_error(d):
    try:
        cfg = BudgetConfig.from_dict(d)
    except CheckError as err:
        event(f"refused: {err.problem[:40]}")
        assert str(err).startswith(("key '", 'key "')), str(err)
        return
    event("valid")
    assert _finite_everywhere(cfg.to_dict())
    lo, hi = cfg.noise_range
    assert 0 < lo < hi and 1 <= cfg.repeats <= cfg.max_repeats <= 10_000 and 0 <= cfg.seed < 2**64
    assert cfg.test_limit == "auto" or 1 <= cfg.test_limit <= 10**9
    assert cfg.base_profile() is not None
    assert BudgetConfig.from_dict(cfg.to_dict()) == cfg


@FUZZ
@given(configs(EXPLORE_KEYS, EXPLORE_BASE))
def test_explore_config_is_valid_or_a_clear_error(d):
    try:
        cfg = ExploreConfig.from_dict(d)
    except CheckError as err:
        event(f"refused: {err.problem[:40]}")
        assert str(err).startswith(("key '", 'key "')) and "\n" not in str(err), str(err)
        return
    event("valid")
    points = cfg.design_points()
    assert 1 <= len(points) <= 10_000 and all(cfg.profile_of(p) is not None for p in points)
    assert ExploreConfig.from_dict(cfg.to_dict()).design_points() == points


# ------------------------------------------------------------------ the command line


class _Accepted(BaseException):
    """Raised by the stubbed library call: the CLI accepted the config and called it."""


def _text_files() -> st.SearchStrategy[bytes]:
    dumped = st.one_of(configs(SWEEP_KEYS, SWEEP_BASE), configs(BUDGET_KEYS, BUDGET_BASE),
                       configs(EXPLORE_KEYS, EXPLORE_BASE)).map(
        lambda d: yaml.safe_dump(d).encode())
    raw = st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode))
    nested = st.integers(min_value=1, max_value=5000).map(lambda n: ("a: " + "[" * n + "]" * n).encode())
    return st.one_of(dumped, dumped, dumped, raw, nested)


@settings(max_examples=CLI_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(content=_text_files(), command=st.sampled_from(["sweep", "budget", "explore"]))
def test_cli_accepts_a_config_or_says_why_in_one_line(content, command, monkeypatch, capsys):
    import crossbar.experiments as experiments
    from crossbar.cli import main

    def accepted(*args, **kwargs):
        raise _Accepted

    monkeypatch.setattr(experiments, "run_sweep", accepted)
    monkeypatch.setattr(experiments, "run_budget", accepted)
    monkeypatch.setattr(experiments, "explore", accepted)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_bytes(content)
        try:
            code = main([command, str(path), "--out", str(Path(tmp) / "out"), "--no-progress"])
        except _Accepted:
            event("accepted")
            return
        event("refused")
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
        assert str(path) in lines[0], lines[0]  # names the file
        # an error crossbar-sim did not foresee shows its type: none may appear
        assert not any(f"error: {t}:" in lines[0] for t in ("TypeError", "AttributeError", "OverflowError",
                                                             "RecursionError", "IndexError")), lines[0]
        assert not (Path(tmp) / "out").exists()


# ------------------------------------------------------------------ result files


json_values = st.recursive(st.one_of(st.none(), st.booleans(), big_ints, floats, st.text(max_size=8)),
                           lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                   st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=10)


@settings(max_examples=RESULT_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(line=st.one_of(json_values.map(lambda v: __import__("json").dumps(v)), st.text(max_size=80)),
       mutate=st.sampled_from(["replace", "edit", "append"]))
def test_a_damaged_results_file_is_refused_or_read_never_misread(line, mutate):
    import json

    from crossbar.experiments.store import (
        ConfigChangedError,
        CorruptResultsError,
        ResultsStore,
        load_results,
    )

    with tempfile.TemporaryDirectory() as tmp:
        cfg = SweepConfig(sigma_val=(0.0,), out=tmp)
        with ResultsStore(tmp, cfg) as store:
            store.append({"type": "cell", "sigma_train": 0.0, "sigma_val": 0.0, "config_hash": store.hash,
                          "runs": 1, "n_test": 4, "accuracy": [0.5], "accuracy_mean": 0.5,
                          "accuracy_std": 0.0, "votes": {}})
        results = Path(tmp) / "results.jsonl"
        good = results.read_text()
        if mutate == "edit":  # a field of the good record replaced by the fuzzed value
            rec = json.loads(good)
            try:
                rec["accuracy_mean"] = json.loads(line)
            except ValueError:
                rec["accuracy_mean"] = line
            line = json.dumps(rec)
        text = good + line + "\n" if mutate == "append" else line + "\n"
        results.write_text(text)
        try:
            _, records = load_results(tmp)
        except (CorruptResultsError, ConfigChangedError) as err:
            assert "results.jsonl:" in str(err)
            return
        # whatever is read is exactly the good record: nothing else is ever accepted
        assert [r["accuracy_mean"] for r in records] in ([0.5], [])
        assert all(math.isfinite(r["accuracy_mean"]) for r in records)


@settings(max_examples=FILE_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(content=st.one_of(json_values.map(lambda v: {"key": "K", "evaluations": v}), json_values))
def test_a_damaged_budget_cache_is_discarded_or_fully_valid(content):
    import json
    import warnings

    from crossbar.experiments.budget.cache import CacheDiscardedWarning, read_cache

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "evaluations-x-K.json"
        path.write_text(json.dumps(content))
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            got = read_cache(path, "K")
        if got:
            assert not seen
            for name, e in got.items():
                assert name == f"{float(e['s'])!r}|{e['k']}" and e["n"] >= 1
                assert e["correct"] and all(0 <= c <= e["n"] for c in e["correct"])
        elif content not in ({"key": "K", "evaluations": {}},):
            assert [w.category for w in seen] == [CacheDiscardedWarning]
            assert str(path) in str(seen[0].message)
