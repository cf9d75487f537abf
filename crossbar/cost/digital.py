"""The work that stays off the arrays, counted in one forward pass and priced as digital.

What no programmed array can compute runs in digital logic beside the tiles:
the products of two input-dependent tensors (attention scores ``Q K^T`` and
weights times ``V``), the softmax, the per-token norms (LayerNorm, GroupNorm,
RMSNorm) and the rows an embedding looks up. :class:`DigitalCounter` (a torch
function mode, entered by ``crossbar.cost.mapping.trace``) counts them per
example; :func:`digital_energy` prices them (docs/cost.md, "Digital work"):

- a multiply-accumulate of two 16-bit floats: 1.1 pJ multiply + 0.4 pJ add = 1.5 pJ;
- an element of a softmax or norm: one 16-bit float operation per element and
  pass, at the 16-bit float add's 0.4 pJ (an approximation: the exponential
  and the reciprocal square root cost more, the max and the sums less);
- a looked-up value: 2 bytes (16-bit storage, assumed) read from an 8 KB SRAM at
  10 pJ per 64-bit word, 1.25 pJ per byte;

all at 45 nm from M. Horowitz, "Computing's energy problem (and what we can do
about it)", ISSCC 2014, pp. 10-14. BatchNorm in inference is an affine map per
output column, folded into the per-column digital scale the tile periphery
applies already, and is not counted again. Latency of the digital work is not
modelled (its units are assumed to keep pace with the pipeline).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch.overrides import TorchFunctionMode

from crossbar.cost._checks import finite

__all__ = ["DIGITAL_ENERGY", "NO_DIGITAL_WORK", "DigitalCounter", "DigitalWork", "digital_energy"]

DIGITAL_ENERGY = {"mac": 1.5e-12, "element": 0.4e-12, "byte": 1.25e-12}
"""J per digital MAC (16-bit float), per softmax/norm element, per byte looked up (module doc)."""
LOOKUP_BYTES_PER_VALUE = 2

_PRODUCTS = {"matmul", "__matmul__", "__rmatmul__", "bmm", "mm", "baddbmm", "einsum", "mv", "dot"}
_ELEMENTS = {"softmax", "log_softmax", "_softmax", "layer_norm", "group_norm", "rms_norm"}
_LOOKUPS = {"embedding", "embedding_bag"}


@dataclass(frozen=True)
class DigitalWork:
    """Digital work of one inference: MACs of activation products, softmax/norm elements,
    bytes looked up; ``energy`` (J) and ``ops`` (one MAC = 2 operations, one element 1)."""

    macs: float = 0.0
    elements: float = 0.0
    lookup_bytes: float = 0.0

    @property
    def energy(self) -> float:
        return digital_energy(self)

    @property
    def ops(self) -> float:
        return 2 * self.macs + self.elements

    def to_dict(self) -> dict:
        return {**asdict(self), "energy": self.energy, "ops": self.ops}


NO_DIGITAL_WORK = DigitalWork()


def digital_energy(work: DigitalWork) -> float:
    """Energy (J) of ``work`` at the per-operation energies of :data:`DIGITAL_ENERGY`."""
    for name in ("macs", "elements", "lookup_bytes"):
        finite(name, getattr(work, name))
    e = DIGITAL_ENERGY
    return work.macs * e["mac"] + work.elements * e["element"] + work.lookup_bytes * e["byte"]


def _macs(op: str, args, kwargs, out) -> float:
    """Multiply-accumulates of a product of two activations (output size x summed length)."""
    if op == "einsum":
        operands = args[1:]
        if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
            operands = operands[0]
        letters = {}
        for spec, t in zip(args[0].replace(" ", "").split("->")[0].split(","), operands, strict=False):
            letters.update(zip(spec, t.shape, strict=False))
        return float(math.prod(letters.values()))
    a = args[1] if op in ("baddbmm",) else args[0]
    if op == "__rmatmul__":
        a = args[1]
    inner = a.shape[-1] if a.dim() else 1
    return float(out.numel() * inner)


class DigitalCounter(TorchFunctionMode):
    """Counts digital work while active, except inside array reads (``depth`` > 0)."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.macs = 0.0
        self.elements = 0.0
        self.lookup_bytes = 0.0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.depth:
            return out
        if any(type(t).__name__ == "MappedWeight" for t in (*args, *kwargs.values())):
            return out  # a weight read from its array: analog
        op = getattr(func, "__name__", "")
        if op in _PRODUCTS and isinstance(out, torch.Tensor):
            self.macs += _macs(op, args, kwargs, out)
        elif op == "scaled_dot_product_attention":
            q, k = args[0], args[1]
            self.macs += 2.0 * q.numel() * k.shape[-2]  # Q K^T and weights x V
            self.elements += float(q.numel() // q.shape[-1] * k.shape[-2])  # the softmax
        elif op in _ELEMENTS and isinstance(args[0], torch.Tensor):
            self.elements += float(args[0].numel())
        elif op in _LOOKUPS and isinstance(out, torch.Tensor):
            self.lookup_bytes += float(out.numel() * LOOKUP_BYTES_PER_VALUE)
        return out

    def work(self, examples: int) -> DigitalWork:
        """The counted work per example."""
        return DigitalWork(self.macs / examples, self.elements / examples, self.lookup_bytes / examples)
