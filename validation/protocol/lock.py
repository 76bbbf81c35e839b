"""Protocol locks: the protocol's and the manifest's hashes, recorded before the run.

``radval protocol lock FILE`` writes ``FILE.lock.json`` beside the protocol. A lock
records the sha256 of the protocol bytes and of the test-set manifest (and of the model
cards the protocol names, which can carry the operating threshold), the time and
who locked it (R2, R5). :func:`verify_lock` refuses a protocol, a manifest or a model
card whose content no longer matches. A locked protocol can only change through an *amendment*
(``--amend REASON``), which keeps the previous hashes and is recorded as a deviation;
deviations from the plan (``radval protocol deviation``) are appended to the lock
with their declaration time, and the study runner copies them into ``results.json``.
"""

from __future__ import annotations

import getpass
import json
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from validation import __version__
from validation.errors import ProtocolError
from validation.io import sha256_file, write_text_atomic
from validation.protocol.load import LoadedProtocol, load_protocol

LOCK_SCHEMA = "radval.lock/1"


def now_utc() -> str:
    """Current UTC time as ISO 8601 with seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def current_actor() -> str:
    """``user@host`` of the current process (attribution for locks and audit entries)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def lock_path_for(protocol_path: str | Path) -> Path:
    """The lock file that belongs to a protocol: ``<protocol>.lock.json`` beside it."""
    p = Path(protocol_path)
    return p.with_name(p.name + ".lock.json")


@dataclass(frozen=True)
class Lock:
    """A protocol lock as stored on disk (see the module docstring)."""

    path: Path
    data: dict[str, Any]

    @property
    def protocol_sha256(self) -> str:
        """Locked sha256 of the protocol file."""
        return str(self.data["protocol"]["sha256"])

    @property
    def manifest_sha256(self) -> str:
        """Locked sha256 of the manifest."""
        return str(self.data["manifest"]["sha256"])

    @property
    def locked_at(self) -> str:
        """When the protocol was (last) locked."""
        return str(self.data["locked_at"])

    @property
    def deviations(self) -> list[dict[str, Any]]:
        """Declared deviations, oldest first."""
        return list(self.data.get("deviations", []))

    def summary(self) -> dict[str, Any]:
        """The ``protocol.lock`` record of ``results.json``."""
        return {
            "protocol_sha256": self.protocol_sha256,
            "manifest_sha256": self.manifest_sha256,
            "locked_at": self.locked_at,
            "locked_by": self.data.get("locked_by"),
            "lock_sha256": sha256_file(self.path),
            "scores_present_at_lock": bool(self.data.get("scores_present_at_lock", False)),
            "amendments": list(self.data.get("amendments", [])),
            "model_cards": dict(self.data.get("model_cards") or {}),
        }


def read_lock(path: str | Path) -> Lock:
    """Read a lock file; raise :class:`ProtocolError` if it is missing or malformed."""
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProtocolError(f"no lock file {file}; run `radval protocol lock` first") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"cannot read lock file {file}: {exc}") from None
    if not isinstance(data, dict) or data.get("schema") != LOCK_SCHEMA:
        raise ProtocolError(
            f"{file} is not a radval lock: expected schema {LOCK_SCHEMA!r}, "
            f"found {data.get('schema') if isinstance(data, dict) else type(data).__name__!r}"
        )
    for key in ("protocol", "manifest", "locked_at"):
        if key not in data:
            raise ProtocolError(f"lock file {file} lacks field {key!r}")
    return Lock(file, data)


def _write(lock_file: Path, data: dict[str, Any]) -> Lock:
    write_text_atomic(lock_file, json.dumps(data, indent=2, sort_keys=True) + "\n")
    return Lock(lock_file, data)


def _scores_exist(loaded: LoadedProtocol) -> bool:
    refs = [loaded.protocol.model] + ([loaded.protocol.baseline] if loaded.protocol.baseline else [])
    return any(
        r.scores is not None and (path := loaded.resolve(r.scores)) is not None and path.exists()
        for r in refs
    )


def _model_cards(loaded: LoadedProtocol) -> dict[str, dict[str, Any]]:
    """The model cards the protocol names, hashed (a card can carry the operating threshold)."""
    out: dict[str, dict[str, Any]] = {}
    for role in ("model", "baseline"):
        ref = getattr(loaded.protocol, role)
        if ref is None or ref.card is None:
            continue
        path = loaded.resolve(ref.card)
        assert path is not None
        out[role] = {"path": ref.card, "sha256": sha256_file(path)}
    return out


def lock_protocol(
    protocol_path: str | Path,
    *,
    amend: str | None = None,
    actor: str | None = None,
    lock_path: str | Path | None = None,
) -> Lock:
    """Lock a protocol: record its sha256, its manifest's sha256, the time and the actor.

    Re-locking an unchanged protocol returns the existing lock. Locking a protocol
    whose content changed since its lock requires ``amend`` (the reason), which keeps
    the previous hashes under ``amendments`` and declares a deviation.

    Parameters
    ----------
    protocol_path : path
        The protocol YAML; it must be valid and name an existing manifest.
    amend : str, optional
        Reason for amending an already locked protocol.
    actor : str, optional
        Who locks (default ``user@host``).
    lock_path : path, optional
        Where to write the lock (default :func:`lock_path_for`).

    Returns
    -------
    Lock

    Example
    -------
    >>> lock = lock_protocol("protocols/triage.yaml")  # doctest: +SKIP
    >>> lock.protocol_sha256  # doctest: +SKIP
    """
    loaded = load_protocol(protocol_path)
    manifest = loaded.resolve(loaded.protocol.test_set.manifest)
    assert manifest is not None
    manifest_sha = sha256_file(manifest)
    cards = _model_cards(loaded)
    target = Path(lock_path) if lock_path is not None else lock_path_for(loaded.path)
    who = actor or current_actor()
    when = now_utc()
    previous = read_lock(target) if target.exists() else None
    if previous is not None:
        same = (
            previous.protocol_sha256 == loaded.sha256
            and previous.manifest_sha256 == manifest_sha
            and (previous.data.get("model_cards") or {}) == cards
        )
        if same:
            return previous
        if amend is None or not amend.strip():
            raise ProtocolError(
                f"{loaded.path} is already locked ({target}, locked at {previous.locked_at}) and "
                "its protocol, manifest or model card has changed since; pass --amend REASON to "
                "amend the lock"
            )
        data = dict(previous.data)
        amendments = list(data.get("amendments", []))
        amendments.append(
            {
                "previous_protocol_sha256": previous.protocol_sha256,
                "previous_manifest_sha256": previous.manifest_sha256,
                "previous_locked_at": previous.locked_at,
                "reason": amend.strip(),
                "amended_at": when,
                "amended_by": who,
            }
        )
        deviations = list(data.get("deviations", []))
        deviations.append(
            {
                "id": f"D{len(deviations) + 1}",
                "description": f"Protocol amended after lock: {amend.strip()}",
                "declared_at": when,
                "declared_by": who,
            }
        )
        data.update(amendments=amendments, deviations=deviations)
    else:
        if amend is not None:
            raise ProtocolError(f"{loaded.path} has no lock to amend ({target} does not exist)")
        data = {"schema": LOCK_SCHEMA, "deviations": [], "amendments": []}
    data.update(
        {
            "protocol": {"path": loaded.path.name, "sha256": loaded.sha256},
            "manifest": {"path": loaded.protocol.test_set.manifest, "sha256": manifest_sha},
            "study": {"id": loaded.protocol.study.id, "version": loaded.protocol.study.version},
            "locked_at": when,
            "locked_by": who,
            "radval_version": __version__,
            "scores_present_at_lock": _scores_exist(loaded),
            "model_cards": cards,
        }
    )
    return _write(target, data)


def declare_deviation(
    protocol_path: str | Path,
    description: str,
    *,
    actor: str | None = None,
    lock_path: str | Path | None = None,
) -> dict[str, Any]:
    """Append a declared deviation from the locked plan to the protocol's lock.

    Returns the deviation record ``{id, description, declared_at, declared_by}``.
    """
    if not description or not description.strip():
        raise ProtocolError("a deviation needs a non-empty description")
    target = Path(lock_path) if lock_path is not None else lock_path_for(protocol_path)
    lock = read_lock(target)
    data = dict(lock.data)
    deviations = list(data.get("deviations", []))
    record = {
        "id": f"D{len(deviations) + 1}",
        "description": description.strip(),
        "declared_at": now_utc(),
        "declared_by": actor or current_actor(),
    }
    deviations.append(record)
    data["deviations"] = deviations
    _write(target, data)
    return record


def verify_lock(loaded: LoadedProtocol, lock: Lock) -> str:
    """Check that the protocol and its manifest still match the lock; return the manifest sha256.

    Raises
    ------
    ProtocolError
        When either hash differs (the message gives both values).
    """
    if loaded.sha256 != lock.protocol_sha256:
        raise ProtocolError(
            f"protocol {loaded.path} does not match its lock {lock.path}: sha256 is {loaded.sha256}, "
            f"locked {lock.protocol_sha256} at {lock.locked_at}; amend the lock "
            "(`radval protocol lock --amend REASON`) to record the change"
        )
    manifest = loaded.resolve(loaded.protocol.test_set.manifest)
    assert manifest is not None
    actual = sha256_file(manifest)
    if actual != lock.manifest_sha256:
        raise ProtocolError(
            f"manifest {manifest} does not match the lock {lock.path}: sha256 is {actual}, "
            f"locked {lock.manifest_sha256} at {lock.locked_at}"
        )
    for role, locked in (lock.data.get("model_cards") or {}).items():
        ref = getattr(loaded.protocol, role, None)
        card = loaded.resolve(ref.card) if ref is not None and ref.card is not None else None
        found = sha256_file(card) if card is not None and card.is_file() else None
        if found != locked.get("sha256"):
            raise ProtocolError(
                f"model card {card or locked.get('path')} ({role}.card) does not match the lock "
                f"{lock.path}: sha256 is {found or 'absent'}, locked {locked.get('sha256')} at "
                f"{lock.locked_at}; the card fixes the operating threshold, so it cannot change "
                "after the lock (amend the lock to record the change)"
            )
    return actual
