"""The matrix products a weight can enter, each rewritten as rows times one matrix.

Deciding by use (:mod:`crossbar.nn.usage`) and reading by use
(:mod:`crossbar.nn.byuse`) both see a torch operation with a weight among its
operands. :func:`product_form` turns ``linear``, ``@``/``matmul``/``mm``,
``addmm`` and a two-operand ``einsum`` into one :class:`ProductForm`: the
matrix an array holds (inputs x outputs, a view of the weight), the input rows
it multiplies, and how the rows' products become the operation's result (bias,
``alpha``/``beta`` and reshapes digital). Names of operations are torch's
(``__matmul__``, ``linear``, ...; a property such as ``.T`` by its own name).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from crossbar.read.ops import im2col

__all__ = ["MATRIX_PRODUCTS", "METADATA", "VIEWS", "ProductForm", "UnmappableProduct", "multiplies",
           "op_name", "product_form"]

# Operations that multiply two tensors as matrices (or convolve): a weight among their
# operands is multiplied with an input.
MATRIX_PRODUCTS = frozenset({
    "linear", "matmul", "__matmul__", "__rmatmul__", "mm", "addmm", "einsum", "bmm", "baddbmm", "mv",
    "addmv", "tensordot", "bilinear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
    "conv_transpose3d", "inner", "outer", "dot", "vdot", "chain_matmul", "multi_dot", "addbmm",
})
# Operations that give the same numbers in another layout (or the same tensor elsewhere):
# a weight passed through them is still the weight.
VIEWS = frozenset({
    "t", "T", "mT", "transpose", "permute", "view", "reshape", "view_as", "reshape_as", "contiguous",
    "flatten", "unflatten", "squeeze", "unsqueeze", "narrow", "split", "chunk", "unbind", "tensor_split",
    "to", "float", "double", "half", "bfloat16", "type", "detach", "clone", "cpu", "cuda", "requires_grad_",
    "data", "expand", "expand_as",
})
# Operations that only read metadata.
METADATA = frozenset({
    "shape", "size", "dim", "ndim", "numel", "dtype", "device", "is_cuda", "requires_grad", "stride",
    "is_contiguous", "__len__", "element_size", "is_floating_point", "layout", "storage_offset",
    "data_ptr", "__format__", "__repr__", "grad", "is_leaf", "untyped_storage", "names", "__hash__",
    "nelement", "get_device", "is_sparse", "is_quantized", "is_meta", "_is_view", "_base",
    "__deepcopy__", "__reduce_ex__", "__setstate__", "__getstate__", "_version",
})


class UnmappableProduct(ValueError):
    """A weight enters a product in a form no array computes (the message says which and why)."""


def op_name(func) -> str:
    """Torch's name of an operation; a property (``Tensor.T.__get__``) by the property's name."""
    name = getattr(func, "__name__", "") or ""
    if name in ("__get__", "__set__"):
        name = getattr(getattr(func, "__self__", None), "__name__", name)
    return name


@dataclass(frozen=True)
class ProductForm:
    """``op`` as ``finish(rows @ matrix)``: ``matrix`` (inputs x outputs) is a view of the weight."""

    op: str
    matrix: torch.Tensor
    rows: torch.Tensor
    finish: Callable[[torch.Tensor], torch.Tensor]


def _rows_times(x: torch.Tensor, matrix: torch.Tensor, op: str) -> ProductForm:
    """``x @ matrix`` for x of shape (..., inputs) (1-D x: one row)."""
    lead = x.shape[:-1]
    rows = x.reshape(-1, x.shape[-1])
    return ProductForm(op, matrix, rows, lambda y: y.reshape(*lead, y.shape[-1]))


def _matrix_times(matrix: torch.Tensor, x: torch.Tensor, op: str) -> ProductForm:
    """``matrix @ x`` for x of shape (..., inputs, m) or (inputs,): rows are x's columns."""
    if x.dim() == 1:
        return _rows_times(x, matrix.t(), op)
    moved = x.transpose(-1, -2)
    lead = moved.shape[:-1]
    rows = moved.reshape(-1, moved.shape[-1])
    return ProductForm(op, matrix.t(), rows, lambda y: y.reshape(*lead, y.shape[-1]).transpose(-1, -2))


def _plain_2d(w: torch.Tensor, op: str) -> None:
    if w.dim() != 2:
        raise UnmappableProduct(f"{op} with a {w.dim()}-D weight; only a weight matrix maps onto an array")


def _with_bias(form: ProductForm, add: Callable[[torch.Tensor], torch.Tensor]) -> ProductForm:
    return ProductForm(form.op, form.matrix, form.rows, lambda y: add(form.finish(y)))


def _einsum(equation: str, operands: list[torch.Tensor], which: int) -> ProductForm:
    """A two-operand einsum in which operand ``which`` is a weight matrix with one index summed
    against the input and one kept in the output."""
    if len(operands) != 2 or "..." in equation or "->" not in equation:
        raise UnmappableProduct(f"einsum {equation!r}: only two operands with an explicit output "
                                "and no ellipsis map onto an array")
    ins, out = equation.replace(" ", "").split("->")
    specs = ins.split(",")
    w_spec, x_spec = specs[which], specs[1 - which]
    w, x = operands[which], operands[1 - which]
    _plain_2d(w, "einsum")
    summed = [c for c in w_spec if c in x_spec and c not in out]
    kept = [c for c in w_spec if c not in x_spec and c in out]
    if len(summed) != 1 or len(kept) != 1 or len(set(x_spec)) != len(x_spec):
        raise UnmappableProduct(f"einsum {equation!r}: the weight needs one index summed with the input "
                                "and one index kept in the output")
    (s,), (k,) = summed, kept
    matrix = w if w_spec == s + k else w.t()
    rest = [c for c in x_spec if c != s]
    moved = x.permute(*[x_spec.index(c) for c in rest], x_spec.index(s))
    lead = moved.shape[:-1]
    rows = moved.reshape(-1, moved.shape[-1])
    tail = "".join(rest) + k

    def finish(y: torch.Tensor) -> torch.Tensor:
        return torch.einsum(f"{tail}->{out}", y.reshape(*lead, y.shape[-1]))

    return ProductForm("einsum", matrix, rows, finish)


def multiplies(op: str, args, kwargs, is_weight: Callable[[object], bool]) -> bool:
    """Whether ``op`` puts a weight (``is_weight``) in a multiplying position: a bias or a
    scale argument does not count; a weight passed as ``linear``'s input does (and is refused)."""
    if op == "linear":
        w = args[1] if len(args) > 1 else kwargs.get("weight")
        return is_weight(w) or is_weight(args[0])
    if op == "addmm":
        return any(is_weight(a) for a in args[1:3])
    operands = [o for a in (*args, *kwargs.values()) for o in (a if isinstance(a, (list, tuple)) else (a,))]
    return op in MATRIX_PRODUCTS and any(is_weight(o) for o in operands)


def product_form(op: str, args: tuple, kwargs: dict, is_weight: Callable[[object], bool]) -> ProductForm:
    """``op(*args, **kwargs)`` as a product of input rows with one weight matrix.

    ``is_weight`` tells the weight among the operands. Raises :class:`UnmappableProduct`
    for a form no array computes (both operands weights, a 3-D weight, an einsum that is
    not a matrix product, a product not listed in the module doc)."""
    if op == "linear":
        x, w = args[0], args[1] if len(args) > 1 else kwargs["weight"]
        b = args[2] if len(args) > 2 else kwargs.get("bias")
        if not is_weight(w) or is_weight(x):
            raise UnmappableProduct("linear with the weight as its input")
        _plain_2d(w, op)
        form = _rows_times(x, w.t(), op)
        return form if b is None else _with_bias(form, lambda y: y + b)
    if op in ("matmul", "__matmul__", "mm", "__rmatmul__"):
        a, b = (args[1], args[0]) if op == "__rmatmul__" else (args[0], args[1])
        if is_weight(a) and is_weight(b):
            raise UnmappableProduct(f"{op} of two weights (a weight computed from weights: fold it first)")
        if is_weight(b):
            _plain_2d(b, op)
            return _rows_times(a, b, op)
        _plain_2d(a, op)
        return _matrix_times(a, b, op)
    if op == "addmm":
        bias, a, b = args[:3]
        beta, alpha = kwargs.get("beta", 1), kwargs.get("alpha", 1)
        inner = product_form("mm", (a, b), {}, is_weight)
        return _with_bias(ProductForm(op, inner.matrix, inner.rows, inner.finish),
                          lambda y: beta * bias + alpha * y if (alpha, beta) != (1, 1) else bias + y)
    if op == "einsum":
        equation, *operands = args
        if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
            operands = list(operands[0])
        weights = [i for i, t in enumerate(operands) if is_weight(t)]
        if len(weights) != 1:
            raise UnmappableProduct(f"einsum {equation!r} of {len(weights)} weights")
        return _einsum(equation, list(operands), weights[0])
    if op in ("conv1d", "conv2d"):
        return _conv(op, args, kwargs, is_weight)
    raise UnmappableProduct(f"{op} cannot be read from an array as it stands")


def _pair(v, dims: int) -> tuple[int, ...]:
    return tuple(v) if isinstance(v, (tuple, list)) else (int(v),) * dims


def _conv(op: str, args, kwargs, is_weight) -> ProductForm:
    """``conv1d``/``conv2d`` of an input with a weight: one row per output position (im2col, the
    layout of ``crossbar.read.ops.im2col``), the weight as (channels x kernel) x outputs."""
    names = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
    a = {**dict(zip(names, args, strict=False)), **kwargs}
    x, w, b = a["input"], a["weight"], a.get("bias")
    if not is_weight(w) or is_weight(x):
        raise UnmappableProduct(f"{op} with the weight as its input")
    if a.get("groups", 1) != 1 or isinstance(a.get("padding", 0), str) and a["padding"] != "valid":
        raise UnmappableProduct(f"{op} with groups={a.get('groups', 1)} or padding={a.get('padding')!r}: "
                                "only groups=1 and explicit padding map by use")
    dims = 1 if op == "conv1d" else 2
    padding = a.get("padding", 0)
    stride, dilation = _pair(a.get("stride", 1), dims), _pair(a.get("dilation", 1), dims)
    padding = _pair(0 if padding == "valid" else padding, dims)
    if dims == 1:
        x = x.unsqueeze(2)
        kernel, stride, padding, dilation = (1, w.shape[-1]), (1, *stride), (0, *padding), (1, *dilation)
    else:
        kernel = tuple(w.shape[-2:])
    n = x.shape[0]
    h_out = (x.shape[2] + 2 * padding[0] - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
    w_out = (x.shape[3] + 2 * padding[1] - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
    rows = im2col(x, kernel, stride, padding, dilation)

    def finish(y: torch.Tensor) -> torch.Tensor:
        out = y.reshape(n, h_out, w_out, -1).permute(0, 3, 1, 2)
        if b is not None:
            out = out + b.reshape(1, -1, 1, 1)
        return out.squeeze(2) if dims == 1 else out

    return ProductForm(op, w.reshape(w.shape[0], -1).t(), rows, finish)
