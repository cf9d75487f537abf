"""The crossbar columns of a hardening record against a rerun of its float and QAT networks.

A stored layout change (issue 27) moves only the crossbar columns of a harden record: its
trainings and Gaussian-noise evaluations use no arrays. This reads the record's
``docs/results/NAME/harden.json`` (means and 95 % half-widths over the repeats) and the
``results.jsonl`` of a rerun of the same config with ``methods: [float, qat]`` and another
``out:`` (the same seeds, so the same trained networks), and prints per network, method,
profile and levels the old mean and half-width and the rerun's mean over the repeats it has,
and whether it lies inside the old interval; then the counts.
Run: ``python docs/results/harden_crossbar_compare.py NAME RUN_FOLDER``.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="record name, e.g. harden-mnist5k")
    parser.add_argument("run", help="the rerun's output folder (holding results.jsonl)")
    args = parser.parse_args()
    old = json.loads((Path(__file__).parent / args.name / "harden.json").read_text())
    new: dict[tuple, list[tuple[int, float]]] = defaultdict(list)
    for line in (Path(args.run) / "results.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r.get("type") == "model":
            for c in r["crossbar"]:
                key = (r["label"], r["method"], str(r["qat"]), c["profile"], c["levels"])
                new[key].append((r["repeat"], c["accuracy"]))
    inside = outside = same = complete = 0
    for net in old["networks"]:
        for row in net["rows"]:
            for c in row.get("crossbar") or []:
                key = (net["label"], row["key"][0], str(row["key"][1]), c["profile"], c["levels"])
                values = new.get(key)
                if not values:
                    continue
                mean = sum(v for _, v in values) / len(values)
                ok = c["mean"] - c["ci"] <= mean <= c["mean"] + c["ci"]
                inside, outside = inside + ok, outside + (not ok)
                if len(values) == old["config"]["repeats"]:
                    complete += 1
                    same += round(mean, 6) == round(c["mean"], 6)
                print(f"{key[0]} {row['method']} | {key[3]}, levels {key[4]}: old {100 * c['mean']:.1f} ± "
                      f"{100 * c['ci']:.1f}, new {100 * mean:.1f} (repeats {sorted(r for r, _ in values)}) "
                      f"{'inside' if ok else 'OUTSIDE'}")
    print(f"{inside} inside the old interval, {outside} outside; {complete} columns with every repeat, "
          f"{same} of them with the old mean exactly")


if __name__ == "__main__":
    main()
