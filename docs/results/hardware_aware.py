"""Plain vs Eq. 3 vs hardware-aware training on Fashion-MNIST, judged on PCM after drift (issue 28).

Three trainings of the same network (``--network``: ``mobilenet_small``, the default and
the published record, where plain training loses far more than 2 points on PCM after a year;
cnn6, whose earlier record lost only 1.5; or the vision transformer) from the same seed
(first 4,000 training images, 4 epochs, Adam at 1e-3, batch 32; sized for a shared 2-core
machine):

* ``plain``: no noise;
* ``eq3``: Qin & Vucinic Eq. 3 (multiplicative output noise) at the sigma_train of
  SIGMAS that does best on PCM one year after programming (1 read, 3 chips, 300
  validation images: the last 300 of the training split, never trained on);
* ``hardware``: ``train(..., hardware="pcm")`` with its defaults (docs/training.md).

Each network is mapped on PCM (10 programmed chips), aged to 1 hour, 1 day, 1 month
and 1 year with global drift compensation, its ADC ranges calibrated on 64 training
images after ageing, and read 20 times per test image (the first 250 test images; re-reads
spaced as a pipelined chip reads them, sharing the slow 1/f read noise, docs/physics.md):
accuracy with 1 read and with a 20-vote majority, with Wilson x chip t intervals
(``crossbar.experiments.AccuracyEvaluator``). Trainings (checkpoints) and evaluations
(one JSON per training and age) are kept under WORK/NETWORK, so a rerun resumes.

    nice -n 10 .venv/bin/python docs/results/hardware_aware.py --work /tmp/hwa-work
    # or in parallel processes sharing the work folder:
    #   H="nice -n 10 .venv/bin/python docs/results/hardware_aware.py --work /tmp/hwa-work"
    #   for p in plain eq3 hardware; do
    #       $H --parts $p --ages "1 hour,1 day" & $H --parts $p --ages "1 month,1 year" --wait &
    #   done
    #   # one age's chips over several processes: $H --parts eq3 --ages "1 year" --chips 0:2 --wait &
    #   # (... 2:4, ...), then $H --parts eq3 --ages "1 year" merges them
    # writes docs/results/hardware-aware/{report.md, report.json, accuracy_vs_age.png};
    # --write writes it from the evaluations on file and names the missing ones;
    # --check exits 1 when report.md is not what report.json gives (tests/test_hardware_training.py)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from crossbar import devices
from crossbar.atomic import atomic_write_json, atomic_write_text
from crossbar.cost import read_spacing
from crossbar.cost.mapping import network_cost_of
from crossbar.data import load_split
from crossbar.experiments import AccuracyEvaluator
from crossbar.experiments.noise_scale import Age
from crossbar.experiments.stats import CONFIDENCE, Interval
from crossbar.experiments.voting import vote
from crossbar.nn import NoiseConfig
from crossbar.training import evaluate, train

OUT = Path(__file__).with_name("hardware-aware")
AGES = {"1 hour": 3600.0, "1 day": 86400.0, "1 month": 30 * 86400.0, "1 year": 365 * 86400.0}
SIGMAS = (0.05, 0.1, 0.2, 0.3, 0.5)
PARTS = ("plain", "eq3", "hardware")
NETWORKS = ("mobilenet_small", "cnn6", "vit")
TRAIN, VAL, TEST, EPOCHS, LR, BATCH, CHIPS, VOTES, SEED = 4_000, 300, 250, 4, 1e-3, 32, 10, 20, 0


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def fit(work: Path, name: str, data, **kw):
    net, hist = train(work.name, data, epochs=EPOCHS, lr=LR, batch_size=BATCH, seed=SEED,
                      checkpoint=work / f"{name}.pt", progress=False, **kw)
    log(f"trained {name}: float test accuracy {hist.last['test_acc']:.4f}")
    return net.eval()


def measure(work: Path, key: str, net, x, y, calib, age_s: float, chips: int, votes: tuple[int, ...],
            subset: range | None = None):
    """The accuracy at ``age_s`` with 1 read and ``votes`` over ``chips`` chips, from the file
    ``key``.json, else merged from the per-chip files of ``--chips`` processes when they cover
    every chip, else measured. With ``subset``: only those chips' correct counts, to their own
    file (chip r's numbers are the same in any process: its programming and reads are seeded
    by r; chip 0 is costed before its reads, as in one process)."""
    path = work / f"{key}.json"
    if path.exists():
        return json.loads(path.read_text())
    parts = sorted(work.glob(f"{key}-chip*.json"))
    found = {int(f.stem.rsplit("-chip", 1)[1]): json.loads(f.read_text()) for f in parts}
    if subset is None and set(found) >= set(range(chips)):
        res = {"read_spacing_s": found[0]["read_spacing_s"], "votes": {
            str(k): Interval.from_counts([found[r]["correct"][str(k)] for r in range(chips)], len(y),
                                         CONFIDENCE).to_dict() for k in votes}}
        atomic_write_json(path, res)
        return res
    ev = AccuracyEvaluator(net, x, y, devices.load("pcm"), votes=votes, repeats=chips, seed=SEED,
                           age=Age(age_s, compensate=True), calibration=calib, batch_rows=1200)
    # re-reads spaced as a pipelined chip reads them (the budget's default), so that they share
    # the slow 1/f read noise as the time model says (docs/physics.md, "Read noise in time")
    costed = ev if subset is None or 0 in subset else AccuracyEvaluator(
        net, x, y, devices.load("pcm"), votes=votes, repeats=chips, seed=SEED,
        age=Age(age_s, compensate=True), calibration=calib, batch_rows=1200)
    ev.read_spacing = read_spacing(network_cost_of(costed.chip(1.0, 0), x[:32]), "pipelined")
    if subset is not None:
        for r in subset:
            if r in found:
                continue
            draws = ev.draws(1.0, r, max(votes))
            atomic_write_json(work / f"{key}-chip{r}.json", {"read_spacing_s": ev.read_spacing, "correct": {
                str(k): int((vote(draws[:k], "hard") == ev.y).sum()) for k in votes}})
            log(f"{key}: chip {r} done")
        return None
    res = {"read_spacing_s": ev.read_spacing,
           "votes": {str(k): ev.estimate(1.0, k).to_dict() for k in votes}}
    atomic_write_json(path, res)
    return res


def networks(part: str, work: Path, train_ds, test, val_x, val_y, calib) -> tuple[object, float | None]:
    """The network of one training (trained or resumed) and, for eq3, the sigma_train chosen."""
    if part == "plain":
        return fit(work, "plain", train_ds, test_data=test), None
    if part == "hardware":
        return fit(work, "hardware", train_ds, test_data=test, hardware="pcm"), None
    best = None
    for s in SIGMAS:
        net = fit(work, f"eq3-{s:g}", train_ds, test_data=test, noise=NoiseConfig("mult", s))
        res = measure(work, f"select-eq3-{s:g}", net, val_x, val_y, calib, AGES["1 year"], 3, (1,))
        acc = res["votes"]["1"]["mean"]
        log(f"eq3 sigma_train {s:g}: validation accuracy on PCM at 1 year {acc:.4f}")
        if best is None or acc > best[1]:
            best = (s, acc, net)
    return best[2], best[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/crossbar-hardware-aware"))
    ap.add_argument("--network", default=NETWORKS[0], choices=NETWORKS,
                    help="the bundled network trained (its files go to WORK/NETWORK)")
    ap.add_argument("--parts", default=",".join(PARTS), help="the trainings this process handles")
    ap.add_argument("--ages", default=",".join(AGES), help="the ages this process evaluates")
    ap.add_argument("--chips", default=None, help="A:B: evaluate only chips A..B-1 of each age (to "
                    "files that a later run without --chips merges)")
    ap.add_argument("--write", action="store_true",
                    help="write the report from the evaluations on file, naming those that are not")
    ap.add_argument("--wait", action="store_true",
                    help="evaluate only: wait until another process sharing --work has trained the part")
    ap.add_argument("--check", action="store_true",
                    help="only check that report.md is what report.json gives (exit 1 if stale)")
    args = ap.parse_args()
    if args.check:
        data = json.loads((OUT / "report.json").read_text())
        if report(data["setup"], data["rows"]) != (OUT / "report.md").read_text():
            raise SystemExit(f"{OUT / 'report.md'} is stale: rerun with --write")
        return
    work, parts, ages = args.work / args.network, args.parts.split(","), args.ages.split(",")
    subset = None if args.chips is None else range(*map(int, args.chips.split(":")))
    work.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    full = load_split("fashion-mnist", "train")
    test = load_split("fashion-mnist", "test", limit=TEST)
    from types import SimpleNamespace

    train_ds = SimpleNamespace(x=full.x[:TRAIN], y=full.y[:TRAIN], classes=10, name="fashion-mnist")
    val_x, val_y = full.x[-VAL:], full.y[-VAL:]
    calib = full.x[:64]
    for part in parts:
        while args.wait and not (work / f"trained-{part}.json").exists():
            time.sleep(20)
        net, sigma = networks(part, work, train_ds, test, val_x, val_y, calib)
        atomic_write_json(work / f"trained-{part}.json",
                          {"digital": evaluate(net, test), "sigma_train": sigma})
        for label in ages:
            t = AGES[label]
            res = measure(work, eval_key(work, part, t), net, test.x, test.y, calib, t, CHIPS, (1, VOTES),
                          subset)
            if res is None:
                continue
            log(f"{part} at {label}: "
                + ", ".join(f"{k} votes {iv['mean']:.4f}" for k, iv in res["votes"].items()))
    if args.write or all((work / f"trained-{p}.json").exists()
                         and (work / f"{eval_key(work, p, t)}.json").exists()
                         for p in PARTS for t in AGES.values()):
        write(work)


def eval_key(work: Path, part: str, age_s: float) -> str:
    """The file name (without .json) of ``part``'s evaluation at ``age_s``: Eq. 3's names its
    sigma_train, so an evaluation of another sigma is never taken for the chosen one."""
    sigma = json.loads((work / f"trained-{part}.json").read_text())["sigma_train"]
    return f"eval-{part}-{int(age_s)}" if sigma is None else f"eval-{part}-{sigma:g}-{int(age_s)}"


def write(work: Path) -> None:
    """report.json, report.md and the figure from the finished parts under ``work``."""
    trained = {p: json.loads((work / f"trained-{p}.json").read_text()) for p in PARTS}
    done = {(p, t): json.loads(f.read_text()) for p in PARTS for t in AGES.values()
            for f in [work / f"{eval_key(work, p, t)}.json"] if f.exists()}
    rows = [{"training": p, "age_s": t, "votes": int(k), "accuracy": iv["mean"], "lo": iv["lo"],
             "hi": iv["hi"]} for (p, t), res in done.items() for k, iv in res["votes"].items()]
    setup = {"network": work.name, "data": "fashion-mnist", "train_images": TRAIN, "epochs": EPOCHS, "lr": LR,
             "batch_size": BATCH, "test_images": TEST, "chips": CHIPS, "votes": [1, VOTES], "seed": SEED,
             "profile": "pcm", "drift_compensation": True, "eq3_sigma_train": trained["eq3"]["sigma_train"],
             "eq3_candidates": list(SIGMAS), "digital_accuracy": {p: trained[p]["digital"] for p in PARTS},
             "confidence": 0.95,
             "eq3_selection": {f"{x:g}": json.loads((work / f"select-eq3-{x:g}.json").read_text())[
                 "votes"]["1"] for x in SIGMAS},
             "read_spacing_s": next(iter(done.values()))["read_spacing_s"],
             "not_measured": [f"{p} at {label}" for p in PARTS for label, t in AGES.items()
                              if (p, t) not in done]}
    OUT.mkdir(exist_ok=True)
    atomic_write_json(OUT / "report.json", {"setup": setup, "rows": rows})
    atomic_write_text(OUT / "report.md", report(setup, rows))
    figure(rows, OUT / "accuracy_vs_age.png")
    log(f"wrote {OUT}")


def report(setup: dict, rows: list[dict]) -> str:
    from crossbar.experiments.stats import compare, wilson

    def row(t, a, v):
        return next((r for r in rows if r["training"] == t and r["age_s"] == a and r["votes"] == v), None)

    names = list(setup["digital_accuracy"])
    lines = ["# Hardware-aware training on PCM, judged after drift", "",
             f"{setup['network']} on Fashion-MNIST (first {setup['train_images']:,} training images, "
             f"{setup['epochs']} epochs, Adam lr {setup['lr']:g}, batch {setup['batch_size']}), mapped on "
             "`pcm`: "
             f"{setup['chips']} programmed chips, global drift compensation, ADC ranges calibrated after "
             f"ageing, first {setup['test_images']} test images; 95 % intervals (Wilson over images x t over "
             f"chips). Eq. 3 at sigma_train = {setup['eq3_sigma_train']:g}, the best of "
             f"{setup['eq3_candidates']} on PCM at 1 year ({VAL} held-out training images, 3 chips). "
             "Hardware-aware: `train(..., hardware=\"pcm\")` with its defaults (every effect, noise at the "
             "profile's one day, weights clipped at 2.5 sigma). Reads follow the read-noise time model "
             "(docs/physics.md, \"Read noise in time\"): the 20 votes are re-reads of each chip "
             f"{setup['read_spacing_s'] * 1e6:.3g} us apart (a pipelined chip's initiation interval, "
             "as the budget spaces them), sharing the 1/f read noise slower than that, the white "
             "circuit noise fresh; 1 read is the first of them.", "",
             "Eq. 3 selection (PCM, 1 year, 1 read, validation images): " + ", ".join(
                 f"sigma_train {x}: {iv['mean']:.2%} [{iv['lo']:.2%}, {iv['hi']:.2%}]"
                 for x, iv in setup["eq3_selection"].items()) + ".", "",
             "Digital accuracy (Wilson 95 % over the test images): " + ", ".join(
                 f"{n} {a:.2%} [{lo:.2%}, {hi:.2%}]" for n in names
                 for a in [setup["digital_accuracy"][n]]
                 for lo, hi in [wilson(a * setup["test_images"], setup["test_images"])]), "",
             "| age | votes | " + " | ".join(names) + " | hardware vs plain | hardware vs eq3 |",
             "| --- | ---: |" + " ---: |" * len(names) + " --- | --- |"]
    for label, t in AGES.items():
        for v in setup["votes"]:
            cells = [row(n, t, v) for n in names]
            h, p, e = (row(n, t, v) for n in ("hardware", "plain", "eq3"))
            words = {">": "hardware better", "<": "hardware worse", "tie": "intervals overlap"}
            verdicts = [words[compare(h["lo"], h["hi"], o["lo"], o["hi"])] if h and o else "–"
                        for o in (p, e)]
            lines.append(f"| {label} | {v} | " + " | ".join(
                f"{c['accuracy']:.2%} [{c['lo']:.2%}, {c['hi']:.2%}]" if c else "not measured" for c in cells)
                + " | " + " | ".join(verdicts) + " |")
    plain = row("plain", AGES["1 year"], 1)
    if plain:
        loss = setup["digital_accuracy"]["plain"] - plain["accuracy"]
        short = "" if loss >= 0.02 else " (fewer than the 2 points issue 28 asks the setting to cost)"
        lines += ["", f"Plain training loses {100 * loss:.1f} points (digital minus 1 read) on PCM one year "
                  f"after programming{short}."]
    if setup["not_measured"]:
        lines += ["", "Not measured (the run was stopped before these evaluations finished): "
                  + ", ".join(setup["not_measured"]) + "."]
    lines += ["",
              "Regenerate: `nice -n 10 .venv/bin/python docs/results/hardware_aware.py "
              f"--work /tmp/hwa-work --network {setup['network']}`", ""]
    return "\n".join(lines)


def figure(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from crossbar.atomic import atomic_write

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, v in zip(axes, sorted({r["votes"] for r in rows}), strict=True):
        for name in dict.fromkeys(r["training"] for r in rows):
            sel = [r for r in rows if r["training"] == name and r["votes"] == v]
            t = [r["age_s"] for r in sel]
            acc = [r["accuracy"] for r in sel]
            err = [[r["accuracy"] - r["lo"] for r in sel], [r["hi"] - r["accuracy"] for r in sel]]
            ax.errorbar(t, acc, yerr=err, marker="o", capsize=3, label=name)
        ax.set_xscale("log")
        ax.set_xlabel("time since programming (s)")
        ax.set_title(f"PCM, {v} read{'s' if v > 1 else ''}{' (majority vote)' if v > 1 else ''}")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy (95 % interval)")
    axes[0].legend()
    fig.tight_layout()
    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=120))
    plt.close(fig)


if __name__ == "__main__":
    main()
