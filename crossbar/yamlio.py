"""The one YAML reader for crossbar-sim's files (sweep, budget and other configs).

Safe loading (no Python objects) with three rules on top of PyYAML's:

* numbers as people write them: ``1e-3`` and ``25e-6`` are floats (YAML 1.1
  would read them as strings because they lack a dot);
* a key given twice is an error, not a silent overwrite;
* anchors and aliases are refused: a 1 KB file of nested aliases expands to
  gigabytes when hashed or validated (a "billion laughs"), and configs have
  no need for them.

Every failure is a :class:`YamlFileError` (a ``ValueError``) whose message
starts with the file name.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 1 << 20  # configs and profiles are small; refuse anything larger


class YamlFileError(ValueError):
    """A YAML file that cannot be read (the message names the file)."""


class _Loader(yaml.SafeLoader):
    """SafeLoader with SI floats, no duplicate keys and no aliases (see module doc)."""

    yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}

    def compose_node(self, parent, index):  # noqa: D102 - PyYAML hook
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(
                None, None, "anchors and aliases (*name) are not allowed", mark)
        return super().compose_node(parent, index)


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
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:  # an unhashable key: construct_mapping reports it
            continue
        if duplicate:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (line {mark.line + 1})", mark)
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def parse_yaml(text: str, *, name: str = "<text>") -> Any:
    """Parse YAML ``text`` with the project's rules; ``name`` labels errors."""
    try:
        return yaml.load(text, Loader=_Loader)  # _Loader derives from SafeLoader
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise YamlFileError(f"{name}: malformed YAML: {detail}") from None
    except RecursionError:
        raise YamlFileError(f"{name}: nested too deeply to be a crossbar-sim file") from None


def read_yaml(path: str | os.PathLike) -> Any:
    """Read and parse one YAML file; every error names ``path``."""
    path = Path(path)
    if path.is_dir():
        raise YamlFileError(f"{path}: is a folder, expected a YAML file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise YamlFileError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    if len(raw) > MAX_BYTES:
        raise YamlFileError(f"{path}: {len(raw):,} bytes; a crossbar-sim YAML file is at most "
                            f"{MAX_BYTES:,} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlFileError(f"{path}: not a UTF-8 text file (byte {exc.start} is "
                            f"0x{raw[exc.start]:02x})") from None
    return parse_yaml(text, name=str(path))
