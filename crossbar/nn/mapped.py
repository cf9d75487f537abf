"""A parameter whose products are read from arrays: the by-use half of ``convert``.

A parameter that a model multiplies with an input outside the layers
``convert`` knows by class becomes a :class:`MappedWeight`: the same numbers
in the same module attribute, so the module's own forward code runs unchanged,
but every product it enters is answered by the array that holds that weight as
the product uses it (``W``, ``W.T``, a block of a split: a
``crossbar.nn.byuse.AnalogProduct``) and not by torch. Views (``.t()``, ``.T``,
``transpose``, ``view``/``reshape``, ``split``) and moves (``to``) stay mapped
weights; everything else (adding it, looking rows up, a scale) is computed
digitally from the target weights. A product in an orientation the conversion
trace did not see is refused, never computed in float. An analog layer's
``weight`` attribute is a mapped weight with no arrays: its dtype, device and
shape read like the torch layer's, a product with it is refused.
"""

from __future__ import annotations

import copy

import torch

from crossbar.nn.products import METADATA, VIEWS, UnmappableProduct, multiplies, op_name, product_form

__all__ = ["MOVES", "MappedWeight", "matrix_key", "plain"]


def matrix_key(matrix: torch.Tensor, base: torch.Tensor, chain: tuple[str, ...]) -> tuple:
    """Which programmed array holds ``matrix`` (a view or copy of the weight ``base``): a view by
    its layout in the weight's storage, a copy by the operations that made it."""
    if matrix.untyped_storage().data_ptr() == base.untyped_storage().data_ptr():
        return ("view", tuple(matrix.shape), tuple(matrix.stride()), matrix.storage_offset())
    return ("copy", chain, tuple(matrix.shape))


def plain(obj, kind: type | None = None):
    """``obj`` (a tensor, or lists, tuples and dicts of them) with every tensor of the subclass
    ``kind`` (default :class:`MappedWeight`) as a plain tensor of the same numbers."""
    kind = MappedWeight if kind is None else kind
    if isinstance(obj, kind):
        with torch._C.DisableTorchFunctionSubclass():
            return obj.as_subclass(torch.Tensor)
    if isinstance(obj, (list, tuple)):
        return type(obj)(plain(o, kind) for o in obj)
    if isinstance(obj, dict):
        return {k: plain(v, kind) for k, v in obj.items()}
    return obj


class MappedWeight(torch.Tensor):
    """A parameter whose products are read from its arrays (module doc)."""

    crossbar_name: str
    crossbar_products: dict
    crossbar_chain: tuple
    crossbar_base: torch.Tensor | None

    @staticmethod
    def wrap(data: torch.Tensor, name: str, products: dict, chain: tuple = (),
             base: torch.Tensor | None = None) -> MappedWeight:
        """``data`` as a mapped weight (``base``: the weight it is a view of; None: itself)."""
        with torch._C.DisableTorchFunctionSubclass():
            out = torch.Tensor._make_subclass(MappedWeight, data.detach(), False)
        out.crossbar_name = name
        out.crossbar_products = products
        out.crossbar_chain = chain
        out.crossbar_base = base
        return out

    def plain(self) -> torch.Tensor:
        """The target weights as a plain tensor."""
        return plain(self)

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        out = MappedWeight.wrap(self.plain().clone(), self.crossbar_name, {}, self.crossbar_chain)
        memo[id(self)] = out
        out.crossbar_products = copy.deepcopy(self.crossbar_products, memo)
        out.crossbar_base = copy.deepcopy(self.crossbar_base, memo)
        return out

    def __reduce_ex__(self, protocol):
        state = (self.crossbar_name, self.crossbar_products, self.crossbar_chain, self.crossbar_base)
        return (_rebuild, (self.plain(),), state)

    def __setstate__(self, state) -> None:
        self.crossbar_name, self.crossbar_products, self.crossbar_chain, self.crossbar_base = state

    def __repr__(self, *, tensor_contents=None) -> str:
        return f"MappedWeight({self.crossbar_name}, shape={tuple(self.shape)})"

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        op = op_name(func)
        mine = next(a for a in (*args, *kwargs.values()) if isinstance(a, MappedWeight))
        if op in VIEWS and args and args[0] is mine:
            with torch._C.DisableTorchFunctionSubclass():
                out = func(*args, **kwargs)
            return mine._follow(out, op)
        if op in METADATA:
            with torch._C.DisableTorchFunctionSubclass():
                return func(*args, **kwargs)
        if multiplies(op, args, kwargs, lambda a: isinstance(a, MappedWeight)):
            return _read(op, args, kwargs)
        with torch._C.DisableTorchFunctionSubclass():
            return func(*plain(args), **plain(kwargs))

    def _follow(self, out, op: str):
        """The result of a view of this weight: the same weight (or its parts) in another layout."""
        if isinstance(out, (tuple, list)):
            return type(out)(self._follow(o, op) for o in out)
        if not isinstance(out, torch.Tensor):
            return out
        if op in MOVES and self.crossbar_base is None:
            return MappedWeight.wrap(out, self.crossbar_name, self.crossbar_products)  # the weight moved
        base = self if self.crossbar_base is None else self.crossbar_base
        chain = (*self.crossbar_chain, op)
        return MappedWeight.wrap(out, self.crossbar_name, self.crossbar_products, chain, base)


MOVES = frozenset({"to", "cpu", "cuda", "float", "double", "half", "bfloat16", "type", "requires_grad_"})
"""Operations that move or retype the weight itself (``module.to(...)``): still the weight."""


def _rebuild(data: torch.Tensor) -> MappedWeight:
    return MappedWeight.wrap(data, "", {})


def _read(op: str, args, kwargs) -> torch.Tensor:
    """A product of a mapped weight and an input, read from the array that holds the weight."""
    form = product_form(op, args, kwargs, lambda t: isinstance(t, MappedWeight))
    w = form.matrix
    base = w if w.crossbar_base is None else w.crossbar_base
    key = matrix_key(w, base, w.crossbar_chain)
    array = w.crossbar_products.get(key)
    if array is None:
        raise UnmappableProduct(
            f"weight {w.crossbar_name!r} enters {op} as a {tuple(w.shape)} matrix that the conversion "
            "trace did not see; convert with an example= that takes this path")
    with torch._C.DisableTorchFunctionSubclass():
        return form.finish(array(plain(form.rows)))
