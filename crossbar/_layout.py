"""The source tree's layout: ``devices/`` and ``models/`` beside ``crossbar/``, imported as subpackages.

pyproject.toml maps the two top-level folders to ``crossbar.devices`` and
``crossbar.models`` (``package-dir``); a built wheel has them inside
``crossbar/``, and an editable install maps them with setuptools' own finder.
When Python imports ``crossbar`` straight from a checkout instead (the
repository root on ``sys.path``: running from there with a normal install,
whose ``crossbar`` the folder ``./crossbar`` shadows, or ``PYTHONPATH=.``),
``./crossbar`` has no ``devices/`` inside. :func:`install` then maps exactly
those two names to the top-level folders, as setuptools does.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from pathlib import Path

TOP_LEVEL = ("devices", "models")
"""Subpackages of ``crossbar`` kept at the top of the repository."""


class _TopLevelFinder(importlib.abc.MetaPathFinder):
    """Finds ``crossbar.devices`` / ``crossbar.models`` in the checkout's top-level folders."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def find_spec(self, fullname: str, path=None, target=None) -> importlib.machinery.ModuleSpec | None:
        parent, _, name = fullname.partition(".")
        if parent != "crossbar" or name not in TOP_LEVEL:
            return None  # deeper modules resolve through the subpackage's __path__
        folder = self.root / name
        return importlib.util.spec_from_file_location(fullname, folder / "__init__.py",
                                                      submodule_search_locations=[str(folder)])


def install(package_dir: Path) -> None:
    """Map the top-level subpackages when ``package_dir`` (the imported ``crossbar/``) is a checkout."""
    root = package_dir.parent
    if all((package_dir / name).is_dir() for name in TOP_LEVEL):
        return  # an installed wheel: the subpackages are inside
    if not (root / "pyproject.toml").is_file() or not all(
        (root / name / "__init__.py").is_file() for name in TOP_LEVEL
    ):
        return  # not this project's checkout: let the import fail as it would
    if not any(isinstance(f, _TopLevelFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _TopLevelFinder(root))
