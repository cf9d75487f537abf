"""Walking Noise and hardening on a user's own network and data, named in the config by import
path exactly as a sweep names them (``crossbar.models.resolve`` / ``crossbar.data.load_split``)."""

from __future__ import annotations

import json
import math
import sys
import textwrap

import pytest

from crossbar.cli import main

NETS = '''
from torch import nn


def small(hidden=8):
    """A user's factory: no seed argument, torch's own initialisation, a batch norm."""
    return nn.Sequential(nn.Linear(6, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, 3))
'''

DATA = '''
import numpy as np


def load(root=None):
    """Three classes, class c centred at (c, ..., c) in six features, unit noise."""
    rng = np.random.default_rng(0)
    y = np.arange(300) % 3
    x = (rng.normal(size=(300, 6)) + 1.5 * y[:, None]).astype(np.float32)
    return x[:240], y[:240], x[240:], y[240:]
'''

WALK = """\
model: walknets:small
model_kwargs: {hidden: 5}
data: walkdata:load
kinds: [add]
modes: [inference, training]
positions: [1, 4]
grid:
  add: {min: 0.1, max: 100, per_decade: 1}
training_grid:
  add: {min: 1, max: 10, per_decade: 1}
bisect: 1
repeats: 2
epochs: 6
batch_size: 40
lr: 0.02
"""

HARDEN = """\
models:
  - {model: walknets:small, label: user, kwargs: {hidden: 6}}
data: walkdata:load
methods: [float, qat]
qat:
  - {bits: 4, act_step: 0.25}
kind: add
grid: {min: 0.1, max: 1, per_decade: 1}
repeats: 1
epochs: 3
batch_size: 40
lr: 0.02
crossbar: {profiles: [ideal, reram], limit_test: 60, tile_rows: {ideal: fan-in}}
"""


@pytest.fixture
def user_code(tmp_path, monkeypatch):
    """The user's modules next to the configs, imported from the current folder as the CLI does."""
    (tmp_path / "walknets.py").write_text(textwrap.dedent(NETS))
    (tmp_path / "walkdata.py").write_text(textwrap.dedent(DATA))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("walknets", "walkdata"):
        sys.modules.pop(name, None)


def test_walk_on_a_users_factory_and_data_runs_and_resumes_only_on_the_same_source(user_code, capsys):
    cfg = user_code / "walk.yaml"
    cfg.write_text(WALK)
    out = user_code / "out"
    assert main(["walk", str(cfg), "--out", str(out), "--no-progress", "--no-plots"]) == 0
    result = json.loads((out / "walk.json").read_text())
    assert result["complete"]
    # the user's operations get positions; the paper's (switched-off) noise layers do not
    assert [p["op"] for p in result["positions"]] == ["input", "Linear", "BatchNorm1d", "ReLU", "Linear"]
    assert result["model"]["name"] == "walknets:small" and result["model"]["kwargs"] == {"hidden": 5}
    assert result["data"]["train"]["n"] == 240 and result["data"]["test"]["n"] == 60
    # the network learnt the data: clean accuracy of every repeat above chance by 3 binomial sd
    bound = 1 / 3 + 3 * math.sqrt((1 / 3) * (2 / 3) / 60)
    clean = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    clean = [r["accuracy"] for r in clean if r.get("type") == "clean"]
    assert len(clean) == 2 and min(clean) > bound, clean
    points = {(m["mode"], m["position"]) for m in result["midpoints"]}
    assert points == {(mode, p) for mode in ("inference", "training") for p in (1, 4)}
    capsys.readouterr()
    # the model identity is part of the resume key: an edited factory is refused, nothing reused
    (user_code / "walknets.py").write_text(textwrap.dedent(NETS).replace("hidden=8", "hidden=7"))
    assert main(["walk", str(cfg), "--out", str(out), "--no-progress", "--no-plots"]) == 2
    err = capsys.readouterr().err
    assert "model.source_sha256" in err, err


def test_harden_on_a_users_factory_quantises_its_layers_and_calibrates_the_chip(user_code, capsys):
    cfg = user_code / "harden.yaml"
    cfg.write_text(HARDEN)
    out = user_code / "hout"
    assert main(["harden", str(cfg), "--out", str(out), "--no-progress", "--no-plots"]) == 0
    result = json.loads((out / "harden.json").read_text())
    assert result["complete"]
    rows = {row["method"] for net in result["networks"] for row in net["rows"]}
    assert {"float", "QAT 4-bit, step 0.25"} <= rows, rows
    # reram's ADC ranges are calibrated on training inputs: no read with the fixed range
    assert "not calibrated" not in capsys.readouterr().err


def test_a_users_factory_that_is_missing_is_one_clear_line(user_code, capsys):
    cfg = user_code / "walk.yaml"
    cfg.write_text(WALK.replace("walknets:small", "walknets:large"))
    assert main(["walk", str(cfg), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(cfg) in err and "'model'" in err and "large" in err, err
