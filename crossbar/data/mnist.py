"""MNIST and Fashion-MNIST from the standard IDX files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import download as dl
from ._files import data_home, dataset_dir, format_dirs
from .errors import DatasetFormatError
from .idx import read_idx

__all__ = ["IDX_FILES", "DEBIAN_FASHION_DIR", "search_dirs", "find_idx_files", "load_idx_dataset"]

#: split -> (images, labels) base names; each may also be gzipped (+ ".gz")
IDX_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

#: where Debian's package dataset-fashion-mnist installs the files
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

_PRETTY = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}


def search_dirs(name: str, root: str | os.PathLike | None) -> list[Path]:
    """Folders searched, in order. An explicit ``root`` is the only place looked at."""
    dirs = [dataset_dir(name, root)]
    if root is None and name == "fashion-mnist":
        dirs.append(DEBIAN_FASHION_DIR)
    return dirs


def _candidates(base: str) -> list[str]:
    # standard names, then the "train-images.idx3-ubyte" spelling some mirrors use
    dotted = base.replace("-idx", ".idx")
    return [base, base + ".gz", dotted, dotted + ".gz"]


def find_idx_files(dirs: list[Path], split: str) -> tuple[Path, Path] | None:
    """The (images, labels) pair from the first folder that holds both, else None."""
    for folder in dirs:
        found = []
        for base in IDX_FILES[split]:
            hit = next((folder / c for c in _candidates(base) if (folder / c).is_file()), None)
            found.append(hit)
        if all(found):
            return found[0], found[1]
    return None


def _missing_message(name: str, split: str, dirs: list[Path], why: str = "") -> str:
    pretty = _PRETTY[name]
    images, labels = IDX_FILES[split]
    lines = [
        f"{pretty} ({split} split) not found{why}.",
        "Expected these two files (raw or gzipped):",
        f"  {images}  or  {images}.gz",
        f"  {labels}  or  {labels}.gz",
        "in one of these folders (searched in this order):",
        format_dirs(dirs),
        "To fix: put the files in the first folder, or pass root=<folder holding them>, or set "
        f"CROSSBAR_DATA=<parent folder> (files then go in $CROSSBAR_DATA/{name}; now "
        f"{data_home()}), or call crossbar.data.load({name!r}, download=True) to fetch the "
        f"official files from {dl.MIRRORS[name][0]}.",
    ]
    if name == "fashion-mnist":
        lines.append(
            "On Debian/Ubuntu: `apt-get install dataset-fashion-mnist` installs them in "
            f"{DEBIAN_FASHION_DIR}."
        )
    return "\n".join(lines)


def load_idx_dataset(
    name: str,
    split: str,
    root: str | os.PathLike | None,
    download: bool,
    limit: int | None,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Images (N, 1, H, W) float32 in [0, 1], labels int64, and a source string."""
    dirs = search_dirs(name, root)
    pair = dl.find_or_fetch(
        lambda: find_idx_files(dirs, split),
        lambda: dl.fetch_all(name, [f + ".gz" for f in IDX_FILES[split]], dirs[0]),
        lambda why: _missing_message(name, split, dirs, why),
        download,
    )
    images_path, labels_path = pair
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DatasetFormatError(
            f"{images_path}: expected a 3-d uint8 image array, got {images.dtype} {images.shape}"
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DatasetFormatError(
            f"{labels_path}: expected a 1-d uint8 label array, got {labels.dtype} {labels.shape}"
        )
    if len(images) != len(labels):
        raise DatasetFormatError(
            f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels"
        )
    if labels.size and labels.max() > 9:
        raise DatasetFormatError(f"{labels_path}: label {labels.max()} outside 0..9")
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    x = (images.astype(np.float32) / np.float32(255.0))[:, None, :, :]
    y = labels.astype(np.int64)
    return x, y, f"{images_path} + {labels_path.name}"
