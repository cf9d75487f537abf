"""Identity by content: digests of what produced a result (code, device profile, data, weights).

Every cached or resumable result (sweep folders, budget caches, training
checkpoints) is keyed by digests of its inputs' *contents*, never by a name
or a path: a profile edited under the same name, another test set under the
same ``data_root`` or retrained weights in the same file give another key,
so a changed input gives a fresh result or a refusal with the reason, never
a silent reuse. See docs/reliability.md.

* :func:`code_identity`: ``crossbar.__version__``, a digest of the
  package's source files that compute results (not the CLI, not the report
  writers) and the torch, NumPy and Numba versions, so a resumed run refuses
  results made by different code.
* :func:`profile_digest`: the validated profile's physical content (every
  field of its YAML form, not its name, file or source citations).
* :func:`tensor_digest` / :func:`data_identity`: the tensors actually used.
* :func:`state_digest`: a network's weights and buffers (not the checkpoint
  file, which also holds timings).
* :func:`object_identity`: a user's model factory, data loader or module
  class, named ``package.module:attribute``, with a digest of the source
  files of its package (:func:`user_source_files`), so a resumed run refuses
  results of an edited network or loader, naming it.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "code_identity",
    "data_identity",
    "digest_json",
    "files_digest",
    "object_identity",
    "profile_digest",
    "source_digest",
    "state_digest",
    "tensor_digest",
    "user_source_files",
]

_PACKAGE = Path(__file__).resolve().parent
# Sub-packages that never change a computed number: argument parsing and report formatting.
_NOT_RESULTS = ("cli", "report")


def digest_json(obj: Any, n: int = 64) -> str:
    """SHA-256 (first ``n`` hex digits) of ``obj`` as canonical JSON (sorted keys)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str, allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def _source_files() -> list[Path]:
    """The Python sources of crossbar, crossbar.devices and crossbar.models that compute results."""
    import importlib.util

    # found, not imported: this bottom layer imports nothing above it (crossbar.models uses it)
    roots = [_PACKAGE] + [Path(importlib.util.find_spec(f"crossbar.{sub}").origin).resolve().parent
                          for sub in ("devices", "models")]
    files = []
    for root in dict.fromkeys(roots):
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(root).parts
            if root == _PACKAGE and (rel[0] in _NOT_RESULTS or rel[0] in ("devices", "models")):
                continue  # devices/ and models/ of an installed wheel are hashed as their own roots
            files.append(path)
    return files


@functools.lru_cache(maxsize=1)
def source_digest() -> str | None:
    """Digest of the package's source files (None where they cannot be read, e.g. a zip import)."""
    h = hashlib.sha256()
    try:
        files = _source_files()
        for path in files:
            h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    except OSError:
        return None
    return h.hexdigest()[:16] if files else None


@functools.lru_cache(maxsize=1)
def _libraries() -> dict[str, str | None]:
    import importlib.metadata as md

    out: dict[str, str | None] = {}
    for name in ("torch", "numpy", "numba"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def code_identity() -> dict[str, str | None]:
    """The code that computes results: ``crossbar.__version__``, the digest of its source
    files (None where they cannot be read) and the versions of torch, NumPy and Numba,
    whose kernels decide the last bits of every number."""
    from crossbar import __version__

    return {"version": __version__, "source": source_digest(), **_libraries()}


def profile_digest(profile: Any) -> str:
    """Digest of a ``DeviceProfile``'s content: every value of its YAML form except the
    name and the source citations (which change no number)."""
    d = dict(profile.to_dict())
    for key in ("name", "sources", "description"):
        d.pop(key, None)
    return digest_json(d, 16)


def tensor_digest(*tensors: Any) -> str:
    """Digest of tensors or arrays: dtype, shape and bytes of each (on the CPU)."""
    import numpy as np

    h = hashlib.sha256()
    for t in tensors:
        a = t.detach().cpu().contiguous().numpy() if hasattr(t, "detach") else np.ascontiguousarray(t)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def data_identity(ds: Any) -> dict[str, Any]:
    """{"name", "n", "digest"} of a dataset split as used (its .x and .y after any limit)."""
    return {"name": getattr(ds, "name", None), "n": int(len(ds.y)),
            "digest": tensor_digest(ds.x, ds.y)}


def state_digest(state: Mapping[str, Any]) -> str:
    """Digest of a network's ``state_dict()``: every entry's name, dtype, shape and values."""
    h = hashlib.sha256()
    for name in sorted(state):
        h.update(name.encode() + b"\0")
        h.update(tensor_digest(state[name]).encode())
    return h.hexdigest()[:16]


# ------------------------------------------------------------------ user code


def files_digest(files: list[Path], root: Path | None = None) -> str:
    """Digest of source files: each one's path (relative to ``root``) and bytes. Kept per
    process while no file's size or modification time changes (a large package is read once)."""
    stamp = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    return _files_digest(stamp, None if root is None else str(root))


@functools.lru_cache(maxsize=64)
def _files_digest(stamp: tuple, root: str | None) -> str:
    h = hashlib.sha256()
    for file, _, _ in stamp:
        path = Path(file)
        name = path.relative_to(root).as_posix() if root is not None else path.name
        h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def user_source_files(module_name: str) -> tuple[Path | None, list[Path]]:
    """(root, files): the sources a user's object may depend on.

    For a module inside a package: every ``.py`` file under the top-level
    package's folder. For a top-level module file (``my_nets.py``): every
    ``.py`` file in its folder (a helper module next to it is covered; so are
    unrelated scripts there, which only makes a resume refuse more often).
    Empty for a module without files (built in, or defined interactively).
    """
    top = sys.modules.get(module_name.split(".")[0])
    if top is None:
        return None, []
    folders = [Path(p) for p in getattr(top, "__path__", None) or []]
    if folders:
        root = folders[0].resolve().parent
        files = sorted({f.resolve() for d in folders for f in d.rglob("*.py")})
        return root, files
    file = getattr(top, "__file__", None)
    if not file or not file.endswith(".py"):
        return None, []
    root = Path(file).resolve().parent
    return root, sorted(root.glob("*.py"))


def object_identity(obj: Any) -> dict[str, Any]:
    """{"name": "package.module:qualname", "source": digest of :func:`user_source_files`}
    of a user's function or class (``source`` None, with a warning, where no source
    file can be read: an object defined interactively is identified by its name and,
    for the caller, by what it produced)."""
    module = getattr(obj, "__module__", None) or "?"
    name = f"{module}:{getattr(obj, '__qualname__', type(obj).__qualname__)}"
    root, files = user_source_files(module)
    source = None
    try:
        source = files_digest(files, root) if files else None
    except OSError:
        source = None
    if source is None:
        try:
            source = digest_json(inspect.getsource(obj), 16)
        except (OSError, TypeError):
            warnings.warn(f"{name}: no source file to identify it by; a resumed run cannot tell "
                          "whether it was edited", stacklevel=3)
    return {"name": name, "source": source}
