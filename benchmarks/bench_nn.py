"""Benchmarks of crossbar.nn.

Section ``noise``: wall time of one training step (forward, backward, Adam
update) of the Table 1 CNN with multiplicative / additive noise injection,
drawn by each CPU generator (``NoiseConfig.generator``), versus the same network
without noise; median over N steps, batch 32, one process, steps of the
variants interleaved so that machine load hits them alike. Target:
noise-injected step <= 1.2x the noiseless one.

Section ``inference``: noisy-inference throughput (images/s) of the same CNN
converted onto the PCM profile (``crossbar.convert``: programming noise once,
fresh read noise, DAC/ADC on every product) versus the float model, batch
``--infer-batch``, interleaved in one process; the ratio is the simulator's
overhead for hardware-faithful inference.

Section ``depthwise``: the same for the MobileNet-style depthwise-separable CNN
``mobilenet_small`` (its depthwise layers map as grouped convolutions,
``crossbar.nn.conv``). Target for both: within 3x of the float model.

Section ``votes``: K noisy inferences (``--votes``) of ``--vote-inputs`` images by cnn6
converted onto PCM: K separate passes against one pass of the K stacked copies, with
the first layer's conversion and products shared (``crossbar.nn.stacked_copies``, what
``noisy_probs`` uses) and without. Target: shared <= 0.6x of the separate passes.

``--threads 1 2`` runs the sections at each thread count in turn, in one process, and
ends with every ratio side by side.

Add a section by writing ``section_<name>(args) -> Table`` and listing it in
``SECTIONS``.

    .venv/bin/python benchmarks/bench_nn.py [--steps 50] [--batch 32] [--device cpu] [--threads 1 2]
"""

from __future__ import annotations

import crossbar  # noqa: F401 - imported before torch, as the CLI does (crossbar.SPIN_NOTE)

# isort: split
import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from crossbar import models
from crossbar.nn import NoiseConfig, NoiseSource, convert, noise_layers, reseed, stacked_copies
from crossbar.threads import set_threads

TARGET_RATIO = 1.2


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)  # the ratios the closing summary lists

    def render(self) -> str:
        widths = [
            max(len(c), *(len(r[i]) for r in self.rows)) if self.rows else len(c)
            for i, c in enumerate(self.columns)
        ]
        line = "  ".join(c.ljust(w) for c, w in zip(self.columns, widths, strict=True))
        out = [self.title, "=" * len(self.title), line, "-" * len(line)]
        out += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in self.rows]
        return "\n".join(out + self.notes)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _make_step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.train()

    def step() -> None:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


CLOCK = time.perf_counter  # --clock cpu: time.process_time


def time_interleaved(
    steps: dict[str, Callable[[], None]], n: int, warmup: int, device: torch.device
) -> dict[str, list[float]]:
    """Run each step function ``warmup`` times, then ``n`` times round-robin;
    returns the times (s, wall clock or CPU, see ``--clock``) of the timed calls per name."""
    for fn in steps.values():
        for _ in range(warmup):
            fn()
    _sync(device)
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(n):
        for name, fn in steps.items():
            t0 = CLOCK()
            fn()
            _sync(device)
            times[name].append(CLOCK() - t0)
    return times


def section_noise(args: argparse.Namespace) -> Table:
    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, 1, 28, 28, generator=gen).to(device)
    y = torch.randint(0, 10, (args.batch,), generator=gen).to(device)
    variants = {
        "none": NoiseConfig(),
        "mult 0.5": NoiseConfig("mult", 0.5, 0.5),
        "add 0.5": NoiseConfig("add", 0.5, 0.5),
        "mult 0.5 box-muller": NoiseConfig("mult", 0.5, 0.5, generator="box-muller"),
        "add 0.5 box-muller": NoiseConfig("add", 0.5, 0.5, generator="box-muller"),
    }
    steps = {name: _make_step(models.cnn6(cfg, seed=0).to(device), x, y) for name, cfg in variants.items()}
    times = time_interleaved(steps, args.steps, args.warmup, device)
    base = statistics.median(times["none"])
    table = Table(
        f"cnn6 training step, batch {args.batch}, {args.steps} steps, device {device}, "
        f"{torch.get_num_threads()} threads",
        ["noise", "median ms", "p10 ms", "p90 ms", "ratio", "target"],
    )
    worst = {"ziggurat": 0.0, "box-muller": 0.0}
    for name, ts in times.items():
        q = statistics.quantiles(ts, n=10)
        med = statistics.median(ts)
        ratio = med / base
        if name != "none":
            worst[variants[name].generator] = max(worst[variants[name].generator], ratio)
            table.figures[f"cnn6 training step, {name} noise / none"] = ratio
        table.rows.append(
            [
                name,
                f"{1e3 * med:.2f}",
                f"{1e3 * q[0]:.2f}",
                f"{1e3 * q[-1]:.2f}",
                f"{ratio:.3f}x",
                "-" if name == "none" else f"<= {TARGET_RATIO}x",
            ]
        )
    for generator, w in worst.items():
        verdict = "met" if w <= TARGET_RATIO else "MISSED"
        table.notes.append(f"worst noise/none ratio, {generator} generator: {w:.3f}x, target {verdict}")
    # where the extra time goes: drawing the noise values alone
    shapes = _noise_shapes(models.cnn6(variants["mult 0.5"], seed=0).to(device), x)
    source = NoiseSource(0)

    def draw(generator: str) -> Callable[[], None]:
        return lambda: [source.normal(like, 1.0, 0.5, generator) for like in shapes]

    rng = time_interleaved({g: draw(g) for g in worst}, args.steps, args.warmup, device)
    n = sum(t.numel() for t in shapes)
    for generator, ts in rng.items():
        t = statistics.median(ts)
        table.notes.append(
            f"drawing the {n:,} noise values of one step alone ({generator}): {1e3 * t:.2f} ms "
            f"({t / base:.1%} of the noiseless step, {1e9 * t / n:.2f} ns per value)"
        )
    return table


def _noise_shapes(model: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """One empty tensor per noise-layer output of a forward pass on ``x``."""
    seen: list[torch.Tensor] = []
    hooks = [
        layer.register_forward_hook(lambda _m, inp, _out: seen.append(torch.empty_like(inp[0])))
        for layer in noise_layers(model)
    ]
    with torch.no_grad():
        model.train()(x)
    for h in hooks:
        h.remove()
    return seen


def _inference_table(what: str, float_model: torch.nn.Module, x: torch.Tensor,
                     args: argparse.Namespace) -> Table:
    """``float_model`` and its conversion onto PCM (ranges calibrated on 64 images) timed interleaved
    on the batch ``x``, cpu; the ratio converted / float against the 3x target."""
    analog = convert(float_model, "pcm", seed=0, calibration=x[:64])  # the profile's calibrated ADC range

    def run(model: torch.nn.Module) -> Callable[[], None]:
        def infer() -> None:
            with torch.no_grad():
                model(x)

        return infer

    n = args.infer_batches
    times = time_interleaved({"float": run(float_model), "pcm": run(analog)}, n, 1, torch.device("cpu"))
    table = Table(
        f"{what} inference, batch {args.infer_batch}, {n} batches, cpu, {torch.get_num_threads()} threads",
        ["model", "median ms", "images/s", "ratio", "target"],
    )
    base = statistics.median(times["float"])
    for name, ts in times.items():
        med = statistics.median(ts)
        table.rows.append([name, f"{1e3 * med:.1f}", f"{args.infer_batch / med:,.0f}", f"{med / base:.2f}x",
                           "-" if name == "float" else "<= 3x"])
    table.figures[f"{what} inference on PCM / float"] = statistics.median(times["pcm"]) / base
    return table


def section_inference(args: argparse.Namespace) -> Table:
    x = torch.rand(args.infer_batch, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    return _inference_table("cnn6", models.cnn6(seed=0).eval(), x, args)


def section_depthwise(args: argparse.Namespace) -> Table:
    """The depthwise-separable CNN (``mobilenet_small``; on PCM's 256 x 256 tiles its depthwise
    layers pack 28 groups per array, one read per array and output position)."""
    x = torch.rand(args.infer_batch, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    return _inference_table("mobilenet_small", models.mobilenet_small(seed=0).eval(), x, args)


def section_votes(args: argparse.Namespace) -> Table:
    """K votes of n images by cnn6 on PCM: K separate passes against one pass of K stacked copies."""
    k, n = args.votes, args.vote_inputs
    x = torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    net = convert(models.cnn6(seed=0).eval(), "pcm", seed=0, calibration=x[:64])
    stacked = x.repeat(k, 1, 1, 1)

    @torch.no_grad()
    def separate() -> None:
        for i in range(k):
            reseed(net, i)
            net(x)

    @torch.no_grad()
    def batched() -> None:
        reseed(net, 0)
        net(stacked)

    @torch.no_grad()
    def shared() -> None:
        reseed(net, 0)
        with stacked_copies(net, k):
            net(stacked)

    times = time_interleaved({"separate": separate, "stacked": batched, "stacked, shared": shared},
                             args.vote_repeats, 1, torch.device("cpu"))
    base = statistics.median(times["separate"])
    table = Table(f"K = {k} votes of {n} images, cnn6 on PCM, {args.vote_repeats} repeats, cpu, "
                  f"{torch.get_num_threads()} threads", ["passes", "median ms", "ratio", "target"])
    for name, ts in times.items():
        med = statistics.median(ts)
        table.rows.append([name, f"{1e3 * med:.1f}", f"{med / base:.3f}x",
                           "<= 0.6x" if name == "stacked, shared" else "-"])
        if name != "separate":
            table.figures[f"K = {k} votes of {n} images, {name} / separate"] = med / base
    return table


SECTIONS: dict[str, Callable[[argparse.Namespace], Table]] = {
    "noise": section_noise,
    "inference": section_inference,
    "depthwise": section_depthwise,
    "votes": section_votes,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--infer-batch", type=int, default=256, help="images per inference batch")
    parser.add_argument("--infer-batches", type=int, default=10, help="timed inference batches per model")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--sections", nargs="+", choices=list(SECTIONS), default=list(SECTIONS))
    parser.add_argument("--votes", type=int, default=20, help="K, noisy inferences per image (votes)")
    parser.add_argument("--vote-inputs", type=int, default=100, help="images voted on (votes)")
    parser.add_argument("--vote-repeats", type=int, default=3, help="timed repeats (votes)")
    parser.add_argument("--threads", type=int, nargs="+", default=None,
                        help="compute threads, one run of the sections per count (default: torch's)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall-clock time, or this process's CPU time (with --threads 1: the work "
                             "itself, steady when other programs load the machine)")
    args = parser.parse_args(argv)
    global CLOCK
    CLOCK = time.perf_counter if args.clock == "wall" else time.process_time
    figures: dict[str, dict[int, float]] = {}
    for threads in args.threads or [torch.get_num_threads()]:
        set_threads(threads)
        print(f"{threads} threads, {args.clock} clock, load average {os.getloadavg()[0]:.1f}\n")
        for name in args.sections:
            table = SECTIONS[name](args)
            print(table.render())
            print()
            for figure, ratio in table.figures.items():
                figures.setdefault(figure, {})[threads] = ratio
    counts = args.threads or [torch.get_num_threads()]
    print(f"ratios side by side ({args.clock} clock; load average now {os.getloadavg()[0]:.1f})")
    print(f"{'figure':<60}" + "".join(f"{f'{t} thread(s)':>14}" for t in counts))
    for figure, by_threads in figures.items():
        print(f"{figure:<60}" + "".join(f"{by_threads[t]:>13.3f}x" for t in counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
