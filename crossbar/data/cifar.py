"""CIFAR-10 from the official "python version" pickle batches.

Each batch (``data_batch_1`` .. ``data_batch_5``, ``test_batch``) is a pickled
dict with ``data`` (N x 3072 uint8, the 1024 red, then green, then blue values
of a 32 x 32 image in row-major order) and ``labels`` (N ints in 0..9). The
official files were pickled by Python 2, so their keys are bytes.

Pickles can execute code, so they are read with an unpickler that only
resolves the few names a numpy array needs; anything else is refused.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from . import download as dl
from ._files import data_home, dataset_dir, format_dirs
from .errors import DatasetFormatError

__all__ = ["CIFAR_FOLDER", "CIFAR_ARCHIVE", "BATCHES", "read_batch", "load_cifar10"]

CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
BATCHES: dict[str, tuple[str, ...]] = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}

_ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):  # noqa: D102
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch")
        return super().find_class(module, name)


def _get(d: dict, key: str):
    if key.encode() in d:
        return d[key.encode()]
    return d[key]


def read_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> (images N x 3 x 32 x 32 uint8, labels N int64)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            batch = _SafeUnpickler(fh, encoding="bytes").load()
        data = np.asarray(_get(batch, "data"))
        labels = np.asarray(_get(batch, "labels"))
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, AttributeError,
            ValueError) as exc:
        raise DatasetFormatError(f"{path}: not a CIFAR-10 python batch ({exc!r})") from exc
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise DatasetFormatError(
            f"{path}: 'labels' must be integers 0..9, got {labels.dtype} values such as "
            f"{labels.ravel()[0]!r}"
        )
    labels = labels.astype(np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.dtype != np.uint8:
        raise DatasetFormatError(
            f"{path}: 'data' should be N x 3072 uint8, got {data.dtype} {data.shape}"
        )
    if labels.shape != (data.shape[0],):
        raise DatasetFormatError(
            f"{path}: {data.shape[0]} images but labels of shape {labels.shape}"
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DatasetFormatError(f"{path}: labels outside 0..9")
    return data.reshape(-1, 3, 32, 32), labels


def _search_dirs(root: str | os.PathLike | None) -> list[Path]:
    base = dataset_dir("cifar10", root)
    return [base / CIFAR_FOLDER, base]


def _find(dirs: list[Path], split: str) -> Path | None:
    for folder in dirs:
        if all((folder / b).is_file() for b in BATCHES[split]):
            return folder
    return None


def _missing_message(split: str, dirs: list[Path], why: str = "") -> str:
    return "\n".join(
        [
            f"CIFAR-10 ({split} split) not found{why}.",
            f"Expected the python-version batch files {', '.join(BATCHES[split])}",
            "in one of these folders (searched in this order):",
            format_dirs(dirs),
            f"To fix: unpack {CIFAR_ARCHIVE} (https://www.cs.toronto.edu/~kriz/cifar.html) so "
            f"that {dirs[0]} holds the batches, or pass root=<folder holding {CIFAR_FOLDER} or "
            "the batches>, or set CROSSBAR_DATA=<parent folder> (then "
            f"$CROSSBAR_DATA/cifar10/{CIFAR_FOLDER}; now {data_home()}), or call "
            "crossbar.data.load('cifar10', download=True).",
        ]
    )


def _download(base: Path) -> None:
    archive = dl.fetch("cifar10", CIFAR_ARCHIVE, base)
    try:
        members = rf"(\./)?{CIFAR_FOLDER}/(data_batch_[1-5]|test_batch|batches\.meta)"
        dl.extract_members(archive, base / CIFAR_FOLDER, members)
    finally:
        archive.unlink(missing_ok=True)


def load_cifar10(
    split: str, root: str | os.PathLike | None, download: bool, limit: int | None
) -> tuple[np.ndarray, np.ndarray, str]:
    """Images (N, 3, 32, 32) float32 in [0, 1], labels int64, and a source string."""
    dirs = _search_dirs(root)
    folder = dl.find_or_fetch(lambda: _find(dirs, split), lambda: _download(dirs[1]),
                              lambda why: _missing_message(split, dirs, why), download)
    xs, ys = [], []
    have = 0
    for name in BATCHES[split]:
        if limit is not None and have >= limit:
            break
        x, y = read_batch(folder / name)
        xs.append(x)
        ys.append(y)
        have += len(y)
    images = np.concatenate(xs) if xs else np.zeros((0, 3, 32, 32), np.uint8)
    labels = np.concatenate(ys) if ys else np.zeros((0,), np.int64)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    x = images.astype(np.float32) / np.float32(255.0)
    return x, labels, f"{folder} ({', '.join(BATCHES[split])})"
