"""What a training run reads: the dataset (by name or as an object with .x / .y) and the torch device."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["check_data", "limited", "load_dataset", "num_classes", "resolve_device"]


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The torch device to train on (default: CUDA when available); CUDA asked for but absent is an error."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} requested but CUDA is not available")
    return device


def num_classes(ds: Any) -> int:
    """Number of classes: ``ds.classes`` (an int or a list of names), else max label + 1."""
    classes = getattr(ds, "classes", None)  # an int (crossbar.data) or a list of names
    if isinstance(classes, int) and not isinstance(classes, bool) and classes > 0:
        return classes
    if classes is not None and not isinstance(classes, (int, str)) and len(classes) > 0:
        return len(classes)
    return int(ds.y.max()) + 1


def limited(ds: Any, limit: int | None) -> Any:
    """The first ``limit`` examples of ``ds`` (``ds`` itself when it is no longer)."""
    if limit is None or len(ds.y) <= limit:
        return ds
    from types import SimpleNamespace

    return SimpleNamespace(
        x=ds.x[:limit],
        y=ds.y[:limit],
        classes=getattr(ds, "classes", None),
        name=getattr(ds, "name", "data"),
        source=getattr(ds, "source", None),
    )


def load_dataset(name: str, split: str, root: Any, limit: int | None) -> Any:
    """A split of a ``crossbar.data`` dataset by name."""
    try:
        from crossbar.data import load
    except ImportError as err:  # pragma: no cover - depends on the data package
        raise ImportError("crossbar.data.load is not available; pass a dataset object") from err
    return load(name, split=split, root=root, limit=limit)


def check_data(ds: Any, what: str) -> None:
    """``ds`` has non-empty tensors .x and .y of equal length."""
    for attr in ("x", "y"):
        if not isinstance(getattr(ds, attr, None), torch.Tensor):
            raise TypeError(f"{what} must have tensors .x and .y (got {type(ds).__name__})")
    if len(ds.x) != len(ds.y) or len(ds.y) == 0:
        raise ValueError(f"{what}: .x and .y must be non-empty and of equal length")
