"""Small file helpers shared by the loaders: data roots and atomic writes."""

from __future__ import annotations

import os
import warnings
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from crossbar.atomic import atomic_write

__all__ = [
    "ENV_VAR",
    "data_home",
    "dataset_dir",
    "atomic_write",
    "save_npz_atomic",
    "load_npz",
    "format_dirs",
]

#: Environment variable naming the parent folder of the per-dataset folders.
ENV_VAR = "CROSSBAR_DATA"


def data_home() -> Path:
    """``$CROSSBAR_DATA`` if set, else ``~/.cache/crossbar-sim/data``."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "crossbar-sim" / "data"


def dataset_dir(name: str, root: str | os.PathLike | None) -> Path:
    """The folder for dataset ``name``: ``root`` itself if given, else ``data_home()/name``."""
    if root is not None:
        return Path(root).expanduser()
    return data_home() / name


def save_npz_atomic(path: Path, best_effort: bool = True, **arrays: np.ndarray) -> Path | None:
    """Save arrays as an (uncompressed) .npz atomically.

    With ``best_effort`` an unwritable location only warns and returns None (a
    cache must never make loading fail).
    """
    try:
        return atomic_write(path, lambda fh: np.savez(fh, **arrays))
    except OSError as exc:
        if not best_effort:
            raise
        warnings.warn(f"crossbar.data: could not write cache {path}: {exc}", stacklevel=3)
        return None


def load_npz(path: Path) -> dict[str, np.ndarray] | None:
    """Read a cache .npz; None when absent or unreadable (a broken cache is ignored)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        warnings.warn(f"crossbar.data: ignoring unreadable cache {path}: {exc}", stacklevel=3)
        return None


def format_dirs(dirs: Iterable[Path]) -> str:
    return "\n".join(f"  {d}" for d in dirs)
