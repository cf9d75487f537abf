"""train(): learning, per-epoch checkpoints, exact resume, refusal of foreign checkpoints."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from crossbar import models as zoo
from crossbar.nn import NoiseConfig, noise_layers
from crossbar.training import History, evaluate, load_checkpoint, loop, train
from crossbar.training.recipe import lr_at

MULT = NoiseConfig("mult", 0.3, 0.1)


@dataclass
class Toy:
    """Anything with .x / .y tensors will do; this mimics crossbar.data.Dataset."""

    x: torch.Tensor
    y: torch.Tensor
    classes: int = 4
    name: str = "toy"
    source: str = "synthetic"


def toy(n: int, seed: int, size: int = 16) -> Toy:
    """Four classes, each lighting up its own band of rows: learnable in a few steps."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=g)
    x = 0.3 * torch.rand(n, 1, size, size, generator=g)
    band = size // 4
    for k in range(4):
        x[y == k, :, band * k : band * (k + 1), :] += 0.7
    return Toy(x, y)


TRAIN, TEST = toy(97, 1), toy(64, 2)  # 97 = 3 * 32 + 1: the lone last sample is skipped


def _run(tmp: Path | None, epochs: int, **kw):
    kw.setdefault("noise", MULT)
    kw.setdefault("lr", 1e-3)
    return train(
        "cnn6",
        TRAIN,
        test_data=TEST,
        epochs=epochs,
        checkpoint=tmp,
        progress=False,
        **kw,
    )


def _same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------- resume


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path):
    straight, h_straight = _run(tmp_path / "a.pt", 2)
    _, h1 = _run(tmp_path / "b.pt", 1)
    assert len(h1) == 1
    resumed, h2 = _run(tmp_path / "b.pt", 2)
    assert _same_state(straight.state_dict(), resumed.state_dict())
    assert h2.epoch == [1, 2]
    assert h2.train_loss == h_straight.train_loss
    assert h2.test_acc == h_straight.test_acc
    a, b = torch.load(tmp_path / "a.pt"), torch.load(tmp_path / "b.pt")
    assert a["epoch"] == b["epoch"] == 2
    assert torch.equal(a["rng"]["shuffle"], b["rng"]["shuffle"])
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    assert all(_same_state(sa[k], sb[k]) for k in sa)
    # nothing but the checkpoints is left in the folder (atomic tmp + replace)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt", "b.pt"]
    # noise was on: a run without noise ends elsewhere
    plain, _ = _run(None, 2, noise=NoiseConfig())
    assert not _same_state(straight.state_dict(), plain.state_dict())


def test_finished_checkpoint_is_not_trained_again(tmp_path):
    path = tmp_path / "c.pt"
    model, hist = _run(path, 1)
    stamp = path.stat().st_mtime_ns
    again, hist2 = _run(path, 1)
    assert path.stat().st_mtime_ns == stamp
    assert _same_state(model.state_dict(), again.state_dict())
    assert hist2.to_dict() == hist.to_dict()
    fresh, _ = _run(path, 1, resume=False)  # resume=False starts over and overwrites
    assert path.stat().st_mtime_ns != stamp
    assert _same_state(model.state_dict(), fresh.state_dict())  # same seed, same run


@pytest.mark.parametrize(
    ("change", "what"),
    [
        ({"noise": NoiseConfig("mult", 0.5, 0.1)}, "noise"),
        ({"seed": 1}, "seed"),
        ({"lr": 2e-3}, "lr"),
        ({"batch_size": 16}, "batch_size"),
        ({"optimizer": "sgd"}, "optimizer"),
    ],
)
def test_checkpoint_of_another_configuration_is_refused(tmp_path, change, what):
    path = tmp_path / "d.pt"
    _run(path, 1)
    before = path.read_bytes()
    with pytest.raises(ValueError, match=rf"different run configuration(.|\n)*{what}"):
        _run(path, 2, **change)
    assert path.read_bytes() == before


def test_non_checkpoint_file_is_refused(tmp_path):
    path = tmp_path / "e.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="not a crossbar-sim training checkpoint"):
        _run(path, 1)


# ---------------------------------------------------------------- checkpoint contents


def test_load_checkpoint_rebuilds_the_model(tmp_path):
    path = tmp_path / "f.pt"
    model, hist = _run(path, 1)
    loaded, info = load_checkpoint(path)
    assert not loaded.training
    assert _same_state(model.state_dict(), loaded.state_dict())
    assert info["model"] == "cnn6"
    assert info["model_kwargs"] == {"num_classes": 4, "in_channels": 1, "image_size": 16}
    assert info["noise"] == MULT
    assert all(layer.config == MULT for layer in noise_layers(loaded))
    assert info["epoch"] == 1 and info["history"].to_dict() == hist.to_dict()
    assert info["data"] == {"name": "toy", "source": "synthetic", "test_source": "synthetic"}
    assert info["config"]["optimizer"] == "adam" and info["config"]["batch_size"] == 32
    assert {"optimizer", "rng", "state_dict"} - set(info) == {"state_dict"}
    # same weights and same noise stream: identical noisy eval outputs
    model.eval()
    x = TEST.x[:8]
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


def test_custom_module_checkpoint_needs_model_argument(tmp_path):
    path = tmp_path / "g.pt"
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 4))
    train(net, TRAIN, epochs=1, checkpoint=path, progress=False, lr=1e-2)
    with pytest.raises(ValueError, match="model="):
        load_checkpoint(path)
    other = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 4))
    loaded, info = load_checkpoint(path, model=other)
    assert _same_state(loaded.state_dict(), net.state_dict())
    assert info["config"]["model"] == "module:Sequential"


# ---------------------------------------------------------------- behaviour


def test_history_and_learning_on_synthetic_data():
    model, hist = _run(None, 3, noise=NoiseConfig())
    assert isinstance(hist, History) and hist.epoch == [1, 2, 3]
    assert hist.train_loss[-1] < hist.train_loss[0]
    assert hist.train_acc[-1] > 0.9
    assert all(t > 0 for t in hist.time) and hist.lr == [1e-3] * 3
    assert evaluate(model, TEST) == hist.test_acc[-1]
    assert History.from_dict(hist.to_dict()) == hist
    assert "test acc" in hist.table()


def test_module_input_keeps_its_noise_unless_told():
    net = zoo.build("cnn6", MULT, num_classes=4, image_size=16)
    net.classifier[-1].config = NoiseConfig()  # per-layer switch
    train(net, TRAIN, epochs=1, progress=False)
    assert net.classifier[-1].config == NoiseConfig()
    train(net, TRAIN, epochs=1, progress=False, noise=NoiseConfig("add", 0.2))
    assert all(layer.config == NoiseConfig("add", 0.2) for layer in noise_layers(net))


def test_global_rng_untouched_and_test_data_optional():
    state = torch.random.get_rng_state()
    _, hist = train("cnn6", TRAIN, epochs=1, progress=False)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert math.isnan(hist.test_acc[0])


def test_lstm_trains_on_sequences():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (40,), generator=g)
    x = torch.randn(40, 6, 2, generator=g) * 0.1 + y[:, None, None].float()
    seqs = Toy(x, y, classes=3, name="seq")
    model, hist = train("lstm", seqs, epochs=1, progress=False, noise=MULT, model_kwargs={"hidden": 16})
    assert model.steps == 6 and model.hidden == 16 and len(hist) == 1


def test_dataset_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match=r"densenet40.*expects images of 3 channel"):
        train("densenet40", TRAIN, progress=False)
    with pytest.raises(ValueError, match="lstm_strokes.*expects sequences"):
        train("lstm_strokes", TRAIN, progress=False)


@pytest.mark.parametrize(
    "kw",
    [
        {"epochs": -1},
        {"seed": -3},
        {"lr": 0.0},
        {"batch_size": 0},
        {"optimizer": "rmsprop"},
        {"limit": 0},
    ],
)
def test_invalid_arguments(kw):
    with pytest.raises(ValueError):
        train("cnn6", TRAIN, progress=False, **kw)


def test_lr_schedule_of_densenet_recipe():
    r = zoo.recipe("densenet40")
    lrs = [lr_at(0.1, e, 300, r["lr_milestones"], r["lr_gamma"]) for e in range(300)]
    assert lrs[0] == lrs[149] == 0.1
    assert math.isclose(lrs[150], 0.01) and math.isclose(lrs[224], 0.01)
    assert math.isclose(lrs[225], 0.001) and math.isclose(lrs[299], 0.001)
    assert lr_at(0.1, 0, 1, r["lr_milestones"], r["lr_gamma"]) == 0.1  # short runs
    assert [lr_at(1.0, e, 4, [0.5, 0.75], 0.1) for e in range(4)] == [1, 1, 0.1, 0.1**2]


# ---------------------------------------------------------------- real data, CLI


def _mnist5k_available() -> bool:
    try:
        from crossbar.data import load

        load("mnist5k", split="test", limit=1)
    except Exception:
        return False
    return True


@pytest.mark.skipif(not _mnist5k_available(), reason="crossbar.data mnist5k not available")
def test_training_improves_accuracy_on_real_mnist5k():
    from crossbar.data import load

    test = load("mnist5k", split="test", limit=500)
    before = evaluate(zoo.build("cnn6"), test)
    # 500 real digits, one epoch; small batches give the batch-norm running
    # statistics (used at test time) enough updates to settle
    model, hist = train(
        "cnn6", "mnist5k", limit=500, epochs=1, lr=1e-3, batch_size=8, progress=False, noise=MULT
    )
    assert hist.test_acc[-1] > 0.6
    assert hist.test_acc[-1] > before + 0.4
    assert hist.train_acc[-1] > 0.5


def test_cli_train(tmp_path, monkeypatch, capsys):
    from crossbar.cli import train as cli

    loaded = []

    def fake_load(name, split, root, limit):
        loaded.append((name, split, limit))
        return TRAIN if split == "train" else TEST

    monkeypatch.setattr(loop, "load_dataset", fake_load)
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    out = tmp_path / "cli.pt"
    args = parser.parse_args(
        "--model cnn6 --data toy --noise mult --sigma-train 0.5 --epochs 1 "
        f"--batch-size 16 --lr 0.001 --seed 2 --out {out} --limit 50 --device cpu --quiet".split()
    )
    assert cli.run(args) == 0
    text = capsys.readouterr().out
    assert "final: train accuracy" in text and "test accuracy" in text
    assert loaded == [("toy", "train", 50), ("toy", "test", 50)]
    _, info = load_checkpoint(out)
    assert info["noise"] == NoiseConfig("mult", 0.5, 0.0)
    assert info["config"]["batch_size"] == 16 and info["config"]["seed"] == 2


def test_cli_train_with_the_fast_noise_generator(tmp_path, monkeypatch):
    """--noise-generator box-muller reaches the checkpoint's noise config and names the default
    checkpoint file apart; the default generator keeps the name it had."""
    from crossbar.cli import train as cli

    monkeypatch.setattr(loop, "load_dataset", lambda name, split, root, limit: TRAIN if split == "train"
                        else TEST)
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    line = "--model cnn6 --data toy --noise mult --sigma-train 0.5 --epochs 1 --limit 50 --device cpu --quiet"
    out = tmp_path / "fast.pt"
    fast = parser.parse_args(f"{line} --noise-generator box-muller --out {out}".split())
    assert cli.run(fast) == 0
    assert load_checkpoint(out)[1]["noise"] == NoiseConfig("mult", 0.5, 0.0, "box-muller")
    default = parser.parse_args(line.split())
    named = parser.parse_args(f"{line} --noise-generator ziggurat".split())
    assert cli.default_checkpoint(default, None) == cli.default_checkpoint(named, None)
    assert cli.default_checkpoint(fast, None) != cli.default_checkpoint(default, None)


# ---------------------------------------------------------------- divergence, corrupt files, identity


@pytest.mark.parametrize("kw", [{"lr": 1e30}, {"noise": NoiseConfig("mult", 1e300, 0.0)}])
def test_a_diverged_run_is_an_error_and_saves_nothing(tmp_path, kw):
    path = tmp_path / "nan.pt"
    with pytest.raises(ValueError, match=r"training diverged in epoch 1: .*NaN or infinite"):
        _run(path, 2, **kw)
    assert not path.exists()


def test_cli_train_diverged_exits_non_zero_without_a_checkpoint(tmp_path, monkeypatch, capsys):
    from crossbar.cli import main

    monkeypatch.setattr(loop, "load_dataset", lambda name, split, root, limit: TRAIN if split == "train"
                        else TEST)
    out = tmp_path / "nan.pt"
    code = main(["train", "--data", "toy", "--lr", "1e30", "--out", str(out), "--quiet", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code != 0 and "training diverged" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_nan_weights_in_a_checkpoint_are_refused(tmp_path):
    path = tmp_path / "f.pt"
    _run(path, 1)
    ckpt = torch.load(path, weights_only=True)
    name = next(k for k, v in ckpt["state_dict"].items() if v.is_floating_point())
    ckpt["state_dict"][name][0] = float("nan")
    torch.save(ckpt, path)
    with pytest.raises(ValueError, match=rf"f.pt: the weights {name} hold NaN"):
        load_checkpoint(path)


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04truncated", bytes(range(256)) * 3, "TRUNCATED"])
def test_unreadable_checkpoints_are_refused_naming_the_file(tmp_path, content):
    path = tmp_path / "g.pt"
    if content == "TRUNCATED":
        _run(path, 1)
        content = path.read_bytes()[:2000]
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"g.pt: not a readable crossbar-sim checkpoint"):
        load_checkpoint(path)


def test_model_digest_names_the_weights_not_the_file(tmp_path):
    """Retraining the same run gives the same weights digest although the file bytes differ
    (the checkpoint stores epoch times); other weights give another digest."""
    from crossbar.training import model_digest

    _run(tmp_path / "a.pt", 1)
    _run(tmp_path / "b.pt", 1)
    _run(tmp_path / "c.pt", 1, seed=1)
    assert (tmp_path / "a.pt").read_bytes() != (tmp_path / "b.pt").read_bytes()
    (ma, ia), (mb, ib), (mc, ic) = (load_checkpoint(tmp_path / f"{n}.pt") for n in "abc")
    assert ia["model_digest"] == ib["model_digest"] == model_digest(ma) == model_digest(mb)
    assert ic["model_digest"] != ia["model_digest"]


def test_checkpoint_remembers_its_training_data(tmp_path):
    """Other training data under the same name is another configuration: no silent resume."""
    path = tmp_path / "h.pt"
    _run(path, 1)
    other = Toy(TRAIN.x.flip(0), TRAIN.y.flip(0))
    with pytest.raises(ValueError, match="data_digest"):
        train("cnn6", other, test_data=TEST, epochs=2, checkpoint=path, progress=False, noise=MULT,
              lr=1e-3)
