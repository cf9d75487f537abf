"""Decide by use: one traced forward pass tells what a model does with each parameter.

``convert`` maps the layers it knows by class (``MAPPABLE``); every other
parameter is decided here by what the forward does with it. Each such
parameter (and each buffer) is swapped, for one forward pass in eval mode and
without gradients, for a :class:`_Traced` tensor that records every operation
it enters and in which module's forward:

- **product**: it is multiplied with an input (``linear``, ``@``, ``mm``,
  ``addmm``, a two-operand ``einsum``; :mod:`crossbar.nn.products`), possibly
  after a view (``.t()``, ``.T``, ``transpose``, ``view``, ``split``): mapped,
  one array per distinct matrix it is used as;
- **added** (added, subtracted, a bias argument), **concatenated**, **looked up**
  (embedding, indexing with a tensor), **scale** (multiplied elementwise, a
  norm's weight), **transformed** (another elementwise operation): digital;
- **refused**: a weight computed from weights in the forward (``w + a @ b``)
  enters a product, a product of a form no array computes, or the weight
  enters an operation whose inside the trace cannot see (a fused kernel, a
  custom autograd function): convert names module, parameter and operation.

The trace sees the path the example takes; a branch it does not take is not
decided (a mapped weight used there in another orientation is refused when read).
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from dataclasses import dataclass, field

import torch
from torch import nn

from crossbar.nn.mapped import matrix_key, plain
from crossbar.nn.products import METADATA, VIEWS, UnmappableProduct, multiplies, op_name, product_form

__all__ = ["Use", "Usage", "trace_usage"]

LOOKUPS = frozenset({"embedding", "embedding_bag", "index_select", "gather", "take", "take_along_dim"})
ADDS = frozenset({"add", "__add__", "__radd__", "__iadd__", "sub", "__sub__", "__rsub__", "where", "addcmul"})
CONCATENATIONS = frozenset({"cat", "concat", "concatenate", "stack", "hstack", "vstack"})
SCALES = frozenset({"mul", "__mul__", "__rmul__", "__imul__", "div", "__truediv__", "__rtruediv__",
                    "layer_norm", "group_norm", "batch_norm", "instance_norm", "rms_norm", "prelu",
                    "masked_fill", "lerp"})
ELEMENTWISE = frozenset({"exp", "sigmoid", "tanh", "softplus", "pow", "__pow__", "sqrt", "rsqrt", "abs",
                         "norm", "sum", "mean", "clamp", "clip", "neg", "__neg__", "repeat", "tile", "flip",
                         "roll", "softmax", "log_softmax", "relu", "gelu", "silu",
                         "exp_", "square", "reciprocal", "log", "cos", "sin", "float", "half", "double",
                         "type_as", "new_zeros", "new_ones", "new_empty", "new_full", "zeros_like",
                         "ones_like", "full_like", "empty_like", "isfinite", "isnan", "all", "any",
                         "amax", "amin", "max", "min", "std", "var", "cumsum", "dropout", "fill_", "zero_",
                         "copy_", "item", "__bool__", "__float__", "__int__",
                         "__index__", "equal", "eq", "ne", "lt", "le", "gt", "ge", "__eq__", "__ne__",
                         "__lt__", "__le__", "__gt__", "__ge__", "__iter__", "__contains__"})
KINDS = {**dict.fromkeys(LOOKUPS, "looked up"), **dict.fromkeys(ADDS, "added"),
         **dict.fromkeys(CONCATENATIONS, "concatenated"),
         **dict.fromkeys(SCALES, "scale"), **dict.fromkeys(ELEMENTWISE, "transformed")}


@dataclass(frozen=True)
class Use:
    """One operation a parameter entered in the traced forward."""

    kind: str  # "product", "added", "concatenated", "looked up", "scale", "transformed" or "refused"
    op: str
    user: str  # qualified name of the module whose forward ran the operation ("" the model)
    user_class: str
    key: tuple | None = None  # products: which matrix (crossbar.nn.byuse.matrix_key)
    matrix: torch.Tensor | None = field(default=None, compare=False, repr=False)  # inputs x outputs
    reason: str = ""


@dataclass
class Usage:
    """Per parameter (qualified name), the operations it entered."""

    uses: dict[str, list[Use]]

    def products(self, name: str) -> dict[tuple, Use]:
        """The distinct matrices ``name`` is multiplied as: key -> its first product use."""
        out: dict[tuple, Use] = {}
        for u in self.uses.get(name, []):
            if u.kind == "product":
                out.setdefault(u.key, u)
        return out

    def refused(self, name: str) -> Use | None:
        return next((u for u in self.uses.get(name, []) if u.kind == "refused"), None)

    def reason(self, name: str) -> str:
        """Why ``name`` stays digital: its digital uses ("looked up", "added", ...)."""
        kinds = [u.kind for u in self.uses.get(name, []) if u.kind != "product"]
        return ", ".join(dict.fromkeys(kinds)) or "unused in the traced forward"


class _Recorder:
    def __init__(self, names: dict[int, str]) -> None:
        self.names = names
        self.stack: list[nn.Module] = []
        self.uses: dict[str, list[Use]] = defaultdict(list)

    def user(self) -> tuple[str, str]:
        if not self.stack:
            return "", "the model"
        m = self.stack[-1]
        return self.names.get(id(m), "?"), type(m).__name__

    def add(self, t: _Traced, kind: str, op: str, **kw) -> None:
        if t.crossbar_name is None:  # a buffer: constant, not reported
            return
        user, cls = self.user()
        self.uses[t.crossbar_name].append(Use(kind, op, user, cls, **kw))


def _flat(obj) -> list:
    if isinstance(obj, (list, tuple)):
        return [x for o in obj for x in _flat(o)]
    if isinstance(obj, dict):
        return [x for o in obj.values() for x in _flat(o)]
    return [obj]


def _plain(obj):
    return plain(obj, _Traced)


def _tensor_index(index) -> bool:
    return any(isinstance(i, (torch.Tensor, list)) for i in (index if isinstance(index, tuple) else (index,)))


class _Traced(torch.Tensor):
    """A parameter (or buffer, ``crossbar_name`` None) followed through one forward pass."""

    crossbar_name: str | None
    crossbar_chain: tuple
    crossbar_base: torch.Tensor | None
    crossbar_made: str  # "" a weight as stored or viewed; else the operation that computed it
    crossbar_trace: _Recorder

    @staticmethod
    def wrap(data, name, trace, chain=(), base=None, made="") -> _Traced:
        with torch._C.DisableTorchFunctionSubclass():
            out = torch.Tensor._make_subclass(_Traced, data.detach(), False)
        out.crossbar_name, out.crossbar_trace = name, trace
        out.crossbar_chain, out.crossbar_base, out.crossbar_made = chain, base, made
        return out

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        op = op_name(func)
        items = _flat(args) + _flat(kwargs)
        traced = [a for a in items if isinstance(a, _Traced)]
        with torch._C.DisableTorchFunctionSubclass():
            out = func(*_plain(args), **_plain(kwargs))
        if op in METADATA or not traced:
            return out
        first = traced[0]
        rec = first.crossbar_trace
        if op in VIEWS or (op == "__getitem__" and not _tensor_index(args[1])):
            if args and args[0] is first:
                return _follow(first, out, op)
        if op == "__getitem__":
            rec.add(first, "looked up", op)
            return out
        if multiplies(op, args, kwargs, lambda a: isinstance(a, _Traced)):
            _record_product(rec, op, args, kwargs, traced)
            return out
        kind = KINDS.get(op)
        others = [a for a in items if isinstance(a, torch.Tensor) and not isinstance(a, _Traced)]
        for t in traced:
            if kind is None and t.dim() >= 2:
                rec.add(t, "refused", op, reason=f"enters {op}, whose inside crossbar-sim cannot see")
            else:
                rec.add(t, kind or "transformed", op)
        if others or not isinstance(out, torch.Tensor):
            return out  # an activation (or a Python value): no longer a weight
        names = "+".join(dict.fromkeys(t.crossbar_name or "buffer" for t in traced))
        return _Traced.wrap(out, first.crossbar_name, rec, made=f"{op} of {names}")


def _follow(t: _Traced, out, op: str):
    if isinstance(out, (tuple, list)):
        return type(out)(_follow(t, o, op) for o in out)
    if not isinstance(out, torch.Tensor):
        return out
    base = t if t.crossbar_base is None else t.crossbar_base
    chain = (*t.crossbar_chain, op)
    return _Traced.wrap(out, t.crossbar_name, t.crossbar_trace, chain, base, t.crossbar_made)


def _record_product(rec: _Recorder, op: str, args, kwargs, traced: list[_Traced]) -> None:
    bias = None
    if op == "linear" or op.startswith("conv"):
        bias = args[2] if len(args) > 2 else kwargs.get("bias")
    elif op == "addmm":
        bias = args[0]
    if isinstance(bias, _Traced):
        rec.add(bias, "added", op)
    operands = [t for t in traced if t is not bias]
    made = [t for t in operands if t.crossbar_made]
    if made:
        for t in operands:
            rec.add(t, "refused", op, reason=f"a weight computed in the forward ({made[0].crossbar_made}) "
                                             f"enters {op}")
        return
    try:
        form = product_form(op, args, kwargs, lambda a: isinstance(a, _Traced) and a is not bias)
    except UnmappableProduct as err:
        for t in operands:
            rec.add(t, "refused", op, reason=str(err))
        return
    m = form.matrix
    base = m if m.crossbar_base is None else m.crossbar_base
    rec.add(m, "product", op, key=matrix_key(m, base, m.crossbar_chain), matrix=_plain(m).clone())


@contextlib.contextmanager
def _swapped(model: nn.Module, names: set[str], rec: _Recorder):
    """Every parameter named in ``names`` and every buffer as a traced tensor, restored after."""
    saved = []
    qualified = {id(p): n for n, p in model.named_parameters()}
    for m in model.modules():
        for attr, p in list(m._parameters.items()):
            if p is not None and qualified.get(id(p)) in names:
                saved.append((m._parameters, attr, p))
                m._parameters[attr] = _Traced.wrap(p, qualified[id(p)], rec)
        for attr, b in list(m._buffers.items()):
            if b is not None and not isinstance(b, _Traced):
                saved.append((m._buffers, attr, b))
                m._buffers[attr] = _Traced.wrap(b, None, rec)
    try:
        yield
    finally:
        for table, attr, value in saved:
            table[attr] = value


def trace_usage(model: nn.Module, x, names: set[str]) -> Usage:
    """Run ``model`` once on ``x`` (eval mode, no gradients) and record every operation each
    parameter named in ``names`` enters (module doc). ``model`` is left as it was."""
    rec = _Recorder({id(m): n for n, m in model.named_modules()})
    def enter(m: nn.Module, args) -> None:
        rec.stack.append(m)

    def leave(m: nn.Module, args, out) -> None:
        rec.stack.pop()

    handles = [m.register_forward_pre_hook(enter) for m in model.modules()]
    handles += [m.register_forward_hook(leave, always_call=True) for m in model.modules()]
    was = {m: m.training for m in model.modules()}
    try:
        model.eval()
        with torch.no_grad(), _swapped(model, names, rec):
            model(*x) if isinstance(x, (tuple, list)) else model(x)
    finally:
        for h in handles:
            h.remove()
        for m, training in was.items():
            m.training = training
    return Usage(dict(rec.uses))
