"""Convolutions on crossbar arrays: ``Conv1d``/``Conv2d``/``Conv3d`` (any groups, stride,
padding, dilation and padding mode) and ``ConvTranspose1d``/``ConvTranspose2d``.

**Convolutions** are im2col: each output position is one MVM of its patch
(:func:`crossbar.readops.im2col`, the one patch layout) with the weight as
(C_in/groups * prod(kernel)) x C_out. 1-D and 2-D layers read the patches straight
from the images (:meth:`~crossbar.CrossbarArray.read_patches`; a 1-D layer as a 2-D
one of height 1), 3-D layers read the im2col rows. A padding mode other than
``zeros``, and ``padding="same"`` where it is asymmetric, pad the input digitally
first, as torch does.

**Groups.** Either block-diagonal on one array (group g's rows feed only its
columns; the zero blocks are programmed as equal pairs and read with the rest) or
one array per group. The rule (:func:`grouped_layout`): the layout with fewer tiles;
block-diagonal on a tie (one read per output position instead of one per group).
A depthwise 3x3 layer of 64 channels on 128 x 128 tiles is block-diagonal
(576 x 64 cells, 5 tiles, against 64 tiles of 9 x 1); two groups of 256 channels
are one array per group (2 x 18 x 2 = 72 tiles against 36 x 4 = 144). Per group,
the first group's array is the layer's own and the others are its ``parts``; the
input channels are split among them and the outputs concatenated. A grouped layer
reserves one programming seed per group (``arrays_for``) whatever layout its
profile gives, so the seeds of the layers after it do not depend on the tile
size; block-diagonal uses the first. ``real_weights`` leaves out the zero blocks
(``summary()``'s utilisation).

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
from crossbar.readops import im2col
from crossbar.seeds import Stream, derive

__all__ = ["AnalogConv1d", "AnalogConv2d", "AnalogConv3d", "AnalogConvTranspose1d",
           "AnalogConvTranspose2d", "grouped_layout"]


def _tiles(rows: int, cols: int, profile) -> int:
    return math.ceil(rows / profile.tile_rows) * math.ceil(cols / profile.tile_cols)


def grouped_layout(groups: int, rows: int, cols: int, profile) -> str:
    """``"block"`` (block-diagonal on one array) or ``"per_group"`` (one array per group) for
    ``groups`` weight blocks of ``rows x cols``: whichever takes fewer of ``profile``'s
    tiles, block-diagonal on a tie."""
    if groups == 1 or _tiles(groups * rows, groups * cols, profile) <= groups * _tiles(rows, cols, profile):
        return "block"
    return "per_group"


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


def _rows(x: torch.Tensor) -> torch.Tensor:
    """Each position's channels, one row per position (a transposed convolution's vectors)."""
    return x.movedim(1, -1).reshape(-1, x.shape[1]).contiguous()


class _Conv(AnalogLayer):
    """A convolution (``transposed``: its transpose) of ``dims`` spatial axes on one array,
    with the other groups' arrays as ``parts`` where the layout is one array per group."""

    torch_type: type[nn.Module]
    dims: int
    transposed = False

    def __init__(self, weight_io: torch.Tensor, bias, profile, seed: int, *, spec: dict, groups_here: int,
                 parts: Sequence[_Conv] = ()) -> None:
        self.spec = dict(spec)
        self.groups_here = groups_here  # groups on this array: all (block-diagonal) or its own one
        kernel, stride, dilation = spec["kernel_size"], spec["stride"], spec["dilation"]
        if self.transposed:
            padding, self.pad = spec["padding"], None
            self.output_padding = _lift(spec["output_padding"], 0)
        else:
            padding, self.pad, self.pad_mode = self._padding(spec)
        self.geometry = (_lift(kernel, 1), _lift(stride, 1), _lift(padding, 0), _lift(dilation, 1))
        super().__init__(weight_io, bias, profile, seed)
        self.real_weights = weight_io.shape[0] * weight_io.shape[1] // groups_here
        self.parts = nn.ModuleList(parts)
        for part in self.parts:
            part.noise = None  # the layer's own output noise covers every group's outputs

    @classmethod
    def _padding(cls, spec: dict) -> tuple[tuple[int, ...], list[int] | None, str]:
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
    def _blocks(cls, layer: nn.Module) -> list[torch.Tensor]:
        """Each group's weight as inputs x outputs of its array."""
        blocks = layer.weight.detach().chunk(layer.groups, dim=0)
        if cls.transposed:  # (C_in, C_out/groups, *kernel): C_in/groups x (C_out/groups * kernel)
            return [b.reshape(b.shape[0], -1) for b in blocks]
        return [b.reshape(b.shape[0], -1).t() for b in blocks]

    @classmethod
    def from_seeds(cls, layer: nn.Module, profile, seeds: Sequence[int]) -> _Conv:
        """Map ``layer`` with one programming seed per group (the layout: :func:`grouped_layout`)."""
        groups, spec, bias = layer.groups, _spec(layer), layer.bias
        blocks = cls._blocks(layer)
        if grouped_layout(groups, *blocks[0].shape, profile) == "block":
            weight = blocks[0] if groups == 1 else torch.block_diag(*blocks)
            return cls(weight, bias, profile, seeds[0], spec=spec, groups_here=groups)
        biases = [None] * groups if bias is None else list(bias.chunk(groups))
        parts = [cls(blocks[g], biases[g], profile, seeds[g], spec=spec, groups_here=1)
                 for g in range(1, groups)]
        return cls(blocks[0], biases[0], profile, seeds[0], spec=spec, groups_here=1, parts=parts)

    @classmethod
    def from_float(cls, layer: nn.Module, profile, seed: int) -> _Conv:
        """Map ``layer`` from one seed (group g > 0 programs with ``derive(seed, LAYER_PROGRAM, g)``)."""
        seeds = [seed, *(derive(seed, Stream.LAYER_PROGRAM, g) for g in range(1, layer.groups))]
        return cls.from_seeds(layer, profile, seeds)

    def _weight_blocks(self) -> list[torch.Tensor]:
        if len(self.parts):
            return [self.array.weights, *(part.array.weights for part in self.parts)]
        g, w = self.groups_here, self.array.weights
        r, c = w.shape[0] // g, w.shape[1] // g
        return [w[i * r:(i + 1) * r, i * c:(i + 1) * c] for i in range(g)]

    def to_float(self) -> nn.Module:
        """The torch layer with the target weights and bias (on the layer's device)."""
        device = self.array.weights.device
        out = self.torch_type(**self.spec, device=device)
        tail = out.weight.shape[1:]
        if self.transposed:
            weight = torch.cat([b.reshape(b.shape[0], *tail) for b in self._weight_blocks()])
        else:
            weight = torch.cat([b.t().reshape(b.shape[1], *tail) for b in self._weight_blocks()])
        with torch.no_grad():
            out.weight.copy_(weight)
            if out.bias is not None:
                out.bias.copy_(torch.cat([self.bias, *(part.bias for part in self.parts)]))
        return out

    def _own(self, x: torch.Tensor) -> torch.Tensor:
        """The input channels of this layer's own array."""
        return x.chunk(len(self.parts) + 1, dim=1)[0] if len(self.parts) else x

    def _padded(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad is not None:
            x = F.pad(x, self.pad, mode=self.pad_mode)
        return x.unsqueeze(2) if self.dims == 1 else x

    def vectors(self, x: torch.Tensor) -> torch.Tensor:
        """The vectors this layer's array multiplies for input ``x``: one im2col patch per output
        position (transposed: each input position's channels)."""
        x = self._own(x)
        if self.transposed:
            return _rows(x)
        return im2col(self._padded(x), *self.geometry)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != self.dims + 2:
            axes = " x ".join("DHW"[3 - self.dims:])
            raise ValueError(f"{type(self).__name__} expects N x C x {axes} input, "
                             f"got shape {tuple(x.shape)}")
        x = self._checked(x)
        product = self._transposed if self.transposed else self._product
        if len(self.parts):
            xs = x.chunk(len(self.parts) + 1, dim=1)
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
                                output_noise=False, group=self.read_group)
            return y.view(x.shape[0], *out, -1).movedim(-1, 1).contiguous()
        y = self.array.read_patches(x, *self.geometry, self.next_key(), self.bias, output_noise=False,
                                    group=self.read_group)
        return y.squeeze(2) if self.dims == 1 else y

    def _transposed(self, x: torch.Tensor) -> torch.Tensor:
        n, size = x.shape[0], _lift(x.shape[2:], 1)
        rows = _rows(x)
        if self.calibration is not None:
            self._observe(rows)
        y = self.array.read(rows, self.next_key(), None, output_noise=False, group=self.read_group)
        kernel, stride, padding, dilation = self.geometry
        full = [(size[i] - 1) * stride[i] + dilation[i] * (kernel[i] - 1) + 1 for i in range(2)]
        out = F.fold(y.view(n, math.prod(size), -1).transpose(1, 2), full, kernel, dilation=dilation,
                     stride=stride)
        oh, ow = self.output_padding
        if oh or ow:
            out = F.pad(out, (0, ow, 0, oh))
        (ph, pw) = padding
        out = out[:, :, ph:out.shape[2] - ph, pw:out.shape[3] - pw]
        if self.bias is not None:
            out = out + self.bias.view(1, -1, 1, 1)
        return out.squeeze(2) if self.dims == 1 else out.contiguous()

    def extra_repr(self) -> str:
        layout = f", groups={self.spec['groups']}, layout=" + ("per group" if len(self.parts) else "block")
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
