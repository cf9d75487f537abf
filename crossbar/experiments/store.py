"""Append-only results of a sweep, guarded by the hash of its configuration.

Layout of a sweep folder::

    sweep.json        the configuration and its hash (written before any work)
    results.jsonl     one JSON line per finished cell, flushed and fsync'ed at once
    models/           one training checkpoint per sigma_train
    .lock             held while a sweep writes here

Opening a folder whose ``sweep.json`` holds another hash is refused: results
of two configurations never mix. A line torn by a crash (the process killed
while writing it) is cut off when the folder is opened again; every complete
line is kept.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from crossbar.atomic import atomic_write_text

from .config import SweepConfig

CONFIG_FILE = "sweep.json"
RESULTS_FILE = "results.jsonl"
LOCK_FILE = ".lock"


class ConfigChangedError(ValueError):
    """The folder holds results of a different sweep configuration."""


class SweepLockedError(RuntimeError):
    """Another sweep is writing to the same folder."""


def cell_id(sigma_train: float, sigma_val: float) -> tuple[float, float]:
    return float(sigma_train), float(sigma_val)


class ResultsStore:
    """The results folder of one sweep configuration (see module doc)."""

    def __init__(self, out: str | Path, config: SweepConfig) -> None:
        self.out = Path(out)
        self.config = config
        self.hash = config.hash()
        self.out.mkdir(parents=True, exist_ok=True)
        self.results_path = self.out / RESULTS_FILE
        self._lock_fh = None
        self._check_config()
        self._repair()

    # -- opening -------------------------------------------------------------
    def _check_config(self) -> None:
        path = self.out / CONFIG_FILE
        if path.exists():
            saved = json.loads(path.read_text())
            if saved.get("config_hash") != self.hash:
                old = saved.get("config", {})
                new = self.config.to_dict()
                diff = [
                    f"  {k}: results have {old.get(k)!r}, this config has {new.get(k)!r}"
                    for k in sorted(set(old) | set(new))
                    if k not in ("out", "workers") and old.get(k) != new.get(k)
                ]
                raise ConfigChangedError(
                    f"{self.out} holds results of a different sweep configuration "
                    f"(hash {str(saved.get('config_hash'))[:12]}, this one {self.hash[:12]}):\n"
                    + "\n".join(diff)
                    + "\nuse another output folder (--out), or delete that one to start over"
                )
            return
        if self.results_path.exists() and self.results_path.stat().st_size:
            raise ConfigChangedError(
                f"{self.out} has {RESULTS_FILE} but no {CONFIG_FILE}: results of unknown "
                "configuration; use another output folder"
            )
        atomic_write_text(
            path,
            json.dumps({"config_hash": self.hash, "config": self.config.to_dict()}, indent=2)
            + "\n",
        )

    def _repair(self) -> None:
        """Cut a torn last line (a crash while appending)."""
        if not self.results_path.exists():
            return
        data = self.results_path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            with open(self.results_path, "r+b") as fh:
                fh.truncate(keep)
                fh.flush()
                os.fsync(fh.fileno())

    def lock(self) -> None:
        """Hold an exclusive lock on the folder (POSIX); a second sweep writing
        to the same folder at the same time is refused."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return
        fh = open(self.out / LOCK_FILE, "w")  # noqa: SIM115 - held until unlock()
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise SweepLockedError(f"another sweep is writing to {self.out}") from None
        self._lock_fh = fh

    def unlock(self) -> None:
        if self._lock_fh is not None:
            self._lock_fh.close()
            self._lock_fh = None

    # -- records -------------------------------------------------------------
    def records(self) -> dict[tuple[float, float], dict[str, Any]]:
        """Finished cells keyed by (sigma_train, sigma_val)."""
        out: dict[tuple[float, float], dict[str, Any]] = {}
        if not self.results_path.exists():
            return out
        with open(self.results_path) as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as err:
                    raise ValueError(f"{self.results_path}:{n}: corrupt record ({err})") from None
                if rec.get("config_hash") != self.hash:
                    raise ConfigChangedError(
                        f"{self.results_path}:{n}: record of another configuration"
                    )
                out[cell_id(rec["sigma_train"], rec["sigma_val"])] = rec
        return out

    def append(self, record: dict[str, Any]) -> None:
        """Append one record and make it durable before returning."""
        line = json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n"
        with open(self.results_path, "a") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())


def load_results(out: str | Path) -> tuple[SweepConfig, list[dict[str, Any]]]:
    """The configuration and the finished cells (grid order) of a sweep folder."""
    out = Path(out)
    path = out / CONFIG_FILE
    if not path.exists():
        raise FileNotFoundError(f"{out} is not a sweep folder (no {CONFIG_FILE})")
    cfg = SweepConfig.from_dict(json.loads(path.read_text())["config"])
    recs = ResultsStore(out, cfg).records()
    return cfg, [recs[k] for k in sorted(recs)]
