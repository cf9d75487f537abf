"""Put a finished sweep's tables next to the Qin & Vucinic published numbers.

    python docs/results/compare.py runs/results/mnist5k-mult docs/results/mnist5k-mult \
        [--reference docs/results/qin2018_published.yaml]

Copies the sweep's tables and figures into the destination folder and writes
``comparison.md`` there: for each sigma_val, the paper's Table 2 / Table 7
values (MNIST, multiplicative noise) beside ours.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import yaml

from crossbar.atomic import atomic_write_text


def fmt(v) -> str:
    return "n/a" if v is None else (f"{v:.1f}" if isinstance(v, float) else str(v))


def comparison(ours: dict, paper: dict) -> str:
    svs = ours["sigma_val"]
    psv = paper["sigma_val"]
    t2, t7 = paper["table2_mnist_cnn6_mult"], paper["table7_mnist_voting_mult"]
    (meaning, vote), *_ = ours["voting"].items()
    rows = [
        ("noiseless-trained (σ_train = 0)", t2["noiseless_trained"], ours["single"]["noiseless_trained"]),
        ("best over σ_train", t2["best"], ours["single"]["best"]),
        ("σ_train of the best", t2["best_sigma_train"], ours["single"]["best_sigma_train"]),
        (f"best with {vote['votes']} votes", t7["best_voting"], vote["best_voting"]),
        ("σ_train of the best with votes", t7["best_sigma_train"], vote["best_sigma_train"]),
    ]
    head = "| | " + " | ".join(f"σ_val = {s:g}" for s in svs) + " |\n"
    head += "| --- |" + " ---: |" * len(svs) + "\n"
    body = ""
    for label, published, measured in rows:
        pub = {s: v for s, v in zip(psv, published, strict=True)}
        cells = [f"{fmt(pub.get(s))} / **{fmt(m)}**" for s, m in zip(svs, measured, strict=True)]
        body += f"| {label} | " + " | ".join(cells) + " |\n"
    return (f"Accuracy in %, paper (Table 2 and Table 7, full MNIST) / **ours** "
            f"({ours['data']}, {ours['runs']} runs per cell, votes: {meaning} noise, "
            f"rule {vote['rule']}).\n\n" + head + body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--reference", type=Path, default=Path(__file__).with_name("qin2018_published.yaml"))
    args = parser.parse_args()
    args.dest.mkdir(parents=True, exist_ok=True)
    for name in ("tables.md", "tables.csv", "tables.json", "grid.csv", "grid.json", "votes.csv"):
        shutil.copy(args.sweep / name, args.dest / name)
    if (args.sweep / "figures").exists():
        shutil.copytree(args.sweep / "figures", args.dest / "figures", dirs_exist_ok=True)
    ours = json.loads((args.sweep / "tables.json").read_text())
    paper = yaml.safe_load(args.reference.read_text())
    atomic_write_text(args.dest / "comparison.md", comparison(ours, paper))
    print((args.dest / "comparison.md").read_text())


if __name__ == "__main__":
    main()
