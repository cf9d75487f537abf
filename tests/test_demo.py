"""`crossbar-sim demo` end to end, shrunk to seconds with its own flags; the README excerpt."""

from __future__ import annotations

import json

import pytest

from crossbar.cli import main
from crossbar.experiments import DemoConfig
from crossbar.experiments.demo import FULL_REACH

TINY = ["--quick", "--epochs", "1", "--limit-train", "64", "--test-limit", "12", "--votes", "1,3",
        "--devices", "reram,gaussian-mult", "--no-progress"]


def _essential(path) -> dict:
    """report.json without what legitimately differs between two runs (timing, work done,
    paths, the worker count)."""
    data = json.loads(path.read_text())
    for key in ("elapsed_s", "cpu_s", "config"):
        data.pop(key)
    data["model"].pop("checkpoint")
    for d in [*data["devices"].values(), *data["points"].values()]:
        for key in ("elapsed_s", "forward_rows", "config"):
            d.pop(key, None)
        d.get("model", {}).pop("checkpoint", None)
    return data


def test_demo_smoke_writes_report_reuses_checkpoint_and_does_not_depend_on_workers(tmp_path, capfd):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), *TINY]) == 0
    printed = capfd.readouterr()  # this process and the worker processes alike
    assert "Warning" not in printed.err and "Warning" not in printed.out  # the library causes none
    assert "wrote" in printed.out
    for name in ("report.md", "report.json", "excerpt.md", "pareto.png", "latency.png",
                 "accuracy_vs_noise.png", "aging.png"):
        assert (out / name).stat().st_size > 0, name
    (ckpt,) = (out / "model").glob("cnn6-*.pt")
    stamp = ckpt.stat().st_mtime_ns

    text = (out / "report.md").read_text()
    for needle in ("## Accuracy and where read noise starts to matter", "## Aged pcm",
                   "## Latency, energy and throughput per inference", "## What this means", "| reram |",
                   "| gaussian-mult |", "![pareto](pareto.png)", "![aging](aging.png)",
                   "3 votes tolerate more?", "| 1 year | yes |", "| 1 month | no |", "TOPS/W",
                   "95 % interval", "Where voting pays", "- **gaussian-mult:** ", "- **reram:** ",
                   "### pcm, 1 year, uncompensated: why", "Every vote repeats all of it",
                   "3 votes cost at least"):
        assert needle in text, needle
    data = json.loads((out / "report.json").read_text())
    assert set(data["devices"]) == {"reram", "gaussian-mult", "pcm, 1 year, drift compensated"}
    assert set(data["points"]) == {"pcm, 1 month, uncompensated", "pcm, 1 month, drift compensated",
                                   "pcm, 1 year, uncompensated"} and data["errors"] == {}
    reram = data["devices"]["reram"]
    assert set(reram["nominal"]) == {"1", "3"} and reram["network"]["latency"] > 0
    assert reram["tops_per_watt"] > 0 and reram["throughput"] > 0
    for iv in reram["nominal"].values():
        assert iv["lo"] <= iv["mean"] <= iv["hi"] and iv["n"] == 12 and iv["chips"] == 2
    assert set(data["diagnoses"]) == {"pcm, 1 month, uncompensated", "pcm, 1 year, uncompensated"}
    why = data["diagnoses"]["pcm, 1 year, uncompensated"]
    assert why["t"] == 365 * 86400 and len(why["layers"]) == 6 and sum(why["classes"]) == why["n"]
    for row in why["layers"]:  # drift lowers every layer's conductances (PCM: (t/t0)^-nu, nu >= 0.049)
        assert 0 < row["gain"] < (365 * 86400 / why["t0"]) ** -0.04
    aged = {(r["label"], r["compensate"], r["k"]) for r in data["aging"]}
    assert ("1 year", True, 3) in aged and ("1 month", False, 1) in aged
    assert data["model"]["epochs"] == 1

    # a rerun reuses the checkpoint and every cached count
    assert main(["demo", "--out", str(out), *TINY, "--no-plots"]) == 0
    assert ckpt.stat().st_mtime_ns == stamp
    again = json.loads((out / "report.json").read_text())
    assert all(d["forward_rows"] == 0 for d in [*again["devices"].values(), *again["points"].values()])

    # one worker process (everything in this process) gives the same numbers as two
    serial = tmp_path / "serial"
    assert main(["demo", "--out", str(serial), *TINY, "--no-plots", "--workers", "1"]) == 0
    assert _essential(serial / "report.json") == _essential(out / "report.json")


def test_demo_config_is_validated():
    with pytest.raises(ValueError, match="'votes'"):
        DemoConfig(votes=(0,))
    with pytest.raises(ValueError, match="'profile'"):
        DemoConfig(devices=("unobtainium",))
    with pytest.raises(ValueError, match="'workers'"):
        DemoConfig(workers=0)
    assert main(["demo", "--devices", "unobtainium", "--no-progress"]) == 2


def test_cost_comparison_ranks_physical_devices_only():
    from types import SimpleNamespace

    from crossbar.experiments import DemoResult

    config = DemoConfig(devices=("reram", "pcm", "gaussian-mult"), aged_device=None)
    results = {n: SimpleNamespace(network=SimpleNamespace(energy=e, latency=e))
               for n, e in (("reram", 2.0), ("pcm", 1.0), ("gaussian-mult", 0.1))}
    demo = DemoResult(config, {}, results, {}, {}, 0.0)
    # the abstract Eq. 3 profile is cheapest on paper but is no hardware: it is not ranked
    assert demo.cost_comparison("energy") == {"reram": "worse", "pcm": "best"}
    assert DemoConfig(**FULL_REACH).votes == (1, 3, 9, 20) and DemoConfig(**FULL_REACH).rel_tol == 0.25


def test_workers_take_the_longest_budgets_first():
    """NAND's bit-serial two-phase read (14 conversions per read) is the demo's longest task: it
    starts first, not third as in report order; point evaluations and diagnoses come after every
    budget; the report keeps its order."""
    from pathlib import Path

    from crossbar.experiments.demo import _longest_first

    tasks = DemoConfig().tasks(Path("model.pt"))
    order = sorted(tasks, key=_longest_first)
    assert [t[0] for t in tasks][:3] == ["reram", "pcm", "nand"]
    assert [t[0] for t in order][:2] == ["nand", "reram"]
    kinds = [t[1] for t in order]
    assert kinds == sorted(kinds, key=lambda k: k != "budget") and kinds.count("budget") == 5


def test_the_demo_grid_resolves_a_sqrt_k_gain_and_the_report_states_it():
    import math

    from crossbar.experiments import Interval, noise_budget
    from crossbar.experiments.budget.search import tolerates_more
    from crossbar.report.demo_tables import gain_text

    c = DemoConfig(**FULL_REACH)

    def accuracy(s, k):  # a network whose error grows past s = 3 sqrt(K): votes average independent noise
        return Interval.exact(0.98 if s <= 3 * math.sqrt(k) else 0.5)

    th = noise_budget(accuracy, c.votes, 0.95, *c.noise_range, rel_tol=c.rel_tol)
    for k, t in th.items():
        assert t.resolved and t.excluded / t.confirmed <= 1.25 + 1e-9  # the resolution
        assert t.confirmed <= 3 * math.sqrt(k) < t.excluded
    assert tolerates_more(th[20], th[1]) == ">" and tolerates_more(th[3], th[1]) == ">"
    data = {"config": {"votes": list(c.votes), "noise_range": list(c.noise_range), "devices": ["x"]},
            "devices": {"x": {"thresholds": {str(k): t.to_dict() for k, t in th.items()},
                              "voting": {"20": {"noise": tolerates_more(th[20], th[1])}}}}}
    (text,) = gain_text(data)
    gain = th[20].scale / th[1].scale
    assert abs(math.log(gain / math.sqrt(20))) <= math.log(1.25)
    assert text.startswith(f"**x:** 20 votes tolerate {gain:.2g}× (between") and "shown to pay" in text
