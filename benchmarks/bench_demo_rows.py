"""What the demo's K-vote evaluations cost: CPU time per analog forward row for each demo device,
the share of its first analog layer (the part votes of one input could share), and the least
CPU time the demo's accuracies at the published noise (s = 1) take with its vote counts.

    .venv/bin/python benchmarks/bench_demo_rows.py CHECKPOINT   # a cnn6 the demo trained

One process, one torch thread; CPU time (process_time), so other users' load changes it less
than wall time. A row is one test digit through the mapped network once (one vote).
"""

from __future__ import annotations

import argparse
import time

import torch


def main() -> None:
    from crossbar.data import load_split
    from crossbar.experiments import AccuracyEvaluator, DemoConfig, load_profile
    from crossbar.nn.convert import analog_layers
    from crossbar.training import load_checkpoint

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--digits", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, _ = load_checkpoint(args.checkpoint)
    c = DemoConfig()
    test = load_split(c.data, "test").subset(args.digits)
    calibration = load_split(c.data, "train").subset(32).x
    per_row = {}
    for device in dict.fromkeys((*c.devices, c.aged_device)):
        ev = AccuracyEvaluator(model, test.x, test.y, load_profile(device), votes=(1, 5),
                               calibration=calibration)
        net = ev.chip(1.0, 0)
        ev.draws(1.0, 0, 1)  # mapped, calibrated, kernels loaded
        spent: dict[str, float] = {}

        def start(_m, _i, spent=spent) -> None:
            spent["t0"] = time.process_time()

        def stop(_m, _i, _o, name: str, spent=spent) -> None:
            spent[name] = spent.get(name, 0.0) + time.process_time() - spent["t0"]

        for name, layer in analog_layers(net):
            layer.register_forward_pre_hook(start)
            layer.register_forward_hook(lambda m, i, o, n=name: stop(m, i, o, n))
        t = time.process_time()
        ev.draws(1.0, 0, 5)
        dt = time.process_time() - t
        per_row[device] = dt / (4 * args.digits)
        first = analog_layers(net)[0][0]
        print(f"{device:>14}: {1000 * per_row[device]:.2f} ms CPU per row; first analog layer "
              f"{100 * spent[first] / dt:.0f} %", flush=True)
    rows = c.repeats * 1000 * max(c.votes)  # chips x test digits x K_max at s = 1, per budget or age
    tasks = [*c.devices, c.aged_device] + [c.aged_device] * (2 * len(c.ages) - 1)
    least = sum(rows * per_row[d] for d in tasks)
    print(f"the demo's accuracies at s = 1 alone ({len(tasks)} budgets and ages x {rows:,} rows): "
          f"{least:.0f} CPU-s, against {2 * 600} CPU-s in 10 minutes on 2 cores")


if __name__ == "__main__":
    main()
