"""The output folder of an attack run: finished parts, each keyed by what made it.

Layout::

    attack.json      the configuration, its hash and the inputs' identity (data digests,
                     a user's networks' import path, arguments and source digest),
                     written before any work
    models/          the two adversarial-training checkpoints (one write per epoch)
    parts/*.pt       adversarial examples, one file per chunk of inputs
    parts/*.json     one noisy evaluation (an input set at one sigma_val)
    report.md/json   written when every part is there
    .lock            held while a run writes here

Every part is written atomically (``crossbar.atomic``) together with its
``key``: the content that made it (attack parameters, seeds, digests of the
networks' weights and of the input tensors). Reading a part whose key differs
from the one asked for raises :class:`StalePartError` naming the differing
entries: a changed input is never silently reused. A folder whose
``attack.json`` holds another configuration hash or another identity (an
edited data file, loader output or network factory) is refused the same way.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from crossbar.atomic import atomic_write, atomic_write_text, lock_folder

CONFIG_FILE = "attack.json"
LOCK_FILE = ".lock"


class StalePartError(ValueError):
    """A stored part (or the folder) was made from other inputs than this run's."""


class AttackLockedError(RuntimeError):
    """Another attack run is writing to the same folder."""


def tensor_digest(*tensors: torch.Tensor) -> str:
    """SHA-256 of the tensors' dtypes, shapes and bytes."""
    h = hashlib.sha256()
    for t in tensors:
        t = t.detach().cpu().contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def weights_digest(model: nn.Module) -> str:
    """SHA-256 of a network's state (parameter and buffer names, dtypes, shapes, bytes)."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor_digest(t).encode())
    return h.hexdigest()


def _diff(saved: dict, wanted: dict) -> list[str]:
    return [f"  {k}: stored {saved.get(k)!r}, now {wanted.get(k)!r}"
            for k in sorted(set(saved) | set(wanted)) if saved.get(k) != wanted.get(k)]


class PartStore:
    """The folder of one attack configuration (see module doc)."""

    def __init__(self, out: str | Path, config_hash: str, config: dict[str, Any],
                 identity: dict[str, Any] | None = None) -> None:
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.parts = self.out / "parts"
        self._lock_fh = None
        path = self.out / CONFIG_FILE
        if path.exists():
            saved = json.loads(path.read_text())
            if saved.get("config_hash") != config_hash:
                raise StalePartError(
                    f"{self.out} holds an attack run of another configuration:\n"
                    + "\n".join(_diff(saved.get("config", {}), json.loads(json.dumps(config))))
                    + "\nuse another output folder (--out), or delete that one to start over")
            wanted = json.loads(json.dumps(identity or {}))
            if saved.get("identity", {}) != wanted:
                raise StalePartError(
                    f"{self.out} holds an attack run of other data or networks (same configuration):\n"
                    + "\n".join(_diff(saved.get("identity", {}), wanted))
                    + "\nuse another output folder (--out), or delete that one to start over")
        else:
            if self.parts.exists() and any(self.parts.iterdir()):
                raise StalePartError(f"{self.out} has parts but no {CONFIG_FILE}; use another output folder")
            text = json.dumps({"config_hash": config_hash, "config": config, "identity": identity or {}},
                              indent=2) + "\n"
            atomic_write_text(path, text)

    def lock(self) -> None:
        """Hold an exclusive lock on the folder (POSIX) while this run writes."""
        self._lock_fh = lock_folder(self.out / LOCK_FILE, AttackLockedError,
                                    f"another attack run is writing to {self.out}")

    def unlock(self) -> None:
        if self._lock_fh is not None:
            self._lock_fh.close()
            self._lock_fh = None

    def _check(self, path: Path, stored: dict, key: dict) -> None:
        key = json.loads(json.dumps(key))
        if stored != key:
            raise StalePartError(f"{path} was made from other inputs than this run's:\n"
                                 + "\n".join(_diff(stored, key))
                                 + "\nuse another output folder, or delete the file to compute it again")

    def get_json(self, name: str, key: dict) -> dict | None:
        """The record of part ``name`` if present (its key must equal ``key``), else None."""
        path = self.parts / f"{name}.json"
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        self._check(path, data["key"], key)
        return data["record"]

    def put_json(self, name: str, key: dict, record: dict) -> None:
        text = json.dumps({"key": key, "record": record}, indent=1, allow_nan=False) + "\n"
        atomic_write_text(self.parts / f"{name}.json", text)

    def get_tensors(self, name: str, key: dict) -> dict[str, torch.Tensor] | None:
        """The tensors of part ``name`` if present (its key must equal ``key``), else None."""
        path = self.parts / f"{name}.pt"
        if not path.exists():
            return None
        data = torch.load(path, map_location="cpu", weights_only=True)
        self._check(path, json.loads(data["key"]), key)
        return data["tensors"]

    def put_tensors(self, name: str, key: dict, tensors: dict[str, torch.Tensor]) -> None:
        data = {"key": json.dumps(key), "tensors": {k: v.detach().cpu() for k, v in tensors.items()}}
        buf = io.BytesIO()
        torch.save(data, buf)
        atomic_write(self.parts / f"{name}.pt", lambda fh: fh.write(buf.getvalue()))
