"""Reading profiles: bundled names or YAML files on disk -> validated ``DeviceProfile``."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from ._checks import ProfileError
from .profile import DeviceProfile

_BUNDLED_DIR = Path(__file__).resolve().parent
_SUFFIXES = (".yaml", ".yml")


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``25e-6`` as a float and rejects duplicate keys.

    PyYAML follows YAML 1.1, where a float needs a dot (``25e-6`` would be the
    string "25e-6"); SI values are naturally written without one. The resolver
    table is copied so the stock SafeLoader is left untouched.
    """

    yaml_implicit_resolvers = {
        k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                  |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                  |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                  |[-+]?\.(?:inf|Inf|INF)
                  |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."),
)


def _mapping_without_duplicates(loader: _Loader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (line {mark.line + 1})", mark)
        seen[key] = True
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                        _mapping_without_duplicates)


def available() -> list[str]:
    """Names of the bundled profiles (``load(name)`` accepts each)."""
    return sorted(p.stem for p in _BUNDLED_DIR.glob("*.yaml"))


def read_yaml(path: str | os.PathLike) -> Any:
    """Parse a YAML file with the profile rules (SI floats, no duplicate keys)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(str(path), None, f"cannot read the file ({exc.strerror})") from exc
    try:
        return yaml.load(text, Loader=_Loader)  # _Loader derives from SafeLoader
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise ProfileError(str(path), None, f"malformed YAML: {detail}") from exc


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
