"""Atomic file writes: a temp file in the same folder, fsync, then ``os.replace``.

Every file crossbar-sim writes (checkpoints, results, reports, figures, data
caches, downloads) goes through here, so an interrupted run never leaves a
half-written file under a final name. A file gets the mode a plain ``open``
would give it (0666 less the umask), not the 0600 of a temp file.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any


def _umask() -> int:
    """The process umask (read once, at import, in the main thread: setting it is not thread-safe)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], object], fsync: bool = True,
                 check: Callable[[Path], None] | None = None) -> Path:
    """Write ``path`` via ``write(fh)`` on a binary temp file, then rename it into place.

    ``check(temp_path)``, if given, inspects the finished temp file before the
    rename and raises to abandon it (a download's checksum): nothing that
    fails the check ever appears under the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, _FILE_MODE)
        if check is not None:
            check(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def json_safe(obj: Any) -> Any:
    """JSON-safe copy: NaN/inf -> None, tuples -> lists, numpy scalars -> Python, paths -> str."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):
        return json_safe(obj.item())
    if isinstance(obj, Path):
        return str(obj)
    return obj


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically (NaN and inf written as null)."""
    return atomic_write_text(path, json.dumps(json_safe(obj), indent=2, allow_nan=False) + "\n")


def safe_name(text: str, max_length: int = 64) -> str:
    """A file-name component made from a user string (a profile or device name).

    Keeps letters, digits, ``.``, ``-`` and ``_``; every other character
    (``/``, ``\\``, spaces, NUL...) becomes ``_``; leading dots are dropped and the
    result is cut to ``max_length``: never empty, never ``..``, never a path, so
    a name like ``x/../../elsewhere`` cannot place a file outside its folder.
    """
    name = re.sub(r"[^A-Za-z0-9._-]", "_", str(text)).lstrip(".")[:max_length]
    return name or "_"


def lock_folder(path: str | os.PathLike, error: Callable[[str], Exception], message: str) -> IO[str] | None:
    """Hold an exclusive lock on the file ``path`` (POSIX ``flock``) so that a second run writing
    the same folder is refused with ``error(message)``. Returns the open handle that holds it
    (close it to release); None where there is no ``fcntl``."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return None
    fh = open(path, "w")  # noqa: SIM115 - held until the caller closes it
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise error(message) from None
    return fh
