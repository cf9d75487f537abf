"""What wire resistance costs: reads, programming and ageing with and without wires, in one process.

The fast wire model (crossbar/read/wires.py) folds each cell's share of its current
into the tile's read state when the tile is programmed or aged, so a read does the
same work with or without wires; programming and ageing pay the model once per tile.
Prints, for a 1024 x 1024 weight matrix on PCM tiles of 256 x 256 (the profile's
calibrated ADC range) and a batch of 1000, the median time of each case with ideal
wiring and with the per-cell wire cited in pcm.yaml's sources (NeuroSim V1.4, 14 nm:
2.524 / 7.573 Ohm per row / column segment), and their ratio.
Run: ``python benchmarks/bench_wires.py [--repeats N] [--threads N] [--clock cpu]``.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from bench_mvm import interleaved_medians, start

from crossbar import CrossbarArray, devices
from crossbar.seeds import Stream, derive

WIRED = {"row_wire_resistance": 2.524, "col_wire_resistance": 7.573}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=None, help="compute threads (default: torch's)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = parser.parse_args()
    clock = start(args.threads, args.clock)
    rng = np.random.default_rng(0)
    W = rng.normal(0, 0.1, size=(1024, 1024)).astype(np.float32)
    x = torch.from_numpy(rng.random((args.batch, 1024)).astype(np.float32))
    profiles = {"ideal wires": devices.load("pcm", tile_rows=256, tile_cols=256)}
    profiles["cited wires"] = profiles["ideal wires"].with_overrides(**WIRED)
    arrays = {}
    for name, p in profiles.items():
        arrays[name] = CrossbarArray.program(W, p, seed=1)
        arrays[name].calibrate(x[:256], key=derive(3, Stream.CALIBRATION_READ))
    reads = iter(range(10**9))

    def read(name: str):
        return lambda: arrays[name].mvm(x, key=derive(3, Stream.READ, next(reads)))

    def program(name: str):
        return lambda: CrossbarArray.program(W, profiles[name], seed=1)

    def age(name: str):
        return lambda: arrays[name].age(3600.0)

    print(f"{'case':<12} {'ideal ms':>10} {'wired ms':>10} {'wired / ideal':>14}")
    for case, make, repeats in (("read", read, args.repeats), ("program", program, 3),
                                ("age", age, 3)):
        medians = interleaved_medians({name: make(name) for name in profiles}, repeats, clock)
        ideal, wired = medians["ideal wires"], medians["cited wires"]
        print(f"{case:<12} {ideal * 1e3:10.1f} {wired * 1e3:10.1f} {wired / ideal:14.2f}")


if __name__ == "__main__":
    main()
