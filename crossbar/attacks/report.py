"""report.md and report.json of an attack run: Table 11 beside the paper's, with uncertainties."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from crossbar.atomic import atomic_write_text

from .config import AttackConfig
from .paper import CITATION, TABLE11


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def _ci(w: list[float]) -> str:
    return f"[{_pct(w[0])}, {_pct(w[1])}]"


def _gain(g: dict[str, float | None]) -> str:
    if g["low"] is None:
        return f"{100 * g['mean']:+.2f} [n/a]"
    return f"{100 * g['mean']:+.2f} [{100 * g['low']:+.2f}, {100 * g['high']:+.2f}]"


def _paper(column: str, sigma: float) -> str:
    v = TABLE11[column].get(round(sigma, 6))
    return "–" if v is None else f"{v:.2f}"


def _attack(p: dict[str, Any]) -> str:
    start = "random starts" if p["random_start"] else "from x"
    return (f"eps {p['eps']:.5g}, step {p['step']:.5g}, {p['iterations']} iterations, "
            f"{p['restarts']} restart(s) ({start})")


def _noise(cfg: AttackConfig) -> str:
    if cfg.profile:
        return (f"device profile `{cfg.profile}`, sigma_val = scale on its programming and read noise "
                "(one programmed chip per run)")
    eq = ("Eq. 3, y * z, z ~ N(1, sigma_val^2)" if cfg.noise == "mult"
          else "Eq. 2, y + z, z ~ N(0, sigma_val^2)")
    return f"`{cfg.noise}` ({eq}) after every matrix-vector product"


def markdown(cfg: AttackConfig, s: dict[str, Any]) -> str:
    """The report as Markdown (deterministic: no timings, no paths)."""
    m = s["models"]
    ref = s["reference_sigma_val"]
    lines = [
        "# Noisy inference against adversarial examples",
        "",
        f"Section 4 / Table 11 of {CITATION}, run on `{cfg.data}` ({s['n']} test inputs).",
        "",
    ]
    for key, label in (("nn_adv", "NN_adv (makes the black-box examples)"),
                       ("nn_val", "NN_val (classifies them, with inference noise)")):
        h = m[key]["history"]
        acc = f", natural test accuracy {_pct(h['test_acc'][-1])} %" if h["test_acc"] else ""
        lines.append(f"- {label}: `{m[key]['model']}`, adversarially trained {m[key]['epochs']} "
                     f"epoch(s), half natural / half adversarial minibatches, sigma_train = 0{acc}.")
    lines += [
        f"- Black-box attack on NN_adv: PGD, {_attack(cfg.attack.to_dict())}; its own accuracy on "
        f"these examples {_pct(s['nn_adv']['own_examples']['mean'])} % "
        f"(natural {_pct(s['nn_adv']['natural']['mean'])} %); largest L-inf distance "
        f"{s['linf_max']:.6g}.",
        f"- Attack in adversarial training: PGD, {_attack(cfg.train_attack.to_dict())}.",
        f"- Inference noise on NN_val: {_noise(cfg)}; R = {cfg.runs} noisy runs per sigma_val"
        + (f"; {cfg.votes}-vote inference ({cfg.vote_rule} rule)." if cfg.votes else "."),
        "",
        "Accuracies in %. CI: 95 % Wilson score interval over the test inputs for the run-averaged "
        "accuracy; run std: sample std of the R run accuracies; gain: paired difference to "
        f"sigma_val = {ref:g} on the same inputs, 95 % normal interval over the inputs. The paper's "
        "columns are its published figures (full MNIST / CIFAR-10, paper-scale training), not this run.",
        "",
        "## Table 11: black-box examples on NN_val",
        "",
    ]
    vote_head = f" {cfg.votes} votes [CI] |" if cfg.votes else ""
    lines += [f"| sigma_val | ours | CI | run std | gain vs {ref:g} |{vote_head} paper MNIST "
              "| paper CIFAR-10 |",
              "| ---: | ---: | ---: | ---: | ---: |" + (" ---: |" if cfg.votes else "") + " ---: | ---: |"]
    for r in s["blackbox"]:
        votes = f" {_pct(r['votes']['mean'])} {_ci(r['votes']['wilson'])} |" if cfg.votes else ""
        lines.append(f"| {r['sigma_val']:g} | {_pct(r['mean'])} | {_ci(r['wilson'])} | {_pct(r['std'])} | "
                     f"{_gain(r['gain'])} |{votes} {_paper('mnist', r['sigma_val'])} | "
                     f"{_paper('cifar10', r['sigma_val'])} |")
    lines += ["", "## Natural inputs on NN_val, same noise", "",
              f"| sigma_val | accuracy | CI | run std | gain vs {ref:g} |",
              "| ---: | ---: | ---: | ---: | ---: |"]
    for r in s["natural"]:
        lines.append(f"| {r['sigma_val']:g} | {_pct(r['mean'])} | {_ci(r['wilson'])} | {_pct(r['std'])} | "
                     f"{_gain(r['gain'])} |")
    if "whitebox" in s:
        wb = cfg.whitebox
        assert wb is not None
        lines += [
            "", f"## White-box check: PGD with EOT against the noisy NN_val (first {s['whitebox_n']} inputs)",
            "",
            f"PGD, {_attack(wb.attack.to_dict())}, on NN_val itself with its inference noise at "
            f"sigma_val, each gradient averaged over {wb.eot_samples} noise draws (Athalye et al., "
            "arXiv:1802.00420; one draw at sigma_val = 0), then evaluated with the same noise.",
            "",
            "| sigma_val | white-box EOT | CI | run std | black-box, same inputs | CI |",
            "| ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in s["whitebox"]:
            b = r["blackbox_same_inputs"]
            lines.append(f"| {r['sigma_val']:g} | {_pct(r['mean'])} | {_ci(r['wilson'])} | "
                         f"{_pct(r['std'])} | {_pct(b['mean'])} | {_ci(b['wilson'])} |")
    return "\n".join(lines) + "\n"


def write_report(cfg: AttackConfig, summary: dict[str, Any], out: str | Path) -> list[Path]:
    """Write ``report.md`` and ``report.json`` (configuration, paper figures, summary) atomically."""
    out = Path(out)
    doc = {
        "config": cfg.to_dict() | {"out": None, "threads": None},
        "config_hash": cfg.hash(),
        "paper": {"citation": CITATION,
                  "table11_percent": {k: {f"{s:g}": v for s, v in t.items()} for k, t in TABLE11.items()}},
        **summary,
    }
    files = [out / "report.json", out / "report.md"]
    atomic_write_text(files[0], json.dumps(doc, indent=1, allow_nan=False) + "\n")
    atomic_write_text(files[1], markdown(cfg, summary))
    return files
