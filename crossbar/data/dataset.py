"""The one in-memory form of every data split: :class:`Dataset`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

__all__ = ["Dataset"]


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
