"""`crossbar-sim attack` on a tiny configuration: report, interrupted run resumed, refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from crossbar.attacks import load_config, run_attack
from crossbar.attacks.paper import TABLE11
from crossbar.cli import main

TINY = {
    "data": "mnist5k", "limit_train": 32, "limit_test": 12,
    "attack": {"preset": "mnist", "iterations": 3, "restarts": 2},
    "train_attack": {"iterations": 2},
    "nn_adv": {"model": "cnn6", "epochs": 2, "lr": 0.001},  # small checkpoints: a fast test
    "nn_val": {"model": "cnn6", "epochs": 1, "lr": 0.001},
    "sigma_val": [0.0, 0.2, 0.4], "runs": 3, "votes": 2,
    "whitebox": {"limit": 4, "eot_samples": 2},
    "attack_batch_size": 8, "eval_batch_size": 25, "draws_per_pass": 3, "seed": 3,
}
# 2 networks + 2 black-box chunks + 3 white-box chunks + 9 evaluations
N_PARTS = 16


def _config(tmp: Path, **changes) -> Path:
    path = tmp / "attack.yaml"
    path.write_text(json.dumps({**TINY, "out": str(tmp / "unused"), **changes}))  # JSON is YAML
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("attack")
    assert main(["attack", str(_config(tmp)), "--out", str(tmp / "ref"), "--no-progress"]) == 0
    return tmp / "ref"


def test_cli_writes_table_11_with_uncertainties(reference, capsys):
    rep = json.loads((reference / "report.json").read_text())
    assert [r["sigma_val"] for r in rep["blackbox"]] == [0.0, 0.2, 0.4]
    for r in rep["blackbox"] + rep["natural"] + rep["whitebox"]:
        assert len(r["accuracy"]) == 3 and r["wilson"][0] <= r["mean"] <= r["wilson"][1]
        assert r["votes"]["k"] == 2
    assert rep["n"] == 12 and rep["whitebox_n"] == 4 and all(r["n"] == 4 for r in rep["whitebox"])
    assert 0.0 < rep["linf_max"] <= 0.3
    paper = rep["paper"]["table11_percent"]  # the transcription in crossbar.attacks.paper, shown as is
    assert paper == {k: {f"{s:g}": v for s, v in t.items()} for k, t in TABLE11.items()}
    assert rep["models"]["nn_adv"]["history"]["epoch"] == [1, 2]
    md = (reference / "report.md").read_text()
    table = md.split("## Table 11")[1].split("##")[0]
    rows = [line for line in table.splitlines() if line.startswith("| 0")]
    shown = f"| {TABLE11['mnist'][0.2]:.2f} | {TABLE11['cifar10'][0.2]:.2f} |"
    assert len(rows) == 3 and rows[1].rstrip().endswith(shown)
    assert "## White-box check" in md


def test_interrupted_run_resumes_to_the_same_result(reference, tmp_path):
    out = tmp_path / "interrupted"
    done: list[str] = []

    def stop_after_six(name: str) -> None:
        done.append(name)
        if len(done) == 6:
            raise KeyboardInterrupt("injected")

    cfg = load_config(_config(tmp_path))
    shutil.copytree(reference / "models", out / "models")  # trained networks are reused, not parts
    with pytest.raises(KeyboardInterrupt):
        run_attack(cfg, out=out, progress=False, on_part=stop_after_six)
    assert not (out / "report.json").exists()
    kept = {p: p.stat().st_mtime_ns for p in (out / "parts").iterdir()}
    assert len(kept) == 4  # the two networks are checkpoints, not parts
    assert main(["attack", str(_config(tmp_path)), "--out", str(out), "--no-progress"]) == 0
    for p, t in kept.items():  # finished parts are reused, not made again
        assert p.stat().st_mtime_ns == t
    assert len(list((out / "parts").iterdir())) == N_PARTS - 2
    for name in ("report.json", "report.md"):
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    resumed = []
    run_attack(cfg, out=out, progress=False, on_part=resumed.append)
    assert resumed == ["models/nn_adv", "models/nn_val"]  # nothing left to compute


def test_changed_inputs_are_refused_with_the_reason(reference, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(reference, copy)
    assert main(["attack", str(_config(tmp_path, runs=4)), "--out", str(copy), "--no-progress"]) == 2
    assert "runs: stored 3, now 4" in capsys.readouterr().err

    ckpt_path = copy / "models" / "nn_val.pt"  # same configuration, other weights
    ckpt = torch.load(ckpt_path, weights_only=True)
    name = next(k for k in ckpt["state_dict"] if k.endswith("weight"))
    ckpt["state_dict"][name] = ckpt["state_dict"][name] * 1.01
    torch.save(ckpt, ckpt_path)
    assert main(["attack", str(_config(tmp_path)), "--out", str(copy), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "eval-natural-0.0.json was made from other inputs" in err and "nn_val: stored '" in err


def test_bad_config_names_file_key_value_and_allowed(tmp_path, capsys):
    path = _config(tmp_path, votes="many")
    assert main(["attack", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "key 'votes': invalid value (got 'many'); allowed: an integer >= 0" in err
