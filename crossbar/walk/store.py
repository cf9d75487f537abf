"""Append-only results of one walk or hardening run, guarded by the identity of its inputs.

A results folder holds::

    run.json        the run's identity (configuration, model and data digests) and its hash
    results.jsonl   one JSON line per finished piece of work, flushed and fsync'ed at once
    models/         training checkpoints and per-epoch statistics, written atomically
    .lock           held while a run writes here

Each record is keyed by the content that made it (its task key within this
identity). Opening a folder whose identity differs is refused with the
differing entries listed: results of two inputs never mix. A line torn by a
crash is cut off when the folder is opened again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from crossbar.atomic import atomic_write_text, lock_folder

__all__ = ["ConfigChangedError", "LockedError", "RunStore", "qat_key", "task_key"]

IDENTITY_FILE = "run.json"
RESULTS_FILE = "results.jsonl"
LOCK_FILE = ".lock"


class ConfigChangedError(ValueError):
    """The folder holds results of different inputs."""


class LockedError(RuntimeError):
    """Another run is writing to the same folder."""


def task_key(*parts: Any) -> str:
    """The text key of one task (a JSON list of its defining values)."""
    return json.dumps(list(parts), separators=(",", ":"))


def qat_key(q: Any) -> list | None:
    """A QAT setting (``bits``, ``act_step``; None for a float network) as part of a task key."""
    return None if q is None else [q.bits, q.act_step]


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new)):
            out += _diff(old.get(k), new.get(k), f"{prefix}.{k}" if prefix else str(k))
        return out
    return [] if old == new else [f"  {prefix}: results have {old!r}, this run has {new!r}"]


class RunStore:
    """The results folder of one run identity (see module doc)."""

    def __init__(self, out: str | os.PathLike, kind: str, identity: dict[str, Any]) -> None:
        self.out = Path(out)
        self.kind = kind
        self.identity = json.loads(json.dumps(identity))
        self.hash = _hash({"kind": kind, **self.identity})
        self.results_path = self.out / RESULTS_FILE
        self.models = self.out / "models"
        self._lock_fh = None
        self.out.mkdir(parents=True, exist_ok=True)
        self._check_identity()
        self._repair()
        self._records = self._read()

    def _check_identity(self) -> None:
        path = self.out / IDENTITY_FILE
        if path.exists():
            saved = json.loads(path.read_text())
            if saved.get("hash") != self.hash:
                diff = _diff({"kind": saved.get("kind"), **saved.get("identity", {})},
                             {"kind": self.kind, **self.identity})
                raise ConfigChangedError(
                    f"{self.out} holds results of different inputs:\n" + "\n".join(diff or ["  (format)"])
                    + "\nuse another output folder (--out), or delete that one to start over"
                )
            return
        if self.results_path.exists() and self.results_path.stat().st_size:
            raise ConfigChangedError(f"{self.out} has {RESULTS_FILE} but no {IDENTITY_FILE}: results of "
                                     "unknown inputs; use another output folder")
        atomic_write_text(path, json.dumps({"kind": self.kind, "hash": self.hash,
                                            "identity": self.identity}, indent=2) + "\n")

    def _repair(self) -> None:
        if not self.results_path.exists():
            return
        data = self.results_path.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(self.results_path, "r+b") as fh:
                fh.truncate(data.rfind(b"\n") + 1)
                fh.flush()
                os.fsync(fh.fileno())

    def _read(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
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
                if rec.get("run") != self.hash:
                    raise ConfigChangedError(f"{self.results_path}:{n}: a record of other inputs")
                out[rec["key"]] = rec
        return out

    def lock(self) -> None:
        """Hold an exclusive lock (POSIX): a second run on the same folder is refused."""
        self._lock_fh = lock_folder(self.out / LOCK_FILE, LockedError,
                                    f"another run is writing to {self.out}")

    def unlock(self) -> None:
        if self._lock_fh is not None:
            self._lock_fh.close()
            self._lock_fh = None

    def get(self, key: str) -> dict[str, Any] | None:
        return self._records.get(key)

    def records(self) -> list[dict[str, Any]]:
        return list(self._records.values())

    def put(self, key: str, record: dict[str, Any]) -> dict[str, Any]:
        """Append one record and make it durable before returning it."""
        rec = {"key": key, "run": self.hash, **record}
        line = json.dumps(rec, separators=(",", ":"), allow_nan=False) + "\n"
        with open(self.results_path, "a") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        self._records[key] = rec
        return rec

    def model_path(self, key: str, suffix: str) -> Path:
        """A file under models/ named by the task key's digest."""
        return self.models / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}{suffix}"
