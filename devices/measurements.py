"""Measured conductances of a user's cells, read from CSV or ``.npz`` and checked.

One row per measurement (docs/devices.md, "Fitting a profile to measurements"):

``cell``                       integer id of the cell (>= 0)
``target_S`` / ``target_uS``   the conductance the cell was programmed to (same on all its rows)
``conductance_S`` / ``_uS``    the conductance measured
``time_s``                     optional: seconds since programming at which it was read (> 0)
``attempt``                    optional: 0 (or absent) for a read after programming finished,
                               k >= 1 for the read after the k-th write of program-and-verify

An ``.npz`` holds the same columns as 1-D arrays of one length. Every problem is
a :class:`MeasurementError` naming the file, the column, the row and the value.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from crossbar.checks import CheckError

__all__ = ["COLUMNS", "MeasurementError", "Measurements", "read_measurements"]

#: Column -> (meaning, unit) of a measurement file.
COLUMNS = {
    "cell": ("integer id of the cell", ">= 0"),
    "target": ("conductance the cell was programmed to", "target_S or target_uS"),
    "conductance": ("conductance measured", "conductance_S or conductance_uS"),
    "time_s": ("seconds since programming of the read (optional)", "> 0 s"),
    "attempt": ("0: read after programming; k >= 1: read after write k of verify (optional)",
                "integer >= 0"),
}
_KNOWN = ("cell", "target_S", "target_uS", "conductance_S", "conductance_uS", "time_s", "attempt")
# A median above 10 mS in a siemens column is a value in microsiemens (no device of docs/devices.md
# reaches 1 mS); a median below 1e-4 uS (0.1 nS) in a microsiemens column is a value in siemens.
_MAX_MEDIAN_S = 1e-2
_MIN_MEDIAN_US = 1e-4


class MeasurementError(CheckError):
    """A measurement file is unusable: names the file, the column (and row), the value and
    what is allowed."""


@dataclass(frozen=True)
class Measurements:
    """The rows of a measurement file in SI units, checked.

    ``cell`` holds indices 0..n_cells-1 into ``ids`` / ``target`` (one per cell);
    ``time`` is None when the file has no ``time_s`` column; ``attempt`` is 0 for
    reads after programming.
    """

    file: str
    sha256: str
    ids: np.ndarray
    target: np.ndarray
    cell: np.ndarray
    conductance: np.ndarray
    time: np.ndarray | None
    attempt: np.ndarray

    @property
    def n_cells(self) -> int:
        return int(self.target.size)

    @property
    def name(self) -> str:
        return Path(self.file).name

    def provenance(self) -> str:
        """``fitted from FILE (N cells, sha256 ...)``: the source text of every fitted number."""
        return f"fitted from {self.name} ({self.n_cells} cells, sha256 {self.sha256[:16]})"

    @classmethod
    def from_columns(cls, columns: dict[str, Any], file: str = "<arrays>",
                     sha256: str | None = None) -> Measurements:
        """Check columns (name -> 1-D sequence) and build; MeasurementError if unusable."""
        unknown = [k for k in columns if k not in _KNOWN]
        if unknown:
            raise MeasurementError(file, f"column {unknown[0]}", "unknown column",
                                   allowed=", ".join(_KNOWN))
        target = _conductance_column(file, columns, "target")
        conductance = _conductance_column(file, columns, "conductance")
        n = target.size
        if "cell" not in columns:
            raise MeasurementError(file, "column cell", "required column is missing",
                                   allowed=", ".join(_KNOWN))
        raw_cell = _numbers(file, "cell", columns["cell"], n)
        cell_ids = _integers(file, "cell", raw_cell, lo=0)
        time = None
        if "time_s" in columns:
            time = _numbers(file, "time_s", columns["time_s"], n)
            bad = np.flatnonzero(~(time > 0))
            if bad.size:
                raise MeasurementError(file, _at("time_s", bad[0]), "times since programming must "
                                       "be positive seconds", float(time[bad[0]]), "> 0 s")
        attempt = np.zeros(n, dtype=np.int64)
        if "attempt" in columns:
            attempt = _integers(file, "attempt", _numbers(file, "attempt", columns["attempt"], n), lo=0)
        ids, first, cell = np.unique(cell_ids, return_index=True, return_inverse=True)
        per_cell = target[first]  # each cell's target on its first row
        bad = np.flatnonzero(target != per_cell[cell])
        if bad.size:
            i = bad[0]
            raise MeasurementError(file, _at(_name(columns, "target"), i), f"cell {ids[cell[i]]} has "
                                   "two targets", float(target[i]),
                                   f"its first target {per_cell[cell[i]]:g} S on every row")
        if sha256 is None:
            digest = hashlib.sha256()
            for key in sorted(columns):
                digest.update(key.encode() + np.ascontiguousarray(columns[key], dtype=np.float64)
                              .tobytes())
            sha256 = digest.hexdigest()
        return cls(file, sha256, ids, per_cell, cell, conductance, time, attempt)


def read_measurements(path: str | os.PathLike) -> Measurements:
    """Read a ``.csv`` or ``.npz`` measurement file (columns: module docstring)."""
    path = Path(path).expanduser()
    file = str(path)
    if not path.is_file():
        raise MeasurementError(file, None, "no such measurement file")
    data = path.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    suffix = path.suffix.lower()
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as npz:
                columns = {k: npz[k] for k in npz.files}
        except (ValueError, OSError) as err:
            raise MeasurementError(file, None, f"not a readable .npz file ({err})") from None
        for key, value in columns.items():
            if value.ndim != 1:
                raise MeasurementError(file, f"column {key}", "must be a 1-D array", value.shape,
                                       "one value per measurement")
    elif suffix == ".csv":
        columns = _read_csv(file, data)
    else:
        raise MeasurementError(file, None, "unknown measurement file type", path.suffix,
                               ".csv or .npz")
    return Measurements.from_columns(columns, file, sha256)


def _read_csv(file: str, data: bytes) -> dict[str, list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MeasurementError(file, None, "not UTF-8 text") from None
    rows = [r for r in csv.reader(text.splitlines()) if r and not r[0].lstrip().startswith("#")]
    if not rows:
        raise MeasurementError(file, None, "the file is empty", allowed="a header row and data rows")
    header = [h.strip() for h in rows[0]]
    if len(set(header)) != len(header):
        raise MeasurementError(file, None, "a column is named twice", header)
    columns: dict[str, list[str]] = {h: [] for h in header}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise MeasurementError(file, f"row {line}", f"has {len(row)} fields", row,
                                   f"{len(header)} fields, as the header")
        for h, value in zip(header, row, strict=True):
            columns[h].append(value.strip())
    return columns


def _name(columns: dict, quantity: str) -> str:
    return f"{quantity}_S" if f"{quantity}_S" in columns else f"{quantity}_uS"


def _at(column: str, index: int) -> str:
    """The column and the row of a value (CSV line: header is line 1)."""
    return f"{column}, row {index + 2}"


def _numbers(file: str, column: str, values: Any, n: int | None = None) -> np.ndarray:
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            raise MeasurementError(file, _at(column, i), "not a number", v) from None
    if n is not None and out.size != n:
        raise MeasurementError(file, f"column {column}", f"has {out.size} values", allowed=f"{n}, "
                               "one per measurement like the other columns")
    bad = np.flatnonzero(~np.isfinite(out))
    if bad.size:
        raise MeasurementError(file, _at(column, bad[0]), "not a finite number", float(out[bad[0]]))
    return out


def _integers(file: str, column: str, values: np.ndarray, lo: int) -> np.ndarray:
    bad = np.flatnonzero((values != np.round(values)) | (values < lo))
    if bad.size:
        raise MeasurementError(file, _at(column, bad[0]), "must be an integer", float(values[bad[0]]),
                               f">= {lo}")
    return values.astype(np.int64)


def _conductance_column(file: str, columns: dict, quantity: str) -> np.ndarray:
    """A conductance column in siemens: ``X_S`` or ``X_uS``, >= 0, finite, units plausible."""
    names = [n for n in (f"{quantity}_S", f"{quantity}_uS") if n in columns]
    if len(names) != 1:
        problem = "required column is missing" if not names else "given twice (in S and in uS)"
        raise MeasurementError(file, f"column {quantity}_S", problem,
                               allowed=f"one of {quantity}_S, {quantity}_uS")
    column = names[0]
    values = _numbers(file, column, columns[column])
    if values.size == 0:
        raise MeasurementError(file, f"column {column}", "has no rows", allowed="measurements")
    bad = np.flatnonzero(values < 0)
    if bad.size:
        raise MeasurementError(file, _at(column, bad[0]), "negative conductance",
                               float(values[bad[0]]), ">= 0 (subtract the instrument's offset "
                               "first, or drop the cell)")
    median = float(np.median(values))
    if column.endswith("_S") and median > _MAX_MEDIAN_S:
        raise MeasurementError(file, f"column {column}", f"values look like microsiemens "
                               f"(median {median:g})", allowed=f"siemens ({median:g}e-6), or "
                               f"name the column {quantity}_uS")
    if column.endswith("_uS"):
        if median < _MIN_MEDIAN_US:
            raise MeasurementError(file, f"column {column}", f"values look like siemens "
                                   f"(median {median:g})", allowed=f"microsiemens, or name the "
                                   f"column {quantity}_S")
        values = values * 1e-6
    return values
