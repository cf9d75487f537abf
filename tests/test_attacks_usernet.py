"""`crossbar-sim attack` with a user's own network (package.module:factory written into
tmp_path and imported by its path) and the user's own data (.npz): it runs, and an edited
factory or data file is refused on resume, never reused."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from crossbar.cli import main

FACTORY = '''
from torch import nn


def tiny(hidden: int = 16, classes: int = 3) -> nn.Module:
    """A small MLP for 1 x 6 x 6 images: two products, hence two noise layers once placed."""
    return nn.Sequential(nn.Flatten(), nn.Linear(36, hidden), nn.ReLU(), nn.Linear(hidden, classes))
'''


@pytest.fixture()
def user_files(tmp_path, monkeypatch) -> Path:
    """attacknets_usr.py and blobs.npz (3 classes of 6 x 6 images in [0, 1]) in tmp_path,
    which is the current folder (the CLI imports the factory from there, like ``python -m``)."""
    (tmp_path / "attacknets_usr.py").write_text(textwrap.dedent(FACTORY))
    gen = np.random.default_rng(7)
    centres = gen.uniform(0.2, 0.8, size=(3, 1, 6, 6))

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = gen.integers(0, 3, size=n)
        x = np.clip(centres[y] + gen.normal(0, 0.1, size=(n, 1, 6, 6)), 0, 1).astype(np.float32)
        return x, y.astype(np.int64)

    x_tr, y_tr = split(64)
    x_te, y_te = split(16)
    np.savez(tmp_path / "blobs.npz", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    sys.modules.pop("attacknets_usr", None)
    if str(tmp_path) in sys.path:
        sys.path.remove(str(tmp_path))


def _config(folder: Path, **changes) -> Path:
    cfg = {
        "data": "blobs.npz",
        "attack": {"eps": 0.1, "step": 0.05, "iterations": 3, "restarts": 2},
        "train_attack": {"iterations": 2},
        "nn_adv": {"model": "attacknets_usr:tiny", "epochs": 3, "batch_size": 8, "lr": 0.02,
                   "model_kwargs": {"hidden": 12}},
        "nn_val": {"model": "attacknets_usr:tiny", "epochs": 2, "batch_size": 8, "lr": 0.02},
        "sigma_val": [0.0, 0.3], "runs": 3, "votes": 0,
        "whitebox": {"limit": 8, "eot_samples": 2},
        "attack_batch_size": 8, "draws_per_pass": 3, "seed": 41, "out": "out",
        **changes,
    }
    path = folder / "attack.yaml"
    path.write_text(json.dumps(cfg))  # JSON is YAML
    return path


def test_an_attack_config_with_a_users_factory_and_data_runs(user_files, capsys):
    assert main(["attack", str(_config(user_files)), "--no-progress"]) == 0
    rep = json.loads((user_files / "out" / "report.json").read_text())
    assert rep["n"] == 16 and rep["whitebox_n"] == 8
    assert [r["sigma_val"] for r in rep["blackbox"]] == [0.0, 0.3]
    for r in rep["blackbox"] + rep["natural"] + rep["whitebox"]:
        assert len(r["accuracy"]) == 3 and r["wilson"][0] <= r["mean"] <= r["wilson"][1]
    assert 0.0 < rep["linf_max"] <= 0.1  # the attack moved the inputs, within its bound
    assert rep["models"]["nn_adv"]["model"] == "attacknets_usr:tiny"
    ident = json.loads((user_files / "out" / "attack.json").read_text())["identity"]
    assert ident["nn_adv"]["name"] == "attacknets_usr:tiny" and ident["nn_adv"]["kwargs"] == {"hidden": 12}
    assert ident["nn_adv"]["source"] == ident["nn_val"]["source"] and ident["nn_adv"]["source"]
    # the network was trained: clean accuracy on its own test data beats chance (1/3) clearly
    assert rep["nn_adv"]["natural"]["wilson"][0] > 1 / 3


def test_an_edited_factory_or_data_file_is_refused_on_resume(user_files, capsys):
    path = _config(user_files, nn_adv={"model": "attacknets_usr:tiny", "epochs": 1},
                   nn_val={"model": "attacknets_usr:tiny", "epochs": 1}, whitebox=None)
    assert main(["attack", str(path), "--no-progress"]) == 0
    capsys.readouterr()
    source = user_files / "attacknets_usr.py"
    source.write_text(source.read_text().replace("nn.ReLU()", "nn.ReLU(inplace=False)"))
    sys.modules.pop("attacknets_usr", None)
    assert main(["attack", str(path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "other data or networks" in err and "nn_adv: stored {" in err

    source.write_text(textwrap.dedent(FACTORY))  # the factory back, the data changed
    sys.modules.pop("attacknets_usr", None)
    with np.load(user_files / "blobs.npz") as f:
        arrays = {k: f[k] for k in f.files}
    arrays["x_test"] = arrays["x_test"][::-1].copy()
    np.savez(user_files / "blobs.npz", **arrays)
    assert main(["attack", str(path), "--no-progress"]) == 2
    assert "test_data: stored '" in capsys.readouterr().err


def test_data_outside_the_pixel_range_is_refused(user_files, capsys):
    with np.load(user_files / "blobs.npz") as f:
        arrays = {k: f[k] for k in f.files}
    arrays["x_train"] = arrays["x_train"] * 255
    np.savez(user_files / "wide.npz", **arrays)
    assert main(["attack", str(_config(user_files, data="wide.npz")), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "key 'data': train inputs span [0, 255" in err and "pixel range [0, 1]" in err
