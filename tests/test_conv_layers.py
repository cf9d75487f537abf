"""Convolutions on arrays (crossbar/nn/conv.py): 1-, 2-, 3-D, grouped, depthwise, transposed."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from crossbar import devices
from crossbar.cost.mapping import count_mvms
from crossbar.nn import calibrate, convert, reprogram, reseed, summary, to_float, vote_group
from crossbar.nn.conv import AnalogConv2d, grouped_layout
from crossbar.read.array import CrossbarArray
from crossbar.seeds import Stream, derive

IDEAL = devices.load("ideal")


def rel_rms(a: torch.Tensor, ref: torch.Tensor) -> float:
    return float((a - ref).pow(2).mean().sqrt() / ref.pow(2).mean().sqrt())


# (torch layer, input shape, arrays); every padding form, padding mode, stride, dilation and groups.
# Arrays on the ideal profile's 128 x 128 tiles, worked out by hand from the rule (fewest tiles,
# then fewest conversions per position): G groups of rows x cols cells each.
CASES = [
    (lambda: nn.Conv1d(4, 8, 3, stride=2, padding=1), (2, 4, 17), 1),
    # 3 x (10 x 2): block-diagonal 30 x 6 is 1 tile
    (lambda: nn.Conv1d(6, 6, 5, groups=3, dilation=2, padding="same", padding_mode="circular"),
     (2, 6, 20), 1),
    (lambda: nn.Conv2d(8, 8, 3, groups=8, padding=1), (2, 8, 9, 9), 1),  # 72 x 8: 1 tile
    (lambda: nn.Conv1d(4, 4, 4, padding="same"), (2, 4, 11), 1),  # asymmetric: padded 1 left, 2 right
    (lambda: nn.Conv2d(4, 6, 4, padding="same", padding_mode="reflect", groups=2), (2, 4, 9, 9), 1),
    (lambda: nn.Conv2d(6, 4, (3, 5), stride=(2, 1), padding=(1, 2), dilation=(2, 1), padding_mode="replicate",
                       bias=False), (2, 6, 11, 10), 1),
    # 2 x (2304 x 256): 2 x 36 tiles one array per group, 144 block-diagonal
    (lambda: nn.Conv2d(512, 512, 3, groups=2), (1, 512, 5, 5), 2),
    # 64 x (9 x 1): block-diagonal 576 x 64 is 5 tiles converting 5 x 64 columns per position; 14 groups
    # per array (126 x 14, one tile each) is 5 arrays, 5 tiles, 64 conversions
    (lambda: nn.Conv2d(64, 64, 3, groups=64), (2, 64, 6, 6), 5),
    (lambda: nn.Conv3d(3, 6, (2, 3, 3), stride=(1, 2, 1), padding=1, dilation=(1, 1, 2)), (2, 3, 5, 7, 8), 1),
    (lambda: nn.Conv3d(4, 4, 3, groups=2, padding="valid"), (2, 4, 5, 5, 6), 1),  # 108 x 4: 1 tile
    (lambda: nn.ConvTranspose1d(4, 6, 4, stride=3, padding=2, output_padding=1, groups=2, dilation=2),
     (2, 4, 7), 1),  # 2 x (2 x 12)
    (lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1), (2, 4, 5, 6), 1),
    (lambda: nn.ConvTranspose2d(4, 4, 2), (2, 4, 3, 3), 1),
    (lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=2, output_padding=2, dilation=3, bias=False),
     (2, 4, 5, 6), 1),
    # 4 x (64 x 576): 4 x 5 tiles one array per group, 2 x 18 = 36 block-diagonal
    (lambda: nn.ConvTranspose2d(256, 256, 3, stride=2, groups=4), (1, 256, 3, 3), 4),
]


@pytest.mark.parametrize("make, shape, arrays", CASES)
def test_converted_convolution_reproduces_torch(make, shape, arrays):
    torch.manual_seed(0)
    layer = make().eval()
    x = torch.randn(*shape)
    ref = layer(x).detach()
    net = convert(nn.Sequential(layer), IDEAL, seed=0)
    out = net(x)
    assert out.shape == ref.shape
    assert rel_rms(out, ref) <= 0.02
    # MVMs per example: one per output position (transposed: per input position) on every array
    positions = math.prod(x.shape[2:]) if layer.transposed else math.prod(ref.shape[2:])
    counts = count_mvms(net, x)
    assert len(counts) == arrays
    assert all(c == positions for c in counts.values())
    # to_float: the same torch layer and weights back
    back = to_float(net)[0]
    assert type(back) is type(layer) and back.groups == layer.groups
    assert torch.equal(back.weight, layer.weight.detach())
    assert (back.bias is None) == (layer.bias is None)
    if layer.bias is not None:
        assert torch.equal(back.bias, layer.bias.detach())
    torch.testing.assert_close(back(x), ref, rtol=0, atol=0)


def test_grouped_tiles_and_utilisation_in_summary():
    dw = nn.Conv2d(128, 128, 3, groups=128)  # depthwise: block-diagonal 1152 x 128 on 9 tiles (packed: 10)
    two = nn.Conv2d(512, 512, 3, groups=2)  # 2 x (2304 x 256): 36 tiles each; block-diagonal needs 144
    net = convert(nn.Sequential(dw, nn.ReLU(), two), IDEAL, seed=0)
    rows = {s.name: s for s in summary(net).layers}
    assert set(rows) == {"0", "2", "2.parts.0"}
    assert rows["0"].tiles == 9 and rows["0"].inputs == 1152 and rows["0"].outputs == 128
    assert rows["0"].utilisation == pytest.approx(128 * 9 / (9 * 128 * 128))  # the real weights only
    for name in ("2", "2.parts.0"):
        assert rows[name].tiles == 36 and rows[name].utilisation == pytest.approx(1.0)
    assert summary(net).total_tiles == 9 + 72
    packed = summary(convert(nn.Sequential(dw), devices.load("pcm"), seed=0)).layers  # 256 x 256 tiles
    assert [(r.inputs, r.outputs, r.tiles) for r in packed] == [(252, 28, 1)] * 4 + [(144, 16, 1)]


def test_grouped_layout_rule():
    assert grouped_layout(1, 1000, 1000, IDEAL) == 1
    assert grouped_layout(64, 9, 1, IDEAL) == 14  # 5 tiles either way; 64 conversions against 320
    assert grouped_layout(128, 9, 1, IDEAL) == 128  # 9 tiles against 10 packed, 128 per group
    assert grouped_layout(2, 2304, 256, IDEAL) == 1  # 72 against 144
    assert grouped_layout(2, 100, 10, IDEAL) == 1  # 2 tiles either way; 20 conversions against 40
    assert grouped_layout(2, 10, 128, IDEAL) == 2  # 2 tiles and 256 conversions either way: one read


def test_grouped_layer_reserves_a_seed_per_group():
    """The layer after a grouped one gets the same seed whichever layout the profile gives."""
    net = nn.Sequential(nn.Conv2d(8, 8, 3, groups=4), nn.Linear(6, 3))
    block = convert(net, IDEAL, seed=7)
    small = convert(net, IDEAL.with_overrides(tile_rows=18, tile_cols=2), seed=7)
    assert len(block[0].parts) == 0 and len(small[0].parts) == 3
    assert block[1].program_seed == small[1].program_seed == derive(7, Stream.LAYER_PROGRAM, 4)
    assert [p.program_seed for p in small[0].parts] == [derive(7, Stream.LAYER_PROGRAM, g) for g in (1, 2, 3)]


@pytest.mark.filterwarnings("ignore:array of profile")
def test_conv2d_groups_1_reads_as_main_does():
    """A groups=1 Conv2d is still one array programmed with the layer's seed and read by read_patches
    with the layer's read sequence: the same bits as the code path of the unmodified layer."""
    torch.manual_seed(1)
    layer = nn.Conv2d(3, 8, 3, stride=2, padding=1)
    x = torch.randn(2, 3, 12, 12)
    pcm = devices.load("pcm")
    seed = derive(3, Stream.LAYER_PROGRAM, 0)
    array = CrossbarArray.program(layer.weight.detach().reshape(8, -1).t(), pcm, seed=seed)
    refs = [array.read_patches(x, (3, 3), (2, 2), (1, 1), (1, 1), derive(seed, Stream.READ, n),
                               layer.bias.detach(), output_noise=False) for n in range(2)]
    net = convert(nn.Sequential(layer), pcm, seed=3, read_noise_time="fresh")  # as a bare array reads
    assert isinstance(net[0], AnalogConv2d)
    assert torch.equal(net(x), refs[0]) and torch.equal(net(x), refs[1])
    assert not torch.equal(refs[0], refs[1])  # the read noise is live: the comparison can fail


@pytest.mark.filterwarnings("ignore:array of profile")
def test_chip_operations_reach_every_group_array():
    torch.manual_seed(2)
    net = nn.Sequential(nn.Conv1d(4, 8, 3, groups=4), nn.ReLU(),
                        nn.ConvTranspose1d(8, 8, 2, stride=2, groups=2))
    pcm = devices.load("pcm").with_overrides(tile_rows=3, tile_cols=2)  # per group on both layers
    x = torch.randn(3, 4, 10)
    analog = convert(net, pcm, seed=0)
    assert len(analog[0].parts) == 3 and len(analog[2].parts) == 1
    left = calibrate(analog, x, seed=0)
    assert set(left) == {"0", "0.parts.0", "0.parts.1", "0.parts.2", "2", "2.parts.0"}
    assert all(layer.array.calibrated for layer in analog.modules() if hasattr(layer, "array"))
    reseed(analog, 5)
    first = analog(x)
    reseed(analog, 5)
    assert torch.equal(analog(x), first)
    with vote_group(analog, 1, dt=1e-6):
        assert analog(x).shape == first.shape
    reprogram(analog, 9)
    calibrate(analog, x, seed=0)
    reseed(analog, 5)
    assert not torch.equal(analog(x), first)
    assert rel_rms(analog(x), net(x).detach()) < 0.5  # still the network, with device noise


def test_operations_count_the_real_weights_of_a_depthwise_layer():
    from crossbar.cost.mapping import network_cost_of

    conv = nn.Conv2d(8, 8, 3, groups=8, bias=False)
    x = torch.rand(2, 8, 6, 6, generator=torch.Generator().manual_seed(0))
    cost = network_cost_of(convert(nn.Sequential(conv), devices.load("ideal")), x)
    positions = 4 * 4
    assert cost.ops == 2 * positions * 8 * 9  # 9 MACs per channel and position, not the zero blocks
