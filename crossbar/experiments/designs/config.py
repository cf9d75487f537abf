"""The configuration of a design-space exploration (``crossbar-sim explore CONFIG.yaml``).

An :class:`ExploreConfig` holds the evaluation settings every design point
shares (the keys of a noise budget that decide an accuracy or a cost:
network, data, chips, votes, target; docs/explore.md) and the design points:
a ``grid`` (every combination of its lists) and/or a list of ``points``. A
point sets any device-profile field by its name (``adc_bits``, ``v_read``,
``slice_bits``, a block's entry as ``range_management.mode``), ``profile``
(the device) and ``tile_size`` (``tile_rows`` and ``tile_cols`` at once).
Every point is validated when the config is built: a wrong name or value is
one line naming the key (``grid.adc_bits``, ``points[2].tile_size``), the
value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crossbar.checks import CheckError, check_keys, join, mapping, suggest

from ..budget.config import BudgetConfig
from ..checks import OBJECT, fail, integer, string
from ..config import load_yaml_config
from ..profiles import load_profile

__all__ = ["ADMIT", "MAX_POINTS", "SHARED", "ExploreConfig", "load_explore_config"]

SHARED = ("checkpoint", "train", "data", "data_root", "test_limit", "profile", "profile_overrides",
          "layer_overrides", "scale", "max_drop", "target_accuracy", "votes", "repeats", "confidence",
          "time_since_programming", "drift_compensation", "vote_schedule", "activity", "replication",
          "seed", "batch_rows", "threads")
"""The budget keys (docs/budget.md) that decide a point's accuracy or cost; the others (the noise
search's) do not apply. The target is ``target_accuracy``, or the float network's accuracy on
the test set minus ``max_drop`` (the same for every point)."""

ADMIT = ("interval", "mean")
"""When a point meets the target: its whole confidence interval lies at or above it
(``interval``, the default: called only when the interval says so), or its estimate does."""

MAX_POINTS = 10_000
TILE_SIZE = "tile_size"
_OWN_KEYS = ("grid", "points", "workers", "out", "plots", "admit")


def _field_names() -> tuple[str, ...]:
    from crossbar.devices.schema import FIELDS

    return tuple(f.name for f in FIELDS)


def _nest(name: str, value: Any) -> tuple[str, Any]:
    """``block.entry: v`` as the override ``block: {entry: v}`` (merged onto the block)."""
    head, _, rest = name.partition(".")
    if not rest:
        return head, value
    return head, dict([_nest(rest, value)])


def _merge(base: Mapping, extra: Mapping) -> dict:
    """``extra`` merged onto ``base``, mappings entry by entry."""
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(out.get(k), Mapping) and isinstance(v, Mapping) else v
    return out


def _check_name(key: str, name: Any) -> None:
    """A design setting: ``profile``, ``tile_size``, a profile field or ``block.entry``."""
    fields = _field_names()
    ok = isinstance(name, str) and (name in ("profile", TILE_SIZE) or name.partition(".")[0] in fields)
    if not ok:
        raise CheckError(None, join(key, str(name)), "not a design setting" + suggest(name, fields),
                         allowed=f"profile, {TILE_SIZE} or a device-profile field ({', '.join(fields)}; "
                         "block.entry for an entry of a block)")


@dataclass(frozen=True)
class ExploreConfig:
    """A design-space exploration: shared ``settings`` (budget keys of :data:`SHARED`), the
    design points (``grid``: name -> list of values, every combination; ``points``: a list of
    {name: value}), ``admit`` (:data:`ADMIT`), ``workers``, ``out``, ``plots``."""

    settings: dict = field(default_factory=dict, hash=False)
    grid: dict = field(default_factory=dict, hash=False)
    points: tuple = ()
    workers: int = 1
    out: str = "runs/explore"
    plots: bool = True
    admit: str = "interval"
    budget: BudgetConfig = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        s = dict(mapping(None, "settings", self.settings))
        check_keys(None, "", s, (), SHARED)
        s.setdefault("votes", [1])
        if s.get("checkpoint") is None and s.get("train") is None:
            s["checkpoint"] = f"{OBJECT}model"  # a network passed in Python; explore() checks
        object.__setattr__(self, "settings", s)
        integer("workers", self.workers, 1, hi=1024)
        string("out", self.out)
        if not isinstance(self.plots, bool):
            fail("plots", "true or false", self.plots)
        string("admit", self.admit, ADMIT)
        object.__setattr__(self, "budget", BudgetConfig(
            **s, reference="digital", max_repeats=s.get("repeats", 3), out=self.out, plots=False))
        grid = mapping(None, "grid", self.grid if self.grid is not None else {})
        for name, values in grid.items():
            _check_name("grid", name)
            if not isinstance(values, (list, tuple)) or not values or len(values) > 1000:
                fail(join("grid", name), "a non-empty list of at most 1000 values", values)
        object.__setattr__(self, "grid", {k: list(v) for k, v in grid.items()})
        if not isinstance(self.points, (list, tuple)):
            fail("points", "a list of design points (mappings of settings to values)", self.points)
        object.__setattr__(self, "points", tuple(dict(mapping(None, f"points[{i}]", p))
                                                 for i, p in enumerate(self.points)))
        n = (math.prod(len(v) for v in self.grid.values()) if self.grid else 0) + len(self.points)
        if n == 0:
            fail("grid", "at least one design point (a 'grid' or 'points')", self.grid)
        if n > MAX_POINTS:
            fail("grid", f"at most {MAX_POINTS} design points in all", f"{n} points")
        for i, p in enumerate(self.points):
            for name in p:
                _check_name(f"points[{i}]", name)
        for name, values in self.grid.items():  # each value alone, so its error names its key
            for v in values:
                self.profile_of({name: v}, join("grid", name))
        for i, p in enumerate(self.points):
            self.profile_of(p, f"points[{i}]")
        for p in self.design_points():  # and every combination
            self.profile_of(p, "grid")

    # -- the design points --------------------------------------------------------------------
    def design_points(self) -> list[dict]:
        """Every design point, grid combinations first, each once (in order)."""
        names = list(self.grid)
        combos = [dict(zip(names, vals, strict=True)) for vals in itertools.product(*self.grid.values())]
        seen, out = set(), []
        for p in (combos if self.grid else []) + [dict(p) for p in self.points]:
            text = json.dumps(p, sort_keys=True, default=str)
            if text not in seen:
                seen.add(text)
                out.append(p)
        return out

    def overrides_of(self, point: Mapping) -> tuple[str, dict]:
        """(profile name, overrides) of a design point: the config's ``profile_overrides`` with
        the point's settings merged on (``tile_size`` sets both tile dimensions)."""
        name = point.get("profile", self.budget.profile)
        extra: dict = {}
        for k, v in point.items():
            if k == TILE_SIZE:
                extra = _merge(extra, {"tile_rows": v, "tile_cols": v})
            elif k != "profile":
                extra = _merge(extra, dict([_nest(k, v)]))
        return name, _merge(self.budget.profile_overrides, extra)

    def profile_of(self, point: Mapping, key: str = "grid"):
        """The validated ``DeviceProfile`` of a design point (errors name ``key`` and the point)."""
        name, ov = self.overrides_of(point)
        try:
            return load_profile(name, key, ov)
        except CheckError as err:
            if len(point) > 1 and err.key == key:
                err.problem = f"{err.problem} (design point {json.dumps(point, default=str)})"
                err.args = (err._message(),)
            raise

    def point_config(self, point: Mapping) -> BudgetConfig:
        """The budget configuration that evaluates one design point (its profile and overrides)."""
        name, ov = self.overrides_of(point)
        return self.budget.replace(profile=name, profile_overrides=ov)

    def passed_model(self) -> bool:
        """True when the config names no network (it must be passed in Python)."""
        return str(self.settings.get("checkpoint", "")).startswith(OBJECT)

    # -- forms ----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        s = {k: v for k, v in self.settings.items() if not (k == "checkpoint" and self.passed_model())}
        if s.get("train") is not None and not isinstance(s["train"], Mapping):
            s["train"] = dataclasses.asdict(s["train"])  # a TrainSpec passed in Python
        return {**s, "grid": self.grid, "points": [dict(p) for p in self.points], "workers": self.workers,
                "out": self.out, "plots": self.plots, "admit": self.admit}

    @classmethod
    def from_dict(cls, d: Any) -> ExploreConfig:
        d = mapping(None, "(top level)", d)
        check_keys(None, "", d, (), (*SHARED, *_OWN_KEYS))
        own = {k: d[k] for k in _OWN_KEYS if k in d}
        if "points" in own and own["points"] is None:
            own["points"] = ()
        if "grid" in own and own["grid"] is None:
            own["grid"] = {}
        return cls(settings={k: v for k, v in d.items() if k in SHARED}, **own)

    def replace(self, **changes: Any) -> ExploreConfig:
        return dataclasses.replace(self, **changes)


def load_explore_config(path: str | os.PathLike) -> ExploreConfig:
    """Read and validate an exploration config from YAML (errors name the file and key)."""
    return load_yaml_config(path, ExploreConfig.from_dict, "explore")
