"""Fetching the official dataset files with urllib (only when ``download=True``).

Every file is written to a temporary name in the destination folder, checked
against its published MD5 where one is known, and only then moved into place
with ``os.replace``; an interrupted download never leaves a half file under the
real name. Archives (CIFAR-10, de Jong's stroke sequences) are extracted member
by member the same way and only the members we need are kept.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

from ._files import atomic_write
from .errors import DatasetNotFoundError

__all__ = ["MIRRORS", "MD5", "DownloadError", "fetch", "fetch_all", "extract_members"]

#: dataset -> base URLs tried in order (a file's URL is base + file name)
MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion-mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    "cifar10": ("https://www.cs.toronto.edu/~kriz/",),
    "mnist-strokes": (
        "https://github.com/edwin-de-jong/mnist-digits-stroke-sequence-data/raw/master/",
    ),
}

#: dataset -> file name -> MD5 of the file as published (None: not verified)
MD5: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    "cifar10": {"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"},
    # de Jong publishes no checksum for sequences.tar.gz
    "mnist-strokes": {},
}

_CHUNK = 1 << 20


class DownloadError(OSError):
    """Every mirror failed for a file (the message lists each attempt)."""


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


class _ChecksumError(ValueError):
    """A downloaded file's MD5 differs from the published one."""


def _checker(expected: str) -> Callable[[Path], None]:
    """A check for ``atomic_write``: the temp file's MD5 must be ``expected``."""

    def check(tmp: Path) -> None:
        got = _md5(tmp)
        if got != expected:
            raise _ChecksumError(f"MD5 mismatch (got {got}, expected {expected})")

    return check


def fetch(dataset: str, filename: str, dest_dir: Path, timeout: float = 60.0) -> Path:
    """Download ``filename`` of ``dataset`` into ``dest_dir`` (atomically, MD5-checked).

    Mirrors from :data:`MIRRORS` are tried in order. Raises :class:`DownloadError`
    naming every URL tried and why it failed.
    """
    dest_dir = Path(dest_dir)
    dest = dest_dir / filename
    expected = MD5.get(dataset, {}).get(filename)
    failures: list[str] = []
    for base in MIRRORS[dataset]:
        url = base + filename
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
                atomic_write(dest, lambda fh, r=response: shutil.copyfileobj(r, fh, _CHUNK),
                             check=None if expected is None else _checker(expected))
        except (urllib.error.URLError, OSError, ValueError) as exc:  # _ChecksumError included
            failures.append(f"{url}: {exc}")
            continue
        return dest
    raise DownloadError(
        f"could not download {filename} into {dest_dir}:\n"
        + "\n".join(f"    {line}" for line in failures)
    )


def fetch_all(dataset: str, filenames: Sequence[str], dest_dir: Path) -> list[Path]:
    """Fetch several files; stops at the first file that cannot be obtained."""
    return [fetch(dataset, name, dest_dir) for name in filenames]


def extract_members(archive: Path, dest_dir: Path, pattern: str) -> int:
    """Extract the regular-file members of a tar archive whose path matches ``pattern``.

    Each member lands as ``dest_dir / <base name>`` (archive folders are
    flattened), written atomically. Members with absolute paths or ``..`` are
    never matched. Returns the number of files extracted.
    """
    regex = re.compile(pattern)
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    count = 0
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            name = PurePosixPath(member.name)
            if not member.isfile() or name.is_absolute() or ".." in name.parts:
                continue
            if not regex.fullmatch(member.name):
                continue
            source = tar.extractfile(member)
            if source is None:
                continue
            with source:
                copy = lambda fh, s=source: shutil.copyfileobj(s, fh)  # noqa: E731
                atomic_write(dest_dir / name.name, copy, fsync=False)
            count += 1
    return count


def find_or_fetch(find: Callable[[], object], fetch: Callable[[], None],
                  missing: Callable[[str], str], download: bool):
    """``find()`` the files; if that finds nothing and ``download`` is set, ``fetch()`` and look again.

    Raises DatasetNotFoundError with ``missing(why)``, the message naming the
    expected files and where to put them, when they are still not there.
    """
    found = find()
    if found is None and download:
        try:
            fetch()
        except (DownloadError, OSError) as exc:
            raise DatasetNotFoundError(
                missing(" and the download failed") + f"\nDownload error: {exc}"
            ) from exc
        found = find()
    if found is None:
        raise DatasetNotFoundError(missing(""))
    return found
