"""The frozen ``DeviceProfile`` and the one function that validates a profile dictionary.

A profile is built in exactly one place, :meth:`DeviceProfile.from_dict`, from
the YAML form (keys carry their SI unit: ``g_max_S``, ``t_read_s``,
``adc_energy_J``...). Files (``load``) and overrides (``with_overrides``) both
go through it, so every profile in the program has passed the same checks.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import yaml

from ._checks import (
    FrozenMap,
    ProfileError,
    check_keys,
    choice,
    integer,
    join,
    mapping,
    real,
    suggest,
    text,
)
from .noise import Drift, NoiseFunction


@dataclass(frozen=True)
class Verify:
    """Program-and-verify: re-program a cell until |G − target| <= tolerance · (g_max − g_min)."""

    tolerance: float  # fraction of g_max - g_min
    max_iterations: int
    pulse_time: float  # s per write pulse
    pulse_energy: float  # J per write pulse per cell

    KEYS = {"tolerance": "tolerance", "max_iterations": "max_iterations",
            "pulse_time": "pulse_time_s", "pulse_energy": "pulse_energy_J"}

    @classmethod
    def from_spec(cls, spec: Any, *, file: str, key: str = "verify") -> Verify | None:
        if spec is None:
            return None
        spec = mapping(file, key, spec)
        check_keys(file, key, spec, tuple(cls.KEYS.values()))
        return cls(
            tolerance=real(file, join(key, "tolerance"), spec["tolerance"], lo=0.0, hi=1.0,
                           lo_open=True),
            max_iterations=integer(file, join(key, "max_iterations"), spec["max_iterations"],
                                   lo=1, hi=100_000),
            pulse_time=real(file, join(key, "pulse_time_s"), spec["pulse_time_s"], **_TIME),
            pulse_energy=real(file, join(key, "pulse_energy_J"), spec["pulse_energy_J"],
                              **_ENERGY),
        )

    def to_dict(self) -> dict:
        return {yk: getattr(self, f) for f, yk in self.KEYS.items()}


@dataclass(frozen=True)
class OutputNoise:
    """Qin & Vucinic's abstract noise on each MVM output (weight domain).

    ``mult``: y = (W·x + b) · z, z ~ N(1, sigma²) (their Eq. 3);
    ``add``:  y = W·x + b + z,   z ~ N(0, sigma²) (their Eq. 2).
    """

    kind: Literal["mult", "add"]
    sigma: float

    KEYS = {"kind": "kind", "sigma": "sigma"}

    @classmethod
    def from_spec(cls, spec: Any, *, file: str, key: str = "output_noise") -> OutputNoise | None:
        if spec is None:
            return None
        spec = mapping(file, key, spec)
        check_keys(file, key, spec, ("kind", "sigma"))
        return cls(choice(file, join(key, "kind"), spec["kind"], ("mult", "add")),
                   real(file, join(key, "sigma"), spec["sigma"], lo=0.0, hi=100.0))

    def to_dict(self) -> dict:
        return {"kind": self.kind, "sigma": self.sigma}


# ----------------------------------------------------------------------------- schema

_TIME = {"lo": 0.0, "hi": 1.0, "lo_open": True}  # seconds, (0, 1]
_ENERGY = {"lo": 0.0, "hi": 1e-6}  # joules, [0, 1 µJ]


def _conductance(file: str, key: str, v: Any) -> float:
    return real(file, key, v, lo=0.0, hi=1.0, lo_open=True, hi_open=True)


def _levels(file: str, key: str, v: Any) -> int | None:
    if v == "continuous":
        return None
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not 2 <= v <= 65536:
        raise ProfileError(file, key, "not a valid level count", v,
                           "an integer 2..65536, or 'continuous'")
    return int(v)


def _bits(file: str, key: str, v: Any) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not 1 <= v <= 16:
        raise ProfileError(file, key, "not a valid converter resolution", v,
                           "an integer 1..16, or null for an ideal converter")
    return int(v)


def _probability(file: str, key: str, v: Any) -> float:
    return real(file, key, v, lo=0.0, hi=1.0)


def _time(file: str, key: str, v: Any) -> float:
    return real(file, key, v, **_TIME)


def _energy(file: str, key: str, v: Any) -> float:
    return real(file, key, v, **_ENERGY)


def _count(file: str, key: str, v: Any) -> int:
    return integer(file, key, v, lo=1, hi=1_000_000)


@dataclass(frozen=True)
class _Field:
    name: str  # DeviceProfile field
    key: str  # YAML key (unit in the name)
    unit: str  # for summaries ('' = dimensionless)
    parse: Callable[[str, str, Any], Any] | None  # None: block parsed with g_max


_FIELDS: tuple[_Field, ...] = (
    _Field("g_min", "g_min_S", "S", _conductance),
    _Field("g_max", "g_max_S", "S", _conductance),
    _Field("levels", "levels", "", _levels),
    _Field("programming_noise", "programming_noise", "", None),
    _Field("read_noise", "read_noise", "", None),
    _Field("noise_scale", "noise_scale", "", lambda f, k, v: real(f, k, v, lo=0.0, hi=1e6)),
    _Field("drift", "drift", "", None),
    _Field("stuck_on_rate", "stuck_on_rate", "", _probability),
    _Field("stuck_off_rate", "stuck_off_rate", "", _probability),
    _Field("verify", "verify", "", lambda f, k, v: Verify.from_spec(v, file=f, key=k)),
    _Field("v_read", "v_read_V", "V",
           lambda f, k, v: real(f, k, v, lo=0.0, hi=10.0, lo_open=True)),
    _Field("t_read", "t_read_s", "s", _time),
    _Field("dac_bits", "dac_bits", "bit", _bits),
    _Field("adc_bits", "adc_bits", "bit", _bits),
    _Field("adc_time", "adc_time_s", "s", _time),
    _Field("adc_energy", "adc_energy_J", "J", _energy),
    _Field("dac_energy", "dac_energy_J", "J", _energy),
    _Field("dac_time", "dac_time_s", "s", _time),
    _Field("cols_per_adc", "cols_per_adc", "", _count),
    _Field("tile_rows", "tile_rows", "", _count),
    _Field("tile_cols", "tile_cols", "", _count),
    _Field("adc_range", "adc_range", "",
           lambda f, k, v: real(f, k, v, lo=0.0, hi=1.0, lo_open=True)),
    _Field("digital_add_energy", "digital_add_energy_J", "J", _energy),
    _Field("digital_add_time", "digital_add_time_s", "s", _time),
    _Field("output_noise", "output_noise", "",
           lambda f, k, v: OutputNoise.from_spec(v, file=f, key=k)),
    _Field("cell_area", "cell_area_m2", "m²",
           lambda f, k, v: real(f, k, v, lo=0.0, hi=1e-6, lo_open=True)),
)
_BY_NAME = {f.name: f for f in _FIELDS}
_BY_KEY = {f.key: f for f in _FIELDS}
_META_REQUIRED = ("name", "kind", "sources")
_OPTIONAL = ("noise_scale", "description")
_REQUIRED = _META_REQUIRED + tuple(f.key for f in _FIELDS if f.key not in _OPTIONAL)
_KINDS = ("physical", "abstract")
# Blocks whose sub-keys may carry their own sources ("verify.pulse_time_s": ...).
_SUBKEYS = {"verify": Verify.KEYS, "output_noise": OutputNoise.KEYS,
            "drift": {"t0": "t0_s", "nu_mean": "nu_mean", "nu_std": "nu_std"}}
_NOISE_BLOCKS = ("programming_noise", "read_noise")
_DEFAULT_NOISE_SCALE_SOURCE = "default 1.0: the published noise laws, unscaled"

#: YAML keys of a profile file, in file order.
PROFILE_KEYS: tuple[str, ...] = ("name", "kind", "description") + tuple(
    f.key for f in _FIELDS) + ("sources",)


def _parse_sources(file: str, raw: Any, data: Mapping) -> dict[str, str]:
    """Check the ``sources`` map and return it keyed by field name (dotted for sub-keys)."""
    raw = mapping(file, "sources", raw)
    out: dict[str, str] = {}
    valid = [f.name for f in _FIELDS] + [f.key for f in _FIELDS]
    for skey, value in raw.items():
        head, _, sub = skey.partition(".")
        field = _BY_KEY.get(head) or _BY_NAME.get(head)
        if field is None:
            raise ProfileError(file, f"sources.{skey}", "source for an unknown key"
                               + suggest(head, valid), allowed="the keys of this profile")
        canonical = field.name
        if sub:
            block = data.get(field.key)
            sub_fields = {yk: fn for fn, yk in _SUBKEYS.get(field.name, {}).items()}
            if not isinstance(block, Mapping) or sub not in block or sub == "form":
                allowed = [k for k in block if k != "form"] if isinstance(block, Mapping) else []
                raise ProfileError(file, f"sources.{skey}", "source for an unknown sub-key"
                                   + suggest(sub, allowed),
                                   allowed=", ".join(f"{field.key}.{k}" for k in allowed)
                                   or f"{field.key} (no sub-keys)")
            canonical = f"{field.name}.{sub_fields.get(sub, sub)}"
        out[canonical] = text(file, f"sources.{skey}", value)
    for field in _FIELDS:
        if field.key not in data or field.name in out:
            continue
        block = data[field.key]
        subs = [k for k in block if k != "form"] if isinstance(block, Mapping) else []
        sub_fields = {yk: fn for fn, yk in _SUBKEYS.get(field.name, {}).items()}
        if subs and all(f"{field.name}.{sub_fields.get(k, k)}" in out for k in subs):
            continue
        raise ProfileError(file, f"sources.{field.key}", "every value needs its source",
                           allowed=f"a sources entry '{field.key}: <publication, or "
                                   f"ASSUMPTION: ...>'")
    return out


@dataclass(frozen=True)
class DeviceProfile:
    """One device technology and its periphery, in SI units (see docs/architecture.md).

    Build with :func:`crossbar.devices.load`, :meth:`from_dict` or
    :meth:`with_overrides`; all three validate. ``sources`` maps each field
    name (``verify.pulse_time`` for sub-fields) to where its number comes from.
    """

    name: str
    kind: Literal["physical", "abstract"]
    source: str
    g_min: float
    g_max: float
    levels: int | None
    programming_noise: NoiseFunction
    read_noise: NoiseFunction
    noise_scale: float
    drift: Drift | None
    stuck_on_rate: float
    stuck_off_rate: float
    verify: Verify | None
    v_read: float
    t_read: float
    dac_bits: int | None
    adc_bits: int | None
    adc_time: float
    adc_energy: float
    dac_energy: float
    dac_time: float
    cols_per_adc: int
    tile_rows: int
    tile_cols: int
    adc_range: float
    digital_add_energy: float
    digital_add_time: float
    output_noise: OutputNoise | None
    cell_area: float
    sources: Mapping[str, str]

    # ------------------------------------------------------------------ building
    @classmethod
    def from_dict(cls, data: Any, *, file: str = "<dict>",
                  source: str | None = None) -> DeviceProfile:
        """Validate a profile in its YAML form and build it; raise ProfileError if invalid."""
        if data is None:
            raise ProfileError(file, None, "the profile is empty",
                               allowed="a YAML mapping of keys to values")
        if not isinstance(data, Mapping):
            raise ProfileError(file, None, "a profile must be a YAML mapping of keys to values",
                               data)
        mapping(file, "", data)
        check_keys(file, "", data, _REQUIRED, _OPTIONAL)
        name = text(file, "name", data["name"])
        kind = choice(file, "kind", data["kind"], _KINDS)
        if "description" in data:
            text(file, "description", data["description"])
        values: dict[str, Any] = {}
        for field in _FIELDS:
            if field.parse is not None and field.key in data:
                values[field.name] = field.parse(file, field.key, data[field.key])
        values.setdefault("noise_scale", 1.0)
        g_min, g_max = values["g_min"], values["g_max"]
        if g_min >= g_max:
            raise ProfileError(file, "g_min_S", "must be smaller than g_max_S", g_min,
                               f"< g_max_S = {g_max:g} S")
        for key in _NOISE_BLOCKS:
            values[key] = NoiseFunction.from_spec(data[key], g_max=g_max, file=file, key=key)
        values["drift"] = Drift.from_spec(data["drift"], g_max=g_max, file=file, key="drift")
        if values["stuck_on_rate"] + values["stuck_off_rate"] > 1.0:
            raise ProfileError(file, "stuck_off_rate", "stuck_on_rate + stuck_off_rate exceeds 1",
                               values["stuck_off_rate"],
                               f"<= {1.0 - values['stuck_on_rate']:g}")
        sources = _parse_sources(file, data["sources"], data)
        sources.setdefault("noise_scale", _DEFAULT_NOISE_SCALE_SOURCE)
        return cls(name=name, kind=kind, source=file if source is None else source,
                   sources=FrozenMap(sources), **values)

    def with_overrides(self, **overrides: Any) -> DeviceProfile:
        """A new profile with some fields replaced, validated again.

        Names are the dataclass field names (``adc_bits=6``, ``noise_scale=2.0``,
        ``tile_rows=64``, ``levels=None``...). Block fields take an object
        (``Verify``, ``NoiseFunction``...), ``None`` where allowed, or a mapping
        in the YAML form that is merged onto the current block, e.g.
        ``read_noise={"t_inference_s": 3600}``. Each override is recorded in
        ``sources``. Unknown names or invalid values raise ProfileError.
        """
        if not overrides:
            return self
        file = f"{self.source} (with_overrides)"
        data = self.to_dict()
        sources = data["sources"]
        allowed = ["name", "kind"] + [f.name for f in _FIELDS]
        for name, value in overrides.items():
            if name not in allowed:
                raise ProfileError(file, name, "unknown override" + suggest(name, allowed),
                                   value, ", ".join(allowed))
            key = _BY_NAME[name].key if name in _BY_NAME else name
            if name == "levels" and value is None:
                value = "continuous"
            data[key] = _yaml_value(data.get(key), value)
            old = self.sources.get(name, "")
            for skey in [s for s in sources if s == key or s.startswith(key + ".")]:
                del sources[skey]
            if name not in ("name", "kind"):
                sources[key] = (f"override {name}={value!r} (with_overrides)"
                                + (f"; replaces: {old}" if old else ""))
        return DeviceProfile.from_dict(data, file=file, source=self.source)

    # ------------------------------------------------------------------ views
    @property
    def g_range(self) -> float:
        """g_max − g_min (S)."""
        return self.g_max - self.g_min

    @property
    def is_noiseless(self) -> bool:
        """No random effect at all: no programming/read noise, faults, drift or output noise."""
        device_quiet = self.noise_scale == 0.0 or (
            self.programming_noise.is_zero and self.read_noise.is_zero)
        return (device_quiet and self.stuck_on_rate == 0.0 and self.stuck_off_rate == 0.0
                and self.drift is None
                and (self.output_noise is None or self.output_noise.sigma == 0.0))

    @property
    def is_ideal(self) -> bool:
        """Noiseless, continuous levels and ideal converters: an exact MVM."""
        return (self.is_noiseless and self.levels is None and self.adc_bits is None
                and self.dac_bits is None)

    def programming_std(self, g: Any) -> np.ndarray:
        """Programming-noise std (S) at target conductances ``g`` (S), times ``noise_scale``."""
        return self.programming_noise.std(g) * self.noise_scale

    def read_std(self, g: Any) -> np.ndarray:
        """Read-noise std (S) per cell and read at conductances ``g`` (S), times ``noise_scale``."""
        return self.read_noise.std(g) * self.noise_scale

    def assumptions(self) -> dict[str, str]:
        """The fields whose value is an assumption rather than a published number."""
        return {k: v for k, v in self.sources.items()
                if v.lstrip().upper().startswith("ASSUMPTION")}

    def to_dict(self) -> dict[str, Any]:
        """The YAML form (unit-suffixed keys); ``from_dict(p.to_dict())`` rebuilds ``p``."""
        out: dict[str, Any] = {"name": self.name, "kind": self.kind}
        for field in _FIELDS:
            value = getattr(self, field.name)
            if field.name == "levels" and value is None:
                value = "continuous"
            elif hasattr(value, "to_dict"):
                value = value.to_dict()
            out[field.key] = value
        sources: dict[str, str] = {}
        for skey, value in self.sources.items():
            head, _, sub = skey.partition(".")
            key = _BY_NAME[head].key
            if sub:
                sub = _SUBKEYS.get(head, {}).get(sub, sub)
                key = f"{key}.{sub}"
            sources[key] = value
        out["sources"] = sources
        return out

    def to_yaml(self) -> str:
        """The profile as YAML text that ``load`` reads back to an equal profile."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=100)

    def to_markdown(self) -> str:
        """A Markdown table (field | value | source), one row per value (docs/devices.md)."""
        rows = [f"### `{self.name}` ({self.kind})", "", "| field | value | source |",
                "| --- | --- | --- |"]
        for field, shown in self._shown_values():
            cells = (f"`{field}`", shown, self._cite(field))
            rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        return "\n".join(rows) + "\n"

    def _shown_values(self) -> list[tuple[str, str]]:
        """(field or field.sub, value as text) for every value, blocks expanded."""
        out = []
        for field in _FIELDS:
            value = getattr(self, field.name)
            if isinstance(value, Drift):
                out += [("drift.t0", _si(value.t0, "s")),
                        ("drift.nu_mean", "ν_mean = " + value.mean.describe()),
                        ("drift.nu_std", "ν_std = " + value.spread.describe())]
            elif isinstance(value, (Verify, OutputNoise)):
                units = {"pulse_time": "s", "pulse_energy": "J"}
                out += [(f"{field.name}.{sub}", _si(getattr(value, sub), units.get(sub, "")))
                        for sub in value.KEYS]
            elif isinstance(value, NoiseFunction):
                out.append((field.name, f"{value.form}: {value.describe()}"))
            elif value is None:
                out.append((field.name, {"levels": "continuous", "dac_bits": "ideal",
                                         "adc_bits": "ideal"}.get(field.name, "none")))
            else:
                out.append((field.name, _si(value, field.unit)))
        return out

    def summary(self, sources: bool = True) -> str:
        """Every value with its unit (and, below it, its source) for logs and reports."""
        lines = [f"{self.name} ({self.kind}) from {self.source}"]
        previous = None
        for key, shown in self._shown_values():
            lines.append(f"  {key:<22} {shown}")
            cite = self._cite(key)
            if sources and cite != previous:
                lines.append(f"  {'':<22} ↳ {cite}")
            previous = cite
        return "\n".join(lines)

    def _cite(self, key: str) -> str:
        return self.sources.get(key) or self.sources.get(key.partition(".")[0], "")


def _yaml_value(current: Any, value: Any) -> Any:
    """An override value in the YAML form, merging mappings onto the current block."""
    if value is None:
        return None
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, Mapping):
        new = dict(value)
        if isinstance(current, Mapping) and new.get("form", current.get("form")) == current.get(
                "form"):
            return {**current, **new}
        return new
    if isinstance(value, np.generic):
        return value.item()
    return value


_PREFIXES = ((1e-15, "f"), (1e-12, "p"), (1e-9, "n"), (1e-6, "µ"), (1e-3, "m"), (1.0, ""))


def _si(value: Any, unit: str) -> str:
    """A number with an SI prefix for s, S, J and V (``2.5e-05 S`` -> ``25 µS``)."""
    if not isinstance(value, float) or unit in ("", "m²") or value == 0.0:
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        return f"{shown} {unit}".rstrip()
    scale, prefix = 1.0, ""
    for s, p in _PREFIXES:
        if abs(value) >= s * 0.999:
            scale, prefix = s, p
    return f"{value / scale:.4g} {prefix}{unit}"
