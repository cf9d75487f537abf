"""crossbar.devices.fit / crossbar-sim fit-device: profiles fitted to measured conductances.

Measurements are drawn here, independently of the fit, from the laws as docs/devices.md
states them (and crossbar/kernels.py applies them): a write lands at target + σ_p(target)·z,
a cell is stuck at g_max / g_min with its rate, drifts as G0 (t / t0)^-ν with
ν ~ N(ν_mean(G0), ν_std(G0)) clipped at 0, and each read adds σ_r(G(t), t)·z.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from crossbar.devices import MeasurementError, Measurements, fit, read_measurements
from scipy import stats

from crossbar import devices
from crossbar.cli import main

PCM_TIMES = (20.0, 200.0, 2000.0, 2e4)


def measure(profile, n=1000, lo=None, times=(20.0,), reads=3, p_on=0.0, p_off=0.0, seed=0,
            spacing=np.linspace, verify=False):
    """Columns of a measurement file of ``n`` cells drawn from ``profile``'s laws, targets
    from ``lo`` to g_max (``spacing=np.geomspace``: evenly in ln G); ``verify``: the writes
    of the profile's program-and-verify loop, each read once (``attempt`` k)."""
    rng = np.random.default_rng(seed)
    lo = profile.g_max * 0.1 if lo is None else lo
    target = rng.permutation(spacing(lo, profile.g_max, n))
    writes = {k: [] for k in ("cell", "target_S", "time_s", "conductance_S", "attempt")}
    g0 = np.zeros(n)
    active = np.ones(n, dtype=bool)
    for k in range(1, profile.verify.max_iterations + 1 if verify else 2):
        g0[active] = target[active] + profile.programming_noise.std(target[active]) * \
            rng.standard_normal(int(active.sum()))
        if verify:
            read = g0 + profile.read_noise.std(g0, times[0]) * rng.standard_normal(n)
            for key, value in (("cell", np.arange(n)), ("target_S", target), ("time_s", np.full(n, times[0])),
                               ("conductance_S", read), ("attempt", np.full(n, k))):
                writes[key].append(value[active])
            active &= np.abs(g0 - target) > profile.verify.tolerance * profile.g_range
    g0 = np.maximum(g0, 0.0)
    u = rng.random(n)
    g0 = np.where(u < p_on, profile.g_max, np.where(u > 1 - p_off, profile.g_min, g0))
    d = profile.drift
    nu = np.zeros(n) if d is None else np.maximum(
        d.nu_mean(g0) + d.nu_std(g0) * rng.standard_normal(n), 0.0)
    t0 = times[0] if d is None else d.t0
    cols = {k: [] for k in ("cell", "target_S", "time_s", "conductance_S")}
    for t in times:
        gt = g0 * max(t / t0, 1.0) ** (-nu)
        sigma = profile.read_noise.std(gt, t)
        for _ in range(reads):
            for key, value in (("cell", np.arange(n)), ("target_S", target), ("time_s", np.full(n, t)),
                               ("conductance_S", gt + sigma * rng.standard_normal(n))):
                cols[key].append(value)
    if verify:
        cols["attempt"] = [np.zeros(len(c), dtype=np.int64) for c in cols["cell"]]
        for key, value in writes.items():
            cols[key] += value
    return {k: np.concatenate(v) for k, v in cols.items()}


# The true parameters in the fit's units (polynomials in G in µS), per bundled profile.
def _truths():
    pcm, reram, nand = (devices.load(n) for n in ("pcm", "reram", "nand"))
    c = pcm.programming_noise.params["coefficients_uS"]
    pcm_truth = {f"programming coefficients_uS[{k}]": ck / 25.0**k for k, ck in enumerate(c)}
    pcm_truth |= {"read c": 0.0088, "read p": 0.65, "drift nu_mean.a": -0.0155,
                  "drift nu_mean.b": 0.0244, "drift nu_std.a": -0.010, "drift nu_std.b": 0.004}
    # PCM's drift law with its slopes over the whole measured range (clips that do not bind):
    # the clipped variants' Wald intervals of a and b undercover (docs/devices.md)
    pcm = pcm.with_overrides(drift={"t0_s": 20.0,
                                    "nu_mean": {"a": -0.0155, "b": 0.0244, "clip": [0.0, 1.0]},
                                    "nu_std": {"a": -0.010, "b": 0.004, "clip": [0.0, 1.0]}})
    reram_truth = {f"programming coefficients_uS[{k}]": ck for k, ck in
                   enumerate(reram.programming_noise.params["coefficients_uS"])}
    reram_truth["read sigma_S"] = 0.275e-6
    nand_truth = {"programming a_S": 198.8665e-9, "programming b_S": 1.763115e-6,
                  "read a_S": 125.8037e-9, "read b_S": 2.1536557e-6,
                  "stuck stuck_on_rate": 0.01, "stuck stuck_off_rate": 0.01}
    return {
        # profile: (draw settings, forced laws, truths)
        "pcm": (dict(n=800, lo=2.5e-6, times=PCM_TIMES, reads=2, profile=pcm),
                {"programming": "polynomial2", "read": "pcm_1f", "nu_mean": "linear",
                 "nu_std": "linear"},
                pcm_truth),
        "reram": (dict(n=800, lo=12e-6, reads=3, profile=reram.with_overrides(g_max=39.26e-6)),
                  {"programming": "polynomial3", "read": "constant"}, reram_truth),
        "nand": (dict(n=800, lo=0.2e-6, reads=3, p_on=0.01, p_off=0.01, spacing=np.geomspace,
                      profile=nand),
                 {"programming": "saturating_exponential", "read": "saturating_exponential"},
                 nand_truth),
    }


def _intervals(result) -> dict:
    out = {f"programming {e.name}": e for e in result.programming.estimates}
    out |= {f"read {e.name}": e for e in result.read.estimates}
    if result.drift is not None:
        out |= {f"drift {e.name}": e for e in result.drift.estimates}
    out |= {f"stuck {s.estimate.name}": s.estimate for s in result.stuck}
    return out


SEEDS = range(12)
ALPHA = 1e-3  # the test fails when coverage >= 95 % is rejected at this level


def _lowest_passing(n: int) -> int:
    """The smallest number of covering seeds out of n for which P(X <= k) >= ALPHA under
    X ~ Binomial(n, 0.95): fewer is evidence (at level ALPHA) that coverage is below 95 %."""
    return int(stats.binom.ppf(ALPHA, n, 0.95))


def test_fit_recovers_each_bundled_profiles_laws_inside_its_intervals():
    covered: dict[str, int] = {}
    for name, (draw, laws, truth) in _truths().items():
        settings = dict(draw)
        profile = settings.pop("profile")
        for seed in SEEDS:
            m = Measurements.from_columns(measure(profile, seed=seed, **settings), f"{name}-{seed}")
            found = _intervals(fit(m, base=name, families=laws))
            for key, value in truth.items():
                covered[f"{name} {key}"] = covered.get(f"{name} {key}", 0) + found[key].covers(value)
    n = len(SEEDS)
    low = {k: v for k, v in covered.items() if v < _lowest_passing(n)}
    assert not low, (low, n)
    total, cases = sum(covered.values()), n * len(covered)
    print(f"coverage: {total} of {cases} intervals hold the true value "
          f"(binomial P(X <= {total} | 95 %) = {stats.binom.cdf(total, cases, 0.95):.2f})")
    assert stats.binom.cdf(total, cases, 0.95) >= ALPHA, (total, cases, covered)


def test_the_published_pcm_model_is_reproduced_from_data_drawn_from_it(tmp_path):
    """AIHWKit's PCM (docs/devices.md): every law chosen by BIC, the fitted curves against the
    published ones over the measured range. The tolerances are ~4 standard errors of each
    curve at this size (from the fit's own intervals: 1-3 % for σ, 0.002 for ν)."""
    pcm = devices.load("pcm")
    cols = measure(pcm, n=3000, lo=2.5e-6, times=PCM_TIMES, reads=3, spacing=np.geomspace, seed=5)
    path = tmp_path / "pcm.npz"
    np.savez(path, **cols)
    result = fit(path, base="pcm")
    assert result.read.family == "pcm_1f"  # the 1/f time law beats every white law
    fitted = devices.load(result.write(tmp_path / "fitted.yaml"))
    g = np.geomspace(2.5e-6, 25e-6, 9)
    prog = fitted.programming_noise.std(g) / pcm.programming_noise.std(g)
    assert np.all(np.abs(prog - 1) < 0.12), prog
    for t in (20.0, 2e4):
        read = fitted.read_noise.std(g, t) / pcm.read_noise.std(g, t)
        assert np.all(np.abs(read - 1) < 0.05), (t, read)
    assert fitted.drift.t0 == 20.0
    assert np.all(np.abs(fitted.drift.nu_mean(g) - pcm.drift.nu_mean(g)) < 0.004)
    assert np.all(np.abs(fitted.drift.nu_std(g) - pcm.drift.nu_std(g)) < 0.004)
    assert fitted.stuck_on_rate == 0.0 and fitted.stuck_off_rate == 0.0


def test_the_fitted_profile_loads_cites_the_file_and_runs_in_a_converted_network(tmp_path):
    nand = devices.load("nand")
    cols = measure(nand, n=400, lo=0.2e-6, p_on=0.02, p_off=0.02, spacing=np.geomspace, seed=3)
    path = tmp_path / "cells.csv"
    lines = ["cell,target_uS,conductance_uS"] + [
        f"{c},{t * 1e6:.9g},{g * 1e6:.9g}" for c, t, g in
        zip(cols["cell"], cols["target_S"], cols["conductance_S"], strict=True)]
    path.write_text("\n".join(lines) + "\n")
    result = fit(path, base="nand", name="my-sonos")
    out = result.write(tmp_path / "my.yaml")
    profile = devices.load(out)
    assert profile.name == "my-sonos" and profile.levels == 8  # levels are the base's
    assert profile.g_min < 1e-9  # stuck-off cells read at nand's g_min, below every target
    digest = read_measurements(path).sha256[:16]
    for key in ("g_min", "g_max", "programming_noise", "read_noise", "stuck_on_rate",
                "stuck_off_rate"):
        assert profile.sources[key].startswith(f"fitted from cells.csv (400 cells, sha256 {digest})")
    assert profile.drift is None and profile.sources["drift"].startswith("ASSUMPTION")
    assert profile.dac_bits == nand.dac_bits and profile.sources["adc_bits"] == nand.sources["adc_bits"]
    lo, hi = result.stuck[0].estimate.lo, result.stuck[0].estimate.hi
    assert lo <= profile.stuck_on_rate <= hi and lo > 0
    from crossbar.nn import calibrate, convert

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
    analog = convert(net, str(out), seed=1)
    x = torch.randn(5, 16)
    calibrate(analog, x)
    y = analog(x)
    assert y.shape == (5, 4) and torch.isfinite(y).all()
    # a budget or a sweep names it by its path: validated, loaded, noise scaled as any profile
    from crossbar.experiments import BudgetConfig, SweepConfig, scale_noise

    assert BudgetConfig(profile=str(out), checkpoint="unused.pt").base_profile() == profile
    assert SweepConfig(profile=str(out)).profile == str(out)
    g = np.array([1e-6, 8e-6])
    assert np.allclose(scale_noise(profile, 2.0).read_std(g), 2 * profile.read_std(g))
    # and runs there: a small budget and a small sweep on the fitted profile, unchanged
    from crossbar.experiments import run_budget, run_sweep

    gen = torch.Generator().manual_seed(2)
    x_tr, x_te = torch.randn(64, 16, generator=gen), torch.randn(24, 16, generator=gen)
    data = (x_tr, x_tr[:, :4].argmax(1), x_te, x_te[:, :4].argmax(1))
    budget = run_budget(BudgetConfig(profile=str(out), checkpoint=str(tmp_path / "unused.pt"), test_limit=24,
                                     votes=(1,), repeats=1, noise_range=(1.0, 4.0), rel_tol=1.0,
                                     max_evaluations=4, out=str(tmp_path / "budget"), plots=False),
                        model=net.eval(), data=data, progress=False)
    assert budget.profile == "my-sonos" and set(budget.thresholds) == {1}
    cfg = SweepConfig(profile=str(out), sigma_train=(0.0,), sigma_val=(1.0,), runs=1, votes=2, epochs=1,
                      eval_batch_size=12, draws_per_pass=2, out=str(tmp_path / "sweep"))
    sweep = run_sweep(cfg, model=net, data=data, progress=False, report=False)
    assert len(sweep.records) == 1 and 0.0 <= sweep.records[0]["accuracy"][0] <= 1.0


def _write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, words", [
    ("cell,target_S\n0,1e-6\n", ["conductance_S", "required column is missing"]),
    ("cell,target_S,conductance_S\n0,1e-6,nan\n", ["conductance_S, row 2", "not a finite number"]),
    ("cell,target_S,conductance_S\n0,1e-6,-2e-7\n", ["conductance_S, row 2", "negative conductance"]),
    ("cell,target_S,conductance_S\n0,12.5,12.1\n", ["target_S", "look like microsiemens", "12.5"]),
    ("cell,target_uS,conductance_uS\n0,12.5e-6,12e-6\n", ["target_uS", "look like siemens"]),
    ("cell,target_S,conductance_S\n0,1e-6,1e-6\n0,2e-6,1e-6\n", ["target_S, row 3", "two targets"]),
    ("cell,target_S,conductance_S,temp\n0,1e-6,1e-6,3\n", ["temp", "unknown column"]),
    ("cell,target_S,conductance_S\n0,1e-6,1e-6\n1,2e-6,2e-6\n2,3e-6,3e-6\n",
     ["target_S", "too few cells for the programming-noise law"]),
])
def test_bad_measurements_get_one_line_naming_file_column_and_value(tmp_path, text, words):
    path = _write(tmp_path, "bad.csv", text)
    with pytest.raises(MeasurementError) as err:
        fit(path)
    message = str(err.value)
    assert "\n" not in message and message.startswith(str(path))
    for word in words:
        assert word in message, (word, message)


def test_drift_asked_for_without_times_is_refused(tmp_path):
    cols = measure(devices.load("reram"), n=100, lo=12e-6)
    del cols["time_s"]
    path = tmp_path / "no_times.npz"
    np.savez(path, **cols)
    with pytest.raises(MeasurementError, match="time_s.*drift is asked for but the reads have no times"):
        fit(path, drift=True)
    assert fit(path).drift is None  # not asked for: fitted without drift, and said so


def test_the_command_writes_profile_and_report_and_fails_with_one_line(tmp_path, monkeypatch, capsys):
    cols = measure(devices.load("reram"), n=300, lo=12e-6, times=(1.0, 100.0), reads=2, seed=2)
    np.savez(tmp_path / "m.npz", **cols)
    monkeypatch.chdir(tmp_path)
    assert main(["fit-device", "m.npz", "--out", "dev.yaml"]) == 0
    out = capsys.readouterr().out
    assert "programming noise:" in out and "report: dev_fit.md" in out
    profile = devices.load(tmp_path / "dev.yaml")
    assert profile.name == "fitted-m"
    report = (tmp_path / "dev_fit.md").read_text()
    assert "KS p" in report and "dev_fit.png" in report and (tmp_path / "dev_fit.png").stat().st_size
    # reram has white read noise and no drift: the exponents are fitted near 0
    assert abs(profile.drift.nu_mean(np.array([20e-6]))[0]) < 0.01
    assert main(["fit-device", "missing.csv", "--out", "x.yaml"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing.csv: no such measurement file" in err


def test_the_writes_of_program_and_verify_give_the_untruncated_law_and_the_loop():
    """With a tight verify loop (many rewrites), the reads after programming are truncated at
    the tolerance; the writes are not, and the loop's tolerance and cap come back."""
    pcm = devices.load("pcm", verify={"tolerance": 0.03, "max_iterations": 6})
    cols = measure(pcm, n=800, lo=2.5e-6, reads=2, verify=True, seed=4)
    writes = cols["attempt"] > 0
    assert np.bincount(cols["attempt"][writes]).max() < writes.sum()  # rewrites happened
    result = fit(Measurements.from_columns(cols), base="pcm", families={"programming": "polynomial2"})
    c = pcm.programming_noise.params["coefficients_uS"]
    for e, truth in zip(result.programming.estimates, [ck / 25.0**k for k, ck in enumerate(c)],
                        strict=True):
        assert e.covers(truth), (e, truth)
    assert result.profile.verify.max_iterations == 6
    expected = 0.03 * pcm.g_range / result.profile.g_range  # the fitted range is the targets'
    assert abs(result.profile.verify.tolerance / expected - 1) < 0.12
    assert result.profile.sources["verify.tolerance"].startswith("fitted from")
    assert result.profile.sources["verify.pulse_time"] == devices.load("pcm").sources["verify.pulse_time"]
    # the final reads alone: the law narrowed by the loop, its intervals miss the truth
    del cols["attempt"]
    narrowed = fit(Measurements.from_columns({k: v[~writes] for k, v in cols.items()}), base="pcm",
                   families={"programming": "polynomial2"})
    g = np.array([12.5e-6, 25e-6])
    assert np.all(narrowed.profile.programming_noise.std(g) < 0.8 * pcm.programming_noise.std(g))
