"""Memory of programmed arrays (issue 27): bytes per weight counted and measured, in fresh processes.

Prints
  1. bytes per weight of every bundled profile counted from the array's own tensors and
     arrays (:func:`crossbar.memory.held_bytes`): a 512 x 512 layer calibrated on 64 vectors
     and read once with a batch of 64, and the same inside a vote group (the group's
     buffers, held while its reads go on);
  2. resident memory growth (Linux ``VmRSS``; ``VmHWM`` for the peak), each profile in a
     fresh process: a 4096 x 4096 layer programmed, calibrated (64 vectors) and read once
     with a batch of 64, growth counted from after the imports, a warm-up on a small
     array (kernel compilation) and the float32 weights and inputs themselves, and what
     stays after glibc's ``malloc_trim`` (freed heap the allocator keeps is not state);
  3. the peak resident memory of a fresh process converting a ViT-B-sized network
     (``nn.Linear`` layers of ViT-B/16's shapes, 86.3 M weights, random) on ``pcm``, total
     and before conversion (the float model and the libraries), with the time it took: as a
     converted copy beside the float model (``convert``'s default) and in place.
Run: ``python benchmarks/bench_memory.py [--profiles pcm reram ...] [--skip-vit]``.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import subprocess
import sys
import time
import warnings

import torch
from torch import nn

from crossbar import CrossbarArray, devices
from crossbar.memory import held_bytes
from crossbar.read.timing import ReadGroup

LARGE = 4096
BATCH = 64


def status_bytes(field: str) -> int:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``) in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def counted(name: str) -> tuple[float, float]:
    """Bytes per weight held by a calibrated, once-read 512 x 512 array: plain, inside a vote group."""
    gen = torch.Generator().manual_seed(0)
    W = torch.randn(512, 512, generator=gen)
    x = torch.rand(BATCH, 512, generator=gen)
    array = CrossbarArray.program(W, devices.load(name), seed=1)
    array.calibrate(x, 2)
    array.read(x, 3)
    plain = held_bytes(array) / W.numel()
    array.read(x, 4, group=ReadGroup(5, 1e-6))
    return plain, held_bytes(array) / W.numel()


def resident(name: str) -> dict:
    """In this (fresh) process: resident growth of programming, calibrating and reading a 4096^2 layer."""
    profile = devices.load(name)
    small = torch.rand(64, 64)
    warm = CrossbarArray.program(small, profile, seed=0)
    warm.calibrate(small, 1)
    warm.read(small, 2)
    del warm
    gen = torch.Generator().manual_seed(0)
    W = torch.randn(LARGE, LARGE, generator=gen)
    x = torch.rand(BATCH, LARGE, generator=gen)
    before, peak_before = status_bytes("VmRSS"), status_bytes("VmHWM")
    t0 = time.perf_counter()
    array = CrossbarArray.program(W, profile, seed=1)
    array.calibrate(x, 3)
    array.read(x, 4)
    seconds = time.perf_counter() - t0
    n = W.numel()
    growth, peak = status_bytes("VmRSS") - before, status_bytes("VmHWM") - max(before, peak_before)
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # give freed heap back: what stays is live
    return {"growth": growth / n, "peak": peak / n, "trimmed": (status_bytes("VmRSS") - before) / n,
            "counted": held_bytes(array) / n, "seconds": seconds}


def vit_b() -> nn.Sequential:
    """nn.Linear layers of ViT-B/16's shapes: patch embedding, 12 blocks (qkv, projection, MLP), head."""
    layers = [nn.Linear(3 * 16 * 16, 768)]
    for _ in range(12):
        layers += [nn.Linear(768, 3 * 768), nn.Linear(768, 768), nn.Linear(768, 3072), nn.Linear(3072, 768)]
    layers.append(nn.Linear(768, 1000))
    return nn.Sequential(*layers)


def vit(inplace: bool) -> dict:
    """In this (fresh) process: peak resident memory of converting the ViT-B-sized stack on pcm
    (``inplace``: the float model's layers replaced, else a converted copy beside it)."""
    from crossbar.nn import convert

    warm = convert(nn.Sequential(nn.Linear(8, 8)), "pcm", seed=0)
    del warm
    torch.manual_seed(0)
    model = vit_b()
    weights = sum(m.weight.numel() for m in model)
    before = status_bytes("VmRSS")
    t0 = time.perf_counter()
    chip = convert(model, "pcm", seed=1, inplace=inplace)
    seconds = time.perf_counter() - t0
    return {"weights": weights, "before": before, "peak": status_bytes("VmHWM"),
            "after": status_bytes("VmRSS"), "seconds": seconds, "counted": held_bytes(chip) / weights}


def child(args: list[str]) -> dict:
    """Run one measurement in a fresh interpreter and return its JSON answer."""
    out = subprocess.run([sys.executable, __file__, "--child", *args], check=True, capture_output=True,
                         text=True, env=os.environ)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", nargs="*", default=None, help="default: every bundled profile")
    parser.add_argument("--skip-vit", action="store_true")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    warnings.simplefilter("ignore", RuntimeWarning)  # uncalibrated warm-up reads
    if args.child:
        kind, *rest = args.child
        print(json.dumps(resident(rest[0]) if kind == "resident" else vit(rest[0] == "inplace")))
        return
    names = args.profiles or devices.available()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, load average {os.getloadavg()[0]:.1f}")
    print("\n1. bytes per weight counted from the arrays (512 x 512, calibrated, read once)")
    print(f"{'profile':<14} {'drift':>5} {'plain':>7} {'in vote group':>14}")
    for name in names:
        plain, grouped = counted(name)
        drift = "yes" if devices.load(name).drift is not None else "no"
        print(f"{name:<14} {drift:>5} {plain:7.2f} {grouped:14.2f}")
    print(f"\n2. resident memory growth per weight, fresh process ({LARGE} x {LARGE}: programmed, "
          f"calibrated, read once, batch {BATCH})")
    print("   (trimmed: after glibc malloc_trim(0) returns the freed heap the allocator kept)")
    print(f"{'profile':<14} {'counted':>8} {'growth':>8} {'trimmed':>8} {'peak':>8} {'seconds':>8}")
    for name in names:
        r = child(["resident", name])
        print(f"{name:<14} {r['counted']:8.2f} {r['growth']:8.2f} {r['trimmed']:8.2f} {r['peak']:8.2f} "
              f"{r['seconds']:8.1f}")
    if not args.skip_vit:
        gib = 2.0**30
        print("\n3. converting a ViT-B-sized stack on pcm, fresh process")
        for how in ("copy", "inplace"):
            v = child(["vit", how])
            print(f"convert(..., inplace={how == 'inplace'}) of {v['weights'] / 1e6:.1f} M weights: peak "
                  f"resident {v['peak'] / gib:.2f} GiB (before conversion {v['before'] / gib:.2f} GiB, "
                  f"after {v['after'] / gib:.2f} GiB), chip holds {v['counted']:.2f} bytes per weight, "
                  f"{v['seconds']:.0f} s")


if __name__ == "__main__":
    main()
