"""How the read kernels and torch share two cores: the issue-22 figures under each way of waiting.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_threads.py [--before PATH] [--tbb-lib DIR]

OpenMP settings are read once, when torch loads libgomp, so each variant is a
fresh child process (this script with ``--child``) with its environment set
before the imports; within a child every figure is a ratio of cases timed
interleaved in that process, at two threads (``--threads``), wall clock:
the exact PCM read of 784 x 256 and 1024 x 1024 (batch 1000) over float32
BLAS, the cnn6 training step (batch 32) with multiplicative and additive noise
over the noiseless one, and cnn6 converted onto PCM over the float model
(batch 256). Variants: this tree as it is (crossbar sets GOMP_SPINCOUNT=1000
when imported first), libgomp's default spin (GOMP_SPINCOUNT=300000) and
OMP_WAIT_POLICY=PASSIVE; with ``--before PATH`` the same on another checkout
(e.g. the read kernels on Numba's OpenMP pool, commit c02e482); with
``--tbb-lib DIR`` (where pip put ``libtbb.so.12``) Numba's tbb layer.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

FIGURES = ("784x256 read", "1024x1024 read", "mult step", "add step", "noiseless step ms", "cnn6 PCM/float")


def child(threads: int, repeats: int) -> None:
    """Time the cases of one variant and print its figures on one line."""
    import crossbar  # noqa: F401 - before torch (crossbar.SPIN_NOTE)

    # isort: split
    import numpy as np
    import torch
    from bench_nn import _make_step, time_interleaved

    from crossbar import CrossbarArray, devices, models
    from crossbar.nn import NoiseConfig, convert
    from crossbar.seeds import Stream, derive
    from crossbar.threads import set_threads

    set_threads(threads)
    cpu = torch.device("cpu")

    def medians(cases: dict, n: int) -> dict[str, float]:
        return {k: float(np.median(v)) for k, v in time_interleaved(cases, n, 2, cpu).items()}

    pcm = devices.load("pcm", tile_rows=256, tile_cols=256)
    rng = np.random.default_rng(0)
    reads = iter(range(10**9))
    cases = {}
    for n_in, n_out in ((784, 256), (1024, 1024)):
        w = rng.normal(0, 0.1, size=(n_in, n_out)).astype(np.float32)
        x = torch.from_numpy(rng.random((1000, n_in)).astype(np.float32))
        array = CrossbarArray.program(w, pcm, seed=1)
        array.calibrate(x[:256], key=derive(3, Stream.CALIBRATION_READ))
        wt = torch.from_numpy(w)
        cases[f"bound {n_in}"] = lambda x=x, wt=wt: torch.matmul(x, wt)
        cases[f"read {n_in}"] = lambda a=array, x=x: a.mvm(x, key=derive(3, Stream.READ, next(reads)))
    m = medians(cases, repeats)
    out = [m[f"read {n}"] / m[f"bound {n}"] for n in (784, 1024)]
    gen = torch.Generator().manual_seed(0)
    x, y = torch.rand(32, 1, 28, 28, generator=gen), torch.randint(0, 10, (32,), generator=gen)

    def step_of(cfg):
        return _make_step(models.cnn6(cfg, seed=0), x, y)

    m = medians({"none": step_of(NoiseConfig()), "mult": step_of(NoiseConfig("mult", 0.5, 0.5)),
                 "add": step_of(NoiseConfig("add", 0.5, 0.5))}, repeats)
    out += [m["mult"] / m["none"], m["add"] / m["none"], 1e3 * m["none"]]
    images = torch.rand(256, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    plain = models.cnn6(seed=0).eval()
    analog = convert(plain, "pcm", seed=0, calibration=images[:64])
    m = medians({"float": torch.no_grad()(lambda: plain(images)),
                 "pcm": torch.no_grad()(lambda: analog(images))}, max(2, repeats // 3))
    out.append(m["pcm"] / m["float"])
    print("FIGURES " + " ".join(f"{v:.3f}" for v in out), f"{os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=9, help="timed calls per case")
    parser.add_argument("--before", type=Path, default=None, help="another checkout to run the same on")
    parser.add_argument("--tbb-lib", type=Path, default=None, help="the folder holding libtbb.so.12")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.threads, args.repeats)
        return
    here = Path(__file__).resolve().parent.parent
    waits = {"crossbar's default": {}, "GOMP_SPINCOUNT=300000": {"GOMP_SPINCOUNT": "300000"},
             "OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"}}
    variants = [(f"this tree, {name}", here, env) for name, env in waits.items()]
    if args.tbb_lib:
        variants.append(("this tree, Numba tbb layer, default spin", here,
                         {"NUMBA_THREADING_LAYER": "tbb", "LD_LIBRARY_PATH": str(args.tbb_lib)}))
    if args.before:
        variants += [(f"before, {name}", args.before.resolve(), env) for name, env in waits.items()]
    print(f"{args.threads} threads, wall clock, {args.repeats} calls per case; one child process per variant")
    print(f"{'variant':<44}" + "".join(f"{f:>19}" for f in FIGURES) + f"{'load':>7}")
    for name, tree, env in variants:
        clean = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
        run = subprocess.run([sys.executable, __file__, "--child", "--threads", str(args.threads),
                              "--repeats", str(args.repeats)], cwd=tree, capture_output=True, text=True,
                             env=clean | env | {"PYTHONPATH": f"{tree}{os.pathsep}{Path(__file__).parent}"})
        line = [s for s in run.stdout.splitlines() if s.startswith("FIGURES ")]
        if run.returncode or not line:
            print(f"{name:<44} failed: {run.stderr.strip().splitlines()[-1:]}")
            continue
        *values, load = line[0].split()[1:]
        print(f"{name:<44}" + "".join(f"{float(v):>19.3f}" for v in values) + f"{float(load):>7.1f}")


if __name__ == "__main__":
    main()
