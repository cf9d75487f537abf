"""`crossbar-sim demo` end to end, shrunk to seconds with its own flags."""

from __future__ import annotations

import json

import pytest

from crossbar.cli import main
from crossbar.experiments import DemoConfig

TINY = ["--quick", "--epochs", "1", "--limit-train", "64", "--test-limit", "12", "--votes", "1,3",
        "--devices", "reram,gaussian-mult", "--no-progress"]


def test_demo_smoke_writes_report_and_reuses_checkpoint(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), *TINY]) == 0
    for name in ("report.md", "report.json", "pareto.png", "latency.png", "accuracy_vs_noise.png"):
        assert (out / name).stat().st_size > 0, name
    (ckpt,) = (out / "model").glob("cnn6-*.pt")
    stamp = ckpt.stat().st_mtime_ns

    text = (out / "report.md").read_text()
    for needle in ("## Accuracy and noise budget", "## Latency, energy and area per inference",
                   "## What this means", "| reram |", "| gaussian-mult |", "![pareto](pareto.png)",
                   "tolerable s, K = 3", "K = 3 pipelined"):
        assert needle in text, needle
    data = json.loads((out / "report.json").read_text())
    assert set(data["devices"]) == {"reram", "gaussian-mult"} and data["errors"] == {}
    reram = data["devices"]["reram"]
    assert set(reram["nominal_accuracy"]) == {"1", "3"}
    assert reram["network"]["latency"] > 0 and reram["network"]["energy"] > 0
    assert data["model"]["epochs"] == 1
    assert "wrote" in capsys.readouterr().out

    # a rerun reuses the checkpoint and every cached accuracy
    assert main(["demo", "--out", str(out), *TINY, "--no-plots"]) == 0
    assert ckpt.stat().st_mtime_ns == stamp
    again = json.loads((out / "report.json").read_text())
    assert all(d["forward_rows"] == 0 for d in again["devices"].values())


def test_demo_config_is_validated():
    with pytest.raises(ValueError, match="'votes'"):
        DemoConfig(votes=(0,))
    with pytest.raises(ValueError, match="'profile'"):
        DemoConfig(devices=("unobtainium",))
    assert main(["demo", "--devices", "unobtainium", "--no-progress"]) == 2
