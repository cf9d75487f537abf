"""Human-readable views of a profile: the summary for logs and the Markdown table of
docs/devices.md, every value with its SI unit and its source."""

from __future__ import annotations

from typing import Any

from .blocks import OutputNoise, Periphery, RangeManagement, Verify
from .drift import Drift
from .noise import NoiseFunction
from .schema import FIELDS

_NONE_TEXT = {"levels": "continuous", "dac_bits": "ideal", "adc_bits": "ideal"}


def shown_values(profile: Any) -> list[tuple[str, str]]:
    """(field or field.sub, value as text) for every value, blocks expanded."""
    out = []
    for field in FIELDS:
        value = getattr(profile, field.name)
        if isinstance(value, Drift):
            out += [("drift.t0", si(value.t0, "s")),
                    ("drift.nu_mean", "ν_mean = " + value.mean.describe()),
                    ("drift.nu_std", "ν_std = " + value.spread.describe())]
        elif isinstance(value, RangeManagement):
            out += [(f"{field.name}.{sub}", str(getattr(value, sub)))
                    for sub in value.to_dict()]
        elif isinstance(value, (Verify, OutputNoise, Periphery)):
            out += [(f"{field.name}.{sub}", si(getattr(value, sub), value.UNITS.get(sub, "")))
                    for sub in value.KEYS]
        elif isinstance(value, NoiseFunction):
            out.append((field.name, f"{value.form}: {value.describe()}"))
        elif value is None:
            out.append((field.name, _NONE_TEXT.get(field.name, "none")))
        else:
            out.append((field.name, si(value, field.unit)))
    return out


def cite(profile: Any, key: str) -> str:
    """The source of a field or sub-field (a block's own source covers its sub-keys)."""
    return profile.sources.get(key) or profile.sources.get(key.partition(".")[0], "")


def markdown(profile: Any) -> str:
    """A Markdown table (field | value | source), one row per value."""
    rows = [f"### `{profile.name}` ({profile.kind})", "", "| field | value | source |",
            "| --- | --- | --- |"]
    for field, shown in shown_values(profile):
        cells = (f"`{field}`", shown, cite(profile, field))
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows) + "\n"


def summary(profile: Any, sources: bool = True) -> str:
    """Every value with its unit (and, below it, its source)."""
    lines = [f"{profile.name} ({profile.kind}) from {profile.source}"]
    previous = None
    for key, shown in shown_values(profile):
        lines.append(f"  {key:<30} {shown}")
        source = cite(profile, key)
        if sources and source != previous:
            lines.append(f"  {'':<30} ↳ {source}")
        previous = source
    return "\n".join(lines)


_PREFIXES = ((1e-18, "a"), (1e-15, "f"), (1e-12, "p"), (1e-9, "n"), (1e-6, "µ"), (1e-3, "m"), (1.0, ""))


def si(value: Any, unit: str) -> str:
    """A number with an SI prefix for s, S, J and V (``2.5e-05 S`` -> ``25 µS``); areas in µm²."""
    if isinstance(value, bool):
        return str(value).lower()
    if unit == "m²" and isinstance(value, float):
        return f"{value * 1e12:.4g} µm²"
    if not isinstance(value, float) or unit == "" or value == 0.0:
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        return f"{shown} {unit}".rstrip()
    scale, prefix = 1.0, ""
    for s, p in _PREFIXES:
        if abs(value) >= s * 0.999:
            scale, prefix = s, p
    return f"{value / scale:.4g} {prefix}{unit}"
