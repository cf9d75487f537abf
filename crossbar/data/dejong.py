"""Edwin de Jong's MNIST pen-stroke sequences (``mnist-strokes``): reading his files.

``sequences.tar.gz`` from github.com/edwin-de-jong/mnist-digits-stroke-sequence-data
unpacks to ``sequences/`` with, per image ``N`` (``trainimg-N-*`` for the 60,000
training digits, ``testimg-N-*`` for the 10,000 test digits):

* ``...-inputdata.txt``: one row per pen point, four space-separated integers
  ``dx dy eos eod``. The pen starts at the implicit origin (0, 0) (the image's
  top-left corner, y pointing down), so the first row is the absolute position
  of the first point; every other row is a move, mostly of one pixel.
  ``eos`` = 1 marks the end of a stroke (the next move is a pen-up jump),
  ``eod`` = 1 the end of the digit; that last row is ``0 0 1 1``.
* ``...-targetdata.txt``: 14 columns per row, a one-hot label in the first 10
  and the next ``dx dy eos eod`` (for next-step prediction) in the last four.
  We read the label from the first row's one-hot columns.

Following Qin & Vucinic we keep the ``(dx, dy)`` columns of the first 50 rows
and pad shorter sequences with ``(0, 0)`` rows; ``eos``/``eod`` are dropped.
Sequences derived from images in the same form: ``crossbar.data.strokes``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import download as dl
from ._files import data_home, dataset_dir, format_dirs, load_npz, save_npz_atomic
from .errors import DatasetFormatError, DatasetNotFoundError

__all__ = ["SEQ_LEN", "load_dejong", "read_dejong_label", "read_dejong_sequence"]

SEQ_LEN = 50
_DEJONG_ARCHIVE = "sequences.tar.gz"
_PREFIX = {"train": "trainimg", "test": "testimg"}


def _ints(path: Path, ncols: int, max_rows: int | None) -> np.ndarray:
    try:
        tokens = path.read_bytes().split()
    except FileNotFoundError as exc:
        raise DatasetNotFoundError(f"{path}: missing (its companion file exists)") from exc
    if not tokens or len(tokens) % ncols:
        raise DatasetFormatError(
            f"{path}: expected rows of {ncols} integers, got {len(tokens)} numbers"
        )
    if max_rows is not None:
        tokens = tokens[: max_rows * ncols]
    try:
        values = np.array([int(t) for t in tokens], dtype=np.int64)
    except ValueError as exc:
        raise DatasetFormatError(f"{path}: non-integer value ({exc})") from exc
    return values.reshape(-1, ncols)


def read_dejong_sequence(path: str | Path, length: int = SEQ_LEN) -> np.ndarray:
    """``(length, 2)`` float32: the dx, dy columns of the first ``length`` rows, 0-padded."""
    rows = _ints(Path(path), 4, length)
    out = np.zeros((length, 2), np.float32)
    out[: len(rows)] = rows[:, :2]
    return out


def read_dejong_label(path: str | Path) -> int:
    """The digit in a ``...-targetdata.txt`` file (one-hot: first row, first 10 columns)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            first_line = fh.readline().split()
    except FileNotFoundError as exc:
        raise DatasetNotFoundError(f"{path}: missing (its companion file exists)") from exc
    try:
        onehot = [int(t) for t in first_line[:10]]
    except ValueError as exc:
        raise DatasetFormatError(f"{path}: non-integer value ({exc})") from exc
    if len(onehot) != 10 or sorted(onehot) != [0] * 9 + [1]:
        raise DatasetFormatError(f"{path}: first 10 columns are not a one-hot label: {onehot}")
    return onehot.index(1)


def _dejong_dirs(root: str | os.PathLike | None) -> list[Path]:
    base = dataset_dir("mnist-strokes", root)
    return [base / "sequences", base]


def _dejong_name(split: str, i: int, kind: str) -> str:
    return f"{_PREFIX[split]}-{i}-{kind}.txt"


def _find_dejong(dirs: list[Path], split: str) -> Path | None:
    for folder in dirs:
        if (folder / _dejong_name(split, 0, "inputdata")).is_file():
            return folder
    return None


def _dejong_missing(split: str, dirs: list[Path], why: str = "") -> str:
    p = _PREFIX[split]
    return "\n".join(
        [
            f"mnist-strokes ({split} split) not found{why}.",
            f"Expected de Jong's per-digit files {p}-0-inputdata.txt, {p}-0-targetdata.txt, "
            f"{p}-1-inputdata.txt, ... (numbered from 0 without gaps)",
            "in one of these folders (searched in this order):",
            format_dirs(dirs),
            f"To fix: unpack {_DEJONG_ARCHIVE} from "
            "https://github.com/edwin-de-jong/mnist-digits-stroke-sequence-data into "
            f"{dirs[1]} (it creates sequences/), or pass root=<folder>, or set "
            f"CROSSBAR_DATA=<parent folder> (then $CROSSBAR_DATA/mnist-strokes; now "
            f"{data_home()}), or call crossbar.data.load('mnist-strokes', download=True).",
        ]
    )


def _download_dejong(base: Path) -> None:
    archive = dl.fetch("mnist-strokes", _DEJONG_ARCHIVE, base)
    try:
        dl.extract_members(
            archive, base / "sequences",
            r"(\./)?(sequences/)?(train|test)img-\d+-(inputdata|targetdata)\.txt",
        )
    finally:
        archive.unlink(missing_ok=True)


def _dejong_cache_path(folder: Path, split: str) -> Path:
    return folder / f"crossbar-{split}-strokes{SEQ_LEN}.npz"


def load_dejong(
    split: str,
    root: str | os.PathLike | None,
    download: bool,
    limit: int | None,
    cache: bool = True,
) -> tuple[np.ndarray, np.ndarray, str]:
    """de Jong's sequences: x (N, 50, 2) float32, labels int64, source string.

    A full split (``limit=None``) parsed from the text files is cached as
    ``crossbar-<split>-strokes50.npz`` in the same folder (best effort); the
    cache is used only while it still matches the number of files.
    """
    dirs = _dejong_dirs(root)
    folder = dl.find_or_fetch(lambda: _find_dejong(dirs, split), lambda: _download_dejong(dirs[1]),
                              lambda why: _dejong_missing(split, dirs, why), download)

    def exists(i: int) -> bool:
        return (folder / _dejong_name(split, i, "inputdata")).is_file()

    cache_path = _dejong_cache_path(folder, split)
    if cache:
        cached = load_npz(cache_path)
        if cached is not None and {"x", "y"} <= cached.keys():
            n = len(cached["y"])
            if n > 0 and exists(n - 1) and not exists(n):
                x, y = cached["x"], cached["y"]
                if limit is not None:
                    x, y = x[:limit], y[:limit]
                return x, y, f"{folder} ({_PREFIX[split]}-*, cached in {cache_path.name})"

    xs, ys = [], []
    i = 0
    while (limit is None or i < limit) and exists(i):
        xs.append(read_dejong_sequence(folder / _dejong_name(split, i, "inputdata")))
        ys.append(read_dejong_label(folder / _dejong_name(split, i, "targetdata")))
        i += 1
    x = np.stack(xs) if xs else np.zeros((0, SEQ_LEN, 2), np.float32)
    y = np.asarray(ys, dtype=np.int64)
    if limit is None and cache:
        save_npz_atomic(cache_path, x=x, y=y)
    return x, y, f"{folder} ({_PREFIX[split]}-0..{i - 1}-inputdata/targetdata.txt)"
