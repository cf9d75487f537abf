"""The small frozen blocks of a profile: program-and-verify, Qin output noise, ADC range
management and the periphery (ADC, DAC, sense, digital and buffer energy and area).

Each block parses its YAML mapping (``from_spec``), names every sub-key in its errors
and writes itself back (``to_dict``); ``KEYS`` maps dataclass fields to YAML keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from ._checks import ProfileError, check_keys, choice, integer, join, mapping, real

TIME = {"lo": 0.0, "hi": 1.0, "lo_open": True}  # seconds, (0, 1]
ENERGY = {"lo": 0.0, "hi": 1e-6}  # joules, [0, 1 µJ]
AREA = {"lo": 0.0, "hi": 1e-4}  # m², [0, 1 cm²]


@dataclass(frozen=True)
class Verify:
    """Program-and-verify: re-program a cell until |G − target| <= tolerance · (g_max − g_min)."""

    tolerance: float  # fraction of g_max - g_min
    max_iterations: int
    pulse_time: float  # s per write pulse
    pulse_energy: float  # J per write pulse per cell

    KEYS = {"tolerance": "tolerance", "max_iterations": "max_iterations",
            "pulse_time": "pulse_time_s", "pulse_energy": "pulse_energy_J"}
    UNITS = {"pulse_time": "s", "pulse_energy": "J"}

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
            pulse_time=real(file, join(key, "pulse_time_s"), spec["pulse_time_s"], **TIME),
            pulse_energy=real(file, join(key, "pulse_energy_J"), spec["pulse_energy_J"],
                              **ENERGY),
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
    UNITS: ClassVar[dict] = {}

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


RANGE_MODES = ("fixed", "calibrated", "bound_management")


@dataclass(frozen=True)
class RangeManagement:
    """How each tile's ADC full scale is set (equations: docs/physics.md, "Converters").

    ``fixed``: FS = adc_range · (largest column current of a full tile).
    ``calibrated``: FS = the ``percentile``-th percentile of |column current| over a
    calibration batch, per tile. ``bound_management``: start at the fixed FS; a read
    with a clipped output is repeated with the inputs halved, at most ``max_rereads``
    times (AIHWKit's iterative bound management).
    """

    mode: Literal["fixed", "calibrated", "bound_management"]
    percentile: float | None = None
    max_rereads: int | None = None

    KEYS = {"mode": "mode", "percentile": "percentile", "max_rereads": "max_rereads"}
    UNITS: ClassVar[dict] = {}
    _NEEDS = {"fixed": (), "calibrated": ("percentile",), "bound_management": ("max_rereads",)}

    @classmethod
    def from_spec(cls, spec: Any, *, file: str, key: str = "range_management") -> RangeManagement:
        spec = mapping(file, key, spec)
        if "mode" not in spec:
            raise ProfileError(file, join(key, "mode"), "required key is missing",
                               allowed=" | ".join(RANGE_MODES))
        mode = choice(file, join(key, "mode"), spec["mode"], RANGE_MODES)
        check_keys(file, key, spec, ("mode",) + cls._NEEDS[mode])
        percentile = max_rereads = None
        if mode == "calibrated":
            percentile = real(file, join(key, "percentile"), spec["percentile"], lo=50.0,
                              hi=100.0, lo_open=True)
        if mode == "bound_management":
            max_rereads = integer(file, join(key, "max_rereads"), spec["max_rereads"], lo=1,
                                  hi=16)
        return cls(mode, percentile, max_rereads)

    def to_dict(self) -> dict:
        return {"mode": self.mode, **{k: getattr(self, k) for k in self._NEEDS[self.mode]}}


@dataclass(frozen=True)
class Periphery:
    """Circuits around the array that the converter fields do not cover, for energy and area.

    ``adc_area`` (m² per ADC at adc_ref_bits), ``dac_area`` (m² per row driver),
    ``sense_energy`` (J per column and sampling cycle: sample-and-hold, integrator or
    sense amplifier), ``sense_area`` (m² per column), ``digital_area`` (m² per tile:
    shift-and-add, partial-sum adders, control), ``buffer_energy`` (J per input or
    output value moved through the tile's registers), ``buffer_area`` (m² per tile).
    """

    adc_area: float
    dac_area: float
    sense_energy: float
    sense_area: float
    digital_area: float
    buffer_energy: float
    buffer_area: float

    KEYS = {"adc_area": "adc_area_m2", "dac_area": "dac_area_m2",
            "sense_energy": "sense_energy_J", "sense_area": "sense_area_m2",
            "digital_area": "digital_area_m2", "buffer_energy": "buffer_energy_J",
            "buffer_area": "buffer_area_m2"}
    UNITS = {"sense_energy": "J", "buffer_energy": "J", "adc_area": "m²", "dac_area": "m²",
             "sense_area": "m²", "digital_area": "m²", "buffer_area": "m²"}

    @classmethod
    def from_spec(cls, spec: Any, *, file: str, key: str = "periphery") -> Periphery | None:
        if spec is None:
            return None
        spec = mapping(file, key, spec)
        check_keys(file, key, spec, tuple(cls.KEYS.values()))
        values = {}
        for field, ykey in cls.KEYS.items():
            bounds = ENERGY if ykey.endswith("_J") else AREA
            values[field] = real(file, join(key, ykey), spec[ykey], **bounds)
        return cls(**values)

    def to_dict(self) -> dict:
        return {yk: getattr(self, f) for f, yk in self.KEYS.items()}
