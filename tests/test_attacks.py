"""Attacks (FGSM, PGD with restarts, EOT), adversarial training, noisy transfer evaluation."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from crossbar.attacks import (
    PRESETS,
    AttackConfig,
    AttackParams,
    adversarial_train,
    attack_params,
    box,
    cross_entropy,
    eot_gradient,
    evaluate_noisy,
    fgsm,
    load_config,
    madry_batch,
    paired_gain,
    pgd,
    strength,
    transfer_table,
    wilson,
)
from crossbar.experiments import ConfigError
from crossbar.nn import NoiseConfig, NoiseInjection, noise_layers
from crossbar.training import load_checkpoint, train


def _mlp(seed: int = 0, noise: NoiseConfig | None = None) -> nn.Module:
    """A 16-pixel, 3-class network with a noise layer after each product, weights from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 12), NoiseInjection(noise), nn.ReLU(),
                        nn.Linear(12, 3), NoiseInjection(noise))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.8)
    return net.eval()


def _data(n: int = 64, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 4, 4, generator=gen)
    x[:4] = torch.tensor([0.0, 1.0]).repeat(8).view(1, 1, 4, 4)  # pixels on the range's edges
    return x, torch.randint(0, 3, (n,), generator=gen)


def _assert_within(x_adv: torch.Tensor, x: torch.Tensor, eps: float) -> None:
    """Exact checks in float64 (the difference of two float32 values is exact there)."""
    assert x_adv.dtype == x.dtype and x_adv.shape == x.shape
    assert float((x_adv.double() - x.double()).abs().max()) <= eps
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0


# ---------------------------------------------------------------- bounds and losses


@pytest.mark.parametrize("eps", [0.3, 8 / 256, 2 / 255, 1e-3])
def test_box_is_the_exact_eps_cube_within_the_pixel_range(eps):
    gen = torch.Generator().manual_seed(5)
    x = torch.cat([torch.rand(4000, generator=gen), torch.tensor([0.0, 1.0, eps, 1 - eps, 0.7])])
    lo, hi = box(x, eps)
    _assert_within(lo, x, eps)
    _assert_within(hi, x, eps)
    assert bool((lo <= x).all() and (x <= hi).all())
    # tight: the next float32 outwards is either outside the pixel range or more than eps away
    below, above = torch.nextafter(lo, torch.tensor(-1.0)), torch.nextafter(hi, torch.tensor(2.0))
    assert bool(((below < 0) | (x.double() - below.double() > eps)).all())
    assert bool(((above > 1) | (above.double() - x.double() > eps)).all())


def test_box_refuses_inputs_outside_the_pixel_range():
    with pytest.raises(ValueError, match=r"pixel range \[0, 1\]"):
        box(torch.tensor([0.5, 1.2]), 0.1)


def test_pgd_raises_the_loss_within_the_bound():
    net = _mlp()
    x, y = _data()
    params = AttackParams(eps=0.3, step=0.05, iterations=10, restarts=2)
    x_adv = pgd(net, x, y, params, seed=11)
    _assert_within(x_adv, x, 0.3)
    with torch.no_grad():
        before, after = cross_entropy(net(x), y), cross_entropy(net(x_adv), y)
        fooled_before = float((net(x).argmax(1) != y).float().mean())
        fooled_after = float((net(x_adv).argmax(1) != y).float().mean())
    assert bool((after > before).all()), (after - before).min()
    assert fooled_after > fooled_before
    # the steps move pixels: the bound is reached, not just respected
    assert float((x_adv - x).abs().max()) == pytest.approx(0.3, abs=1e-6)


def test_pgd_is_reproducible_and_depends_on_its_seed():
    net = _mlp()
    x, y = _data()
    params = AttackParams(eps=0.1, step=0.02, iterations=3, restarts=2)
    a, b = pgd(net, x, y, params, seed=3), pgd(net, x, y, params, seed=3)
    assert torch.equal(a, b)
    assert not torch.equal(a, pgd(net, x, y, params, seed=4))


def test_fgsm_steps_eps_along_the_gradient_sign_and_clips():
    net = _mlp()
    x, y = _data()
    x_adv = fgsm(net, x, y, 0.2)
    _assert_within(x_adv, x, 0.2)
    xg = x.clone().requires_grad_(True)
    cross_entropy(net(xg), y).sum().backward()
    expected = (x.double() + 0.2 * xg.grad.sign().double()).clamp(0, 1)
    assert float((x_adv.double() - expected).abs().max()) < 1e-7
    with torch.no_grad():
        assert float(cross_entropy(net(x_adv), y).mean()) > float(cross_entropy(net(x), y).mean())


def test_iterative_fgsm_from_x_without_steps_returns_x():
    net = _mlp()
    x, y = _data()
    same = pgd(net, x, y, AttackParams(eps=0.3, step=0.05, iterations=0, random_start=False), seed=0)
    assert torch.equal(same, x)


def test_restarts_never_return_a_weaker_example():
    net = _mlp(seed=2)
    x, y = _data(n=128, seed=9)
    one = AttackParams(eps=0.15, step=0.05, iterations=2, restarts=1)
    many = AttackParams(eps=0.15, step=0.05, iterations=2, restarts=6)
    f1, l1 = strength(net, pgd(net, x, y, one, seed=5), y)
    f6, l6 = strength(net, pgd(net, x, y, many, seed=5), y)
    assert bool((f6 >= f1).all())
    same = f6 == f1
    assert bool((l6[same] >= l1[same] - 1e-6 * l1[same].abs().clamp(min=1)).all())
    # the restarts found something stronger for some inputs (so the check above has teeth)
    assert bool(((f6 & ~f1) | (same & (l6 > l1 + 1e-4))).any())


def test_attack_params_validate_and_presets_are_table_10():
    assert PRESETS["mnist"] == AttackParams(0.3, 0.05, 20, 20)
    assert PRESETS["cifar10"] == AttackParams(8 / 256, 2 / 256, 7, 10)
    for bad in (dict(eps=0.0), dict(step=-1.0), dict(iterations=-1), dict(restarts=0),
                dict(eps=math.nan), dict(restarts=2, random_start=False)):
        with pytest.raises(ValueError):
            AttackParams(**{"eps": 0.1, "step": 0.01, "iterations": 1, **bad})


# ---------------------------------------------------------------- EOT


def test_eot_gradient_is_unbiased_on_a_toy_noisy_network():
    """Linear product W x with multiplicative noise z ~ N(1, s^2) per output and
    loss 0.5 * |z * W x|^2: grad = W^T (z^2 * W x), E = (1 + s^2) W^T W x,
    Var per component = sum_j W_ji^2 (W x)_j^2 Var(z^2), Var(z^2) = 4 s^2 + 2 s^4."""
    s, k = 0.5, 4000
    gen = torch.Generator().manual_seed(0)
    lin = nn.Linear(6, 5, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(5, 6, generator=gen, dtype=torch.float64).float())
    net = nn.Sequential(lin, NoiseInjection(NoiseConfig("mult", sigma_val=s))).eval()
    x = torch.rand(3, 6, generator=gen)
    y = torch.zeros(3, dtype=torch.long)
    half_square = lambda logits, _y: 0.5 * (logits.double() ** 2).sum(-1)  # noqa: E731

    w, wx = lin.weight.double(), (x.double() @ lin.weight.double().T)
    expected = (1 + s * s) * wx @ w
    var = (wx ** 2) @ (w ** 2) * (4 * s * s + 2 * s ** 4)
    bound = 5 * (var / k).sqrt()  # 5 standard errors: P(fail) < 1e-6 per component

    got = eot_gradient(net, x, y, samples=k, seed=1, loss_fn=half_square).double()
    assert bool(((got - expected).abs() <= bound).all()), ((got - expected) / bound).abs().max()
    # the bound is tight enough to see the bias of ignoring the noise (noiseless gradient)
    assert bool(((wx @ w - expected).abs() > bound).any())

    # independent draws per sample: the variance of an m-sample mean is var / m
    m, reps = 4, 150
    est = torch.stack([eot_gradient(net, x, y, samples=m, seed=100 + r, loss_fn=half_square).double()
                       for r in range(reps)])
    centred = est - est.mean(0)
    s2 = (centred ** 2).sum(0) / (reps - 1)
    m4 = (centred ** 4).mean(0)
    tol = 5 * ((m4 - s2 ** 2).clamp(min=0) / reps).sqrt()  # std error of a sample variance
    assert bool(((s2 - var / m).abs() <= tol).all()), ((s2 - var / m) / tol).abs().max()


def test_eot_gradient_without_noise_is_the_plain_gradient():
    net = _mlp()
    x, y = _data(n=8)
    xg = x.clone().requires_grad_(True)
    cross_entropy(net(xg), y).sum().backward()
    got = eot_gradient(net, x, y, samples=5, seed=2)
    assert torch.allclose(got, xg.grad, rtol=1e-5, atol=1e-7)


def test_pgd_with_eot_against_a_noisy_network_stays_within_the_bound():
    net = _mlp(noise=NoiseConfig("mult", sigma_val=0.4))
    x, y = _data(n=16)
    x_adv = pgd(net, x, y, AttackParams(eps=0.05, step=0.02, iterations=3, restarts=2), seed=1,
                eot_samples=4)
    _assert_within(x_adv, x, 0.05)
    again = pgd(net, x, y, AttackParams(eps=0.05, step=0.02, iterations=3, restarts=2), seed=1,
                eot_samples=4)
    assert torch.equal(x_adv, again)


# ---------------------------------------------------------------- adversarial training


class _Data:
    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y


def test_madry_batch_replaces_the_second_half_only():
    net = _mlp().train()
    x, y = _data(n=10)
    out = madry_batch(net, x, y, AttackParams(eps=0.2, step=0.1, iterations=2), seed=0)
    assert net.training  # mode restored
    assert torch.equal(out[:5], x[:5])
    assert not torch.equal(out[5:], x[5:])
    _assert_within(out, x, 0.2)


def test_adversarial_training_resumes_exactly_and_loads(tmp_path):
    x, y = _data(n=40, seed=4)
    data, test = _Data(x[:32], y[:32]), _Data(x[32:], y[32:])
    atk = AttackParams(eps=0.1, step=0.05, iterations=2)
    kw = dict(attack=atk, seed=3, test_data=test, lr=1e-2, batch_size=8, progress=False)
    straight, hist = adversarial_train(_mlp(seed=7), data, epochs=2, checkpoint=tmp_path / "a.pt", **kw)
    assert hist.epoch == [1, 2] and all(0.0 <= a <= 1.0 for a in hist.test_acc)
    adversarial_train(_mlp(seed=7), data, epochs=1, checkpoint=tmp_path / "b.pt", **kw)
    resumed, hist_b = adversarial_train(_mlp(seed=7), data, epochs=2, checkpoint=tmp_path / "b.pt", **kw)
    assert hist_b.train_loss == hist.train_loss
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    loaded, info = load_checkpoint(tmp_path / "b.pt", model=_mlp(seed=0))
    assert info["epoch"] == 2 and info["config"]["adversarial"]["attack"] == atk.to_dict()
    assert torch.equal(loaded[1].weight, straight[1].weight)
    with pytest.raises(ValueError, match="different training run"):
        adversarial_train(_mlp(seed=7), data, epochs=2, checkpoint=tmp_path / "b.pt",
                          **{**kw, "attack": AttackParams(eps=0.2, step=0.05, iterations=2)})
    with pytest.raises(ValueError, match="adversarial"):  # plain training refuses to continue it
        train(_mlp(seed=7), data, epochs=3, checkpoint=tmp_path / "b.pt", progress=False, device="cpu")


# ---------------------------------------------------------------- transfer evaluation


def test_wilson_interval_matches_its_closed_forms():
    z2 = 1.959963984540054 ** 2
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(z2 / (10 + z2))
    a, b = wilson(7, 20)
    c, d = wilson(13, 20)
    assert a == pytest.approx(1 - d) and b == pytest.approx(1 - c)
    assert a < 7 / 20 < b
    for k in range(0, 31):  # the interval holds the estimate, exactly at the ends
        lo, hi = wilson(k, 30)
        assert 0.0 <= lo <= k / 30 <= hi <= 1.0
    assert wilson(30, 30)[1] == 1.0 and wilson(0, 30)[0] == 0.0


def test_transfer_table_has_the_shape_of_table_11():
    net = _mlp(noise=NoiseConfig("mult"))
    x, y = _data(n=30)
    sigmas = [0.0, 0.1, 0.2, 0.3, 0.4]
    rows = transfer_table(net, x, y, sigmas, seed=2, runs=4, votes=3, batch_size=7, draws_per_pass=3)
    assert [r["sigma_val"] for r in rows] == sigmas
    for r in rows:
        assert r["n"] == 30 and r["runs"] == 4 and len(r["accuracy"]) == 4
        assert r["mean"] == pytest.approx(sum(r["accuracy"]) / 4)
        assert r["wilson"][0] <= r["mean"] <= r["wilson"][1]
        assert len(r["correct"]) == 30 and all(0 <= c <= 4 for c in r["correct"])
        assert sum(r["correct"]) == round(r["mean"] * 4 * 30)
        assert r["votes"]["k"] == 3 and r["votes"]["groups"] == 1
    assert rows[0]["std"] == 0.0 and rows[-1]["std"] > 0.0  # noiseless runs are identical
    g = paired_gain(rows[2], rows[0])
    assert g["mean"] == pytest.approx(rows[2]["mean"] - rows[0]["mean"])
    assert g["low"] <= g["mean"] <= g["high"]
    assert paired_gain(rows[0], rows[0]) == {"mean": 0.0, "low": 0.0, "high": 0.0}
    again = transfer_table(net, x, y, sigmas, seed=2, runs=4, votes=3, batch_size=7, draws_per_pass=3)
    assert again == rows


def test_evaluation_on_a_device_profile_programs_one_chip_per_run():
    net = _mlp(noise=NoiseConfig("mult", sigma_val=0.3))
    x, y = _data(n=20)
    calib = _data(n=16, seed=5)[0]  # training inputs set the calibrated ADC ranges, never test inputs
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a chip read with an uncalibrated range warns
        rec = evaluate_noisy(net, x, y, 1.0, seed=1, runs=3, votes=2, profile="reram", calibration=calib)
    assert len(rec["accuracy"]) == 3 and rec["votes"]["groups"] == 1
    assert len(set(rec["accuracy"])) > 1  # independently programmed chips differ
    assert [layer.config.sigma_val for layer in noise_layers(net)] == [0.0, 0.0]  # only the device
    again = evaluate_noisy(net, x, y, 1.0, seed=1, runs=3, votes=2, profile="reram", calibration=calib)
    assert again == rec
    with pytest.warns(RuntimeWarning, match="not calibrated"):
        evaluate_noisy(net, x, y, 1.0, seed=1, runs=1, profile="reram")


# ---------------------------------------------------------------- configuration


def test_config_presets_overrides_and_errors():
    cfg = AttackConfig.from_dict({"attack": {"preset": "mnist", "restarts": 2}, "nn_val": {"model": "cnn6"}})
    assert cfg.attack == AttackParams(0.3, 0.05, 20, 2)
    assert cfg.train_attack.restarts == 1 and cfg.whitebox.attack == cfg.attack
    assert AttackConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.replace(out="elsewhere", threads=2).hash() == cfg.hash() != cfg.replace(runs=3).hash()
    assert attack_params("a", "cifar10") == PRESETS["cifar10"]
    for d, match in [
        ({"attack": "imagenet"},
         r"key 'attack': invalid value \(got 'imagenet'\); allowed: one of mnist, cifar10"),
        ({"attack": {"preset": "mnist", "eps": -1}}, r"key 'attack': attack eps must be .* \(got \{"),
        ({"nn_adv": {"model": "resnet"}},
         r"key 'nn_adv.model': not a network \(got 'resnet'\); allowed: one of "
         r".*madry_cnn4, .*conv_gru_strokes, vit, or an import path package.module:factory"),
        ({"nn_adv": {"model": "no_such_module_xyz:net"}}, r"key 'nn_adv.model': .*no_such_module_xyz"),
        ({"nn_adv": {"model": "cnn6", "model_kwargs": {"colour": 1}}}, r"key 'nn_adv.model_kwargs.*colour"),
        ({"nn_val": {"epochs": 3}}, r"key 'nn_val.model': invalid value \(got None\)"),
        ({"data": "mnist-strokes"}, r"key 'data': .*allowed: one of mnist, fashion-mnist, mnist5k, cifar10"),
        ({"data": "missing.npz"}, r"key 'data': no such file \(got 'missing.npz'\)"),
        ({"sigma_val": [0.1, 0.1]}, r"key 'sigma_val': invalid value .*; allowed: distinct values"),
        ({"whitebox": {"eot": 2}},
         r"key 'whitebox.eot': unknown key \(got 'eot'\); allowed: attack, eot_samples"),
        ({"profile": "reram"}, r"key 'whitebox': .*allowed: null with a device profile"),
        ({"runs": 0}, r"key 'runs': invalid value \(got 0\); allowed: an integer >= 1"),
        ({"colour": 1}, r"key 'colour': unknown key"),
    ]:
        with pytest.raises(ConfigError, match=match):
            AttackConfig.from_dict(d)


@pytest.mark.parametrize("path", sorted(Path(__file__).parent.parent.glob("examples/attack*.yaml"))
                         + sorted(Path(__file__).parent.parent.glob("docs/results/attacks-*.yaml")))
def test_shipped_attack_configs_are_valid(path):
    cfg = load_config(path)
    assert cfg.sigma_val == (0.0, 0.1, 0.2, 0.3, 0.4) and cfg.runs == 20


def test_paper_figures_in_the_code_match_the_published_yaml():
    """crossbar.attacks.paper and docs/results/qin2018_published.yaml transcribe the same Table 11."""
    import yaml

    from crossbar.attacks.paper import TABLE11

    doc = yaml.safe_load((Path(__file__).parent.parent / "docs/results/qin2018_published.yaml").read_text())
    t11 = doc["table11_blackbox_accuracy_vs_sigma_val_mult"]
    for column in ("mnist", "cifar10"):
        assert TABLE11[column] == dict(zip(t11["sigma_val"], t11[column], strict=True))
