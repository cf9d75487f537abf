"""The frozen ``DeviceProfile`` and the one function that validates a profile dictionary.

A profile is built in exactly one place, :meth:`DeviceProfile.from_dict`, from the
YAML form (schema in :mod:`.schema`). Files (``load``) and overrides
(``with_overrides``) both go through it, so every profile in the program has passed
the same checks, the converter cross-checks of :mod:`.converters` included.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import yaml

from . import converters, describe
from ._checks import (
    FrozenMap,
    ProfileError,
    check_keys,
    choice,
    mapping,
    noise_is_bounded,
    suggest,
    text,
)
from .blocks import OutputNoise, Periphery, RangeManagement, Verify
from .drift import Drift
from .noise import NoiseFunction
from .schema import (
    BY_NAME,
    DEFAULTS,
    FIELDS,
    KINDS,
    NOISE_BLOCKS,
    OPTIONAL,
    REQUIRED,
    SUBKEYS,
    WIRES,
    parse_sources,
)


@dataclass(frozen=True)
class DeviceProfile:
    """One device technology and its periphery, in SI units (see docs/architecture.md).

    Build with :func:`crossbar.devices.load`, :meth:`from_dict` or
    :meth:`with_overrides`; all three validate. ``sources`` maps each field
    name (``verify.pulse_time`` for sub-fields) to where its number comes from.
    Converter fields are defined in docs/physics.md ("Converters").
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
    time_since_programming: float
    stuck_on_rate: float
    stuck_off_rate: float
    verify: Verify | None
    v_read: float
    v_read_min: float
    t_read: float
    sense_noise: float
    input_encoding: Literal["one_shot", "bit_serial"]
    slice_bits: int | None
    dac_kind: Literal["level", "pulse_count", "pwm"]
    signed_inputs: Literal["bipolar", "two_phase", "four_phase"]
    dac_bits: int | None
    dac_time: float
    dac_energy: float
    adc_kind: Literal["sar", "flash", "ramp"]
    adc_bits: int | None
    adc_ref_bits: int
    adc_time: float
    adc_energy: float
    adc_fixed_energy: float
    adc_during_read: bool
    cols_per_adc: int
    tile_rows: int
    tile_cols: int
    adc_range: float
    range_management: RangeManagement
    digital_add_energy: float
    digital_add_time: float
    periphery: Periphery | None
    output_noise: OutputNoise | None
    cell_area: float
    row_wire_resistance: float
    col_wire_resistance: float
    driver_resistance: float
    sense_resistance: float
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
        check_keys(file, "", data, REQUIRED, OPTIONAL)
        name = text(file, "name", data["name"])
        kind = choice(file, "kind", data["kind"], KINDS)
        if "description" in data:
            text(file, "description", data["description"])
        values: dict[str, Any] = {}
        for field in FIELDS:
            if field.parse is not None and field.key in data:
                values[field.name] = field.parse(file, field.key, data[field.key])
        for field_name, (default, _) in DEFAULTS.items():
            values.setdefault(field_name, values[default] if isinstance(default, str) else default)
        g_min, g_max = values["g_min"], values["g_max"]
        if g_min >= g_max:
            raise ProfileError(file, "g_min_S", "must be smaller than g_max_S", g_min,
                               f"< g_max_S = {g_max:g} S")
        for key in NOISE_BLOCKS:
            values[key] = NoiseFunction.from_spec(data[key], g_max=g_max, file=file, key=key,
                                                  time=values["time_since_programming"])
        _check_times_and_voltages(values, file)
        values["drift"] = Drift.from_spec(data["drift"], g_max=g_max, file=file, key="drift")
        if values["stuck_on_rate"] + values["stuck_off_rate"] > 1.0:
            raise ProfileError(file, "stuck_off_rate", "stuck_on_rate + stuck_off_rate exceeds 1",
                               values["stuck_off_rate"],
                               f"<= {1.0 - values['stuck_on_rate']:g}")
        converters.check(values, file)
        _check_wires(values, kind, file)
        sources = parse_sources(file, data["sources"], data)
        for field_name, (_, default_source) in DEFAULTS.items():
            sources.setdefault(field_name, default_source)
        profile = cls(name=name, kind=kind, source=file if source is None else source,
                      sources=FrozenMap(sources), **values)
        noise_is_bounded(file, "programming_noise", profile.programming_std, g_min, g_max)
        noise_is_bounded(file, "read_noise", profile.read_std, g_min, g_max)
        return profile

    def with_overrides(self, **overrides: Any) -> DeviceProfile:
        """A new profile with some fields replaced, validated again.

        Names are the dataclass field names (``adc_bits=6``, ``noise_scale=2.0``,
        ``tile_rows=64``, ``levels=None``...). Block fields take an object
        (``Verify``, ``NoiseFunction``...), ``None`` where allowed, or a mapping
        in the YAML form that is merged onto the current block, e.g.
        ``read_noise={"t_inference_s": 3600}`` (a mapping with another ``form`` or
        ``mode`` replaces the block). Each override is recorded in ``sources``.
        Unknown names or invalid values raise ProfileError.
        """
        if not overrides:
            return self
        file = f"{self.source} (with_overrides)"
        data = self.to_dict()
        sources = data["sources"]
        allowed = ["name", "kind"] + [f.name for f in FIELDS]
        for name, value in overrides.items():
            if name not in allowed:
                raise ProfileError(file, name, "unknown override" + suggest(name, allowed),
                                   value, ", ".join(allowed))
            key = BY_NAME[name].key if name in BY_NAME else name
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

    @property
    def slice_widths(self) -> tuple[int | None, ...]:
        """Magnitude bits of each input slice, LSB first (docs/physics.md, "Converters")."""
        return converters.slice_widths(self)

    @property
    def phases(self) -> int:
        """Reads per input slice: 1 (bipolar), 2 (two_phase) or 4 (four_phase)."""
        return converters.phases(self)

    @property
    def conversions_per_column(self) -> int:
        """ADC conversions per column and MVM (slices x phases, or slices if accumulated)."""
        return converters.conversions_per_column(self)

    def programming_std(self, g: Any) -> np.ndarray:
        """Programming-noise std (S) at target conductances ``g`` (S), times ``noise_scale``."""
        return self.programming_noise.std(g) * self.noise_scale

    def read_std(self, g: Any, t: float | None = None) -> np.ndarray:
        """Read-noise std (S) per cell and read at conductances ``g`` (S), ``t`` seconds after
        programming (default ``time_since_programming``), times ``noise_scale``."""
        return self.read_noise.std(g, t) * self.noise_scale

    def read_split(self, g: Any, t: float | None = None, dt: float | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
        """(common, fresh) read-noise stds (S) of reads ``dt`` s apart (``NoiseFunction.split``),
        times ``noise_scale``."""
        common, fresh = self.read_noise.split(g, t, dt)
        return common * self.noise_scale, fresh * self.noise_scale

    def assumptions(self) -> dict[str, str]:
        """The fields whose value is an assumption rather than a published number."""
        return {k: v for k, v in self.sources.items()
                if v.lstrip().upper().startswith("ASSUMPTION")}

    def to_dict(self) -> dict[str, Any]:
        """The YAML form (unit-suffixed keys); ``from_dict(p.to_dict())`` rebuilds ``p``."""
        out: dict[str, Any] = {"name": self.name, "kind": self.kind}
        for field in FIELDS:
            value = getattr(self, field.name)
            if field.name in WIRES and value == 0.0:
                continue  # ideal wiring is the default: the YAML (and content digest) of a
                # profile without wires stays what it was before wires were modelled
            if field.name == "levels" and value is None:
                value = "continuous"
            elif hasattr(value, "to_dict"):
                value = value.to_dict()
            out[field.key] = value
        sources: dict[str, str] = {}
        for skey, value in self.sources.items():
            head, _, sub = skey.partition(".")
            key = BY_NAME[head].key
            if sub:
                sub = SUBKEYS.get(head, {}).get(sub, sub)
                key = f"{key}.{sub}"
            sources[key] = value
        out["sources"] = sources
        return out

    def to_yaml(self) -> str:
        """The profile as YAML text that ``load`` reads back to an equal profile."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=100)

    def to_markdown(self) -> str:
        """A Markdown table (field | value | source), one row per value (docs/devices.md)."""
        return describe.markdown(self)

    def summary(self, sources: bool = True) -> str:
        """Every value with its unit (and, below it, its source) for logs and reports."""
        return describe.summary(self, sources)


def _check_times_and_voltages(values: dict, file: str) -> None:
    """The read voltage may not go below the device's minimum; a 1/f law needs t > its t_read."""
    if values["v_read"] < values["v_read_min"]:
        raise ProfileError(file, "v_read_V", "below the device's minimum read voltage",
                           values["v_read"], f">= v_read_min_V = {values['v_read_min']:g} V")
    law = values["read_noise"]
    if law.spectrum == "1/f" and values["time_since_programming"] <= law.params["t_read_s"]:
        raise ProfileError(file, "time_since_programming_s", "the 1/f read noise needs a time "
                           "since programming above its t_read (ln((t + t_read)/(2 t_read)) > 0)",
                           values["time_since_programming"], f"> {law.params['t_read_s']:g} s")


def _check_wires(values: dict, kind: str, file: str) -> None:
    """Wire resistance belongs to a physical tile; an abstract profile has no conductances."""
    for name in WIRES:
        if kind == "abstract" and values[name] != 0.0:
            raise ProfileError(file, f"{name}_ohm", "an abstract profile has no wires (its MVM is "
                               "exact plus output noise)", values[name], "0, or kind: physical")


_DISCRIMINATORS = ("form", "mode")  # a mapping that changes one of these replaces the block


def _yaml_value(current: Any, value: Any) -> Any:
    """An override value in the YAML form, merging mappings onto the current block."""
    if value is None:
        return None
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, Mapping):
        new = dict(value)
        same = isinstance(current, Mapping) and all(
            new.get(k, current.get(k)) == current.get(k) for k in _DISCRIMINATORS)
        return {**current, **new} if same else new
    if isinstance(value, np.generic):
        return value.item()
    return value
