"""What a training run reads: the dataset (by name or as an object with .x / .y) and the torch device."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["check_data", "check_outputs", "data_pair", "limited", "load_dataset", "num_classes",
           "resolve_device"]


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
    """A split of a bundled dataset, an ``.npz`` file or a ``package.module:loader``
    (``crossbar.data.load_split``)."""
    from crossbar.data import load_split

    return load_split(name, split, root=root, limit=limit)


def data_pair(data: Any, test_data: Any, limit: int | None) -> tuple[Any, Any, str]:
    """(train, test, name) of data given as objects: one with ``.x`` / ``.y`` (``test_data``
    the test set, if any), or any form ``crossbar.data.resolve`` takes (tensors, Datasets)."""
    if isinstance(getattr(data, "x", None), torch.Tensor):
        test = limited(test_data, limit) if test_data is not None else None
        return limited(data, limit), test, getattr(data, "name", None) or "custom"
    from crossbar.data import resolve

    if test_data is not None:
        raise ValueError("test_data applies to a data object with .x and .y; pass both splits in data")
    train, test = resolve(data)
    return limited(train, limit), limited(test, limit), "custom"


def check_outputs(model: Any, ds: Any, name: str, data_name: str) -> None:
    """The network takes the data's samples and gives one logit per class (a clear error if not)."""
    from crossbar.nn.placement import quiet

    x = ds.x[:2]
    try:
        with quiet(model):
            out = model(x)
    except Exception as err:  # noqa: BLE001 - the user's network failed on the data: say so
        raise ValueError(f"model {name!r} cannot take {data_name!r} samples of shape {tuple(x.shape[1:])}: "
                         f"{type(err).__name__}: {' '.join(str(err).split())[:240]}") from None
    classes = num_classes(ds)
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[1] < classes:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"model {name!r} gives {got} for a batch of {len(x)}; {data_name!r} has "
                         f"{classes} classes, so it must give N x {classes} logits (set its "
                         "number of outputs, e.g. through model_kwargs)")


def check_data(ds: Any, what: str) -> None:
    """``ds`` has non-empty tensors .x and .y of equal length."""
    for attr in ("x", "y"):
        if not isinstance(getattr(ds, attr, None), torch.Tensor):
            raise TypeError(f"{what} must have tensors .x and .y (got {type(ds).__name__})")
    if len(ds.x) != len(ds.y) or len(ds.y) == 0:
        raise ValueError(f"{what}: .x and .y must be non-empty and of equal length")
