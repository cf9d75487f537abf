"""Append-only results of a sweep, guarded by the hash of its configuration and identity.

Layout of a sweep folder::

    sweep.json        the configuration, its identity (code, profile contents, test
                      data: ``cells.sweep_identity``) and their hash (written before any work)
    results.jsonl     one JSON line per finished cell, flushed and fsync'ed at once
    models/           one training checkpoint per sigma_train
    .lock             held while a sweep writes here

Opening a folder for writing takes its lock first, then checks and repairs
it. A folder whose ``sweep.json`` holds another hash is refused, naming what
differs: results of two configurations, two versions of a profile file, two
test sets or two versions of the code never mix; so is a folder that holds other files and no
sweep. A line torn by a crash (the process killed while writing it) is cut
off when the folder is opened again; every complete line is kept. Each line
carries a digest of its content: a hand-edited, malformed, non-finite or
out-of-grid record is refused with its file and line, never used.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

from crossbar.atomic import atomic_write_text, lock_folder
from crossbar.identity import digest_json

from .config import SweepConfig

CONFIG_FILE = "sweep.json"
RESULTS_FILE = "results.jsonl"
LOCK_FILE = ".lock"
MODELS_DIR = "models"  # may be filled before the first run, to reuse trained models


class ConfigChangedError(ValueError):
    """The folder holds results of a different sweep configuration."""


class SweepLockedError(RuntimeError):
    """Another sweep is writing to the same folder."""


class CorruptResultsError(ValueError):
    """A file of the results folder cannot be trusted (the message names file and line)."""


# Keys every cell record must have (the report reads them).
_REQUIRED = ("type", "sigma_train", "sigma_val", "config_hash", "runs", "n_test", "accuracy",
             "accuracy_mean", "accuracy_std", "votes")


def _reject_constant(name: str) -> float:
    raise ValueError(f"non-finite number {name}")


def _digest(record: dict[str, Any]) -> str:
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def store_hash(config: SweepConfig, identity: dict | None) -> str:
    """The hash every record of a folder carries: the config's, combined with its identity."""
    if identity is None:
        return config.hash()
    return digest_json({"config": config.hash(), "identity": identity})


def _differences(old: dict, new: dict, what: str, noun: str = "config") -> list[str]:
    """One line per differing key; nested mappings (e.g. a network's identity) key by key."""
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if k in ("out", "workers") or a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{what}{k}.", noun)
        else:
            out.append(f"{what}{k}: results have {a!r}, this {noun} has {b!r}")
    return out


def cell_id(sigma_train: float, sigma_val: float) -> tuple[float, float]:
    return float(sigma_train), float(sigma_val)


class ResultsStore:
    """The results folder of one sweep configuration (see module doc)."""

    def __init__(self, out: str | Path, config: SweepConfig, *, identity: dict | None = None,
                 write: bool = True) -> None:
        """Open ``out`` for ``config`` and ``identity`` (``cells.sweep_identity``): for
        writing (lock, check, repair; close() or a ``with`` block releases the lock) or,
        with ``write=False``, to read only (``identity`` None: the one in sweep.json)."""
        self.out = Path(out)
        self.config = config
        self.identity = identity
        self.results_path = self.out / RESULTS_FILE
        self._lock_fh = None
        if not write:
            if not (self.out / CONFIG_FILE).exists():
                raise FileNotFoundError(f"{self.out} is not a sweep folder (no {CONFIG_FILE})")
            if identity is None:
                self.identity = self._saved().get("identity")
            self.hash = store_hash(config, self.identity)
            self._check_config()
            return
        self.hash = store_hash(config, identity)
        self._claim_folder()
        self.lock()
        try:
            self._check_config()
            self._repair()
        except BaseException:
            self.unlock()
            raise

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the folder's lock (a no-op for a read-only store)."""
        self.unlock()

    def _claim_folder(self) -> None:
        """Create ``out``; refuse a folder that holds other files (beyond models/) and no sweep."""
        if self.out.exists() and not self.out.is_dir():
            raise NotADirectoryError(f"output folder {self.out} is a file; choose a folder")
        self.out.mkdir(parents=True, exist_ok=True)
        if (self.out / CONFIG_FILE).exists():
            return
        other = sorted(p.name for p in self.out.iterdir() if p.name not in (LOCK_FILE, MODELS_DIR))
        if other:
            shown = ", ".join(other[:5]) + (", ..." if len(other) > 5 else "")
            raise ConfigChangedError(
                f"output folder {self.out} holds other files ({shown}) and no {CONFIG_FILE}; "
                "choose a new or empty folder (--out) so nothing there is overwritten"
            )

    # -- opening -------------------------------------------------------------
    def _saved(self) -> dict[str, Any]:
        path = self.out / CONFIG_FILE
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as err:
            raise CorruptResultsError(
                f"{path}: not a valid sweep configuration file ({err}); delete the folder "
                "to start over") from None
        if not isinstance(saved, dict) or not isinstance(saved.get("config"), dict):
            raise CorruptResultsError(
                f"{path}: expected an object with 'config_hash' and 'config'; delete the "
                "folder to start over")
        return saved

    def _check_config(self) -> None:
        path = self.out / CONFIG_FILE
        if path.exists():
            saved = self._saved()
            if saved.get("config_hash") != self.hash:
                old_id = saved.get("identity") if isinstance(saved.get("identity"), dict) else {}
                diff = (_differences(saved["config"], self.config.to_dict(), "")
                        + _differences(old_id, self.identity or {}, "identity ", "run"))
                raise ConfigChangedError(
                    f"{self.out} holds results of a different sweep (hash "
                    f"{str(saved.get('config_hash'))[:12]}, this one {self.hash[:12]}): "
                    + ("; ".join(diff) or "written by another program")
                    + "; use another output folder (--out), or delete that one to start over"
                )
            return
        if self.results_path.exists() and self.results_path.stat().st_size:
            raise ConfigChangedError(
                f"{self.out} has {RESULTS_FILE} but no {CONFIG_FILE}: results of unknown "
                "configuration; use another output folder"
            )
        atomic_write_text(
            path,
            json.dumps({"config_hash": self.hash, "config": self.config.to_dict(),
                        "identity": self.identity}, indent=2) + "\n",
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
        self._lock_fh = lock_folder(self.out / LOCK_FILE, SweepLockedError,
                                    f"another sweep is writing to {self.out}")

    def unlock(self) -> None:
        if self._lock_fh is not None:
            self._lock_fh.close()
            self._lock_fh = None

    # -- records -------------------------------------------------------------
    def records(self) -> dict[tuple[float, float], dict[str, Any]]:
        """Finished cells keyed by (sigma_train, sigma_val), each checked (see module doc)."""
        out: dict[tuple[float, float], dict[str, Any]] = {}
        if not self.results_path.exists():
            return out
        with open(self.results_path, "rb") as fh:
            lines = fh.read().split(b"\n")
        for n, raw in enumerate(lines[:-1], 1):  # the last piece is "" or a torn line
            if raw.strip():
                rec = self._checked(n, raw)
                out[cell_id(rec["sigma_train"], rec["sigma_val"])] = rec
        return out

    def _checked(self, n: int, raw: bytes) -> dict[str, Any]:
        where = f"{self.results_path}:{n}"
        advice = "; delete that line (or the folder) and run again to recompute the cell"
        try:
            rec = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError) as err:
            raise CorruptResultsError(f"{where}: corrupt record ({err}){advice}") from None
        if not isinstance(rec, dict):
            raise CorruptResultsError(f"{where}: a record must be a JSON object, got "
                                      f"{type(rec).__name__}{advice}")
        if rec.get("config_hash") != self.hash:
            raise ConfigChangedError(f"{where}: record of another configuration{advice}")
        digest = rec.pop("digest", None)
        if digest != _digest(rec):
            raise CorruptResultsError(f"{where}: the record does not match its digest (edited "
                                      f"by hand, or written by another program){advice}")
        missing = [k for k in _REQUIRED if k not in rec]
        if missing:
            raise CorruptResultsError(f"{where}: record lacks {', '.join(missing)}{advice}")
        st, sv = rec["sigma_train"], rec["sigma_val"]
        if st not in self.config.sigma_train or sv not in self.config.sigma_val:
            raise CorruptResultsError(f"{where}: cell ({st!r}, {sv!r}) is not in this sweep's "
                                      f"grid{advice}")
        acc = rec["accuracy_mean"]
        if not (isinstance(acc, (int, float)) and math.isfinite(acc) and 0.0 <= acc <= 1.0):
            raise CorruptResultsError(f"{where}: accuracy_mean {acc!r} is not in [0, 1]{advice}")
        return rec

    def append(self, record: dict[str, Any]) -> None:
        """Append one record, with its digest, and make it durable before returning."""
        record = {**record, "digest": _digest(record)}
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
    try:
        cfg = SweepConfig.from_dict(json.loads(path.read_text(encoding="utf-8"))["config"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError) as err:
        raise CorruptResultsError(f"{path}: not a valid sweep configuration file ({err})") from None
    recs = ResultsStore(out, cfg, write=False).records()
    return cfg, [recs[k] for k in sorted(recs)]
