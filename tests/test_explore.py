"""Design-space exploration: config errors, design points as profiles, the Pareto front on a
constructed set, a tiny end-to-end run on the bundled digits, resume by content."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
from torch import nn

from crossbar.atomic import lock_folder
from crossbar.cost import at_voltage, pareto_indices
from crossbar.experiments import (
    CacheDiscardedWarning,
    ConfigError,
    ExploreConfig,
    ExploreLockedError,
    ExploreResult,
    explore,
    load_explore_config,
)
from crossbar.experiments.designs.run import point_keys
from crossbar.identity import profile_digest
from crossbar.report import write_explore_report

# ----------------------------------------------------------------------------- config errors

@pytest.mark.parametrize("text, match", [
    ("checkpoint: m.pt\n", r"key 'grid'.*at least one design point"),
    ("checkpoint: m.pt\ngrid: {adc_bitz: [4]}\n", r"key 'grid.adc_bitz'.*did you mean 'adc_bits'"),
    ("checkpoint: m.pt\ngrid: {adc_bits: 4}\n", r"key 'grid.adc_bits'.*non-empty list"),
    ("checkpoint: m.pt\ngrid: {adc_bits: [4, 40]}\n", r"key 'grid.adc_bits'.*got 40.*2..16"),
    ("checkpoint: m.pt\ngrid: {profile: [reram, nosuch]}\n", r"key 'grid.profile'.*nosuch"),
    ("checkpoint: m.pt\ngrid: {tile_size: [0]}\n", r"key 'grid.tile_size'.*tile_rows"),
    ("checkpoint: m.pt\npoints: [{range_management.mod: fixed}]\n",
     r"key 'points\[0\]'.*did you mean 'mode'"),
    ("checkpoint: m.pt\npoints: [{name: x}]\n", r"key 'points\[0\].name'.*not a design setting"),
    ("checkpoint: m.pt\npoints: 3\n", r"key 'points'.*list of design points"),
    ("checkpoint: m.pt\ngrid: {v_read: [0.01]}\n", r"key 'grid.v_read'"),
    ("checkpoint: m.pt\ngrid: {adc_bits: [4]}\nnoise_range: [1, 2]\n", r"key 'noise_range'.*unknown key"),
    ("checkpoint: m.pt\ngrid: {adc_bits: [4]}\nadmit: maybe\n", r"key 'admit'.*interval, mean"),
    ("checkpoint: m.pt\ngrid: {adc_bits: [4]}\nworkers: 0\n", r"key 'workers'"),
    ("checkpoint: m.pt\ngrid: {adc_bits: [4]}\nvotes: [0]\n", r"key 'votes'"),
    ("checkpoint: m.pt\ngrid: {adc_bits: [4], tile_size: [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, "
     "8192]}\npoints: []\n", None),
])
def test_bad_configs_name_the_key(tmp_path, text, match):
    path = tmp_path / "explore.yaml"
    path.write_text(text)
    if match is None:  # a valid config: 11 points
        assert len(load_explore_config(path).design_points()) == 11
        return
    with pytest.raises(ConfigError, match=match) as info:
        load_explore_config(path)
    assert str(tmp_path) in str(info.value) and "\n" not in str(info.value)


def test_combination_errors_name_the_point_and_the_cli_exits_2(tmp_path, capsys):
    from crossbar.cli import main

    # each value is valid alone (reram: v_read 0.5 V, v_read_min 0.05 V); not 0.1 V above a 0.2 V minimum
    both, one_bit = tmp_path / "both.yaml", tmp_path / "one_bit.yaml"
    both.write_text("checkpoint: m.pt\ngrid: {v_read: [0.1, 0.5], v_read_min: [0.2]}\n")
    one_bit.write_text("checkpoint: m.pt\ngrid: {adc_bits: [1]}\n")
    with pytest.raises(ConfigError, match=r"key 'grid'.*minimum read voltage.*design point.*\"v_read\": 0.1"):
        load_explore_config(both)
    assert main(["explore", str(one_bit)]) == 2
    err = capsys.readouterr().err
    assert "key 'grid.adc_bits'" in err and len(err.strip().splitlines()) == 1
    # a config that names no network needs one passed in Python
    cfg = ExploreConfig(settings={"data": "mnist5k"}, grid={"adc_bits": [4]}, out=str(tmp_path / "x"))
    with pytest.raises(ConfigError, match=r"key 'checkpoint'"):
        explore(cfg, progress=False)
    missing = cfg.replace(settings={"checkpoint": str(tmp_path / "none.pt")})
    with pytest.raises(FileNotFoundError, match="none.pt"):
        explore(missing, progress=False)
    assert not (tmp_path / "x").exists()
    # a second exploration writing the same folder is refused
    (tmp_path / "x").mkdir()
    held = lock_folder(tmp_path / "x" / ".explore-lock", RuntimeError, "held")
    try:
        with pytest.raises(ExploreLockedError, match="another exploration"):
            explore(cfg, model=_mlp(), progress=False)
    finally:
        held.close()


def test_design_points_become_profiles():
    cfg = ExploreConfig(settings={"checkpoint": "m.pt", "profile": "reram",
                                  "profile_overrides": {"range_management": {"mode": "calibrated"}}},
                        grid={"tile_size": [64, 128], "profile": ["reram", "pcm"]},
                        points=[{"profile": "pcm", "tile_size": 64}, {"range_management.percentile": 99.0,
                                                                      "v_read": 0.1}])
    pts = cfg.design_points()
    assert len(pts) == 5  # the listed pcm/64 point is the grid's: kept once
    p = cfg.profile_of({"tile_size": 64, "profile": "pcm"})
    assert (p.tile_rows, p.tile_cols, p.name) == (64, 64, "pcm")
    q = cfg.profile_of(pts[-1])
    assert q.range_management.mode == "calibrated" and q.range_management.percentile == 99.0
    # the read voltage as a setting is the physical voltage law's profile at that voltage
    base = cfg.profile_of({"range_management.percentile": 99.0})
    assert profile_digest(q) == profile_digest(at_voltage(base, 0.1))


# ----------------------------------------------------------------------------- the front

def _record(key, acc, energy, area, n=400):
    lo, hi = acc - 0.02, acc + 0.02
    iv = {"mean": acc, "lo": lo, "hi": hi, "n": n, "chips": 2, "input_half": 0.02, "chip_sd": 0.0,
          "chip_half": 0.0, "confidence": 0.95}
    cost = {"energy": energy, "latency": 1e-6, "area": area, "tiles": 1, "tops_per_watt": 1.0}
    return {"key": key, "profile": "reram", "target": 0.9, "accuracy": {"1": iv}, "costs": {"1": cost},
            "network": {}}


def test_front_of_a_constructed_set():
    # (accuracy, energy, area): d meets the target only by its estimate, f misses it
    spec = {"a": (0.95, 1.0, 5.0), "b": (0.95, 2.0, 3.0), "c": (0.95, 3.0, 4.0), "d": (0.905, 0.5, 0.5),
            "e": (0.97, 4.0, 1.0), "f": (0.80, 0.1, 0.1), "g": (0.99, 2.0, 3.0)}
    recs = {k: _record(k, *v) for k, v in spec.items()}
    cfg = ExploreConfig(settings={"checkpoint": "m.pt"}, points=[{"adc_bits": b} for b in range(2, 9)])
    res = ExploreResult(cfg, {}, {}, tuple(cfg.design_points()), tuple(spec), recs, 0, {}, 0.0, 0)
    rows = res.rows()
    front = [list(spec)[rows[i]["point"]] for i in res.front()]
    assert front == ["a", "b", "e"]  # c is beaten by b on both; g equals b and comes later; d, f do not meet
    mean = ExploreResult(cfg.replace(admit="mean"), {}, {}, res.points, res.keys, recs, 0, {}, 0.0, 0)
    assert [list(spec)[mean.rows()[i]["point"]] for i in mean.front()] == ["d"]  # d beats the rest
    for r in (res, mean):  # no front point is dominated by an admitted point
        rows = r.rows()
        for i in r.front():
            assert not any(o["admitted"] and o["energy"] <= rows[i]["energy"] and o["area"] <= rows[i]["area"]
                           and (o["energy"], o["area"]) != (rows[i]["energy"], rows[i]["area"]) for o in rows)
    assert pareto_indices([(3, 0.9), (1, 0.8), (2, 0.7), (4, 0.9), (5, 0.95)]) == [1, 0, 4]


# ----------------------------------------------------------------------------- end to end

def _mlp() -> nn.Module:
    gen = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 0.05, generator=gen)
    return net.eval()


def _dominated(row, rows) -> bool:
    return any(o["admitted"] and o["energy"] <= row["energy"] and o["area"] <= row["area"]
               and (o["energy"] < row["energy"] or o["area"] < row["area"]) for o in rows)


def test_tiny_exploration_end_to_end_and_resume(tmp_path):
    out = tmp_path / "run"
    cfg = ExploreConfig(settings={"data": "mnist5k", "test_limit": 20, "repeats": 2, "votes": [1, 3],
                                  "target_accuracy": 0.0},
                        grid={"tile_size": [64, 256], "adc_bits": [4, 8]}, out=str(out))
    model = _mlp()
    seen = []
    r = explore(cfg, model=model, progress=False, on_point=lambda i, rec: seen.append(i))
    assert r.evaluated == 4 and sorted(seen) == [0, 1, 2, 3] and r.forward_rows > 0 and not r.errors
    rows = r.rows()
    assert len(rows) == 8 and r.target == 0.0 and all(x["admitted"] for x in rows)
    by = {(x["settings"]["tile_size"], x["settings"]["adc_bits"], x["k"]): x for x in rows}
    for x in rows:
        a = x["accuracy"]
        assert a.n == 20 and a.chips == 2 and a.lo <= a.mean <= a.hi
        assert x["energy"] > 0 and x["latency"] > 0 and x["area"] > 0 and x["tops_per_watt"] > 0
    # 784 x 32 weights: 13 row tiles of 64 (x1 column tile) against 4 of 256
    assert by[(64, 4, 1)]["tiles"] > by[(256, 4, 1)]["tiles"]
    assert by[(64, 4, 3)]["energy"] == pytest.approx(3 * by[(64, 4, 1)]["energy"])
    front = r.front()
    assert front and all(not _dominated(rows[i], rows) for i in front)
    assert all(_dominated(x, rows) or i in front or any(
        (rows[j]["energy"], rows[j]["area"]) == (x["energy"], x["area"]) for j in front)
        for i, x in enumerate(rows))
    files = write_explore_report(r)
    assert {f.name for f in files} == {"report.md", "report.json", "front.png"}
    data = json.loads((out / "report.json").read_text())
    assert data["front"] == front and len(data["rows"]) == 8
    assert "## Pareto front" in (out / "report.md").read_text()

    # a rerun reads every point back and computes nothing
    again = explore(cfg, model=model, progress=False)
    assert again.evaluated == 0 and again.forward_rows == 0
    assert [x["accuracy"] for x in again.rows()] == [x["accuracy"] for x in rows]
    # a grown grid computes only its new points; a changed setting makes new keys
    grown = explore(cfg.replace(points=[{"tile_size": 64, "adc_bits": 6}]), model=model, progress=False)
    assert grown.evaluated == 1 and len(grown.rows()) == 10
    # a damaged record is warned about and computed again
    victim = out / "points" / f"{r.keys[0]}.json"
    victim.write_text("{not json")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fixed = explore(cfg, model=model, progress=False)
    assert fixed.evaluated == 1 and any(issubclass(w.category, CacheDiscardedWarning) for w in caught)
    assert [x["accuracy"] for x in fixed.rows()] == [x["accuracy"] for x in rows]  # same seed, same bits
    data_key = {k: v for k, v in r.data.items() if k != "spec"}
    assert point_keys(cfg, r.model["digest"], data_key) == list(r.keys)
    for change in ({"seed": 1}, {"repeats": 3}, {"scale": "all"}, {"time_since_programming": 3600.0}):
        other = cfg.replace(settings={**cfg.settings, **change})
        assert not set(point_keys(other, r.model["digest"], data_key)) & set(r.keys), change
    assert not set(point_keys(cfg, "another-network", data_key)) & set(r.keys)


def test_worker_processes_and_dask_give_the_same_bits(tmp_path):
    cfg = ExploreConfig(settings={"data": "mnist5k", "test_limit": 10, "repeats": 2, "target_accuracy": 0.0},
                        grid={"adc_bits": [4, 8]}, out=str(tmp_path / "serial"))
    here = explore(cfg, model=_mlp(), progress=False)
    there = explore(cfg, model=_mlp(), progress=False, workers=2, out=str(tmp_path / "workers"))
    distributed = pytest.importorskip("distributed", reason="dask[distributed] not installed")
    prev = torch.get_num_threads()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        dask = explore(cfg, model=_mlp(), progress=False, scheduler=cluster.scheduler_address,
                       out=str(tmp_path / "dask"))
    torch.set_num_threads(prev)  # in-process Dask workers set one thread for the process
    for other in (there, dask):
        assert other.evaluated == 2 and other.keys == here.keys
        for k in here.keys:
            a, b = here.records[k], other.records[k]
            assert a["accuracy"] == b["accuracy"] and a["costs"] == b["costs"]


def test_the_published_record_is_its_json_and_its_front_is_not_dominated():
    from pathlib import Path

    from crossbar.report import explore_markdown

    folder = Path(__file__).resolve().parents[1] / "docs" / "results" / "explore-mnist5k-mlp"
    d = json.loads((folder / "report.json").read_text())
    assert (folder / "report.md").read_text() == explore_markdown(d, ("front.png",))
    rows = d["rows"]
    assert d["front"] and all(rows[i]["admitted"] and not _dominated(rows[i], rows) for i in d["front"])
    for r in rows:  # admitted exactly when the whole interval lies at or above the target
        assert r["admitted"] == (r["accuracy"]["lo"] >= d["target"])
