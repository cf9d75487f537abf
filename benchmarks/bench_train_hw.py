"""Hardware-aware vs plain training step: the same network, batch and optimizer, side by side.

    .venv/bin/python benchmarks/bench_train_hw.py [--network cnn6] [--profile pcm] [--batch 32 128]
        [--steps 20] [--draw-only] [--against TREE]

One training step (forward, cross-entropy, backward, Adam) of a bundled network (default
cnn6, on 28 x 28 inputs; ``--network mobilenet_small``: the hardware-aware record's) on random inputs,
plain and then through the device (``crossbar.training.mapped.device_forward`` with
the profile's defaults, as ``train(..., hardware=)`` runs it, weight clipping
included), interleaved, one thread, CPU time (``time.process_time``: the work of each
variant, steady when other programs share the machine). Prints the median step of
each and their ratio (the target is <= 2), and the median CPU time of one forward's
weight draw alone (``crossbar.training.hardware.program`` of every mapped matrix), a
fixed cost per step whatever the batch (the median of five processes); with ``--against
TREE`` also that of another source tree (e.g. a worktree of main), process by process in
turn.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch


def medians(hw, network: str, batch: int, steps: int) -> tuple[float, float]:
    """Median CPU seconds of a plain and of a hardware-aware step of ``network`` at ``batch``."""
    from crossbar import models
    from crossbar.training.hardware import Draws
    from crossbar.training.mapped import clip_weights, device_forward, mapped_layers

    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, *models.input_spec(network).shape, generator=g)
    net = models.build(network, seed=0).train()
    with torch.no_grad():
        classes = net(x[:2]).shape[-1]
    y = torch.randint(0, classes, (batch,), generator=g)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    layers, draws = mapped_layers(net), Draws(0)

    def step(hardware: bool) -> float:
        t0 = time.process_time()
        if hardware:
            with device_forward(layers, hw, draws):
                out = net(x)
        else:
            out = net(x)
        loss = torch.nn.functional.cross_entropy(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if hardware and hw.clip_sigma is not None:
            clip_weights(layers, hw.clip_sigma)
        return time.process_time() - t0

    for hardware in (False, True):  # warm-up: allocations, Numba compilation
        step(hardware)
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(steps):
        for hardware in times:
            times[hardware].append(step(hardware))
    return statistics.median(times[False]), statistics.median(times[True])


_DRAW = """
import statistics, sys, time
import torch
from crossbar import models
from crossbar.training.hardware import Draws, HardwareConfig, program
from crossbar.training.mapped import mapped_layers
torch.set_num_threads(1)
hw, steps = HardwareConfig.parse(sys.argv[1]), int(sys.argv[2])
matrices = [w for _, m, rule in mapped_layers(models.build(sys.argv[3], seed=0).train())
            for w, _ in rule.matrices(m, hw.device)]
draws, times = Draws(0), []
for _ in range(steps + 1):  # the first: warm-up
    draws.next_forward()
    t0 = time.process_time()
    with torch.no_grad():  # as device_forward draws
        for w in matrices:
            program(w, hw, draws)
    times.append(time.process_time() - t0)
print(statistics.median(times[1:]))
"""


def draw_medians(profile: str, network: str, steps: int, against: str | None = None,
                 rounds: int = 5) -> list[float]:
    """Median CPU seconds of one forward's draw of ``network``'s mapped matrices (``program``), each
    round in a process of its own; with ``against`` (a source tree), that tree's too, the two
    alternately round by round: [this tree's, that one's]."""
    import subprocess
    import sys

    trees = [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))] + ([against] if against else [])
    times: list[list[float]] = [[] for _ in trees]
    for _ in range(rounds):
        for tree, t in zip(trees, times, strict=True):
            env = {**os.environ, "PYTHONPATH": os.path.abspath(tree)}
            done = subprocess.run([sys.executable, "-c", _DRAW, profile, str(steps), network],
                                  capture_output=True, text=True, check=True, env=env)
            t.append(float(done.stdout.split()[-1]))
    return [statistics.median(t) for t in times]


def main() -> None:
    from crossbar.training.hardware import HardwareConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="cnn6", help="a bundled model (crossbar.models)")
    parser.add_argument("--profile", default="pcm")
    parser.add_argument("--batch", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--draw-only", action="store_true", help="time the weight draw only, not the steps")
    parser.add_argument("--against", metavar="TREE", help="time TREE's weight draw too, in turn")
    args = parser.parse_args()
    torch.set_num_threads(1)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{os.cpu_count()} CPU cores, load average {load:.1f} at the start; one thread, CPU time")
    hw = HardwareConfig.parse(args.profile)
    draw = draw_medians(args.profile, args.network, 2 * args.steps, args.against)
    other = (f"; {args.against}'s, alternately: {draw[1] * 1e3:.1f} ms, {draw[1] / draw[0]:.2f}x"
             if args.against else "")
    print(f"{args.network}'s weight draw ({hw.profile.name}, program() of every mapped matrix): "
          f"{draw[0] * 1e3:.1f} ms per step{other}", flush=True)
    for batch in [] if args.draw_only else args.batch:
        plain, hwa = medians(hw, args.network, batch, args.steps)
        print(f"{args.network}, batch {batch}: plain step {plain * 1e3:.1f} ms, hardware-aware "
              f"({hw.profile.name}) {hwa * 1e3:.1f} ms, ratio {hwa / plain:.2f} (target <= 2)", flush=True)


if __name__ == "__main__":
    main()
