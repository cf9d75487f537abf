"""Import a user's object by its path, ``package.module:attribute`` (a model factory, a data loader).

This is the one way crossbar-sim reaches user code: configs name a model
(``model: my_nets:small_cnn``) or a data loader (``data: my_data:load``) by
an import path, and every process that needs it (this one, a local worker,
a Dask worker) imports it again by that path. ``crossbar.models.resolve``
and ``crossbar.data.resolve`` build on :func:`import_object`; errors are
:class:`ImportSpecError` with one line that says what could not be imported,
why, and where Python looked.

Modules are found on ``sys.path``; the command line puts the current folder
first, as ``python -m`` does, so a ``my_nets.py`` next to the config works.
This module imports nothing from crossbar (every layer may use it).
"""

from __future__ import annotations

import difflib
import importlib
import os
import re
import socket
import sys
from typing import Any

__all__ = ["ImportSpecError", "import_object", "is_spec", "where"]

_NAME = r"[A-Za-z_]\w*"
_SPEC = re.compile(rf"^{_NAME}(\.{_NAME})*:{_NAME}(\.{_NAME})*$")
SPEC_FORM = "package.module:attribute (an importable callable)"


class ImportSpecError(ImportError):
    """A ``package.module:attribute`` path that cannot be imported (the message says why)."""


def is_spec(value: Any) -> bool:
    """Whether ``value`` is written as an import path ``package.module:attribute``."""
    return isinstance(value, str) and bool(_SPEC.match(value))


def where() -> str:
    """This process, for error messages from workers: host and process id."""
    return f"{socket.gethostname()} (pid {os.getpid()})"


def _search_path() -> str:
    shown = [p or "(current folder)" for p in sys.path[:4]]
    more = f", ... ({len(sys.path)} entries)" if len(sys.path) > 4 else ""
    return ", ".join(shown) + more


def import_object(spec: str, what: str = "object", *, call: bool = True) -> Any:
    """The object ``spec`` = ``package.module:attribute`` names (``attribute`` may be dotted).

    ``what`` names it in errors ("model factory", "data loader"); with ``call``
    it must be callable. Raises :class:`ImportSpecError`: a malformed path, a
    module that is not on ``sys.path`` (the folders searched are named), a
    module whose own import fails (its exception is quoted), a missing
    attribute (with the closest name), or an object that is not callable.
    """
    if not is_spec(spec):
        raise ImportSpecError(f"{what} {spec!r} is not an import path; expected {SPEC_FORM}")
    module_name, attr = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name is not None and module_name.startswith(err.name):
            raise ImportSpecError(
                f"{what} {spec!r}: no module {err.name!r} on this process's Python path "
                f"({_search_path()}); put the file in the current folder, add its folder to "
                "PYTHONPATH, or install the package") from None
        raise ImportSpecError(f"{what} {spec!r}: importing {module_name!r} failed: "
                              f"ModuleNotFoundError: {err}") from None
    except Exception as err:  # noqa: BLE001 - the user's module raised: quote it
        raise ImportSpecError(f"{what} {spec!r}: importing {module_name!r} failed: "
                              f"{type(err).__name__}: {' '.join(str(err).split())[:300]}") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_")]
            close = difflib.get_close_matches(part, names, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            origin = getattr(module, "__file__", None) or module_name
            raise ImportSpecError(f"{what} {spec!r}: {origin} has no attribute {part!r}{hint}")
        obj = getattr(obj, part)
    if call and not callable(obj):
        raise ImportSpecError(f"{what} {spec!r} is a {type(obj).__name__}, not a callable")
    return obj
