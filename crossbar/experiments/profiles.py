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

from typing import Any

from crossbar.checks import CheckError, one_line, shown

__all__ = ["load_profile"]


def load_profile(name: Any, key: str = "profile", overrides: dict | None = None):
    """The validated ``DeviceProfile`` ``name`` (a bundled name or a YAML path) with
    ``overrides``; every failure is a CheckError naming ``key``, the file and the value."""
    from crossbar.devices import available, load

    if not isinstance(name, str) or not name.strip():
        raise CheckError(None, key, "must be a device profile name or path", name,
                         ", ".join(available()) + " or a profile YAML path")
    try:
        profile = load(name)
        return profile.with_overrides(**(overrides or {}))
    except (ValueError, OSError, RecursionError, TypeError) as err:
        detail = f"{name}: nested too deeply to be a profile" if isinstance(err, RecursionError) \
            else one_line(err)
        raise CheckError(None, key, f"cannot use device profile {shown(name)}: {detail}",
                         allowed=", ".join(available()) + " or a profile YAML path") from None

