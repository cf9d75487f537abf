"""The profile schema: every field with its YAML key, unit and parser, and the sources map.

Keys carry their SI unit in the name (``g_max_S``, ``t_read_s``, ``adc_energy_J``...).
:class:`~crossbar.devices.DeviceProfile` builds itself from this table only.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ._checks import ProfileError, choice, integer, mapping, real, suggest, text
from .blocks import AREA, ENERGY, TIME, OutputNoise, Periphery, RangeManagement, Verify
from .converters import ADC_KINDS, DAC_KINDS, ENCODINGS, MIN_BITS, SIGNED_INPUTS


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
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not MIN_BITS <= v <= 16:
        raise ProfileError(file, key, "not a valid converter resolution: b bits are signed, "
                           "2^(b-1) - 1 levels per polarity, so 1 bit has none (a 1-bit ADC "
                           "is a bare comparator; a binary input is 2 bits here: sign and "
                           "one magnitude bit)", v,
                           f"an integer {MIN_BITS}..16, or null for an ideal converter")
    return int(v)


def _flag(file: str, key: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise ProfileError(file, key, "must be true or false", v)
    return v


def _optional_int(file: str, key: str, v: Any) -> int | None:
    return None if v is None else integer(file, key, v, lo=1, hi=16)


def _one_of(options: tuple[str, ...]) -> Callable[[str, str, Any], str]:
    return lambda f, k, v: choice(f, k, v, options)


def _probability(file: str, key: str, v: Any) -> float:
    return real(file, key, v, lo=0.0, hi=1.0)


def _time(file: str, key: str, v: Any) -> float:
    return real(file, key, v, **TIME)


def _energy(file: str, key: str, v: Any) -> float:
    return real(file, key, v, **ENERGY)


def _resistance(file: str, key: str, v: Any) -> float:
    return real(file, key, v, lo=0.0, hi=1e6)


def _count(file: str, key: str, v: Any) -> int:
    return integer(file, key, v, lo=1, hi=1_000_000)


@dataclass(frozen=True)
class Field:
    name: str  # DeviceProfile field
    key: str  # YAML key (unit in the name)
    unit: str  # for summaries ('' = dimensionless)
    parse: Callable[[str, str, Any], Any] | None  # None: block parsed with g_max


FIELDS: tuple[Field, ...] = (
    Field("g_min", "g_min_S", "S", _conductance),
    Field("g_max", "g_max_S", "S", _conductance),
    Field("levels", "levels", "", _levels),
    Field("programming_noise", "programming_noise", "", None),
    Field("read_noise", "read_noise", "", None),
    Field("noise_scale", "noise_scale", "", lambda f, k, v: real(f, k, v, lo=0.0, hi=1e6)),
    Field("drift", "drift", "", None),
    Field("time_since_programming", "time_since_programming_s", "s",
          lambda f, k, v: real(f, k, v, lo=0.0, hi=1e10, lo_open=True)),
    Field("stuck_on_rate", "stuck_on_rate", "", _probability),
    Field("stuck_off_rate", "stuck_off_rate", "", _probability),
    Field("verify", "verify", "", lambda f, k, v: Verify.from_spec(v, file=f, key=k)),
    Field("v_read", "v_read_V", "V",
          lambda f, k, v: real(f, k, v, lo=0.0, hi=10.0, lo_open=True)),
    Field("v_read_min", "v_read_min_V", "V",
          lambda f, k, v: real(f, k, v, lo=0.0, hi=10.0, lo_open=True)),
    Field("t_read", "t_read_s", "s", _time),
    Field("sense_noise", "sense_noise_A", "A", lambda f, k, v: real(f, k, v, lo=0.0, hi=1e-3)),
    Field("input_encoding", "input_encoding", "", _one_of(ENCODINGS)),
    Field("slice_bits", "slice_bits", "bit", _optional_int),
    Field("dac_kind", "dac_kind", "", _one_of(DAC_KINDS)),
    Field("signed_inputs", "signed_inputs", "", _one_of(SIGNED_INPUTS)),
    Field("dac_bits", "dac_bits", "bit", _bits),
    Field("dac_time", "dac_time_s", "s", _time),
    Field("dac_energy", "dac_energy_J", "J", _energy),
    Field("adc_kind", "adc_kind", "", _one_of(ADC_KINDS)),
    Field("adc_bits", "adc_bits", "bit", _bits),
    Field("adc_ref_bits", "adc_ref_bits", "bit",
          lambda f, k, v: integer(f, k, v, lo=MIN_BITS, hi=16)),
    Field("adc_time", "adc_time_s", "s", _time),
    Field("adc_energy", "adc_energy_J", "J", _energy),
    Field("adc_fixed_energy", "adc_fixed_energy_J", "J", _energy),
    Field("adc_during_read", "adc_during_read", "", _flag),
    Field("cols_per_adc", "cols_per_adc", "", _count),
    Field("tile_rows", "tile_rows", "", _count),
    Field("tile_cols", "tile_cols", "", _count),
    Field("adc_range", "adc_range", "",
          lambda f, k, v: real(f, k, v, lo=0.0, hi=1.0, lo_open=True)),
    Field("range_management", "range_management", "",
          lambda f, k, v: RangeManagement.from_spec(v, file=f, key=k)),
    Field("digital_add_energy", "digital_add_energy_J", "J", _energy),
    Field("digital_add_time", "digital_add_time_s", "s", _time),
    Field("periphery", "periphery", "", lambda f, k, v: Periphery.from_spec(v, file=f, key=k)),
    Field("output_noise", "output_noise", "",
          lambda f, k, v: OutputNoise.from_spec(v, file=f, key=k)),
    Field("cell_area", "cell_area_m2", "m²",
          lambda f, k, v: real(f, k, v, lo=0.0, hi=AREA["hi"], lo_open=True)),
    Field("row_wire_resistance", "row_wire_resistance_ohm", "Ω", _resistance),
    Field("col_wire_resistance", "col_wire_resistance_ohm", "Ω", _resistance),
    Field("driver_resistance", "driver_resistance_ohm", "Ω", _resistance),
    Field("sense_resistance", "sense_resistance_ohm", "Ω", _resistance),
)
BY_NAME = {f.name: f for f in FIELDS}
BY_KEY = {f.key: f for f in FIELDS}
META_REQUIRED = ("name", "kind", "sources")
#: The wiring of a tile (docs/physics.md, "Wire resistance"): 0 is ideal wiring.
WIRES = ("row_wire_resistance", "col_wire_resistance", "driver_resistance", "sense_resistance")
OPTIONAL = ("noise_scale", "description", "time_since_programming_s", "v_read_min_V",
            "sense_noise_A") + tuple(f"{name}_ohm" for name in WIRES)
REQUIRED = META_REQUIRED + tuple(f.key for f in FIELDS if f.key not in OPTIONAL)
KINDS = ("physical", "abstract")
NOISE_BLOCKS = ("programming_noise", "read_noise")
DEFAULT_NOISE_SCALE_SOURCE = "default 1.0: the published noise laws, unscaled"
# Optional fields: (default value, or the field whose value it copies; the source it gets).
DEFAULTS = {
    "noise_scale": (1.0, DEFAULT_NOISE_SCALE_SOURCE),
    "time_since_programming": (86400.0, "ASSUMPTION (default): one day after programming, the "
                               "project's deployed-model time (docs/devices.md)"),
    "v_read_min": ("v_read", "default: v_read (the profile claims no lower read voltage)"),
    "sense_noise": (0.0, "default 0: no circuit noise beyond the cells' own thermal noise"),
    **{name: (0.0, "default 0: ideal wiring, no IR drop (docs/physics.md, \"Wire resistance\")")
       for name in WIRES},
}
# Blocks whose sub-keys may carry their own sources ("verify.pulse_time_s": ...).
BLOCKS = {"verify": Verify, "output_noise": OutputNoise, "range_management": RangeManagement,
          "periphery": Periphery}
SUBKEYS = {name: cls.KEYS for name, cls in BLOCKS.items()}
SUBKEYS["drift"] = {"t0": "t0_s", "nu_mean": "nu_mean", "nu_std": "nu_std"}

#: YAML keys of a profile file, in file order.
PROFILE_KEYS: tuple[str, ...] = ("name", "kind", "description") + tuple(
    f.key for f in FIELDS) + ("sources",)


def _sub_keys(block: Any) -> list[str]:
    return [k for k in block if k not in ("form", "mode")] if isinstance(block, Mapping) else []


def parse_sources(file: str, raw: Any, data: Mapping) -> dict[str, str]:
    """Check the ``sources`` map and return it keyed by field name (dotted for sub-keys)."""
    raw = mapping(file, "sources", raw)
    out: dict[str, str] = {}
    valid = [f.name for f in FIELDS] + [f.key for f in FIELDS]
    for skey, value in raw.items():
        head, _, sub = skey.partition(".")
        field = BY_KEY.get(head) or BY_NAME.get(head)
        if field is None:
            raise ProfileError(file, f"sources.{skey}", "source for an unknown key"
                               + suggest(head, valid), allowed="the keys of this profile")
        canonical = field.name
        if sub:
            block = data.get(field.key)
            sub_fields = {yk: fn for fn, yk in SUBKEYS.get(field.name, {}).items()}
            allowed = _sub_keys(block) + (["mode"] if field.name == "range_management" else [])
            if sub not in allowed:
                raise ProfileError(file, f"sources.{skey}", "source for an unknown sub-key"
                                   + suggest(sub, allowed),
                                   allowed=", ".join(f"{field.key}.{k}" for k in allowed)
                                   or f"{field.key} (no sub-keys)")
            canonical = f"{field.name}.{sub_fields.get(sub, sub)}"
        out[canonical] = text(file, f"sources.{skey}", value)
    for field in FIELDS:
        if field.key not in data or field.name in out:
            continue
        sub_fields = {yk: fn for fn, yk in SUBKEYS.get(field.name, {}).items()}
        subs = _sub_keys(data[field.key])
        if field.name == "range_management":
            subs = ["mode"] + subs
        if subs and all(f"{field.name}.{sub_fields.get(k, k)}" in out for k in subs):
            continue
        raise ProfileError(file, f"sources.{field.key}", "every value needs its source",
                           allowed=f"a sources entry '{field.key}: <publication, or "
                                   f"ASSUMPTION: ...>'")
    return out
