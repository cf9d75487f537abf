"""Check that a change of the read path keeps the bits: dump the outputs of a fixed set of
reads and converted-network forwards made by the crossbar-sim on ``PYTHONPATH``, then
compare two dumps (say main's and a branch's) bit for bit.

Reads: random weights on each bundled physical profile (1 to 256 columns; one-shot,
bit-sliced and two-phase inputs), batches of 1, 7 and 300 rows (one all zero), with their
conversion and clip counts; patch reads of five convolution geometries on PCM and ReRAM;
two forwards each of ``mobilenet_small`` and cnn6 converted onto PCM.

    PYTHONPATH=<main checkout> .venv/bin/python tools/read_bits.py dump main.pt
    PYTHONPATH=. .venv/bin/python tools/read_bits.py dump branch.pt
    .venv/bin/python tools/read_bits.py compare main.pt branch.pt
"""

from __future__ import annotations

import crossbar  # noqa: F401 - imported before torch, as the CLI does

# isort: split
import sys
import warnings

import numpy as np
import torch

from crossbar import CrossbarArray, devices, models
from crossbar.nn import convert
from crossbar.seeds import Stream, derive

ARRAYS = [("pcm", 252, 28), ("pcm", 36, 4), ("pcm", 784, 256), ("pcm", 300, 5), ("pcm", 9, 1),
          ("nand", 200, 30), ("reram", 130, 129), ("neurram", 150, 17), ("hermes", 64, 3), ("ideal", 70, 9)]
GEOMETRIES = [((3, 3), (1, 1), (1, 1), (1, 1)), ((3, 3), (2, 2), (1, 1), (1, 1)),
              ((3, 2), (2, 1), (1, 2), (2, 1)), ((1, 1), (1, 1), (0, 0), (1, 1)),
              ((5, 5), (1, 1), (3, 3), (1, 1))]


def key(n: int) -> int:
    return derive(11, Stream.READ, n)


def dump() -> dict[str, torch.Tensor]:
    """The outputs, by name."""
    warnings.simplefilter("ignore", RuntimeWarning)  # uncalibrated arrays read with their fixed range
    out: dict[str, torch.Tensor] = {}
    rng = np.random.default_rng(0)
    for name, n_in, n_out in ARRAYS:
        arr = CrossbarArray.program(rng.uniform(-1, 1, size=(n_in, n_out)), devices.load(name), seed=3)
        for batch in (1, 7, 300):
            x = torch.from_numpy(rng.normal(size=(batch, n_in)).astype(np.float32))
            if batch == 300:
                x[5] = 0.0
            if name in ("pcm", "nand"):
                arr.calibrate(x, key(99))
            out[f"{name}-{n_in}x{n_out}-{batch}"] = arr.read(x, key(batch)).clone()
            counts = [arr.stats.conversions, arr.stats.clipped]
            out[f"{name}-{n_in}x{n_out}-{batch}-stats"] = torch.tensor(counts)
    for name in ("pcm", "reram"):
        for i, geometry in enumerate(GEOMETRIES):
            channels, (kh, kw) = 6, geometry[0]
            W = rng.uniform(-1, 1, size=(channels * kh * kw, 11))
            arr = CrossbarArray.program(W, devices.load(name), seed=4)
            images = torch.from_numpy(rng.normal(size=(4, channels, 9, 8)).astype(np.float32))
            images[2] = 0.0
            bias = torch.linspace(-1, 1, 11)
            out[f"patch-{name}-{i}"] = arr.read_patches(images, *geometry, key(i), bias).clone()
    for model in ("mobilenet_small", "cnn6"):
        x = torch.rand(40, 1, 28, 28, generator=torch.Generator().manual_seed(2))
        net = convert(getattr(models, model)(seed=0).eval(), "pcm", seed=0, calibration=x[:16])
        with torch.no_grad():
            out[f"{model}-0"] = net(x).clone()
            out[f"{model}-1"] = net(x[:13]).clone()
    return out


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "dump":
        torch.save(dump(), argv[1])
        return 0
    if len(argv) == 3 and argv[0] == "compare":
        a, b = torch.load(argv[1]), torch.load(argv[2])
        if a.keys() != b.keys():
            print(f"the dumps hold different outputs: {sorted(a.keys() ^ b.keys())}")
            return 1
        differ = [k for k in a if not torch.equal(a[k], b[k])]
        print(f"{len(a)} outputs, {len(differ)} differ" + (f": {differ}" if differ else ""))
        return 1 if differ else 0
    print("usage: read_bits.py dump FILE | compare FILE FILE")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
