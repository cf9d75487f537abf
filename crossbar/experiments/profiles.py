"""Loading the device profile a config names, with one-line errors.

``crossbar.devices.load`` does the validation; this module makes every way a
named profile can fail (unknown name, missing, binary, huge or deeply nested
file, invalid value) one :class:`~crossbar.checks.CheckError` naming the
config key, the file and a bounded quote of the offending value, and reads a
profile file with the project's YAML rules (``crossbar.yamlio``: no aliases,
size limit, UTF-8) before the loader does. The identity of a profile is its
content (``crossbar.identity.profile_digest``), never its name.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from crossbar.checks import CheckError, one_line, shown
from crossbar.yamlio import YamlFileError, read_yaml

__all__ = ["load_profile"]


def _is_path(name: str) -> bool:
    return os.sep in name or "/" in name or name.endswith((".yaml", ".yml"))


def load_profile(name: Any, key: str = "profile", overrides: dict | None = None):
    """The validated ``DeviceProfile`` ``name`` (a bundled name or a YAML path) with
    ``overrides``; every failure is a CheckError naming ``key``, the file and the value."""
    from crossbar.devices import available, load

    if not isinstance(name, str) or not name.strip():
        raise CheckError(None, key, "must be a device profile name or path", name,
                         ", ".join(available()) + " or a profile YAML path")
    try:
        if _is_path(name):
            path = Path(name).expanduser()
            if path.is_file():
                read_yaml(path)  # size, encoding, nesting and alias checks with the file named
        profile = load(name)
        return profile.with_overrides(**(overrides or {}))
    except (YamlFileError, ValueError, OSError, RecursionError, TypeError) as err:
        if isinstance(err, UnicodeDecodeError):
            detail = f"{name}: not a UTF-8 text file"
        elif isinstance(err, RecursionError):
            detail = f"{name}: nested too deeply to be a profile"
        else:
            detail = one_line(err)
        raise CheckError(None, key, f"cannot use device profile {shown(name)}: {detail}",
                         allowed=", ".join(available()) + " or a profile YAML path") from None

