"""What an object holds in memory: the bytes of every distinct array reachable from it.

:func:`held_bytes` walks an object (a torch module's buffers, parameters and
submodules, lists, tuples, dicts and the attributes of crossbar-sim's own
objects, e.g. an array's tiles) and adds up the storage of every NumPy array
and torch tensor it reaches, each storage once however many views share it.
It counts from the objects themselves, not from what a class says it keeps:
the bytes-per-weight budget test and ``benchmarks/bench_memory.py`` use it
(docs/performance.md, "Memory").
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def _storage(value) -> tuple[int, int] | None:
    """(address, bytes) of the memory under a tensor or array (None for anything else)."""
    if isinstance(value, torch.Tensor):
        storage = value.untyped_storage()
        return storage.data_ptr(), storage.nbytes()
    if isinstance(value, np.ndarray):
        root = value
        while isinstance(root.base, np.ndarray):
            root = root.base
        return root.__array_interface__["data"][0], root.nbytes
    return None


def _children(value) -> list:
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    if isinstance(value, nn.Module) or type(value).__module__.startswith("crossbar"):
        return list(getattr(value, "__dict__", {}).values())
    return []


def held_bytes(obj) -> int:
    """Bytes of all distinct array and tensor storage reachable from ``obj`` (see module doc)."""
    seen_objects: set[int] = set()
    storages: dict[int, int] = {}
    stack = [obj]
    while stack:
        value = stack.pop()
        if id(value) in seen_objects:
            continue
        seen_objects.add(id(value))
        found = _storage(value)
        if found is not None:
            address, size = found
            storages[address] = max(size, storages.get(address, 0))
            continue
        stack.extend(_children(value))
    return sum(storages.values())
