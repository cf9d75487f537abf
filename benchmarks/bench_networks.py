"""Benchmarks of the networks beyond the paper's (issues 20 and 30), ratios in one process.

Section ``byuse``: a weight read by use (``x @ w`` in a module crossbar-sim does not know,
routed to its array by ``MappedWeight``) against the same weight in an ``nn.Linear``
mapped by class, batch 256, on the PCM profile (calibrated ADC ranges). Target: <= 1.2x.

Section ``vit``: the bundled vision transformer (``crossbar.models``: vit) converted onto
PCM against its float model, batch 256. Target: <= 3x.

    .venv/bin/python benchmarks/bench_networks.py [--batches 10] [--threads N] [--clock cpu] [--sections ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

import bench_nn
import torch
from bench_nn import Table, time_interleaved
from torch import nn

from crossbar import models
from crossbar.nn import convert
from crossbar.threads import set_threads


class ByUse(nn.Module):
    """The product of an ``nn.Linear`` written in the module's own forward."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.w = nn.Parameter(linear.weight.detach().t().clone())
        self.b = nn.Parameter(linear.bias.detach().clone())

    def forward(self, x):
        return x @ self.w + self.b


def _infer(model: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def run() -> None:
        with torch.no_grad():
            model(x)

    return run


def _table(title: str, times: dict[str, list[float]], base: str, batch: int, target: float) -> Table:
    table = Table(title, ["model", "median ms", "examples/s", "ratio", "target"])
    ref = statistics.median(times[base])
    for name, ts in times.items():
        med = statistics.median(ts)
        table.rows.append([name, f"{1e3 * med:.1f}", f"{batch / med:,.0f}", f"{med / ref:.2f}x",
                           "-" if name == base else f"<= {target}x"])
    return table


def section_byuse(args: argparse.Namespace) -> Table:
    gen = torch.Generator().manual_seed(0)
    linear = nn.Linear(784, 256)
    with torch.no_grad():
        linear.weight.copy_(torch.randn(256, 784, generator=gen) * 0.05)
    x = torch.rand(args.batch, 784, generator=gen)
    by_class = convert(nn.Sequential(linear), "pcm", seed=0, calibration=x[:64])
    by_use = convert(ByUse(linear), "pcm", seed=0, example=x[:2], calibration=x[:64])
    runs = {"nn.Linear (by class)": _infer(by_class, x), "x @ w (by use)": _infer(by_use, x)}
    times = time_interleaved(runs, args.batches, 2, torch.device("cpu"))
    return _table(f"784 x 256 weight on pcm, batch {args.batch}, {torch.get_num_threads()} threads",
                  times, "nn.Linear (by class)", args.batch, 1.2)


def section_vit(args: argparse.Namespace) -> Table:
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(args.batch, 1, 28, 28, generator=gen)
    net = models.build("vit").eval()
    analog = convert(net, "pcm", seed=0, calibration=x[:64])
    times = time_interleaved({"float": _infer(net, x), "pcm": _infer(analog, x)}, args.batches, 1,
                             torch.device("cpu"))
    return _table(f"vit inference, batch {args.batch}, {torch.get_num_threads()} threads", times, "float",
                  args.batch, 3.0)


SECTIONS: dict[str, Callable[[argparse.Namespace], Table]] = {"byuse": section_byuse, "vit": section_vit}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--batches", type=int, default=10, help="timed batches per model")
    parser.add_argument("--threads", type=int, default=None, help="compute threads (default: torch's)")
    parser.add_argument("--sections", nargs="+", choices=list(SECTIONS), default=list(SECTIONS))
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall-clock time, or this process's CPU time (with --threads 1: the work "
                             "itself, steady when other programs load the machine)")
    args = parser.parse_args(argv)
    bench_nn.CLOCK = time.perf_counter if args.clock == "wall" else time.process_time
    if args.threads:
        set_threads(args.threads)
    print(f"{torch.get_num_threads()} threads, {args.clock} clock, load average {os.getloadavg()[0]:.1f}\n")
    for name in args.sections:
        print(SECTIONS[name](args).render())
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
