"""The operands of a read, checked: weights and inputs as float32 tensors, and read keys.

An array computes in float32 on NumPy or torch inputs of any real dtype; these
checks turn everything else into one clear ``ValueError`` naming the argument
(never an infinity, a NaN or a crash inside a kernel): non-real dtypes, wrong
dimensions, finite values beyond the float32 range, NaN and infinity, keys
that are not integers in 0..2**64-1.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

__all__ = ["as_matrix", "check_finite", "check_key"]

_MAX_KEY = (1 << 64) - 1


def check_key(key) -> int | None:
    """A read key: None, or an integer within 0..2**64-1 (what :func:`crossbar.seeds.derive` returns)."""
    if key is None:
        return None
    if isinstance(key, bool) or not isinstance(key, numbers.Integral) or not 0 <= int(key) <= _MAX_KEY:
        raise ValueError(f"key must be an integer within 0..2**64-1 from crossbar.seeds.derive, got {key!r}")
    return int(key)


def as_matrix(name: str, a, ndim: tuple[int, ...], finite: bool = True,
              contiguous: bool = True) -> torch.Tensor:
    """A NumPy array or torch tensor as a float32 tensor (same device), checked for shape and
    (``finite``) finiteness; a read checks its own inputs' finiteness where it is free. With
    ``contiguous=False`` a tensor keeps its strides (for reads that take any)."""
    if not isinstance(a, torch.Tensor):
        a = np.asarray(a)
        if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
            raise ValueError(f"{name} must be real numbers, got dtype {a.dtype}")
        _check_float32_range(name, a)
        a = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
    elif a.is_complex() or a.dtype == torch.bool:
        raise ValueError(f"{name} must be real numbers, got dtype {a.dtype}")
    elif a.dtype == torch.float64:
        _check_float32_range(name, a.detach().cpu().numpy())
    a = a.detach()
    if a.dim() not in ndim:
        dims = " or ".join(map(str, ndim))
        raise ValueError(f"{name} must have {dims} dimensions, got shape {tuple(a.shape)}")
    a = a.to(torch.float32)
    if contiguous:
        a = a.contiguous()
    if finite:
        check_finite(name, a)
    return a


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _check_float32_range(name: str, a: np.ndarray) -> None:
    """Refuse finite values the float32 arithmetic of the arrays would turn into infinity."""
    if not np.issubdtype(a.dtype, np.floating) or a.dtype.itemsize <= 4:
        return
    big = np.count_nonzero(np.isfinite(a) & (np.abs(a) > _FLOAT32_MAX))
    if big:
        raise ValueError(f"{name} holds {big} finite value(s) beyond the float32 range "
                         f"(|v| > {_FLOAT32_MAX:.3g}); the arrays compute in float32")


def check_finite(name: str, a: torch.Tensor) -> None:
    ok = torch.isfinite(a)
    if not bool(ok.all()):
        bad = int(ok.numel() - ok.sum())
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); only finite values are allowed")
