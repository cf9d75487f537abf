"""A user's own network and data: the resolver, weights from the seed, checked data, training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crossbar import data as cdata
from crossbar import models
from crossbar.checks import CheckError
from crossbar.nn import NoiseAfter, NoiseConfig, convert, noise_layers
from crossbar.resolve import ImportSpecError, import_object
from crossbar.training import load_checkpoint, model_digest, train

# ---------------------------------------------------------------- the resolver


def test_import_paths_fail_with_what_and_why(user_dir):
    with pytest.raises(ImportSpecError, match="not an import path; expected package.module:attribute"):
        import_object("usernets.Net", "model factory")
    with pytest.raises(ImportSpecError, match=r"no module 'nosuchmodule' on this process's Python path"):
        import_object("nosuchmodule:make", "model factory")
    with pytest.raises(ImportSpecError, match=r"has no attribute 'Nett' \(did you mean 'Net'\?\)"):
        import_object("usernets:Nett", "model factory")
    with pytest.raises(ImportSpecError, match="is a int, not a callable"):
        import_object("usernets:Net.__init__.__code__.co_argcount", "model factory")
    with pytest.raises(TypeError, match="returned a int, not a torch.nn.Module"):
        models.resolve("usernets:not_a_module")


def test_a_factory_without_a_seed_gets_its_weights_from_the_seed(user_dir):
    before = torch.random.get_rng_state()
    a = models.resolve("usernets:Net", seed=1, example=(1, 28, 28))
    b = models.resolve("usernets:Net", seed=1, example=(1, 28, 28))
    c = models.resolve("usernets:Net", seed=2, example=(1, 28, 28))
    assert torch.equal(before, torch.random.get_rng_state())  # the global generator is untouched
    for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q)
    assert not torch.equal(a.fc1.weight, c.fc1.weight)
    # the factory's own scheme (PyTorch's defaults here) is kept: U(+-1/sqrt(fan_in)) biases
    assert a.fc1.bias.abs().max() <= 1 / 576**0.5
    assert a.crossbar_model["name"] == "usernets:Net" and a.crossbar_model["source"]
    assert len(noise_layers(a)) == 3  # after the batch norm, after fc1, after fc2
    assert models.resolve("usernets:seeded", seed=5).seen_seed == 5  # a seed argument gets the seed
    with pytest.raises(models.GlobalRandomError, match="drew from torch's global random generator"):
        models.resolve("usernets:global_draw")
    assert torch.equal(before, torch.random.get_rng_state())


# ---------------------------------------------------------------- data


def test_npz_files_and_loaders_are_checked_naming_file_key_and_value(user_dir, tmp_path):
    train_ds, test_ds = cdata.resolve("userdata:load")
    assert (len(train_ds), len(test_ds), train_ds.classes) == (90, 30, 3)
    assert cdata.load_split("userdata:load", "test", limit=7).x.shape == (7, 6)
    x = np.zeros((10, 2, 3), np.float32)
    y = np.arange(10) % 2
    good = tmp_path / "good.npz"
    np.savez(good, x_train=x, y_train=y, x_test=x[:4], y_test=y[:4])
    tr, te = cdata.resolve(str(good))
    assert tr.x.shape == (10, 2, 3) and te.y.tolist() == [0, 1, 0, 1]
    bad = x.copy()
    bad[6, 1, 2] = np.inf
    cases = [
        (dict(x_train=bad, y_train=y, x_test=x, y_test=y), "key 'x_train': 1 sample.*first at index 6"),
        (dict(x_train=x, y_train=y, x_test=x, y_test=y + 1),
         "key 'y_test': label at index 1 .*got 2.*0..1"),
        (dict(x_train=x, y_train=y * 0.5, x_test=x, y_test=y), "key 'y_train': labels must be integers"),
        (dict(x_train=x, y_train=y, x_test=x[:, :1], y_test=y), "key 'x_test': samples must have the shape"),
        (dict(x_train=x, y_train=y, x_test=x), "key 'y_test': missing"),
        (dict(x_train=x, y_train=-y, x_test=x, y_test=y), "key 'y_train': label out of range at index 1"),
    ]
    for arrays, match in cases:
        path = tmp_path / "bad.npz"
        np.savez(path, **arrays)
        with pytest.raises(CheckError, match=f"^{path}: {match}"):
            cdata.resolve(str(path))
    with pytest.raises(CheckError, match="userdata:broken: the data loader raised RuntimeError: no such"):
        cdata.resolve("userdata:broken")
    with pytest.raises(CheckError, match="no such .npz file"):
        cdata.resolve(str(tmp_path / "missing.npz"))


def test_python_objects_are_data_too():
    from torch.utils.data import TensorDataset

    x, y = torch.rand(12, 4), torch.arange(12) % 4
    for given in [(x, y, x[:4], y[:4]), ((x, y), (x[:4], y[:4])),
                  (TensorDataset(x, y), TensorDataset(x[:4], y[:4])),
                  {"x_train": x, "y_train": y, "x_test": x[:4], "y_test": y[:4]}]:
        tr, te = cdata.resolve(given)
        assert torch.equal(tr.x, x) and torch.equal(te.y, y[:4]) and tr.classes == 4


# ---------------------------------------------------------------- training and convert


def test_train_a_user_network_by_its_import_path(user_dir, tmp_path):
    ckpt = tmp_path / "net.pt"
    net, hist = train("usernets:Net", "mnist5k", noise=NoiseConfig("mult", 0.3), epochs=1, limit=1000,
                      progress=False, checkpoint=ckpt)
    info_lr = hist.lr[-1]
    assert info_lr == models.DEFAULT_RECIPE["lr"] == 1e-3  # a user's network: Adam at 1e-3
    # 1,000 digits, one epoch: far above the 10 % of guessing (1,000 test digits: the binomial
    # standard deviation at chance is 0.95 points, so 30 % is 21 of them above it)
    assert hist.test_acc[-1] > 0.3
    again, info = load_checkpoint(ckpt)  # rebuilt from its import path, no model= needed
    assert info["model_digest"] == model_digest(net) and info["config"]["model"] == "usernets:Net"
    assert info["config"]["model_source"] == net.crossbar_model["source"]
    with pytest.raises(ValueError, match="gives .2, 5. for a batch of 2; 'mnist5k' has 10 classes"):
        train("usernets:Net", "mnist5k", epochs=1, limit=64, progress=False, model_kwargs={"classes": 5})
    with pytest.raises(models.GlobalRandomError, match="nn.Dropout"):
        train("usernets:with_dropout", "mnist5k", epochs=1, limit=64, progress=False)
    # an edited network is another run: resuming its checkpoint is refused, naming the source
    source = user_dir / "usernets.py"
    text = source.read_text()
    try:
        source.write_text(text + "\n# edited\n")
        with pytest.raises(ValueError, match="model_source: checkpoint has"):
            train("usernets:Net", "mnist5k", noise=NoiseConfig("mult", 0.3), epochs=2, limit=1000,
                  progress=False, checkpoint=ckpt)
    finally:
        source.write_text(text)


def test_convert_a_user_network(user_dir):
    net = models.resolve("usernets:Net", example=(1, 28, 28)).eval()
    analog = convert(net, "gaussian-mult", seed=0)  # the network recorded its input shape
    assert isinstance(analog.bn, NoiseAfter)
    x = cdata.load_split("mnist5k", "test", limit=8).x
    assert convert(net, "reram", seed=0)(x).shape == (8, 10)
