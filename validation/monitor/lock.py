"""Monitoring-protocol locks: the plan's and the reference's sha256, recorded before monitoring.

``radval monitor lock PROTOCOL`` writes ``PROTOCOL.lock.json`` beside the protocol with
the sha256 of the protocol bytes and of every reference file (scores, manifest, results),
the time and who locked it. :func:`verify_monitor_lock` refuses a protocol or reference
file whose content no longer matches, so the plan and the reference cannot change once
production data are being compared with them (R2, R25). A changed plan is a new plan:
lock it (``--amend REASON`` keeps the previous hashes) and monitor into a new folder.

The same guarantees as study locks (:mod:`validation.protocol.lock`); its own format
(``radval.monitor-lock/1``) because a monitoring plan has no test-set manifest.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from validation import __version__
from validation.errors import ProtocolError
from validation.io import sha256_file, write_text_atomic
from validation.monitor.protocol import LoadedMonitorProtocol, load_monitor_protocol
from validation.protocol.lock import current_actor, lock_path_for, now_utc

MONITOR_LOCK_SCHEMA = "radval.monitor-lock/1"
_SHA = re.compile(r"[0-9a-f]{64}")


def reference_files(loaded: LoadedMonitorProtocol) -> dict[str, Path]:
    """``{YAML path: file}`` of the reference files a lock hashes."""
    ref = loaded.protocol.reference
    out = {"reference.scores": loaded.resolve(ref.scores)}
    if ref.manifest is not None:
        out["reference.manifest"] = loaded.resolve(ref.manifest)
    if ref.results is not None:
        out["reference.results"] = loaded.resolve(ref.results)
    return out


def hash_reference(loaded: LoadedMonitorProtocol) -> dict[str, dict[str, str]]:
    """``{YAML path: {path, sha256}}`` of the reference files; a missing one is an error."""
    out: dict[str, dict[str, str]] = {}
    for key, path in reference_files(loaded).items():
        if not path.is_file():
            raise ProtocolError(f"{loaded.path}: {key}: file not found: {path}")
        out[key] = {"path": str(path), "sha256": sha256_file(path)}
    return out


@dataclass(frozen=True)
class MonitorLock:
    """A monitoring lock as stored on disk."""

    path: Path
    data: dict[str, Any]

    @property
    def protocol_sha256(self) -> str:
        """Locked sha256 of the monitoring protocol."""
        return str(self.data["protocol"]["sha256"])

    @property
    def reference(self) -> dict[str, dict[str, str]]:
        """Locked reference files: ``{YAML path: {path, sha256}}``."""
        return dict(self.data["reference"])

    @property
    def locked_at(self) -> str:
        """When it was (last) locked."""
        return str(self.data["locked_at"])

    def summary(self, lock_sha256: str | None = None) -> dict[str, Any]:
        """The lock record kept in ``monitor.json``."""
        return {
            "protocol_sha256": self.protocol_sha256,
            "locked_at": self.locked_at,
            "locked_by": self.data.get("locked_by"),
            "reference": {k: v["sha256"] for k, v in self.reference.items()},
            "lock_sha256": lock_sha256 or sha256_file(self.path),
            "amendments": list(self.data.get("amendments", [])),
        }


def _problem(data: Any) -> str | None:
    if not isinstance(data, dict) or data.get("schema") != MONITOR_LOCK_SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        return f"is not a radval monitoring lock: expected schema {MONITOR_LOCK_SCHEMA!r}, found {found!r}"
    proto = data.get("protocol")
    if (
        not isinstance(proto, dict)
        or not isinstance(proto.get("sha256"), str)
        or not _SHA.fullmatch(proto["sha256"])
    ):
        return "field 'protocol.sha256': expected a 64-digit lowercase hex sha256"
    ref = data.get("reference")
    if not isinstance(ref, dict) or not ref:
        return "field 'reference': expected an object {YAML path: {path, sha256}}"
    for key, rec in ref.items():
        if (
            not isinstance(rec, dict)
            or not isinstance(rec.get("sha256"), str)
            or not _SHA.fullmatch(rec["sha256"])
            or not isinstance(rec.get("path"), str)
        ):
            return f"field 'reference.{key}': expected {{path: string, sha256: 64 hex digits}}"
    try:
        datetime.fromisoformat(str(data.get("locked_at")))
    except ValueError:
        return f"field 'locked_at': expected an ISO 8601 time, found {data.get('locked_at')!r}"
    if not isinstance(data.get("amendments", []), list):
        return "field 'amendments': expected an array"
    return None


def read_monitor_lock(path: str | Path) -> MonitorLock:
    """Read a monitoring lock; :class:`ProtocolError` naming the file and field when bad."""
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProtocolError(f"no lock file {file}; run `radval monitor lock` first") from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError(f"cannot read lock file {file}: {exc}") from None
    problem = _problem(data)
    if problem is not None:
        raise ProtocolError(f"lock file {file} {problem}")
    return MonitorLock(file, data)


def lock_monitor_protocol(
    protocol_path: str | Path, *, amend: str | None = None, actor: str | None = None
) -> MonitorLock:
    """Lock a monitoring protocol: the sha256 of it and of its reference files, time, actor.

    Re-locking an unchanged plan returns the existing lock; a changed plan needs ``amend``
    (the reason), which keeps the previous hashes under ``amendments``.
    """
    loaded = load_monitor_protocol(protocol_path)
    reference = hash_reference(loaded)
    target = lock_path_for(loaded.path)
    who = actor or current_actor()
    previous = read_monitor_lock(target) if target.exists() else None
    amendments: list[dict[str, Any]] = []
    if previous is not None:
        same = previous.protocol_sha256 == loaded.sha256 and {
            k: v["sha256"] for k, v in previous.reference.items()
        } == {k: v["sha256"] for k, v in reference.items()}
        if same:
            return previous
        if amend is None or not amend.strip():
            raise ProtocolError(
                f"{loaded.path} is already locked ({target}, locked at {previous.locked_at}) and the "
                "plan or a reference file has changed since; pass --amend REASON to amend the lock "
                "(and monitor into a new folder: a monitoring folder keeps the plan it started with)"
            )
        amendments = list(previous.data.get("amendments", []))
        amendments.append(
            {
                "previous_protocol_sha256": previous.protocol_sha256,
                "previous_reference": previous.reference,
                "previous_locked_at": previous.locked_at,
                "reason": amend.strip(),
                "amended_at": now_utc(),
                "amended_by": who,
            }
        )
    elif amend is not None:
        raise ProtocolError(f"{loaded.path} has no lock to amend ({target} does not exist)")
    data = {
        "schema": MONITOR_LOCK_SCHEMA,
        "protocol": {"path": loaded.path.name, "sha256": loaded.sha256},
        "monitor": {"id": loaded.protocol.monitor.id, "version": loaded.protocol.monitor.version},
        "reference": reference,
        "locked_at": now_utc(),
        "locked_by": who,
        "radval_version": __version__,
        "amendments": amendments,
    }
    write_text_atomic(target, json.dumps(data, indent=2, sort_keys=True) + "\n")
    return MonitorLock(target, data)


def verify_monitor_lock(loaded: LoadedMonitorProtocol, lock: MonitorLock) -> None:
    """Check the protocol and every reference file against the lock.

    Raises
    ------
    ProtocolError
        A hash differs (both values given), a reference file is gone, or the protocol names
        reference files the lock did not hash.
    """
    if loaded.sha256 != lock.protocol_sha256:
        raise ProtocolError(
            f"monitoring protocol {loaded.path} does not match its lock {lock.path}: sha256 is "
            f"{loaded.sha256}, locked {lock.protocol_sha256} at {lock.locked_at}; amend the lock "
            "(`radval monitor lock --amend REASON`) and monitor into a new folder"
        )
    files = reference_files(loaded)
    missing = sorted(set(files) - set(lock.reference))
    if missing:
        raise ProtocolError(f"{loaded.path}: {missing} were not hashed by the lock {lock.path}")
    for key, path in files.items():
        if not path.is_file():
            raise ProtocolError(
                f"{loaded.path}: {key} ({path}) was hashed at lock time but is no longer there"
            )
        actual = sha256_file(path)
        locked = lock.reference[key]["sha256"]
        if actual != locked:
            raise ProtocolError(
                f"{loaded.path}: {key} ({path}) changed since the lock {lock.path}: sha256 is "
                f"{actual}, locked {locked} at {lock.locked_at}"
            )
