"""Convolutions on crossbar arrays: ``Conv1d``/``Conv2d``/``Conv3d`` (any groups, stride,
padding, dilation and padding mode) and ``ConvTranspose1d``/``ConvTranspose2d``.

**Convolutions** are im2col: each output position is one MVM of its patch
(:func:`crossbar.read.ops.im2col`, the one patch layout) with the weight as
(C_in/groups * prod(kernel)) x C_out. 1-D and 2-D layers read the patches straight
from the images (:meth:`~crossbar.CrossbarArray.read_patches`; a 1-D layer as a 2-D
one of height 1), 3-D layers read the im2col rows. A padding mode other than
``zeros``, and ``padding="same"`` where it is asymmetric, pad the input digitally
first, as torch does.

**Groups.** A grouped layer's arrays each hold k consecutive groups block-diagonally
(group g's rows feed only its columns; the zero blocks are programmed as equal pairs
and read with the rest): k = groups (block-diagonal on one array), k = 1 (one small
array per group), or the most groups whose blocks fit one tile. The rule
(:func:`grouped_layout`): fewest tiles; on a tie, fewest ADC conversions per output
position (a row band of tiles converts all its columns, zero blocks included); then
fewest arrays (reads). On 256 x 256 tiles a depthwise 3x3 layer of 128 channels
packs 28 groups per array: 5 arrays of one tile each, as many tiles as block-diagonal
(1152 x 128 cells in 5 row bands) but 128 conversions per position instead of 640;
on 128 x 128 tiles block-diagonal takes 9 tiles and packing 10, so block-diagonal it
is. Two groups of 256 channels take one array per group (2 x 18 x 2 = 72 tiles
against 36 x 4 = 144). The first array is the layer's own, the others its ``parts``;
the input channels are split among them and their outputs concatenated. A grouped
layer reserves one programming seed per group (``arrays_for``) whatever layout its
profile gives, so the seeds of the layers after it do not depend on the tile size;
each array uses the seed of its first group. ``real_weights`` leaves out the zero
blocks (``summary()``'s utilisation).

**Transposed convolutions**: each input position is one MVM, its C_in channels
times the weight as C_in x (C_out/groups * prod(kernel)) (block-diagonal for
groups, as above); the outputs of neighbouring positions overlap where the kernel
is larger than the stride and are added digitally (col2im, ``F.fold``), cropped
by ``padding`` and extended by ``output_padding``, and the bias is added after
the sum. A plain convolution of the zero-inserted input would read about
stride^d times as many vectors, most of their entries zeros; this mapping
converts every input value once. MVMs: one per input position (per group array).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from crossbar.nn.layer import AnalogLayer
from crossbar.read.ops import im2col
from crossbar.seeds import Stream, derive

__all__ = ["AnalogConv1d", "AnalogConv2d", "AnalogConv3d", "AnalogConvTranspose1d",
           "AnalogConvTranspose2d", "fold_positions", "grouped_layout", "position_rows"]


def _tiles(rows: int, cols: int, profile) -> int:
    return math.ceil(rows / profile.tile_rows) * math.ceil(cols / profile.tile_cols)


def group_sizes(groups: int, k: int) -> list[int]:
    """Groups on each array when each holds ``k`` consecutive groups (the last one the rest)."""
    return [min(k, groups - g) for g in range(0, groups, k)]


def grouped_layout(groups: int, rows: int, cols: int, profile) -> int:
    """Groups per array for ``groups`` weight blocks of ``rows x cols`` on ``profile``'s tiles:
    all of them, one, or the most whose blocks fit one tile, whichever takes fewest tiles, then
    fewest ADC conversions per output position, then fewest arrays (module doc)."""
    fit = min(profile.tile_rows // rows, profile.tile_cols // cols)
    candidates = sorted({groups, 1} | ({fit} if 1 < fit < groups else set()), reverse=True)

    def cost(k: int) -> tuple[int, int, int]:
        sizes = group_sizes(groups, k)
        tiles = sum(_tiles(n * rows, n * cols, profile) for n in sizes)
        conversions = sum(math.ceil(n * rows / profile.tile_rows) * n * cols for n in sizes)
        return tiles, conversions, len(sizes)

    return min(candidates, key=cost)


def _spec(layer: nn.Module) -> dict:
    """The torch layer's constructor arguments (what ``to_float`` builds again)."""
    spec = dict(in_channels=layer.in_channels, out_channels=layer.out_channels,
                kernel_size=layer.kernel_size, stride=layer.stride, padding=layer.padding,
                dilation=layer.dilation, groups=layer.groups, bias=layer.bias is not None,
                padding_mode=layer.padding_mode)
    if layer.transposed:
        spec["output_padding"] = layer.output_padding
    return spec


def _lift(values: Sequence[int], pad: int) -> tuple[int, ...]:
    """A 1-D geometry as 2-D of height 1 (``pad``: the value on the added axis)."""
    return (pad, *values) if len(values) == 1 else tuple(values)


def position_rows(x: torch.Tensor) -> torch.Tensor:
    """Each position's channels, one row per position (a transposed convolution's vectors)."""
    return x.movedim(1, -1).reshape(-1, x.shape[1]).contiguous()


def fold_positions(y: torch.Tensor, n: int, size: Sequence[int], kernel: Sequence[int],
                   stride: Sequence[int], padding: Sequence[int], dilation: Sequence[int],
                   output_padding: Sequence[int]) -> torch.Tensor:
    """A transposed convolution's digital part: the products of each input position ``y``
    (n * positions x C_out * kernel) added into the output (``F.fold``), extended by the output
    padding and cropped by the padding; 1-D geometries as height 1 (the result keeps that axis)."""
    size, kernel, stride = _lift(size, 1), _lift(kernel, 1), _lift(stride, 1)
    padding, dilation, (oh, ow) = _lift(padding, 0), _lift(dilation, 1), _lift(output_padding, 0)
    full = [(size[i] - 1) * stride[i] + dilation[i] * (kernel[i] - 1) + 1 for i in range(2)]
    out = F.fold(y.view(n, math.prod(size), -1).transpose(1, 2), full, kernel, dilation=dilation,
                 stride=stride)
    if oh or ow:
        out = F.pad(out, (0, ow, 0, oh))
    (ph, pw) = padding
    return out[:, :, ph:out.shape[2] - ph, pw:out.shape[3] - pw]


class _Conv(AnalogLayer):
    """A convolution (``transposed``: its transpose) of ``dims`` spatial axes on one array,
    with the arrays of the later groups as ``parts`` where the layout takes several."""

    torch_type: type[nn.Module]
    dims: int
    transposed = False
    contiguous_input = False  # the reads take any strides: a group array reads its channels in place

    def __init__(self, weight_io: torch.Tensor, bias, profile, seed: int, *, spec: dict,
                 groups_here: int) -> None:
        self.spec = dict(spec)
        self.groups_here = groups_here  # groups on this array, block-diagonal
        kernel, stride, dilation = spec["kernel_size"], spec["stride"], spec["dilation"]
        if self.transposed:
            padding, self.pad = spec["padding"], None
            self.output_padding = _lift(spec["output_padding"], 0)
        else:
            padding, self.pad, self.pad_mode = self.paddings(spec)
        self.geometry = (_lift(kernel, 1), _lift(stride, 1), _lift(padding, 0), _lift(dilation, 1))
        super().__init__(weight_io, bias, profile, seed)
        self.real_weights = weight_io.shape[0] * weight_io.shape[1] // groups_here
        self.parts = nn.ModuleList()  # the arrays of the later groups (from_seeds)

    @classmethod
    def paddings(cls, spec: dict) -> tuple[tuple[int, ...], list[int] | None, str]:
        """(the padding the read applies, the digital pre-padding for ``F.pad`` or None, its mode)."""
        kernel, dilation, padding = spec["kernel_size"], spec["dilation"], spec["padding"]
        if padding == "valid":
            pads = [(0, 0)] * cls.dims
        elif padding == "same":
            total = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
            pads = [(t // 2, t - t // 2) for t in total]
        else:
            pads = [(p, p) for p in padding]
        mode = spec["padding_mode"]
        if mode == "zeros" and all(a == b for a, b in pads):
            return tuple(a for a, _ in pads), None, "constant"
        flat = [v for a, b in reversed(pads) for v in (a, b)]
        return (0,) * cls.dims, flat, "constant" if mode == "zeros" else mode

    @staticmethod
    def arrays_for(layer: nn.Module) -> int:
        return layer.groups

    @classmethod
    def weight_blocks(cls, weight: torch.Tensor, groups: int) -> list[torch.Tensor]:
        """Each group's part of the torch layer's ``weight`` as inputs x outputs of its array."""
        blocks = weight.chunk(groups, dim=0)
        if cls.transposed:  # (C_in, C_out/groups, *kernel): C_in/groups x (C_out/groups * kernel)
            return [b.reshape(b.shape[0], -1) for b in blocks]
        return [b.reshape(b.shape[0], -1).t() for b in blocks]

    @classmethod
    def from_seeds(cls, layer: nn.Module, profile, seeds: Sequence[int]) -> _Conv:
        """Map ``layer`` with one programming seed per group (the layout: :func:`grouped_layout`)."""
        groups, spec, bias = layer.groups, _spec(layer), layer.bias
        blocks = cls.weight_blocks(layer.weight.detach(), groups)
        k = grouped_layout(groups, *blocks[0].shape, profile)
        per_group = layer.out_channels // groups
        arrays, g = [], 0
        for n in group_sizes(groups, k):
            weight = blocks[g] if n == 1 else torch.block_diag(*blocks[g:g + n])
            b = None if bias is None else bias[g * per_group:(g + n) * per_group]
            arrays.append(cls(weight, b, profile, seeds[g], spec=spec, groups_here=n))
            g += n
        first = arrays[0]
        first.parts = nn.ModuleList(arrays[1:])
        for part in first.parts:
            part.noise = None  # the layer's own output noise covers every group's outputs
        return first

    @classmethod
    def from_float(cls, layer: nn.Module, profile, seed: int) -> _Conv:
        """Map ``layer`` from one seed (group g > 0 programs with ``derive(seed, LAYER_PROGRAM, g)``)."""
        seeds = [seed, *(derive(seed, Stream.LAYER_PROGRAM, g) for g in range(1, layer.groups))]
        return cls.from_seeds(layer, profile, seeds)

    def __getattr__(self, name: str):
        """The torch layer's hyper-parameters (``stride``, ``padding``, ``kernel_size``, ...), for
        code around the layer that reads them."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            spec = self.__dict__.get("spec", {})
            if name in spec and name != "bias":
                return spec[name]
            raise

    def torch_weight(self) -> torch.Tensor:
        """The target weights in the torch layer's layout (out x in/groups x kernel, or in x ...)."""
        s = self.spec
        per_group = (s["out_channels"] if self.transposed else s["in_channels"]) // s["groups"]
        tail = (per_group, *s["kernel_size"])
        if self.transposed:
            return torch.cat([b.reshape(b.shape[0], *tail) for b in self._weight_blocks()])
        return torch.cat([b.t().reshape(b.shape[1], *tail) for b in self._weight_blocks()])

    def _weight_blocks(self) -> list[torch.Tensor]:
        """Every group's weight block, from the diagonals of the arrays."""
        blocks = []
        for a in (self, *self.parts):
            g, w = a.groups_here, a.array.weights
            r, c = w.shape[0] // g, w.shape[1] // g
            blocks += [w[i * r:(i + 1) * r, i * c:(i + 1) * c] for i in range(g)]
        return blocks

    def to_float(self) -> nn.Module:
        """The torch layer with the target weights and bias (on the layer's device)."""
        device = self.array.weights.device
        out = self.torch_type(**self.spec, device=device)
        with torch.no_grad():
            out.weight.copy_(self.torch_weight())
            if out.bias is not None:
                out.bias.copy_(torch.cat([self.bias, *(part.bias for part in self.parts)]))
        return out

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The input channels of each array (this layer's own first)."""
        per_group = self.spec["in_channels"] // self.spec["groups"]
        return x.split([a.groups_here * per_group for a in (self, *self.parts)], dim=1)

    def _own(self, x: torch.Tensor) -> torch.Tensor:
        """The input channels of this layer's own array."""
        return self._split(x)[0] if len(self.parts) else x

    def _padded(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad is not None:
            x = F.pad(x, self.pad, mode=self.pad_mode)
        return x.unsqueeze(2) if self.dims == 1 else x

    def vectors(self, x: torch.Tensor) -> torch.Tensor:
        """The vectors this layer's array multiplies for input ``x``: one im2col patch per output
        position (transposed: each input position's channels)."""
        x = self._own(x)
        if self.transposed:
            return position_rows(x)
        return im2col(self._padded(x), *self.geometry)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != self.dims + 2:
            axes = " x ".join("DHW"[3 - self.dims:])
            raise ValueError(f"{type(self).__name__} expects N x C x {axes} input, "
                             f"got shape {tuple(x.shape)}")
        x = self._checked(x)
        product = self._transposed if self.transposed else self._product
        if len(self.parts):
            xs = self._split(x)
            y = torch.cat([product(xs[0]), *(part(xi) for part, xi in zip(self.parts, xs[1:], strict=True))],
                          dim=1)
        else:
            y = product(x)
        return y if self.noise is None else self.noise(y)

    def _product(self, x: torch.Tensor) -> torch.Tensor:
        x = self._padded(x)
        if self.calibration is not None:
            self._observe(im2col(x, *self.geometry))
        if self.dims == 3:
            kernel, stride, padding, dilation = self.geometry
            out = [(x.shape[2 + i] + 2 * padding[i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1
                   for i in range(3)]
            y = self.array.read(im2col(x, *self.geometry).contiguous(), self.next_key(), self.bias,
                                output_noise=False, group=self.read_time)
            return y.view(x.shape[0], *out, -1).movedim(-1, 1).contiguous()
        y = self.array.read_patches(x, *self.geometry, self.next_key(), self.bias, output_noise=False,
                                    group=self.read_time, copies=self.copies)
        return y.squeeze(2) if self.dims == 1 else y

    def _transposed(self, x: torch.Tensor) -> torch.Tensor:
        rows = position_rows(x)
        if self.calibration is not None:
            self._observe(rows)
        y = self.array.read(rows, self.next_key(), None, output_noise=False, group=self.read_time)
        out = fold_positions(y, x.shape[0], x.shape[2:], *self.geometry, self.output_padding)
        if self.bias is not None:
            out = out + self.bias.view(1, -1, 1, 1)
        return out.squeeze(2) if self.dims == 1 else out.contiguous()

    def extra_repr(self) -> str:
        layout = f", groups={self.spec['groups']}, on this array={self.groups_here}"
        return super().extra_repr() + (layout if self.spec["groups"] > 1 else "")


class AnalogConv1d(_Conv):
    """``nn.Conv1d`` on a crossbar array (the 2-D read at height 1)."""

    maps = "Conv1d"
    torch_type = nn.Conv1d
    dims = 1


class AnalogConv2d(_Conv):
    """2-D convolution as im2col: every output position is one MVM on the array."""

    maps = "Conv2d"
    torch_type = nn.Conv2d
    dims = 2


class AnalogConv3d(_Conv):
    """``nn.Conv3d`` on a crossbar array (the im2col rows read)."""

    maps = "Conv3d"
    torch_type = nn.Conv3d
    dims = 3


class AnalogConvTranspose1d(_Conv):
    """``nn.ConvTranspose1d``: one MVM per input position, overlapping outputs added digitally."""

    maps = "ConvTranspose1d"
    torch_type = nn.ConvTranspose1d
    dims = 1
    transposed = True


class AnalogConvTranspose2d(_Conv):
    """``nn.ConvTranspose2d``: one MVM per input position, overlapping outputs added digitally."""

    maps = "ConvTranspose2d"
    torch_type = nn.ConvTranspose2d
    dims = 2
    transposed = True
