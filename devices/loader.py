"""Reading profiles: bundled names or YAML files on disk -> validated ``DeviceProfile``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from crossbar import yamlio

from ._checks import ProfileError
from .profile import DeviceProfile

_BUNDLED_DIR = Path(__file__).resolve().parent
_SUFFIXES = (".yaml", ".yml")


def available() -> list[str]:
    """Names of the bundled profiles (``load(name)`` accepts each)."""
    return sorted(p.stem for p in _BUNDLED_DIR.glob("*.yaml"))


def read_yaml(path: str | os.PathLike) -> Any:
    """Parse a profile file with the project's YAML rules (``crossbar.yamlio``: SI floats,
    no duplicate keys, no aliases, UTF-8, bounded size); ProfileError naming the file."""
    try:
        return yamlio.read_yaml(path)
    except yamlio.YamlFileError as exc:
        problem = str(exc).removeprefix(f"{path}: ")
        raise ProfileError(str(path), None, problem) from None


def resolve(name_or_path: str | os.PathLike) -> Path:
    """The file behind a bundled name or a path; ProfileError if there is none.

    A string is a path when it contains a directory separator or ends in
    .yaml/.yml (write ``./mine.yaml``); otherwise it names a bundled profile.
    """
    if isinstance(name_or_path, os.PathLike) or (
        isinstance(name_or_path, str)
        and (os.sep in name_or_path or "/" in name_or_path or name_or_path.endswith(_SUFFIXES))
    ):
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise ProfileError(str(path), None, "no such profile file")
        return path.resolve()
    if not isinstance(name_or_path, str):
        raise ProfileError("<load>", None, "expected a profile name or a path", name_or_path)
    if name_or_path not in available():
        raise ProfileError("<load>", None, "unknown device profile", name_or_path,
                           "a bundled name (" + ", ".join(available())
                           + ") or the path to a YAML file")
    return _BUNDLED_DIR / f"{name_or_path}.yaml"


def as_profile(profile_or_name_or_path: DeviceProfile | str | os.PathLike) -> DeviceProfile:
    """A ``DeviceProfile`` as it is; a bundled name or a YAML path loaded (``load``).

    For functions that take any of the three (``crossbar.convert(model, "pcm")``).
    """
    if isinstance(profile_or_name_or_path, DeviceProfile):
        return profile_or_name_or_path
    if isinstance(profile_or_name_or_path, (str, os.PathLike)):
        return load(profile_or_name_or_path)
    raise ProfileError("<as_profile>", None, "expected a DeviceProfile, a profile name or a YAML path",
                       profile_or_name_or_path, "a DeviceProfile, " + ", ".join(available()) + " or a path")


def load(name_or_path: str | os.PathLike, **overrides: Any) -> DeviceProfile:
    """Load a bundled profile by name (``"pcm"``) or any profile YAML by path.

    Keyword overrides use the ``DeviceProfile`` field names and are validated
    like the file (``load("reram", adc_bits=6, tile_rows=64)``).
    """
    path = resolve(name_or_path)
    profile = DeviceProfile.from_dict(read_yaml(path), file=str(path))
    return profile.with_overrides(**overrides)
