"""A user's own data: an ``.npz`` file, a loader named ``package.module:loader``, or tensors in Python.

:func:`resolve` turns any of them into a ``(train, test)`` pair of checked
:class:`~crossbar.data.Dataset` (``crossbar.data.resolve`` and ``load_split``,
the public entries, take bundled names as well):

* a path ending in ``.npz`` with arrays ``x_train``, ``y_train``, ``x_test``,
  ``y_test`` (``numpy.savez``; read without pickle);
* ``package.module:loader``: a callable (given ``root=data_root`` if it takes a
  ``root`` argument) returning what a Python caller may pass directly;
* in Python: ``(x_train, y_train, x_test, y_test)``, ``((x_train, y_train),
  (x_test, y_test))``, ``(train, test)`` with torch Datasets yielding ``(x,
  y)`` pairs or objects with ``.x`` / ``.y``, or a mapping with the four keys.

Checks, each one :class:`crossbar.checks.CheckError` naming the file (or
loader), the key, the value and what is allowed: inputs are real numbers (cast
to float32) and finite, at least one sample, every sample of both splits of
one shape; labels are one integer per sample, from 0, and the test labels lie
within the training labels' range (a class the network never saw is a data
error). The number of classes is the largest training label + 1.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crossbar.checks import CheckError
from crossbar.resolve import import_object, is_spec

from .dataset import Dataset

__all__ = ["KEYS", "MAX_CLASSES", "datasets_from", "is_custom", "resolve"]

KEYS = ("x_train", "y_train", "x_test", "y_test")
MAX_CLASSES = 100_000


def is_custom(spec: Any) -> bool:
    """Whether ``spec`` is user data (an import path, an .npz path or objects), not a bundled name."""
    return not isinstance(spec, str) or is_spec(spec) or spec.endswith(".npz")


def _array(where: str, key: str, value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value
    try:
        return np.asarray(value)
    except (ValueError, TypeError):
        raise CheckError(where, key, "must be an array or tensor", type(value).__name__) from None


def _inputs(where: str, key: str, value: Any) -> torch.Tensor:
    a = _array(where, key, value)
    if a.dtype.kind not in "biuf":
        raise CheckError(where, key, "inputs must be real numbers", str(a.dtype),
                         "a bool, integer or floating-point array")
    if a.ndim < 2 or a.shape[0] == 0:
        raise CheckError(where, key, "must hold at least one sample (N x features...)",
                         f"shape {a.shape}")
    x = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
    bad = ~torch.isfinite(x.reshape(len(x), -1)).all(1)
    if bad.any():
        first = int(bad.nonzero()[0, 0])
        raise CheckError(where, key, f"{int(bad.sum())} sample(s) hold NaN or infinity (as float32), "
                         f"first at index {first}", f"shape {a.shape}", "finite numbers")
    return x


def _labels(where: str, key: str, value: Any, n: int) -> torch.Tensor:
    a = _array(where, key, value)
    if a.dtype.kind not in "iu":
        raise CheckError(where, key, "labels must be integers", str(a.dtype), "integer class indices 0..C-1")
    if a.ndim != 1 or len(a) != n:
        raise CheckError(where, key, f"must be one label per sample ({n} samples)", f"shape {a.shape}")
    if a.min() < 0 or a.max() >= MAX_CLASSES:
        i = int(np.argmax((a < 0) | (a >= MAX_CLASSES)))
        raise CheckError(where, key, f"label out of range at index {i}", int(a[i]),
                         f"integers 0..{MAX_CLASSES - 1}")
    return torch.from_numpy(a.astype(np.int64))


def _pairs(where: str, value: Any) -> dict[str, Any]:
    """The four arrays of any accepted form (module doc)."""
    if isinstance(value, Mapping) or hasattr(value, "files"):  # a dict or an NpzFile
        keys = list(value.files if hasattr(value, "files") else value)
        missing = [k for k in KEYS if k not in keys]
        if missing:
            raise CheckError(where, missing[0], "missing", allowed="arrays " + ", ".join(KEYS))
        return {k: value[k] for k in KEYS}
    if isinstance(value, (tuple, list)) and len(value) == 4:
        return dict(zip(KEYS, value, strict=True))
    if isinstance(value, (tuple, list)) and len(value) == 2:
        out = {}
        for split, part in zip(("train", "test"), value, strict=True):
            out[f"x_{split}"], out[f"y_{split}"] = _split(where, split, part)
        return out
    raise CheckError(where, None, "not a data set", type(value).__name__,
                     "(x_train, y_train, x_test, y_test), ((x, y), (x, y)), (train, test) torch Datasets, "
                     "or a mapping with " + ", ".join(KEYS))


def _split(where: str, split: str, part: Any) -> tuple[Any, Any]:
    if isinstance(part, (tuple, list)) and len(part) == 2:
        return part[0], part[1]
    if all(isinstance(getattr(part, a, None), torch.Tensor) for a in ("x", "y")):
        return part.x, part.y
    if hasattr(part, "__getitem__") and hasattr(part, "__len__"):  # a torch Dataset of (x, y)
        xs, ys = [], []
        for i in range(len(part)):
            item = part[i]
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                raise CheckError(where, f"{split}[{i}]", "a Dataset item must be an (x, y) pair",
                                 type(item).__name__)
            xs.append(_array(where, f"{split}[{i}]", item[0]))
            ys.append(int(item[1]))
        if not xs:
            raise CheckError(where, split, "holds no samples", 0)
        shapes = {x.shape for x in xs}
        if len(shapes) > 1:
            raise CheckError(where, split, "samples differ in shape", sorted(shapes)[:3])
        return np.stack(xs), np.asarray(ys)
    raise CheckError(where, split, "not a split", type(part).__name__,
                     "an (x, y) pair, an object with .x and .y, or a torch Dataset of (x, y)")


def datasets_from(value: Any, where: str, name: str):
    """Checked ``(train, test)`` Datasets from any accepted form (module doc); ``where`` names
    the file or loader in errors, ``name`` the data in reports."""
    arrays = _pairs(where, value)
    x_tr, x_te = _inputs(where, "x_train", arrays["x_train"]), _inputs(where, "x_test", arrays["x_test"])
    if x_tr.shape[1:] != x_te.shape[1:]:
        raise CheckError(where, "x_test", "samples must have the shape of x_train's "
                         f"{tuple(x_tr.shape[1:])}", f"shape {tuple(x_te.shape[1:])}")
    y_tr = _labels(where, "y_train", arrays["y_train"], len(x_tr))
    y_te = _labels(where, "y_test", arrays["y_test"], len(x_te))
    classes = int(y_tr.max()) + 1
    if int(y_te.max()) >= classes:
        i = int(torch.argmax((y_te >= classes).to(torch.int8)))
        raise CheckError(where, "y_test", f"label at index {i} is not among the training labels",
                         int(y_te[i]), f"0..{classes - 1} (the range of y_train)")
    return tuple(Dataset(x=x, y=y, name=name, classes=classes, source=f"{name} {split}: {len(y)} samples")
                 for split, x, y in (("train", x_tr, y_tr), ("test", x_te, y_te)))


@functools.lru_cache(maxsize=4)
def _from_file(path: str, stamp: tuple[int, int]):
    try:
        with np.load(path, allow_pickle=False) as f:
            return datasets_from({k: f[k] for k in f.files}, path, path)
    except CheckError:
        raise
    except (OSError, ValueError, EOFError) as err:
        raise CheckError(path, None, f"not a readable .npz file ({type(err).__name__}: "
                         f"{' '.join(str(err).split())[:160]})",
                         allowed="numpy.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)"
                         ) from None


@functools.lru_cache(maxsize=4)
def _loaded(spec: str, root: str | None):
    loader = import_object(spec, "data loader")
    try:
        takes_root = "root" in inspect.signature(loader).parameters
    except (TypeError, ValueError):
        takes_root = False
    try:
        value = loader(root=root) if takes_root and root is not None else loader()
    except Exception as err:  # noqa: BLE001 - the user's loader failed: quote it
        raise CheckError(spec, None, f"the data loader raised {type(err).__name__}: "
                         f"{' '.join(str(err).split())[:240]}") from None
    return datasets_from(value, spec, spec)


def resolve(spec: Any, root: str | os.PathLike | None = None):
    """``(train, test)`` Datasets of user data ``spec``: an ``.npz`` path, an import path
    ``package.module:loader`` or Python objects (module doc); ``crossbar.data.resolve`` takes
    bundled names too."""
    if not isinstance(spec, str):
        return datasets_from(spec, "data", "data")
    if is_spec(spec):
        return _loaded(spec, None if root is None else str(root))
    path = Path(spec)
    if not path.is_file():
        raise CheckError(None, "data", "no such .npz file", spec,
                         "a bundled dataset name, a path to an .npz file, or package.module:loader")
    st = path.stat()
    return _from_file(spec, (st.st_mtime_ns, st.st_size))
