"""Time and energy of one MVM on one tile, from the profile's converter and periphery fields.

Symbols (docs/cost.md, section 1): slices t = 1..S of w_t magnitude bits, u_t = 2^w_t - 1
unit pulses or PWM steps (1 for a level DAC), P read phases, C conversions per column
(S·P, or S when the ADC integrates during the read), n_seq = min(cols, cols_per_adc).

    drive time  T_t = dac_time + t_read (level) | u_t·dac_time (pulse_count)
                      | u_t·dac_time + t_read (pwm)
    tile time   Σ_t P·(T_t + n_seq·t_conv)                  (sample, then convert)
                Σ_t max(P·T_t, n_seq·t_conv)                (ADC integrates during the read)
    energy      a·v_read²·g_sum·Σ_t t_on,t + P·rows·Σ_t n_drv,t·dac_energy
                + P·cols·Σ_t n_smp,t·sense_energy + cols·C·E_adc·(P if integrating else 1)
                + cols·(C − 1)·digital_add_energy + (rows + cols)·buffer_energy
"""

from __future__ import annotations

from dataclasses import dataclass

from crossbar.cost._checks import finite, positive_int, profile_int, profile_number
from crossbar.cost.usage import TileUsage, check_activity
from crossbar.devices import converters

_CONVERTER_FIELDS = ("input_encoding", "slice_bits", "dac_kind", "signed_inputs", "dac_bits",
                     "adc_kind", "adc_bits", "adc_ref_bits", "adc_fixed_energy",
                     "adc_during_read", "periphery")


@dataclass(frozen=True)
class CircuitParameters:
    """The profile numbers the cost model uses (SI units), read once and checked.

    Per input slice: ``drive_times`` (s, one read's drive and read window),
    ``on_times`` (s, full-scale conduction), ``drive_events`` (driver switchings per
    row), ``sense_events`` (samples per column). ``adc_energy``/``adc_time`` are at
    the priced resolution. Periphery fields are None when the profile has none.
    """

    v_read: float
    t_read: float
    dac_time: float
    dac_energy: float
    adc_time: float
    adc_energy: float
    cols_per_adc: int
    tile_rows: int
    tile_cols: int
    digital_add_time: float
    digital_add_energy: float
    cell_area: float
    drive_times: tuple[float, ...]
    on_times: tuple[float, ...]
    drive_events: tuple[int, ...]
    sense_events: tuple[int, ...]
    phases: int
    adc_during_read: bool
    adc_area: float | None = None
    dac_area: float | None = None
    sense_energy: float = 0.0
    sense_area: float | None = None
    digital_area: float | None = None
    buffer_energy: float = 0.0
    buffer_area: float | None = None
    pulse_time: float | None = None
    pulse_energy: float | None = None
    notes: tuple[str, ...] = ()

    @property
    def adcs_per_tile(self) -> int:
        """ADCs per tile: ceil(tile_cols / cols_per_adc)."""
        return -(-self.tile_cols // self.cols_per_adc)

    @property
    def slices(self) -> int:
        """Input slices S per MVM."""
        return len(self.drive_times)

    @property
    def conversions_per_column(self) -> int:
        """C: ADC conversions per column and MVM."""
        return self.slices * (1 if self.adc_during_read else self.phases)

    @property
    def periphery_area_per_tile(self) -> float | None:
        """DAC, sense, digital and buffer area of one tile (m^2; ADCs apart), or None."""
        if self.dac_area is None:
            return None
        return (self.tile_rows * self.dac_area + self.tile_cols * self.sense_area
                + self.digital_area + self.buffer_area)

    @classmethod
    def from_profile(cls, profile) -> CircuitParameters:
        """Extract and validate; a profile without periphery gets a note, not a guess."""
        if isinstance(profile, cls):
            return profile
        missing = [f for f in _CONVERTER_FIELDS if not hasattr(profile, f)]
        if missing:
            raise ValueError(f"profile {getattr(profile, 'name', '?')!r} lacks the converter "
                             f"field(s) {', '.join(missing)} (docs/devices.md)")
        notes: list[str] = []
        num = {name: profile_number(profile, name, notes)
               for name in ("v_read", "t_read", "dac_time", "dac_energy", "digital_add_time",
                            "digital_add_energy", "cell_area")}
        widths = converters.slice_widths(profile)
        units = [converters.drive_units(profile, w) for w in widths]
        kind = profile.dac_kind
        t_read, dac_time = num["t_read"], num["dac_time"]
        drive = {"level": [dac_time + t_read] * len(units),
                 "pulse_count": [u * dac_time for u in units],
                 "pwm": [u * dac_time + t_read for u in units]}[kind]
        on = {"level": [t_read] * len(units), "pulse_count": [u * t_read for u in units],
              "pwm": [u * dac_time for u in units]}[kind]
        periphery = profile.periphery
        extra: dict = {}
        if periphery is None:
            notes.append("profile has no periphery: sense, buffer and periphery area not "
                         "included")
        else:
            for name in ("dac_area", "sense_energy", "sense_area", "digital_area",
                         "buffer_energy", "buffer_area"):
                extra[name] = finite(f"profile.periphery.{name}", getattr(periphery, name),
                                     minimum=0.0)
            extra["adc_area"] = converters.adc_area_at(
                profile, finite("profile.periphery.adc_area", periphery.adc_area, minimum=0.0))
        verify = getattr(profile, "verify", None)
        if verify is None:
            notes.append("profile has no verify model: programming time/energy not modelled")
        else:
            extra["pulse_time"] = finite("profile.verify.pulse_time", verify.pulse_time, 0.0)
            extra["pulse_energy"] = finite("profile.verify.pulse_energy", verify.pulse_energy,
                                           0.0)
        return cls(
            **num,
            adc_time=finite("profile.adc_time", converters.adc_time_at(profile), 0.0),
            adc_energy=finite("profile.adc_energy", converters.adc_energy_at(profile), 0.0),
            cols_per_adc=profile_int(profile, "cols_per_adc"),
            tile_rows=profile_int(profile, "tile_rows"),
            tile_cols=profile_int(profile, "tile_cols"),
            drive_times=tuple(drive),
            on_times=tuple(on),
            drive_events=tuple(u if kind == "pulse_count" else 1 for u in units),
            sense_events=tuple(u if kind == "pulse_count" else 1 for u in units),
            phases=converters.phases(profile),
            adc_during_read=bool(profile.adc_during_read),
            notes=tuple(notes),
            **extra,
        )


@dataclass(frozen=True)
class TileCost:
    """Time (s) and energy (J) of one MVM on one tile, with their parts.

    ``reads`` = slices x phases; ``conversions`` for all used columns,
    ``conversions_sequential`` by the busiest ADC.
    """

    time: float
    time_drive: float
    time_adc: float
    reads: int
    conversions_sequential: int
    conversions: int
    energy: float
    energy_cell: float
    energy_dac: float
    energy_sense: float
    energy_adc: float
    energy_digital: float
    energy_buffer: float
    shift_adds: int


def sequential_conversions(cols: int, cols_per_adc: int) -> int:
    """Columns the busiest ADC converts per read: min(cols, cols_per_adc).

    Columns are grouped contiguously (columns k*c .. k*c + c - 1 share ADC k,
    c = cols_per_adc) and the mapper fills a tile from column 0, so the first
    ADC converts min(cols, c) columns one after another while the others run
    in parallel.
    """
    positive_int("cols", cols)
    positive_int("cols_per_adc", cols_per_adc)
    return min(cols, cols_per_adc)


def tile_cost(profile, usage: TileUsage, activity: float = 1.0) -> TileCost:
    """Time and energy of one MVM (one input vector) on one tile (equations above)."""
    p = CircuitParameters.from_profile(profile)
    a = check_activity(activity)
    if usage.rows > p.tile_rows or usage.cols > p.tile_cols:
        raise ValueError(
            f"tile uses {usage.rows} x {usage.cols} pairs but the profile's tiles are "
            f"{p.tile_rows} x {p.tile_cols}"
        )
    n_seq = sequential_conversions(usage.cols, p.cols_per_adc)
    conv_time = n_seq * p.adc_time
    if p.adc_during_read:
        time = sum(max(p.phases * t, conv_time) for t in p.drive_times)
        time_adc = time - p.phases * sum(p.drive_times)
    else:
        time_adc = p.slices * p.phases * conv_time
        time = p.phases * sum(p.drive_times) + time_adc
    c = p.conversions_per_column
    e_cell = a * p.v_read**2 * usage.g_sum * sum(p.on_times)
    e_dac = p.phases * usage.rows * sum(p.drive_events) * p.dac_energy
    e_sense = p.phases * usage.cols * sum(p.sense_events) * p.sense_energy
    e_adc = usage.cols * c * p.adc_energy * (p.phases if p.adc_during_read else 1)
    shift_adds = usage.cols * (c - 1)
    e_digital = shift_adds * p.digital_add_energy
    e_buffer = (usage.rows + usage.cols) * p.buffer_energy
    return TileCost(
        time=time,
        time_drive=time - time_adc,
        time_adc=time_adc,
        reads=p.slices * p.phases,
        conversions_sequential=n_seq * c,
        conversions=usage.cols * c,
        energy=e_cell + e_dac + e_sense + e_adc + e_digital + e_buffer,
        energy_cell=e_cell,
        energy_dac=e_dac,
        energy_sense=e_sense,
        energy_adc=e_adc,
        energy_digital=e_digital,
        energy_buffer=e_buffer,
        shift_adds=shift_adds,
    )
