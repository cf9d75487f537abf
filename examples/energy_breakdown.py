"""Where the energy of one inference goes, per bundled profile (numbers quoted in docs/cost.md).

An untrained cnn6 (seed 0) on 28 x 28 inputs, mapped onto each profile; one example's
latency, energy, TOPS/W and the share of array (cell), DAC/driver and ADC energy, with the
input activity measured on 16 random images (seed 0).

    .venv/bin/python examples/energy_breakdown.py [profile ...]
"""

from __future__ import annotations

import sys

import torch

from crossbar import devices, models
from crossbar.cost import format_si
from crossbar.cost.mapping import network_cost_of
from crossbar.nn.convert import convert

names = sys.argv[1:] or devices.available()
model = models.build("cnn6", **models.kwargs_for_data("cnn6", (1, 28, 28), 10)).eval()
x = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(0))
print("| profile | latency | energy | TOPS/W | cell | DAC/drivers | ADC | sense, digital, buffers |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for name in names:
    net = network_cost_of(convert(model, devices.load(name), seed=0), x)
    share = {k: sum(getattr(layer, f"energy_{k}") for layer in net.layers) / net.energy
             for k in ("cell", "dac", "adc")}
    rest = 1.0 - sum(share.values())
    print(f"| {name} | {format_si(net.latency, 's')} | {format_si(net.energy, 'J')} "
          f"| {net.tops_per_watt:.3g} | {share['cell']:.1%} | {share['dac']:.1%} "
          f"| {share['adc']:.1%} | {rest:.1%} |")
