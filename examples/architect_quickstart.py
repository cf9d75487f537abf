"""A hardware architect's first half hour with crossbar-sim (runs in well under a minute).

1. load a device profile and look at its numbers,
2. program a weight matrix onto its crossbar tiles and read it (one noisy MVM),
3. map a small network onto arrays and price one inference: latency, energy, area,
   and K-vote inference under the three schedules of Qin & Vucinic (Section 3.3).

    .venv/bin/python examples/architect_quickstart.py [profile]
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from torch import nn

from crossbar import CrossbarArray, devices
from crossbar.cost import format_si, voting_markdown
from crossbar.cost.mapping import network_cost_of
from crossbar.nn.convert import convert, summary
from crossbar.seeds import Stream, derive

name = sys.argv[1] if len(sys.argv) > 1 else "reram"

# 1. A device profile: conductance window, noise laws, converters, tile geometry (SI units).
profile = devices.load(name)
print(f"{profile.name}: G in [{profile.g_min:.3g}, {profile.g_max:.3g}] S, read at {profile.v_read} V "
      f"for {format_si(profile.t_read, 's')}, {profile.tile_rows}x{profile.tile_cols} tiles, "
      f"{profile.adc_bits}-bit ADC shared by {profile.cols_per_adc} columns")

# 2. One weight matrix (inputs x outputs) on crossbar tiles. A read is a pure function of the
#    programmed array, the input and a key: read n of a sequence seeded 1 uses derive(1, READ, n).
rng = np.random.default_rng(0)
W = rng.normal(0.0, 0.1, (256, 64)).astype(np.float32)
array = CrossbarArray.program(W, profile, seed=1)
x = rng.random((8, 256), dtype=np.float32)
y = array.mvm(x, key=derive(1, Stream.READ, 0))
err = np.linalg.norm(y - x @ W) / np.linalg.norm(x @ W)
print(f"W {W.shape} on {len(array.tiles)} tiles; relative MVM error {err:.2%} "
      "(programming + read noise + converters)")

# 3. A small CNN (weights random here; see `crossbar-sim demo` for a trained one) mapped onto arrays.
gen = torch.Generator().manual_seed(0)
model = nn.Sequential(
    nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(8 * 13 * 13, 10),
)
with torch.no_grad():
    for p in model.parameters():
        p.copy_(torch.empty_like(p).uniform_(-0.2, 0.2, generator=gen))
analog = convert(model, profile, seed=2)
print(summary(analog))

images = torch.rand(4, 1, 28, 28, generator=gen)
net = network_cost_of(analog, images)  # one forward: MVMs per layer, measured input activity
print(net.to_markdown())
print(f"one inference: {format_si(net.latency, 's')}, {format_si(net.energy, 'J')} "
      f"(cell read energy {net.energy_cell / net.energy:.1%} of it), {net.area * 1e6:.3g} mm²\n")
print(voting_markdown(net, 10))
